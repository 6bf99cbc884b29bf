//go:build !linux

package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// copyKernel copies nothing here: CopyRange goes through a buffer.
func copyKernel(context.Context, *os.File, int64, *os.File, int64, int64) (int64, error) {
	return 0, nil
}

// CloneRange is not available here (APFS clones whole files only).
func CloneRange(_ context.Context, _ *os.File, _ int64, src *os.File, _, _ int64) error {
	return fmt.Errorf("clone of %s: %w", src.Name(), errors.ErrUnsupported)
}
