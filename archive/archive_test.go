package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/layout"
)

// blobs is a directory of blob files named by digest, and the Source over it.
type blobs struct {
	dir string
}

func newBlobs(t *testing.T) *blobs {
	t.Helper()
	return &blobs{dir: t.TempDir()}
}

func (b *blobs) path(d digest.Digest) string { return filepath.Join(b.dir, d.Encoded()) }

func (b *blobs) put(t *testing.T, mediaType string, data []byte) image.Descriptor {
	t.Helper()
	d := image.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if err := os.WriteFile(b.path(d.Digest), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func (b *blobs) read(t *testing.T, d digest.Digest) []byte {
	t.Helper()
	data, err := os.ReadFile(b.path(d))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (b *blobs) Open(d image.Descriptor) (*os.File, error) { return os.Open(b.path(d.Digest)) }

func random(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

// fixture is three pulls sharing a layer: alpine:3.20 through an index (and the
// same image again as alpine:latest), ghcr.io/o/x:1 as a bare manifest, and
// busybox by digest.
type fixture struct {
	src                   *blobs
	images                []Image
	shared, la, lb, lc    image.Descriptor
	idxA, mA, mB, mC, cfA image.Descriptor
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{src: newBlobs(t)}
	s := f.src
	f.shared = s.put(t, image.MediaTypeDockerLayerGzip, random(1, 1<<20+123)) // large enough to be aligned
	f.la = s.put(t, image.MediaTypeDockerLayerGzip, random(2, 5000))
	f.lb = s.put(t, "application/vnd.oci.image.layer.v1.tar+gzip", random(3, 512))
	f.lc = s.put(t, image.MediaTypeDockerLayerGzip, random(4, 1))
	f.cfA = s.put(t, image.MediaTypeDockerConfig, []byte(`{"os":"linux","architecture":"amd64","rootfs":{"type":"layers"}}`))
	cfB := s.put(t, image.MediaTypeOCIConfig, []byte(`{"os":"linux","architecture":"arm64"}`))
	cfC := s.put(t, image.MediaTypeDockerConfig, []byte(`{"os":"linux"}`))
	f.mA = s.put(t, image.MediaTypeDockerManifest, []byte(`{"schemaVersion":2,"a":1}`))
	f.mB = s.put(t, image.MediaTypeOCIManifest, []byte(`{"schemaVersion":2,"b":1}`))
	f.mC = s.put(t, image.MediaTypeDockerManifest, []byte(`{"schemaVersion":2,"c":1}`))
	other := s.put(t, image.MediaTypeDockerManifest, []byte(`{"schemaVersion":2,"arm":1}`))
	f.idxA = s.put(t, image.MediaTypeDockerManifestList, []byte(`{"schemaVersion":2,"manifests":[]}`))
	mA, mB, mC := f.mA, f.mB, f.mC
	f.images = []Image{
		{
			Name: "docker.io/library/alpine:3.20", RepoTag: "alpine:3.20",
			Root: f.idxA, Manifest: &mA, Config: f.cfA, Layers: []image.Descriptor{f.shared, f.la},
			Blobs: []image.Descriptor{f.idxA, mA, other, f.cfA, f.shared, f.la, f.la},
		},
		{
			Name: "ghcr.io/o/x:1", RepoTag: "ghcr.io/o/x:1",
			Root: f.mB, Manifest: &mB, Config: cfB, Layers: []image.Descriptor{f.shared, f.lb},
			Blobs: []image.Descriptor{f.lb, cfB}, // Root, Manifest and the shared layer are added
		},
		{
			Name: "docker.io/library/busybox@" + string(f.mC.Digest),
			Root: f.mC, Manifest: &mC, Config: cfC, Layers: []image.Descriptor{f.lc},
		},
		{
			Name: "docker.io/library/alpine:latest", RepoTag: "alpine:latest",
			Root: f.idxA, Manifest: &mA, Config: f.cfA, Layers: []image.Descriptor{f.shared, f.la},
		},
	}
	return f
}

func (f *fixture) allBlobs() []image.Descriptor {
	var all []image.Descriptor
	seen := map[digest.Digest]bool{}
	for _, img := range f.images {
		ds := append([]image.Descriptor{img.Root, *img.Manifest, img.Config}, img.Layers...)
		for _, d := range append(ds, img.Blobs...) {
			if !seen[d.Digest] {
				seen[d.Digest] = true
				all = append(all, d)
			}
		}
	}
	return all
}

// countingReader tells where archive/tar is in the file: after Next, at the data.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type member struct {
	hdr     *tar.Header
	dataOff int64
	data    []byte
}

func readTar(t *testing.T, b []byte) []member {
	t.Helper()
	cr := &countingReader{r: bytes.NewReader(b)}
	tr := tar.NewReader(cr)
	var ms []member
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return ms
		}
		if err != nil {
			t.Fatalf("read tar: %v", err)
		}
		off := cr.n
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read %s: %v", h.Name, err)
		}
		ms = append(ms, member{hdr: h, dataOff: off, data: data})
	}
}

