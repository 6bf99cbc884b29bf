//go:build unix

package layout

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// lockPoll is how often a busy lock is tried again. flock has no timeout and a
// blocking flock cannot be interrupted by ctx, so the wait polls LOCK_NB.
const lockPoll = 20 * time.Millisecond

// lock takes an exclusive flock on f, waiting until it is free or ctx is done.
// The lock belongs to f's open file description, so it also excludes other
// goroutines of this process that opened the file themselves; closing f
// releases it.
func lock(ctx context.Context, f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
		t := time.NewTimer(lockPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}
