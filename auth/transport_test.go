package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeRealm is a token realm on its own port. It issues "tok-1", "tok-2", ... and
// records what it was asked.
type fakeRealm struct {
	srv *httptest.Server
	n   atomic.Int32
	mu  sync.Mutex
	got []*http.Request // clones, with ParseForm done
	// answer, if set, replaces the default 200 {"token": ..., "expires_in": 300}.
	answer func(w http.ResponseWriter, r *http.Request, tok string)
	delay  time.Duration
}

func newFakeRealm(t *testing.T) *fakeRealm {
	t.Helper()
	fr := &fakeRealm{}
	fr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		fr.mu.Lock()
		fr.got = append(fr.got, r.Clone(context.Background()))
		fr.mu.Unlock()
		time.Sleep(fr.delay)
		tok := fmt.Sprintf("tok-%d", fr.n.Add(1))
		if fr.answer != nil {
			fr.answer(w, r, tok)
			return
		}
		fmt.Fprintf(w, `{"token": %q, "expires_in": 300}`, tok)
	}))
	t.Cleanup(fr.srv.Close)
	return fr
}

func (fr *fakeRealm) requests() []*http.Request {
	fr.mu.Lock()
	defer fr.mu.Unlock()
	return append([]*http.Request(nil), fr.got...)
}

// fakeRegistry answers 200 to requests carrying an accepted token, 401 with a bearer
// challenge otherwise; it counts requests and remembers the Authorization headers seen.
type fakeRegistry struct {
	srv     *httptest.Server
	mu      sync.Mutex
	ok      map[string]bool // accepted bearer tokens; nil: any "Bearer tok-*"
	authz   []string
	bodies  []string
	handler http.HandlerFunc // if set, called for authorized requests
}

