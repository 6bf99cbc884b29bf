package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Transport is the authentication http.RoundTripper for one registry.
//
// It sends credentials only to Origin: a request to any other scheme, host or port (a
// redirect to a CDN, which http.Client sends through the same RoundTripper) goes out
// with no Authorization header at all, even one the caller set. Basic credentials also
// go to the token realm the registry's own challenge named, and nowhere else.
//
// The first request goes out anonymous. A 401's challenge (Bearer preferred, then Basic)
// is remembered, so later requests carry a token or Basic credentials from the start,
// with no 401 round trip per repository. Bearer tokens are cached per set of scopes
// until shortly before they expire, and concurrent requests that need the same token
// fetch it once. A 401 to a request that carried a token drops that token, fetches a
// fresh one for the scopes the new challenge names, and replays the request once
// (through req.GetBody when it has a body); a second 401 is returned as is.
//
// Set the fields before the first request and do not change them after; a Transport
// is safe for concurrent use. It must be used by pointer.
type Transport struct {
	Next     http.RoundTripper // registry and token requests both go through it; nil: http.DefaultTransport
	Registry string            // credential lookup key, e.g. "docker.io"
	Origin   string            // "scheme://host[:port]" credentials may be sent to; "": none
	Creds    Source            // nil: anonymous
	ClientID string            // OAuth2 client_id; "": "haul"
	Now      func() time.Time  // nil: time.Now

	mu      sync.Mutex
	scheme  string    // the challenge answered: "", "bearer" or "basic"
	bearer  Challenge // the registry's last bearer challenge: realm and service
	gen     int       // incremented when realm or service change, to drop tokens in flight
	cred    *Credential
	tokens  map[string]token // by scopeKey
	flights map[string]*flight
	learned map[string][]string // scopes the registry named for paths without a repository
}

// maxLearnedPaths bounds Transport.learned: only a few paths have no repository
// (/v2/, /v2/_catalog, extensions).
const maxLearnedPaths = 32

// flight is one token fetch or credential lookup that concurrent callers wait for.
type flight struct {
	done chan struct{}
	tok  token
	cred Credential
	err  error
}

const credFlight = "\x00credential" // not a scopeKey: scopes hold no NUL

func (t *Transport) next() http.RoundTripper {
	if t.Next == nil {
		return http.DefaultTransport
	}
	return t.Next
}

func (t *Transport) now() time.Time {
	if t.Now == nil {
		return time.Now()
	}
	return t.Now()
}

// RoundTrip sends req, authenticated if it goes to Origin. It does not change req.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	next := t.next()
	if !sameOrigin(req.URL, t.Origin) {
		if _, ok := req.Header["Authorization"]; !ok {
			return next.RoundTrip(req)
		}
		r := req.Clone(req.Context())
		r.Header.Del("Authorization")
		return next.RoundTrip(r)
	}
	ctx := req.Context()
	scopes := requestScopes(req.Method, req.URL)
	authz, err := t.authorization(ctx, req.URL.Path, scopes)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	r := req.Clone(ctx)
	if authz != "" {
		r.Header.Set("Authorization", authz)
	}
	resp, err := next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	ch, ok := pickChallenge(ParseChallenges(resp.Header.Values("Www-Authenticate")))
	if !ok {
		return resp, nil
	}
	sent := r.Header.Get("Authorization")
	retry, err := t.answer(ctx, ch, req.URL.Path, scopes, sent)
	if err != nil {
		discard(resp)
		return nil, err
	}
	if retry == "" || retry == sent {
		return resp, nil // nothing new to try: never loop
	}
	body, ok := replayBody(req)
	if !ok {
		return resp, nil // the body is spent; the token is cached for the caller's retry
	}
	discard(resp)
	r = req.Clone(ctx)
	r.Body = body
	r.Header.Set("Authorization", retry)
	return next.RoundTrip(r)
}

// authorization is what a request to path needs, from what is known before sending it.
func (t *Transport) authorization(ctx context.Context, path string, scopes []string) (string, error) {
	t.mu.Lock()
	scheme := t.scheme
	scopes = union(scopes, t.learned[path])
	t.mu.Unlock()
	if scheme == "" {
		return "", nil
	}
	cred, err := t.credential(ctx)
	if err != nil {
		return "", err
	}
	switch {
	case scheme == "basic":
		return basicAuth(cred), nil
	case cred.RegistryToken != "":
		return "Bearer " + cred.RegistryToken, nil
	}
	tok, err := t.token(ctx, scopes, "")
	if err != nil {
		return "", err
	}
	return "Bearer " + tok, nil
}

