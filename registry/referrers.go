package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
)

// Bounds of a referrers walk (ReferrersOptions' defaults), and of one
// subject's list: a registry whose Link never ends cannot hold a pull.
const (
	DefaultReferrersDepth = 4
	DefaultReferrersMax   = 1000
	maxReferrerPages      = 100
)

// ReferrersOptions filters and bounds Referrers. Zero values are the defaults.
type ReferrersOptions struct {
	// ArtifactType keeps only referrers of this type (a manifest's
	// artifactType, else its config's media type), at every depth: the
	// walk goes on only from those kept. "": all.
	ArtifactType string
	// Depth is how many levels are followed: 1, the subject's own
	// referrers; 2, theirs too (a signature of an SBOM)... <= 0:
	// DefaultReferrersDepth.
	Depth int
	// Max is how many referrers one walk may find; one more is an error, not
	// a silent cut. <= 0: DefaultReferrersMax.
	Max int
	// NoCosignTags skips cosign's sha256-<hex>.sig, .att and .sbom tags.
	NoCosignTags bool
}

// Referrer is a manifest that refers to another: a signature, an SBOM, an
// attestation.
type Referrer struct {
	// Descriptor is the referrer's manifest as the referrers API or the
	// fallback tag's index lists it (artifactType and annotations
	// included), or, for one found under a cosign tag, as read.
	Descriptor image.Descriptor
	// Subject is the digest of what it refers to: the subject given to
	// Referrers, or a referrer found before it.
	Subject digest.Digest
	// Tag is the cosign tag that found it ("sha256-<hex>.sig"): its
	// manifest names no subject. "" for one listed by the referrers API or
	// the fallback tag, whose manifest's subject is Subject.
	Tag string
	// Depth is 1 for the subject's own referrers, 2 for theirs, and so on.
	Depth int
	// Manifest is its manifest, read and verified as every manifest is.
	Manifest *Manifest
}

// FallbackTag is the tag under which the OCI distribution spec (1.1) keeps
// an index of d's referrers where the registry has no referrers API:
// <alg>-<encoded>, the algorithm cut to 32 characters and the encoded
// digest to 64, so that it stays a valid tag. cosign's tags add a suffix.
func FallbackTag(d digest.Digest) string {
	alg, enc := d.Algorithm().String(), d.Encoded()
	return alg[:min(len(alg), 32)] + "-" + enc[:min(len(enc), 64)]
}

// Referrers finds what refers to subject, a manifest or index of r's
// repository, and, to opts.Depth, what refers to those: by the referrers
// API (GET /v2/<name>/referrers/<digest>, following Link), or where the
// registry answers it 404 (distribution 2.8 and 3 have none), by the
// fallback tag's index; plus cosign's tags (NoCosignTags skips them). The
// result is in the order found, level by level, each referrer once; the
// subject, or a referrer seen before, is never followed again, so a loop
// ends. Each referrer's manifest is read by digest, size-limited and
// verified; one whose subject is not what it was listed for, or that a
// stale fallback index lists but the registry no longer holds, is left
// out (and noted in the trace).
//
// For a subject that nothing refers to, this costs one request for the
// API, one HEAD for the fallback tag when the API answered 404, and one
// HEAD per cosign tag (HEADs do not count against Docker Hub's pull limit).
// The client remembers a 404 from the API: it asks the fallback tags of
// every later subject straight away.
func (c *Client) Referrers(ctx context.Context, r ref.Reference, subject image.Descriptor, opts ReferrersOptions) ([]Referrer, error) {
	if err := c.checkRef(r); err != nil {
		return nil, err
	}
	if err := image.ValidateDigest(subject.Digest); err != nil {
		return nil, fmt.Errorf("finding referrers in %s: %w", r.Name(), err)
	}
	if opts.Depth <= 0 {
		opts.Depth = DefaultReferrersDepth
	}
	if opts.Max <= 0 {
		opts.Max = DefaultReferrersMax
	}
	w := &referrerWalk{c: c, r: r, opts: opts, seen: map[digest.Digest]bool{subject.Digest: true}}
	level := []digest.Digest{subject.Digest}
	for depth := 1; depth <= opts.Depth && len(level) > 0; depth++ {
		var next []digest.Digest
		for _, s := range level {
			found, err := w.of(ctx, s, depth)
			if err != nil {
				return nil, fmt.Errorf("finding referrers of %s in %s: %w", s, r.Name(), err)
			}
			for _, f := range found {
				next = append(next, f.Descriptor.Digest)
			}
		}
		level = next
	}
	return w.found, nil
}

// referrerWalk is one call of Referrers.
type referrerWalk struct {
	c     *Client
	r     ref.Reference
	opts  ReferrersOptions
	seen  map[digest.Digest]bool
	found []Referrer
}

