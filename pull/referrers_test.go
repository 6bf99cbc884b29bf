package pull_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/layout"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
)

// referrerSet is a two-platform index in a registry without the referrers
// API, and what refers to it: an SBOM of the index (its fallback tag), a
// signature of that SBOM (the SBOM's fallback tag), a cosign signature of
// the amd64 image (a .sig tag) and one of the arm64 image.
type referrerSet struct {
	reg                   *registrytest.Registry
	index                 registrytest.Pushed
	amd, arm              registrytest.Pushed
	sbom, sbomSig, amdSig registrytest.Pushed
	armSig                registrytest.Pushed
}

func newReferrerSet(t *testing.T) *referrerSet {
	t.Helper()
	s := &referrerSet{reg: registrytest.New(t, registrytest.Config{TokenAuth: true})}
	amd := registrytest.RandomImage(61, 1, 1<<10)
	arm := registrytest.RandomImage(62, 1, 1<<10)
	arm.Platform = ocispec.Platform{OS: "linux", Architecture: "arm64"}
	s.index = s.reg.MustPushIndex(t, "team/signed:1", registrytest.IndexSpec{Images: []registrytest.Image{amd, arm}, OCI: true})
	s.amd, s.arm = s.index.Manifests[0], s.index.Manifests[1]
	ctx := t.Context()
	push := func(tag string, a registrytest.Artifact) registrytest.Pushed {
		t.Helper()
		p, err := s.reg.PushArtifact(ctx, "team/signed"+tag, a)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	subject := func(p registrytest.Pushed) *ocispec.Descriptor {
		return &ocispec.Descriptor{MediaType: p.MediaType, Digest: p.Digest, Size: p.Size}
	}
	fallback := func(p registrytest.Pushed, refs ...ocispec.Descriptor) {
		t.Helper()
		if _, err := s.reg.PushFallbackIndex(ctx, "team/signed", p.Digest, refs); err != nil {
			t.Fatal(err)
		}
	}
	sbomA := registrytest.Artifact{ArtifactType: "application/spdx+json", Subject: subject(s.index), Data: []byte(`{"spdxVersion":"SPDX-2.3"}`),
		Annotations: map[string]string{"org.opencontainers.image.created": "2026-01-01T00:00:00Z"}}
	s.sbom = push("@", sbomA)
	fallback(s.index, registrytest.ReferrerDescriptor(s.sbom, sbomA))
	sigA := registrytest.Artifact{ArtifactType: "application/vnd.dev.sigstore.bundle.v0.3+json", Subject: subject(s.sbom), Data: []byte("signature of the sbom")}
	s.sbomSig = push("@", sigA)
	fallback(s.sbom, registrytest.ReferrerDescriptor(s.sbomSig, sigA))
	cosign := func(data string) registrytest.Artifact {
		return registrytest.Artifact{ConfigMediaType: ocispec.MediaTypeImageConfig, LayerMediaType: "application/vnd.dev.cosign.simplesigning.v1+json", Data: []byte(data)}
	}
	s.amdSig = push(":sha256-"+s.amd.Digest.Encoded()+".sig", cosign(`{"critical":{"image":"amd64"}}`))
	s.armSig = push(":sha256-"+s.arm.Digest.Encoded()+".sig", cosign(`{"critical":{"image":"arm64"}}`))
	return s
}

// artifactBlobs is an artifact's manifest, config and layers.
func artifactBlobs(p registrytest.Pushed) []image.Descriptor {
	return append([]image.Descriptor{p.Descriptor(), p.Config}, p.Layers...)
}

// TestPullReferrers: with Referrers, the output holds the referrers of the
// index and of the child kept (not of the child left), recursively, in
// blobs/ and as unnamed index.json entries annotated with their subject;
// manifest.json lists the image alone, and haul's archive reader sees one
// image and the referrers beside it.
func TestPullReferrers(t *testing.T) {
	t.Parallel()
	s := newReferrerSet(t)
	cl := newClient(t, s.reg, auth.Credential{})
	name := s.reg.Ref("team/signed:1")
	amdTag := "sha256-" + s.amd.Digest.Encoded() + ".sig"
	want := map[string]string{ // referrer digest -> subject, tag
		s.sbom.Digest.String():    s.index.Digest.String() + " ",
		s.sbomSig.Digest.String(): s.sbom.Digest.String() + " ",
		s.amdSig.Digest.String():  s.amd.Digest.String() + " " + amdTag,
	}
	var blobs []image.Descriptor
	for _, p := range []registrytest.Pushed{s.sbom, s.sbomSig, s.amdSig} {
		blobs = append(blobs, artifactBlobs(p)...)
	}
	for _, f := range []pull.Format{pull.Docker, pull.OCIArchive, pull.OCI, "stream"} {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			c := config(t, cl, nil)
			c.Referrers = true
			c.Platforms = []image.Platform{{OS: "linux", Architecture: "amd64"}}
			var buf bytes.Buffer
			switch f {
			case pull.OCI:
				c.Format, c.Output = f, filepath.Join(t.TempDir(), "layout")
			case "stream":
				c.Format, c.Output, c.Stdout = pull.Docker, "-", &buf
			default:
				c.Format = f
			}
			res, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, name)}, c)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Images) != 1 || res.Images[0].Referrers != 3 {
				t.Fatalf("Result.Images = %+v, want one with 3 referrers", res.Images)
			}
			var fs files
			switch f {
			case pull.OCI:
				fs = readDir(t, c.Output)
			case "stream":
				fs = readTar(t, &buf)
			default:
				fs = readTarFile(t, c.Output)
			}
			fs.has(t, blobs...)
			fs.has(t, s.index.Descriptor()) // the SBOM's subject, not listed
			if _, ok := fs[blobName(s.armSig.Digest)]; ok {
				t.Error("the output holds the signature of the arm64 image, which was not kept")
			}
			got := map[string]string{}
			for _, d := range fs.index(t).Manifests {
				if !layout.IsReferrer(d) {
					if d.Digest != s.amd.Digest {
						t.Errorf("index.json lists %s, neither the amd64 image nor a referrer", d.Digest)
					}
					continue
				}
				if d.Annotations[layout.AnnotationRefName] != "" || d.Annotations[layout.AnnotationImageName] != "" {
					t.Errorf("referrer %s is named: %v", d.Digest, d.Annotations)
				}
				got[d.Digest.String()] = d.Annotations[layout.AnnotationReferrerSubject] + " " + d.Annotations[layout.AnnotationReferrerTag]
				if d.Digest == s.sbom.Digest && (d.ArtifactType != "application/spdx+json" || d.Annotations["org.opencontainers.image.created"] == "") {
					t.Errorf("the SBOM's entry %+v lost the artifactType or annotations it was listed with", d)
				}
			}
			if !mapsEqual(got, want) {
				t.Errorf("index.json's referrers (digest: subject tag) = %v, want %v", got, want)
			}
			if f == pull.Docker || f == "stream" {
				if items := fs.manifestJSON(t); len(items) != 1 || len(items[0].RepoTags) != 1 {
					t.Errorf("manifest.json = %+v, want the image alone", items)
				}
			}
			if f == pull.Docker || f == pull.OCI {
				checkArchiveReader(t, c.Output, name, 3)
			}
		})
	}
}

