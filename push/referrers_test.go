package push_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/push"
	"github.com/haul-dev/haul/registry"
)

const (
	sbomType = "application/spdx+json"
	sigType  = "application/vnd.dev.cosign.artifact.sig.v1+json"
)

// signed is an image in team/app:1 of a registry, with an SBOM that refers
// to it, a signature of the SBOM, and a cosign-style signature under the
// image's .sig tag: listed by the referrers API where api is set, else by
// fallback tag indexes.
type signed struct {
	reg            *registrytest.Registry
	api            *registrytest.ReferrersAPI
	img, sbom, sig registrytest.Pushed
	cosign         registrytest.Pushed
}

func newSigned(t *testing.T, withAPI bool) *signed {
	t.Helper()
	s := &signed{reg: registrytest.New(t, registrytest.Config{TokenAuth: true})}
	if withAPI {
		s.api = &registrytest.ReferrersAPI{}
		s.reg.Wrap(s.api.Wrap)
	}
	s.img = s.reg.MustPush(t, "team/app:1", registrytest.RandomImage(7, 1, 1<<10))
	sbom := registrytest.Artifact{ArtifactType: sbomType, Subject: descriptorOf(s.img), Data: []byte(`{"spdx":1}`), Annotations: map[string]string{"org.example": "sbom"}}
	s.sbom = s.artifact(t, "team/app@", sbom)
	sig := registrytest.Artifact{ArtifactType: sigType, Subject: descriptorOf(s.sbom), Data: []byte("signature of the sbom")}
	s.sig = s.artifact(t, "team/app@", sig)
	if !withAPI {
		s.fallback(t, s.img.Digest, registrytest.ReferrerDescriptor(s.sbom, sbom))
		s.fallback(t, s.sbom.Digest, registrytest.ReferrerDescriptor(s.sig, sig))
	}
	s.cosign = s.artifact(t, "team/app:"+fallbackTag(s.img.Digest)+".sig",
		registrytest.Artifact{ConfigMediaType: "application/vnd.oci.image.config.v1+json", Data: []byte(`{"cosign":1}`)})
	return s
}

func (s *signed) artifact(t *testing.T, at string, a registrytest.Artifact) registrytest.Pushed {
	t.Helper()
	p, err := s.reg.PushArtifact(t.Context(), at, a)
	if err != nil {
		t.Fatal(err)
	}
	if s.api != nil && a.Subject != nil {
		s.api.Add("team/app", a.Subject.Digest, registrytest.ReferrerDescriptor(p, a))
	}
	return p
}

func (s *signed) fallback(t *testing.T, subject digest.Digest, d ...ocispec.Descriptor) {
	t.Helper()
	if _, err := s.reg.PushFallbackIndex(t.Context(), "team/app", subject, d); err != nil {
		t.Fatal(err)
	}
}

func descriptorOf(p registrytest.Pushed) *ocispec.Descriptor {
	return &ocispec.Descriptor{MediaType: p.MediaType, Digest: p.Digest, Size: p.Size}
}

func fallbackTag(d digest.Digest) string { return "sha256-" + d.Encoded() }

