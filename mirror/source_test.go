package mirror_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/mirror"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/store"
)

const repoTag = "private/app:1"

var alice = auth.Credential{Username: registrytest.Alice, Password: registrytest.AlicePassword}

// upstream is a registry with token auth whose private/ repositories need
// Alice's credentials, holding one image of three layers.
func upstream(t *testing.T) (*registrytest.Registry, registrytest.Pushed) {
	t.Helper()
	up := registrytest.New(t, registrytest.Config{TokenAuth: true, Private: []string{"private/"}})
	return up, up.MustPush(t, repoTag, registrytest.RandomImage(3, 3, 64<<10))
}

func upstreamClient(t *testing.T, host string, trace *syncBuffer) *registry.Client {
	t.Helper()
	c := registry.Config{
		Registry: host,
		Creds:    auth.Static{Registry: host, Cred: alice},
		Retry:    registry.RetryPolicy{Base: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
	}
	if trace != nil {
		c.Trace = trace
	}
	cl, err := registry.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// source is a Source over upstream host and the mirrors, each with no
// credentials of its own; the trace goes to trace.
func source(t *testing.T, host string, trace *syncBuffer, mirrors ...string) *mirror.Source {
	t.Helper()
	c := mirror.Config{Upstream: upstreamClient(t, host, trace)}
	base := registry.Config{IdleTimeout: 5 * time.Second}
	if trace != nil {
		c.Trace, base.Trace = trace, trace
	}
	for _, m := range mirrors {
		ep, err := mirror.ParseEndpoint(m)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := registry.New(mirror.ClientConfig(base, ep, auth.Default(auth.Static{}, func(string) string { return "" })))
		if err != nil {
			t.Fatal(err)
		}
		c.Mirrors = append(c.Mirrors, mirror.Mirror{Endpoint: ep, Client: cl})
	}
	s, err := mirror.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pullVia(t *testing.T, src pull.Source, r string, cached bool) (*pull.Result, error) {
	t.Helper()
	rr, err := ref.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	c := pull.Config{
		Source: func(string) (pull.Source, error) { return src, nil },
		Output: filepath.Join(t.TempDir(), "out.tar"),
	}
	if cached {
		if c.Store, err = store.Open(store.Config{Dir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
	}
	return pull.Pull(t.Context(), []ref.Reference{rr}, c)
}

// syncBuffer is a trace many goroutines write.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// recorder keeps what a registry was sent.
type recorder struct {
	mu     sync.Mutex
	authz  []string
	agents []string // of blob GETs
	ranges []string // of blob GETs
}

func (rc *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		if a := r.Header.Get("Authorization"); a != "" {
			rc.authz = append(rc.authz, a)
		}
		if registrytest.IsBlobGET(r) {
			rc.agents = append(rc.agents, r.Header.Get("User-Agent"))
			if rg := r.Header.Get("Range"); rg != "" {
				rc.ranges = append(rc.ranges, rg)
			}
		}
		rc.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// checkNoUpstreamCredentials fails if a mirror was sent Alice's password,
// as Basic or any other way.
func (rc *recorder) checkNoUpstreamCredentials(t *testing.T) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, a := range rc.authz {
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "Basic "))
		if strings.Contains(a, registrytest.AlicePassword) || strings.Contains(string(raw), registrytest.AlicePassword) {
			t.Errorf("the mirror was sent the upstream's credentials: Authorization %q", a)
		}
	}
}

func served(res *pull.Result) map[string]int {
	m := map[string]int{}
	for _, s := range res.Served {
		m[s.From] += s.Blobs
	}
	return m
}

// TestPullThroughCache pulls through distribution in proxy mode: the cache
// fetches from the upstream, haul sends it no credentials and never talks to
// the upstream itself. The upstream is open here: distribution v3 asks for
// tokens only at a realm on the upstream's own host:port (or registrable
// domain), and registrytest's token server has a port of its own;
// test/e2e-mirror.sh pulls a private image through distribution 2.8 in front
// of an upstream with token auth.
func TestPullThroughCache(t *testing.T) {
	t.Parallel()
	up := registrytest.New(t, registrytest.Config{})
	pushed := up.MustPush(t, "team/app:1", registrytest.RandomImage(6, 3, 64<<10))
	var upRec, mRec recorder
	up.Wrap(upRec.wrap)
	cache := registrytest.New(t, registrytest.Config{ProxyOf: up.URL(), ProxyUsername: registrytest.Alice, ProxyPassword: registrytest.AlicePassword})
	cache.Wrap(mRec.wrap)
	trace := &syncBuffer{}
	res, err := pullVia(t, source(t, up.Host(), trace, cache.Host()), up.Ref("team/app:1"), true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Images[0].Digest != pushed.Digest {
		t.Fatalf("digest %s, want %s", res.Images[0].Digest, pushed.Digest)
	}
	if got := served(res); got[cache.Host()] != 4 || len(got) != 1 || !res.Served[0].Mirror {
		t.Fatalf("served %+v, want the 4 blobs from the mirror; trace:\n%s", res.Served, trace)
	}
	mRec.checkNoUpstreamCredentials(t)
	if len(mRec.authz) != 0 {
		t.Errorf("the open mirror was sent Authorization: %q", mRec.authz)
	}
	if len(upRec.agents) == 0 {
		t.Fatal("the upstream served no blob: the cache did not fetch from it")
	}
	for _, ua := range upRec.agents {
		if strings.HasPrefix(ua, "haul/") {
			t.Errorf("haul fetched a blob from the upstream itself (User-Agent %q)", ua)
		}
	}
	if strings.Contains(trace.String(), up.Host()+"/v2/") {
		t.Errorf("haul talked to the upstream:\n%s", trace)
	}
}

// corrupt flips a byte of a recorded body.
func corrupt(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rec := registrytest.Record(next, r)
	registrytest.CopyHeader(w, rec)
	body := bytes.Clone(rec.Body.Bytes())
	body[len(body)/2] ^= 0xff
	w.WriteHeader(rec.Code)
	w.Write(body)
}

// dropAfter sends the first n bytes of the answer, then drops the connection.
func dropAfter(n int) func(w http.ResponseWriter, r *http.Request, next http.Handler) {
	return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
		rec := registrytest.Record(next, r)
		registrytest.CopyHeader(w, rec)
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes()[:n])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
}

// refusedAddr is a 127.0.0.1 port that nothing listens on.
func refusedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestFallback puts one fault in a mirror that holds the image: each read it
// fails goes to the upstream, and the pull is whole and verified.
func TestFallback(t *testing.T) {
	t.Parallel()
	type fault func(w http.ResponseWriter, r *http.Request, next http.Handler)
	status := func(code int, hdr ...string) fault {
		return func(w http.ResponseWriter, r *http.Request, next http.Handler) {
			for i := 0; i+1 < len(hdr); i += 2 {
				w.Header().Set(hdr[i], hdr[i+1])
			}
			w.WriteHeader(code)
		}
	}
	tests := []struct {
		name    string
		refused bool
		fault   fault // for every request (all) or for the GETs of one layer's blob
		all     bool
		// wantMirror blobs from the mirror; the rest of the 4 from the upstream
		wantMirror int
		wantTrace  string
		wantRange  bool // the upstream was asked for the rest of a blob
	}{
		{name: "refused", refused: true, wantTrace: "is skipped for the rest of this run"},
		{name: "500 everywhere", all: true, fault: status(http.StatusInternalServerError), wantTrace: "500"},
		{name: "401 asking for credentials", all: true, fault: status(http.StatusUnauthorized, "WWW-Authenticate", `Basic realm="mirror"`), wantTrace: "401"},
		{name: "404 for one blob", fault: status(http.StatusNotFound), wantMirror: 3, wantTrace: "404"},
		{name: "403 for one blob", fault: status(http.StatusForbidden), wantMirror: 3, wantTrace: "403"},
		{name: "wrong bytes for one blob", fault: corrupt, wantMirror: 3, wantTrace: "digest mismatch"},
		{name: "drop in one blob", fault: dropAfter(10 << 10), wantMirror: 3, wantTrace: "from byte", wantRange: true},
	}
	for _, tt := range tests {
		for _, cached := range []bool{true, false} {
			t.Run(tt.name+map[bool]string{true: "/cached", false: "/direct"}[cached], func(t *testing.T) {
				t.Parallel()
				up, pushed := upstream(t)
				var upRec, mRec recorder
				up.Wrap(upRec.wrap)
				host := refusedAddr(t)
				if !tt.refused {
					m := registrytest.New(t, registrytest.Config{})
					m.MustPush(t, repoTag, registrytest.RandomImage(3, 3, 64<<10))
					host = m.Host()
					target := pushed.Layers[1].Digest.String()
					m.Wrap(func(next http.Handler) http.Handler {
						return mRec.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
							if tt.all || registrytest.IsBlobGET(r) && strings.HasSuffix(r.URL.Path, target) {
								tt.fault(w, r, next)
								return
							}
							next.ServeHTTP(w, r)
						}))
					})
				}
				trace := &syncBuffer{}
				res, err := pullVia(t, source(t, up.Host(), trace, host), up.Ref(repoTag), cached)
				if err != nil {
					t.Fatalf("%v\ntrace:\n%s", err, trace)
				}
				if res.Images[0].Digest != pushed.Digest {
					t.Fatalf("digest %s, want %s", res.Images[0].Digest, pushed.Digest)
				}
				got := served(res)
				if got[host] != tt.wantMirror || got[up.Host()] != 4-tt.wantMirror {
					t.Errorf("served %+v, want %d from the mirror and %d from the upstream", res.Served, tt.wantMirror, 4-tt.wantMirror)
				}
				if tr := trace.String(); !strings.Contains(tr, "# mirror "+host+" failed (") || !strings.Contains(tr, tt.wantTrace) {
					t.Errorf("the trace does not say the mirror failed with %q:\n%s", tt.wantTrace, tr)
				}
				if tt.wantRange && len(upRec.ranges) == 0 {
					t.Errorf("the upstream was not asked for the rest of the dropped blob with Range")
				}
				mRec.checkNoUpstreamCredentials(t)
				if _, after, _ := strings.Cut(trace.String(), "is skipped for the rest of this run"); tt.refused && strings.Contains(after, host+"/v2/") {
					t.Errorf("the refusing mirror was asked again after it was skipped:\n%s", trace)
				}
			})
		}
	}
}