func writeFile(t *testing.T, p *Plan, src Source) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.tar")
	if err := p.WriteFile(t.Context(), out, src, 3); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDockerArchive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, err := NewPlan(f.images, true)
	if err != nil {
		t.Fatal(err)
	}
	b := writeFile(t, p, f.src)
	if int64(len(b)) != p.Size() {
		t.Errorf("file is %d bytes, Size() = %d", len(b), p.Size())
	}
	ms := readTar(t, b)

	all := f.allBlobs()
	var wantNames []string
	for _, d := range all {
		wantNames = append(wantNames, "blobs/sha256/"+d.Digest.Encoded())
	}
	slices.Sort(wantNames)
	wantNames = slices.Concat([]string{"blobs/", "blobs/sha256/"}, wantNames, []string{"index.json", "manifest.json", "oci-layout", "repositories"})
	var names []string
	files := map[string][]byte{}
	for _, m := range ms {
		names = append(names, m.hdr.Name)
		files[m.hdr.Name] = m.data
	}
	if !slices.Equal(names, wantNames) {
		t.Fatalf("entries:\n got %q\nwant %q", names, wantNames)
	}

	t.Run("headers", func(t *testing.T) {
		t.Parallel()
		for _, m := range ms {
			h := m.hdr
			wantMode, wantType := int64(0o644), byte(tar.TypeReg)
			if strings.HasSuffix(h.Name, "/") {
				wantMode, wantType = 0o755, tar.TypeDir
			}
			if h.Mode != wantMode || h.Typeflag != wantType || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(time.Unix(0, 0)) {
				t.Errorf("%s: mode %o type %c uid %d gid %d uname %q gname %q mtime %v", h.Name, h.Mode, h.Typeflag, h.Uid, h.Gid, h.Uname, h.Gname, h.ModTime)
			}
		}
	})

	t.Run("blobs", func(t *testing.T) {
		t.Parallel()
		if got := p.Blobs(); len(got) != len(all) {
			t.Errorf("Blobs() has %d, want %d", len(got), len(all))
		}
		byName := map[string]member{}
		for _, m := range ms {
			byName[m.hdr.Name] = m
		}
		for i, d := range p.Blobs() {
			m := byName[blobPath(d.Digest)]
			if !bytes.Equal(m.data, f.src.read(t, d.Digest)) {
				t.Errorf("%s: content differs", d.Digest)
			}
			off, ok := p.Offset(d.Digest)
			if !ok || off != m.dataOff {
				t.Errorf("Offset(%s) = %d, %v; archive/tar finds the data at %d", d.Digest, off, ok, m.dataOff)
			}
			if !bytes.Equal(b[off:off+d.Size], m.data) {
				t.Errorf("bytes at Offset(%s) are not the blob", d.Digest)
			}
			if d.Size >= alignMin && off%alignSize != 0 {
				t.Errorf("%s (%d bytes) starts at %d, not aligned to %d", d.Digest, d.Size, off, alignSize)
			}
			if i > 0 && p.Blobs()[i-1].Digest >= d.Digest {
				t.Errorf("Blobs() not in tar order at %d", i)
			}
		}
		if _, ok := p.Offset(digest.FromString("absent")); ok {
			t.Error("Offset of an absent blob reports ok")
		}
	})

	t.Run("manifest.json", func(t *testing.T) {
		t.Parallel()
		var items []struct {
			Config   string
			RepoTags []string
			Layers   []string
		}
		if err := json.Unmarshal(files["manifest.json"], &items); err != nil {
			t.Fatal(err)
		}
		want := []struct {
			tags   []string
			config string
			layers []image.Descriptor
		}{
			{[]string{"alpine:3.20", "alpine:latest"}, blobPath(f.cfA.Digest), []image.Descriptor{f.shared, f.la}},
			{[]string{"ghcr.io/o/x:1"}, blobPath(f.images[1].Config.Digest), []image.Descriptor{f.shared, f.lb}},
			{nil, blobPath(f.images[2].Config.Digest), []image.Descriptor{f.lc}},
		}
		if len(items) != len(want) {
			t.Fatalf("manifest.json has %d items, want %d: %s", len(items), len(want), files["manifest.json"])
		}
		for i, w := range want {
			it := items[i]
			if !slices.Equal(it.RepoTags, w.tags) || it.Config != w.config || len(it.Layers) != len(w.layers) {
				t.Errorf("item %d = %+v, want tags %q config %s", i, it, w.tags, w.config)
				continue
			}
			for j, l := range w.layers {
				if it.Layers[j] != blobPath(l.Digest) || files[it.Layers[j]] == nil {
					t.Errorf("item %d layer %d = %s, want %s present in the tar", i, j, it.Layers[j], blobPath(l.Digest))
				}
			}
			if files[it.Config] == nil {
				t.Errorf("item %d config %s not in the tar", i, it.Config)
			}
		}
		if !bytes.Contains(files["manifest.json"], []byte(`"RepoTags":null`)) {
			t.Errorf("untagged image: want \"RepoTags\":null as docker writes, got %s", files["manifest.json"])
		}
		if !bytes.HasSuffix(files["manifest.json"], []byte("]\n")) {
			t.Error("manifest.json does not end in a newline, as docker's does")
		}
	})

	t.Run("repositories", func(t *testing.T) {
		t.Parallel()
		var repos map[string]map[string]string
		if err := json.Unmarshal(files["repositories"], &repos); err != nil {
			t.Fatal(err)
		}
		want := map[string]map[string]string{
			"alpine":      {"3.20": f.la.Digest.Encoded(), "latest": f.la.Digest.Encoded()},
			"ghcr.io/o/x": {"1": f.lb.Digest.Encoded()},
		}
		if len(repos) != len(want) {
			t.Fatalf("repositories = %v, want %v", repos, want)
		}
		for r, tags := range want {
			for tag, id := range tags {
				if repos[r][tag] != id {
					t.Errorf("repositories[%s][%s] = %q, want %q", r, tag, repos[r][tag], id)
				}
			}
		}
	})

	t.Run("index.json", func(t *testing.T) {
		t.Parallel()
		var idx image.Index
		if err := json.Unmarshal(files["index.json"], &idx); err != nil {
			t.Fatal(err)
		}
		if idx.SchemaVersion != 2 || idx.MediaType != image.MediaTypeOCIIndex {
			t.Errorf("index.json: schemaVersion %d mediaType %q", idx.SchemaVersion, idx.MediaType)
		}
		want := []struct {
			root      image.Descriptor
			name, ref string
		}{
			{f.idxA, "docker.io/library/alpine:3.20", "docker.io/library/alpine:3.20"},
			{f.mB, "ghcr.io/o/x:1", "ghcr.io/o/x:1"},
			{f.mC, "docker.io/library/busybox@" + string(f.mC.Digest), ""},
			{f.idxA, "docker.io/library/alpine:latest", "docker.io/library/alpine:latest"},
		}
		if len(idx.Manifests) != len(want) {
			t.Fatalf("index.json lists %d, want %d: %s", len(idx.Manifests), len(want), files["index.json"])
		}
		for i, w := range want {
			d := idx.Manifests[i]
			ref, hasRef := d.Annotations[layout.AnnotationRefName]
			if d.Digest != w.root.Digest || d.Size != w.root.Size || d.MediaType != w.root.MediaType ||
				d.Annotations[layout.AnnotationImageName] != w.name || ref != w.ref || hasRef != (w.ref != "") {
				t.Errorf("index.json[%d] = %+v, want %s named %q ref %q", i, d, w.root.Digest, w.name, w.ref)
			}
			if files[blobPath(d.Digest)] == nil {
				t.Errorf("index.json[%d] %s not in the tar", i, d.Digest)
			}
		}
	})

	t.Run("oci-layout", func(t *testing.T) {
		t.Parallel()
		var l struct{ ImageLayoutVersion string }
		if err := json.Unmarshal(files["oci-layout"], &l); err != nil || l.ImageLayoutVersion != "1.0.0" {
			t.Errorf("oci-layout = %s (%v)", files["oci-layout"], err)
		}
	})
}

func TestOCIArchiveHasNoDockerFiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, err := NewPlan(f.images, false)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range readTar(t, writeFile(t, p, f.src)) {
		names = append(names, m.hdr.Name)
	}
	for _, n := range []string{"manifest.json", "repositories"} {
		if slices.Contains(names, n) {
			t.Errorf("oci-archive has %s", n)
		}
	}
	for _, n := range []string{"blobs/", "blobs/sha256/", "index.json", "oci-layout"} {
		if !slices.Contains(names, n) {
			t.Errorf("oci-archive lacks %s", n)
		}
	}
}

// TestWritersAgree: WriteFile, WriteTo and WriteSkeleton with the caller
// writing every blob give the same bytes, run after run.
func TestWritersAgree(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		docker    bool
		alignFrom int64
	}{
		{"docker", true, alignMin},
		{"oci-archive", false, alignMin},
		{"docker aligning every blob", true, 0},
		{"docker aligning none", true, 1 << 62},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			p, err := newPlan(f.images, tt.docker, tt.alignFrom)
			if err != nil {
				t.Fatal(err)
			}
			file := writeFile(t, p, f.src)
			readTar(t, file)

			p2, err := newPlan(f.images, tt.docker, tt.alignFrom)
			if err != nil {
				t.Fatal(err)
			}
			if again := writeFile(t, p2, f.src); !bytes.Equal(again, file) {
				t.Error("a second plan of the same images wrote different bytes")
			}

			var stream bytes.Buffer
			n, err := p.WriteTo(t.Context(), &stream, f.src)
			if err != nil {
				t.Fatal(err)
			}
			if n != p.Size() || !bytes.Equal(stream.Bytes(), file) {
				t.Errorf("WriteTo wrote %d bytes (Size %d), equal to WriteFile's: %v", n, p.Size(), bytes.Equal(stream.Bytes(), file))
			}

			// The no-cache path: skeleton first into a file of junk, so any
			// byte the skeleton fails to write shows, then the blobs.
			out, err := os.Create(filepath.Join(t.TempDir(), "skeleton.tar"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			if _, err := out.WriteAt(bytes.Repeat([]byte{0xa5}, int(p.Size())), 0); err != nil {
				t.Fatal(err)
			}
			if err := p.WriteSkeleton(out); err != nil {
				t.Fatal(err)
			}
			for _, d := range slices.Backward(p.Blobs()) {
				off, _ := p.Offset(d.Digest)
				if _, err := out.WriteAt(f.src.read(t, d.Digest), off); err != nil {
					t.Fatal(err)
				}
			}
			got, err := os.ReadFile(out.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, file) {
				t.Error("WriteSkeleton plus blobs at Offset differs from WriteFile")
			}
		})
	}
}

