package pull_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/store"
)

// ---- fixtures ----

func newClient(t *testing.T, reg *registrytest.Registry, cred auth.Credential) *registry.Client {
	t.Helper()
	cl, err := registry.New(registry.Config{
		Registry: reg.Host(),
		Creds:    auth.Static{Registry: reg.Host(), Cred: cred},
		Retry:    registry.RetryPolicy{Base: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		// Short enough that the stall test is quick, long enough that a busy
		// machine (race detector, parallel tests) never trips it on a healthy
		// response: 300 ms did, on a CDN redirect.
		IdleTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func mustRef(t *testing.T, s string) ref.Reference {
	t.Helper()
	r, err := ref.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(store.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// config is a docker pull to a fresh out.tar through cl, cached in st (nil: no cache).
func config(t *testing.T, cl pull.Source, st *store.Store) pull.Config {
	return pull.Config{
		Source: func(string) (pull.Source, error) { return cl, nil },
		Store:  st,
		Output: filepath.Join(t.TempDir(), "out.tar"),
		Format: pull.Docker,
	}
}

// warm fetches a manifest so that the client holds a token before faults are put in place.
func warm(t *testing.T, cl *registry.Client, r string) {
	t.Helper()
	if _, err := cl.Manifest(t.Context(), mustRef(t, r)); err != nil {
		t.Fatal(err)
	}
}

// imageBlobs is an image's config and layers: what a pull fetches.
func imageBlobs(p registrytest.Pushed) []image.Descriptor {
	return append([]image.Descriptor{p.Config}, p.Layers...)
}

func sumSizes(ds ...image.Descriptor) int64 {
	var n int64
	for _, d := range ds {
		n += d.Size
	}
	return n
}

// plainImage is RandomImage with uncompressed tar layers: gzip under the race
// detector costs half a second a MiB, and the bytes are all that matter here.
func plainImage(seed int64, layers, size int) registrytest.Image {
	rng := rand.New(rand.NewSource(seed))
	img := registrytest.Image{}
	for i := range layers {
		b := make([]byte, size)
		rng.Read(b)
		img.Layers = append(img.Layers, registrytest.Tar(map[string][]byte{fmt.Sprintf("seed%d-layer%d", seed, i): b}))
	}
	return img
}

func blobName(d digest.Digest) string { return "blobs/" + d.Algorithm().String() + "/" + d.Encoded() }

// ---- reading what a pull wrote ----

// files is an archive's or a layout's regular files, by slash path.
type files map[string][]byte

// readTar reads a tar, failing on duplicate names, and checks every blob.
func readTar(t *testing.T, r io.Reader) files {
	t.Helper()
	out := files{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		if _, dup := out[h.Name]; dup {
			t.Errorf("tar holds %s twice", h.Name)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading %s: %v", h.Name, err)
		}
		out[h.Name] = b
	}
	checkBlobHashes(t, out)
	return out
}

func readTarFile(t *testing.T, path string) files {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readTar(t, f)
}

// readDir reads an OCI layout directory.
func readDir(t *testing.T, dir string) files {
	t.Helper()
	out := files{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	checkBlobHashes(t, out)
	return out
}

func checkBlobHashes(t *testing.T, fs files) {
	t.Helper()
	for name, b := range fs {
		hex, ok := strings.CutPrefix(name, "blobs/sha256/")
		if !ok {
			continue
		}
		if got := digest.FromBytes(b).Encoded(); got != hex {
			t.Errorf("%s hashes to sha256:%s", name, got)
		}
	}
}

func (fs files) index(t *testing.T) image.Index {
	t.Helper()
	var idx image.Index
	b, ok := fs["index.json"]
	if !ok {
		t.Fatal("no index.json")
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	return idx
}

type manifestItem struct {
	Config   string
	RepoTags []string
	Layers   []string
}

func (fs files) manifestJSON(t *testing.T) []manifestItem {
	t.Helper()
	b, ok := fs["manifest.json"]
	if !ok {
		t.Fatal("no manifest.json")
	}
	var items []manifestItem
	if err := json.Unmarshal(b, &items); err != nil {
		t.Fatalf("manifest.json: %v", err)
	}
	for _, it := range items {
		for _, p := range append([]string{it.Config}, it.Layers...) {
			if _, ok := fs[p]; !ok {
				t.Errorf("manifest.json names %s, which the archive lacks", p)
			}
		}
	}
	return items
}

// has checks that every descriptor's blob is present.
func (fs files) has(t *testing.T, ds ...image.Descriptor) {
	t.Helper()
	for _, d := range ds {
		if b, ok := fs[blobName(d.Digest)]; !ok {
			t.Errorf("blob %s (%s) missing", d.Digest, d.MediaType)
		} else if int64(len(b)) != d.Size {
			t.Errorf("blob %s is %d bytes, want %d", d.Digest, len(b), d.Size)
		}
	}
}

// blobCount is how many blob files there are.
func (fs files) blobCount() int {
	n := 0
	for name := range fs {
		if strings.HasPrefix(name, "blobs/") {
			n++
		}
	}
	return n
}

// wantEntry is what index.json should list for one image.
type wantEntry struct {
	digest    digest.Digest
	mediaType string
	name      string          // full reference
	platform  *image.Platform // nil: none
}

func checkIndex(t *testing.T, fs files, want ...wantEntry) {
	t.Helper()
	idx := fs.index(t)
	if len(idx.Manifests) != len(want) {
		t.Fatalf("index.json lists %d manifests, want %d: %+v", len(idx.Manifests), len(want), idx.Manifests)
	}
	for i, w := range want {
		got := idx.Manifests[i]
		if got.Digest != w.digest || got.MediaType != w.mediaType {
			t.Errorf("index.json[%d] = %s %s, want %s %s", i, got.MediaType, got.Digest, w.mediaType, w.digest)
		}
		if n := got.Annotations["io.containerd.image.name"]; n != w.name {
			t.Errorf("index.json[%d] io.containerd.image.name = %q, want %q", i, n, w.name)
		}
		wantRef := w.name
		if strings.Contains(w.name, "@") {
			wantRef = "" // a digest is no tag: no ref.name (archive's addIndexEntry)
		}
		if n := got.Annotations["org.opencontainers.image.ref.name"]; n != wantRef {
			t.Errorf("index.json[%d] org.opencontainers.image.ref.name = %q, want %q", i, n, wantRef)
		}
		switch {
		case w.platform == nil && got.Platform != nil:
			t.Errorf("index.json[%d] has platform %s, want none", i, image.FormatPlatform(*got.Platform))
		case w.platform != nil && got.Platform == nil:
			t.Errorf("index.json[%d] has no platform, want %s", i, image.FormatPlatform(*w.platform))
		case w.platform != nil && image.FormatPlatform(*got.Platform) != image.FormatPlatform(*w.platform):
			t.Errorf("index.json[%d] platform = %s, want %s", i, image.FormatPlatform(*got.Platform), image.FormatPlatform(*w.platform))
		}
		if _, ok := fs[blobName(got.Digest)]; !ok {
			t.Errorf("index.json[%d] names %s, which is missing", i, got.Digest)
		}
	}
}

// checkItem checks one manifest.json item against an image as pushed.
func checkItem(t *testing.T, got manifestItem, img registrytest.Pushed, repoTags ...string) {
	t.Helper()
	if got.Config != blobName(img.Config.Digest) {
		t.Errorf("manifest.json Config = %s, want %s", got.Config, blobName(img.Config.Digest))
	}
	var layers []string
	for _, l := range img.Layers {
		layers = append(layers, blobName(l.Digest))
	}
	if !slices.Equal(got.Layers, layers) {
		t.Errorf("manifest.json Layers = %v, want %v", got.Layers, layers)
	}
	if !slices.Equal(got.RepoTags, repoTags) {
		t.Errorf("manifest.json RepoTags = %q, want %q", got.RepoTags, repoTags)
	}
}

// checkNothingAt checks that a failed pull left nothing beside out: neither
// out nor a temporary file in its directory (a directory of its own).
func checkNothingAt(t *testing.T, out string) {
	t.Helper()
	if _, err := os.Lstat(out); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists after a failed pull (%v)", out, err)
	}
	ents, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	prefix := "." + filepath.Base(out) + "."
	for _, e := range ents {
		// The hidden tar a failed tar pull keeps for the next to resume.
		if strings.HasPrefix(e.Name(), prefix) && strings.HasSuffix(e.Name(), ".haul-partial") {
			continue
		}
		t.Errorf("a failed pull left %s in the output directory", e.Name())
	}
}

func partialOf(t *testing.T, st *store.Store, d digest.Digest) (store.Entry, bool) {
	t.Helper()
	ents, err := st.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Digest == d && e.Partial {
			return e, true
		}
	}
	return store.Entry{}, false
}

// ---- tests ----

func TestPullValidatesConfig(t *testing.T) {
	t.Parallel()
	src := func(string) (pull.Source, error) { return nil, errors.New("unused") }
	r := mustRef(t, "127.0.0.1:1/team/app:1")
	tests := []struct {
		name    string
		refs    []ref.Reference
		c       pull.Config
		wantErr string
	}{
		{"no reference", nil, pull.Config{Source: src, Output: "x.tar"}, "no reference"},
		{"no source", []ref.Reference{r}, pull.Config{Output: "x.tar"}, "no Source"},
		{"no output", []ref.Reference{r}, pull.Config{Source: src}, "no output"},
		{"unknown format", []ref.Reference{r}, pull.Config{Source: src, Output: "x", Format: "zip"}, "unknown format"},
		{"oci to stdout", []ref.Reference{r}, pull.Config{Source: src, Output: "-", Format: pull.OCI}, "cannot go to stdout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := pull.Pull(t.Context(), tt.refs, tt.c)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestPullFormats pulls a single-platform image, Docker schema2 and OCI, into
// each output format.
func TestPullFormats(t *testing.T) {
	t.Parallel()
	for _, oci := range []bool{false, true} {
		t.Run(fmt.Sprintf("oci=%v", oci), func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
			img := registrytest.RandomImage(1, 3, 4<<10)
			img.OCI = oci
			pushed := reg.MustPush(t, "team/app:1", img)
			other := registrytest.RandomImage(2, 2, 1<<10)
			other.OCI = oci
			pushed2 := reg.MustPush(t, "team/other:2", other)
			cl := newClient(t, reg, auth.Credential{})
			name := reg.Ref("team/app:1")
			entry := wantEntry{digest: pushed.Digest, mediaType: pushed.MediaType, name: name}
			all := append([]image.Descriptor{pushed.Descriptor()}, imageBlobs(pushed)...)

			pullTo := func(t *testing.T, c pull.Config, refs ...string) *pull.Result {
				t.Helper()
				var rs []ref.Reference
				for _, r := range refs {
					rs = append(rs, mustRef(t, r))
				}
				res, err := pull.Pull(t.Context(), rs, c)
				if err != nil {
					t.Fatalf("Pull: %v", err)
				}
				return res
			}

			t.Run("docker", func(t *testing.T) {
				t.Parallel()
				c := config(t, cl, newStore(t))
				res := pullTo(t, c, name)
				fs := readTarFile(t, c.Output)
				checkIndex(t, fs, entry)
				fs.has(t, all...)
				if n := fs.blobCount(); n != len(all) {
					t.Errorf("%d blobs, want %d", n, len(all))
				}
				items := fs.manifestJSON(t)
				if len(items) != 1 {
					t.Fatalf("manifest.json has %d items, want 1", len(items))
				}
				checkItem(t, items[0], pushed, name)
				if _, ok := fs["oci-layout"]; !ok {
					t.Error("no oci-layout")
				}
				if res.Blobs != len(all) || res.Bytes != sumSizes(all...) {
					t.Errorf("Result Blobs, Bytes = %d, %d; want %d, %d", res.Blobs, res.Bytes, len(all), sumSizes(all...))
				}
				if len(res.Images) != 1 || res.Images[0].Digest != pushed.Digest || res.Images[0].MediaType != pushed.MediaType {
					t.Errorf("Result.Images = %+v", res.Images)
				}
			})
			t.Run("oci-archive", func(t *testing.T) {
				t.Parallel()
				c := config(t, cl, newStore(t))
				c.Format = pull.OCIArchive
				pullTo(t, c, name)
				fs := readTarFile(t, c.Output)
				checkIndex(t, fs, entry)
				fs.has(t, all...)
				for _, f := range []string{"manifest.json", "repositories"} {
					if _, ok := fs[f]; ok {
						t.Errorf("an oci-archive holds %s", f)
					}
				}
			})
			t.Run("oci dir", func(t *testing.T) {
				t.Parallel()
				st := newStore(t)
				c := config(t, cl, st)
				c.Format = pull.OCI
				c.Output = filepath.Join(t.TempDir(), "layout")
				pullTo(t, c, name)
				fs := readDir(t, c.Output)
				checkIndex(t, fs, entry)
				fs.has(t, all...)
				if _, ok := fs["oci-layout"]; !ok {
					t.Error("no oci-layout")
				}
				// A second image goes beside the first.
				pullTo(t, c, reg.Ref("team/other:2"))
				fs = readDir(t, c.Output)
				checkIndex(t, fs, entry, wantEntry{digest: pushed2.Digest, mediaType: pushed2.MediaType, name: reg.Ref("team/other:2")})
				fs.has(t, all...)
				fs.has(t, append([]image.Descriptor{pushed2.Descriptor()}, imageBlobs(pushed2)...)...)
			})
			for _, f := range []pull.Format{pull.Docker, pull.OCIArchive} {
				t.Run("stream "+string(f), func(t *testing.T) {
					t.Parallel()
					st := newStore(t)
					c := config(t, cl, st)
					c.Format = f
					pullTo(t, c, name)
					file, err := os.ReadFile(c.Output)
					if err != nil {
						t.Fatal(err)
					}
					var buf bytes.Buffer
					c.Output, c.Stdout = "-", &buf
					pullTo(t, c, name)
					if !bytes.Equal(buf.Bytes(), file) {
						t.Fatalf("streamed tar (%d bytes) differs from the file (%d bytes)", buf.Len(), len(file))
					}
					readTar(t, &buf)
				})
			}
		})
	}
}

// TestPullIndex pulls from a multi-platform index, with attestations.
func TestPullIndex(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	platforms := []image.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64"},
		{OS: "linux", Architecture: "arm", Variant: "v7"},
	}
	type pushedIndex struct {
		tag    string
		pushed registrytest.Pushed
	}
	var indexes []pushedIndex
	for i, oci := range []bool{true, false} {
		spec := registrytest.IndexSpec{OCI: oci, Attestation: oci}
		for j, p := range platforms {
			img := registrytest.RandomImage(int64(10*i+j+1), 2, 2<<10)
			img.Platform = p
			spec.Images = append(spec.Images, img)
		}
		tag := fmt.Sprintf("team/multi:oci-%v", oci)
		indexes = append(indexes, pushedIndex{tag, reg.MustPushIndex(t, tag, spec)})
	}
	cl := newClient(t, reg, auth.Credential{})
	host := image.Normalize(image.Host())
	hostIdx := slices.IndexFunc(platforms, func(p image.Platform) bool {
		return image.FormatPlatform(p) == image.FormatPlatform(host)
	})

	tests := []struct {
		name      string
		platforms []image.Platform
		all       bool
		want      []int  // indexes into platforms; nil with all
		wantErr   string // for a platform the index lacks
	}{
		{name: "default is the host", want: []int{hostIdx}},
		{name: "linux/amd64", platforms: platforms[:1], want: []int{0}},
		{name: "linux/arm64", platforms: platforms[1:2], want: []int{1}},
		{name: "linux/arm/v7", platforms: platforms[2:3], want: []int{2}},
		{name: "arm64,arm/v7", platforms: platforms[1:3], want: []int{1, 2}},
		{name: "amd64,arm64", platforms: platforms[:2], want: []int{0, 1}},
		{name: "all", all: true},
		{name: "missing platform", platforms: []image.Platform{{OS: "linux", Architecture: "s390x"}}, wantErr: "linux/s390x"},
	}
	for _, ix := range indexes {
		for _, tt := range tests {
			t.Run(ix.tag+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				if tt.want != nil && tt.want[0] < 0 {
					t.Skipf("the host %s is not in the index", image.FormatPlatform(host))
				}
				idx := ix.pushed
				name := reg.Ref(ix.tag)
				c := config(t, cl, newStore(t))
				c.Platforms, c.AllPlatforms = tt.platforms, tt.all
				res, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, name)}, c)
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("err = %v, want one listing %q", err, tt.wantErr)
					}
					var nm *image.NoMatchError
					if !errors.As(err, &nm) {
						t.Errorf("err is not an *image.NoMatchError: %v", err)
					}
					for _, p := range platforms {
						if !strings.Contains(err.Error(), image.FormatPlatform(p)) {
							t.Errorf("the error does not list %s: %v", image.FormatPlatform(p), err)
						}
					}
					if strings.Contains(err.Error(), "unknown") {
						t.Errorf("the error lists the attestations' platform: %v", err)
					}
					checkNothingAt(t, c.Output)
					return
				}
				if err != nil {
					t.Fatalf("Pull: %v", err)
				}
				fs := readTarFile(t, c.Output)
				items := fs.manifestJSON(t)
				if tt.all {
					checkIndex(t, fs, wantEntry{digest: idx.Digest, mediaType: idx.MediaType, name: name})
					fs.has(t, idx.Descriptor())
					for _, m := range idx.Manifests { // attestations included
						fs.has(t, m.Descriptor())
						fs.has(t, imageBlobs(m)...)
					}
					if hostIdx < 0 {
						return
					}
					if len(items) != 1 {
						t.Fatalf("manifest.json has %d items, want the host's", len(items))
					}
					checkItem(t, items[0], idx.Manifests[hostIdx], name)
					if got := res.Images[0].Platforms; len(got) != len(platforms) {
						t.Errorf("Result platforms = %q, want %d", got, len(platforms))
					}
					return
				}
				var entries []wantEntry
				for _, i := range tt.want {
					m := idx.Manifests[i]
					p := platforms[i]
					entries = append(entries, wantEntry{digest: m.Digest, mediaType: m.MediaType, name: name, platform: &p})
					fs.has(t, append([]image.Descriptor{m.Descriptor()}, imageBlobs(m)...)...)
				}
				checkIndex(t, fs, entries...)
				if len(items) != 1 {
					t.Fatalf("manifest.json has %d items, want 1: %+v", len(items), items)
				}
				checkItem(t, items[0], idx.Manifests[tt.want[0]], name)
				// Nothing of the other platforms, nor the attestations.
				for i, m := range idx.Manifests {
					if !slices.Contains(tt.want, i) {
						if _, ok := fs[blobName(m.Digest)]; ok {
							t.Errorf("manifest %s (%s), not asked for, is in the archive", m.Digest, image.FormatPlatform(m.Platform))
						}
					}
				}
				if len(res.Images) != 1 || res.Images[0].Digest != idx.Digest || len(res.Images[0].Platforms) != len(tt.want) {
					t.Errorf("Result.Images = %+v", res.Images)
				}
			})
		}
	}
}

// TestPullLayers pulls images with unusual layers, cached and not.
func TestPullLayers(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	cl := newClient(t, reg, auth.Credential{})
	tests := []struct {
		name string
		img  registrytest.Image
	}{
		{"empty gzip tar layer", registrytest.Image{Layers: [][]byte{registrytest.Gzip(registrytest.Tar(nil))}}},
		{"empty plain tar layer", registrytest.Image{Layers: [][]byte{registrytest.Tar(nil)}}},
		{"zero-byte layer", registrytest.Image{Layers: [][]byte{{}}}},
		{"no layers", registrytest.Image{OCI: true}},
		{"50 layers", registrytest.RandomImage(7, 50, 1024)},
	}
	for i, tt := range tests {
		tag := fmt.Sprintf("team/layers:%d", i)
		pushed := reg.MustPush(t, tag, tt.img)
		for _, cached := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/cached=%v", tt.name, cached), func(t *testing.T) {
				t.Parallel()
				var st *store.Store
				if cached {
					st = newStore(t)
				}
				c := config(t, cl, st)
				if _, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, reg.Ref(tag))}, c); err != nil {
					t.Fatalf("Pull: %v", err)
				}
				fs := readTarFile(t, c.Output)
				checkIndex(t, fs, wantEntry{digest: pushed.Digest, mediaType: pushed.MediaType, name: reg.Ref(tag)})
				fs.has(t, imageBlobs(pushed)...)
				items := fs.manifestJSON(t)
				if len(items) != 1 {
					t.Fatalf("manifest.json has %d items", len(items))
				}
				checkItem(t, items[0], pushed, reg.Ref(tag))
			})
		}
	}
}

