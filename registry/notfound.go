package registry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/haul-dev/haul/internal/editdist"
	"github.com/haul-dev/haul/ref"
)

// maxNearTags is how many similar tags a "no such tag" error lists.
const maxNearTags = 5

// explainNotFound tells a missing repository from a missing tag after a
// manifest 404 (a HEAD's 404 has no body to say which), by asking for the first
// page of tags, and lists tags near the one asked for.
func (c *Client) explainNotFound(ctx context.Context, r ref.Reference, err error) {
	var re *Error
	if !errors.As(err, &re) || re.Status != http.StatusNotFound || ctx.Err() != nil {
		return
	}
	tags, _, terr := c.tagsPage(ctx, r, c.url("/v2/"+r.Repository()+"/tags/list"))
	var te *Error
	switch {
	case terr == nil:
		re.Missing = MissingTag
		if r.Tag() != "" && r.Digest() == "" {
			re.NearTags = nearTags(r.Tag(), tags)
		}
	case errors.As(terr, &te) && te.Status == http.StatusNotFound:
		re.Missing = MissingRepository
		if answer := c.notRegistry(ctx); answer != "" {
			re.Missing, re.NotRegistry = MissingRegistry, answer
		}
	}
}

// notRegistry asks /v2/ whether the server speaks the distribution API. It
// returns what the server answered when it does not (neither 200 nor 401, or
// an HTML page), and "" when it does or cannot tell.
func (c *Client) notRegistry(ctx context.Context) string {
	req, err := c.newRequest(ctx, http.MethodGet, c.url("/v2/"))
	if err != nil {
		return ""
	}
	resp, err := c.anon.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	ct = strings.TrimSpace(ct)
	html := strings.EqualFold(ct, "text/html")
	if (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized) && !html {
		return ""
	}
	answer := resp.Status
	if ct != "" {
		answer += ", " + ct
	}
	return printable(answer)
}

// nearTags picks tags that share a prefix with want or are a short edit away.
func nearTags(want string, tags []string) []string {
	type scored struct {
		tag  string
		dist int
	}
	var near []scored
	for _, t := range tags {
		d := editdist.Distance(want, t)
		if d <= max(2, len(want)/3) || (len(want) >= 2 && strings.HasPrefix(t, want)) {
			near = append(near, scored{t, d})
		}
	}
	slices.SortStableFunc(near, func(a, b scored) int { return a.dist - b.dist })
	out := make([]string, 0, min(len(near), maxNearTags))
	for _, s := range near[:min(len(near), maxNearTags)] {
		out = append(out, s.tag)
	}
	return out
}