func newFakeRegistry(t *testing.T, realm string) *fakeRegistry {
	t.Helper()
	fg := &fakeRegistry{}
	fg.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a := r.Header.Get("Authorization")
		fg.mu.Lock()
		fg.authz = append(fg.authz, a)
		fg.bodies = append(fg.bodies, string(body))
		tok, isBearer := strings.CutPrefix(a, "Bearer ")
		accepted := isBearer && (fg.ok == nil && strings.HasPrefix(tok, "tok-") || fg.ok[tok])
		h := fg.handler
		fg.mu.Unlock()
		if !accepted {
			scope := ""
			if s := requestScopes(r.Method, r.URL); len(s) > 0 {
				scope = fmt.Sprintf(`,scope=%q`, s[0])
			}
			errParam := ""
			if a != "" {
				errParam = `,error="invalid_token"`
			}
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm=%q,service="reg"%s%s`, realm+"/token", scope, errParam))
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED"}]}`)
			return
		}
		if h != nil {
			h(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(fg.srv.Close)
	return fg
}

func (fg *fakeRegistry) seen() []string {
	fg.mu.Lock()
	defer fg.mu.Unlock()
	return append([]string(nil), fg.authz...)
}

// ownTransport is a transport of the test's own. Tests that share
// http.DefaultTransport break each other's connections: an httptest.Server's
// Close closes that transport's idle connections, one of which another
// parallel test may be picking up at that moment.
func ownTransport(t *testing.T) http.RoundTripper {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

func get(t *testing.T, rt http.RoundTripper, u string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

type staticSource struct {
	c     Credential
	err   error
	calls atomic.Int32
}

func (s *staticSource) Credential(context.Context, string) (Credential, error) {
	s.calls.Add(1)
	return s.c, s.err
}

func TestTransportAnonymousBearer(t *testing.T) {
	t.Parallel()
	realm := newFakeRealm(t)
	reg := newFakeRegistry(t, realm.srv.URL)
	tr := &Transport{Next: ownTransport(t), Registry: "reg", Origin: reg.srv.URL}

	if resp := get(t, tr, reg.srv.URL+"/v2/a/manifests/latest"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if resp := get(t, tr, reg.srv.URL+"/v2/b/c/blobs/sha256:00"); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// The second repository's token was fetched before its request: no 401 round trip.
	if got, want := reg.seen(), []string{"", "Bearer tok-1", "Bearer tok-2"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("registry saw Authorization %q, want %q", got, want)
	}
	reqs := realm.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d token requests, want 2", len(reqs))
	}
	for i, want := range []string{"repository:a:pull", "repository:b/c:pull"} {
		r := reqs[i]
		if r.Method != http.MethodGet || r.URL.Query().Get("service") != "reg" || fmt.Sprint(r.URL.Query()["scope"]) != "["+want+"]" {
			t.Errorf("token request %d: %s %s, want GET with service=reg scope=%s", i, r.Method, r.URL, want)
		}
		if a := r.Header.Get("Authorization"); a != "" {
			t.Errorf("anonymous token request carried Authorization %q", a)
		}
	}
}

func TestTransportCredentialsStayHome(t *testing.T) {
	t.Parallel()
	realm := newFakeRealm(t)
	var cdnHits atomic.Int32
	cdn := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cdnHits.Add(1)
		if a, ok := r.Header["Authorization"]; ok {
			t.Errorf("CDN received Authorization %q", a)
		}
		io.WriteString(w, "blob")
	}))
	t.Cleanup(cdn.Close)
	reg := newFakeRegistry(t, realm.srv.URL)
	reg.handler = func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/blobs/") {
			http.Redirect(w, r, cdn.URL+"/data?sig=1", http.StatusTemporaryRedirect)
			return
		}
		io.WriteString(w, "ok")
	}
	src := &staticSource{c: Credential{Username: "u", Password: "p"}}
	tr := &Transport{Next: ownTransport(t), Registry: "reg", Origin: reg.srv.URL, Creds: src}
	client := &http.Client{Transport: tr}

	resp, err := client.Get(reg.srv.URL + "/v2/a/blobs/sha256:00")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "blob" || cdnHits.Load() != 1 {
		t.Fatalf("body %q, CDN hits %d", body, cdnHits.Load())
	}
	// A caller's own Authorization to a foreign origin is stripped too.
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, cdn.URL+"/x", nil)
	req.Header.Set("Authorization", "Bearer leaked")
	get := func() {
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		discard(resp)
	}
	get()
	if req.Header.Get("Authorization") != "Bearer leaked" {
		t.Error("RoundTrip changed the caller's request")
	}
	// Basic went to the realm and only there; the registry saw only bearer tokens.
	for _, r := range realm.requests() {
		if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" {
			t.Errorf("token request without the user's Basic credentials: %q", r.Header.Get("Authorization"))
		}
	}
	for _, a := range reg.seen() {
		if a != "" && !strings.HasPrefix(a, "Bearer tok-") {
			t.Errorf("registry saw Authorization %q", a)
		}
	}
	if n := src.calls.Load(); n != 1 {
		t.Errorf("credential looked up %d times, want once", n)
	}
}

func TestSameOrigin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url, origin string
		want        bool
	}{
		{"https://r.io/v2/", "https://r.io", true},
		{"https://r.io:443/v2/", "https://r.io", true},
		{"https://R.IO/v2/", "https://r.io:443/", true},
		{"http://r.io:80/v2/", "http://r.io", true},
		{"http://r.io/v2/", "https://r.io", false},
		{"https://r.io:8443/v2/", "https://r.io", false},
		{"https://cdn.r.io/v2/", "https://r.io", false},
		{"https://r.io.evil/v2/", "https://r.io", false},
		{"http://[::1]:5000/v2/", "http://[::1]:5000", true},
		{"https://r.io/v2/", "", false},
		{"ftp://r.io/", "ftp://r.io", false},
	}
	for _, tt := range tests {
		t.Run(tt.url+" "+tt.origin, func(t *testing.T) {
			t.Parallel()
			u, _ := url.Parse(tt.url)
			if got := sameOrigin(u, tt.origin); got != tt.want {
				t.Errorf("sameOrigin(%q, %q) = %v", tt.url, tt.origin, got)
			}
		})
	}
}

func TestRequestScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method, path string
		want         string
	}{
		{"GET", "/v2/library/alpine/manifests/3.20", "[repository:library/alpine:pull]"},
		{"HEAD", "/v2/a/blobs/sha256:00", "[repository:a:pull]"},
		{"GET", "/v2/a/b/c/tags/list?n=10", "[repository:a/b/c:pull]"},
		{"PUT", "/v2/a/manifests/x", "[repository:a:pull,push]"},
		{"POST", "/v2/a/blobs/uploads/", "[repository:a:pull,push]"},
		{"PATCH", "/v2/a/blobs/uploads/uuid", "[repository:a:pull,push]"},
		{"GET", "/v2/a/blobs/uploads/uuid", "[repository:a:pull,push]"},
		{"POST", "/v2/a/blobs/uploads/?mount=sha256:00&from=b/c", "[repository:a:pull,push repository:b/c:pull]"},
		{"GET", "/v2/a/referrers/sha256:00", "[repository:a:pull]"},
		{"GET", "/v2/blobs/blobs/x", "[repository:blobs:pull]"},
		{"GET", "/v2/", "[]"},
		{"GET", "/v2/_catalog", "[]"},
		{"GET", "/v2/manifests/x", "[]"},
		{"GET", "/v2//manifests/x", "[]"},
		{"GET", "/other/a/manifests/x", "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			u, _ := url.Parse("https://r.io" + tt.path)
			if got := fmt.Sprint(requestScopes(tt.method, u)); got != tt.want {
				t.Errorf("requestScopes = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestTransportTokenExpiry(t *testing.T) {
	t.Parallel()
	realm := newFakeRealm(t)
	realm.answer = func(w http.ResponseWriter, r *http.Request, tok string) {
		fmt.Fprintf(w, `{"access_token": %q, "expires_in": 120}`, tok) // access_token, not token
	}
	reg := newFakeRegistry(t, realm.srv.URL)
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	tr := &Transport{Next: ownTransport(t), Registry: "reg", Origin: reg.srv.URL, Now: clock}

	u := reg.srv.URL + "/v2/a/manifests/1"
	steps := []struct {
		advance time.Duration
		tokens  int32
	}{
		{0, 1},
		{100 * time.Second, 1}, // still fresh
		{9 * time.Second, 2},   // 109 s: within the last 10% of 120 s, refreshed early
		{60 * time.Second, 2},
	}
	for i, s := range steps {
		advance(s.advance)
		if resp := get(t, tr, u); resp.StatusCode != 200 {
			t.Fatalf("step %d: status %d", i, resp.StatusCode)
		}
		if n := realm.n.Load(); n != s.tokens {
			t.Fatalf("step %d: %d token requests, want %d", i, n, s.tokens)
		}
	}
}

func TestTransportSingleFlight(t *testing.T) {
	t.Parallel()
	realm := newFakeRealm(t)
	realm.delay = 50 * time.Millisecond
	reg := newFakeRegistry(t, realm.srv.URL)
	tr := &Transport{Next: ownTransport(t), Registry: "reg", Origin: reg.srv.URL, Creds: &staticSource{}}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, reg.srv.URL+"/v2/a/manifests/1", nil)
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Error(err)
				return
			}
			discard(resp)
			if resp.StatusCode != 200 {
				t.Errorf("status %d", resp.StatusCode)
			}
		})
	}
	wg.Wait()
	if n := realm.n.Load(); n != 1 {
		t.Errorf("%d token requests for 20 concurrent requests, want 1", n)
	}
}