// of finds subject's own referrers, adds the new ones to w.found and
// returns them.
func (w *referrerWalk) of(ctx context.Context, subject digest.Digest, depth int) ([]Referrer, error) {
	listed, err := w.list(ctx, subject)
	if err != nil {
		return nil, err
	}
	start := len(w.found)
	for _, d := range listed {
		if err := w.addListed(ctx, subject, d, depth); err != nil {
			return nil, err
		}
	}
	if !w.opts.NoCosignTags {
		// cosign's signatures, attestations and SBOMs: their manifests
		// carry no subject; the tag alone says what they belong to.
		for _, suffix := range []string{".sig", ".att", ".sbom"} {
			if err := w.addTag(ctx, subject, FallbackTag(subject)+suffix, depth); err != nil {
				return nil, err
			}
		}
	}
	return w.found[start:], nil
}

// add keeps a referrer, within opts.Max.
func (w *referrerWalk) add(rf Referrer) error {
	if len(w.found) >= w.opts.Max {
		return fmt.Errorf("more than %d referrers", w.opts.Max)
	}
	w.seen[rf.Descriptor.Digest] = true
	w.found = append(w.found, rf)
	return nil
}

// addListed reads a referrer the API or the fallback index listed for
// subject, and keeps it if it is one.
func (w *referrerWalk) addListed(ctx context.Context, subject digest.Digest, d image.Descriptor, depth int) error {
	if w.seen[d.Digest] || (d.ArtifactType != "" && !w.wanted(d.ArtifactType)) {
		return nil
	}
	m, err := w.c.ManifestByDescriptor(ctx, w.r, d)
	var re *Error
	switch {
	case errors.As(err, &re) && re.Status == http.StatusNotFound:
		w.c.note(fmt.Sprintf("# referrer %s of %s is listed but not in the registry: left out", d.Digest, subject))
		return nil
	case err != nil:
		return err
	}
	if s := subjectOf(m.Parsed); s == nil || s.Digest != subject {
		w.c.note(fmt.Sprintf("# %s is listed as a referrer of %s, but its manifest's subject is not that: left out", d.Digest, subject))
		return nil
	}
	if !w.wanted(artifactType(m.Parsed)) {
		return nil
	}
	return w.add(Referrer{Descriptor: d, Subject: subject, Depth: depth, Manifest: m})
}

// addTag reads cosign's tag for subject, if the registry has it.
func (w *referrerWalk) addTag(ctx context.Context, subject digest.Digest, tag string, depth int) error {
	tr := w.r.WithTag(tag)
	dg, ok, err := w.c.headTag(ctx, tr)
	if err != nil || !ok || w.seen[dg] {
		return err
	}
	want := image.Descriptor{Digest: dg, Size: -1} // "" without Docker-Content-Digest: GET the tag
	if dg != "" {
		tr = tr.WithDigest(dg)
	}
	m, err := w.c.manifest(ctx, tr, want)
	if err != nil {
		return fmt.Errorf("fetching manifest of %s: %w", tr, err)
	}
	if w.seen[m.Descriptor.Digest] || !w.wanted(artifactType(m.Parsed)) {
		return nil
	}
	return w.add(Referrer{Descriptor: m.Descriptor, Subject: subject, Tag: tag, Depth: depth, Manifest: m})
}

func (w *referrerWalk) wanted(artifactType string) bool {
	return w.opts.ArtifactType == "" || artifactType == w.opts.ArtifactType
}

// list is subject's referrers as the API lists them, or the fallback tag's
// index where there is no API; nil when neither has any.
func (w *referrerWalk) list(ctx context.Context, subject digest.Digest) ([]image.Descriptor, error) {
	if !w.c.noReferrersAPI.Load() {
		listed, err := w.c.referrersAPI(ctx, w.r, subject, w.opts.ArtifactType)
		if !errors.Is(err, errNoReferrersAPI) {
			return listed, err
		}
		w.c.noReferrersAPI.Store(true)
		w.c.note("# no referrers API here (404): reading fallback tags from now on, as " + FallbackTag(subject))
	}
	tr := w.r.WithTag(FallbackTag(subject))
	dg, ok, err := w.c.headTag(ctx, tr)
	if err != nil || !ok {
		return nil, err
	}
	if dg != "" {
		tr = tr.WithDigest(dg)
	}
	m, err := w.c.manifest(ctx, tr, image.Descriptor{Digest: dg, Size: -1})
	if err != nil {
		return nil, fmt.Errorf("fetching manifest of %s: %w", tr, err)
	}
	if m.Parsed.Index == nil {
		return nil, fmt.Errorf("the fallback tag %s is a %s, not an index of referrers", tr.Tag(), m.Descriptor.MediaType)
	}
	return m.Parsed.Index.Manifests, nil
}

