package push

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/mirror"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// Dest is where an archive's images go: one full reference, or a registry
// and a path prefix under which each image keeps its own path, as a mirror
// of its registry names it (docker.io/library/alpine:3.20 under
// reg.lan/mirror is reg.lan/mirror/library/alpine:3.20).
type Dest struct {
	// Ref is set for a DST that names a tag or a digest: the one image goes
	// exactly there.
	Ref ref.Reference
	// Under is REGISTRY[/PREFIX] otherwise.
	Under mirror.Endpoint
	// Repo is Under read as one repository, for an archive of one image
	// that names none; zero when DST is a registry alone.
	Repo ref.Reference
}

// ParseDest reads DST: REGISTRY[/PREFIX], or REGISTRY/REPOSITORY:TAG (or
// @DIGEST) for one image.
func ParseDest(s string) (Dest, error) {
	if strings.Contains(s, "://") {
		return Dest{}, fmt.Errorf("destination %q: a registry and a path, without a scheme", s)
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 && strings.ContainsAny(s[i:], ":@") {
		r, err := ref.Parse(s)
		if err != nil {
			return Dest{}, fmt.Errorf("destination: %w", err)
		}
		return Dest{Ref: r}, nil
	}
	ep, err := mirror.ParseEndpoint(s)
	if err != nil || ep.PlainHTTP {
		return Dest{}, fmt.Errorf("destination %q: want REGISTRY[/PREFIX] or REGISTRY/REPOSITORY:TAG (the registry with a dot or a port, or localhost)", s)
	}
	d := Dest{Under: ep}
	if ep.Prefix != "" {
		if r, err := ref.ParseRepository(s); err == nil && r.Registry() == ep.Host {
			d.Repo = r
		}
	}
	return d, nil
}

// Registry is DST's registry.
func (d Dest) Registry() string {
	if !d.Ref.IsZero() {
		return d.Ref.Registry()
	}
	return d.Under.Host
}

// String is DST as given.
func (d Dest) String() string {
	if !d.Ref.IsZero() {
		return d.Ref.String()
	}
	return d.Under.String()
}

// Map gives each image its destination reference: DST itself for a DST
// that names a tag or digest (one image only); else each image's path under
// DST's prefix, with its tag, or by its digest for an image the archive
// names by digest. keepRegistry puts each source registry's name first in
// the path. Refused, before anything is pushed: an image that names no
// repository (unless it is the only one, and DST a repository), and two
// source registries whose images would share a repository.
func (d Dest) Map(imgs []ArchiveImage, keepRegistry bool) ([]ref.Reference, error) {
	if !d.Ref.IsZero() {
		if len(imgs) != 1 && !oneRoot(imgs) {
			return nil, fmt.Errorf("%s names one image, and the archive holds %d (%s): give REGISTRY[/PREFIX] to push each under its own name", d.Ref, len(imgs), shownNames(imgs))
		}
		out := make([]ref.Reference, len(imgs)) // one image under several names: once, then up to date
		for i := range out {
			out[i] = d.Ref
		}
		return out, nil
	}
	out := make([]ref.Reference, len(imgs))
	from := map[string]string{} // destination repository → source registry
	tagged := map[string]bool{} // destination references already given
	for i, img := range imgs {
		to, err := d.mapOne(img, len(imgs), keepRegistry)
		if err != nil {
			return nil, err
		}
		if reg, ok := from[to.Name()]; ok && reg != img.Source.Registry() {
			return nil, fmt.Errorf("%s and %s would both go to %s: they come from two registries (%s, %s); --keep-registry puts each registry's name first in the path",
				shownOf(imgs, to.Name(), out[:i]), img.Shown(), to.Name(), reg, img.Source.Registry())
		}
		from[to.Name()] = img.Source.Registry()
		root := img.Plan.Root().Descriptor.Digest
		if to.Tag() != "" && tagged[to.String()] {
			// One name for several images (a pull of several platforms):
			// the first keeps the tag, as docker load does; the rest go by
			// digest.
			to = to.WithTag("").WithDigest(root)
		}
		tagged[to.String()] = true
		out[i] = to
	}
	return out, nil
}

// mapOne is one image's destination under d.Under.
func (d Dest) mapOne(img ArchiveImage, n int, keepRegistry bool) (ref.Reference, error) {
	root := img.Plan.Root().Descriptor.Digest
	if img.Source.IsZero() {
		if n == 1 && !d.Repo.IsZero() && img.Tag != "" {
			return d.Repo.WithTag(img.Tag), nil
		}
		if n == 1 && !d.Repo.IsZero() {
			return ref.Reference{}, fmt.Errorf("%s names neither a repository nor a tag: give DST with a tag (%s:TAG)", img.Shown(), d.Repo)
		}
		return ref.Reference{}, fmt.Errorf("%s names no repository: push it alone with a full DST (REGISTRY/REPOSITORY:TAG)", img.Shown())
	}
	ep := d.Under
	if keepRegistry {
		// A port's colon may not be in a path: reg:5000 is reg_5000 there.
		ep.Prefix = strings.Trim(ep.Prefix+"/"+strings.ReplaceAll(img.Source.Registry(), ":", "_"), "/")
	}
	to, err := ep.Map("", img.Source)
	if err != nil {
		return ref.Reference{}, fmt.Errorf("%s: %w", img.Shown(), err)
	}
	if img.Source.Tag() != "" {
		return to.WithTag(img.Source.Tag()), nil
	}
	// Pulled by digest: pushed by digest, the root's (a pull of one platform
	// of an index keeps that image, not the index).
	return to.WithTag("").WithDigest(root), nil
}

// oneRoot reports whether imgs are one image under several names.
func oneRoot(imgs []ArchiveImage) bool {
	for _, img := range imgs[1:] {
		if img.Plan != imgs[0].Plan {
			return false
		}
	}
	return true
}

func shownNames(imgs []ArchiveImage) string {
	var names []string
	for _, img := range imgs {
		if n := img.Shown(); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// shownOf names the first image already mapped to the repository name.
func shownOf(imgs []ArchiveImage, name string, mapped []ref.Reference) string {
	for i, to := range mapped {
		if to.Name() == name {
			return imgs[i].Shown()
		}
	}
	return "another image"
}

// ArchiveResult is what pushing one image of an archive did.
type ArchiveResult struct {
	*Result
	Image ArchiveImage
}

// PushArchive puts each image of a at its destination (Dest.Map), one after
// another, with c.Dest's client for each registry. It stops at the first
// failure, returning what was pushed before.
func PushArchive(ctx context.Context, a *Archive, to []ref.Reference, c Config) ([]ArchiveResult, error) {
	if c.Dest == nil {
		return nil, fmt.Errorf("push: push.Config needs Dest")
	}
	if len(to) != len(a.Images) {
		return nil, fmt.Errorf("push: %d destinations for %d images", len(to), len(a.Images))
	}
	var out []ArchiveResult
	held := heldBlobs{}
	for i, img := range a.Images {
		if c.stopped() {
			return out, fmt.Errorf("push %s: %w", img.Shown(), registry.ErrUploadStopped)
		}
		start := c.now()
		what := fmt.Sprintf("push %s to %s", img.Shown(), to[i])
		dcl, err := c.Dest(to[i].Registry())
		if err != nil {
			return out, fmt.Errorf("%s: %w", what, err)
		}
		plan := *img.Plan
		plan.Source = held.mountFrom(&plan, to[i])
		res, err := Put(ctx, &plan, to[i], dcl, c)
		if res != nil {
			res.Source = img.Source
			res.Elapsed = c.now().Sub(start)
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", what, err)
		}
		held.add(&plan, to[i])
		out = append(out, ArchiveResult{Result: res, Image: img})
	}
	return out, nil
}

// heldBlobs are the blobs each repository this push wrote holds, so that
// an image sharing layers with one pushed before into the same registry
// mounts them from there (a registry answers a HEAD only for blobs of the
// repository asked, and each repository's would otherwise be sent again).
type heldBlobs map[string]struct {
	at    ref.Reference
	blobs map[digest.Digest]bool
}

func (h heldBlobs) add(p *Plan, to ref.Reference) {
	e, ok := h[to.Name()]
	if !ok {
		e.at, e.blobs = to, map[digest.Digest]bool{}
	}
	for _, m := range p.Manifests {
		for _, b := range m.Blobs {
			e.blobs[b.Descriptor.Digest] = true
		}
	}
	h[to.Name()] = e
}

// mountFrom is the repository of to's registry, written before, that holds
// the most of p's blobs; zero for none (Put then mounts nothing).
func (h heldBlobs) mountFrom(p *Plan, to ref.Reference) ref.Reference {
	var best ref.Reference
	most := 0
	for name, e := range h {
		if name == to.Name() || e.at.Registry() != to.Registry() {
			continue
		}
		n := 0
		for _, m := range p.Manifests {
			for _, b := range m.Blobs {
				if e.blobs[b.Descriptor.Digest] {
					n++
				}
			}
		}
		if n > most || n == most && n > 0 && e.at.Name() < best.Name() { // ties: one answer, whatever the map's order
			best, most = e.at, n
		}
	}
	return best
}