func TestTransportWaitRespectsContext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	realm := newFakeRealm(t)
	realm.answer = func(w http.ResponseWriter, r *http.Request, tok string) {
		<-release
		fmt.Fprintf(w, `{"token": %q}`, tok)
	}
	reg := newFakeRegistry(t, realm.srv.URL)
	tr := &Transport{Next: ownTransport(t), Registry: "reg", Origin: reg.srv.URL}
	tr.learn(Challenge{Scheme: "bearer", Params: map[string]string{"realm": realm.srv.URL + "/token", "service": "reg"}}, "", nil, nil)

	leader := make(chan error, 1)
	go func() {
		_, err := tr.token(t.Context(), []string{"repository:a:pull"}, "")
		leader <- err
	}()
	for realm.n.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := tr.token(ctx, []string{"repository:a:pull"}, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiter: err = %v, want deadline exceeded", err)
	}
	close(release)
	if err := <-leader; err != nil {
		t.Errorf("leader: %v", err)
	}
}

func TestTransportRefreshesRejectedToken(t *testing.T) {
	t.Parallel()
	realm := newFakeRealm(t)
	reg := newFakeRegistry(t, realm.srv.URL)
	reg.ok = map[string]bool{"tok-1": true}
	tr := &Transport{Next: ownTransport(t), Registry: "reg", Origin: reg.srv.URL}
	u := reg.srv.URL + "/v2/a/manifests/1"
	get(t, tr, u) // "", tok-1

	reg.mu.Lock()
	reg.ok = map[string]bool{"tok-2": true} // tok-1 revoked
	reg.mu.Unlock()
	if resp := get(t, tr, u); resp.StatusCode != 200 {
		t.Fatalf("status %d after refresh", resp.StatusCode)
	}
	if got, want := fmt.Sprint(reg.seen()), "[ Bearer tok-1 Bearer tok-1 Bearer tok-2]"; got != want {
		t.Errorf("registry saw %s, want %s", got, want)
	}
	if n := realm.n.Load(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
}

func TestTransportNeverLoops(t *testing.T) {
	t.Parallel()
	realm := newFakeRealm(t)
	reg := newFakeRegistry(t, realm.srv.URL)
	reg.ok = map[string]bool{} // nothing is ever accepted
	tr := &Transport{Next: ownTransport(t), Registry: "reg", Origin: reg.srv.URL}
	u := reg.srv.URL + "/v2/a/manifests/1"
	if resp := get(t, tr, u); resp.StatusCode != 401 {
		t.Fatalf("status %d, want the 401", resp.StatusCode)
	}
	if n := len(reg.seen()); n != 2 {
		t.Errorf("first request: registry saw %d requests, want 2 (anonymous, one replay)", n)
	}
	if resp := get(t, tr, u); resp.StatusCode != 401 {
		t.Fatalf("status %d, want the 401", resp.StatusCode)
	}
	if n := len(reg.seen()); n != 4 {
		t.Errorf("second request: registry saw %d requests in all, want 4 (proactive, one replay)", n)
	}
	if n := realm.n.Load(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
}

func TestTransportReplaysBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     func() io.Reader
		status   int
		requests int
	}{
		{"with GetBody", func() io.Reader { return bytes.NewReader([]byte("payload")) }, 200, 2},
		{"without GetBody", func() io.Reader { return io.MultiReader(strings.NewReader("payload")) }, 401, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			realm := newFakeRealm(t)
			reg := newFakeRegistry(t, realm.srv.URL)
			tr := &Transport{Next: ownTransport(t), Registry: "reg", Origin: reg.srv.URL}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPut, reg.srv.URL+"/v2/a/manifests/1", tt.body())
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			discard(resp)
			if resp.StatusCode != tt.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.status)
			}
			reg.mu.Lock()
			bodies := append([]string(nil), reg.bodies...)
			reg.mu.Unlock()
			if len(bodies) != tt.requests {
				t.Fatalf("registry saw %d requests, want %d", len(bodies), tt.requests)
			}
			for _, b := range bodies {
				if b != "payload" {
					t.Errorf("body %q", b)
				}
			}
			if q := realm.requests()[0].URL.Query().Get("scope"); q != "repository:a:pull,push" {
				t.Errorf("scope %q", q)
			}
		})
	}
}

func TestTransportIdentityToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		postStatus int // 0: the POST succeeds
		requests   string
	}{
		{"POST accepted", 0, "[POST]"},
		{"POST 405, GET fallback", 405, "[POST GET]"},
		{"POST 404, GET fallback", 404, "[POST GET]"},
		{"POST 400, GET fallback", 400, "[POST GET]"},
		{"POST 401, GET fallback", 401, "[POST GET]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			realm := newFakeRealm(t)
			realm.answer = func(w http.ResponseWriter, r *http.Request, tok string) {
				if r.Method == http.MethodPost && tt.postStatus != 0 {
					w.WriteHeader(tt.postStatus)
					return
				}
				fmt.Fprintf(w, `{"access_token": %q}`, tok)
			}
			reg := newFakeRegistry(t, realm.srv.URL)
			tr := &Transport{Next: ownTransport(t), Registry: "reg", Origin: reg.srv.URL, Creds: &staticSource{c: Credential{Username: "u", IdentityToken: "refresh"}}}
			if resp := get(t, tr, reg.srv.URL+"/v2/a/manifests/1"); resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			var methods []string
			for _, r := range realm.requests() {
				methods = append(methods, r.Method)
			}
			if fmt.Sprint(methods) != tt.requests {
				t.Fatalf("realm saw %v, want %s", methods, tt.requests)
			}
			post := realm.requests()[0]
			want := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"refresh"}, "service": {"reg"},
				"scope": {"repository:a:pull"}, "client_id": {"haul"}}
			if fmt.Sprint(post.PostForm) != fmt.Sprint(want) {
				t.Errorf("POST form %v, want %v", post.PostForm, want)
			}
			if tt.postStatus != 0 {
				if u, p, _ := realm.requests()[1].BasicAuth(); u != "u" || p != "refresh" {
					t.Errorf("GET fallback Basic %q:%q", u, p)
				}
			}
		})
	}
}

func TestTransportRegistryToken(t *testing.T) {
	t.Parallel()
	realm := newFakeRealm(t)
	reg := newFakeRegistry(t, realm.srv.URL)
	reg.ok = map[string]bool{"given": true}
	tr := &Transport{Next: ownTransport(t), Registry: "reg", Origin: reg.srv.URL, Creds: &staticSource{c: Credential{RegistryToken: "given"}}}
	for range 2 {
		if resp := get(t, tr, reg.srv.URL+"/v2/a/manifests/1"); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if got := fmt.Sprint(reg.seen()); got != "[ Bearer given Bearer given]" {
		t.Errorf("registry saw %s", got)
	}
	if n := realm.n.Load(); n != 0 {
		t.Errorf("realm asked %d times, want never", n)
	}
}

func TestTransportBasic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		cred  Credential
		seen  string // Authorization headers the registry saw over two requests
		codes string
	}{
		{"with credentials", Credential{Username: "u", Password: "p"}, "[ Basic dTpw Basic dTpw]", "[200 200]"},
		{"wrong credentials", Credential{Username: "u", Password: "x"}, "[ Basic dTp4 Basic dTp4]", "[401 401]"},
		{"anonymous", Credential{}, "[ ]", "[401 401]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var seen []string
			reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				seen = append(seen, r.Header.Get("Authorization"))
				mu.Unlock()
				if u, p, ok := r.BasicAuth(); !ok || u != "u" || p != "p" {
					w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
					w.WriteHeader(401)
				}
			}))
			t.Cleanup(reg.Close)
			tr := &Transport{Next: ownTransport(t), Registry: "reg", Origin: reg.URL, Creds: &staticSource{c: tt.cred}}
			var codes []int
			for range 2 {
				codes = append(codes, get(t, tr, reg.URL+"/v2/a/manifests/1").StatusCode)
			}
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(seen) != tt.seen || fmt.Sprint(codes) != tt.codes {
				t.Errorf("registry saw %q, statuses %v; want %s, %s", seen, codes, tt.seen, tt.codes)
			}
		})
	}
}