// answer learns a 401's challenge and returns the Authorization to replay with, or "".
func (t *Transport) answer(ctx context.Context, ch Challenge, path string, scopes []string, sent string) (string, error) {
	named := strings.Fields(ch.Params["scope"])
	t.learn(ch, path, scopes, named)
	cred, err := t.credential(ctx)
	if err != nil {
		return "", err
	}
	switch {
	case ch.Scheme == "basic":
		return basicAuth(cred), nil
	case cred.RegistryToken != "":
		return "Bearer " + cred.RegistryToken, nil
	}
	t.mu.Lock()
	scopes = union(union(scopes, t.learned[path]), named)
	t.mu.Unlock()
	stale, _ := strings.CutPrefix(sent, "Bearer ")
	tok, err := t.token(ctx, scopes, stale)
	if err != nil {
		return "", err
	}
	return "Bearer " + tok, nil
}

func (t *Transport) learn(ch Challenge, path string, scopes, named []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.scheme = ch.Scheme
	if ch.Scheme != "bearer" {
		return
	}
	if ch.Params["realm"] != t.bearer.Params["realm"] || ch.Params["service"] != t.bearer.Params["service"] {
		t.tokens = nil
		t.gen++
	}
	t.bearer = ch
	if len(scopes) == 0 && len(named) > 0 {
		if t.learned == nil {
			t.learned = map[string][]string{}
		}
		if _, ok := t.learned[path]; ok || len(t.learned) < maxLearnedPaths {
			t.learned[path] = named
		}
	}
}

// credential looks Creds up once per Transport: a helper is a process, too slow to run
// per request. A failed lookup is not remembered.
func (t *Transport) credential(ctx context.Context) (Credential, error) {
	if t.Creds == nil {
		return Credential{}, nil
	}
	for {
		t.mu.Lock()
		if t.cred != nil {
			c := *t.cred
			t.mu.Unlock()
			return c, nil
		}
		f, lead := t.join(credFlight)
		t.mu.Unlock()
		if !lead {
			if err := t.wait(ctx, f); err != nil {
				if retryFlight(ctx, err) {
					continue
				}
				return Credential{}, err
			}
			return f.cred, nil
		}
		c, err := t.Creds.Credential(ctx, t.Registry)
		t.mu.Lock()
		if err == nil {
			t.cred = &c
		}
		t.land(credFlight, f, token{}, c, err)
		t.mu.Unlock()
		return c, err
	}
}

// token returns a bearer token for scopes, from the cache or fetched once however many
// callers ask. stale is a token the registry refused: it is dropped from the cache
// unless it was replaced meanwhile.
func (t *Transport) token(ctx context.Context, scopes []string, stale string) (string, error) {
	key := scopeKey(scopes)
	for {
		t.mu.Lock()
		if stale != "" {
			for k, v := range t.tokens {
				if v.value == stale {
					delete(t.tokens, k)
				}
			}
			stale = ""
		}
		if tok, ok := t.tokens[key]; ok && t.now().Before(tok.refreshAt) {
			t.mu.Unlock()
			return tok.value, nil
		}
		f, lead := t.join(key)
		ch, gen := t.bearer, t.gen
		t.mu.Unlock()
		if !lead {
			if err := t.wait(ctx, f); err != nil {
				if retryFlight(ctx, err) {
					continue
				}
				return "", err
			}
			return f.tok.value, nil
		}
		tok, err := t.fetch(ctx, ch, scopes)
		t.mu.Lock()
		if err == nil && gen == t.gen {
			if t.tokens == nil {
				t.tokens = map[string]token{}
			}
			now := t.now()
			for k, v := range t.tokens { // sweep, so a long pull of many repositories stays small
				if !now.Before(v.expires) {
					delete(t.tokens, k)
				}
			}
			t.tokens[key] = tok
		}
		t.land(key, f, tok, Credential{}, err)
		t.mu.Unlock()
		return tok.value, err
	}
}

