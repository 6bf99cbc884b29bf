// Package registrytest runs a real CNCF distribution registry in-process, with
// a small token server beside it, so haul's tests exercise the token dance,
// real uploads and real digests instead of a mock.
//
// The registry (github.com/distribution/distribution/v3, storing in memory,
// or on disk with Config.Dir) and the token server are two httptest servers on
// 127.0.0.1 with different ports, as registry-1.docker.io and auth.docker.io
// are different hosts, so a client under test can be checked to send
// credentials only where they belong.
//
//	reg := registrytest.New(t, registrytest.Config{TokenAuth: true, Private: []string{"private/"}})
//	want := reg.MustPush(t, "team/app:1", registrytest.RandomImage(1, 3, 1<<10))
//	reg.Wrap(dropAfter(1 << 10))   // a fault around the real handler
//	ref := reg.Ref("team/app:1")   // "127.0.0.1:PORT/team/app:1"
//	// ... pull ref with plain HTTP; compare with want.Digest; inspect reg.TokenRequests()
//
// This package imports no other haul package: it must stay independent of the
// code it tests.
package registrytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/go-jose/go-jose/v4"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	// The access controllers and the storage driver register themselves by name.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// The one user the registry knows.
const (
	Alice         = "alice"
	AlicePassword = "alice-s3cret-password"
	// AlicePAT is a personal access token that works wherever AlicePassword does,
	// as Docker Hub's dckr_pat_ tokens do.
	AlicePAT = "dckr_pat_registrytest_alice_0123456789"
)

const (
	defaultTokenTTL = 300 * time.Second
	issuer          = "registrytest-issuer"
	service         = "registrytest"
	keyID           = "registrytest-es256"
	// helperHeader marks this package's own requests (Push and friends) so that
	// they bypass the fault injected with Wrap; its value is random per Registry.
	helperHeader = "X-Registrytest-Helper"
)

// Config selects how the registry authenticates. The zero value is an open
// registry: no auth at all, anyone may pull and push.
type Config struct {
	TokenAuth bool          // registry demands Bearer tokens from the token server
	BasicAuth bool          // registry uses htpasswd Basic auth instead (Alice / AlicePassword or AlicePAT); anonymous gets nothing
	TokenTTL  time.Duration // expires_in of issued tokens; 0: 300s. Short values exercise refresh (see below)
	Private   []string      // repository-name prefixes readable only by authenticated users, e.g. "private/"; TokenAuth only
	// RefusePOST makes the token realm answer 405 to POST (registries that only
	// support the GET token flow).
	RefusePOST bool
	Addr       string // registry listen address; "": 127.0.0.1 on a random port. The token server always takes a random port.
	// ProxyOf makes the registry a pull-through cache of that registry's URL
	// (distribution's proxy mode, proxy.remoteurl), asking it with
	// ProxyUsername and ProxyPassword: a mirror. Push to the upstream, not to it.
	ProxyOf                      string
	ProxyUsername, ProxyPassword string
	// TLS serves the registry over TLS with these settings (Certificates,
	// and ClientAuth/ClientCAs for mutual TLS); the token server stays
	// plain HTTP. TLSClient is what this package's own requests (Push and
	// friends) use; nil: no verification, no client certificate.
	TLS, TLSClient *tls.Config
	// Dir stores the registry's data on disk under Dir (distribution's
	// filesystem driver); "": in memory, where every chunk written copies the
	// blob so far, so that pushing one of tens of MiB takes seconds.
	Dir string
	// IndexPlatforms is distribution's validation.manifests.indexes.platforms:
	// "" or "all" (the default) refuses an index until the registry holds
	// every manifest it lists; "none" takes an index whatever it lacks.
	IndexPlatforms string
}

// Registry is a running registry and, with TokenAuth, its token server.
//
// Distribution accepts a token up to 60 s past its exp claim; this package
// enforces expiry exactly (to the millisecond of TokenTTL), so a short TokenTTL
// really makes the registry answer 401 invalid_token once it has passed.
type Registry struct {
	cfg     Config
	reg     *httptest.Server
	tok     *httptest.Server // nil without TokenAuth
	app     *handlers.App
	tmp     string
	client  *http.Client
	helper  string // value of helperHeader
	key     *ecdsa.PrivateKey
	kid     string // the tokens' kid header; "": keyID, the JWKS's
	now     func() time.Time
	regMW   atomic.Pointer[http.Handler] // outermost registry handler: Wrap's result
	tokMW   atomic.Pointer[http.Handler]
	inner   http.Handler // the real registry handler plus exact-expiry and PAT handling
	tokReal http.Handler

	mu       sync.Mutex
	requests []TokenRequest
	refresh  map[string]string // refresh token -> user

	closeOnce sync.Once
	closeErr  error
}

// New starts a registry for a test; it is closed by t.Cleanup.
func New(t testing.TB, c Config) *Registry {
	t.Helper()
	r, err := Start(c)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("registrytest: close: %v", err)
		}
	})
	return r
}

