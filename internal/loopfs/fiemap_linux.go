//go:build linux

package loopfs

import (
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// FIEMAP, from linux/fiemap.h and linux/fs.h, which golang.org/x/sys/unix
// does not define.
const (
	fsIocFiemap        = 0xC020660B // _IOWR('f', 11, struct fiemap)
	fiemapFlagSync     = 0x1        // write dirty pages before mapping
	fiemapExtentLast   = 0x1
	fiemapExtentShared = 0x2000
	fiemapMaxExtents   = 256
)

type fiemapExtent struct {
	Logical, Physical, Length uint64
	_                         [2]uint64
	Flags                     uint32
	_                         [3]uint32
}

type fiemap struct {
	Start, Length                        uint64
	Flags, MappedExtents, ExtentCount, _ uint32
	Extents                              [fiemapMaxExtents]fiemapExtent
}

// Unshared returns the bytes of f in [off, off+n) that no extent flagged
// FIEMAP_EXTENT_SHARED maps (holes included).
func Unshared(t *testing.T, f *os.File, off, n int64) int64 {
	t.Helper()
	fm := &fiemap{Start: uint64(off), Length: uint64(n), Flags: fiemapFlagSync, ExtentCount: fiemapMaxExtents}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(fm))); errno != 0 {
		t.Fatalf("FS_IOC_FIEMAP of %s: %v", f.Name(), errno)
	}
	if fm.MappedExtents == fiemapMaxExtents && fm.Extents[fm.MappedExtents-1].Flags&fiemapExtentLast == 0 {
		t.Fatalf("%s has more than %d extents in the range", f.Name(), fiemapMaxExtents)
	}
	missing := n
	for _, e := range fm.Extents[:fm.MappedExtents] {
		if e.Flags&fiemapExtentShared == 0 {
			continue
		}
		lo, hi := max(int64(e.Logical), off), min(int64(e.Logical+e.Length), off+n)
		if hi > lo {
			missing -= hi - lo
		}
	}
	return missing
}