// TestMirrorBytesAreVerified: a mirror's wrong bytes are never accepted,
// even when the upstream cannot be reached to replace them.
func TestMirrorBytesAreVerified(t *testing.T) {
	t.Parallel()
	m := registrytest.New(t, registrytest.Config{})
	pushed := m.MustPush(t, repoTag, registrytest.RandomImage(5, 2, 32<<10))
	target := pushed.Layers[0].Digest
	m.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if registrytest.IsBlobGET(r) && strings.HasSuffix(r.URL.Path, target.String()) {
				corrupt(w, r, next)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	down := refusedAddr(t)
	for _, cached := range []bool{true, false} {
		_, err := pullVia(t, source(t, down, nil, m.Host()), down+"/"+repoTag, cached)
		var de *image.DigestError
		if !errors.As(err, &de) || de.Want != target {
			t.Fatalf("cached=%v: pull with a corrupting mirror and no upstream = %v; want a digest mismatch for %s", cached, err, target)
		}
	}
}

// TestMirrorHasItsOwnCredentials: a mirror with token auth is asked with
// the credentials found for its own host (none here), never the upstream's.
func TestMirrorHasItsOwnCredentials(t *testing.T) {
	t.Parallel()
	up, pushed := upstream(t)
	m := registrytest.New(t, registrytest.Config{TokenAuth: true, Private: []string{"private/"}})
	m.MustPush(t, repoTag, registrytest.RandomImage(3, 3, 64<<10))
	var mRec recorder
	m.Wrap(mRec.wrap)
	res, err := pullVia(t, source(t, up.Host(), nil, m.Host()), up.Ref(repoTag), true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Images[0].Digest != pushed.Digest || served(res)[up.Host()] != 4 {
		t.Fatalf("got %s, served %+v; want %s all from the upstream (the mirror refuses anonymous reads)", res.Images[0].Digest, res.Served, pushed.Digest)
	}
	for _, tr := range m.TokenRequests() {
		if tr.User != "" {
			t.Errorf("the mirror's token service was asked as %q: %+v", tr.User, tr)
		}
	}
	if len(m.TokenRequests()) == 0 {
		t.Error("the mirror's token service was never asked: the test proves nothing")
	}
	mRec.checkNoUpstreamCredentials(t)
	for _, tr := range up.TokenRequests() {
		if tr.User != registrytest.Alice {
			t.Errorf("the upstream was asked without Alice's credentials: %+v", tr)
		}
	}
}

// TestManifestsFallBack: the read commands' calls go to the mirror, and to
// the upstream when the mirror lacks what is asked for.
func TestManifestsFallBack(t *testing.T) {
	t.Parallel()
	up, pushed := upstream(t)
	up.MustPush(t, "private/app:2", registrytest.RandomImage(4, 1, 1<<10))
	m := registrytest.New(t, registrytest.Config{})
	m.MustPush(t, repoTag, registrytest.RandomImage(3, 3, 64<<10))
	var upRec recorder
	up.Wrap(upRec.wrap)
	s := source(t, up.Host(), nil, m.Host())
	r1, _ := ref.Parse(up.Ref(repoTag))
	r2, _ := ref.Parse(up.Ref("private/app:2"))
	d, err := s.Digest(t.Context(), r1)
	if err != nil || d != pushed.Digest {
		t.Fatalf("Digest = %s, %v; want %s", d, err, pushed.Digest)
	}
	img, err := s.Image(t.Context(), r1, image.Host())
	if err != nil || img.Manifest.Config.Digest != digest.Digest(pushed.Config.Digest) {
		t.Fatalf("Image = %+v, %v", img, err)
	}
	if len(upRec.authz) != 0 {
		t.Fatalf("the upstream was asked for what the mirror has")
	}
	if _, err := s.Resolve(t.Context(), r2, image.Host()); err != nil {
		t.Fatalf("Resolve of a tag only the upstream has: %v", err)
	}
	r3, _ := ref.Parse(up.Ref("private/app:3"))
	_, err = s.Manifest(t.Context(), r3)
	var re *registry.Error
	if !errors.As(err, &re) || re.Status != http.StatusNotFound || !strings.Contains(err.Error(), "mirrors tried first: "+m.Host()) {
		t.Fatalf("Manifest of a tag nobody has = %v; want the upstream's 404, naming the mirror tried", err)
	}
}

// paths records the paths a registry is asked for.
type paths struct {
	mu sync.Mutex
	p  []string
}

func (pr *paths) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr.mu.Lock()
		pr.p = append(pr.p, r.URL.Path)
		pr.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (pr *paths) count(part string) int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	n := 0
	for _, p := range pr.p {
		if strings.Contains(p, part) {
			n++
		}
	}
	return n
}

// TestMirrorScopeAndDigestOnly: a mirror with a scope of its own is asked
// only for names under it; a DigestOnly mirror never for a tag, but for what
// the tag names by digest.
func TestMirrorScopeAndDigestOnly(t *testing.T) {
	t.Parallel()
	img := registrytest.RandomImage(7, 2, 32<<10)
	up := registrytest.New(t, registrytest.Config{})
	pushed := up.MustPush(t, "team/app:1", img)
	other := registrytest.New(t, registrytest.Config{})
	other.MustPush(t, "team/app:1", img)
	byDigest := registrytest.New(t, registrytest.Config{})
	byDigest.MustPush(t, "team/app:1", img)
	var otherPaths, digestPaths, upPaths paths
	other.Wrap(otherPaths.wrap)
	byDigest.Wrap(digestPaths.wrap)
	up.Wrap(upPaths.wrap)

	c := mirror.Config{Upstream: upstreamClient(t, up.Host(), nil)}
	for _, m := range []struct {
		host       string
		scope      string
		digestOnly bool
	}{{other.Host(), up.Host() + "/elsewhere", false}, {byDigest.Host(), "", true}} {
		ep, err := mirror.ParseEndpoint(m.host)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := registry.New(mirror.ClientConfig(registry.Config{}, ep, auth.Default(auth.Static{}, func(string) string { return "" })))
		if err != nil {
			t.Fatal(err)
		}
		c.Mirrors = append(c.Mirrors, mirror.Mirror{Endpoint: ep, Client: cl, Scope: m.scope, DigestOnly: m.digestOnly})
	}
	s, err := mirror.New(c)
	if err != nil {
		t.Fatal(err)
	}
	res, err := pullVia(t, s, up.Ref("team/app:1"), true)
	if err != nil {
		t.Fatal(err)
	}
	if res.Images[0].Digest != pushed.Digest {
		t.Fatalf("digest %s, want %s", res.Images[0].Digest, pushed.Digest)
	}
	if n := len(otherPaths.p); n != 0 {
		t.Errorf("the mirror scoped to %s/elsewhere was asked %d times: %q", up.Host(), n, otherPaths.p)
	}
	if n := digestPaths.count("/manifests/1"); n != 0 {
		t.Errorf("the digest-only mirror was asked for the tag %d times", n)
	}
	if n := upPaths.count("/manifests/1"); n != 1 {
		t.Errorf("the upstream resolved the tag %d times, want 1", n)
	}
	if n := upPaths.count("/blobs/"); n != 0 {
		t.Errorf("the upstream served %d blobs the digest-only mirror has", n)
	}
	if got := served(res); got[byDigest.Host()] != 3 || len(got) != 1 {
		t.Errorf("served %+v, want the 3 blobs from the digest-only mirror", got)
	}
}

// TestUnreachableMirrorPassedOver: a mirror that cannot be connected to
// (refused, no such host, no answer within the dial timeout) costs one dial
// for the whole pull, with no retries, and everything comes from the upstream.
func TestUnreachableMirrorPassedOver(t *testing.T) {
	t.Parallel()
	const dialTimeout = 300 * time.Millisecond
	tests := []struct {
		name string
		host string // "": a closed port on 127.0.0.1
		dial func(ctx context.Context, network, addr string) (net.Conn, error)
	}{
		{name: "refused", dial: (&net.Dialer{}).DialContext},
		{name: "no such host", host: "mirror.invalid", dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: "mirror.invalid", IsNotFound: true}}
		}},
		{name: "no answer", host: "192.0.2.1:5000", dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up, pushed := upstream(t)
			host := tt.host
			if host == "" {
				host = refusedAddr(t)
			}
			ep, err := mirror.ParseEndpoint(host)
			if err != nil {
				t.Fatal(err)
			}
			var dials atomic.Int32
			base := registry.Config{IdleTimeout: 5 * time.Second, DialTimeout: dialTimeout,
				Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return tt.dial(ctx, network, addr)
				}}
			cl, err := registry.New(mirror.ClientConfig(base, ep, auth.Default(auth.Static{}, func(string) string { return "" })))
			if err != nil {
				t.Fatal(err)
			}
			src, err := mirror.New(mirror.Config{Upstream: upstreamClient(t, up.Host(), nil), Mirrors: []mirror.Mirror{{Endpoint: ep, Client: cl}}})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res, err := pullVia(t, src, up.Ref(repoTag), false)
			if err != nil {
				t.Fatal(err)
			}
			if res.Images[0].Digest != pushed.Digest || served(res)[up.Host()] != 4 {
				t.Fatalf("pulled %s, served %+v; want %s, all from the upstream", res.Images[0].Digest, res.Served, pushed.Digest)
			}
			if n := dials.Load(); n != 1 {
				t.Errorf("the mirror was dialed %d times, want once", n)
			}
			if d := time.Since(start); d > dialTimeout+3*time.Second {
				t.Errorf("the pull took %v with an unreachable mirror", d)
			}
		})
	}
}