// TestCopyReferrers: a copy carries what refers to the image (to depth 2,
// and cosign's tag), with every digest kept, written through the
// destination's referrers API where it has one, else into the fallback
// indexes, which are said to be new; --no-referrers leaves them.
func TestCopyReferrers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		srcAPI, dstAPI   bool
		noReferrers      bool
		wantIndexesAdded int
	}{
		{"fallback tags to fallback tags", false, false, false, 2},
		{"fallback tags to the referrers API", false, true, false, 0},
		{"the referrers API to fallback tags", true, false, false, 2},
		{"the referrers API to the referrers API", true, true, false, 0},
		{"no referrers", false, false, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := newSigned(t, tt.srcAPI)
			dst := registrytest.New(t, registrytest.Config{TokenAuth: true})
			var api *registrytest.ReferrersAPI
			if tt.dstAPI {
				api = &registrytest.ReferrersAPI{}
				dst.Wrap(api.Wrap)
			}
			c := config(t, src.reg, dst)
			c.NoReferrers = tt.noReferrers
			res, err := push.Copy(t.Context(), mustRef(t, src.reg.Ref("team/app:1")), mustRepo(t, dst.Ref("mirror/app")), c)
			if err != nil {
				t.Fatal(err)
			}
			wantN := 3
			if tt.noReferrers {
				wantN = 0
			}
			if res.Referrers != wantN || len(res.FallbackIndexes) != tt.wantIndexesAdded {
				t.Errorf("%d referrers put, %d fallback indexes written; want %d and %d", res.Referrers, len(res.FallbackIndexes), wantN, tt.wantIndexesAdded)
			}
			cl := newClient(t, dst, auth.Credential{})
			to := mustRef(t, dst.Ref("mirror/app:1"))
			got, err := cl.Referrers(t.Context(), to, src.img.Descriptor(), registry.ReferrersOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			if !tt.noReferrers {
				want = []string{
					line(src.img.Digest, src.sbom.Digest, ""),
					line(src.img.Digest, src.cosign.Digest, fallbackTag(src.img.Digest)+".sig"),
					line(src.sbom.Digest, src.sig.Digest, ""),
				}
			}
			if lines := referrerLines(got); !slices.Equal(lines, want) {
				t.Errorf("the destination's referrers:\n%q\nwant\n%q", lines, want)
			}
			if _, ok, err := cl.ManifestExists(t.Context(), to.WithTag(fallbackTag(src.img.Digest))); err != nil || ok != (tt.wantIndexesAdded > 0) {
				t.Errorf("fallback tag at the destination: %v (%v), want %v", ok, err, tt.wantIndexesAdded > 0)
			}
			for _, p := range []registrytest.Pushed{src.sbom, src.sig} {
				if !tt.noReferrers {
					checkServed(t, cl, to.WithDigest(p.Digest), p)
				}
			}
		})
	}
}

// TestCopyReferrersMerge: a destination whose fallback index already lists
// a referrer of its own keeps it; what the copy brings is added, and the
// index's new digest is reported. A second copy into another tag adds
// nothing and changes no index.
func TestCopyReferrersMerge(t *testing.T) {
	t.Parallel()
	src := newSigned(t, false)
	dst := &signed{reg: registrytest.New(t, registrytest.Config{TokenAuth: true})}
	dst.img = dst.reg.MustPush(t, "team/app:1", registrytest.RandomImage(7, 1, 1<<10)) // the same image
	if dst.img.Digest != src.img.Digest {
		t.Fatalf("the same image pushed twice has digests %s and %s", dst.img.Digest, src.img.Digest)
	}
	mine := registrytest.Artifact{ArtifactType: "application/x-mine", Subject: descriptorOf(dst.img), Data: []byte("the destination's own")}
	own := dst.artifact(t, "team/app@", mine)
	dst.fallback(t, dst.img.Digest, registrytest.ReferrerDescriptor(own, mine))
	c := config(t, src.reg, dst.reg)
	res, err := push.Copy(t.Context(), mustRef(t, src.reg.Ref("team/app:1")), mustRef(t, dst.reg.Ref("team/app:2")), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.FallbackIndexes) != 2 || res.FallbackIndexes[0].Added != 1 || res.FallbackIndexes[0].Digest == "" {
		t.Fatalf("fallback indexes written: %+v, want the image's with 1 added, and the SBOM's", res.FallbackIndexes)
	}
	cl := newClient(t, dst.reg, alice)
	m, err := cl.Manifest(t.Context(), res.FallbackIndexes[0].Ref)
	if err != nil {
		t.Fatal(err)
	}
	if m.Descriptor.Digest != res.FallbackIndexes[0].Digest {
		t.Errorf("the index under %s is %s, reported %s", res.FallbackIndexes[0].Ref, m.Descriptor.Digest, res.FallbackIndexes[0].Digest)
	}
	var listed []digest.Digest
	for _, d := range m.Parsed.Index.Manifests {
		listed = append(listed, d.Digest)
	}
	if want := []digest.Digest{own.Digest, src.sbom.Digest}; !slices.Equal(listed, want) {
		t.Errorf("the merged index lists %v, want %v", listed, want)
	}
	var log requestLog
	dst.reg.Wrap(log.wrap)
	again, err := push.Copy(t.Context(), mustRef(t, src.reg.Ref("team/app:1")), mustRef(t, dst.reg.Ref("team/app:3")), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.FallbackIndexes) != 0 || again.Referrers != 3 {
		t.Errorf("second copy: %d referrers, fallback indexes %+v; want 3 and none changed", again.Referrers, again.FallbackIndexes)
	}
	if n := log.patched.Load(); n != 0 {
		t.Errorf("second copy uploaded %d bytes, want none", n)
	}
	for _, r := range log.reqs {
		if r == http.MethodPut+" /v2/team/app/manifests/"+fallbackTag(src.img.Digest) {
			t.Errorf("second copy rewrote the fallback index: %v", log.reqs)
		}
	}
}

