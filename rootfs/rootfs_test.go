//go:build linux

package rootfs

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/treetest"
)

// unpack applies the layers into a fresh DIR under a sandbox directory and
// returns DIR (absent when the unpack failed) and the error.
func unpack(t *testing.T, c Config, layers ...blob) (string, error) {
	t.Helper()
	sandbox := t.TempDir()
	target := filepath.Join(sandbox, "rootfs")
	return target, unpackInto(t, target, c, layers...)
}

func unpackInto(t *testing.T, target string, c Config, layers ...blob) error {
	t.Helper()
	u, err := Create(t.Context(), target, c)
	if err != nil {
		return err
	}
	for _, l := range layers {
		if err := u.Apply(t.Context(), l.l, bytes.NewReader(l.b)); err != nil {
			u.Abort()
			return err
		}
	}
	if err := u.Commit(t.Context()); err != nil {
		u.Abort()
		return err
	}
	return nil
}

func TestApplySemantics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		layers [][]ent
		want   []string
	}{
		{"files dirs links", [][]ent{{dir("a"), file("a/f", "x"), symlink("a/s", "f"), hardlink("a/h", "a/f")}},
			[]string{"a/", "a/f = x", "a/h = x", "a/s -> f"}},
		{"parents made when missing", [][]ent{{file("p/q/r", "1")}}, []string{"p/", "p/q/", "p/q/r = 1"}},
		{"absolute names are inside", [][]ent{{file("/etc/x", "1"), file("./y", "2")}}, []string{"etc/", "etc/x = 1", "y = 2"}},
		{"whiteout removes a file and a tree of a lower layer", [][]ent{
			{dir("d"), file("d/a", "1"), file("d/b", "2"), dir("t"), file("t/x", "3")},
			{whiteout("d/.wh.a"), whiteout(".wh.t")},
		}, []string{"d/", "d/b = 2"}},
		{"whiteout spares what its own layer wrote", [][]ent{
			{file("a", "old")},
			{file("a", "new"), whiteout(".wh.a")},
		}, []string{"a = new"}},
		{"whiteout of something absent", [][]ent{{whiteout("nope/.wh.x"), whiteout(".wh.y")}}, nil},
		{"opaque hides the lower layers' children only", [][]ent{
			{dir("d"), file("d/old", "1"), dir("d/sub"), file("d/sub/old", "2")},
			{dir("d"), whiteout("d/.wh..wh..opq"), file("d/new", "3")},
		}, []string{"d/", "d/new = 3"}},
		{"opaque after its own layer's entries keeps them", [][]ent{
			{dir("d"), file("d/old", "1"), dir("d/sub"), file("d/sub/old", "2")},
			{file("d/sub/new", "3"), whiteout("d/.wh..wh..opq")},
		}, []string{"d/", "d/sub/", "d/sub/new = 3"}},
		{"aufs bookkeeping is ignored", [][]ent{{dir(".wh..wh.plnk"), file(".wh..wh.aufs", ""), file("a", "1")}}, []string{"a = 1"}},
		{"dir replaced by a file and back", [][]ent{
			{dir("x"), file("x/in", "1"), file("y", "f")},
			{file("x", "now a file"), dir("y"), file("y/in", "2")},
			{dir("x"), file("x/again", "3")},
		}, []string{"x/", "x/again = 3", "y/", "y/in = 2"}},
		{"file replaced by a symlink and a symlink by a file", [][]ent{
			{file("a", "1"), symlink("b", "a")},
			{symlink("a", "b"), file("b", "2")},
		}, []string{"a -> b", "b = 2"}},
		{"hardlink to a lower layer's file", [][]ent{
			{file("lower", "shared")},
			{hardlink("upper", "lower")},
		}, []string{"lower = shared", "upper = shared"}},
		{"hardlink to a symlink links the symlink", [][]ent{{symlink("s", "/etc/passwd"), hardlink("h", "s")}},
			[]string{"h -> /etc/passwd", "s -> /etc/passwd"}},
		{"fifo", [][]ent{{{name: "p", typ: tar.TypeFifo, mode: 0o644}}}, []string{"p p---------"}},
		{"entries through a symlinked dir land where it points, inside", [][]ent{
			{dir("real"), symlink("lnk", "real"), file("lnk/f", "1")},
		}, []string{"lnk -> real", "real/", "real/f = 1"}},
		{"removing a dir reached through a symlink, then refilling it", [][]ent{
			{dir("real"), dir("real/sub"), symlink("lnk", "/real"), file("lnk/sub/a", "1")},
			{whiteout("real/.wh.sub"), file("lnk/sub/b", "2")},
		}, []string{"lnk -> /real", "real/", "real/sub/", "real/sub/b = 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ls []blob
			for _, ents := range tt.layers {
				ls = append(ls, l1(t, ents...))
			}
			dir, err := unpack(t, Config{}, ls...)
			if err != nil {
				t.Fatal(err)
			}
			got := treetest.List(t, dir)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestConfinement crafts each way a layer can try to reach outside its root.
// The sandbox holds the root and, beside it, "outside" with a victim file;
// after every unpack, the sandbox outside the root must be as it was.
func TestConfinement(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		layers  func(outside string) [][]ent
		refused bool // the unpack must fail, naming the entry
		// A symlink whose target does not exist inside the root (here: the
		// outside directory's path, which exists only outside) is refused
		// when an entry goes through it: pathrs-lite makes no directory
		// through a dangling symlink. The host's directory is never used.
		inside []string
	}{
		{"dotdot name", func(string) [][]ent { return [][]ent{{file("../outside/victim", "pwned")}} }, true, nil},
		{"dotdot in the middle", func(string) [][]ent { return [][]ent{{file("a/../../outside/victim", "pwned")}} }, true, nil},
		{"dotdot dir then file", func(string) [][]ent { return [][]ent{{dir(".."), file("../x", "pwned")}} }, true, nil},
		{"dotdot in a long name (a PAX path record)", func(string) [][]ent {
			return [][]ent{{file(strings.Repeat("a/", 60)+strings.Repeat("../", 61)+"outside/victim", "pwned")}}
		}, true, nil},
		{"absolute name of the host's victim lands inside the root", func(o string) [][]ent {
			return [][]ent{{file(o+"/victim", "pwned")}}
		}, false, []string{"outside/victim = pwned"}},
		{"absolute symlink to the host root, then through it", func(o string) [][]ent {
			return [][]ent{{symlink("lnk", "/"), file("lnk"+o+"/victim", "pwned")}}
		}, false, nil},
		{"relative symlink climbing out, then through it", func(string) [][]ent {
			return [][]ent{{symlink("lnk", "../../../../../../outside"), file("lnk/victim", "pwned")}}
		}, true, nil},
		{"symlink to the outside dir by its absolute path", func(o string) [][]ent {
			return [][]ent{{symlink("lnk", o), file("lnk/victim", "pwned"), file("lnk/new", "x")}}
		}, true, nil},
		{"symlink planted in one layer, used in the next", func(o string) [][]ent {
			return [][]ent{{symlink("lnk", o)}, {file("lnk/victim", "pwned")}}
		}, true, nil},
		{"dir replaced by a symlink in a later layer", func(o string) [][]ent {
			return [][]ent{{dir("d"), file("d/a", "1")}, {symlink("d", o)}, {file("d/victim", "pwned")}}
		}, true, nil},
		{"file over a symlink to the victim", func(o string) [][]ent {
			return [][]ent{{symlink("f", o+"/victim")}, {file("f", "pwned")}}
		}, false, []string{"f = pwned"}},
		{"symlink climbing above the root resolves to the root", func(string) [][]ent {
			return [][]ent{{symlink("lnk", "../../../../.."), file("lnk/outside/victim", "pwned")}}
		}, false, []string{"outside/victim = pwned"}},
		{"hardlink to dotdot", func(string) [][]ent { return [][]ent{{hardlink("h", "../outside/victim")}} }, true, nil},
		{"hardlink to an absolute path of the host", func(o string) [][]ent { return [][]ent{{hardlink("h", o+"/victim")}} }, true, nil},
		{"hardlink through a symlink to outside", func(o string) [][]ent {
			return [][]ent{{symlink("lnk", o), hardlink("h", "lnk/victim")}}
		}, true, nil},
		{"hardlink to a directory", func(string) [][]ent { return [][]ent{{dir("d"), hardlink("h", "d")}} }, true, nil},
		{"whiteout through a symlink", func(o string) [][]ent {
			return [][]ent{{symlink("lnk", o)}, {whiteout("lnk/.wh.victim")}}
		}, false, nil},
		{"whiteout of dotdot", func(string) [][]ent { return [][]ent{{whiteout("a/.wh..."), whiteout(".wh...")}} }, true, nil},
		{"whiteout climbing out", func(string) [][]ent { return [][]ent{{whiteout("../outside/.wh.victim")}} }, true, nil},
		{"opaque marker through a symlink", func(o string) [][]ent {
			return [][]ent{{symlink("lnk", o)}, {whiteout("lnk/.wh..wh..opq")}}
		}, true, nil},
		{"root entry as a symlink", func(o string) [][]ent { return [][]ent{{symlink(".", o)}} }, true, nil},
		{"root entry as a file", func(string) [][]ent { return [][]ent{{file(".", "x")}} }, true, nil},
		{"symlink chain out", func(o string) [][]ent {
			return [][]ent{{symlink("a", "b"), symlink("b", "c"), symlink("c", o), file("a/victim", "pwned")}}
		}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sandbox := t.TempDir()
			outside := filepath.Join(sandbox, "outside")
			os.Mkdir(outside, 0o755)
			os.WriteFile(filepath.Join(outside, "victim"), []byte("intact"), 0o644)
			before := treetest.List(t, sandbox)
			var ls []blob
			for _, ents := range tt.layers(outside) {
				ls = append(ls, l1(t, ents...))
			}
			target := filepath.Join(sandbox, "rootfs")
			err := unpackInto(t, target, Config{}, ls...)
			var ee *EntryError
			switch {
			case tt.refused && !errors.As(err, &ee):
				t.Fatalf("err = %v, want an *EntryError", err)
			case tt.refused && !strings.Contains(err.Error(), "layer sha256:"):
				t.Errorf("error %q does not name the layer", err)
			case !tt.refused && err != nil:
				t.Fatalf("unpack: %v", err)
			}
			var after []string
			for _, l := range treetest.List(t, sandbox) {
				if !strings.HasPrefix(l, "rootfs/") && l != "rootfs/" {
					after = append(after, l)
				}
			}
			if strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Fatalf("outside the root changed:\n%s\nwas:\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
			}
			if tt.refused {
				if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a refused unpack left %s", target)
				}
				return
			}
			got := strings.Join(treetest.List(t, target), "\n")
			for _, w := range tt.inside {
				if !strings.Contains(got, w) {
					t.Errorf("tree lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestMetadata(t *testing.T) {
	t.Parallel()
	mt := func(sec int64) time.Time { return time.Unix(sec, 123456789) }
	ents := []ent{
		{name: "d", typ: tar.TypeDir, mode: 0o750, mtime: mt(1000)},
		{name: "d/suid", typ: tar.TypeReg, mode: 0o4755, body: "s", mtime: mt(2000), uid: 1234, gid: 5678},
		{name: "d/sgid", typ: tar.TypeReg, mode: 0o2711, body: "g", mtime: mt(3000)},
		{name: "sticky", typ: tar.TypeDir, mode: 0o1777, mtime: mt(4000)},
		{name: "ro", typ: tar.TypeDir, mode: 0o555, mtime: mt(5000)},
		{name: "ro/f", typ: tar.TypeReg, mode: 0o400, body: "r", mtime: mt(6000)},
		{name: "d/link", typ: tar.TypeSymlink, link: "suid", mtime: mt(7000), uid: 42, gid: 43},
		{name: "x", typ: tar.TypeReg, mode: 0o644, body: "x", xattrs: map[string]string{"user.haul": "yes"}},
		{name: "sx", typ: tar.TypeSymlink, link: "x", xattrs: map[string]string{"trusted.haul": "link"}},
		{name: "fifo", typ: tar.TypeFifo, mode: 0o640, mtime: mt(8000), xattrs: map[string]string{"user.haul": "fifo"}},
	}
	dir, err := unpack(t, Config{}, l1(t, ents...))
	if err != nil {
		t.Fatal(err)
	}
	root := os.Geteuid() == 0
	for _, e := range ents {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(dir, e.name), &st); err != nil {
			t.Fatal(err)
		}
		if e.typ != tar.TypeSymlink {
			want := uint32(e.mode)
			if !root {
				want |= 0o400
				if e.typ == tar.TypeDir {
					want |= 0o700
				}
			}
			if got := st.Mode & 0o7777; got != want {
				t.Errorf("%s: mode %o, want %o", e.name, got, want)
			}
		}
		if e.mtime.IsZero() {
			continue
		}
		if got := time.Unix(st.Mtim.Unix()); !got.Equal(e.mtime) {
			t.Errorf("%s: mtime %v, want %v (a directory's must survive the entries made in it)", e.name, got, e.mtime)
		}
		if root && (int(st.Uid) != e.uid || int(st.Gid) != e.gid) {
			t.Errorf("%s: owner %d:%d, want %d:%d", e.name, st.Uid, st.Gid, e.uid, e.gid)
		}
	}
	buf := make([]byte, 16)
	n, err := unix.Lgetxattr(filepath.Join(dir, "x"), "user.haul", buf)
	if errors.Is(err, unix.ENOTSUP) {
		t.Log("the test directory's filesystem has no user xattrs")
	} else if err != nil || string(buf[:n]) != "yes" {
		t.Errorf("xattr user.haul = %q, %v; want yes", buf[:n], err)
	}
	if root {
		if n, err := unix.Lgetxattr(filepath.Join(dir, "sx"), "trusted.haul", buf); err != nil || string(buf[:n]) != "link" {
			t.Errorf("symlink's xattr trusted.haul = %q, %v; want link", buf[:n], err)
		}
	}
}

func TestCompressions(t *testing.T) {
	t.Parallel()
	raw := tarOf(t, file("a", strings.Repeat("compress me ", 1000)))
	lying := layerOf(t, Gzip, raw)
	lying.l.Descriptor.MediaType = "application/vnd.docker.image.rootfs.diff.tar" // gzip bytes, plain type
	zstdAsGzip := layerOf(t, Zstd, raw)
	zstdAsGzip.l.Descriptor.MediaType = image.MediaTypeDockerLayerGzip
	for name, l := range map[string]blob{
		"none": layerOf(t, Uncompressed, raw), "gzip": layerOf(t, Gzip, raw), "zstd": layerOf(t, Zstd, raw),
		"gzip under the tar type": lying, "zstd under the gzip type": zstdAsGzip,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir, err := unpack(t, Config{}, l)
			if err != nil {
				t.Fatal(err)
			}
			if got := treetest.List(t, dir); len(got) != 1 || !strings.HasPrefix(got[0], "a = compress me") {
				t.Errorf("tree %q", got)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	good := l1(t, file("a", "1"))
	wrongDiffID := good
	wrongDiffID.l.DiffID = digest.FromString("something else")
	wrongDigest := good
	wrongDigest.b = append([]byte(nil), good.b...)
	wrongDigest.b[len(wrongDigest.b)-1] ^= 1
	unknown := good
	unknown.l.Descriptor.MediaType = "application/vnd.example.thing"
	trailing := layerOf(t, Uncompressed, append(tarOf(t, file("a", "1")), make([]byte, maxTrailing+4096)...))
	bigWindow := func() blob {
		var b bytes.Buffer
		zw, _ := zstd.NewWriter(&b, zstd.WithWindowSize(128<<20), zstd.WithSingleSegment(false))
		raw := tarOf(t, file("a", strings.Repeat("z", 200<<20>>4)))
		zw.Write(raw)
		zw.Close()
		return blob{b: b.Bytes(), l: Layer{Descriptor: image.Descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar+zstd",
			Digest: digest.FromBytes(b.Bytes()), Size: int64(b.Len())}, DiffID: digest.FromBytes(raw)}}
	}()
	many := l1(t, file("a", "1"), file("b", "2"), file("c", "3"))
	big := l1(t, file("a", strings.Repeat("x", 10000)))

	tests := []struct {
		name string
		c    Config
		l    blob
		want func(error) bool
		msg  string
	}{
		{"wrong diff_id", Config{}, wrongDiffID, isDigestError, "diff_id"},
		{"wrong blob digest", Config{}, wrongDigest, isDigestOrGzip, "layer sha256:"},
		{"unknown media type", Config{}, unknown, anyError, "not a layer"},
		{"trailing data", Config{}, trailing, anyError, "after the tar's end"},
		{"zstd window too large", Config{}, bigWindow, isLimit, "zstd window"},
		{"max entries", Config{MaxEntries: 2}, many, isLimit, "--max-entries"},
		{"max size", Config{MaxSize: 9999}, big, isLimit, "--max-size"},
		{"free space", Config{MinFree: 1 << 62}, l1(t, func() []ent {
			var es []ent
			for i := range checkEntries + 1 {
				es = append(es, file(fmt.Sprint("f", i), ""))
			}
			return es
		}()...), isLimit, "free space"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target, err := unpack(t, tt.c, tt.l)
			if err == nil || !tt.want(err) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v, want one saying %q", err, tt.msg)
			}
			if _, serr := os.Lstat(target); !errors.Is(serr, fs.ErrNotExist) {
				t.Errorf("a failed unpack left %s", target)
			}
			if names, _ := os.ReadDir(filepath.Dir(target)); len(names) != 0 {
				t.Errorf("a failed unpack left %v beside the target", names)
			}
		})
	}
}

func anyError(err error) bool { return err != nil }
func isLimit(err error) bool  { var le *LimitError; return errors.As(err, &le) }
func isDigestError(err error) bool {
	var de *image.DigestError
	return errors.As(err, &de)
}
func isDigestOrGzip(err error) bool {
	return isDigestError(err) || strings.Contains(err.Error(), "gzip")
}

func TestTarget(t *testing.T) {
	t.Parallel()
	l := l1(t, file("new", "1"))
	t.Run("empty dir is replaced", func(t *testing.T) {
		t.Parallel()
		target := filepath.Join(t.TempDir(), "r")
		os.Mkdir(target, 0o755)
		if err := unpackInto(t, target, Config{}, l); err != nil {
			t.Fatal(err)
		}
		if got := treetest.List(t, target); len(got) != 1 {
			t.Errorf("tree %q", got)
		}
	})
	t.Run("non-empty dir is refused", func(t *testing.T) {
		t.Parallel()
		target := filepath.Join(t.TempDir(), "r")
		os.Mkdir(target, 0o755)
		os.WriteFile(filepath.Join(target, "keep"), nil, 0o644)
		err := unpackInto(t, target, Config{}, l)
		if err == nil || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("err = %v, want a refusal naming --force", err)
		}
		if got := treetest.List(t, target); strings.Join(got, ",") != "keep = " {
			t.Errorf("tree %q: the refused unpack changed it", got)
		}
	})
	for _, tt := range []struct {
		name  string
		setup func(t *testing.T, sandbox string) string
		want  error
	}{
		{"missing parent", func(t *testing.T, sandbox string) string { return filepath.Join(sandbox, "no", "r") }, fs.ErrNotExist},
		{"parent is a file", func(t *testing.T, sandbox string) string {
			os.WriteFile(filepath.Join(sandbox, "f"), nil, 0o644)
			return filepath.Join(sandbox, "f", "r")
		}, disk.ErrNotDir},
		{"target is a file", func(t *testing.T, sandbox string) string {
			os.WriteFile(filepath.Join(sandbox, "r"), nil, 0o644)
			return filepath.Join(sandbox, "r")
		}, disk.ErrNotDir},
		{"target not empty", func(t *testing.T, sandbox string) string {
			os.MkdirAll(filepath.Join(sandbox, "r", "keep"), 0o755)
			return filepath.Join(sandbox, "r")
		}, disk.ErrNotEmpty},
	} {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			t.Parallel()
			sandbox := t.TempDir()
			target := tt.setup(t, sandbox)
			before := treetest.List(t, sandbox)
			err := Check(target, Config{})
			var oe *disk.OutputError
			if !errors.As(err, &oe) || oe.Path != target || !errors.Is(err, tt.want) {
				t.Fatalf("Check: %v, want an *OutputError for %s matching %v", err, target, tt.want)
			}
			if _, err := Create(t.Context(), target, Config{}); !errors.Is(err, tt.want) {
				t.Fatalf("Create: %v, want what Check said", err)
			}
			if after := treetest.List(t, sandbox); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("the refusal changed %s: %q, then %q", sandbox, before, after)
			}
		})
	}
	t.Run("force merges", func(t *testing.T) {
		t.Parallel()
		target := filepath.Join(t.TempDir(), "r")
		os.Mkdir(target, 0o755)
		os.WriteFile(filepath.Join(target, "keep"), nil, 0o644)
		if err := unpackInto(t, target, Config{Force: true}, l); err != nil {
			t.Fatal(err)
		}
		if got := treetest.List(t, target); strings.Join(got, ",") != "keep = ,new = 1" {
			t.Errorf("tree %q", got)
		}
	})
}

