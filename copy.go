package haul

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/push"
	"github.com/haul-dev/haul/ref"
)

// CopyOptions are what one Copy or Push may do beyond what the Client's
// Config says. The zero value is what Copy and Push do.
type CopyOptions struct {
	// AllTags (Copy): src and dst are repositories, and every tag of src
	// goes to the same tag under dst, one after another.
	AllTags bool
	// NoReferrers leaves out the signatures, SBOMs and attestations that
	// refer to the images; false: they go with them.
	NoReferrers bool
	// Platforms, for Copy: one copies only that image of an index, under
	// its own digest; several copy the index with only their images (and
	// their attestations), then the index itself, whose digest stays the
	// source's (a registry that demands every image an index lists refuses
	// it: a *push.IncompleteIndexError). nil: Config.Platform when it names
	// one platform, else the whole index. For Push, the first picks the
	// image of an index the archive holds only in part; nil: Config's
	// platform, else this machine's.
	Platforms []image.Platform
	// SourceCredentials and DestCredentials, when set, find the
	// credentials of the registry read (src's own; its mirrors keep
	// Config.Credentials) and of the registry written, in place of
	// Config.Login and Config.Credentials. The call then makes registry
	// clients of its own, closed when it returns. nil: the Client's.
	SourceCredentials, DestCredentials auth.Source
	// Stop, once closed, ends the copy after the requests in flight are
	// answered (as a first Ctrl-C does): uploads keep their sessions for
	// the next run to resume, no blob starts, no manifest is put, and the
	// error wraps registry.ErrUploadStopped. Cancel ctx to cut it short
	// instead.
	Stop <-chan struct{}
	// KeepRegistry (Push) puts each image's source registry first in its
	// path under dst: reg.lan/mirror/docker.io/library/alpine:3.20.
	KeepRegistry bool
	// Compress (Push) gzips, the same bytes every time, the uncompressed
	// layers of the images whose manifest haul builds (docker save before
	// Docker 25); an archive's own manifests keep their layers as stored.
	Compress bool
}

// CopyResult is what Copy did, and `haul copy --json`'s shape
// (docs/json.md).
type CopyResult struct {
	Copies  []CopiedImage `json:"copies"` // one, or one per tag with AllTags
	Seconds float64       `json:"seconds"`
}

// CopiedImage is one source reference and where it went.
type CopiedImage struct {
	Source      string        `json:"source"`
	Destination string        `json:"destination"` // as written: with the tag, or pinned to Digest
	Digest      digest.Digest `json:"digest"`      // of the root manifest written: the source's
	MediaType   string        `json:"mediaType"`
	// Platform is set when one platform was copied of an index: Digest is
	// that image's manifest, not the index's.
	Platform string `json:"platform,omitempty"`
	// Subset is set when several Platforms kept only some images of an
	// index: Digest is the index's, and these went (haul sync says so).
	Subset *push.Subset `json:"-"`
	Transfer
}

// Transfer is what putting one image into a registry did, for Copy and
// Push alike.
type Transfer struct {
	// UpToDate: the destination already named Digest, and nothing was put.
	UpToDate bool `json:"upToDate"`
	// Manifests put, and the referrers among what went.
	Manifests int `json:"manifests"`
	Referrers int `json:"referrers"`
	// FallbackIndexes are the indexes of referrers written under fallback
	// tags, where the destination has no referrers API: the one kind of
	// manifest whose digest a copy writes anew.
	FallbackIndexes []FallbackIndex `json:"fallbackIndexes,omitempty"`
	// Pushed blobs were uploaded; Mounted came from another repository of
	// the registry; Skipped were there already.
	Pushed  push.Count `json:"pushed"`
	Mounted push.Count `json:"mounted"`
	Skipped push.Count `json:"skipped"`
	// Sent is the bytes sent in upload requests (a request sent again
	// counts twice); Resumed the bytes the registry held already of
	// uploads an earlier run began.
	Sent    int64   `json:"sent"`
	Resumed int64   `json:"resumed"`
	Seconds float64 `json:"seconds"` // this image's
}

// FallbackIndex is an index of referrers written under a fallback tag.
type FallbackIndex struct {
	Ref    string        `json:"ref"` // the repository with the tag sha256-<subject's hex>
	Digest digest.Digest `json:"digest"`
	Added  int           `json:"added"` // referrers added; 0: it listed them all
}

