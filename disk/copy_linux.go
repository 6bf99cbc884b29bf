//go:build linux

package disk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// copyChunk is how much copy_file_range copies between two looks at the
// context.
const copyChunk = 64 << 20

// copyKernel copies with copy_file_range until done, or until the kernel
// cannot (across filesystems before Linux 5.3 and again since 5.19, a
// filesystem that refuses it): it returns how many bytes it copied, and the
// caller copies the rest through a buffer.
func copyKernel(ctx context.Context, dst *os.File, dstOff int64, src *os.File, srcOff, n int64) (int64, error) {
	defer runtime.KeepAlive(dst)
	defer runtime.KeepAlive(src)
	dfd, sfd := int(dst.Fd()), int(src.Fd())
	so, do := srcOff, dstOff
	for so-srcOff < n {
		if err := ctx.Err(); err != nil {
			return so - srcOff, err
		}
		k, err := unix.CopyFileRange(sfd, &so, dfd, &do, int(min(copyChunk, n-(so-srcOff))), 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EXDEV), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EINVAL),
			errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EPERM):
			return so - srcOff, nil
		case err != nil:
			return so - srcOff, err
		case k == 0:
			return so - srcOff, fmt.Errorf("%s: %w", src.Name(), ErrShortSource)
		}
	}
	return n, nil
}

// CloneRange makes n bytes of dst at dstOff share src's extents at srcOff
// (FICLONERANGE: XFS with reflink, Btrfs), so the bytes are not written a
// second time. Both offsets must be multiples of the filesystem's block; a
// tail short of a block is copied (and so is all of an n under one block).
// Where the filesystem cannot share extents (ext4, tmpfs, two
// filesystems), or the offsets are not on blocks, it returns an error
// matching errors.ErrUnsupported, having written nothing.
func CloneRange(ctx context.Context, dst *os.File, dstOff int64, src *os.File, srcOff, n int64) error {
	defer runtime.KeepAlive(dst)
	defer runtime.KeepAlive(src)
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(src.Fd()), &st); err != nil {
		return err
	}
	bs := int64(st.Bsize) // an int32 on 32-bit Linux
	bulk := n &^ (bs - 1)
	if srcOff%bs != 0 || dstOff%bs != 0 {
		return fmt.Errorf("clone of %s: offsets %d and %d are not on %d-byte blocks: %w", src.Name(), srcOff, dstOff, bs, errors.ErrUnsupported)
	}
	if bulk > 0 {
		err := unix.IoctlFileCloneRange(int(dst.Fd()), &unix.FileCloneRange{
			Src_fd: int64(src.Fd()), Src_offset: uint64(srcOff), Src_length: uint64(bulk), Dest_offset: uint64(dstOff),
		})
		switch {
		case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOTTY), errors.Is(err, unix.EXDEV),
			errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
			return fmt.Errorf("clone of %s: %w (%w)", src.Name(), errors.ErrUnsupported, err)
		case err != nil:
			return fmt.Errorf("clone of %s: %w", src.Name(), err)
		}
	}
	return copyBuffered(ctx, dst, dstOff+bulk, src, srcOff+bulk, n-bulk)
}
