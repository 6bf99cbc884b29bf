//go:build linux

package direct

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// allocated is how many bytes of disk f's blocks take.
func allocated(t *testing.T, f *os.File) int64 {
	t.Helper()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// TestReserve reserves the rest of a file's blocks, checks that its size and
// bytes stay as they were while its blocks cover the reservation, and that
// Release gives back the blocks past its end. Allocate sizes a file with its
// blocks allocated.
func TestReserve(t *testing.T) {
	t.Parallel()
	const size = 4 << 20
	f, err := os.Create(filepath.Join(t.TempDir(), "partial"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, 1); err != nil {
		t.Skipf("the filesystem of %s does not allocate ahead: %v", f.Name(), err)
	}
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	head := []byte("the bytes a download wrote before it dropped")
	if _, err := f.Write(head); err != nil {
		t.Fatal(err)
	}
	Reserve(f, int64(len(head)), size-int64(len(head)))
	if fi, err := f.Stat(); err != nil || fi.Size() != int64(len(head)) {
		t.Fatalf("after Reserve: size %v (%v), want %d", fi.Size(), err, len(head))
	}
	if got := allocated(t, f); got < size {
		t.Fatalf("after Reserve: %d bytes allocated, want at least %d", got, size)
	}
	if err := Release(f); err != nil {
		t.Fatal(err)
	}
	if got := allocated(t, f); got >= size/2 {
		t.Fatalf("after Release: %d bytes allocated for %d bytes", got, len(head))
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || string(got) != string(head) {
		t.Fatalf("after Release: %q (%v), want %q", got, err, head)
	}

	g, err := os.Create(filepath.Join(t.TempDir(), "archive"))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := Allocate(g, size); err != nil {
		t.Fatal(err)
	}
	if fi, err := g.Stat(); err != nil || fi.Size() != size {
		t.Fatalf("after Allocate: size %v (%v), want %d", fi.Size(), err, size)
	}
	if got := allocated(t, g); got < size {
		t.Fatalf("after Allocate: %d bytes allocated, want at least %d", got, size)
	}
}

// TestAllocateNoRoom asks for more than any disk has: Allocate fails with a
// SpaceError, before it allocates anything.
func TestAllocateNoRoom(t *testing.T) {
	t.Parallel()
	f, err := os.Create(filepath.Join(t.TempDir(), "archive"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 1 << 60
	err = Allocate(f, size)
	var se *SpaceError
	if !errors.As(err, &se) || se.Need != size || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Allocate(%d) = %v, want a SpaceError that is ENOSPC", int64(size), err)
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != 0 || allocated(t, f) != 0 {
		t.Fatalf("after the failed Allocate: %v (%v), %d bytes allocated", fi.Size(), err, allocated(t, f))
	}
}