// TestPullReferrersAllPlatforms: with --platform all, every child's
// referrers are kept, and the index is what index.json names.
func TestPullReferrersAllPlatforms(t *testing.T) {
	t.Parallel()
	s := newReferrerSet(t)
	c := config(t, newClient(t, s.reg, auth.Credential{}), nil)
	c.Referrers, c.AllPlatforms, c.Format = true, true, pull.OCIArchive
	res, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, s.reg.Ref("team/signed:1"))}, c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Images[0].Referrers != 4 {
		t.Errorf("Referrers = %d, want 4 (the SBOM, its signature, and a signature of each image)", res.Images[0].Referrers)
	}
	fs := readTarFile(t, c.Output)
	for _, p := range []registrytest.Pushed{s.sbom, s.sbomSig, s.amdSig, s.armSig} {
		fs.has(t, artifactBlobs(p)...)
	}
	var named []string
	for _, d := range fs.index(t).Manifests {
		if !layout.IsReferrer(d) {
			named = append(named, d.Digest.String())
		}
	}
	if !slices.Equal(named, []string{s.index.Digest.String()}) {
		t.Errorf("index.json's images = %v, want the index alone", named)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// checkArchiveReader opens what a pull wrote as haul unpack and push do: one
// image, found without a name, and the referrers apart.
func checkArchiveReader(t *testing.T, path, name string, referrers int) {
	t.Helper()
	r, err := archive.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if imgs := r.Images(); len(imgs) != 1 || !slices.Contains(imgs[0].Names, name) {
		t.Errorf("archive.Images = %+v, want %s alone", imgs, name)
	}
	if n := len(r.Referrers()); n != referrers {
		t.Errorf("archive.Referrers lists %d, want %d", n, referrers)
	}
	if _, err := r.Image(t.Context(), "", image.Platform{OS: "linux", Architecture: "amd64"}); err != nil {
		t.Errorf("the image, asked for without a name: %v", err)
	}
}

// TestPullReferrersRequests: without Referrers a pull asks the registry for
// nothing more than it did before (no referrers API, no fallback or cosign
// tag); with it, it asks.
func TestPullReferrersRequests(t *testing.T) {
	t.Parallel()
	s := newReferrerSet(t)
	var mu sync.Mutex
	var reqs []string
	s.reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			reqs = append(reqs, r.Method+" "+r.URL.Path)
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})
	count := func(referrers bool) (all, extra int) {
		mu.Lock()
		reqs = nil
		mu.Unlock()
		c := config(t, newClient(t, s.reg, auth.Credential{}), nil)
		c.Referrers = referrers
		c.Platforms = []image.Platform{{OS: "linux", Architecture: "amd64"}}
		if _, err := pull.Pull(context.Background(), []ref.Reference{mustRef(t, s.reg.Ref("team/signed:1"))}, c); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, r := range reqs {
			if r == "GET /v2/" {
				continue
			}
			all++
			if strings.Contains(r, "/referrers/") || strings.Contains(r, "/manifests/sha256-") {
				extra++
			}
		}
		return all, extra
	}
	// The index, the amd64 manifest, its config and layer, each asked once
	// (a 401 first, then with the token: the token dance is per scope, once).
	all, extra := count(false)
	if extra != 0 || all != 5 {
		t.Errorf("without referrers: %d requests, %d for referrers; want 5 (4 and the first 401), none for referrers\n%s", all, extra, strings.Join(reqs, "\n"))
	}
	if _, extra := count(true); extra == 0 {
		t.Error("with referrers: no request for them")
	}
}

