package registry

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
)

// ManifestExists asks (HEAD, which Docker Hub does not count as a pull)
// whether r's manifest is at the registry, and for its descriptor: Digest
// "" when the registry sent no well-formed Docker-Content-Digest, MediaType
// its Content-Type, Size -1 without Content-Length. Unlike Head, a 404 is
// an answer, not an error, and costs no second request to explain it: a push
// asks this of every manifest it is about to put, and most are absent.
func (c *Client) ManifestExists(ctx context.Context, r ref.Reference) (image.Descriptor, bool, error) {
	if err := c.checkRef(r); err != nil {
		return image.Descriptor{}, false, err
	}
	req, err := c.newRequest(ctx, http.MethodHead, c.url("/v2/"+r.Repository()+"/manifests/"+r.Identifier()))
	if err != nil {
		return image.Descriptor{}, false, fmt.Errorf("checking for manifest %s: %w", r, err)
	}
	req.Header.Set("Accept", acceptHeader())
	resp, err := c.do(req, r.Repository(), http.StatusNotFound)
	if err != nil {
		return image.Descriptor{}, false, fmt.Errorf("checking for manifest %s: %w", r, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return image.Descriptor{}, false, nil
	}
	d := image.Descriptor{Size: -1}
	d.MediaType, _, _ = strings.Cut(resp.Header.Get("Content-Type"), ";")
	d.MediaType = strings.TrimSpace(d.MediaType)
	if n, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		d.Size = n
	}
	if hd := digest.Digest(strings.TrimSpace(resp.Header.Get("Docker-Content-Digest"))); image.ValidateDigest(hd) == nil {
		d.Digest = hd
	}
	if r.Digest() != "" && d.Digest != "" && d.Digest != r.Digest() {
		return image.Descriptor{}, false, fmt.Errorf("checking for manifest %s: the registry answered for %s", r, d.Digest)
	}
	return d, true, nil
}