// Start starts a registry that runs until Close; for the dev binary and for
// callers without a testing.TB.
func Start(c Config) (_ *Registry, err error) {
	if c.TokenAuth && c.BasicAuth {
		return nil, errors.New("config: TokenAuth and BasicAuth are exclusive")
	}
	if c.TokenTTL < 0 {
		return nil, errors.New("config: negative TokenTTL")
	}
	if c.TokenTTL == 0 {
		c.TokenTTL = defaultTokenTTL
	}
	quietLogrus()

	r := &Registry{
		cfg:     c,
		now:     time.Now,
		refresh: map[string]string{},
		helper:  randomHex(16),
		client:  &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, TLSClientConfig: helperTLS(c)}},
	}
	r.tmp, err = os.MkdirTemp("", "registrytest-")
	if err != nil {
		return nil, fmt.Errorf("creating temp dir: %w", err)
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()

	// Listen first: the token realm must be known before the registry is configured.
	regLn, err := listen(c.Addr)
	if err != nil {
		return nil, err
	}
	r.reg = httptest.NewUnstartedServer(http.HandlerFunc(r.serveRegistry))
	r.reg.Listener.Close()
	r.reg.Listener = regLn

	conf := &configuration.Configuration{
		Storage: configuration.Storage{
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
			"delete":      configuration.Parameters{"enabled": true},
		},
	}
	if c.Dir != "" {
		conf.Storage["filesystem"] = configuration.Parameters{"rootdirectory": c.Dir}
	} else {
		conf.Storage["inmemory"] = configuration.Parameters{}
	}
	conf.HTTP.Secret = randomHex(16)
	conf.Proxy = configuration.Proxy{RemoteURL: c.ProxyOf, Username: c.ProxyUsername, Password: c.ProxyPassword}
	conf.Log.Level = "error"
	conf.Validation.Manifests.Indexes.Platforms = configuration.Platforms(c.IndexPlatforms)

	switch {
	case c.TokenAuth:
		r.key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generating token key: %w", err)
		}
		jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{
			Key: &r.key.PublicKey, KeyID: keyID, Algorithm: string(jose.ES256), Use: "sig",
		}}})
		if err != nil {
			return nil, fmt.Errorf("encoding jwks: %w", err)
		}
		jwksPath := filepath.Join(r.tmp, "jwks.json")
		if err := os.WriteFile(jwksPath, jwks, 0o600); err != nil {
			return nil, fmt.Errorf("writing jwks: %w", err)
		}
		tokLn, err := listen("")
		if err != nil {
			return nil, err
		}
		r.tokReal = http.HandlerFunc(r.serveToken)
		r.tok = httptest.NewUnstartedServer(http.HandlerFunc(r.serveRealm))
		r.tok.Listener.Close()
		r.tok.Listener = tokLn
		conf.Auth = configuration.Auth{"token": configuration.Parameters{
			"realm":   "http://" + tokLn.Addr().String() + "/token",
			"service": service,
			"issuer":  issuer,
			"jwks":    jwksPath,
		}}
	case c.BasicAuth:
		hash, err := bcrypt.GenerateFromPassword([]byte(AlicePassword), bcrypt.MinCost)
		if err != nil {
			return nil, fmt.Errorf("hashing password: %w", err)
		}
		htpasswd := filepath.Join(r.tmp, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(Alice+":"+string(hash)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("writing htpasswd: %w", err)
		}
		conf.Auth = configuration.Auth{"htpasswd": configuration.Parameters{
			"realm": service,
			"path":  htpasswd,
		}}
	}

	r.app, err = newApp(conf)
	if err != nil {
		return nil, err
	}
	r.inner = r.authFixups(r.app)

	if c.TLS != nil {
		r.reg.TLS = c.TLS.Clone()
		// Refused handshakes are what TLS tests are about, not news.
		r.reg.Config.ErrorLog = log.New(io.Discard, "", 0)
		r.reg.StartTLS()
	} else {
		r.reg.Start()
	}
	if r.tok != nil {
		r.tok.Start()
	}
	return r, nil
}

// newApp turns NewApp's panics on bad configuration into an error.
func newApp(conf *configuration.Configuration) (app *handlers.App, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("configuring distribution: %v", p)
		}
	}()
	return handlers.NewApp(context.Background(), conf), nil
}

// quietLogrus silences distribution, which logs through logrus's standard
// logger; that logger is distribution's global, not ours, and every Registry
// wants it the same way.
func quietLogrus() {
	logrus.SetLevel(logrus.ErrorLevel)
	logrus.SetOutput(io.Discard)
}

func listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return ln, nil
}

