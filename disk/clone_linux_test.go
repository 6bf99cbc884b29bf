//go:build linux

package disk_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/internal/loopfs"
)

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
			if u := loopfs.Unshared(t, dst, dstOff, bulk); u != 0 {
				t.Errorf("%s: %d of the destination's %d bytes share no extent", tt.how, u, bulk)
			}
			if u := loopfs.Unshared(t, src, srcOff, bulk); u != 0 {
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
			if u := loopfs.Unshared(t, f, 0, bulk); u != bulk {
				t.Errorf("a plain copy: %d of %d bytes unshared, want all (does FIEMAP see sharing at all?)", u, bulk)
			}
		})
	}
}