// TestPullPinnedDigest pulls by digest, and refuses a pinned digest the
// registry does not answer with.
func TestPullPinnedDigest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ref     func(p, other registrytest.Pushed) string
		swap    bool // the registry answers every manifest request with team/app:1's
		wantErr string
	}{
		{name: "by digest", ref: func(p, _ registrytest.Pushed) string { return "team/app@" + p.Digest.String() }},
		{name: "tag and digest", ref: func(p, _ registrytest.Pushed) string { return "team/app:1@" + p.Digest.String() }},
		{name: "unknown digest", wantErr: "fetching manifest", ref: func(registrytest.Pushed, registrytest.Pushed) string {
			return "team/app@" + digest.FromString("something else").String()
		}},
		{name: "registry answers another manifest", swap: true, wantErr: "digest", ref: func(_, other registrytest.Pushed) string {
			return "team/app@" + other.Digest.String()
		}},
	}
	for _, tt := range tests {
		for _, cached := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/cached=%v", tt.name, cached), func(t *testing.T) {
				t.Parallel()
				reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
				pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(3, 2, 1<<10))
				other := reg.MustPush(t, "team/app:2", registrytest.RandomImage(4, 2, 1<<10))
				cl := newClient(t, reg, auth.Credential{})
				if tt.swap {
					reg.Wrap(func(next http.Handler) http.Handler {
						return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
							if i := strings.Index(r.URL.Path, "/manifests/"); i >= 0 {
								r.URL.Path = r.URL.Path[:i] + "/manifests/1"
								r.URL.RawPath = ""
							}
							next.ServeHTTP(w, r)
						})
					})
				}
				var st *store.Store
				if cached {
					st = newStore(t)
				}
				c := config(t, cl, st)
				name := reg.Ref(tt.ref(pushed, other))
				res, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, name)}, c)
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
					}
					checkNothingAt(t, c.Output)
					return
				}
				if err != nil {
					t.Fatalf("Pull: %v", err)
				}
				fs := readTarFile(t, c.Output)
				checkIndex(t, fs, wantEntry{digest: pushed.Digest, mediaType: pushed.MediaType, name: mustRef(t, name).String()})
				items := fs.manifestJSON(t)
				if len(items) != 1 {
					t.Fatalf("manifest.json has %d items", len(items))
				}
				checkItem(t, items[0], pushed) // no RepoTags
				if items[0].RepoTags != nil {
					t.Errorf("RepoTags = %q, want null", items[0].RepoTags)
				}
				if _, ok := fs["repositories"]; ok {
					t.Error("a pull by digest wrote repositories")
				}
				if res.Images[0].Digest != pushed.Digest {
					t.Errorf("Result digest = %s", res.Images[0].Digest)
				}
			})
		}
	}
}