// claims is a reader that says it verifies the blob with digest dg.
type claims struct {
	io.Reader
	dg digest.Digest
}

func (c claims) VerifiesBlob(d image.Descriptor) bool { return d.Digest == c.dg }

// TestBlobVerifier: a reader that verifies the blob itself is not hashed
// again (bytes that are not the descriptor's pass, their diff_id matching),
// while one that verifies some other blob is checked as any reader.
func TestBlobVerifier(t *testing.T) {
	t.Parallel()
	raw := tarOf(t, file("a", "1"))
	l := layerOf(t, Uncompressed, raw)
	l.l.Descriptor.Digest = digest.FromString("not these bytes")
	for _, tt := range []struct {
		name string
		dg   digest.Digest
		ok   bool
	}{{"verifies this blob", l.l.Descriptor.Digest, true}, {"verifies another blob", digest.FromString("other"), false}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := Create(t.Context(), filepath.Join(t.TempDir(), "r"), Config{})
			if err != nil {
				t.Fatal(err)
			}
			defer u.Abort()
			err = u.Apply(t.Context(), l.l, claims{bytes.NewReader(l.b), tt.dg})
			if (err == nil) != tt.ok || !tt.ok && !isDigestError(err) {
				t.Fatalf("Apply = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestStaleTempDirs: the temporary sibling a killed unpack into the same
// target left (unlocked) is removed by the next Create; one a live unpack
// holds stays, and so do those of other targets.
func TestStaleTempDirs(t *testing.T) {
	t.Parallel()
	parent := t.TempDir()
	target := filepath.Join(parent, "r")
	killed := filepath.Join(parent, ".haul-rootfs-r-4242")
	if err := os.MkdirAll(filepath.Join(killed, "usr", "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	live, err := Create(t.Context(), target, Config{})
	if err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(parent, ".haul-rootfs-rr-4242")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	next, err := Create(t.Context(), target, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(killed); !os.IsNotExist(err) {
		t.Errorf("the killed unpack's %s is still there (%v)", killed, err)
	}
	for _, d := range []string{live.work, other, next.work} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", d, err)
		}
	}
	l := l1(t, file("a", "1"))
	if err := live.Apply(t.Context(), l.l, bytes.NewReader(l.b)); err != nil {
		t.Fatalf("the live unpack, after the other's Create: %v", err)
	}
	if err := live.Commit(t.Context()); err != nil {
		t.Fatalf("the live unpack's Commit: %v", err)
	}
	next.Abort()
	if got := treetest.List(t, parent); strings.Join(got, ",") != ".haul-rootfs-rr-4242/,r/,r/a = 1" {
		t.Errorf("left %q", got)
	}
}
