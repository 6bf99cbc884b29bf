package disk_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/internal/loopfs"
)

// random returns n bytes that depend on seed only.
func random(seed uint64, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// pair makes, in dir, a source file holding src and a destination file
// holding dst, both open for reading and writing, closed when t ends.
func pair(t *testing.T, dir string, src, dst []byte) (*os.File, *os.File) {
	t.Helper()
	var fs []*os.File
	for i, b := range [][]byte{src, dst} {
		name := filepath.Join(dir, []string{"src", "dst"}[i])
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.OpenFile(name, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		fs = append(fs, f)
	}
	return fs[0], fs[1]
}

// contents reads f whole.
func contents(t *testing.T, f *os.File) []byte {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCopyRange(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	tests := []struct {
		name              string
		srcLen, dstLen    int
		srcOff, dstOff, n int64
		wantErr           error
	}{
		{"nothing", 10, 10, 3, 3, 0, nil},
		{"one byte", 10, 10, 9, 0, 1, nil},
		{"inside the destination", 10 << 10, 10 << 10, 100, 5000, 4099, nil},
		{"past the destination's end", 3*mib + 17, 10, 0, 4096, 3*mib + 17, nil}, // more than one buffer
		{"from the middle to the end", 2*mib + 5, 0, mib, 0, mib + 5, nil},
		{"source too short", 100, 0, 50, 0, 51, disk.ErrShortSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srcData, dstData := random(1, tt.srcLen), random(2, tt.dstLen)
			src, dst := pair(t, t.TempDir(), srcData, dstData)
			err := disk.CopyRange(t.Context(), dst, tt.dstOff, src, tt.srcOff, tt.n)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("CopyRange = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			want := append([]byte(nil), dstData...)
			if end := int(tt.dstOff + tt.n); end > len(want) {
				want = append(want, make([]byte, end-len(want))...)
			}
			copy(want[tt.dstOff:], srcData[tt.srcOff:tt.srcOff+tt.n])
			if got := contents(t, dst); !bytes.Equal(got, want) {
				t.Errorf("the destination (%d bytes) is not the %d bytes wanted", len(got), len(want))
			}
			if pos, _ := src.Seek(0, 1); pos != 0 {
				t.Errorf("the source's position moved to %d", pos)
			}
		})
	}
	t.Run("canceled", func(t *testing.T) {
		t.Parallel()
		src, dst := pair(t, t.TempDir(), random(1, 100), nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := disk.CopyRange(ctx, dst, 0, src, 0, 100); !errors.Is(err, context.Canceled) {
			t.Errorf("CopyRange with its context done = %v", err)
		}
	})
}

// TestCloneRangeUnsupported: where extents cannot be shared, CloneRange says
// so and writes nothing: on ext4 and tmpfs (mounted for the test, as root),
// everywhere but Linux, and with offsets off the block.
func TestCloneRangeUnsupported(t *testing.T) {
	t.Parallel()
	const n = 256 << 10
	tests := []struct {
		name           string
		dir            func(t *testing.T) string
		srcOff, dstOff int64
	}{
		{"ext4", func(t *testing.T) string { return loopfs.Mount(t, "ext4") }, 0, 64 << 10},
		{"tmpfs", func(t *testing.T) string { return loopfs.Mount(t, "tmpfs") }, 0, 64 << 10},
		{"offsets off the block", func(t *testing.T) string { return t.TempDir() }, 1, 64<<10 + 1},
		{"this system", func(t *testing.T) string {
			if runtime.GOOS == "linux" {
				t.Skip("Linux clones where the filesystem can: the cases above and TestCloneShares")
			}
			return t.TempDir()
		}, 0, 64 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srcData, dstData := random(1, n+(64<<10)), random(2, n+(128<<10))
			src, dst := pair(t, tt.dir(t), srcData, dstData)
			err := disk.CloneRange(t.Context(), dst, tt.dstOff, src, tt.srcOff, n)
			if !errors.Is(err, errors.ErrUnsupported) {
				t.Fatalf("CloneRange = %v, want errors.ErrUnsupported", err)
			}
			if !bytes.Equal(contents(t, dst), dstData) {
				t.Error("CloneRange wrote to the destination and then said it could not")
			}
		})
	}
}
