package rootfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/haul-dev/haul/image"
)

// exportOf exports the layers to a buffer, counting how often each is opened.
func exportOf(t *testing.T, layers ...blob) ([]byte, map[int]int, error) {
	t.Helper()
	var ls []Layer
	byDigest := map[string]int{}
	for i, b := range layers {
		ls = append(ls, b.l)
		byDigest[b.l.Descriptor.Digest.String()] = i
	}
	opens := map[int]int{}
	var out bytes.Buffer
	err := Export(t.Context(), &out, ls, func(ctx context.Context, l Layer) (io.ReadCloser, error) {
		i := byDigest[l.Descriptor.Digest.String()]
		opens[i]++
		return io.NopCloser(bytes.NewReader(layers[i].b)), nil
	})
	return out.Bytes(), opens, err
}

// members lists a tar's entries as "name", "name -> link" (symlink) or
// "name => target" (hardlink), in order, and checks what every export
// promises: clean relative names, each once, no whiteouts, hardlinks after
// their targets.
func members(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	seen := map[string]bool{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the export: %v", err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if name == "" || path.Clean(name) != name || strings.HasPrefix(name, "/") || strings.HasPrefix(name, "../") {
			t.Errorf("entry name %q is not clean and relative", h.Name)
		}
		if strings.HasPrefix(path.Base(name), ".wh.") {
			t.Errorf("whiteout %q exported", h.Name)
		}
		if seen[name] {
			t.Errorf("%q exported twice", name)
		}
		seen[name] = true
		switch h.Typeflag {
		case tar.TypeLink:
			if !seen[h.Linkname] {
				t.Errorf("hardlink %s comes before its target %s", h.Name, h.Linkname)
			}
			out = append(out, h.Name+" => "+h.Linkname)
		case tar.TypeSymlink:
			out = append(out, h.Name+" -> "+h.Linkname)
		default:
			out = append(out, h.Name)
		}
	}
	return out
}

// TestExport exports layers and checks that the tar holds exactly the
// entries expected, where given, and (on Linux, where unpacking works) that
// `tar -x` of it makes the tree that unpacking the same layers makes.
func TestExport(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		layers  [][]ent
		entries []string // the export's entries, sorted; nil: not checked
		rereads bool     // a layer is read twice
	}{
		{"files dirs links", [][]ent{{dir("a"), file("a/f", "x"), symlink("a/s", "f"), hardlink("a/h", "a/f")}},
			[]string{"a/", "a/f", "a/h => a/f", "a/s -> f"}, false},
		{"root and absolute names", [][]ent{{dir("./"), file("/etc/x", "1"), file("./y", "2")}},
			[]string{"etc/x", "y"}, false},
		{"upper file wins", [][]ent{{file("a", "old"), file("b", "1")}, {file("a", "new")}},
			[]string{"a", "b"}, false},
		{"whiteouts of a file and a tree", [][]ent{
			{dir("d"), file("d/a", "1"), file("d/b", "2"), dir("t"), file("t/x", "3"), dir("t/u"), file("t/u/y", "4")},
			{whiteout("d/.wh.a"), whiteout(".wh.t")},
		}, []string{"d/", "d/b"}, false},
		{"whiteout spares its own layer", [][]ent{{file("a", "old")}, {file("a", "new"), whiteout(".wh.a")}},
			[]string{"a"}, false},
		{"whiteout then the same name again", [][]ent{{dir("d"), file("d/old", "1")}, {whiteout(".wh.d"), dir("d"), file("d/new", "2")}},
			[]string{"d/", "d/new"}, false},
		{"opaque hides the lower children only", [][]ent{
			{dir("d"), file("d/old", "1"), dir("d/sub"), file("d/sub/old", "2"), file("keep", "k")},
			{dir("d"), whiteout("d/.wh..wh..opq"), file("d/new", "3")},
		}, []string{"d/", "d/new", "keep"}, false},
		{"opaque after its own entries", [][]ent{
			{dir("d"), file("d/old", "1"), dir("d/sub"), file("d/sub/old", "2")},
			{file("d/sub/new", "3"), whiteout("d/.wh..wh..opq")},
		}, []string{"d/", "d/sub/new"}, false},
		{"aufs bookkeeping", [][]ent{{dir(".wh..wh.plnk"), file(".wh..wh.aufs", ""), file("a", "1")}}, []string{"a"}, false},
		{"dir replaced by a file and back", [][]ent{
			{dir("x"), file("x/in", "1"), file("y", "f")},
			{file("x", "now a file"), dir("y"), file("y/in", "2")},
			{dir("x"), file("x/again", "3")},
		}, []string{"x/", "x/again", "y/", "y/in"}, false},
		{"file replaced by a symlink", [][]ent{{file("a", "1"), symlink("b", "a")}, {symlink("a", "b"), file("b", "2")}},
			[]string{"a -> b", "b"}, false},
		{"entries through a symlinked dir of their layer", [][]ent{{dir("real"), symlink("lnk", "real"), file("lnk/f", "1")}},
			nil, false},
		{"hardlink to a lower file", [][]ent{{file("lower", "shared")}, {hardlink("upper", "lower")}},
			[]string{"lower", "upper => lower"}, false},
		{"hardlink to a symlink", [][]ent{{symlink("s", "/etc/passwd"), hardlink("h", "s")}},
			[]string{"h => s", "s -> /etc/passwd"}, false},
		{"hardlink whose target an upper layer replaced", [][]ent{
			{file("a", "old")}, {hardlink("h", "a")}, {file("a", "new")},
		}, []string{"a", "h"}, false},
		{"hardlinks whose target an upper layer replaced", [][]ent{
			{file("a", "old")}, {hardlink("h1", "a"), hardlink("h2", "a")}, {file("a", "new")},
		}, []string{"a", "h1", "h2 => h1"}, false},
		{"hardlink in its target's layer, target replaced above", [][]ent{
			{file("a", "old"), hardlink("h", "a")}, {file("a", "new")},
		}, []string{"a", "h"}, true},
		{"hardlink chain, target whited out above", [][]ent{
			{file("a", "content"), hardlink("h1", "a"), hardlink("h2", "h1")}, {whiteout(".wh.a")},
		}, []string{"h1", "h2 => h1"}, true},
		{"hardlink to a lower file whited out after it", [][]ent{
			{file("a", "content")}, {hardlink("h", "a"), whiteout(".wh.a")},
		}, []string{"h"}, false},
		{"hardlink whose own name is hidden", [][]ent{
			{dir("d"), file("d/a", "1"), hardlink("d/h", "d/a")}, {whiteout(".wh.d")},
		}, []string{}, false},
		{"hardlink into a dir opaque above", [][]ent{
			{dir("d"), file("d/a", "1"), hardlink("h", "d/a")}, {dir("d"), whiteout("d/.wh..wh..opq")},
		}, []string{"d/", "h"}, true},
		{"fifo", [][]ent{{{name: "p", typ: tar.TypeFifo, mode: 0o644}}}, []string{"p"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ls []blob
			for _, ents := range tt.layers {
				ls = append(ls, l1(t, ents...))
			}
			b, opens, err := exportOf(t, ls...)
			if err != nil {
				t.Fatalf("Export: %v", err)
			}
			got := members(t, b)
			if tt.entries != nil {
				slices.Sort(got)
				if !slices.Equal(got, tt.entries) {
					t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.entries, "\n"))
				}
			}
			sameAsUnpack(t, ls, b)
			reread := false
			for i := range ls {
				reread = reread || opens[i] > 1
				if opens[i] == 0 {
					t.Errorf("layer %d never read", i)
				}
			}
			if reread != tt.rereads {
				t.Errorf("a layer read twice: %v, want %v (%v)", reread, tt.rereads, opens)
			}
		})
	}
}

