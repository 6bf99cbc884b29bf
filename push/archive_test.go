package push_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/push"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/store"
)

var amd64 = image.Platform{OS: "linux", Architecture: "amd64"}

// pullTo pulls refs (from any of regs) into one archive of format, as haul
// pull writes it, and returns its path.
func pullTo(t *testing.T, format pull.Format, all bool, refs []string, regs ...*registrytest.Registry) string {
	t.Helper()
	return pullWith(t, pull.Config{Format: format, AllPlatforms: all}, refs, regs...)
}

// pullWith is pullTo with c's settings, its Source, Output and Prefer set.
func pullWith(t *testing.T, c pull.Config, refs []string, regs ...*registrytest.Registry) string {
	t.Helper()
	byHost := map[string]*registrytest.Registry{}
	for _, r := range regs {
		byHost[r.Host()] = r
	}
	out := filepath.Join(t.TempDir(), "bundle")
	c.Source = func(name string) (pull.Source, error) { return newClient(t, byHost[name], auth.Credential{}), nil }
	c.Output, c.Prefer = out, amd64
	var rs []ref.Reference
	for _, s := range refs {
		rs = append(rs, mustRef(t, s))
	}
	if _, err := pull.Pull(t.Context(), rs, c); err != nil {
		t.Fatal(err)
	}
	return out
}

// pushArchive pushes the archive at src to dst as haul push does, and
// returns the destinations and results.
func pushArchive(t *testing.T, src, dst string, keep bool, ac push.ArchiveConfig, c push.Config) ([]ref.Reference, []push.ArchiveResult, error) {
	t.Helper()
	rd, err := archive.Open(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	a, err := push.ReadArchive(t.Context(), rd, ac)
	if err != nil {
		return nil, nil, err
	}
	defer a.Close()
	d, err := push.ParseDest(dst)
	if err != nil {
		return nil, nil, err
	}
	to, err := d.Map(a.Images, keep)
	if err != nil {
		return nil, nil, err
	}
	res, err := push.PushArchive(t.Context(), a, to, c)
	return to, res, err
}

func strs(rs []ref.Reference) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.String())
	}
	return out
}

