//go:build !linux

package rootfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sameAsUnpack has nothing to compare with here: unpacking needs Linux.
func sameAsUnpack(*testing.T, []blob, []byte) {}

// TestCreateUnsupported: anywhere but on Linux, Create refuses with
// ErrUnsupported, whose message names the export that works instead, and
// touches nothing.
func TestCreateUnsupported(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		exist bool // the target is an empty directory
		c     Config
	}{
		{"absent target", false, Config{}},
		{"empty target", true, Config{}},
		{"absent target, force", false, Config{Force: true}},
		{"empty target, force", true, Config{Force: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			target := filepath.Join(parent, "rootfs")
			if tt.exist {
				if err := os.Mkdir(target, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			u, err := Create(t.Context(), target, tt.c)
			if err == nil {
				u.Abort()
				t.Fatal("Create succeeded")
			}
			if !errors.Is(err, ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("Create: %v, want ErrUnsupported and errors.ErrUnsupported", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "haul export REF -o fs.tar") || !strings.Contains(msg, target) {
				t.Errorf("Create: %q names neither the export nor the target", msg)
			}
			names, err := os.ReadDir(parent)
			if err != nil {
				t.Fatal(err)
			}
			want := 0 // nothing made beside the target, and the target not made
			if tt.exist {
				want = 1
				if in, _ := os.ReadDir(target); len(in) != 0 {
					t.Errorf("Create wrote %v into the target", in)
				}
			}
			if len(names) != want {
				t.Errorf("Create left %v in %s", names, parent)
			}
		})
	}
}
