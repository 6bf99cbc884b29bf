package disk_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/haul-dev/haul/disk"
)

// names lists dir's entries.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestCreateCommit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		sync, readOnly bool
		existing       string // what is at the path before; "" for nothing
		existingRO     bool   // and it is read-only
	}{
		{"new", false, false, "", false},
		{"new, synced", true, false, "", false},
		{"new, read-only", false, true, "", false},
		{"replacing", false, false, "old", false},
		{"replacing, synced and read-only", true, true, "old", false},
		{"replacing a read-only file", false, true, "old", true}, // a blob committed twice
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "out")
			if tt.existing != "" {
				mode := os.FileMode(0o644)
				if tt.existingRO {
					mode = 0o444
				}
				if err := os.WriteFile(path, []byte(tt.existing), mode); err != nil {
					t.Fatal(err)
				}
			}
			f, err := disk.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			if f.Path() != path || !disk.IsTemp(filepath.Base(f.Name())) || filepath.Dir(f.Name()) != dir {
				t.Errorf("Create(%s): Path %s, temporary file %s", path, f.Path(), f.Name())
			}
			if _, err := f.WriteString("new"); err != nil {
				t.Fatal(err)
			}
			if got, err := os.ReadFile(path); tt.existing != "" && string(got) != tt.existing {
				t.Errorf("before Commit, %s holds %q, %v", path, got, err)
			}
			if err := f.Commit(tt.sync, tt.readOnly); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if got, err := os.ReadFile(path); err != nil || string(got) != "new" {
				t.Errorf("after Commit, %s holds %q, %v", path, got, err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if ro := fi.Mode().Perm()&0o222 == 0; ro != tt.readOnly {
				t.Errorf("mode %v, read-only wanted: %v", fi.Mode(), tt.readOnly)
			}
			if got := names(t, dir); !slices.Equal(got, []string{"out"}) {
				t.Errorf("the directory holds %v", got)
			}
		})
	}
}

// TestNothingLeftOnFailure: Abort, a failed WriteFile and a failed Commit
// leave the directory as it was.
func TestNothingLeftOnFailure(t *testing.T) {
	t.Parallel()
	errWrite := errors.New("the writer failed")
	tests := []struct {
		name string
		fail func(t *testing.T, path string) error
	}{
		{"Abort", func(t *testing.T, path string) error {
			f, err := disk.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteString("new")
			f.Abort()
			return errWrite
		}},
		{"WriteFile whose writer fails", func(t *testing.T, path string) error {
			return disk.WriteFile(path, true, true, func(f *os.File) error {
				f.WriteString("new")
				return errWrite
			})
		}},
		{"Commit of a file closed already", func(t *testing.T, path string) error {
			f, err := disk.Create(path)
			if err != nil {
				t.Fatal(err)
			}
			f.Close()
			return f.Commit(false, false)
		}},
		{"Commit onto a directory", func(t *testing.T, path string) error {
			f, err := disk.Create(path + ".d")
			if err != nil {
				t.Fatal(err)
			}
			return f.Commit(false, false) // slow on Windows: the refusal looks like a sharing violation
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "out")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(path+".d", "full"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tt.fail(t, path); err == nil {
				t.Fatal("no failure")
			}
			if got, err := os.ReadFile(path); err != nil || string(got) != "old" {
				t.Errorf("%s holds %q, %v", path, got, err)
			}
			if got := names(t, dir); !slices.Equal(got, []string{"out", "out.d"}) {
				t.Errorf("the directory holds %v", got)
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "a", "b", "out") // its directories are made
	for _, body := range []string{"first", "second"} {
		err := disk.WriteFile(path, false, false, func(f *os.File) error {
			_, err := f.WriteString(body)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(path); err != nil || string(got) != body {
			t.Errorf("%s holds %q, %v; want %q", path, got, err, body)
		}
	}
}

func TestEmpty(t *testing.T) {
	t.Parallel()
	for _, size := range []int{0, 5000} {
		f, err := os.Create(filepath.Join(t.TempDir(), "f"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.Write(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		if err := disk.Empty(f); err != nil {
			t.Fatal(err)
		}
		if fi, err := f.Stat(); err != nil || fi.Size() != 0 {
			t.Errorf("after Empty of %d bytes: %v, %v", size, fi.Size(), err)
		}
	}
}
