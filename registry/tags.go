package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/haul-dev/haul/ref"
)

// maxTagPages bounds pagination, so a registry whose Link never ends cannot hold us.
const maxTagPages = 10000

// Tags lists every tag of repo, following Link pagination. Pages must stay on the
// registry's own origin and never repeat.
func (c *Client) Tags(ctx context.Context, repo ref.Reference) ([]string, error) {
	if err := c.checkRef(repo); err != nil {
		return nil, err
	}
	u := c.url("/v2/" + repo.Repository() + "/tags/list")
	var tags []string
	seen := map[string]bool{}
	for page := 0; u != nil; page++ {
		if page >= maxTagPages {
			return nil, fmt.Errorf("listing tags of %s: more than %d pages", repo.Name(), maxTagPages)
		}
		if seen[u.String()] {
			return nil, fmt.Errorf("listing tags of %s: the registry's Link header loops back to %s", repo.Name(), redactURL(u))
		}
		seen[u.String()] = true
		got, next, err := c.tagsPage(ctx, repo, u)
		if err != nil {
			return nil, fmt.Errorf("listing tags of %s: %w", repo.Name(), err)
		}
		tags = append(tags, got...)
		u = next
	}
	return tags, nil
}

// tagsPage reads one page of tags whole, asking again for it as a whole
// when it fails on the way (one budget for the page).
func (c *Client) tagsPage(ctx context.Context, repo ref.Reference, u *url.URL) ([]string, *url.URL, error) {
	var (
		tags []string
		next *url.URL
	)
	err := c.retrying(ctx, "tags of "+repo.Name(), func(ctx context.Context) error {
		var err error
		tags, next, err = c.tagsPageOnce(ctx, repo, u)
		return err
	})
	return tags, next, err
}

func (c *Client) tagsPageOnce(ctx context.Context, repo ref.Reference, u *url.URL) ([]string, *url.URL, error) {
	req, err := c.newRequest(ctx, http.MethodGet, u)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.do(req, repo.Repository())
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxManifestSize+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading tag list: %w", err)
	}
	if len(body) > MaxManifestSize {
		return nil, nil, fmt.Errorf("a page of tags is over %d bytes", MaxManifestSize)
	}
	var list struct {
		Tags []string `json:"tags"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, nil, fmt.Errorf("decoding tag list: %w", err)
	}
	next, err := nextLink(resp.Request.URL, resp.Header.Values("Link"))
	if err != nil {
		return nil, nil, err
	}
	if next != nil && (next.Scheme != c.base.Scheme || next.Host != c.base.Host) {
		return nil, nil, fmt.Errorf("the registry's Link header points to another origin (%s)", redactURL(next))
	}
	return list.Tags, next, nil
}

// nextLink finds rel="next" in RFC 8288 Link header values and resolves it
// against the URL of the page that carried it. No next link is (nil, nil).
func nextLink(base *url.URL, values []string) (*url.URL, error) {
	for _, v := range values {
		for _, link := range splitLinks(v) {
			target, params, ok := strings.Cut(link, ";")
			target = strings.TrimSpace(target)
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			if !hasRelNext(params) {
				continue
			}
			u, err := base.Parse(target[1 : len(target)-1])
			if err != nil {
				return nil, fmt.Errorf("malformed Link header %q: %w", v, err)
			}
			if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				return nil, fmt.Errorf("link header %q: the next page is not an http(s) URL", v)
			}
			return u, nil
		}
	}
	return nil, nil
}

// splitLinks splits a Link value at the commas between links, not those inside <…> or quotes.
func splitLinks(v string) []string {
	var out []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(v); i++ {
		switch ch := v[i]; {
		case quoted && ch == '\\':
			i++
		case ch == '"':
			quoted = !quoted
		case quoted:
		case ch == '<':
			depth++
		case ch == '>':
			if depth > 0 {
				depth--
			}
		case ch == ',' && depth == 0:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

func hasRelNext(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if !strings.EqualFold(strings.TrimSpace(k), "rel") {
			continue
		}
		for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(v), `"`)) {
			if strings.EqualFold(rel, "next") {
				return true
			}
		}
	}
	return false
}
