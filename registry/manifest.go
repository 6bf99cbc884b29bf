package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
)

// MaxManifestSize caps a manifest or a page of tags: refused before parsing,
// whatever Content-Length says.
const MaxManifestSize = 4 << 20

// maxIndexDepth bounds how many indexes deep Resolve follows.
const maxIndexDepth = 8

// Manifest is a manifest or index as the registry sent it, with its descriptor.
type Manifest struct {
	Descriptor image.Descriptor // media type, size and sha256 of Body
	Body       []byte
	Parsed     *image.Parsed
}

func acceptHeader() string { return strings.Join(image.ManifestMediaTypes(), ", ") }

// Manifest fetches r's manifest or index (GET, which Docker Hub counts as a
// pull). The body must hash to r's pinned digest, if any, and to
// Docker-Content-Digest, if sent.
func (c *Client) Manifest(ctx context.Context, r ref.Reference) (*Manifest, error) {
	if err := c.checkRef(r); err != nil {
		return nil, err
	}
	m, err := c.manifest(ctx, r, image.Descriptor{Digest: r.Digest(), Size: -1})
	if err != nil {
		c.explainNotFound(ctx, r, err)
		return nil, fmt.Errorf("fetching manifest of %s: %w", r, err)
	}
	return m, nil
}

// ManifestByDescriptor fetches the manifest d names in r's repository: it must
// have d's digest and size.
func (c *Client) ManifestByDescriptor(ctx context.Context, r ref.Reference, d image.Descriptor) (*Manifest, error) {
	if err := c.checkRef(r); err != nil {
		return nil, err
	}
	if err := image.ValidateDescriptor(d); err != nil {
		return nil, fmt.Errorf("fetching manifest of %s: %w", r.Name(), err)
	}
	m, err := c.manifest(ctx, r.WithDigest(d.Digest), d)
	if err != nil {
		return nil, fmt.Errorf("fetching manifest %s of %s: %w", d.Digest, r.Name(), err)
	}
	return m, nil
}

// manifest GETs r; want.Digest, when set, is the digest the body must have, and
// want.Size, when ≥ 0, its size.
func (c *Client) manifest(ctx context.Context, r ref.Reference, want image.Descriptor) (*Manifest, error) {
	if want.Digest != "" {
		if err := image.ValidateDigest(want.Digest); err != nil {
			return nil, err
		}
	}
	// The whole exchange, body included, is one operation with one budget:
	// a 503, a dropped or stalled body, is asked for again as a whole.
	var m *Manifest
	err := c.retrying(ctx, "manifest "+r.String(), func(ctx context.Context) error {
		var err error
		m, err = c.getManifest(ctx, r, want)
		return err
	})
	return m, err
}