// newTransfer is what r says of one image put.
func newTransfer(r *push.Result) Transfer {
	t := Transfer{UpToDate: r.UpToDate, Manifests: r.Manifests, Referrers: r.Referrers,
		Pushed: r.Pushed, Mounted: r.Mounted, Skipped: r.Skipped, Sent: r.Sent, Resumed: r.Resumed, Seconds: r.Elapsed.Seconds()}
	for _, fi := range r.FallbackIndexes {
		t.FallbackIndexes = append(t.FallbackIndexes, FallbackIndex{Ref: fi.Ref.String(), Digest: fi.Digest, Added: fi.Added})
	}
	return t
}

func newCopiedImage(r *push.Result) CopiedImage {
	return CopiedImage{Source: r.Source.String(), Destination: r.Destination.String(), Digest: r.Digest,
		MediaType: r.MediaType, Platform: r.Platform, Subset: r.Subset, Transfer: newTransfer(r)}
}

// PushResult is what Push did, and `haul push --json`'s shape
// (docs/json.md).
type PushResult struct {
	Pushes  []PushedImage `json:"pushes"` // one per image of the archive, in its order
	Seconds float64       `json:"seconds"`
}

// PushedImage is one image of an archive and where it went.
type PushedImage struct {
	// Source is what the archive calls the image: a reference, a tag, or
	// the name of an old docker save's entry.
	Source      string        `json:"source"`
	Destination string        `json:"destination"`
	Digest      digest.Digest `json:"digest"`
	MediaType   string        `json:"mediaType"`
	// Built: the archive held no manifest (docker save before Docker 25)
	// and haul built the one pushed, keeping Config, the archive's.
	Built bool `json:"built"`
	// Platform is set when the archive holds only part of an index: the
	// image for it went, not the index.
	Platform string        `json:"platform,omitempty"`
	Config   digest.Digest `json:"-"` // an image manifest's config ("" for an index): what keeps a built image's ID
	Transfer
}

func newPushedImage(r push.ArchiveResult) PushedImage {
	v := PushedImage{Source: r.Image.Shown(), Destination: r.Destination.String(), Digest: r.Digest,
		MediaType: r.MediaType, Built: r.Image.Built, Platform: r.Image.Platform, Transfer: newTransfer(r.Result)}
	if b := r.Image.Plan.Root().Blobs; len(b) > 0 {
		v.Config = b[0].Descriptor.Digest
	}
	return v
}

// pushConfig is the push.Config of every copy and push: reads through
// mirrors, writes to each registry's own client, upload sessions in the
// cache for the next run to resume.
func (cl *Client) pushConfig(s *sides, o CopyOptions) (push.Config, error) {
	c := push.Config{
		Jobs: cl.c.Jobs, Progress: cl.c.CopyProgress, NoReferrers: o.NoReferrers, Stop: o.Stop,
		Source: s.source, Dest: s.dest,
	}
	switch ps := o.Platforms; {
	case len(ps) == 1:
		c.Platform = &ps[0]
	case len(ps) > 1:
		c.Platforms = ps
	case len(cl.platforms) == 1:
		p := cl.platforms[0] // the Client's own stays unshared
		c.Platform = &p
	}
	st, err := cl.cache()
	if st != nil {
		c.Sessions = st.Uploads()
	}
	return c, err
}

// Copy copies the image or index src names to dst, keeping every digest
// (blobs mounted or skipped where dst's registry has them), with its
// signatures, SBOMs and attestations, as `haul copy` does. dst may leave out
// the tag, which src's fills. With one Config.Platform, only that image of
// an index goes, under its own digest. An interrupted copy resumes its
// uploads the next time.
func (cl *Client) Copy(ctx context.Context, src, dst string) (*CopyResult, error) {
	return cl.CopyWith(ctx, src, dst, CopyOptions{})
}

// CopyWith is Copy with options. On failure, a result that is not nil
// says what was done before it: the tags copied (AllTags), or an index
// refused after its images went.
func (cl *Client) CopyWith(ctx context.Context, src, dst string, o CopyOptions) (*CopyResult, error) {
	start := time.Now()
	s, d, err := cl.copyRefs(src, dst, o.AllTags)
	if err != nil {
		return nil, err
	}
	sd := cl.sides(o)
	defer sd.close()
	c, err := cl.pushConfig(sd, o)
	if err != nil {
		return nil, err
	}
	var res []*push.Result
	if o.AllTags {
		var tags push.Lister
		if tags, err = sd.own(s.Registry()); err == nil {
			res, err = push.CopyAllTags(ctx, s, d, tags, c)
		}
	} else {
		var r *push.Result
		if r, err = push.Copy(ctx, s, d, c); r != nil {
			res = append(res, r)
		}
	}
	if err != nil && len(res) == 0 {
		return nil, err
	}
	out := &CopyResult{Copies: []CopiedImage{}}
	for _, r := range res {
		out.Copies = append(out.Copies, newCopiedImage(r))
	}
	out.Seconds = time.Since(start).Seconds()
	return out, err
}

