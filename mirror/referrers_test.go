package mirror_test

import (
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// TestReferrersFromUpstream: pull --referrers through a mirror (an empty
// registry here) finds the upstream's referrers.
func TestReferrersFromUpstream(t *testing.T) {
	t.Parallel()
	up, img := upstream(t)
	mir := registrytest.New(t, registrytest.Config{})
	a := registrytest.Artifact{ArtifactType: "application/spdx+json", Data: []byte("sbom"),
		Subject: &ocispec.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: img.Size}}
	sbom, err := up.PushArtifact(t.Context(), "private/app@", a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := up.PushFallbackIndex(t.Context(), "private/app", img.Digest, []ocispec.Descriptor{registrytest.ReferrerDescriptor(sbom, a)}); err != nil {
		t.Fatal(err)
	}
	var src pull.Source = source(t, up.Host(), nil, mir.Host())
	rs, ok := src.(pull.ReferrerSource)
	if !ok {
		t.Fatal("a mirror Source is no pull.ReferrerSource")
	}
	r, err := ref.Parse(up.Ref(repoTag))
	if err != nil {
		t.Fatal(err)
	}
	got, err := rs.Referrers(t.Context(), r, img.Descriptor(), registry.ReferrersOptions{NoCosignTags: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Descriptor.Digest != sbom.Digest {
		t.Fatalf("Referrers = %+v, want the upstream's SBOM %s", got, sbom.Digest)
	}
}
