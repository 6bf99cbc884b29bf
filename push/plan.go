package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"

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
	// Subset is set when the root is an index of which only the images
	// for some platforms go (RegistryImages.Platforms): the index itself
	// goes as read, so its digest is the source's.
	Subset *Subset
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
	// Platforms, when set, keeps of an index only the images for these
	// platforms and the attestations that refer to them; the index goes
	// unchanged after them, so its digest stays the source's, and a
	// registry that requires every image an index lists refuses it
	// (Put's *IncompleteIndexError). Each must be in the index (else an
	// *image.NoMatchError naming those it has). An image manifest goes
	// whole if it is built for one of them, else it is an
	// *image.PlatformError. Plan's platform argument and Platforms are
	// exclusive. nil: the whole index.
	Platforms []image.Platform
}

// maxDepth bounds how many indexes deep a plan follows.
const maxDepth = 8

// Plan reads r's manifest and, for an index, each child, verified against
// the index's descriptors.
func (s RegistryImages) Plan(ctx context.Context, r ref.Reference, platform *image.Platform) (*Plan, error) {
	if platform != nil && len(s.Platforms) > 0 {
		return nil, fmt.Errorf("reading %s: one platform or several, not both", r)
	}
	m, err := s.Reader.Manifest(ctx, r)
	if err != nil {
		return nil, err
	}
	p := &Plan{Source: r}
	switch {
	case platform != nil:
		return s.pick(ctx, p, r, m, *platform)
	case len(s.Platforms) > 0:
		return s.keep(ctx, p, r, m)
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
	if m.Parsed.Index == nil {
		if err := s.checkPlatforms(ctx, r, m, []image.Platform{platform}); err != nil {
			return nil, err
		}
	}
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

// keep plans m with only the images for s.Platforms: an index's kept
// entries (each with its children, depth first), then the index as read;
// an image manifest whole, if it is built for one of them.
func (s RegistryImages) keep(ctx context.Context, p *Plan, r ref.Reference, m *registry.Manifest) (*Plan, error) {
	sub, err := s.subset(ctx, r, m)
	if err != nil {
		return nil, err
	}
	if sub != nil {
		seen := map[digest.Digest]bool{m.Descriptor.Digest: true}
		for _, d := range sub.Kept {
			child, err := s.child(ctx, r, d)
			if err != nil {
				return nil, err
			}
			if err := s.add(ctx, p, r, child, 1, seen); err != nil {
				return nil, err
			}
		}
	}
	p.Manifests = append(p.Manifests, s.manifest(r, m))
	p.Subset = sub
	return p, nil
}

// Subset reads r's manifest and says what s.Platforms keep of it, as Plan
// would, without reading the images: nil for an image manifest built for
// one of them (it goes whole, and its config is read to know).
func (s RegistryImages) Subset(ctx context.Context, r ref.Reference) (*Subset, error) {
	m, err := s.Reader.Manifest(ctx, r)
	if err != nil {
		return nil, err
	}
	return s.subset(ctx, r, m)
}

func (s RegistryImages) subset(ctx context.Context, r ref.Reference, m *registry.Manifest) (*Subset, error) {
	if idx := m.Parsed.Index; idx != nil {
		sub, err := KeepPlatforms(idx, s.Platforms)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", r, err)
		}
		return sub, nil
	}
	return nil, s.checkPlatforms(ctx, r, m, s.Platforms)
}

// checkPlatforms fails with an *image.PlatformError unless the image
// manifest m is built for one of platforms, as its config says; a config
// that names no platform passes (image.CheckPlatform).
func (s RegistryImages) checkPlatforms(ctx context.Context, r ref.Reference, m *registry.Manifest, platforms []image.Platform) error {
	im := m.Parsed.Manifest
	if im == nil {
		return nil // no config to say what it is built for
	}
	cfg, err := s.config(ctx, r, im.Config)
	if err != nil {
		return err
	}
	var first error
	for _, want := range platforms {
		err := image.CheckPlatform(want, cfg)
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		}
	}
	if len(platforms) == 1 {
		return fmt.Errorf("reading %s: %w", r, first)
	}
	return fmt.Errorf("reading %s: built for none of the platforms listed: %w", r, first)
}