// TestPushArchiveKeepsDigests pulls images into each of haul's formats from
// one token-auth registry and pushes the archive into a second under a
// prefix: every manifest, index and blob reads back byte-exact at the path a
// mirror of the first would use.
func TestPushArchiveKeepsDigests(t *testing.T) {
	t.Parallel()
	formats := []pull.Format{pull.Docker, pull.OCI, pull.OCIArchive}
	for _, format := range formats {
		t.Run(string(format), func(t *testing.T) {
			t.Parallel()
			a := registrytest.New(t, registrytest.Config{TokenAuth: true})
			img := a.MustPush(t, "team/app:1", registrytest.RandomImage(41, 2, 30<<10))
			idx := a.MustPushIndex(t, "team/multi:2", platformImages(true))
			list := a.MustPushIndex(t, "team/list:3", platformImages(false))
			tests := []struct {
				name string
				refs []string
				all  bool
				want map[string]registrytest.Pushed // destination (under b's host) → what it must serve
			}{
				{"one image, to a full reference", []string{a.Ref("team/app:1")}, false,
					map[string]registrytest.Pushed{"x/app:v1": img}},
				{"a bundle under a prefix", []string{a.Ref("team/app:1"), a.Ref("team/list:3")}, false,
					map[string]registrytest.Pushed{"mirror/team/app:1": img, "mirror/team/list:3": list.Manifests[0]}},
				{"a whole index", []string{a.Ref("team/multi:2")}, true,
					map[string]registrytest.Pushed{"mirror/team/multi:2": idx}},
				{"by digest", []string{a.Ref("team/app@" + img.Digest.String())}, false,
					map[string]registrytest.Pushed{"mirror/team/app@" + img.Digest.String(): img}},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					b := registrytest.New(t, registrytest.Config{TokenAuth: true})
					src := pullTo(t, format, tc.all, tc.refs, a)
					dst := b.Host() + "/mirror"
					if len(tc.want) == 1 && strings.Contains(tc.name, "full reference") {
						dst = b.Ref("x/app:v1")
					}
					to, res, err := pushArchive(t, src, dst, false, push.ArchiveConfig{}, config(t, a, b))
					if err != nil {
						t.Fatal(err)
					}
					var wantTo []string
					for k := range tc.want {
						wantTo = append(wantTo, b.Ref(k))
					}
					if got := strs(to); !sameSet(got, wantTo) {
						t.Fatalf("destinations %v, want %v", got, wantTo)
					}
					cl := newClient(t, b, alice)
					for i, r := range to {
						p := tc.want[strings.TrimPrefix(r.String(), b.Host()+"/")]
						if res[i].Digest != p.Digest || res[i].Image.Built {
							t.Errorf("%s: pushed %s (built %v), want the archive's %s", r, res[i].Digest, res[i].Image.Built, p.Digest)
						}
						checkServed(t, cl, r, p)
						if r.Digest() != "" {
							if tags, _ := cl.Tags(t.Context(), r.WithTag("")); len(tags) != 0 {
								t.Errorf("%s went by digest, but the repository has tags %v", r, tags)
							}
						}
					}
				})
			}
		})
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestPushArchiveMapping: a bundle from two registries whose paths meet is
// refused before anything is sent, unless --keep-registry puts each
// registry's name first; a second push of the same archive sends nothing.
func TestPushArchiveMapping(t *testing.T) {
	t.Parallel()
	a := registrytest.New(t, registrytest.Config{TokenAuth: true})
	a2 := registrytest.New(t, registrytest.Config{TokenAuth: true})
	b := registrytest.New(t, registrytest.Config{TokenAuth: true})
	one := a.MustPush(t, "team/app:1", registrytest.RandomImage(51, 1, 10<<10))
	two := a2.MustPush(t, "team/app:2", registrytest.RandomImage(52, 1, 10<<10))
	src := pullTo(t, pull.Docker, false, []string{a.Ref("team/app:1"), a2.Ref("team/app:2")}, a, a2)
	log := &requestLog{}
	b.Wrap(log.wrap)

	_, _, err := pushArchive(t, src, b.Host()+"/mirror", false, push.ArchiveConfig{}, config(t, a, a2, b))
	if err == nil || !strings.Contains(err.Error(), "--keep-registry") || !strings.Contains(err.Error(), b.Host()+"/mirror/team/app") {
		t.Fatalf("a collision of two registries: got %v, want a refusal naming the repository and --keep-registry", err)
	}
	if n := len(log.methods()); n != 0 {
		t.Fatalf("a refused push asked the registry %d kinds of request: %v", n, log.methods())
	}

	to, res, err := pushArchive(t, src, b.Host()+"/mirror", true, push.ArchiveConfig{}, config(t, a, a2, b))
	if err != nil {
		t.Fatal(err)
	}
	host := func(r *registrytest.Registry) string { return strings.ReplaceAll(r.Host(), ":", "_") }
	want := []string{b.Ref("mirror/" + host(a) + "/team/app:1"), b.Ref("mirror/" + host(a2) + "/team/app:2")}
	if got := strs(to); !slices.Equal(got, want) {
		t.Fatalf("--keep-registry: destinations %v, want %v", got, want)
	}
	cl := newClient(t, b, alice)
	checkServed(t, cl, to[0], one)
	checkServed(t, cl, to[1], two)
	if res[0].Source.String() != a.Ref("team/app:1") {
		t.Errorf("result's source is %s, want %s", res[0].Source, a.Ref("team/app:1"))
	}

	_, res, err = pushArchive(t, src, b.Host()+"/mirror", true, push.ArchiveConfig{}, config(t, a, a2, b))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.UpToDate || r.Pushed.Blobs != 0 {
			t.Errorf("a second push of %s: up to date %v, %d blobs pushed; want nothing sent", r.Destination, r.UpToDate, r.Pushed.Blobs)
		}
	}
}