// TestSkeletonLeavesDataAlone: WriteSkeleton writes nothing inside a blob's region.
func TestSkeletonLeavesDataAlone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, err := newPlan(f.images, true, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := &recordingWriterAt{}
	if err := p.WriteSkeleton(w); err != nil {
		t.Fatal(err)
	}
	for _, d := range p.Blobs() {
		off, _ := p.Offset(d.Digest)
		for _, r := range w.writes {
			if r[0] < off+d.Size && off < r[1] {
				t.Errorf("skeleton wrote [%d,%d), inside %s's data [%d,%d)", r[0], r[1], d.Digest, off, off+d.Size)
			}
		}
	}
}

type recordingWriterAt struct{ writes [][2]int64 }

func (w *recordingWriterAt) WriteAt(p []byte, off int64) (int, error) {
	w.writes = append(w.writes, [2]int64{off, off + int64(len(p))})
	return len(p), nil
}

func TestWriteFileFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		break_ func(t *testing.T, f *fixture) // spoils the source
		cancel bool
		want   func(error) bool
	}{
		{
			name: "shorter file",
			break_: func(t *testing.T, f *fixture) {
				if err := os.Truncate(f.src.path(f.shared.Digest), f.shared.Size-1); err != nil {
					t.Fatal(err)
				}
			},
			want: isSizeError,
		},
		{
			name: "longer file",
			break_: func(t *testing.T, f *fixture) {
				if err := os.Truncate(f.src.path(f.lc.Digest), f.lc.Size+1); err != nil {
					t.Fatal(err)
				}
			},
			want: isSizeError,
		},
		{
			name: "missing file",
			break_: func(t *testing.T, f *fixture) {
				if err := os.Remove(f.src.path(f.lb.Digest)); err != nil {
					t.Fatal(err)
				}
			},
			want: func(err error) bool { return errors.Is(err, os.ErrNotExist) },
		},
		{
			name:   "context cancelled",
			cancel: true,
			want:   func(err error) bool { return errors.Is(err, context.Canceled) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			if tt.break_ != nil {
				tt.break_(t, f)
			}
			p, err := NewPlan(f.images, true)
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if tt.cancel {
				c, cancel := context.WithCancel(ctx)
				cancel()
				ctx = c
			}
			dir := t.TempDir()
			out := filepath.Join(dir, "out.tar")
			err = p.WriteFile(ctx, out, f.src, 2)
			if err == nil || !tt.want(err) {
				t.Fatalf("WriteFile = %v", err)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}

			if !tt.cancel {
				if _, err := p.WriteTo(t.Context(), io.Discard, f.src); err == nil || !tt.want(err) {
					t.Errorf("WriteTo = %v", err)
				}
			}
		})
	}
}