// Close stops both servers and removes the temporary files; it may be called
// more than once.
func (r *Registry) Close() error {
	r.closeOnce.Do(func() {
		if r.reg != nil {
			if r.reg.URL != "" {
				r.reg.Close()
			} else {
				r.reg.Listener.Close()
			}
		}
		if r.tok != nil {
			if r.tok.URL != "" {
				r.tok.Close()
			} else {
				r.tok.Listener.Close()
			}
		}
		if r.app != nil {
			r.closeErr = r.app.Shutdown()
		}
		r.client.CloseIdleConnections()
		if r.tmp != "" {
			r.closeErr = errors.Join(r.closeErr, os.RemoveAll(r.tmp))
		}
	})
	return r.closeErr
}

// Host is the registry's "127.0.0.1:PORT".
func (r *Registry) Host() string { return r.reg.Listener.Addr().String() }

// URL is the registry's "http://127.0.0.1:PORT" ("https://" with TLS).
func (r *Registry) URL() string {
	if r.cfg.TLS != nil {
		return "https://" + r.Host()
	}
	return "http://" + r.Host()
}

// helperTLS is the TLS settings of the package's own requests.
func helperTLS(c Config) *tls.Config {
	if c.TLSClient != nil {
		return c.TLSClient.Clone()
	}
	return &tls.Config{InsecureSkipVerify: true}
}

// Ref is Host()+"/"+name, e.g. Ref("team/app:1") = "127.0.0.1:PORT/team/app:1".
func (r *Registry) Ref(name string) string { return r.Host() + "/" + name }

// Realm is the token realm URL, "" without TokenAuth.
func (r *Registry) Realm() string {
	if r.tok == nil {
		return ""
	}
	return "http://" + r.tok.Listener.Addr().String() + "/token"
}

// TokenHost is the token server's "127.0.0.1:PORT", "" without TokenAuth.
func (r *Registry) TokenHost() string {
	if r.tok == nil {
		return ""
	}
	return r.tok.Listener.Addr().String()
}

// Service is the service name in the registry's challenge and the tokens'
// audience, "" without TokenAuth.
func (r *Registry) Service() string {
	if r.tok == nil {
		return ""
	}
	return service
}

// Wrap puts mw around the real registry handler, to inject faults (429,
// dropped connections, wrong headers). It replaces any earlier Wrap; nil
// removes it. Requests made by Push and its kin bypass the wrapper, so content
// can be pushed whatever fault is in place. The token server is not affected.
func (r *Registry) Wrap(mw func(http.Handler) http.Handler) {
	if mw == nil {
		r.regMW.Store(nil)
		return
	}
	h := mw(r.inner)
	r.regMW.Store(&h)
}

// WrapRealm is Wrap for the token server. It panics without TokenAuth.
func (r *Registry) WrapRealm(mw func(http.Handler) http.Handler) {
	if r.tok == nil {
		panic("registrytest: WrapRealm without TokenAuth")
	}
	if mw == nil {
		r.tokMW.Store(nil)
		return
	}
	h := mw(r.tokReal)
	r.tokMW.Store(&h)
}

func (r *Registry) serveRegistry(w http.ResponseWriter, req *http.Request) {
	if req.Header.Get(helperHeader) == r.helper {
		req.Header.Del(helperHeader)
		r.inner.ServeHTTP(w, req)
		return
	}
	if h := r.regMW.Load(); h != nil {
		(*h).ServeHTTP(w, req)
		return
	}
	r.inner.ServeHTTP(w, req)
}

func (r *Registry) serveRealm(w http.ResponseWriter, req *http.Request) {
	if h := r.tokMW.Load(); h != nil {
		(*h).ServeHTTP(w, req)
		return
	}
	r.tokReal.ServeHTTP(w, req)
}

// authFixups adapts requests before distribution sees them: with TokenAuth it
// turns a token past its exact expiry into one distribution rejects (so the
// challenge is distribution's own, error="invalid_token"); with BasicAuth it
// lets AlicePAT stand in for the password, which htpasswd cannot express.
func (r *Registry) authFixups(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case r.cfg.TokenAuth:
			if scheme, raw, ok := strings.Cut(req.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "bearer") {
				if exp, ok := tokenExpiry(raw); ok && !r.now().Before(exp) {
					req.Header.Set("Authorization", "Bearer expired")
				}
			}
		case r.cfg.BasicAuth:
			if u, p, ok := req.BasicAuth(); ok && u == Alice && p == AlicePAT {
				req.SetBasicAuth(Alice, AlicePassword)
			}
		}
		next.ServeHTTP(w, req)
	})
}

// tokenExpiry reads the expiry of a JWT without verifying it (distribution
// verifies it next): the private claim exp_ms when present, else exp.
func tokenExpiry(raw string) (time.Time, bool) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var c struct {
		Exp   int64 `json:"exp"`
		ExpMS int64 `json:"exp_ms"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return time.Time{}, false
	}
	switch {
	case c.ExpMS != 0:
		return time.UnixMilli(c.ExpMS), true
	case c.Exp != 0:
		return time.Unix(c.Exp, 0), true
	}
	return time.Time{}, false
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
