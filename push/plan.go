package push

import (
	"context"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// Plan is what putting one image or index into a registry takes.
type Plan struct {
	// Source is where the plan was read from, for messages and for a mount:
	// a reference to a registry, or the zero Reference for a local archive.
	Source ref.Reference
	// Manifests in the order to put them: every child before the index
	// that lists it; the last is the root, which goes under the tag.
	Manifests []Manifest
	// Platform is set when the root was picked from an index for a
	// platform: the root is that child, not the index the source named.
	Platform string
	// Referrers are put after the manifests: what refers to them.
	Referrers []Referrer
}

// Root is the manifest the destination reference names.
func (p *Plan) Root() Manifest { return p.Manifests[len(p.Manifests)-1] }

// Manifest is one manifest or index to put, and the blobs it needs there
// first (an image manifest's config and layers; none for an index).
type Manifest struct {
	Descriptor image.Descriptor // media type, digest and size of Body
	Body       []byte           // exactly as read: the digest is of these bytes
	Blobs      []Blob
}

// Blob is one blob to put, and where its bytes come from.
type Blob struct {
	Descriptor image.Descriptor
	// Open reads the blob from any offset: from byte 0 verified; from an
	// offset, the rest (the destination's digest check at the end judges
	// the whole).
	Open registry.BlobSource
}

// Images builds plans: RegistryImages reads them from a registry; a local
// archive can give the same.
type Images interface {
	// Plan reads what r names: an image manifest, or an index with every
	// child (attestations too), or with platform set only the child an
	// index has for it.
	Plan(ctx context.Context, r ref.Reference, platform *image.Platform) (*Plan, error)
}

// Reader is what a copy reads from a source registry: a *registry.Client,
// or a *mirror.Source over the registry and its mirrors.
type Reader interface {
	Manifest(ctx context.Context, r ref.Reference) (*registry.Manifest, error)
	ManifestByDescriptor(ctx context.Context, r ref.Reference, d image.Descriptor) (*registry.Manifest, error)
	Digest(ctx context.Context, r ref.Reference) (digest.Digest, error)
	Blob(ctx context.Context, r ref.Reference, d image.Descriptor) (io.ReadCloser, error)
}

// blobSourcer is a Reader that reads a blob from an offset itself, with
// Range (a *registry.Client).
type blobSourcer interface {
	BlobSource(r ref.Reference, d image.Descriptor) registry.BlobSource
}

// RegistryImages reads plans from a registry through Reader.
type RegistryImages struct {
	Reader Reader
}

// maxDepth bounds how many indexes deep a plan follows.
const maxDepth = 8

// Plan reads r's manifest and, for an index, each child, verified against
// the index's descriptors.
func (s RegistryImages) Plan(ctx context.Context, r ref.Reference, platform *image.Platform) (*Plan, error) {
	m, err := s.Reader.Manifest(ctx, r)
	if err != nil {
		return nil, err
	}
	p := &Plan{Source: r}
	if platform != nil {
		return s.pick(ctx, p, r, m, *platform)
	}
	seen := map[digest.Digest]bool{}
	if err := s.add(ctx, p, r, m, 0, seen); err != nil {
		return nil, err
	}
	return p, nil
}

// add puts m's children (depth first), then m, into p.
func (s RegistryImages) add(ctx context.Context, p *Plan, r ref.Reference, m *registry.Manifest, depth int, seen map[digest.Digest]bool) error {
	if seen[m.Descriptor.Digest] {
		return nil // an index may list a manifest twice; put it once
	}
	seen[m.Descriptor.Digest] = true
	if idx := m.Parsed.Index; idx != nil {
		if depth >= maxDepth {
			return fmt.Errorf("reading %s: indexes nested more than %d deep", r, maxDepth)
		}
		for _, d := range idx.Manifests {
			child, err := s.child(ctx, r, d)
			if err != nil {
				return err
			}
			if err := s.add(ctx, p, r, child, depth+1, seen); err != nil {
				return err
			}
		}
	}
	p.Manifests = append(p.Manifests, s.manifest(r, m))
	return nil
}

// pick follows an index to platform's image manifest: the plan is that one.
func (s RegistryImages) pick(ctx context.Context, p *Plan, r ref.Reference, m *registry.Manifest, platform image.Platform) (*Plan, error) {
	for depth := 0; m.Parsed.Index != nil; depth++ {
		if depth >= maxDepth {
			return nil, fmt.Errorf("reading %s: indexes nested more than %d deep", r, maxDepth)
		}
		d, err := image.Select(m.Parsed.Index, platform)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", r, err)
		}
		if m, err = s.child(ctx, r, d); err != nil {
			return nil, err
		}
		p.Platform = image.FormatPlatform(platform)
		if d.Platform != nil {
			p.Platform = image.FormatPlatform(*d.Platform)
		}
	}
	p.Manifests = []Manifest{s.manifest(r, m)}
	return p, nil
}

// child reads the manifest an index entry names, which must be what the
// entry says it is.
func (s RegistryImages) child(ctx context.Context, r ref.Reference, d image.Descriptor) (*registry.Manifest, error) {
	m, err := s.Reader.ManifestByDescriptor(ctx, r, d)
	if err != nil {
		return nil, err
	}
	if d.MediaType != "" && d.MediaType != m.Descriptor.MediaType {
		return nil, fmt.Errorf("reading %s: its index says %s is %s, but it is %s", r, d.Digest, d.MediaType, m.Descriptor.MediaType)
	}
	return m, nil
}

// manifest is m with the blobs an image manifest needs.
func (s RegistryImages) manifest(r ref.Reference, m *registry.Manifest) Manifest {
	out := Manifest{Descriptor: m.Descriptor, Body: m.Body}
	im := m.Parsed.Manifest
	if im == nil {
		return out
	}
	for _, d := range append([]image.Descriptor{im.Config}, im.Layers...) {
		if len(d.URLs) > 0 && nondistributable(d.MediaType) {
			continue // a foreign layer lives at its URLs; registries accept its manifest without it
		}
		out.Blobs = append(out.Blobs, Blob{Descriptor: d, Open: s.blobSource(r, d)})
	}
	return out
}

func nondistributable(mt string) bool {
	switch mt {
	case image.MediaTypeDockerForeign,
		"application/vnd.oci.image.layer.nondistributable.v1.tar",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
		"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd":
		return true
	}
	return false
}

// blobSource opens blob d of r from an offset: by Range where the reader
// can; otherwise (a mirror) from byte 0, verified, with the bytes before the
// offset read and dropped, so that only the upload resumes.
func (s RegistryImages) blobSource(r ref.Reference, d image.Descriptor) registry.BlobSource {
	if bs, ok := s.Reader.(blobSourcer); ok {
		return bs.BlobSource(r, d)
	}
	return registry.BlobSourceFunc(func(ctx context.Context, offset int64) (io.ReadCloser, error) {
		rc, err := s.Reader.Blob(ctx, r, d)
		if err != nil {
			return nil, err
		}
		if _, err := io.CopyN(io.Discard, rc, offset); err != nil {
			rc.Close()
			return nil, fmt.Errorf("reading blob %s up to byte %d: %w", d.Digest, offset, err)
		}
		return rc, nil
	})
}
