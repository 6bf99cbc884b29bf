//go:build linux

package disk_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/internal/loopfs"
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

// unshared returns the bytes of f in [off, off+n) that no extent flagged
// FIEMAP_EXTENT_SHARED maps (holes included).
func unshared(t *testing.T, f *os.File, off, n int64) int64 {
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

// TestCloneShares: on XFS (with reflink) and Btrfs, CloneRange of an 8 MiB
// + 100 byte region into another file at an aligned offset shares the 8 MiB
// of blocks between the two files (the 100 bytes, short of a block, are
// copied), and so does CopyRange, through copy_file_range. Root only: the
// filesystems are made on loop devices.
func TestCloneShares(t *testing.T) {
	t.Parallel()
	const (
		bulk   = 8 << 20
		n      = bulk + 100
		srcOff = 64 << 10 // aligned on any block size up to 64 KiB
		dstOff = 1 << 20
	)
	tests := []struct {
		fstype string
		how    string // CloneRange or CopyRange
	}{
		{"xfs", "CloneRange"},
		{"xfs", "CopyRange"},
		{"btrfs", "CloneRange"},
		{"btrfs", "CopyRange"},
	}
	for _, tt := range tests {
		t.Run(tt.fstype+" "+tt.how, func(t *testing.T) {
			t.Parallel()
			dir := loopfs.Mount(t, tt.fstype)
			srcData := random(3, srcOff+n+5000)
			src, dst := pair(t, dir, srcData, random(4, 4096))
			if err := src.Sync(); err != nil { // extents allocated before they are shared
				t.Fatal(err)
			}
			var err error
			if tt.how == "CloneRange" {
				err = disk.CloneRange(t.Context(), dst, dstOff, src, srcOff, n)
			} else {
				err = disk.CopyRange(t.Context(), dst, dstOff, src, srcOff, n)
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.how, err)
			}
			got := contents(t, dst)
			if len(got) != dstOff+n || !bytes.Equal(got[dstOff:], srcData[srcOff:srcOff+n]) {
				t.Fatalf("%s: the destination's %d bytes are not the source's", tt.how, len(got))
			}
			if u := unshared(t, dst, dstOff, bulk); u != 0 {
				t.Errorf("%s: %d of the destination's %d bytes share no extent", tt.how, u, bulk)
			}
			if u := unshared(t, src, srcOff, bulk); u != 0 {
				t.Errorf("%s: %d of the source's %d bytes share no extent", tt.how, u, bulk)
			}
			other := filepath.Join(dir, "other") // a file written the plain way shares nothing
			if err := os.WriteFile(other, srcData, 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(other)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if u := unshared(t, f, 0, bulk); u != bulk {
				t.Errorf("a plain copy: %d of %d bytes unshared, want all (does FIEMAP see sharing at all?)", u, bulk)
			}
		})
	}
}
