//go:build unix

// Package flock takes exclusive advisory locks on open files, waiting in a way
// that a context can end. The store locks each partial download with it, and a
// layout the writers of its index.json.
package flock

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// poll is how often a busy lock is tried again. flock has no timeout and a
// blocking flock cannot be interrupted by ctx, so the wait polls LOCK_NB.
const poll = 20 * time.Millisecond

// Lock takes an exclusive flock on f, waiting until it is free or ctx is done.
// The lock belongs to f's open file description, so it also excludes other
// goroutines of this process that opened the file themselves. Closing f, or
// the death of the process, releases it.
func Lock(ctx context.Context, f *os.File) error {
	for {
		ok, err := TryLock(f)
		if ok || err != nil {
			return err
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// TryLock takes an exclusive flock on f if no one holds one.
func TryLock(f *os.File) (bool, error) {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		case !errors.Is(err, unix.EINTR):
			return false, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
	}
}
