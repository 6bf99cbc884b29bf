//go:build unix && !aix

package disk

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

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

// openLock opens the file at name for LockPath, creating it if needed.
func openLock(name string) (*os.File, error) { return os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644) }

// deletePending is false: a removed file's name is gone at once.
func deletePending(*os.File) bool { return false }

// openExisting opens the file at name to lock it, not creating it.
func openExisting(name string) (*os.File, error) { return os.Open(name) }
