package push

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/ctxio"
	"github.com/haul-dev/haul/layout"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// ArchiveConfig says how plans are read from a local archive.
type ArchiveConfig struct {
	// Compress gzips, deterministically, the uncompressed layers of images
	// whose manifest haul builds (an archive that holds none); the layers of
	// an archive's own manifests are never changed. false: layers as stored.
	Compress bool
	// TempDir is where Compress writes the gzipped layers, each once,
	// removed by Archive.Close; "": os.TempDir().
	TempDir string
	// Platform picks the image of an index whose other images the archive
	// lacks (docker save of one platform of a multi-platform image); zero:
	// this machine's.
	Platform image.Platform
	// NoReferrers leaves out the referrers a bundle holds (haul pull
	// --referrers lists them in index.json): false, each goes with the
	// image it refers to (Plan.Referrers).
	NoReferrers bool
}

// ArchiveImage is one image of a local archive, planned for a push.
type ArchiveImage struct {
	// Name is what the archive calls it: a full reference, a bare tag (an
	// OCI layout's ref.name), or "" for none.
	Name string
	// Source is Name as a reference, when it names a repository; zero if not.
	Source ref.Reference
	// Tag is the bare tag Name gives when it names no repository.
	Tag  string
	Plan *Plan
	// Built says that the archive held no manifest for it: haul built the
	// root manifest, whose digest is new (the config's, and so the image ID,
	// is the archive's).
	Built bool
	// Platform is set when the archive lists an index but holds only some
	// of its images: the plan is this platform's image, not the index.
	Platform string
}

// Shown is how messages name the image: its name, or its root's digest.
func (a ArchiveImage) Shown() string {
	if a.Name != "" {
		return a.Name
	}
	return a.Plan.Root().Descriptor.Digest.String()
}

// Archive is the plans of every image of a local archive.
type Archive struct {
	Images []ArchiveImage
	temp   string // --compress's layers; "" for none
}

// Close removes what reading the archive wrote (compressed layers).
func (a *Archive) Close() error {
	if a.temp == "" {
		return nil
	}
	return os.RemoveAll(a.temp)
}

// ReadArchive plans the push of every image rd lists: the manifests and
// indexes it holds exactly as stored, so every digest is the archive's; for
// an entry of an archive that holds none (docker save before Docker 25,
// skopeo's docker-archive:), a Docker manifest built from its config and
// layers. Blobs are read in place from rd, which must stay open.
func ReadArchive(ctx context.Context, rd *archive.Reader, c ArchiveConfig) (_ *Archive, err error) {
	a := &Archive{}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	for _, l := range rd.Images() {
		var imgs []ArchiveImage
		if l.IsDocker() {
			imgs, err = a.docker(ctx, rd, l, c)
		} else {
			imgs, err = ociImages(ctx, rd, l, c)
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", l.Name(), err)
		}
		a.Images = append(a.Images, imgs...)
	}
	if len(a.Images) == 0 {
		return nil, errors.New("the archive lists no image")
	}
	if !c.NoReferrers {
		for _, img := range a.Images {
			if err := addReferrers(ctx, rd, img.Plan); err != nil {
				return nil, err
			}
		}
	}
	return a, nil
}

// addReferrers adds to p the archive's referrers of its manifests, and of
// those referrers in turn (index.json lists a referrer after its subject).
func addReferrers(ctx context.Context, rd *archive.Reader, p *Plan) error {
	subjects := map[digest.Digest]bool{}
	for _, m := range p.Manifests {
		subjects[m.Descriptor.Digest] = true
	}
	ar := archiveReader{rd: rd}
	for _, e := range rd.Referrers() {
		subject, err := digest.Parse(e.Annotations[layout.AnnotationReferrerSubject])
		if err != nil || !subjects[subject] || subjects[e.Digest] {
			continue // another image's, or malformed: not this plan's
		}
		d := image.Descriptor{MediaType: e.MediaType, Digest: e.Digest, Size: e.Size}
		if ok, err := ar.complete(ctx, d, 0); err != nil || !ok {
			return fmt.Errorf("referrer %s of %s: the archive lists it but does not hold all of it (%v)", e.Digest, subject, err)
		}
		sub := &Plan{}
		if err := ar.add(ctx, sub, d, 0, map[digest.Digest]bool{}); err != nil {
			return fmt.Errorf("referrer %s of %s: %w", e.Digest, subject, err)
		}
		subjects[e.Digest] = true
		p.Referrers = append(p.Referrers, Referrer{Subject: subject, Tag: e.Annotations[layout.AnnotationReferrerTag], Listed: listed(e), Manifests: sub.Manifests})
	}
	return nil
}

// listed is a referrer's index.json entry as a referrers list names it:
// without haul's annotations.
func listed(e image.Descriptor) image.Descriptor {
	a := maps.Clone(e.Annotations)
	delete(a, layout.AnnotationReferrerSubject)
	delete(a, layout.AnnotationReferrerTag)
	if len(a) == 0 {
		a = nil
	}
	return image.Descriptor{MediaType: e.MediaType, Digest: e.Digest, Size: e.Size, ArtifactType: e.ArtifactType, Annotations: a}
}