// errNoReferrersAPI is the registry saying it has no referrers API: a 404
// (the spec's answer), or a 405 or 501 from servers that route no such path.
var errNoReferrersAPI = errors.New("no referrers API")

// referrersAPI reads every page of subject's referrers from the API.
func (c *Client) referrersAPI(ctx context.Context, r ref.Reference, subject digest.Digest, artifactType string) ([]image.Descriptor, error) {
	u := c.url("/v2/" + r.Repository() + "/referrers/" + subject.String())
	if artifactType != "" {
		u.RawQuery = url.Values{"artifactType": {artifactType}}.Encode()
	}
	var all []image.Descriptor
	seen := map[string]bool{}
	for page := 0; u != nil; page++ {
		if page >= maxReferrerPages {
			return nil, fmt.Errorf("the referrers API gave more than %d pages", maxReferrerPages)
		}
		if seen[u.String()] {
			return nil, fmt.Errorf("the referrers API's Link header loops back to %s", redactURL(u))
		}
		seen[u.String()] = true
		var got []image.Descriptor
		var next *url.URL
		err := c.retrying(ctx, "referrers of "+subject.String(), func(ctx context.Context) error {
			var err error
			got, next, err = c.referrersPage(ctx, r, u)
			return err
		})
		var re *Error
		if page == 0 && errors.As(err, &re) && (re.Status == http.StatusNotFound || re.Status == http.StatusMethodNotAllowed || re.Status == http.StatusNotImplemented) {
			return nil, errNoReferrersAPI
		}
		if err != nil {
			return nil, err
		}
		all = append(all, got...)
		u = next
	}
	return all, nil
}

// referrersPage reads one page: an OCI index of referrer descriptors, no
// larger than a manifest may be, each descriptor validated.
func (c *Client) referrersPage(ctx context.Context, r ref.Reference, u *url.URL) ([]image.Descriptor, *url.URL, error) {
	req, err := c.newRequest(ctx, http.MethodGet, u)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", image.MediaTypeOCIIndex)
	resp, err := c.do(req, r.Repository())
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.ContentLength > MaxManifestSize {
		return nil, nil, fmt.Errorf("a page of referrers is %d bytes, over the limit of %d", resp.ContentLength, MaxManifestSize)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading referrers: %w", err)
	}
	if len(body) > MaxManifestSize {
		return nil, nil, fmt.Errorf("a page of referrers is over %d bytes", MaxManifestSize)
	}
	p, err := image.Parse(resp.Header.Get("Content-Type"), body)
	if err != nil {
		return nil, nil, fmt.Errorf("decoding referrers: %w", err)
	}
	if p.Index == nil {
		return nil, nil, fmt.Errorf("the referrers API answered a %s, not an index", p.MediaType)
	}
	next, err := nextLink(resp.Request.URL, resp.Header.Values("Link"))
	if err != nil {
		return nil, nil, err
	}
	if next != nil && (next.Scheme != c.base.Scheme || next.Host != c.base.Host) {
		return nil, nil, fmt.Errorf("the registry's Link header points to another origin (%s)", redactURL(next))
	}
	return p.Index.Manifests, next, nil
}

// headTag asks whether tag r exists (HEAD: no Docker Hub pull), and its
// digest if the registry says it ("" if not). A 404 is (_, false, nil). It
// does not ask the tag list why, as Head does for a person's mistake: a
// missing referrer tag is the common case.
func (c *Client) headTag(ctx context.Context, r ref.Reference) (digest.Digest, bool, error) {
	req, err := c.newRequest(ctx, http.MethodHead, c.url("/v2/"+r.Repository()+"/manifests/"+r.Identifier()))
	if err != nil {
		return "", false, err
	}
	req.Header.Set("Accept", acceptHeader())
	resp, err := c.doRetrying(req, r.Repository())
	var re *Error
	if errors.As(err, &re) && re.Status == http.StatusNotFound {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("checking manifest of %s: %w", r, err)
	}
	resp.Body.Close()
	hd := digest.Digest(strings.TrimSpace(resp.Header.Get("Docker-Content-Digest")))
	if hd != "" && image.ValidateDigest(hd) != nil {
		hd = ""
	}
	return hd, true, nil
}

// subjectOf is a manifest's or an index's subject, or nil.
func subjectOf(p *image.Parsed) *image.Descriptor {
	if p.Manifest != nil {
		return p.Manifest.Subject
	}
	return p.Index.Subject
}

// artifactType is what the spec lists a referrer as: its artifactType,
// else (a manifest) its config's media type.
func artifactType(p *image.Parsed) string {
	if p.Manifest != nil {
		if p.Manifest.ArtifactType != "" {
			return p.Manifest.ArtifactType
		}
		return p.Manifest.Config.MediaType
	}
	return p.Index.ArtifactType
}
