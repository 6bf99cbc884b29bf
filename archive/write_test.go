package archive

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
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