// named is an ArchiveImage with name's Source or Tag filled in.
func named(name string, p *Plan) ArchiveImage {
	a := ArchiveImage{Name: name, Plan: p}
	switch {
	case name == "":
	case !strings.ContainsAny(name, "/:@"):
		// A bare ref.name is a tag (OCI image layout; Docker writes one beside
		// io.containerd.image.name).
		a.Tag = name
	default:
		if r, err := ref.Parse(name); err == nil {
			a.Source = r
		}
	}
	return a
}

// ociImages plans an index.json entry: its root, and whatever it lists.
func ociImages(ctx context.Context, rd *archive.Reader, l archive.Listed, c ArchiveConfig) ([]ArchiveImage, error) {
	name := ""
	if len(l.Names) > 0 {
		name = l.Names[0] // io.containerd.image.name before ref.name
	}
	root := image.Descriptor{MediaType: l.Root.MediaType, Digest: l.Root.Digest, Size: l.Root.Size}
	p := &Plan{}
	ar := archiveReader{rd: rd}
	whole, err := ar.complete(ctx, root, 0)
	if err != nil {
		return nil, err
	}
	img := named(name, p)
	if whole {
		err = ar.add(ctx, p, root, 0, map[digest.Digest]bool{})
	} else {
		img.Platform, err = ar.pick(ctx, p, root, c.Platform)
	}
	if err != nil {
		return nil, err
	}
	return []ArchiveImage{img}, nil
}

// archiveReader reads manifests and blobs of an archive into plans.
type archiveReader struct{ rd *archive.Reader }