// config reads and decodes the image config d, verified.
func (s RegistryImages) config(ctx context.Context, r ref.Reference, d image.Descriptor) (image.Config, error) {
	cfg, err := image.ReadConfig(d, func() (io.ReadCloser, error) { return s.Reader.Blob(ctx, r, d) })
	if err != nil {
		return cfg, fmt.Errorf("reading the config of %s: %w", r, err)
	}
	return cfg, nil
}

// referenceDigest is the annotation buildx gives an attestation's index
// entry: the digest of the image it attests.
const referenceDigest = "vnd.docker.reference.digest"

// Subset is the part of an index that goes when only some of its
// platforms do: the index itself goes as read, after the entries kept.
type Subset struct {
	// Platforms of the images kept, as the index names them
	// (linux/arm64/v8), one per image, in the order asked.
	Platforms []string
	// Kept are the index's entries that go, in its order: the images for
	// Platforms and the attestations that refer to them.
	Kept []image.Descriptor
	// Left are the index's entries that do not go.
	Left []image.Descriptor
	// Images is how many images the index lists, attestations aside.
	Images int
}

// Whole reports whether every entry of the index goes: a registry then
// takes it as any complete index.
func (s *Subset) Whole() bool { return len(s.Left) == 0 }

// KeepPlatforms is what platforms keep of idx: for each, the image
// image.Select picks (an *image.NoMatchError, naming the platforms idx has,
// when it has none), and each attestation whose vnd.docker.reference.digest
// names a kept image.
func KeepPlatforms(idx *image.Index, platforms []image.Platform) (*Subset, error) {
	images := map[digest.Digest]bool{}
	sub := &Subset{}
	for _, want := range platforms {
		d, err := image.Select(idx, want)
		if err != nil {
			return nil, err
		}
		if !images[d.Digest] {
			images[d.Digest] = true
			sub.Platforms = append(sub.Platforms, image.FormatPlatform(*d.Platform)) // Select picks only entries with one
		}
	}
	for _, d := range idx.Manifests {
		keep := images[d.Digest]
		if image.IsAttestation(d) {
			keep = images[digest.Digest(d.Annotations[referenceDigest])]
		} else {
			sub.Images++
		}
		if keep {
			sub.Kept = append(sub.Kept, d)
		} else {
			sub.Left = append(sub.Left, d)
		}
	}
	return sub, nil
}

// IncompleteIndexError is a registry's refusal of an index of which a plan
// put only some images (RegistryImages.Platforms): the registry requires
// every image an index lists, as distribution 2.8 and 3 do unless
// configured otherwise (validation.manifests.indexes.platforms: none). The
// images kept were put before it, by digest, and stay.
type IncompleteIndexError struct {
	Registry string
	Index    digest.Digest
	Subset   *Subset
	Err      error // the registry's answer
}

func (e *IncompleteIndexError) Error() string {
	var images []string
	for _, d := range e.Subset.Kept {
		if !image.IsAttestation(d) && d.Platform != nil {
			images = append(images, image.FormatPlatform(*d.Platform)+" "+d.Digest.String())
		}
	}
	return fmt.Sprintf("%s requires every image an index lists, and refused index %s, which lists %d images: "+
		"only those for %s were copied, by digest (%s); list one platform (its image alone goes under the tag, "+
		"with its own digest, as with copy --platform) or none (the whole index)",
		e.Registry, e.Index, e.Subset.Images, strings.Join(e.Subset.Platforms, ", "), strings.Join(images, ", "))
}

func (e *IncompleteIndexError) Unwrap() error { return e.Err }

// refused is err, or an *IncompleteIndexError when err is the registry's
// refusal of the root of a plan that keeps only part of an index: a
// MANIFEST_BLOB_UNKNOWN (distribution) or MANIFEST_UNKNOWN answering the
// PUT of the root, which names the images left out.
func (p *Plan) refused(err error, to ref.Reference) error {
	var re *registry.Error
	if p.Subset == nil || p.Subset.Whole() || !errors.As(err, &re) || re.Method != http.MethodPut ||
		!(errors.Is(re, registry.ErrManifestBlobUnknown) || errors.Is(re, registry.ErrManifestUnknown)) {
		return err
	}
	root := p.Root().Descriptor.Digest
	u, perr := url.Parse(re.URL)
	if perr != nil {
		return err
	}
	if at := path.Base(u.Path); at != to.Tag() && at != root.String() {
		return err // a child's PUT: some other blob is missing
	}
	return &IncompleteIndexError{Registry: to.Registry(), Index: root, Subset: p.Subset, Err: err}
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