// TestPullCache pulls the same image twice, then one sharing a layer.
func TestPullCache(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	a := registrytest.RandomImage(5, 3, 8<<10)
	b := registrytest.RandomImage(6, 2, 8<<10)
	b.Layers = append([][]byte{a.Layers[0]}, b.Layers...) // shares a's first layer
	pa := reg.MustPush(t, "team/a:1", a)
	pb := reg.MustPush(t, "team/b:1", b)
	cl := newClient(t, reg, auth.Credential{})
	st := newStore(t)

	steps := []struct {
		name                  string
		tag                   string
		wantFetched, wantCach int64
	}{
		{"first pull", "team/a:1", sumSizes(imageBlobs(pa)...), 0},
		{"same image again", "team/a:1", 0, sumSizes(imageBlobs(pa)...)},
		{"image sharing a layer", "team/b:1", sumSizes(imageBlobs(pb)...) - pa.Layers[0].Size, pa.Layers[0].Size},
		{"that one again", "team/b:1", 0, sumSizes(imageBlobs(pb)...)},
	}
	for _, s := range steps { // in order: each step sees the store the last left
		c := config(t, cl, st)
		res, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, reg.Ref(s.tag))}, c)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if res.Fetched != s.wantFetched || res.Cached != s.wantCach {
			t.Errorf("%s: Fetched, Cached = %d, %d; want %d, %d", s.name, res.Fetched, res.Cached, s.wantFetched, s.wantCach)
		}
		readTarFile(t, c.Output)
	}
}

