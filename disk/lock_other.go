//go:build (!unix && !windows) || aix

package disk

import (
	"errors"
	"os"
)

// TryLock is not implemented here: without it two writers could interleave.
func TryLock(f *os.File) (bool, error) {
	return false, &os.PathError{Op: "lock", Path: f.Name(), Err: errors.ErrUnsupported}
}

// openLock opens the file at name for LockPath, creating it if needed.
func openLock(name string) (*os.File, error) { return os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644) }

// deletePending is false: a removed file's name is gone at once.
func deletePending(*os.File) bool { return false }

// openExisting opens the file at name to lock it, not creating it.
func openExisting(name string) (*os.File, error) { return os.Open(name) }
