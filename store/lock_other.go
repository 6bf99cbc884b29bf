//go:build !unix

package store

import (
	"context"
	"errors"
	"os"
)

// Locking is not implemented here: without it two downloads of one blob could
// interleave in a partial file.

func lock(ctx context.Context, f *os.File) error {
	_, err := tryLock(f)
	return err
}

func tryLock(f *os.File) (bool, error) {
	return false, &os.PathError{Op: "lock", Path: f.Name(), Err: errors.ErrUnsupported}
}