// TestPushArchiveDest: what DST may be, and what is refused by name.
func TestPushArchiveDest(t *testing.T) {
	t.Parallel()
	a := registrytest.New(t, registrytest.Config{TokenAuth: true})
	b := registrytest.New(t, registrytest.Config{TokenAuth: true})
	img := a.MustPush(t, "team/app:1", registrytest.RandomImage(61, 1, 10<<10))
	a.MustPush(t, "team/other:1", registrytest.RandomImage(62, 1, 10<<10))
	one := pullTo(t, pull.Docker, false, []string{a.Ref("team/app:1")}, a)
	two := pullTo(t, pull.Docker, false, []string{a.Ref("team/app:1"), a.Ref("team/other:1")}, a)
	unnamed := unnamedLayout(t, one, "")
	tagOnly := unnamedLayout(t, one, "v7")
	tests := []struct {
		name, src, dst string
		want           string // the destination, or the error's words
		fails          bool
	}{
		{"one image under a registry alone", one, b.Host(), b.Ref("team/app:1"), false},
		{"one image to a full reference", one, b.Ref("x/y:2"), b.Ref("x/y:2"), false},
		{"one image pinned to its digest", one, b.Ref("x/y@" + img.Digest.String()), b.Ref("x/y@" + img.Digest.String()), false},
		{"one image pinned to another digest", one, b.Ref("x/y@" + digest.FromString("no").String()), "a copy keeps digests", true},
		{"several images to one reference", two, b.Ref("x/y:2"), "names one image, and the archive holds 2", true},
		{"an image without a name under a registry", unnamed, b.Host(), "names no repository", true},
		{"an image without a name to a repository", unnamed, b.Host() + "/x/y", "names neither a repository nor a tag", true},
		{"an image without a name to a full reference", unnamed, b.Ref("x/y:3"), b.Ref("x/y:3"), false},
		{"an image with a bare tag to a repository", tagOnly, b.Host() + "/x/z", b.Ref("x/z:v7"), false},
		{"a scheme", one, "https://" + b.Host(), "without a scheme", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			to, _, err := pushArchive(t, tc.src, tc.dst, false, push.ArchiveConfig{}, config(t, a, b))
			if tc.fails {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, %v; want an error saying %q", strs(to), err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(to) != 1 || to[0].String() != tc.want {
				t.Fatalf("pushed to %v, want %s", strs(to), tc.want)
			}
			checkServed(t, newClient(t, b, alice), to[0], img)
		})
	}
}