// manifest reads d as stored, parsed.
func (a archiveReader) manifest(ctx context.Context, d image.Descriptor) ([]byte, *image.Parsed, error) {
	body, err := a.rd.Manifest(ctx, d)
	if err != nil {
		return nil, nil, err
	}
	p, err := image.Parse(d.MediaType, body)
	if err != nil {
		return nil, nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	return body, p, nil
}

// complete reports whether the archive holds d and everything under it: a
// registry takes an index only once it holds every manifest it lists.
func (a archiveReader) complete(ctx context.Context, d image.Descriptor, depth int) (bool, error) {
	if depth > maxDepth {
		return false, fmt.Errorf("indexes nested more than %d deep", maxDepth)
	}
	if !a.rd.Has(d) {
		return false, nil
	}
	_, p, err := a.manifest(ctx, d)
	if err != nil {
		return false, err
	}
	if p.Manifest != nil {
		for _, b := range append([]image.Descriptor{p.Manifest.Config}, p.Manifest.Layers...) {
			if !a.rd.Has(b) && !(len(b.URLs) > 0 && nondistributable(b.MediaType)) {
				return false, nil
			}
		}
		return true, nil
	}
	for _, child := range p.Index.Manifests {
		if ok, err := a.complete(ctx, child, depth+1); err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// add puts d's children (depth first), then d, into p.
func (a archiveReader) add(ctx context.Context, p *Plan, d image.Descriptor, depth int, seen map[digest.Digest]bool) error {
	if seen[d.Digest] {
		return nil
	}
	seen[d.Digest] = true
	body, parsed, err := a.manifest(ctx, d)
	if err != nil {
		return err
	}
	if parsed.Index != nil {
		for _, child := range parsed.Index.Manifests {
			if err := a.add(ctx, p, child, depth+1, seen); err != nil {
				return err
			}
		}
	}
	p.Manifests = append(p.Manifests, a.planned(d, body, parsed))
	return nil
}

// pick follows an index the archive holds only part of to the image for
// platform, among those it holds whole.
func (a archiveReader) pick(ctx context.Context, p *Plan, d image.Descriptor, platform image.Platform) (string, error) {
	if platform.OS == "" {
		platform = image.Host()
	}
	shown := ""
	for depth := 0; ; depth++ {
		if depth > maxDepth {
			return "", fmt.Errorf("indexes nested more than %d deep", maxDepth)
		}
		body, parsed, err := a.manifest(ctx, d)
		if err != nil {
			return "", err
		}
		if parsed.Index == nil {
			p.Manifests = []Manifest{a.planned(d, body, parsed)}
			return shown, nil
		}
		held := &image.Index{}
		for _, c := range parsed.Index.Manifests {
			if ok, err := a.complete(ctx, c, depth+1); err != nil {
				return "", err
			} else if ok && !image.IsAttestation(c) {
				held.Manifests = append(held.Manifests, c)
			}
		}
		switch len(held.Manifests) {
		case 0:
			return "", fmt.Errorf("the archive holds none of the images index %s lists", d.Digest)
		case 1:
			d = held.Manifests[0]
		default:
			if d, err = image.Select(held, platform); err != nil {
				return "", fmt.Errorf("the archive holds only some of the images index %s lists: %w", d.Digest, err)
			}
		}
		if d.Platform != nil {
			shown = image.FormatPlatform(*d.Platform)
		}
	}
}

// planned is one manifest of the plan, its blobs read from the archive.
func (a archiveReader) planned(d image.Descriptor, body []byte, parsed *image.Parsed) Manifest {
	m := Manifest{Descriptor: image.Descriptor{MediaType: parsed.MediaType, Digest: d.Digest, Size: d.Size}, Body: body}
	if parsed.Manifest == nil {
		return m
	}
	for _, b := range append([]image.Descriptor{parsed.Manifest.Config}, parsed.Manifest.Layers...) {
		if len(b.URLs) > 0 && nondistributable(b.MediaType) {
			continue // a foreign layer lives at its URLs
		}
		m.Blobs = append(m.Blobs, Blob{Descriptor: b, Open: a.source(b)})
	}
	return m
}

// source reads blob d from the archive, in place, from any offset.
func (a archiveReader) source(d image.Descriptor) registry.BlobSource {
	return registry.BlobSourceFunc(func(ctx context.Context, offset int64) (io.ReadCloser, error) {
		rc, err := a.rd.BlobAt(d, offset)
		if err != nil {
			return nil, err
		}
		return ctxReadCloser{ctxio.Reader(ctx, rc), rc}, nil
	})
}

type ctxReadCloser struct {
	io.Reader
	io.Closer
}

// docker plans a manifest.json entry, which holds no manifest: one is
// built (Docker schema2), the config as stored and the layers as stored or,
// with c.Compress, gzipped. Each of its RepoTags is an image of its own,
// with the same plan.
func (a *Archive) docker(ctx context.Context, rd *archive.Reader, l archive.Listed, c ArchiveConfig) ([]ArchiveImage, error) {
	s, err := rd.DockerImage(ctx, l)
	if err != nil {
		return nil, err
	}
	ar := archiveReader{rd: rd}
	cfg := s.Manifest.Config
	blobs := []Blob{{Descriptor: cfg, Open: ar.source(cfg)}}
	var layers []image.Descriptor
	for _, d := range s.Manifest.Layers {
		b := Blob{Descriptor: d, Open: ar.source(d)}
		if c.Compress && d.MediaType == archive.MediaTypeDockerLayer {
			if b, err = a.compress(ctx, ar, d, c.TempDir); err != nil {
				return nil, err
			}
		}
		layers = append(layers, b.Descriptor)
		if !slices.ContainsFunc(blobs, func(x Blob) bool { return x.Descriptor.Digest == b.Descriptor.Digest }) {
			blobs = append(blobs, b)
		}
	}
	body, md, err := archive.DockerManifest(cfg, layers)
	if err != nil {
		return nil, err
	}
	p := &Plan{Manifests: []Manifest{{Descriptor: md, Body: body, Blobs: blobs}}}
	if len(l.Names) == 0 {
		img := named("", p)
		img.Built = true
		return []ArchiveImage{img}, nil
	}
	var out []ArchiveImage
	for _, n := range l.Names {
		img := named(n, p)
		img.Built = true
		out = append(out, img)
	}
	return out, nil
}

// compress gzips layer d into a file of its own under dir, once,
// deterministically (no name, no time in the header; the same level), its
// digest computed as it is written: never a whole layer in memory.
func (a *Archive) compress(ctx context.Context, ar archiveReader, d image.Descriptor, dir string) (Blob, error) {
	if a.temp == "" {
		t, err := os.MkdirTemp(dir, "haul-push-*")
		if err != nil {
			return Blob{}, fmt.Errorf("compressing layers: %w", err)
		}
		a.temp = t
	}
	f, err := os.CreateTemp(a.temp, "layer-*.tar.gz")
	if err != nil {
		return Blob{}, fmt.Errorf("compressing layer %s: %w", d.Digest, err)
	}
	defer f.Close()
	rc, err := ar.rd.BlobAt(d, 0) // verified against its digest, the diff_id
	if err != nil {
		return Blob{}, err
	}
	defer rc.Close()
	h := digest.Canonical.Digester()
	cw := &countWriter{w: io.MultiWriter(f, h.Hash())}
	zw, err := gzip.NewWriterLevel(cw, gzip.DefaultCompression)
	if err != nil {
		return Blob{}, err
	}
	if _, err := io.Copy(zw, ctxio.Reader(ctx, rc)); err != nil {
		return Blob{}, fmt.Errorf("compressing layer %s: %w", d.Digest, err)
	}
	if err := zw.Close(); err != nil {
		return Blob{}, fmt.Errorf("compressing layer %s: %w", d.Digest, err)
	}
	if err := f.Close(); err != nil {
		return Blob{}, fmt.Errorf("compressing layer %s: %w", d.Digest, err)
	}
	gz := image.Descriptor{MediaType: image.MediaTypeDockerLayerGzip, Digest: h.Digest(), Size: cw.n}
	name := f.Name()
	open := registry.BlobSourceFunc(func(ctx context.Context, offset int64) (io.ReadCloser, error) {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("compressed layer %s: %w", gz.Digest, err)
		}
		var r io.Reader = io.NewSectionReader(f, offset, gz.Size-offset)
		if offset == 0 {
			r = image.VerifyReader(r, gz, "compressed layer "+gz.Digest.String())
		}
		return ctxReadCloser{ctxio.Reader(ctx, r), f}, nil
	})
	return Blob{Descriptor: gz, Open: open}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