func (c *Client) getManifest(ctx context.Context, r ref.Reference, want image.Descriptor) (*Manifest, error) {
	req, err := c.newRequest(ctx, http.MethodGet, c.url("/v2/"+r.Repository()+"/manifests/"+r.Identifier()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", acceptHeader())
	resp, err := c.do(req, r.Repository())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	limit := int64(MaxManifestSize)
	if want.Size >= 0 {
		limit = min(limit, want.Size)
	}
	what := "manifest " + r.String()
	if resp.ContentLength > limit {
		if want.Size >= 0 {
			return nil, &image.SizeError{What: what, Want: want.Size, Got: want.Size + 1}
		}
		return nil, fmt.Errorf("manifest is %d bytes, over the limit of %d", resp.ContentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading manifest: %w", err)
	}
	if int64(len(body)) > limit {
		if want.Size >= 0 {
			return nil, &image.SizeError{What: what, Want: want.Size, Got: want.Size + 1}
		}
		return nil, fmt.Errorf("manifest is over the limit of %d bytes", limit)
	}
	if want.Size >= 0 && int64(len(body)) != want.Size {
		return nil, &image.SizeError{What: what, Want: want.Size, Got: int64(len(body))}
	}
	if err := checkManifestDigest(body, want.Digest, resp.Header.Get("Docker-Content-Digest"), r.String()); err != nil {
		return nil, err
	}
	parsed, err := image.Parse(resp.Header.Get("Content-Type"), body)
	if err != nil {
		if ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";"); strings.EqualFold(strings.TrimSpace(ct), "text/html") {
			return nil, fmt.Errorf("%s answered a web page (text/html), not a manifest: %s does not look like a container registry (check the host name and port), or a proxy or captive portal answered for it", redactURL(resp.Request.URL), c.registry)
		}
		return nil, err
	}
	d := image.Descriptor{MediaType: parsed.MediaType, Digest: digest.FromBytes(body), Size: int64(len(body))}
	return &Manifest{Descriptor: d, Body: body, Parsed: parsed}, nil
}

// checkManifestDigest compares the body's digest with the pinned one and with
// the registry's header, each in its own algorithm.
func checkManifestDigest(body []byte, pinned digest.Digest, header, what string) error {
	if pinned != "" {
		if got := pinned.Algorithm().FromBytes(body); got != pinned {
			return &image.DigestError{What: "manifest " + what, Want: pinned, Got: got}
		}
	}
	if header == "" {
		return nil
	}
	hd := digest.Digest(strings.TrimSpace(header))
	if err := image.ValidateDigest(hd); err != nil {
		return fmt.Errorf("registry sent a malformed Docker-Content-Digest: %w", err)
	}
	if got := hd.Algorithm().FromBytes(body); got != hd {
		return fmt.Errorf("the registry's Docker-Content-Digest %s disagrees with the manifest it sent (%s)", hd, got)
	}
	return nil
}

// Head asks for r's descriptor without the body (HEAD, which Docker Hub does
// not count as a pull). Digest is "" when the registry sent no well-formed
// Docker-Content-Digest; Size is -1 without Content-Length.
func (c *Client) Head(ctx context.Context, r ref.Reference) (image.Descriptor, error) {
	if err := c.checkRef(r); err != nil {
		return image.Descriptor{}, err
	}
	req, err := c.newRequest(ctx, http.MethodHead, c.url("/v2/"+r.Repository()+"/manifests/"+r.Identifier()))
	if err != nil {
		return image.Descriptor{}, err
	}
	req.Header.Set("Accept", acceptHeader())
	resp, err := c.doRetrying(req, r.Repository())
	if err != nil {
		c.explainNotFound(ctx, r, err)
		return image.Descriptor{}, fmt.Errorf("checking manifest of %s: %w", r, err)
	}
	resp.Body.Close()
	d := image.Descriptor{Size: -1}
	if mt := resp.Header.Get("Content-Type"); mt != "" {
		d.MediaType, _, _ = strings.Cut(mt, ";")
		d.MediaType = strings.TrimSpace(d.MediaType)
	}
	if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		d.Size = n
	}
	if hd := digest.Digest(strings.TrimSpace(resp.Header.Get("Docker-Content-Digest"))); hd != "" && image.ValidateDigest(hd) == nil {
		d.Digest = hd
	}
	if r.Digest() != "" && d.Digest != "" && d.Digest != r.Digest() {
		return image.Descriptor{}, fmt.Errorf("checking manifest of %s: the registry answered for %s", r, d.Digest)
	}
	return d, nil
}

// Digest is the digest r points to. It uses HEAD and the registry's
// Docker-Content-Digest, which costs no Docker Hub pull; without that header
// it falls back to GET and hashes the body (noted in the trace).
func (c *Client) Digest(ctx context.Context, r ref.Reference) (digest.Digest, error) {
	d, err := c.Head(ctx, r)
	var re *Error
	switch {
	case err == nil && d.Digest != "":
		return d.Digest, nil
	case err != nil && !(errors.As(err, &re) && re.Status == http.StatusMethodNotAllowed):
		return "", err
	}
	c.note("# no usable Docker-Content-Digest on HEAD: falling back to GET and hashing the manifest")
	m, err := c.Manifest(ctx, r)
	if err != nil {
		return "", err
	}
	return m.Descriptor.Digest, nil
}

// note writes a line into the trace, if there is one.
func (c *Client) note(s string) {
	if c.trace != nil {
		c.traceMu.Lock()
		fmt.Fprintln(c.trace, s)
		c.traceMu.Unlock()
	}
	c.log.Debug(s)
}

// Resolve fetches r and, while it is an index, the entry for platform, down to
// an image manifest. Each child must hash to its index entry; nested indexes are
// followed at most 8 deep and never in a loop. The returned slice is the chain
// from r's manifest (first) to the image manifest (last).
func (c *Client) Resolve(ctx context.Context, r ref.Reference, platform image.Platform) ([]*Manifest, error) {
	m, err := c.Manifest(ctx, r)
	if err != nil {
		return nil, err
	}
	chain := []*Manifest{m}
	seen := map[digest.Digest]bool{m.Descriptor.Digest: true}
	for m.Parsed.Index != nil {
		if len(chain) > maxIndexDepth {
			return nil, fmt.Errorf("resolving %s: indexes nested more than %d deep", r, maxIndexDepth)
		}
		d, err := image.Select(m.Parsed.Index, platform)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", r, err)
		}
		if seen[d.Digest] {
			return nil, fmt.Errorf("resolving %s: index %s refers back to itself", r, d.Digest)
		}
		seen[d.Digest] = true
		m, err = c.ManifestByDescriptor(ctx, r, d)
		if err != nil {
			return nil, err
		}
		if d.MediaType != "" && d.MediaType != m.Descriptor.MediaType {
			return nil, fmt.Errorf("resolving %s: index says %s is %s, but it is %s", r, d.Digest, d.MediaType, m.Descriptor.MediaType)
		}
		chain = append(chain, m)
	}
	return chain, nil
}