// unnamedLayout copies the haul tar at src into an OCI layout directory
// whose index.json entry has no name but, when tag is set, ref.name: a bare
// tag, as skopeo's oci:DIR:TAG writes.
func unnamedLayout(t *testing.T, src, tag string) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		body, _ := io.ReadAll(tr)
		if h.Name == "index.json" {
			var idx ocispec.Index
			json.Unmarshal(body, &idx)
			for i := range idx.Manifests {
				idx.Manifests[i].Annotations = nil
				if tag != "" {
					idx.Manifests[i].Annotations = map[string]string{ocispec.AnnotationRefName: tag}
				}
			}
			body, _ = json.Marshal(idx)
		}
		if h.Name == "manifest.json" || h.Name == "repositories" {
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// dockerSave writes an archive as docker save wrote it before Docker 25
// (and skopeo's docker-archive: still does): manifest.json, <id>.json,
// <v1id>/layer.tar uncompressed, one layer twice by symlink. It returns
// the path, the config and the layers.
func dockerSave(t *testing.T, repoTags ...string) (string, []byte, [][]byte) {
	t.Helper()
	l1 := registrytest.Tar(map[string][]byte{"bin/": nil, "bin/sh": bytes.Repeat([]byte("#!"), 20<<10)})
	l2 := registrytest.Tar(map[string][]byte{"etc/os-release": []byte("ID=test")})
	layers := [][]byte{l1, l2, l1}
	var diffIDs []digest.Digest
	for _, l := range layers {
		diffIDs = append(diffIDs, digest.FromBytes(l))
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	id := digest.FromBytes(cfg).Encoded()
	a, b, c := strings.Repeat("a", 64), strings.Repeat("b", 64), strings.Repeat("c", 64)
	mj, _ := json.Marshal([]map[string]any{{
		"Config": id + ".json", "RepoTags": repoTags,
		"Layers": []string{a + "/layer.tar", b + "/layer.tar", c + "/layer.tar"},
	}})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	file := func(name string, body []byte) {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
		tw.Write(body)
	}
	file(id+".json", cfg)
	file(a+"/layer.tar", l1)
	file(b+"/layer.tar", l2)
	tw.WriteHeader(&tar.Header{Name: c + "/layer.tar", Linkname: "../" + a + "/layer.tar", Typeflag: tar.TypeSymlink})
	file("manifest.json", mj)
	tw.Close()
	p := filepath.Join(t.TempDir(), "save.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, cfg, layers
}

// TestPushDockerSave: an archive that holds no manifest gets one built by
// haul: the config's bytes kept (so the image ID), the layers as stored
// (their digests the diff_ids) or gzipped with Compress the same way twice;
// every layer read back has the config's diff_id.
func TestPushDockerSave(t *testing.T) {
	t.Parallel()
	b := registrytest.New(t, registrytest.Config{TokenAuth: true})
	src, cfg, layers := dockerSave(t, "example.com/team/app:1", "example.com/team/app:latest")
	tests := []struct {
		name     string
		compress bool
		media    string
	}{
		{"layers as stored", false, archive.MediaTypeDockerLayer},
		{"compressed", true, image.MediaTypeDockerLayerGzip},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dst := b.Host() + "/" + strings.ReplaceAll(tc.name, " ", "-")
			ac := push.ArchiveConfig{Compress: tc.compress, TempDir: t.TempDir()}
			to, res, err := pushArchive(t, src, dst, false, ac, config(t, b))
			if err != nil {
				t.Fatal(err)
			}
			if got, want := strs(to), []string{dst + "/team/app:1", dst + "/team/app:latest"}; !slices.Equal(got, want) {
				t.Fatalf("destinations %v, want %v", got, want)
			}
			if !res[0].Image.Built || res[1].Digest != res[0].Digest {
				t.Fatalf("built %v, digests %s %s: want one built manifest under both tags", res[0].Image.Built, res[0].Digest, res[1].Digest)
			}
			cl := newClient(t, b, alice)
			m, err := cl.Manifest(t.Context(), to[0])
			if err != nil {
				t.Fatal(err)
			}
			mf := m.Parsed.Manifest
			if m.Descriptor.Digest != res[0].Digest || mf.Config.Digest != digest.FromBytes(cfg) {
				t.Fatalf("served %s with config %s; want %s with the archive's config %s", m.Descriptor.Digest, mf.Config.Digest, res[0].Digest, digest.FromBytes(cfg))
			}
			for i, l := range mf.Layers {
				if l.MediaType != tc.media {
					t.Errorf("layer %d is %s, want %s", i, l.MediaType, tc.media)
				}
				if got := diffID(t, cl, to[0], l); got != digest.FromBytes(layers[i]) {
					t.Errorf("layer %d read back has diff_id %s, want %s", i, got, digest.FromBytes(layers[i]))
				}
			}
			if res[0].Pushed.Blobs != 3 { // the config and two layers: the third is the first again
				t.Errorf("%d blobs pushed, want 3", res[0].Pushed.Blobs)
			}
			_, again, err := pushArchive(t, src, dst, false, push.ArchiveConfig{Compress: tc.compress, TempDir: t.TempDir()}, config(t, b))
			if err != nil {
				t.Fatal(err)
			}
			if again[0].Digest != res[0].Digest || !again[0].UpToDate {
				t.Errorf("a second push built %s (up to date %v), the first %s: want the same manifest, nothing sent", again[0].Digest, again[0].UpToDate, res[0].Digest)
			}
		})
	}
}

// diffID reads layer l back from the registry and hashes it uncompressed.
func diffID(t *testing.T, cl *registry.Client, r ref.Reference, l image.Descriptor) digest.Digest {
	t.Helper()
	rc, err := cl.Blob(t.Context(), r, l)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var rd io.Reader = rc
	if l.MediaType == image.MediaTypeDockerLayerGzip {
		zr, err := gzip.NewReader(rc)
		if err != nil {
			t.Fatal(err)
		}
		rd = zr
	}
	h := digest.Canonical.Digester()
	if _, err := io.Copy(h.Hash(), rd); err != nil {
		t.Fatal(err)
	}
	return h.Digest()
}

// TestPushDockerSaveCorrupt: a layer whose bytes are not its diff_id is
// refused as it is read, and no manifest is put.
func TestPushDockerSaveCorrupt(t *testing.T) {
	t.Parallel()
	b := registrytest.New(t, registrytest.Config{TokenAuth: true})
	src, _, _ := dockerSave(t, "example.com/team/app:1")
	body, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(body, []byte("ID=test"))
	copy(body[i:], "ID=evil")
	os.WriteFile(src, body, 0o644)
	_, _, err = pushArchive(t, src, b.Host(), false, push.ArchiveConfig{}, config(t, b))
	var de *image.DigestError
	if !errors.As(err, &de) && !errors.Is(err, registry.ErrDigestInvalid) {
		t.Fatalf("got %v, want a digest error", err)
	}
	if _, ok, _ := newClient(t, b, alice).ManifestExists(t.Context(), mustRef(t, b.Ref("team/app:1"))); ok {
		t.Fatal("the manifest was put all the same")
	}
}

// TestPushArchivePartialIndex: an index the archive holds only some images
// of (docker save of one platform of a multi-platform image) cannot go whole;
// the image for the platform goes, under its own digest, and says which.
func TestPushArchivePartialIndex(t *testing.T) {
	t.Parallel()
	a := registrytest.New(t, registrytest.Config{TokenAuth: true})
	b := registrytest.New(t, registrytest.Config{TokenAuth: true})
	idx := a.MustPushIndex(t, "team/multi:2", platformImages(true))
	dir := pullTo(t, pull.OCI, true, []string{a.Ref("team/multi:2")}, a)
	arm := idx.Manifests[1]
	if err := os.Remove(filepath.Join(dir, "blobs", "sha256", arm.Digest.Encoded())); err != nil {
		t.Fatal(err)
	}
	to, res, err := pushArchive(t, dir, b.Host(), false, push.ArchiveConfig{Platform: amd64}, config(t, a, b))
	if err != nil {
		t.Fatal(err)
	}
	amd := idx.Manifests[0]
	if res[0].Digest != amd.Digest || res[0].Image.Platform != "linux/amd64" || to[0].String() != b.Ref("team/multi:2") {
		t.Fatalf("pushed %s (platform %q) to %s; want the amd64 image %s under %s", res[0].Digest, res[0].Image.Platform, to[0], amd.Digest, b.Ref("team/multi:2"))
	}
	checkServed(t, newClient(t, b, alice), to[0], amd)
}

// TestPushArchiveResumes: a push cut mid-blob and run again with the same
// sessions sends only the rest, read from the archive at that offset: in a
// haul tar, and in a layer --compress gzips again (the same bytes) in the
// second run.
func TestPushArchiveResumes(t *testing.T) {
	t.Parallel()
	const size = 3 << 20
	tests := []struct {
		name     string
		compress bool
		archive  func(t *testing.T) string
	}{
		{"a haul tar", false, func(t *testing.T) string {
			src := registrytest.New(t, registrytest.Config{TokenAuth: true})
			img := registrytest.RandomImage(71, 1, size)
			img.Layers[0] = randomBytes(size)
			src.MustPush(t, "team/app:1", img)
			return pullTo(t, pull.Docker, false, []string{src.Ref("team/app:1")}, src)
		}},
		{"docker save, compressed", true, func(t *testing.T) string {
			p, _, _ := bigDockerSave(t, size)
			return p
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src := tc.archive(t)
			dst := registrytest.New(t, registrytest.Config{TokenAuth: true, Dir: t.TempDir()})
			cache := t.TempDir()
			run := func(ctx context.Context) ([]push.ArchiveResult, error) {
				st, err := store.Open(store.Config{Dir: cache})
				if err != nil {
					t.Fatal(err)
				}
				c := config(t, dst)
				c.Sessions, c.Jobs = st.Uploads(), 1
				rd, err := archive.Open(ctx, src)
				if err != nil {
					t.Fatal(err)
				}
				defer rd.Close()
				a, err := push.ReadArchive(ctx, rd, push.ArchiveConfig{Compress: tc.compress, TempDir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				defer a.Close()
				to := []ref.Reference{mustRef(t, dst.Ref("mirror/app:1"))}
				return push.PushArchive(ctx, a, to, c)
			}
			const cutAt = size / 2
			ctx, cancel := context.WithCancel(t.Context())
			front := &cutFront{min: 1 << 20, cutAt: cutAt, onCut: cancel}
			dst.Wrap(front.wrap)
			if _, err := run(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("the cut push ended with %v, want context.Canceled", err)
			}
			cancel()
			var log requestLog
			dst.Wrap(log.wrap)
			res, err := run(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var big image.Descriptor
			for _, b := range res[0].Image.Plan.Root().Blobs {
				if b.Descriptor.Size > big.Size {
					big = b.Descriptor
				}
			}
			if got := log.patched.Load(); got != big.Size-cutAt {
				t.Errorf("the second run sent %d bytes, want the %d left after the cut", got, big.Size-cutAt)
			}
			if res[0].Resumed != cutAt {
				t.Errorf("resumed %d bytes, want %d", res[0].Resumed, cutAt)
			}
			m, err := newClient(t, dst, alice).Manifest(t.Context(), mustRef(t, dst.Ref("mirror/app:1")))
			if err != nil || m.Descriptor.Digest != res[0].Digest {
				t.Fatalf("read back %v, %v; want %s", m, err, res[0].Digest)
			}
		})
	}
}

// bigDockerSave is an old docker save of one uncompressed layer of random
// bytes (a tar holding them), about size bytes.
func bigDockerSave(t *testing.T, size int) (string, []byte, [][]byte) {
	t.Helper()
	l := registrytest.Tar(map[string][]byte{"blob": randomBytes(size)})
	cfg, _ := json.Marshal(map[string]any{"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{digest.FromBytes(l)}}})
	id := digest.FromBytes(cfg).Encoded()
	mj, _ := json.Marshal([]map[string]any{{"Config": id + ".json", "RepoTags": []string{"example.com/big:1"}, "Layers": []string{"l/layer.tar"}}})
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		body []byte
	}{{id + ".json", cfg}, {"l/layer.tar", l}, {"manifest.json", mj}} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg})
		tw.Write(f.body)
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "big.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, cfg, [][]byte{l}
}

// TestPushArchiveOneNameTwice: a pull of two platforms lists one name for
// two images; the first keeps the tag (as docker load keeps it), the other
// goes by its digest.
func TestPushArchiveOneNameTwice(t *testing.T) {
	t.Parallel()
	a := registrytest.New(t, registrytest.Config{TokenAuth: true})
	b := registrytest.New(t, registrytest.Config{TokenAuth: true})
	idx := a.MustPushIndex(t, "team/multi:2", platformImages(false))
	out := filepath.Join(t.TempDir(), "two.tar")
	c := pull.Config{
		Source:    func(string) (pull.Source, error) { return newClient(t, a, auth.Credential{}), nil },
		Output:    out,
		Platforms: []image.Platform{amd64, {OS: "linux", Architecture: "arm64"}},
	}
	if _, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, a.Ref("team/multi:2"))}, c); err != nil {
		t.Fatal(err)
	}
	to, _, err := pushArchive(t, out, b.Host(), false, push.ArchiveConfig{}, config(t, a, b))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{b.Ref("team/multi:2"), b.Ref("team/multi@" + idx.Manifests[1].Digest.String())}
	if got := strs(to); !slices.Equal(got, want) {
		t.Fatalf("destinations %v, want %v", got, want)
	}
	cl := newClient(t, b, alice)
	checkServed(t, cl, to[0], idx.Manifests[0])
	checkServed(t, cl, to[1], idx.Manifests[1])
}

