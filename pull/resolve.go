package pull

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/store"
)

// maxIndexDepth bounds nested indexes, as the registry client does.
const maxIndexDepth = 8

// origin says where a blob is fetched from.
type origin struct {
	src Source
	ref ref.Reference
}

// plan is what resolution decided: the images to write, the manifests already
// in hand, and where each blob comes from.
type plan struct {
	images    []archive.Image
	manifests map[digest.Digest][]byte // manifests and indexes, fetched while resolving
	blobs     []image.Descriptor       // configs and layers to fetch, each once
	origins   map[digest.Digest]origin
	pulled    []Pulled
	// order is every manifest and index in the order resolution first
	// read it: a REF's own are the subjects whose referrers it keeps.
	order     []image.Descriptor
	referrers map[digest.Digest]bool // those in images already
}

func newPlan() *plan {
	return &plan{manifests: map[digest.Digest][]byte{}, origins: map[digest.Digest]origin{}, referrers: map[digest.Digest]bool{}}
}

// addBlob notes a blob to fetch, once.
func (p *plan) addBlob(d image.Descriptor, o origin) {
	if _, ok := p.origins[d.Digest]; ok {
		return
	}
	p.origins[d.Digest] = o
	if _, ok := p.manifests[d.Digest]; !ok {
		p.blobs = append(p.blobs, d)
	}
}

func (p *plan) addManifest(m *registry.Manifest, o origin) {
	if _, ok := p.manifests[m.Descriptor.Digest]; !ok {
		p.manifests[m.Descriptor.Digest] = m.Body
		p.order = append(p.order, m.Descriptor)
	}
	if _, ok := p.origins[m.Descriptor.Digest]; !ok {
		p.origins[m.Descriptor.Digest] = o
	}
}

// resolve fetches r's manifest and decides what of it to keep.
func (p *plan) resolve(ctx context.Context, c Config, r ref.Reference) error {
	src, err := c.Source(r.Registry())
	if err != nil {
		return err
	}
	o := origin{src: src, ref: r}
	top, err := src.Manifest(ctx, r)
	if err != nil {
		return err
	}
	first := len(p.order)
	p.addManifest(top, o)
	name, repoTag := r.String(), ""
	if r.Digest() == "" {
		repoTag = r.Familiar()
	}
	pulled := Pulled{Ref: r, Digest: top.Descriptor.Digest, MediaType: top.Descriptor.MediaType}
	switch {
	case top.Parsed.Manifest != nil:
		if err := checkPlatforms(ctx, o, top.Parsed.Manifest.Config, c.Platforms); err != nil {
			return fmt.Errorf("resolving %s: %w", r, err)
		}
		img := p.image(name, repoTag, top.Descriptor, top, o)
		p.images = append(p.images, img)
		pulled.Platforms = append(pulled.Platforms, "")
		pulled.Manifests = append(pulled.Manifests, kept(top, ""))
	case c.AllPlatforms:
		img := archive.Image{Name: name, RepoTag: repoTag, Root: top.Descriptor, Blobs: []image.Descriptor{top.Descriptor}}
		w := &walk{p: p, o: o, seen: map[digest.Digest]bool{top.Descriptor.Digest: true}, img: &img}
		if err := w.all(ctx, top, 0); err != nil {
			return err
		}
		children := w.children
		// manifest.json holds one image per tag: the host's, as docker load keeps.
		if d, err := image.Select(top.Parsed.Index, image.Host()); err == nil {
			for _, m := range children {
				if m.Descriptor.Digest == d.Digest && m.Parsed.Manifest != nil {
					md := m.Descriptor
					img.Manifest, img.Config, img.Layers = &md, m.Parsed.Manifest.Config, m.Parsed.Manifest.Layers
				}
			}
		}
		for _, d := range top.Parsed.Index.Manifests {
			if d.Platform != nil && !image.IsAttestation(d) {
				pulled.Platforms = append(pulled.Platforms, image.FormatPlatform(*d.Platform))
				if m := w.child(d.Digest); m != nil && m.Parsed.Manifest != nil {
					pulled.Manifests = append(pulled.Manifests, kept(m, image.FormatPlatform(*d.Platform)))
				}
			}
		}
		p.images = append(p.images, img)
	default:
		platforms := c.Platforms
		if len(platforms) == 0 {
			platforms = []image.Platform{c.Prefer}
			if c.Prefer.OS == "" {
				platforms[0] = image.Host()
			}
		}
		for i, want := range platforms {
			m, d, err := p.selectPlatform(ctx, o, top, want)
			if err != nil {
				return fmt.Errorf("resolving %s: %w", r, err)
			}
			tag := repoTag
			if i > 0 {
				tag = "" // docker load keeps one image per tag: the first platform asked for
			}
			img := p.image(name, tag, d, m, o)
			if i > 0 {
				img.Manifest = nil
			}
			p.images = append(p.images, img)
			pulled.Platforms = append(pulled.Platforms, image.FormatPlatform(want))
			got := want // the index's entry may say more: a variant
			if d.Platform != nil {
				got = *d.Platform
			}
			pulled.Manifests = append(pulled.Manifests, kept(m, image.FormatPlatform(got)))
		}
	}
	if c.Referrers {
		subjects := slices.Clone(p.order[first:])
		if pulled.Referrers, err = p.addReferrers(ctx, o, subjects); err != nil {
			return fmt.Errorf("resolving %s: %w", r, err)
		}
	}
	p.pulled = append(p.pulled, pulled)
	return nil
}

