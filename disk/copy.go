package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// bufSize is the buffer of a copy that goes through this process.
const bufSize = 1 << 20

// ErrShortSource says the source of a copy ended before the bytes asked for.
var ErrShortSource = errors.New("source file is shorter than the range copied")

// CopyRange copies n bytes from src at srcOff to dst at dstOff, neither
// file's position moved, so many copies may run at once on one dst. It
// copies in the kernel where the system can (copy_file_range on Linux,
// which shares extents on XFS and Btrfs), through a buffer elsewhere.
func CopyRange(ctx context.Context, dst *os.File, dstOff int64, src *os.File, srcOff, n int64) error {
	done, err := copyKernel(ctx, dst, dstOff, src, srcOff, n)
	if err != nil {
		return err
	}
	return copyBuffered(ctx, dst, dstOff+done, src, srcOff+done, n-done)
}

// copyBuffered copies n bytes from src at srcOff to dst at dstOff through
// this process.
func copyBuffered(ctx context.Context, dst *os.File, dstOff int64, src *os.File, srcOff, n int64) error {
	if n <= 0 {
		return nil
	}
	buf := make([]byte, min(bufSize, n))
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		k, err := src.ReadAt(buf[:min(int64(len(buf)), n)], srcOff)
		if k > 0 {
			if _, werr := dst.WriteAt(buf[:k], dstOff); werr != nil {
				return werr
			}
			srcOff, dstOff, n = srcOff+int64(k), dstOff+int64(k), n-int64(k)
		}
		if errors.Is(err, io.EOF) && n > 0 {
			return fmt.Errorf("%s: %w", src.Name(), ErrShortSource)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	return nil
}
