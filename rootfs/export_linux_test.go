//go:build linux

package rootfs

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/haul-dev/haul/internal/treetest"
)

// sameAsUnpack checks that `tar -x` of the export b makes the tree that
// unpacking the layers makes.
func sameAsUnpack(t *testing.T, layers []blob, b []byte) {
	t.Helper()
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar on PATH")
	}
	unpacked, err := unpack(t, Config{}, layers...)
	if err != nil {
		t.Fatal(err)
	}
	want := treetest.List(t, unpacked)
	if tree := treetest.List(t, extract(t, b)); !slices.Equal(tree, want) {
		t.Errorf("tar -x of the export:\n%s\nunpack:\n%s", strings.Join(tree, "\n"), strings.Join(want, "\n"))
	}
}

// extract unpacks an export with GNU tar, as a user of `haul export` would.
func extract(t *testing.T, b []byte) string {
	t.Helper()
	dir := t.TempDir()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), "tar", "-xf", "-", "-C", dir)
	cmd.Stdin, cmd.Stderr = bytes.NewReader(b), &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("tar -x of the export: %v\n%s", err, stderr.String())
	}
	return dir
}
