//go:build !unix && !windows

package disk

import (
	"errors"
	"os"
)

// TryLock is not implemented here: without it two writers could interleave.
func TryLock(f *os.File) (bool, error) {
	return false, &os.PathError{Op: "lock", Path: f.Name(), Err: errors.ErrUnsupported}
}