// TestPushArchiveMountsShared: the second image of a bundle mounts the
// layer it shares with the first from the repository the first went to,
// and uploads only its own.
func TestPushArchiveMountsShared(t *testing.T) {
	t.Parallel()
	a := registrytest.New(t, registrytest.Config{TokenAuth: true})
	b := registrytest.New(t, registrytest.Config{TokenAuth: true})
	one := registrytest.RandomImage(81, 2, 20<<10)
	two := registrytest.RandomImage(82, 1, 20<<10)
	two.Layers = append([][]byte{one.Layers[0]}, two.Layers...) // a base layer in common
	p1 := a.MustPush(t, "team/one:1", one)
	p2 := a.MustPush(t, "team/two:1", two)
	src := pullTo(t, pull.Docker, false, []string{a.Ref("team/one:1"), a.Ref("team/two:1")}, a)
	to, res, err := pushArchive(t, src, b.Host()+"/m", false, push.ArchiveConfig{}, config(t, a, b))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Pushed.Blobs != 3 || res[1].Mounted.Blobs != 1 || res[1].Pushed.Blobs != 2 {
		t.Errorf("first: %d pushed; second: %d mounted, %d pushed; want 3, then 1 mounted (the shared layer) and 2 pushed",
			res[0].Pushed.Blobs, res[1].Mounted.Blobs, res[1].Pushed.Blobs)
	}
	cl := newClient(t, b, alice)
	checkServed(t, cl, to[0], p1)
	checkServed(t, cl, to[1], p2)
}
