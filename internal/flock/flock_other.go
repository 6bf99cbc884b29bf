//go:build !unix

// Package flock takes exclusive advisory locks on open files, waiting in a way
// that a context can end.
package flock

import (
	"context"
	"errors"
	"os"
)

// Lock is not implemented here: without it two writers could interleave.
func Lock(ctx context.Context, f *os.File) error {
	_, err := TryLock(f)
	return err
}

// TryLock is not implemented here.
func TryLock(f *os.File) (bool, error) {
	return false, &os.PathError{Op: "lock", Path: f.Name(), Err: errors.ErrUnsupported}
}
