package pull

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/layout"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// ReferrerSource is what Config.Referrers needs of a Source as well;
// *registry.Client satisfies it.
type ReferrerSource interface {
	Referrers(ctx context.Context, r ref.Reference, subject image.Descriptor, opts registry.ReferrersOptions) ([]registry.Referrer, error)
}

// addReferrers adds to the plan the referrers of each subject (what was
// kept of one REF: its manifest or index, each child kept), recursively as
// registry.Referrers finds them, each once in the output however many
// subjects or REFs lead to it. It returns how many the REF has.
func (p *plan) addReferrers(ctx context.Context, o origin, subjects []image.Descriptor) (int, error) {
	rs, ok := o.src.(ReferrerSource)
	if !ok {
		return 0, fmt.Errorf("the source of %s cannot list referrers", o.ref)
	}
	mine := map[digest.Digest]bool{}
	for _, s := range subjects {
		found, err := rs.Referrers(ctx, o.ref, s, registry.ReferrersOptions{})
		if err != nil {
			return 0, err
		}
		for _, rf := range found {
			mine[rf.Descriptor.Digest] = true
			if p.referrers[rf.Descriptor.Digest] {
				continue
			}
			p.referrers[rf.Descriptor.Digest] = true
			img, err := p.referrerImage(ctx, o, rf)
			if err != nil {
				return 0, fmt.Errorf("referrer %s of %s: %w", rf.Descriptor.Digest, rf.Subject, err)
			}
			p.images = append(p.images, img)
		}
	}
	return len(mine), nil
}

// referrerImage is the archive entry of a referrer: listed in index.json
// without a name and annotated with its subject (referrerEntry), left out
// of docker's manifest.json (no Manifest), so that docker load and podman
// load load the images as before. Its manifest and every blob it needs
// (config and layers; an index's children, theirs) go in the output, and
// its subject's manifest, read while resolving: an index of which one
// platform was kept is then in the output too (not listed), so that a
// signature of the index can be checked against it, and the index against
// the image.
func (p *plan) referrerImage(ctx context.Context, o origin, rf registry.Referrer) (archive.Image, error) {
	m := rf.Manifest
	p.addManifest(m, o)
	img := archive.Image{Root: referrerEntry(rf), Blobs: []image.Descriptor{m.Descriptor}}
	if i := slices.IndexFunc(p.order, func(d image.Descriptor) bool { return d.Digest == rf.Subject }); i >= 0 {
		img.Blobs = append(img.Blobs, p.order[i])
	}
	if mf := m.Parsed.Manifest; mf != nil {
		img.Blobs = append(img.Blobs, mf.Config)
		img.Blobs = append(img.Blobs, mf.Layers...)
		p.addBlob(mf.Config, o)
		for _, l := range mf.Layers {
			p.addBlob(l, o)
		}
		return img, nil
	}
	w := &walk{p: p, o: o, seen: map[digest.Digest]bool{m.Descriptor.Digest: true}, img: &img}
	err := w.all(ctx, m, 0) // adds to img.Blobs: read img after it
	return img, err
}

// referrerEntry is rf as index.json lists it: the manifest read (media
// type, digest, size), the artifactType and annotations it was listed
// with, and haul's annotations saying what it refers to and, for a cosign
// tag, which tag. Names a referrer's own annotations might carry are
// dropped: an engine would name an image after them.
func referrerEntry(rf registry.Referrer) image.Descriptor {
	md := rf.Manifest.Descriptor
	a := maps.Clone(rf.Descriptor.Annotations)
	if a == nil {
		a = map[string]string{}
	}
	delete(a, layout.AnnotationRefName)
	delete(a, layout.AnnotationImageName)
	a[layout.AnnotationReferrerSubject] = rf.Subject.String()
	if rf.Tag != "" {
		a[layout.AnnotationReferrerTag] = rf.Tag
	}
	return image.Descriptor{MediaType: md.MediaType, Digest: md.Digest, Size: md.Size, ArtifactType: rf.Descriptor.ArtifactType, Annotations: a}
}
