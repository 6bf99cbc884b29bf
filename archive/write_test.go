package archive

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/haul-dev/haul/internal/direct"
)

// TestCopyBuffered covers the fallback copy_file_range takes across
// filesystems, which one temporary directory cannot provoke.
func TestCopyBuffered(t *testing.T) {
	t.Parallel()
	data := random(9, 3<<20+17)
	tests := []struct {
		name      string
		srcLen    int   // bytes actually in the source file
		from      int64 // where the kernel stopped, as copyRange hands over
		wantShort bool
	}{
		{"whole", len(data), 0, false},
		{"resumed", len(data), 1<<20 + 5, false},
		{"short source", len(data) - 100, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			srcPath := filepath.Join(dir, "src")
			if err := os.WriteFile(srcPath, data[:tt.srcLen], 0o644); err != nil {
				t.Fatal(err)
			}
			src, err := os.Open(srcPath)
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			dst, err := os.Create(filepath.Join(dir, "dst"))
			if err != nil {
				t.Fatal(err)
			}
			defer dst.Close()
			const off = 4096
			if _, err := dst.WriteAt(data[:tt.from], off); err != nil {
				t.Fatal(err)
			}
			err = copyBuffered(t.Context(), dst, off+tt.from, src, tt.from, int64(len(data)))
			if tt.wantShort {
				if !isSizeError(err) {
					t.Fatalf("copyBuffered = %v, want a size error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dst.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[off:], data) {
				t.Error("copied bytes differ")
			}
		})
	}
}

// TestRegionDirect writes an archive's blobs through their Regions, the
// aligned one with O_DIRECT, and checks that the archive is the one WriteFile
// writes, and that no unaligned blob is offered a direct target.
func TestRegionDirect(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, err := newPlan(Docker, f.images, alignMin)
	if err != nil {
		t.Fatal(err)
	}
	want := writeFile(t, p, f.src)
	path := filepath.Join(t.TempDir(), "out.tar")
	out, err := p.Create(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	directs := 0
	for _, d := range p.Blobs() {
		r, err := out.Region(d)
		if err != nil {
			t.Fatal(err)
		}
		data := f.src.read(t, d.Digest)
		tg, ok := r.DirectTarget()
		if off, _ := p.Offset(d.Digest); ok && off%direct.Align != 0 {
			t.Errorf("%s at %d is offered O_DIRECT, though it is not aligned", d.Digest, off)
		}
		if !ok {
			if _, err := r.Write(data); err != nil {
				t.Fatal(err)
			}
			continue
		}
		w := direct.NewPool(1).NewWriter(0, d.Size, tg)
		if w == nil {
			t.Fatal("direct.NewWriter refused the region's target")
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		directs++
	}
	if directs == 0 {
		out.Abort()
		t.Skip("O_DIRECT is not available on the test directory's filesystem")
	}
	if err := out.Commit(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the archive written through Regions with O_DIRECT differs from WriteFile's")
	}
}