func isSizeError(err error) bool {
	var se *image.SizeError
	return errors.As(err, &se)
}

func TestWriteToCancelled(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p, err := NewPlan(f.images, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.WriteTo(ctx, io.Discard, f.src); !errors.Is(err, context.Canceled) {
		t.Errorf("WriteTo = %v, want context.Canceled", err)
	}
	if err := p.WriteFile(t.Context(), "", f.src, 0); err == nil {
		t.Error(`WriteFile to "" succeeded`)
	}
}

func TestNewPlanRefuses(t *testing.T) {
	t.Parallel()
	good := func() Image {
		cfg := image.Descriptor{MediaType: image.MediaTypeOCIConfig, Digest: digest.FromString("c"), Size: 1}
		m := image.Descriptor{MediaType: image.MediaTypeOCIManifest, Digest: digest.FromString("m"), Size: 1}
		return Image{Name: "docker.io/library/a:1", RepoTag: "a:1", Root: m, Manifest: &m, Config: cfg}
	}
	tests := []struct {
		name   string
		docker bool
		images func() []Image
	}{
		{"no images", true, func() []Image { return nil }},
		{"docker without a manifest", true, func() []Image {
			i := good()
			i.Manifest = nil
			return []Image{i}
		}},
		{"RepoTag without a tag", true, func() []Image {
			i := good()
			i.RepoTag = "localhost:5000/a"
			return []Image{i}
		}},
		{"malformed digest", false, func() []Image {
			i := good()
			i.Blobs = []image.Descriptor{{Digest: "sha256:../../etc", Size: 1}}
			return []Image{i}
		}},
		{"one blob, two sizes", false, func() []Image {
			i := good()
			i.Blobs = []image.Descriptor{{Digest: i.Config.Digest, Size: 2}}
			return []Image{i}
		}},
		{"one name, two roots", false, func() []Image {
			i, j := good(), good()
			j.Root = i.Config
			return []Image{i, j}
		}},
		{"one RepoTag, two manifests", true, func() []Image {
			i, j := good(), good()
			m := image.Descriptor{MediaType: image.MediaTypeOCIManifest, Digest: digest.FromString("m2"), Size: 1}
			j.Name, j.Root, j.Manifest = "docker.io/library/a:2", m, &m
			return []Image{i, j}
		}},
		{"an index as Manifest", true, func() []Image {
			i := good()
			i.Manifest.MediaType = image.MediaTypeOCIIndex
			return []Image{i}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := NewPlan(tt.images(), tt.docker); err == nil {
				t.Error("NewPlan succeeded")
			}
		})
	}
	if _, err := NewPlan([]Image{good()}, true); err != nil {
		t.Errorf("the good image: %v", err)
	}
}

// TestCreateNoRoom plans an archive larger than any disk, as a manifest that
// lies about its layers' sizes makes: Create fails at once, saying the disk
// has no room, and leaves nothing in the output's directory.
func TestCreateNoRoom(t *testing.T) {
	t.Parallel()
	cfg := image.Descriptor{MediaType: image.MediaTypeOCIConfig, Digest: digest.FromString("c"), Size: 1}
	m := image.Descriptor{MediaType: image.MediaTypeOCIManifest, Digest: digest.FromString("m"), Size: 1}
	layer := image.Descriptor{MediaType: image.MediaTypeDockerLayerGzip, Digest: digest.FromString("l"), Size: 1 << 50}
	p, err := NewPlan([]Image{{Name: "docker.io/library/a:1", RepoTag: "a:1", Root: m, Manifest: &m, Config: cfg, Blobs: []image.Descriptor{cfg, layer}}}, true)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out, err := p.Create(t.Context(), filepath.Join(dir, "a.tar"))
	if err == nil {
		out.Abort()
		t.Fatal("Create of a 1 PiB archive succeeded")
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Create = %v, want ENOSPC", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("Create left %v", left)
	}
}

func TestHeaderAlignment(t *testing.T) {
	t.Parallel()
	name := "blobs/sha256/" + strings.Repeat("a", 64)
	for _, size := range []int64{1, 1 << 20, 8 << 30, 9 << 30} { // 8 GiB and more need PAX size records
		for off := int64(0); off < 2*alignSize; off += blockSize {
			h, err := header(name, false, size, off, true)
			if err != nil {
				t.Fatalf("size %d off %d: %v", size, off, err)
			}
			if (off+int64(len(h)))%alignSize != 0 {
				t.Errorf("size %d off %d: data at %d", size, off, off+int64(len(h)))
			}
			hdr, err := tar.NewReader(bytes.NewReader(h)).Next()
			if err != nil || hdr.Name != name || hdr.Size != size {
				t.Errorf("size %d off %d: reads back as %+v, %v", size, off, hdr, err)
			}
		}
	}
}