// TestPullNoCacheLarge pulls without a cache an image whose layer is large
// of several MiB, and checks that the tar
// holds every blob with the registry's digest.
func TestPullNoCacheLarge(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{Dir: t.TempDir()})
	pushed := reg.MustPush(t, "team/big:1", plainImage(9, 1, 4<<20+12345))
	c := config(t, newClient(t, reg, auth.Credential{}), nil)
	res, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, reg.Ref("team/big:1"))}, c)
	if err != nil {
		t.Fatal(err)
	}
	if want := sumSizes(imageBlobs(pushed)...); res.Fetched != want {
		t.Errorf("Fetched %d, want %d", res.Fetched, want)
	}
	got := readTarFile(t, c.Output) // every blob hashes to its name
	for _, d := range imageBlobs(pushed) {
		if b, ok := got[blobName(d.Digest)]; !ok || int64(len(b)) != d.Size {
			t.Errorf("the tar lacks %s (%d bytes)", d.Digest, d.Size)
		}
	}
}

// TestPullNoCache compares the direct path (no store) with the cached one.
func TestPullNoCache(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	img := plainImage(8, 2, 3<<20/2) // layers over archive's 1 MiB alignment threshold
	img.Layers = append(img.Layers, registrytest.Layer(map[string][]byte{"small": []byte("x")}))
	pushed := reg.MustPush(t, "team/app:1", img)
	cl := newClient(t, reg, auth.Credential{})
	name := reg.Ref("team/app:1")

	for _, f := range []pull.Format{pull.Docker, pull.OCIArchive} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			var outs [][]byte
			var modes []fs.FileMode
			for _, st := range []*store.Store{newStore(t), nil} {
				c := config(t, cl, st)
				c.Format = f
				res, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, name)}, c)
				if err != nil {
					t.Fatalf("Pull (store %v): %v", st != nil, err)
				}
				if res.Fetched != sumSizes(imageBlobs(pushed)...) || res.Cached != 0 {
					t.Errorf("store %v: Fetched, Cached = %d, %d; want %d, 0", st != nil, res.Fetched, res.Cached, sumSizes(imageBlobs(pushed)...))
				}
				b, err := os.ReadFile(c.Output)
				if err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(c.Output)
				if err != nil {
					t.Fatal(err)
				}
				outs, modes = append(outs, b), append(modes, fi.Mode())
				ents, _ := os.ReadDir(filepath.Dir(c.Output))
				if len(ents) != 1 {
					t.Errorf("store %v: the output directory holds %d files, want only out.tar", st != nil, len(ents))
				}
			}
			if !bytes.Equal(outs[0], outs[1]) {
				t.Fatalf("direct tar (%d bytes) differs from the cached one (%d bytes)", len(outs[1]), len(outs[0]))
			}
			readTar(t, bytes.NewReader(outs[1]))
			if modes[0] != modes[1] {
				t.Errorf("the same pull writes mode %v with a cache and %v without", modes[0], modes[1])
			}
		})
	}
	for _, tc := range []struct{ cached, nested bool }{{false, false}, {false, true}, {true, true}} {
		nested := tc.nested
		t.Run(fmt.Sprintf("oci dir cached=%v nested=%v", tc.cached, nested), func(t *testing.T) {
			t.Parallel()
			parent := t.TempDir()
			var st *store.Store
			if tc.cached {
				st = newStore(t)
			}
			c := config(t, cl, st)
			c.Format = pull.OCI
			c.Output = filepath.Join(parent, "layout")
			if nested {
				c.Output = filepath.Join(parent, "new", "layout")
				if err := os.Mkdir(filepath.Dir(c.Output), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, name)}, c); err != nil {
				t.Fatalf("Pull: %v", err)
			}
			fs := readDir(t, c.Output)
			checkIndex(t, fs, wantEntry{digest: pushed.Digest, mediaType: pushed.MediaType, name: name})
			fs.has(t, append([]image.Descriptor{pushed.Descriptor()}, imageBlobs(pushed)...)...)
			for _, dir := range []string{parent, filepath.Dir(c.Output)} {
				ents, _ := os.ReadDir(dir)
				for _, e := range ents {
					if strings.HasPrefix(e.Name(), ".haul-nocache-") {
						t.Errorf("the temporary store %s was left in %s", e.Name(), dir)
					}
				}
			}
		})
	}
	t.Run("stdout", func(t *testing.T) {
		t.Parallel()
		var buf bytes.Buffer
		c := config(t, cl, nil)
		c.Output, c.Stdout = "-", &buf
		if _, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, name)}, c); err != nil {
			t.Fatalf("Pull: %v", err)
		}
		readTar(t, &buf).has(t, imageBlobs(pushed)...)
	})
}

