//go:build !unix

package layout

import (
	"context"
	"errors"
	"os"
)

// lock is not implemented here: without it two writers could corrupt index.json.
func lock(ctx context.Context, f *os.File) error {
	return &os.PathError{Op: "lock", Path: f.Name(), Err: errors.ErrUnsupported}
}
