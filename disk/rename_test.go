package disk_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/haul-dev/haul/disk"
)

func TestRenameReplaces(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		existing os.FileMode // the mode of a file at the new name; 0 for none
	}{
		{"to a new name", 0},
		{"onto a file", 0o644},
		{"onto a read-only file", 0o444}, // Windows refuses to replace it as it is
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			from, to := filepath.Join(dir, "from"), filepath.Join(dir, "to")
			if err := os.WriteFile(from, []byte("new"), 0o644); err != nil {
				t.Fatal(err)
			}
			if tt.existing != 0 {
				if err := os.WriteFile(to, []byte("old"), tt.existing); err != nil {
					t.Fatal(err)
				}
			}
			if err := disk.Rename(from, to); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(to); err != nil || string(got) != "new" {
				t.Errorf("%s holds %q, %v", to, got, err)
			}
			if _, err := os.Lstat(from); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s is still there: %v", from, err)
			}
		})
	}
}

// TestRenameOntoOpenFile: on Unix a file open elsewhere is replaced at once.
// On Windows a handle opened without FILE_SHARE_DELETE (as Go's os.Open
// opens every file) stops the rename: Rename tries again for about two
// seconds, so it succeeds if the handle closes meanwhile, and fails if not,
// until it is closed. Remove likewise.
func TestRenameOntoOpenFile(t *testing.T) {
	t.Parallel()
	windows := runtime.GOOS == "windows"
	tests := []struct {
		name    string
		closeIn time.Duration // when the handle closes; 0: only after the first try
		op      func(from, to string) error
		fails   bool // the first try fails
	}{
		{"rename, handle kept", 0, disk.Rename, windows},
		{"rename, handle closed while retrying", 200 * time.Millisecond, disk.Rename, false},
		{"remove, handle kept", 0, func(_, to string) error { return disk.Remove(to) }, windows},
		{"remove, handle closed while retrying", 200 * time.Millisecond, func(_, to string) error { return disk.Remove(to) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			from, to := filepath.Join(dir, "from"), filepath.Join(dir, "to")
			if err := os.WriteFile(from, []byte("new"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(to, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			h, err := os.Open(to)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			if tt.closeIn > 0 {
				time.AfterFunc(tt.closeIn, func() { h.Close() })
			}
			err = tt.op(from, to)
			if (err != nil) != tt.fails {
				t.Fatalf("with %s open: %v; failure wanted: %v", to, err, tt.fails)
			}
			if err != nil {
				h.Close()
				if err := tt.op(from, to); err != nil {
					t.Fatalf("once the handle closed: %v", err)
				}
			}
		})
	}
}