// TestPullFaults injects faults around the real registry, with a cache and without.
func TestPullFaults(t *testing.T) {
	t.Parallel()
	const size = 1 << 20
	type state struct {
		mu     sync.Mutex
		tries  int
		ranges []string
		served atomic.Int64
	}
	tests := []struct {
		name string
		cred auth.Credential
		// fault handles the try'th GET of the layer; false: serve rec as is.
		fault     func(t *testing.T, s *state, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool
		stripRng  bool // the server ignores Range
		wantErr   bool
		wantRange bool
		maxServed float64 // of the layer's size; 0: unchecked
	}{
		{name: "drop at 30%", wantRange: true, maxServed: 1.35, fault: func(t *testing.T, s *state, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool {
			if try > 1 {
				return false
			}
			registrytest.CopyHeader(w, rec)
			w.WriteHeader(200)
			w.Write(rec.Body.Bytes()[:rec.Body.Len()*3/10])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}},
		{name: "server ignores Range", stripRng: true, wantRange: true, fault: func(t *testing.T, s *state, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool {
			registrytest.CopyHeader(w, rec)
			w.Header().Del("Content-Range")
			w.WriteHeader(200)
			body := rec.Body.Bytes()
			if try == 1 {
				w.Write(body[:len(body)/3])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}
			w.Write(body)
			return true
		}},
		{name: "429 then OK", fault: func(t *testing.T, s *state, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool {
			if try > 1 {
				return false
			}
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`)
			return true
		}},
		{name: "wrong bytes", wantErr: true, fault: func(t *testing.T, s *state, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool {
			registrytest.CopyHeader(w, rec)
			body := bytes.Clone(rec.Body.Bytes())
			body[len(body)/2] ^= 0xff
			w.WriteHeader(rec.Code)
			w.Write(body)
			return true
		}},
		{name: "CDN redirect", cred: auth.Credential{Username: registrytest.Alice, Password: registrytest.AlicePassword}},
	}
	for _, tt := range tests {
		for _, cached := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/cached=%v", tt.name, cached), func(t *testing.T) {
				t.Parallel()
				reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
				pushed := reg.MustPush(t, "team/app:1", plainImage(9, 2, size))
				layer := pushed.Layers[0]
				cl := newClient(t, reg, tt.cred)
				warm(t, cl, reg.Ref("team/app:1"))
				var s state

				var cdn *registrytest.CDN
				if tt.name == "CDN redirect" {
					cdn = registrytest.NewCDN(t)
				}
				reg.Wrap(func(next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if cdn != nil && registrytest.IsBlobGET(r) {
							if r.Header.Get("Authorization") == "" {
								t.Errorf("the registry got a blob GET without a token: the fixture is wrong")
							}
							cdn.Redirect(w, r, next)
							return
						}
						if !registrytest.IsBlobGET(r) || !strings.HasSuffix(r.URL.Path, layer.Digest.String()) || tt.fault == nil {
							next.ServeHTTP(w, r)
							return
						}
						s.mu.Lock()
						s.tries++
						try := s.tries
						if rg := r.Header.Get("Range"); rg != "" {
							s.ranges = append(s.ranges, rg)
						}
						s.mu.Unlock()
						if tt.stripRng {
							r.Header.Del("Range")
						}
						rec := registrytest.Record(next, r)
						cw := &registrytest.CountingWriter{ResponseWriter: w, N: &s.served}
						if !tt.fault(t, &s, try, cw, r, rec) {
							registrytest.CopyHeader(w, rec)
							w.WriteHeader(rec.Code)
							cw.Write(rec.Body.Bytes())
						}
					})
				})

				var st *store.Store
				if cached {
					st = newStore(t)
				}
				c := config(t, cl, st)
				res, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, reg.Ref("team/app:1"))}, c)
				s.mu.Lock()
				defer s.mu.Unlock()
				if got := len(s.ranges) > 0; got != tt.wantRange {
					t.Errorf("Range sent: %v (%q), want %v", got, s.ranges, tt.wantRange)
				}
				if tt.wantErr {
					if err == nil {
						t.Fatal("Pull of a corrupt layer succeeded")
					}
					var de *image.DigestError
					if !errors.As(err, &de) || de.Want != layer.Digest {
						t.Errorf("err = %v, want an *image.DigestError for %s", err, layer.Digest)
					}
					if !strings.Contains(err.Error(), layer.Digest.String()) {
						t.Errorf("the error does not name the blob: %v", err)
					}
					checkNothingAt(t, c.Output)
					if st != nil {
						if _, ok := st.Path(t.Context(), layer); ok {
							t.Error("the store kept the corrupt blob")
						}
						if e, ok := partialOf(t, st, layer.Digest); ok {
							t.Errorf("the store kept a partial of the corrupt blob (%d bytes)", e.Size)
						}
					}
					return
				}
				if err != nil {
					t.Fatalf("Pull: %v", err)
				}
				fs := readTarFile(t, c.Output)
				fs.has(t, imageBlobs(pushed)...)
				checkIndex(t, fs, wantEntry{digest: pushed.Digest, mediaType: pushed.MediaType, name: reg.Ref("team/app:1")})
				if tt.maxServed > 0 {
					if got := s.served.Load(); float64(got) > tt.maxServed*float64(layer.Size) {
						t.Errorf("served %d bytes for a %d-byte layer, over %.2fx", got, layer.Size, tt.maxServed)
					}
				}
				if cdn != nil && cdn.Hits() != int32(len(imageBlobs(pushed))) {
					t.Errorf("the CDN served %d blobs, want %d", cdn.Hits(), len(imageBlobs(pushed)))
				}
				if res.Fetched != sumSizes(imageBlobs(pushed)...) {
					t.Errorf("Fetched = %d, want %d", res.Fetched, sumSizes(imageBlobs(pushed)...))
				}
			})
		}
	}
}

// TestPullNoRoom pulls an image whose manifest claims a layer of 1 PiB (the
// registry bends its answer): the tar cannot fit, and the pull says so
// before it asks for the layer, leaving nothing at PATH.
func TestPullNoRoom(t *testing.T) {
	t.Parallel()
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprintf("cached=%v", cached), func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{})
			pushed := reg.MustPush(t, "team/app:1", plainImage(5, 1, 1000))
			layer := pushed.Layers[0]
			var layerGETs atomic.Int32
			reg.Wrap(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if registrytest.IsBlobGET(r) && strings.HasSuffix(r.URL.Path, layer.Digest.String()) {
						layerGETs.Add(1)
					}
					if !strings.Contains(r.URL.Path, "/manifests/") {
						next.ServeHTTP(w, r)
						return
					}
					rec := registrytest.Record(next, r)
					var m map[string]any
					if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
						t.Errorf("the registry's manifest: %v", err)
						return
					}
					m["layers"].([]any)[0].(map[string]any)["size"] = int64(1) << 50
					body, _ := json.Marshal(m)
					registrytest.CopyHeader(w, rec)
					w.Header().Set("Docker-Content-Digest", digest.FromBytes(body).String())
					w.Header().Set("Content-Length", fmt.Sprint(len(body)))
					w.WriteHeader(rec.Code)
					if r.Method != http.MethodHead {
						w.Write(body)
					}
				})
			})
			var st *store.Store
			if cached {
				st = newStore(t)
			}
			c := config(t, newClient(t, reg, auth.Credential{}), st)
			_, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, reg.Ref("team/app:1"))}, c)
			var se *disk.SpaceError
			if !errors.As(err, &se) || !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Pull = %v, want a SpaceError", err)
			}
			if n := layerGETs.Load(); n != 0 {
				t.Errorf("the layer was asked for %d times before the pull gave up", n)
			}
			checkNothingAt(t, c.Output)
		})
	}
}

// TestPullResumesInterrupted cancels a pull mid-blob, then pulls again: the
// second pull continues the partial download with Range, from the tar's
// temporary file for a tar, from the store's partial for a layout.
func TestPullResumesInterrupted(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	pushed := reg.MustPush(t, "team/app:1", plainImage(11, 1, 2<<20))
	layer := pushed.Layers[0]
	cl := newClient(t, reg, auth.Credential{})
	name := reg.Ref("team/app:1")
	warm(t, cl, name)
	var (
		mu      sync.Mutex
		stalled bool
		ranges  []string
	)
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !registrytest.IsBlobGET(r) || !strings.HasSuffix(r.URL.Path, layer.Digest.String()) {
				next.ServeHTTP(w, r)
				return
			}
			mu.Lock()
			first := !stalled
			stalled = true
			if rg := r.Header.Get("Range"); rg != "" {
				ranges = append(ranges, rg)
			}
			mu.Unlock()
			rec := registrytest.Record(next, r)
			registrytest.CopyHeader(w, rec)
			w.WriteHeader(rec.Code)
			if !first {
				w.Write(rec.Body.Bytes())
				return
			}
			// Half the blob in small chunks, then nothing until the client goes.
			body := rec.Body.Bytes()[:rec.Body.Len()/2]
			for len(body) > 0 {
				n := min(len(body), 64<<10)
				w.Write(body[:n])
				w.(http.Flusher).Flush()
				body = body[n:]
			}
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
				t.Error("the client did not go away after its ctx was cancelled")
			}
		})
	})
	st := newStore(t)

	for _, f := range []pull.Format{pull.Docker, pull.OCI} {
		mu.Lock()
		stalled, ranges = false, nil
		mu.Unlock()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		c := config(t, cl, st)
		c.Format = f
		if f == pull.OCI {
			c.Output = filepath.Join(t.TempDir(), "layout")
		}
		var got int64
		c.Progress = func(e pull.Event) {
			if e.Kind == pull.BlobBytes && e.Digest == layer.Digest {
				if got += e.N; got >= layer.Size*4/10 {
					cancel()
				}
			}
		}
		_, err := pull.Pull(ctx, []ref.Reference{mustRef(t, name)}, c)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: interrupted Pull: err = %v, want context.Canceled", f, err)
		}
		if f == pull.OCI {
			part, ok := partialOf(t, st, layer.Digest)
			if !ok || part.Size <= 0 || part.Size >= layer.Size {
				t.Fatalf("%s: partial of %d bytes (%v) for a %d-byte layer", f, part.Size, ok, layer.Size)
			}
		} else {
			checkNothingAt(t, c.Output)
		}

		c.Progress = nil
		res, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, name)}, c)
		if err != nil {
			t.Fatalf("%s: resumed Pull: %v", f, err)
		}
		if f == pull.OCI {
			readDir(t, c.Output).has(t, imageBlobs(pushed)...)
		} else {
			readTarFile(t, c.Output).has(t, imageBlobs(pushed)...)
		}
		if res.Cached < layer.Size*4/10 {
			t.Errorf("%s: Cached = %d, want at least the %d bytes the first pull had", f, res.Cached, layer.Size*4/10)
		}
		if total := sumSizes(imageBlobs(pushed)...); res.Cached+res.Fetched != total {
			t.Errorf("%s: Cached + Fetched = %d + %d, want %d", f, res.Cached, res.Fetched, total)
		}
		mu.Lock()
		if len(ranges) != 1 {
			t.Errorf("%s: the layer was asked for with Range %v, want once", f, ranges)
		}
		mu.Unlock()
		if _, ok := partialOf(t, st, layer.Digest); ok {
			t.Errorf("%s: the partial is still there after the blob was completed", f)
		}
	}
}

// TestPullProgress checks the events of a fresh pull.
func TestPullProgress(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	pushed := reg.MustPush(t, "team/app:1", plainImage(12, 3, 200<<10))
	cl := newClient(t, reg, auth.Credential{})
	name := reg.Ref("team/app:1")
	tests := []struct {
		name   string
		cached bool
		format pull.Format
	}{
		{"direct docker", false, pull.Docker},
		{"store docker", true, pull.Docker},
		{"store oci-archive", true, pull.OCIArchive},
		{"no cache oci dir", false, pull.OCI},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var st *store.Store
			if tt.cached {
				st = newStore(t)
			}
			c := config(t, cl, st)
			c.Format = tt.format
			if tt.format == pull.OCI {
				c.Output = filepath.Join(t.TempDir(), "layout")
			}
			var events []pull.Event
			c.Progress = func(e pull.Event) { events = append(events, e) }
			if _, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, name)}, c); err != nil {
				t.Fatalf("Pull: %v", err)
			}
			starts, dones, bytesOf := map[digest.Digest]int{}, map[digest.Digest]int{}, map[digest.Digest]int64{}
			var resolved, writing int
			for _, e := range events {
				switch e.Kind {
				case pull.Resolved:
					resolved++
					if e.Digest != pushed.Digest || e.Ref.String() != name {
						t.Errorf("Resolved event %+v", e)
					}
				case pull.BlobStart:
					starts[e.Digest]++
					if dones[e.Digest] > 0 {
						t.Errorf("BlobStart of %s after its BlobDone", e.Digest)
					}
				case pull.BlobBytes:
					if starts[e.Digest] == 0 || dones[e.Digest] > 0 {
						t.Errorf("BlobBytes of %s outside BlobStart..BlobDone", e.Digest)
					}
					bytesOf[e.Digest] += e.N
				case pull.BlobDone:
					dones[e.Digest]++
				case pull.Writing:
					writing++
				}
			}
			if resolved != 1 || writing != 1 {
				t.Errorf("%d Resolved and %d Writing events, want 1 each", resolved, writing)
			}
			want := imageBlobs(pushed)
			if len(starts) != len(want) {
				t.Errorf("BlobStart for %d blobs, want %d", len(starts), len(want))
			}
			for _, d := range want {
				k := d.Digest
				if starts[k] != 1 || dones[k] != 1 {
					t.Errorf("%s: %d BlobStart, %d BlobDone; want 1 each", k, starts[k], dones[k])
				}
				if bytesOf[k] != d.Size {
					t.Errorf("%s: BlobBytes add up to %d, want %d", k, bytesOf[k], d.Size)
				}
			}
			for k, n := range starts {
				if dones[k] != n {
					t.Errorf("%s: %d BlobStart, %d BlobDone", k, n, dones[k])
				}
			}
		})
	}
}

// TestPullBundle pulls two images from two repositories into one archive.
func TestPullBundle(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	a := registrytest.RandomImage(13, 2, 4<<10)
	b := registrytest.RandomImage(14, 1, 4<<10)
	b.Layers = append([][]byte{a.Layers[0]}, b.Layers...)
	pa := reg.MustPush(t, "team/a:1", a)
	pb := reg.MustPush(t, "other/b:2", b)
	cl := newClient(t, reg, auth.Credential{})
	shared := pa.Layers[0]
	for _, cached := range []bool{true, false} {
		t.Run(fmt.Sprintf("cached=%v", cached), func(t *testing.T) {
			t.Parallel()
			var st *store.Store
			if cached {
				st = newStore(t)
			}
			c := config(t, cl, st)
			refs := []ref.Reference{mustRef(t, reg.Ref("team/a:1")), mustRef(t, reg.Ref("other/b:2"))}
			res, err := pull.Pull(t.Context(), refs, c)
			if err != nil {
				t.Fatalf("Pull: %v", err)
			}
			fs := readTarFile(t, c.Output) // fails on a blob stored twice
			checkIndex(t, fs,
				wantEntry{digest: pa.Digest, mediaType: pa.MediaType, name: reg.Ref("team/a:1")},
				wantEntry{digest: pb.Digest, mediaType: pb.MediaType, name: reg.Ref("other/b:2")})
			items := fs.manifestJSON(t)
			if len(items) != 2 {
				t.Fatalf("manifest.json has %d items, want 2", len(items))
			}
			checkItem(t, items[0], pa, reg.Ref("team/a:1"))
			checkItem(t, items[1], pb, reg.Ref("other/b:2"))
			blobs := map[digest.Digest]image.Descriptor{}
			for _, d := range append(append([]image.Descriptor{pa.Descriptor(), pb.Descriptor()}, imageBlobs(pa)...), imageBlobs(pb)...) {
				blobs[d.Digest] = d
			}
			if n := fs.blobCount(); n != len(blobs) {
				t.Errorf("%d blobs in the archive, want %d", n, len(blobs))
			}
			if res.Blobs != len(blobs) {
				t.Errorf("Result.Blobs = %d, want %d", res.Blobs, len(blobs))
			}
			fetched := sumSizes(imageBlobs(pa)...) + sumSizes(imageBlobs(pb)...) - shared.Size
			if res.Fetched != fetched {
				t.Errorf("Fetched = %d, want %d (the shared layer once)", res.Fetched, fetched)
			}
			if len(res.Images) != 2 {
				t.Errorf("Result.Images = %+v", res.Images)
			}
		})
	}
}

// TestPullIndexPlatformsLayout pulls two platforms of an index into an OCI
// layout directory, which lists each under the reference's name.
func TestPullIndexPlatformsLayout(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	platforms := []image.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}
	spec := registrytest.IndexSpec{OCI: true, Attestation: true}
	for i, p := range platforms {
		img := registrytest.RandomImage(int64(20+i), 1, 1<<10)
		img.Platform = p
		spec.Images = append(spec.Images, img)
	}
	idx := reg.MustPushIndex(t, "team/multi:1", spec)
	cl := newClient(t, reg, auth.Credential{})
	name := reg.Ref("team/multi:1")
	c := config(t, cl, newStore(t))
	c.Format, c.Output, c.Platforms = pull.OCI, filepath.Join(t.TempDir(), "layout"), platforms
	for range 2 { // a second pull replaces the entries rather than adding to them
		if _, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, name)}, c); err != nil {
			t.Fatalf("Pull: %v", err)
		}
	}
	fs := readDir(t, c.Output)
	checkIndex(t, fs,
		wantEntry{digest: idx.Manifests[0].Digest, mediaType: idx.Manifests[0].MediaType, name: name, platform: &platforms[0]},
		wantEntry{digest: idx.Manifests[1].Digest, mediaType: idx.Manifests[1].MediaType, name: name, platform: &platforms[1]})
	for _, m := range idx.Manifests[:2] {
		fs.has(t, append([]image.Descriptor{m.Descriptor()}, imageBlobs(m)...)...)
	}
}

// TestPullCancelDirect cancels a pull without a cache mid-blob: nothing is
// left at Output, temporary file included.
func TestPullCancelDirect(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	pushed := reg.MustPush(t, "team/app:1", plainImage(15, 1, 1<<20))
	layer := pushed.Layers[0]
	cl := newClient(t, reg, auth.Credential{})
	name := reg.Ref("team/app:1")
	warm(t, cl, name)
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !registrytest.IsBlobGET(r) || !strings.HasSuffix(r.URL.Path, layer.Digest.String()) {
				next.ServeHTTP(w, r)
				return
			}
			rec := registrytest.Record(next, r)
			registrytest.CopyHeader(w, rec)
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		})
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c := config(t, cl, nil)
	var got int64
	c.Progress = func(e pull.Event) {
		if e.Kind == pull.BlobBytes && e.Digest == layer.Digest {
			if got += e.N; got >= layer.Size*4/10 {
				cancel()
			}
		}
	}
	if _, err := pull.Pull(ctx, []ref.Reference{mustRef(t, name)}, c); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	checkNothingAt(t, c.Output)
}

// TestPullPlatformOfSingleImage: --platform on an image that is no index is
// checked against its config before any layer is fetched, as docker does.
func TestPullPlatformOfSingleImage(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	img := registrytest.RandomImage(31, 1, 1<<10) // linux/amd64
	reg.MustPush(t, "team/app:1", img)
	cl := newClient(t, reg, auth.Credential{})
	tests := []struct {
		name      string
		platforms []image.Platform
		err       string
	}{
		{name: "none asked", platforms: nil},
		{name: "its own", platforms: []image.Platform{{OS: "linux", Architecture: "amd64"}}},
		{name: "another", platforms: []image.Platform{{OS: "linux", Architecture: "arm64"}}, err: "the image is for linux/amd64, not linux/arm64"},
		{name: "one of two", platforms: []image.Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}},
			err: "not linux/arm64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := config(t, cl, newStore(t))
			c.Format, c.Output, c.Platforms = pull.OCI, filepath.Join(t.TempDir(), "layout"), tt.platforms
			_, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, reg.Ref("team/app:1"))}, c)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Pull: %v", err)
				}
				return
			}
			var pe *image.PlatformError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Pull = %v, want an *image.PlatformError saying %q", err, tt.err)
			}
			if _, serr := os.Stat(c.Output); !errors.Is(serr, fs.ErrNotExist) {
				t.Errorf("the refused pull left %s (%v)", c.Output, serr)
			}
		})
	}
}
