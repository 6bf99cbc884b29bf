package push

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// Config configures a copy. Zero values are the documented defaults.
type Config struct {
	// Source returns what reads a source registry ("docker.io"): a
	// *registry.Client, or a *mirror.Source that reads through mirrors.
	// Required for Copy.
	Source func(registry string) (Reader, error)
	// Dest returns the client that writes to a destination registry: never
	// through a mirror. Required.
	Dest func(registry string) (*registry.Client, error)
	// Sessions keeps upload sessions between runs (store.Uploads of the
	// cache), so that an interrupted copy resumes each blob where the
	// registry holds it; nil: an interrupted blob starts again next time.
	Sessions registry.UploadSessions
	// Platform, when set, copies only the image manifest an index has for
	// it, under the destination reference (its own digest, not the
	// index's); an image that is no index must be built for it (an
	// *image.PlatformError if not). nil: the whole index unchanged, every
	// child and attestation.
	Platform *image.Platform
	// NoReferrers leaves out what refers to the images copied. false: their
	// signatures, SBOMs and attestations go too (Plan.Referrers), found
	// at the source by the referrers API or the fallback tag, and cosign's
	// tags; the Reader must then be a ReferrerReader.
	NoReferrers bool
	// Platforms, when set, copies an index with only the images it has
	// for these platforms and the attestations that refer to them, each by
	// digest, then the index itself unchanged under the destination
	// reference, so its digest is the source's. A registry that requires
	// every image an index lists (distribution 2.8 and 3 by default)
	// refuses it: an *IncompleteIndexError. An image that is no index is
	// copied whole if built for one of them (else *image.PlatformError).
	// Exclusive with Platform. nil: see Platform.
	Platforms []image.Platform
	// Jobs is how many blobs are put at once; <= 0: DefaultJobs.
	Jobs int
	// Progress, when set, receives events; calls are serialized. A blob's
	// bytes never go backwards, across retries and restarts.
	Progress func(Event)
	// Stop, once closed, ends the copy after the requests in flight are
	// answered (Ctrl-C): uploads keep their sessions, no blob starts, no
	// manifest is put, and the error wraps registry.ErrUploadStopped.
	// Cancel ctx to cut it short instead.
	Stop <-chan struct{}
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// DefaultJobs is how many blobs are put at once by default, as pull
// fetches them.
const DefaultJobs = 8

// Result is what a copy did.
type Result struct {
	Source      ref.Reference
	Destination ref.Reference // as written: with the tag, or pinned to Digest
	Digest      digest.Digest // of the root manifest written: the source's
	MediaType   string
	// Platform is set when Config.Platform picked one image of an index:
	// Digest is that image's manifest, not the index's.
	Platform string
	// Subset is set when Config.Platforms kept only some images of an
	// index: Digest is the index's, and these are the images put.
	Subset *Subset
	// UpToDate: the destination reference already named Digest (a HEAD at
	// each end); nothing else was asked or put.
	UpToDate bool
	// Manifests put, and those the destination already had.
	Manifests, ManifestsPresent int
	// Referrers is how many referrers were put (Plan.Referrers).
	Referrers int
	// FallbackIndexes are the indexes of referrers haul wrote or added to
	// under fallback tags, where the destination has no referrers API: the
	// one kind of manifest whose digest a copy changes.
	FallbackIndexes []registry.FallbackIndex

	Pushed, Mounted, Skipped Count
	// Sent is the bytes read from sources into upload requests (a request
	// cut and sent again counts twice); Resumed the bytes the destination
	// already held of blobs whose upload an earlier run began.
	Sent, Resumed int64
	Elapsed       time.Duration
}

// Count is a number of blobs and their bytes.
type Count struct {
	Blobs int   `json:"blobs"`
	Bytes int64 `json:"bytes"`
}

func (c *Count) add(size int64) { c.Blobs++; c.Bytes += size }

// Copy puts the image or index src names into dst, with every digest kept.
// dst without a tag or digest takes src's tag (or, src being pinned by
// digest only, goes by digest); a dst pinned to a digest must be the
// source's. A destination whose tag already names the source's digest costs
// a HEAD at each end and nothing more.
func Copy(ctx context.Context, src, dst ref.Reference, c Config) (*Result, error) {
	start := c.now()
	to := Target(src, dst)
	what := fmt.Sprintf("copy %s to %s", src, to)
	if c.Source == nil || c.Dest == nil {
		return nil, fmt.Errorf("%s: push.Config needs Source and Dest", what)
	}
	rd, err := c.Source(src.Registry())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	dcl, err := c.Dest(to.Registry())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if c.Platform == nil {
		if res, err := upToDate(ctx, rd, dcl, src, to); err != nil || res != nil {
			if res != nil {
				res.Elapsed = c.now().Sub(start)
			}
			return res, wrap(what, err)
		}
	}
	ri := RegistryImages{Reader: rd, Platforms: c.Platforms}
	plan, err := ri.Plan(ctx, src, c.Platform)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !c.NoReferrers {
		if err := ri.addReferrers(ctx, plan, src); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	res, err := put(ctx, plan, to, dcl, c, c.Platform == nil)
	if res != nil {
		res.Elapsed = c.now().Sub(start)
	}
	return res, wrap(what, err)
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}

// ParseRefs reads a copy's source and destination as haul copy takes
// them: with allTags, two repositories (CopyAllTags); else a reference,
// and a repository (whose tag Target takes from the source) or a
// reference.
func ParseRefs(src, dst string, allTags bool) (ref.Reference, ref.Reference, error) {
	if allTags {
		s, err := ref.ParseRepository(src)
		if err != nil {
			return s, s, fmt.Errorf("SRC is a repository: %w", err)
		}
		d, err := ref.ParseRepository(dst)
		if err != nil {
			return s, d, fmt.Errorf("DST is a repository: %w", err)
		}
		return s, d, nil
	}
	s, err := ref.Parse(src)
	if err != nil {
		return s, s, err
	}
	d, err := ref.ParseRepository(dst)
	if err != nil {
		d, err = ref.Parse(dst)
	}
	return s, d, err
}

// Target is the reference Copy writes: dst, with the tag it leaves out
// taken from src (or, src being pinned by digest only, src's digest).
func Target(src, dst ref.Reference) ref.Reference {
	if dst.Tag() != "" || dst.Digest() != "" {
		return dst
	}
	if src.Tag() != "" {
		return dst.WithTag(src.Tag())
	}
	return dst.WithDigest(src.Digest())
}

// upToDate HEADs src and dst: the same digest at both ends is a copy done.
// A source that answers a HEAD without a digest, or a destination that has
// none, is no answer: nil, nil.
func upToDate(ctx context.Context, rd Reader, dcl *registry.Client, src, to ref.Reference) (*Result, error) {
	want := src.Digest()
	if want == "" {
		d, err := rd.Digest(ctx, src)
		if err != nil {
			return nil, err
		}
		want = d
	}
	if to.Digest() != "" && to.Digest() != want {
		return nil, fmt.Errorf("the destination is pinned to %s, but the source is %s: a copy keeps digests", to.Digest(), want)
	}
	got, ok, err := dcl.ManifestExists(ctx, to)
	if err != nil || !ok || got.Digest != want {
		return nil, err
	}
	return &Result{Source: src, Destination: to, Digest: want, MediaType: got.MediaType, UpToDate: true}, nil
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c Config) jobs() int {
	if c.Jobs <= 0 {
		return DefaultJobs
	}
	return c.Jobs
}

func (c Config) stopped() bool {
	select {
	case <-c.Stop: // nil: never
		return true
	default:
		return false
	}
}

// Put puts plan into to's repository on dcl's registry: the blobs of every
// manifest the destination lacks (HEAD, then a mount within one registry,
// else an upload), then those manifests by digest, children first, then the
// root under to's tag (or digest). Each digest the registry gives back must
// be the plan's: a copy that would change one is refused.
func Put(ctx context.Context, plan *Plan, to ref.Reference, dcl *registry.Client, c Config) (*Result, error) {
	return put(ctx, plan, to, dcl, c, false)
}

// put is Put; tagAsked says that the caller has just asked the destination
// what its tag names (Copy's upToDate), so that it is not asked twice.
func put(ctx context.Context, plan *Plan, to ref.Reference, dcl *registry.Client, c Config, tagAsked bool) (*Result, error) {
	if len(plan.Manifests) == 0 {
		return nil, errors.New("nothing to put: the plan has no manifest")
	}
	root := plan.Root()
	res := &Result{Source: plan.Source, Destination: to, Digest: root.Descriptor.Digest, MediaType: root.Descriptor.MediaType, Platform: plan.Platform, Subset: plan.Subset}
	if d := to.Digest(); d != "" && d != root.Descriptor.Digest {
		return nil, fmt.Errorf("the destination is pinned to %s, but the manifest to put is %s: a copy keeps digests", d, root.Descriptor.Digest)
	}
	if to.Tag() != "" && !tagAsked {
		if got, ok, err := dcl.ManifestExists(ctx, to); err != nil {
			return nil, err
		} else if ok && got.Digest == root.Descriptor.Digest {
			res.UpToDate = true
			return res, nil
		}
	}
	// The blobs of the referrers go up with the images'.
	all := &Plan{Source: plan.Source, Manifests: slices.Clone(plan.Manifests)}
	for _, rf := range plan.Referrers {
		all.Manifests = append(all.Manifests, rf.Manifests...)
	}
	present, err := presentManifests(ctx, all.Manifests, to, dcl)
	if err != nil {
		return nil, err
	}
	t := newTransfer(all, to, dcl, c, res)
	if err := t.blobs(ctx, present); err != nil {
		return res, err
	}
	if c.stopped() {
		return res, fmt.Errorf("before putting the manifests: %w", registry.ErrUploadStopped)
	}
	if err := putManifests(ctx, plan, to, dcl, present, res, c.Progress); err != nil {
		return res, plan.refused(err, to)
	}
	return res, putReferrers(ctx, plan, to, dcl, res)
}

// presentManifests HEADs each manifest at the destination, by digest: one
// there needs neither its blobs nor a PUT (a registry takes a manifest only
// once it holds every blob it names).
func presentManifests(ctx context.Context, ms []Manifest, to ref.Reference, dcl *registry.Client) (map[digest.Digest]bool, error) {
	present := map[digest.Digest]bool{}
	for _, m := range ms {
		_, ok, err := dcl.ManifestExists(ctx, to.WithDigest(m.Descriptor.Digest))
		if err != nil {
			return nil, err
		}
		present[m.Descriptor.Digest] = ok
	}
	return present, nil
}

// putManifests puts the manifests the destination lacks by digest, in
// order, and the root under the tag.
func putManifests(ctx context.Context, plan *Plan, to ref.Reference, dcl *registry.Client, present map[digest.Digest]bool, res *Result, progress func(Event)) error {
	last := len(plan.Manifests) - 1
	for i, m := range plan.Manifests {
		d := m.Descriptor.Digest
		at := to.WithDigest(d)
		if i == last && to.Tag() != "" {
			// The PUT under the tag stores the root and moves the tag in
			// one request; its digest is checked all the same.
			at = to.WithTag(to.Tag())
		} else if present[d] {
			res.ManifestsPresent++
			continue
		}
		if _, err := putManifest(ctx, dcl, at, m); err != nil {
			return err
		}
		if present[d] {
			res.ManifestsPresent++
		} else {
			res.Manifests++
		}
		if progress != nil {
			progress(Event{Kind: ManifestDone, Ref: at, Digest: d, Media: m.Descriptor.MediaType, Size: m.Descriptor.Size})
		}
	}
	return nil
}

// putManifest puts m at at, which must keep its digest.
func putManifest(ctx context.Context, dcl *registry.Client, at ref.Reference, m Manifest) (digest.Digest, error) {
	got, err := dcl.PushManifest(ctx, at, m.Body, m.Descriptor.MediaType)
	if err != nil {
		return "", err
	}
	if got != m.Descriptor.Digest {
		return "", fmt.Errorf("refused: the destination stored manifest %s as %s; a copy must keep every digest", m.Descriptor.Digest, got)
	}
	return got, nil
}

// Lister lists a repository's tags; *registry.Client is one.
type Lister interface {
	Tags(ctx context.Context, repo ref.Reference) ([]string, error)
}

// CopyAllTags copies every tag of src's repository, as tags lists it, to
// the same tag in dst's repository (dst names no tag or digest), one after
// another. It stops at the first failure, returning what was copied before.
func CopyAllTags(ctx context.Context, src, dst ref.Reference, tags Lister, c Config) ([]*Result, error) {
	if dst.Tag() != "" || dst.Digest() != "" {
		return nil, fmt.Errorf("copy every tag of %s: the destination %s must be a repository, without tag or digest", src.Name(), dst)
	}
	list, err := tags.Tags(ctx, src.WithTag(""))
	if err != nil {
		return nil, fmt.Errorf("copy every tag of %s: %w", src.Name(), err)
	}
	var out []*Result
	for _, tag := range list {
		if c.stopped() {
			return out, fmt.Errorf("copy every tag of %s: %w", src.Name(), registry.ErrUploadStopped)
		}
		res, err := Copy(ctx, src.WithTag(tag), dst.WithTag(tag), c)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}