func (t *Transport) fetch(ctx context.Context, ch Challenge, scopes []string) (token, error) {
	cred, err := t.credential(ctx)
	if err != nil {
		return token{}, err
	}
	origin, err := url.Parse(t.Origin)
	if err != nil {
		return token{}, err // cannot happen: sameOrigin parsed it
	}
	f, err := newTokenFetch(t.next(), origin, ch, scopes, cred, t.ClientID, t.now)
	if err != nil {
		return token{}, err
	}
	tok, err := f.fetch(ctx)
	var te *TokenError
	if errors.As(err, &te) {
		te.Registry = t.Registry
	}
	return tok, err
}

// join returns the flight for key and whether the caller leads it. t.mu must be held.
func (t *Transport) join(key string) (*flight, bool) {
	if f, ok := t.flights[key]; ok {
		return f, false
	}
	if t.flights == nil {
		t.flights = map[string]*flight{}
	}
	f := &flight{done: make(chan struct{})}
	t.flights[key] = f
	return f, true
}

// land ends a flight the caller led. t.mu must be held.
func (t *Transport) land(key string, f *flight, tok token, c Credential, err error) {
	delete(t.flights, key)
	f.tok, f.cred, f.err = tok, c, err
	close(f.done)
}

// wait waits for a flight someone else leads, or for ctx.
func (t *Transport) wait(ctx context.Context, f *flight) error {
	select {
	case <-f.done:
		return f.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// retryFlight reports whether a waiter should lead a new flight: the one it waited for
// ended because its leader's context did, and the waiter's own has not.
func retryFlight(ctx context.Context, err error) bool {
	return ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

func basicAuth(c Credential) string {
	if c.Username == "" && c.Password == "" {
		return ""
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.Username+":"+c.Password))
}

// sameOrigin reports whether u has origin's scheme, host and port, default ports made
// explicit. An empty or unparsable origin matches nothing.
func sameOrigin(u *url.URL, origin string) bool {
	o, err := url.Parse(origin)
	if err != nil {
		return false
	}
	a, ok1 := originKey(u)
	b, ok2 := originKey(o)
	return ok1 && ok2 && a == b
}

func originKey(u *url.URL) (string, bool) {
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	if (scheme != "https" && scheme != "http") || host == "" {
		return "", false
	}
	return scheme + "://" + net.JoinHostPort(host, port), true
}

// requestScopes derives the token scopes a request needs from its path: the repository
// of /v2/<name>/(manifests|blobs|tags|referrers)/..., to pull for GET and HEAD and to
// pull and push otherwise (and for anything about an upload session), and for a
// cross-repository mount the repository mounted from.
// Other paths (/v2/, /v2/_catalog) need what the registry's challenge names.
func requestScopes(method string, u *url.URL) []string {
	rest, ok := strings.CutPrefix(u.Path, "/v2/")
	if !ok {
		return nil
	}
	segs := strings.Split(rest, "/")
	n := len(segs)
	var name []string
	upload := false
	switch {
	case n >= 4 && segs[n-3] == "blobs" && segs[n-2] == "uploads":
		name, upload = segs[:n-3], true
	case n >= 3 && segs[n-2] == "tags" && segs[n-1] == "list":
		name = segs[:n-2]
	case n >= 3 && (segs[n-2] == "manifests" || segs[n-2] == "blobs" || segs[n-2] == "referrers"):
		name = segs[:n-2]
	}
	if len(name) == 0 || slices.Contains(name, "") {
		return nil
	}
	action := "pull"
	// An upload session's status (GET on its URL) needs push as much as its PATCH does.
	if upload || (method != http.MethodGet && method != http.MethodHead) {
		action = "pull,push"
	}
	scopes := []string{"repository:" + strings.Join(name, "/") + ":" + action}
	if from := u.Query().Get("from"); from != "" && u.Query().Has("mount") {
		scopes = append(scopes, "repository:"+from+":pull")
	}
	return scopes
}

// union returns the sorted, deduplicated union of a and b.
func union(a, b []string) []string {
	s := make([]string, 0, len(a)+len(b))
	s = append(append(s, a...), b...)
	slices.Sort(s)
	return slices.Compact(s)
}

func scopeKey(scopes []string) string { return strings.Join(union(scopes, nil), " ") }

func replayBody(req *http.Request) (io.ReadCloser, bool) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, true
	}
	if req.GetBody == nil {
		return nil, false
	}
	b, err := req.GetBody()
	return b, err == nil
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// discard drains (a little) and closes a response nobody will read, so its connection
// can be reused.
func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}