func TestExportRefuses(t *testing.T) {
	t.Parallel()
	good := l1(t, file("a", "1"))
	corrupt := good
	corrupt.l.DiffID = l1(t, file("a", "2")).l.DiffID
	tests := []struct {
		name   string
		layers []blob
		check  func(error) bool
	}{
		{"a name climbing out", []blob{l1(t, file("../x", "1"))}, func(err error) bool {
			var ee *EntryError
			return errors.As(err, &ee) && ee.Entry == "../x"
		}},
		{"a hardlink target climbing out", []blob{l1(t, hardlink("h", "../../etc/passwd"))}, func(err error) bool {
			var ee *EntryError
			return errors.As(err, &ee)
		}},
		{"a hardlink to nothing", []blob{l1(t, hardlink("h", "nope"))}, func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "nope")
		}},
		{"a wrong diff_id", []blob{corrupt}, func(err error) bool {
			var de *image.DigestError
			return errors.As(err, &de)
		}},
		{"a root that is a file", []blob{l1(t, file(".", ""))}, func(err error) bool {
			var ee *EntryError
			return errors.As(err, &ee)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := exportOf(t, tt.layers...)
			if !tt.check(err) {
				t.Fatalf("Export error = %v", err)
			}
		})
	}
}

// TestExportTruncatedOnFailure: a failure after some entries leaves no
// end-of-archive marker, so a reader of the stream sees it was cut short.
func TestExportTruncatedOnFailure(t *testing.T) {
	t.Parallel()
	bottom := l1(t, file("b", "1"))
	bottom.l.DiffID = l1(t, file("b", "2")).l.DiffID // fails at its end
	b, _, err := exportOf(t, bottom, l1(t, file("top", strings.Repeat("x", 5000))))
	if err == nil {
		t.Fatal("Export succeeded over a corrupt layer")
	}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		if _, err = tr.Next(); err != nil {
			break
		}
		io.Copy(io.Discard, tr)
	}
	if !errors.Is(err, tar.ErrHeader) {
		t.Errorf("reading the failed export (%d bytes) ends with %v, want a tar.ErrHeader", len(b), err)
	}
}

func TestLayers(t *testing.T) {
	t.Parallel()
	g := l1(t, file("a", "1"))
	m := &image.Manifest{Layers: []image.Descriptor{g.l.Descriptor}}
	c := &image.Config{}
	if _, err := Layers(m, c); err == nil {
		t.Error("Layers accepted a config without diff_ids")
	}
	c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, g.l.DiffID)
	ls, err := Layers(m, c)
	if err != nil || len(ls) != 1 || ls[0].DiffID != g.l.DiffID || ls[0].Descriptor.Digest != g.l.Descriptor.Digest {
		t.Errorf("Layers = %v, %v", ls, err)
	}
	m.Layers[0].MediaType = "application/vnd.in-toto+json"
	if _, err := Layers(m, c); err == nil || !strings.Contains(err.Error(), "not a filesystem layer") {
		t.Errorf("Layers of an attestation: %v", err)
	}
}
