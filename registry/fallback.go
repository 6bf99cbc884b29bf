package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
)

// PushReferrer puts a referrer's manifest (one that names a subject) as
// PushManifest does, and reports whether the registry lists it in its
// referrers API itself: a registry that has the API answers such a PUT
// with OCI-Subject (OCI distribution spec 1.1). One that does not keeps
// referrers only where a client writes them: AddReferrers.
func (c *Client) PushReferrer(ctx context.Context, r ref.Reference, body []byte, mediaType string) (digest.Digest, bool, error) {
	d, h, err := c.putManifest(ctx, r, body, mediaType)
	if err != nil {
		return "", false, err
	}
	return d, h.Get("OCI-Subject") != "", nil
}

// FallbackIndex is the index of a subject's referrers that a registry
// without the referrers API keeps under the subject's fallback tag.
type FallbackIndex struct {
	Ref    ref.Reference // the repository, with FallbackTag(subject)
	Digest digest.Digest // of the index now under the tag
	// Added is how many referrers AddReferrers put in it; 0: the index
	// already listed them all, and neither it nor its digest changed.
	Added int
}

// AddReferrers lists referrers (descriptors as the referrers API lists
// them: media type, digest, size, artifactType, annotations) in the index
// under subject's fallback tag in r's repository: the index there, with
// those it lacks appended, or a new one. The index's digest changes with
// it: it is the one manifest whose bytes a copy writes anew. Referrers
// already listed cost a HEAD and a GET and nothing more.
func (c *Client) AddReferrers(ctx context.Context, r ref.Reference, subject digest.Digest, referrers []image.Descriptor) (FallbackIndex, error) {
	at := r.WithTag(FallbackTag(subject))
	what := "listing referrers of " + subject.String() + " under " + at.String()
	idx, current, err := c.fallbackIndex(ctx, at)
	if err != nil {
		return FallbackIndex{}, fmt.Errorf("%s: %w", what, err)
	}
	out := FallbackIndex{Ref: at, Digest: current}
	for _, d := range referrers {
		if !slices.ContainsFunc(idx.Manifests, func(x image.Descriptor) bool { return x.Digest == d.Digest }) {
			idx.Manifests = append(idx.Manifests, d)
			out.Added++
		}
	}
	if out.Added == 0 {
		return out, nil
	}
	body, err := json.Marshal(idx)
	if err != nil {
		return FallbackIndex{}, fmt.Errorf("%s: %w", what, err)
	}
	if out.Digest, err = c.PushManifest(ctx, at, body, image.MediaTypeOCIIndex); err != nil {
		return FallbackIndex{}, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// fallbackIndex reads the index under a fallback tag, and its digest; an
// empty index and "" where the tag is not there yet. A tag that holds
// anything but an OCI index is no referrers index: refused, not replaced.
func (c *Client) fallbackIndex(ctx context.Context, at ref.Reference) (*image.Index, digest.Digest, error) {
	empty := &image.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: image.MediaTypeOCIIndex, Manifests: []image.Descriptor{}}
	if _, ok, err := c.ManifestExists(ctx, at); err != nil || !ok {
		return empty, "", err
	}
	m, err := c.Manifest(ctx, at)
	if err != nil {
		return nil, "", err
	}
	if m.Descriptor.MediaType != image.MediaTypeOCIIndex || m.Parsed.Index == nil {
		return nil, "", fmt.Errorf("the tag holds a %s, not the OCI index of referrers the distribution spec keeps there: left as it is", m.Descriptor.MediaType)
	}
	idx := *m.Parsed.Index
	if idx.Manifests == nil {
		idx.Manifests = []image.Descriptor{}
	}
	return &idx, m.Descriptor.Digest, nil
}

// ReferrerDescriptor is m as a referrers list names it (OCI distribution
// spec 1.1): its media type, digest and size, its artifactType (else, for
// an image manifest, its config's media type) and its annotations.
func ReferrerDescriptor(m *Manifest) image.Descriptor {
	d := image.Descriptor{MediaType: m.Descriptor.MediaType, Digest: m.Descriptor.Digest, Size: m.Descriptor.Size, ArtifactType: artifactType(m.Parsed)}
	if m.Parsed.Manifest != nil {
		d.Annotations = m.Parsed.Manifest.Annotations
	} else {
		d.Annotations = m.Parsed.Index.Annotations
	}
	return d
}
