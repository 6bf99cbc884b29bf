//go:build linux

package rootfs

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/treetest"
)

// FuzzApply applies arbitrary tars, as two layers (the same bytes twice, so
// that what the first plants the second can use), to a root inside a
// sandbox that also holds a victim directory and a symlink to it. Whatever
// the tar says and however the unpack ends, the sandbox outside the root
// must be exactly as it was.
func FuzzApply(f *testing.F) {
	seed := func(ents ...ent) { f.Add(tarOf(f, ents...)) }
	seed(file("a", "1"), dir("d"), symlink("d/s", "../a"), hardlink("h", "a"))
	seed(file("../victim/x", "pwned"))
	seed(symlink("lnk", "/"), file("lnk/victim/x", "pwned"))
	seed(symlink("lnk", "../victim"), file("lnk/x", "pwned"), whiteout("lnk/.wh.keep"))
	seed(symlink("lnk", "../../../../victim"), whiteout("lnk/.wh..wh..opq"))
	seed(hardlink("h", "../victim/keep"))
	seed(symlink("out", "../out-link"), hardlink("h", "out/keep"))
	seed(dir("x"), file("x/f", "1"), whiteout(".wh.x"), file("x", "2"))
	seed(ent{name: ".", typ: tar.TypeSymlink, link: "../victim"})
	seed(ent{name: "p", typ: tar.TypeFifo, mode: 0o644}, ent{name: "c", typ: tar.TypeChar, mode: 0o644, body: ""})
	f.Fuzz(func(t *testing.T, raw []byte) {
		sandbox := t.TempDir()
		victim := filepath.Join(sandbox, "victim")
		os.Mkdir(victim, 0o755)
		os.WriteFile(filepath.Join(victim, "keep"), []byte("intact"), 0o644)
		os.Symlink("victim", filepath.Join(sandbox, "out-link"))
		before := treetest.List(t, sandbox)
		l := Layer{
			Descriptor: image.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar", Digest: digest.FromBytes(raw), Size: int64(len(raw))},
			DiffID:     digest.FromBytes(raw),
		}
		u, err := Create(t.Context(), filepath.Join(sandbox, "rootfs"), Config{MaxSize: 1 << 20, MaxEntries: 1000, MinFree: -1})
		if err != nil {
			t.Fatal(err)
		}
		err = u.Apply(t.Context(), l, bytes.NewReader(raw))
		if err == nil {
			err = u.Apply(t.Context(), l, bytes.NewReader(raw))
		}
		if err == nil {
			err = u.Commit(t.Context())
		}
		if err != nil {
			u.Abort()
		}
		var after []string
		for _, e := range treetest.List(t, sandbox) {
			if !strings.HasPrefix(e, "rootfs/") && !strings.HasPrefix(e, "rootfs ") {
				after = append(after, e)
			}
		}
		if strings.Join(after, "\n") != strings.Join(before, "\n") {
			t.Fatalf("outside the root changed (unpack error: %v):\n%s\nwas:\n%s", err, strings.Join(after, "\n"), strings.Join(before, "\n"))
		}
	})
}
