//go:build windows

package disk

import (
	"errors"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

// Rename renames oldpath to newpath, replacing newpath. A file another
// process holds open (a virus scanner, an indexer, a reader of the cache)
// cannot be replaced on Windows until it lets go: the rename is tried again
// for a while before the error is returned.
func Rename(oldpath, newpath string) error {
	var err error
	for wait := time.Millisecond; ; wait *= 2 {
		if err = os.Rename(oldpath, newpath); err == nil || !sharing(err) || wait > time.Second {
			return err
		}
		time.Sleep(wait)
	}
}

func sharing(err error) bool {
	return errors.Is(err, windows.ERROR_SHARING_VIOLATION) || errors.Is(err, windows.ERROR_ACCESS_DENIED) || errors.Is(err, windows.ERROR_LOCK_VIOLATION)
}