// kept describes the image manifest m, of platform ("" if not known yet).
func kept(m *registry.Manifest, platform string) Kept {
	c := m.Parsed.Manifest.Config
	return Kept{Platform: platform, Manifest: m.Descriptor.Digest, Config: c.Digest, config: c}
}

// checkPlatforms fails with an *image.PlatformError when platforms were asked
// for and the image manifest (no index: it has no other platform) is built
// for another, as docker refuses it. Its config says which; with no
// platforms asked for, nothing is fetched.
func checkPlatforms(ctx context.Context, o origin, cd image.Descriptor, platforms []image.Platform) error {
	if len(platforms) == 0 {
		return nil
	}
	// The reader stops at cd.Size and verifies the digest.
	cfg, err := image.ReadConfig(cd, func() (io.ReadCloser, error) { return o.src.BlobAt(ctx, o.ref, cd, 0, nil) })
	if err != nil {
		return err
	}
	for _, want := range platforms {
		if err := image.CheckPlatform(want, cfg); err != nil {
			return err
		}
	}
	return nil
}

// image is the archive entry for one image manifest m, listed under root.
func (p *plan) image(name, repoTag string, root image.Descriptor, m *registry.Manifest, o origin) archive.Image {
	mf := m.Parsed.Manifest
	md := m.Descriptor
	img := archive.Image{Name: name, RepoTag: repoTag, Root: root, Manifest: &md, Config: mf.Config, Layers: mf.Layers}
	img.Blobs = append(img.Blobs, md, mf.Config)
	img.Blobs = append(img.Blobs, mf.Layers...)
	p.addBlob(mf.Config, o)
	for _, l := range mf.Layers {
		p.addBlob(l, o)
	}
	return img
}

// selectPlatform walks from an index down to the image manifest for want.
func (p *plan) selectPlatform(ctx context.Context, o origin, top *registry.Manifest, want image.Platform) (*registry.Manifest, image.Descriptor, error) {
	m := top
	seen := map[digest.Digest]bool{top.Descriptor.Digest: true}
	var d image.Descriptor
	for depth := 0; m.Parsed.Index != nil; depth++ {
		if depth >= maxIndexDepth {
			return nil, d, fmt.Errorf("indexes nested more than %d deep", maxIndexDepth)
		}
		var err error
		if d, err = image.Select(m.Parsed.Index, want); err != nil {
			return nil, d, err
		}
		if seen[d.Digest] {
			return nil, d, fmt.Errorf("index %s refers back to itself", d.Digest)
		}
		seen[d.Digest] = true
		if m, err = o.src.ManifestByDescriptor(ctx, o.ref, d); err != nil {
			return nil, d, err
		}
		p.addManifest(m, o)
	}
	return m, d, nil
}

// walk is a walk of a whole index, for --platform all.
type walk struct {
	p        *plan
	o        origin
	seen     map[digest.Digest]bool
	img      *archive.Image // gets every blob
	children []*registry.Manifest
}

// child is the child manifest dg that the walk fetched, or nil.
func (w *walk) child(dg digest.Digest) *registry.Manifest {
	for _, m := range w.children {
		if m.Descriptor.Digest == dg {
			return m
		}
	}
	return nil
}

// all fetches every child of idx, recursively, and notes every blob.
func (w *walk) all(ctx context.Context, idx *registry.Manifest, depth int) error {
	if depth >= maxIndexDepth {
		return fmt.Errorf("resolving %s: indexes nested more than %d deep", w.o.ref, maxIndexDepth)
	}
	for _, d := range idx.Parsed.Index.Manifests {
		if w.seen[d.Digest] {
			continue
		}
		w.seen[d.Digest] = true
		m, err := w.o.src.ManifestByDescriptor(ctx, w.o.ref, d)
		if err != nil {
			return err
		}
		w.p.addManifest(m, w.o)
		w.children = append(w.children, m)
		w.img.Blobs = append(w.img.Blobs, m.Descriptor)
		if m.Parsed.Index != nil {
			if err := w.all(ctx, m, depth+1); err != nil {
				return err
			}
			continue
		}
		mf := m.Parsed.Manifest
		w.img.Blobs = append(w.img.Blobs, mf.Config)
		w.img.Blobs = append(w.img.Blobs, mf.Layers...)
		w.p.addBlob(mf.Config, w.o)
		for _, l := range mf.Layers {
			w.p.addBlob(l, w.o)
		}
	}
	return nil
}

// fillPlatforms gives each image kept whose index named no platform the
// platform its config says, when st holds the config (a tar pull keeps
// configs in the cache too, unless it has none). It only adds to a result:
// a config it cannot read leaves the platform unknown.
func fillPlatforms(ctx context.Context, st *store.Store, res *Result) {
	if st == nil {
		return
	}
	for i := range res.Images {
		for j := range res.Images[i].Manifests {
			k := &res.Images[i].Manifests[j]
			if k.Platform != "" {
				continue
			}
			if cfg, err := storedConfig(ctx, st, k.config); err == nil && cfg.OS != "" {
				k.Platform = image.FormatPlatform(image.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant})
			}
		}
	}
}
