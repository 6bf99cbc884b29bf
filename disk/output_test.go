package disk_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haul-dev/haul/disk"
)

// TestCheckOutput: CheckFile and CheckDir refuse what could not be written,
// with an *OutputError that names the path given and matches its cause, and
// leave nothing behind, the probe file included.
func TestCheckOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // makes the scene, returns the path to check
		check func(string) error
		want  error // nil: accepted
	}{
		{"file: new", func(t *testing.T, dir string) string { return filepath.Join(dir, "x.tar") }, disk.CheckFile, nil},
		{"file: existing file", func(t *testing.T, dir string) string {
			return writeFile(t, filepath.Join(dir, "x.tar"))
		}, disk.CheckFile, nil},
		{"file: missing parent", func(t *testing.T, dir string) string {
			return filepath.Join(dir, "missing", "x.tar")
		}, disk.CheckFile, fs.ErrNotExist},
		{"file: missing grandparent", func(t *testing.T, dir string) string {
			return filepath.Join(dir, "a", "b", "x.tar")
		}, disk.CheckFile, fs.ErrNotExist},
		{"file: parent is a file", func(t *testing.T, dir string) string {
			return filepath.Join(writeFile(t, filepath.Join(dir, "f")), "x.tar")
		}, disk.CheckFile, disk.ErrNotDir},
		{"file: a directory", func(t *testing.T, dir string) string { return dir }, disk.CheckFile, disk.ErrIsDir},
		{"dir: new", func(t *testing.T, dir string) string { return filepath.Join(dir, "d") }, disk.CheckDir, nil},
		{"dir: existing", func(t *testing.T, dir string) string { return dir }, disk.CheckDir, nil},
		{"dir: a file", func(t *testing.T, dir string) string {
			return writeFile(t, filepath.Join(dir, "f"))
		}, disk.CheckDir, disk.ErrNotDir},
		{"dir: missing parent", func(t *testing.T, dir string) string {
			return filepath.Join(dir, "missing", "d")
		}, disk.CheckDir, fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := tt.setup(t, dir)
			before := names(t, dir)
			err := tt.check(path)
			checkRefusal(t, err, path, tt.want)
			if after := names(t, dir); strings.Join(after, "/") != strings.Join(before, "/") {
				t.Errorf("the check changed %s: %v, then %v", dir, before, after)
			}
		})
	}
}

// checkRefusal checks that err is nil when want is, else an *OutputError
// for path that matches want and names no temporary file.
func checkRefusal(t *testing.T, err error, path string, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("refused %s: %v", path, err)
		}
		return
	}
	var oe *disk.OutputError
	if !errors.As(err, &oe) || oe.Path != path || !errors.Is(err, want) {
		t.Fatalf("err = %v (%T), want an *OutputError for %s matching %v", err, err, path, want)
	}
	if !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), disk.TempSuffix) {
		t.Errorf("the message %q does not name %s, or names a temporary file", err, path)
	}
}

func writeFile(t *testing.T, name string) string {
	t.Helper()
	if err := os.WriteFile(name, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}