// TestPullReferrerIndex: a referrer that is an index (of attestations, say)
// brings its children and their blobs.
func TestPullReferrerIndex(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	img := reg.MustPush(t, "team/app:1", registrytest.RandomImage(71, 1, 1<<10))
	ctx := t.Context()
	child, err := reg.PushArtifact(ctx, "team/app@", registrytest.Artifact{ArtifactType: "application/vnd.in-toto+json", Data: []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)})
	if err != nil {
		t.Fatal(err)
	}
	idx, err := json.Marshal(ocispec.Index{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageIndex,
		ArtifactType: "application/vnd.example.attestations",
		Manifests:    []ocispec.Descriptor{child.Descriptor()},
		Subject:      &ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: img.Size},
	})
	if err != nil {
		t.Fatal(err)
	}
	idxDigest, err := reg.PushManifest(ctx, "team/app", "", ocispec.MediaTypeImageIndex, idx)
	if err != nil {
		t.Fatal(err)
	}
	idxDesc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: idxDigest, Size: int64(len(idx)), ArtifactType: "application/vnd.example.attestations"}
	if _, err := reg.PushFallbackIndex(ctx, "team/app", img.Digest, []ocispec.Descriptor{idxDesc}); err != nil {
		t.Fatal(err)
	}
	c := config(t, newClient(t, reg, auth.Credential{}), nil)
	c.Referrers = true
	res, err := pull.Pull(ctx, []ref.Reference{mustRef(t, reg.Ref("team/app:1"))}, c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Images[0].Referrers != 1 {
		t.Errorf("Referrers = %d, want 1 (the index)", res.Images[0].Referrers)
	}
	fs := readTarFile(t, c.Output)
	fs.has(t, idxDesc)
	fs.has(t, artifactBlobs(child)...)
	checkArchiveReader(t, c.Output, reg.Ref("team/app:1"), 1)
}
