package registry

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// traceRT prints each exchange as the curl command that repeats it, then the
// status line and the response headers that matter to the protocol. It sits
// innermost, so it sees every retry, redirect hop and token request.
type traceRT struct {
	next    http.RoundTripper
	w       io.Writer
	mu      *sync.Mutex
	secrets bool // print tokens and passwords instead of redacting them
}

// tracedHeaders are the response headers worth showing: the ones the token dance,
// digests, redirects and rate limits turn on.
var tracedHeaders = []string{
	"Content-Type", "Content-Length", "Content-Range", "Docker-Content-Digest", "Location",
	"Www-Authenticate", "Link", "Retry-After", "Ratelimit-Limit", "Ratelimit-Remaining",
}

func (t traceRT) RoundTrip(req *http.Request) (*http.Response, error) {
	cmd := curlCommand(req, t.secrets)
	resp, err := t.next.RoundTrip(req)
	var b strings.Builder
	b.WriteString(cmd)
	b.WriteByte('\n')
	if err != nil {
		fmt.Fprintf(&b, "< error: %v\n", err)
	} else {
		fmt.Fprintf(&b, "< %s %s\n", resp.Proto, resp.Status)
		for _, h := range tracedHeaders {
			for _, v := range resp.Header.Values(h) {
				if h == "Location" && !t.secrets {
					if u, perr := url.Parse(v); perr == nil {
						v = redactURL(u)
					}
				}
				fmt.Fprintf(&b, "< %s: %s\n", h, v)
			}
		}
	}
	t.mu.Lock()
	io.WriteString(t.w, b.String())
	t.mu.Unlock()
	return resp, err
}

// curlCommand renders req as a shell command line, single-quoted throughout.
func curlCommand(req *http.Request, secrets bool) string {
	var b strings.Builder
	b.WriteString("$ curl -sS")
	switch req.Method {
	case http.MethodGet:
	case http.MethodHead:
		b.WriteString(" -I")
	default:
		b.WriteString(" -X " + req.Method)
	}
	names := make([]string, 0, len(req.Header))
	for k := range req.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range req.Header[k] {
			if k == "Authorization" {
				b.WriteString(" " + curlAuth(v, secrets))
				continue
			}
			b.WriteString(" -H " + shellQuote(k+": "+v))
		}
	}
	if req.GetBody != nil && req.ContentLength > 0 && req.ContentLength <= 4<<10 {
		if rc, err := req.GetBody(); err == nil {
			body, _ := io.ReadAll(rc)
			rc.Close()
			if !secrets {
				body = redactForm(body)
			}
			b.WriteString(" --data-raw " + shellQuote(string(body)))
		}
	}
	u := req.URL.String()
	if !secrets {
		u = redactURL(req.URL)
	}
	b.WriteString(" " + shellQuote(u))
	return b.String()
}

func curlAuth(v string, secrets bool) string {
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok && !secrets {
		return "-H " + shellQuote("Authorization: REDACTED")
	}
	if strings.EqualFold(scheme, "basic") {
		if raw, err := base64.StdEncoding.DecodeString(cred); err == nil {
			user, pass, _ := strings.Cut(string(raw), ":")
			if !secrets {
				pass = "REDACTED"
			}
			return "-u " + shellQuote(user+":"+pass)
		}
	}
	if !secrets {
		cred = "REDACTED"
	}
	return "-H " + shellQuote("Authorization: "+scheme+" "+cred)
}

// secretParams are form and query parameters whose values are never printed.
var secretParams = []string{"password", "refresh_token", "access_token", "token", "signature", "sig", "credential", "secret", "key"}

func isSecretParam(name string) bool {
	n := strings.ToLower(name)
	for _, s := range secretParams {
		if strings.Contains(n, s) {
			return true
		}
	}
	return false
}

func redactForm(body []byte) []byte {
	vals, err := url.ParseQuery(string(body))
	if err != nil || strings.HasPrefix(strings.TrimSpace(string(body)), "{") {
		return []byte("REDACTED")
	}
	changed := false
	for k := range vals {
		if isSecretParam(k) {
			vals[k] = []string{"REDACTED"}
			changed = true
		}
	}
	if !changed {
		return body
	}
	return []byte(vals.Encode())
}

// redactURL hides signed-URL secrets (a CDN's X-Amz-Signature, a token) and userinfo.
func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	if c.RawQuery != "" {
		q, err := url.ParseQuery(c.RawQuery)
		if err != nil {
			c.RawQuery = "REDACTED"
			return c.String()
		}
		changed := false
		for k := range q {
			if isSecretParam(k) {
				q[k] = []string{"REDACTED"}
				changed = true
			}
		}
		if changed {
			c.RawQuery = q.Encode()
		}
	}
	return c.String()
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