// copyRefs parses src and dst (push.ParseRefs); a source registries.conf
// blocks is refused.
func (cl *Client) copyRefs(src, dst string, allTags bool) (ref.Reference, ref.Reference, error) {
	s, d, err := push.ParseRefs(src, dst, allTags)
	if err != nil {
		return s, d, err
	}
	return s, d, cl.settings.Allowed(s.Name())
}

// Push puts the images of the archive or OCI layout at src (what Pull
// wrote, docker save, podman, skopeo) into dst, as `haul push` does: dst is
// REGISTRY[/PREFIX], under which each image keeps its path
// (docker.io/library/alpine:3.20 to reg.lan/mirror/library/alpine:3.20, as a
// mirror of docker.io would name it), or a full reference for an archive of
// one image.
func (cl *Client) Push(ctx context.Context, src, dst string) (*PushResult, error) {
	return cl.PushWith(ctx, src, dst, CopyOptions{})
}

// PushWith is Push with options. On failure, a result that is not nil
// holds the images pushed before it.
func (cl *Client) PushWith(ctx context.Context, src, dst string, o CopyOptions) (*PushResult, error) {
	start := time.Now()
	to, err := push.ParseDest(dst)
	if err != nil {
		return nil, err
	}
	sd := cl.sides(o)
	defer sd.close()
	c, err := cl.pushConfig(sd, o)
	if err != nil {
		return nil, err
	}
	ac := push.ArchiveConfig{Platform: cl.prefer, Compress: o.Compress, NoReferrers: o.NoReferrers}
	if len(o.Platforms) > 0 {
		ac.Platform = o.Platforms[0]
	}
	res, err := pushArchive(ctx, src, to, ac, o.KeepRegistry, c)
	if err != nil && len(res) == 0 {
		return nil, err
	}
	out := &PushResult{Pushes: []PushedImage{}}
	for _, r := range res {
		out.Pushes = append(out.Pushes, newPushedImage(r))
	}
	out.Seconds = time.Since(start).Seconds()
	return out, err
}

// pushArchive reads the archive at src and puts each image at its place
// under to.
func pushArchive(ctx context.Context, src string, to push.Dest, ac push.ArchiveConfig, keepRegistry bool, c push.Config) ([]push.ArchiveResult, error) {
	rd, err := archive.Open(ctx, src)
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	a, err := push.ReadArchive(ctx, rd, ac)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", src, err)
	}
	defer a.Close()
	refs, err := to.Map(a.Images, keepRegistry)
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", src, err)
	}
	return push.PushArchive(ctx, a, refs, c)
}

// CopyCheck is what a copy of src to dst would do, as CheckCopy finds it.
type CopyCheck struct {
	Digest digest.Digest // what src points to
	// UpToDate: dst names Digest already, and a copy would put nothing.
	UpToDate bool
	// Subset is set when several Platforms would keep only some images of
	// the index src points to.
	Subset *push.Subset
}

// CheckCopy says whether CopyWith(ctx, src, dst, o) has anything to do,
// asking each end for its digest with HEAD and putting nothing: what haul
// sync --dry-run prints. With one platform in o.Platforms it asks src
// alone (the image a copy would write is not read) and UpToDate is false;
// with several, it reads src's index to say which images would go. On
// failure, a result that is not nil holds src's digest.
func (cl *Client) CheckCopy(ctx context.Context, src, dst string, o CopyOptions) (*CopyCheck, error) {
	s, d, err := cl.copyRefs(src, dst, false)
	if err != nil {
		return nil, err
	}
	sd := cl.sides(o)
	defer sd.close()
	rd, err := sd.source(s.Registry())
	if err != nil {
		return nil, err
	}
	want, err := rd.Digest(ctx, s)
	if err != nil {
		return nil, err
	}
	res := &CopyCheck{Digest: want}
	if len(o.Platforms) == 1 {
		return res, nil
	}
	if len(o.Platforms) > 1 {
		if res.Subset, err = (push.RegistryImages{Reader: rd, Platforms: o.Platforms}).Subset(ctx, s.WithDigest(want)); err != nil {
			return res, err
		}
	}
	res.UpToDate, err = sd.names(ctx, push.Target(s, d), want)
	return res, err
}