func line(subject, d digest.Digest, tag string) string {
	return subject.Encoded()[:8] + " " + d.Encoded()[:8] + " " + tag
}

func referrerLines(refs []registry.Referrer) []string {
	var out []string
	for _, r := range refs {
		out = append(out, line(r.Subject, r.Manifest.Descriptor.Digest, r.Tag))
	}
	return out
}

// TestPushArchiveReferrers: a bundle pulled with its referrers pushes them
// with its image, digests kept, into a registry without the referrers API
// (fallback indexes) and one with it; ArchiveConfig.NoReferrers leaves them.
func TestPushArchiveReferrers(t *testing.T) {
	t.Parallel()
	src := newSigned(t, false)
	bundle := pullWith(t, pull.Config{Referrers: true}, []string{src.reg.Ref("team/app:1")}, src.reg)
	for _, tt := range []struct {
		name               string
		dstAPI, noReferrer bool
	}{{"fallback tags", false, false}, {"the referrers API", true, false}, {"no referrers", false, true}} {
		t.Run(tt.name, func(t *testing.T) {
			dst := registrytest.New(t, registrytest.Config{TokenAuth: true})
			if tt.dstAPI {
				dst.Wrap((&registrytest.ReferrersAPI{}).Wrap)
			}
			_, results, err := pushArchive(t, bundle, dst.Host()+"/mirror", false, push.ArchiveConfig{NoReferrers: tt.noReferrer}, config(t, dst))
			if err != nil {
				t.Fatal(err)
			}
			res := results[0]
			cl := newClient(t, dst, auth.Credential{})
			got, err := cl.Referrers(t.Context(), res.Destination, src.img.Descriptor(), registry.ReferrersOptions{})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{
				line(src.img.Digest, src.sbom.Digest, ""),
				line(src.img.Digest, src.cosign.Digest, fallbackTag(src.img.Digest)+".sig"),
				line(src.sbom.Digest, src.sig.Digest, ""),
			}
			if tt.noReferrer {
				want = nil
			}
			if lines := referrerLines(got); !slices.Equal(lines, want) || res.Referrers != len(want) {
				t.Errorf("%d referrers put; the destination's:\n%q\nwant\n%q", res.Referrers, lines, want)
			}
			if wantIdx := !tt.dstAPI && !tt.noReferrer; (len(res.FallbackIndexes) == 2) != wantIdx {
				t.Errorf("fallback indexes written: %+v", res.FallbackIndexes)
			}
			if !tt.noReferrer {
				checkServed(t, cl, res.Destination.WithDigest(src.sig.Digest), src.sig)
			}
		})
	}
}
