package registry

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
)

// ManifestExists asks (HEAD, which Docker Hub does not count as a pull)
// whether r's manifest is at the registry, and for its digest: "" when the
// registry sent no well-formed Docker-Content-Digest. Unlike Head, a 404 is
// an answer, not an error, and costs no second request to explain it: a push
// asks this of every manifest it is about to put, and most are absent.
func (c *Client) ManifestExists(ctx context.Context, r ref.Reference) (digest.Digest, bool, error) {
	req, err := c.newRequest(ctx, http.MethodHead, c.url("/v2/"+r.Repository()+"/manifests/"+r.Identifier()))
	if err != nil {
		return "", false, fmt.Errorf("checking for manifest %s: %w", r, err)
	}
	req.Header.Set("Accept", acceptHeader())
	resp, err := c.do(req, r.Repository(), http.StatusNotFound)
	if err != nil {
		return "", false, fmt.Errorf("checking for manifest %s: %w", r, err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "", false, nil
	}
	hd := digest.Digest(strings.TrimSpace(resp.Header.Get("Docker-Content-Digest")))
	if hd == "" || image.ValidateDigest(hd) != nil {
		return "", true, nil
	}
	if r.Digest() != "" && hd != r.Digest() {
		return "", false, fmt.Errorf("checking for manifest %s: the registry answered for %s", r, hd)
	}
	return hd, true, nil
}