func TestTransportCredentialError(t *testing.T) {
	t.Parallel()
	realm := newFakeRealm(t)
	reg := newFakeRegistry(t, realm.srv.URL)
	boom := errors.New("helper exploded")
	tr := &Transport{Next: ownTransport(t), Registry: "reg", Origin: reg.srv.URL, Creds: &staticSource{err: boom}}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, reg.srv.URL+"/v2/a/manifests/1", nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the source's error, never anonymous access", err)
	}
	if n := realm.n.Load(); n != 0 {
		t.Errorf("realm asked %d times", n)
	}
}

func TestTransportTokenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		body   string
		want   string // in Body
		isJSON bool
	}{
		{"HTML", 200, "<html><body>Sign in to the Wi-Fi</body></html>", "<html><body>Sign in", false},
		{"refused", 401, `{"details":"incorrect username or password"}`, "incorrect username", true},
		{"no token", 200, `{"expires_in": 60}`, "", true},
		{"too large", 200, `{"token":"` + strings.Repeat("a", maxTokenResponse) + `"}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			realm := newFakeRealm(t)
			realm.answer = func(w http.ResponseWriter, r *http.Request, _ string) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}
			reg := newFakeRegistry(t, realm.srv.URL)
			tr := &Transport{Next: ownTransport(t), Registry: "reg", Origin: reg.srv.URL}
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, reg.srv.URL+"/v2/a/manifests/1", nil)
			_, err := tr.RoundTrip(req)
			var te *TokenError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want a *TokenError", err)
			}
			if te.Status != tt.status || te.Service != "reg" || fmt.Sprint(te.Scopes) != "[repository:a:pull]" ||
				te.Realm != realm.srv.URL+"/token" || !strings.Contains(te.Body, tt.want) || len(te.Body) > maxErrorBody {
				t.Errorf("TokenError %+v", te)
			}
			if !strings.HasPrefix(err.Error(), "fetch token from ") {
				t.Errorf("message %q", err)
			}
		})
	}
}

func TestTransportLearnsCatalogScope(t *testing.T) {
	t.Parallel()
	realm := newFakeRealm(t)
	var mu sync.Mutex
	var seen []string
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="reg",scope="registry:catalog:*"`, realm.srv.URL))
			w.WriteHeader(401)
		}
	}))
	t.Cleanup(reg.Close)
	tr := &Transport{Next: ownTransport(t), Registry: "reg", Origin: reg.URL}
	for range 2 {
		if resp := get(t, tr, reg.URL+"/v2/_catalog"); resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if n := realm.n.Load(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	if s := realm.requests()[0].URL.Query().Get("scope"); s != "registry:catalog:*" {
		t.Errorf("scope %q", s)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Errorf("registry saw %q, want anonymous, replay, proactive", seen)
	}
}

func TestNewTokenFetchRefusesDowngrade(t *testing.T) {
	t.Parallel()
	origin, _ := url.Parse("https://r.io")
	ch := Challenge{Scheme: "bearer", Params: map[string]string{"realm": "http://auth.r.io/token", "service": "r"}}
	tests := []struct {
		name string
		cred Credential
		ok   bool
	}{
		{"anonymous may", Credential{}, true},
		{"password may not", Credential{Username: "u", Password: "p"}, false},
		{"identity token may not", Credential{IdentityToken: "t"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := newTokenFetch(ownTransport(t), origin, ch, nil, tt.cred, "", time.Now)
			if (err == nil) != tt.ok {
				t.Errorf("err = %v", err)
			}
		})
	}
}
