package layout

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/haul-dev/haul/disk"
)

// TestCheck: an oci output goes into an absent or empty directory, or a
// layout; anything else is refused with an *disk.OutputError naming it.
func TestCheck(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, parent string) string
		want  error // nil: accepted
	}{
		{"absent", func(t *testing.T, parent string) string { return filepath.Join(parent, "l") }, nil},
		{"empty", func(t *testing.T, parent string) string { return parent }, nil},
		{"a layout", func(t *testing.T, parent string) string {
			if _, err := Create(parent); err != nil {
				t.Fatal(err)
			}
			return parent
		}, nil},
		{"missing parent", func(t *testing.T, parent string) string { return filepath.Join(parent, "no", "l") }, fs.ErrNotExist},
		{"a file", func(t *testing.T, parent string) string {
			name := filepath.Join(parent, "l")
			os.WriteFile(name, nil, 0o644)
			return name
		}, disk.ErrNotDir},
		{"a directory of other things", func(t *testing.T, parent string) string {
			os.WriteFile(filepath.Join(parent, "notes.txt"), nil, 0o644)
			return parent
		}, ErrNotLayout},
		{"a layout of another version", func(t *testing.T, parent string) string {
			os.WriteFile(filepath.Join(parent, LayoutFile), []byte(`{"imageLayoutVersion":"2.0.0"}`), 0o644)
			return parent
		}, ErrNotLayout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := tt.setup(t, t.TempDir())
			err := Check(dir)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Check refused %s: %v", dir, err)
				}
				return
			}
			var oe *disk.OutputError
			if !errors.As(err, &oe) || oe.Path != dir || !errors.Is(err, tt.want) {
				t.Fatalf("Check: %v, want an *OutputError for %s matching %v", err, dir, tt.want)
			}
		})
	}
}

// TestRemoveStale: the temporary files a killed writer of the layout left
// (index.json's, a blob's) go; one a live writer holds, and the layout's
// own files, stay.
func TestRemoveStale(t *testing.T) {
	t.Parallel()
	l, err := Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	d := desc("blob")
	if err := l.WriteBlobBytes(d, []byte("blob")); err != nil {
		t.Fatal(err)
	}
	blobDir := filepath.Dir(must(l.BlobPath(d.Digest)))
	for _, name := range []string{
		filepath.Join(l.Dir(), ".index.json.abcdefghijk23.haul-tmp"),
		filepath.Join(blobDir, "."+d.Digest.Encoded()+".abcdefghijk23.haul-tmp"),
	} {
		if err := os.WriteFile(name, []byte("half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	live, err := disk.Create(filepath.Join(blobDir, desc("other").Digest.Encoded()))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Abort()
	if n := l.RemoveStale(); n != 2 {
		t.Errorf("RemoveStale removed %d files, want 2", n)
	}
	if got := names(t, l.Dir()); !slices.Equal(got, []string{"blobs", LayoutFile}) {
		t.Errorf("the layout holds %v", got)
	}
	if got := names(t, blobDir); !slices.Equal(got, []string{filepath.Base(live.Name()), d.Digest.Encoded()}) {
		t.Errorf("blobs holds %v, want the live write's file and the blob", got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
