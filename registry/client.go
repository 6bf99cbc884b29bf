package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/ref"
)

// Config configures a Client for one registry. Zero values are the defaults.
type Config struct {
	// Registry is the registry's name as in a reference: "docker.io", "ghcr.io",
	// "localhost:5000". Required.
	Registry string
	// Creds finds credentials for Registry; nil: anonymous.
	Creds auth.Source
	// Transport is the bottom of the stack; nil: a fresh *http.Transport with
	// proxies from the environment and TLS from CAFile and Insecure.
	Transport http.RoundTripper
	// CAFile adds a PEM CA bundle to the system pool.
	CAFile string
	// CertsDirs are roots of certs.d trees in docker's layout, searched in
	// order for each host dialed: ROOT/HOST[:PORT]/*.crt are CAs added to the
	// pool; NAME.cert with NAME.key is a client certificate offered to that
	// host only, so the registry's never reaches its token service or a CDN
	// on another host. Ignored when Transport is set.
	CertsDirs []string
	// Insecure skips TLS verification.
	Insecure bool
	// PlainHTTP speaks http instead of https. Loopback registries (localhost,
	// 127.0.0.0/8, ::1) are tried with https and fall back to http when the
	// server answers TLS with plain HTTP, as docker treats them.
	PlainHTTP bool
	// PlainHTTPFallback treats the registry as a loopback one: https first,
	// http once the server answers TLS with plain HTTP (docker's
	// insecure-registries, registries.conf's insecure = true).
	PlainHTTPFallback bool
	// UserAgent; "": haul/<Version>.
	UserAgent string
	// Version is haul's version, for the default UserAgent.
	Version string
	// Trace, when set, receives each HTTP exchange as a curl command and the
	// response's status and headers. TraceSecrets prints tokens and passwords.
	Trace        io.Writer
	TraceSecrets bool
	// Retry bounds the retries of each operation (a request; a manifest or
	// page of tags read whole; a blob's attempts since it last made
	// progress), with one budget per operation: no retry loop runs inside
	// another.
	Retry RetryPolicy
	// IdleTimeout abandons an attempt that receives under 1 KiB in this long,
	// response headers included; 0: 30 s. A blob ends when two attempts in a
	// row go idle without progress (1 MiB beyond the furthest byte received
	// before the attempt, or the blob's end): a *StallError.
	IdleTimeout time.Duration
	// DialTimeout bounds each connection attempt: a host nobody answers
	// fails this soon, with a *ConnError, and is not dialed again; 0: 10 s.
	// Ignored when Transport is set.
	DialTimeout time.Duration
	// Dial makes connections, for the default transport; nil: a
	// net.Dialer. Tests use it to fail dials as the network would. Ignored
	// when Transport is set.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives debug notes (fallbacks taken); nil: discard.
	Logger *slog.Logger
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// Client talks to one registry. It is safe for concurrent use.
type Client struct {
	registry string
	base     *url.URL // scheme://host[:port]
	http     *http.Client
	anon     *http.Client // the same stack without the auth layer, for foreign URLs
	bufs     sync.Pool    // WriteTo's buffers
	retry    RetryPolicy
	// noChunks: the registry mishandled a chunked upload once (a 416, a
	// Range that did not advance, a 201 mid-upload); uploads go whole since.
	noChunks atomic.Bool
	log      *slog.Logger
	now      func() time.Time
	creds    auth.Source // asked again only to advise on a 401
	trace    io.Writer
	traceMu  *sync.Mutex
	// hosts is the bottom of the stack unless Config.Transport replaced it;
	// certsDirs are Config.CertsDirs, for TLS errors to name.
	hosts     *hostTransports
	certsDirs []string
	// fallback is the plain-HTTP fallback layer, when the registry may
	// speak plain HTTP: errors show the URL with the scheme really sent.
	fallback *plainFallbackRT

	// noReferrersAPI: the registry answered the referrers API 404 (it has
	// none: one that has it answers 200 for any subject); referrers are
	// read from fallback tags since.
	noReferrersAPI atomic.Bool
}

// New validates c and builds the transport stack once.
func New(c Config) (*Client, error) {
	if c.Registry == "" {
		return nil, errors.New("registry client: no registry given")
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.UserAgent == "" {
		v := c.Version
		if v == "" {
			v = "dev"
		}
		c.UserAgent = fmt.Sprintf("haul/%s (%s/%s)", v, runtime.GOOS, runtime.GOARCH)
	}
	scheme := "https"
	if c.PlainHTTP {
		scheme = "http"
	}
	base := &url.URL{Scheme: scheme, Host: ref.APIHost(c.Registry)}
	if c.Insecure && c.Trace != nil {
		fmt.Fprintf(c.Trace, "# warning: TLS verification is off for %s (--insecure)\n", c.Registry)
	}
	t := c.Transport
	var hosts *hostTransports
	if t == nil {
		var err error
		if hosts, err = newHostTransports(c, base.Host); err != nil {
			return nil, err
		}
		t = hosts
	}
	cl := &Client{
		hosts:     hosts,
		certsDirs: c.CertsDirs,
		registry:  c.Registry,
		base:      base,
		retry:     c.Retry.withDefaults(),
		log:       c.Logger,
		now:       c.Now,
		trace:     c.Trace,
		traceMu:   &sync.Mutex{},
	}
	t = connRT{next: t}
	t = idleRT{next: t, timeout: c.IdleTimeout}
	if c.Trace != nil {
		t = traceRT{next: t, w: c.Trace, mu: cl.traceMu, secrets: c.TraceSecrets} // sees every retry and token request
	}
	fallback := ref.IsLoopback(c.Registry) || c.PlainHTTPFallback
	if scheme == "https" && fallback {
		cl.fallback = &plainFallbackRT{next: t, host: base.Host}
		t = cl.fallback
	}
	t = userAgentRT{next: t, ua: c.UserAgent}
	t = &retryRT{next: t, policy: cl.retry, now: c.Now}
	cl.anon = &http.Client{Transport: t, CheckRedirect: checkRedirect(false)}
	t = &auth.Transport{Next: t, Registry: c.Registry, Origin: base.Scheme + "://" + base.Host, Creds: c.Creds, Now: c.Now}
	cl.http = &http.Client{Transport: t, CheckRedirect: checkRedirect(c.PlainHTTP || fallback)}
	cl.creds = c.Creds
	return cl, nil
}

// Registry is the registry name the client was made for.
func (c *Client) Registry() string { return c.registry }

// checkRef returns an *OtherRegistryError unless r names a repository of the
// client's registry. Every method given a reference calls it first: the
// request would otherwise go to this registry under the other one's name,
// with this registry's credentials, and a registry that proxies another (or
// holds a namesake) could even answer it. Names of one API host are one
// registry: docker.io, index.docker.io and registry-1.docker.io; host names
// are compared without regard to case.
func (c *Client) checkRef(r ref.Reference) error {
	if strings.EqualFold(ref.APIHost(r.Registry()), ref.APIHost(c.registry)) {
		return nil
	}
	return &OtherRegistryError{Client: c.registry, Ref: r}
}

// BaseURL is scheme://host[:port] of the registry's API.
func (c *Client) BaseURL() string { return c.base.String() }

// checkRedirect caps hops, allows only http(s), and refuses an https → http
// downgrade unless the user allowed plain HTTP. Credentials on each hop are the
// auth layer's business: it sends them to the registry's own origin only.
func checkRedirect(allowPlain bool) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return fmt.Errorf("stopped after 10 redirects (last to %s)", redactURL(req.URL))
		}
		switch req.URL.Scheme {
		case "https":
		case "http":
			if via[len(via)-1].URL.Scheme == "https" && !allowPlain {
				return fmt.Errorf("refusing redirect from https to %s (plain HTTP; use --plain-http if the registry is meant to do this)", redactURL(req.URL))
			}
		default:
			return fmt.Errorf("refusing redirect to scheme %q", req.URL.Scheme)
		}
		return nil
	}
}

// url builds an API URL; segments are already validated names and digests.
func (c *Client) url(path string) *url.URL {
	u := *c.base
	u.Path = path
	return &u
}

// do sends req and turns a non-2xx answer into an *Error. ok lists extra
// statuses that are not errors.
func (c *Client) do(req *http.Request, repo string, ok ...int) (*http.Response, error) {
	return c.doWith(c.http, req, repo, ok...)
}

func (c *Client) doWith(hc *http.Client, req *http.Request, repo string, ok ...int) (*http.Response, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, c.wrapTransportError(req, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	for _, s := range ok {
		if resp.StatusCode == s {
			return resp, nil
		}
	}
	e := newError(resp, c.registry, repo, c.now())
	e.HadCredentials, e.CredentialFrom = c.credentialFrom(req.Context(), resp.StatusCode)
	e.URL = redactURL(c.sent(resp.Request.URL))
	return nil, e
}

// sent is u as it went on the wire: http, not https, once the registry fell
// back to plain HTTP. (Above the fallback layer a request keeps its https
// URL, for the auth layer's origin check; a person reading an error must see
// what was sent, or look for a TLS problem that is not there.)
func (c *Client) sent(u *url.URL) *url.URL {
	if c.fallback == nil || u.Scheme != "https" || u.Host != c.fallback.host || !c.fallback.plain.Load() {
		return u
	}
	s := *u
	s.Scheme = "http"
	return &s
}

// sentError names the request in http.Client's error as it was sent
// ("GET http://…", redacted), in place of its "Get \"https://…\"".
func (c *Client) sentError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return err
	}
	return fmt.Errorf("%s %s: %w", strings.ToUpper(ue.Op), redactURL(c.sent(u)), ue.Err)
}

// credentialFrom tells error advice whether the user holds a credential
// here, and where it was found.
func (c *Client) credentialFrom(ctx context.Context, status int) (bool, string) {
	if c.creds == nil || (status != http.StatusUnauthorized && status != http.StatusForbidden) {
		return false, ""
	}
	cred, err := c.creds.Credential(ctx, c.registry)
	if err != nil || cred.IsZero() {
		return false, ""
	}
	return true, cred.From
}

func (c *Client) wrapTransportError(req *http.Request, err error) error {
	if isTLSError(err) {
		host := failedHost(req, err)
		te := &TLSError{Host: host, Err: err, CertsDirs: c.certsDirs}
		te.SentClientCert = c.hosts != nil && c.hosts.sentClientCert(host)
		return te
	}
	err = c.sentError(err)
	// net/http reports this with an untyped error; its text is all there is.
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Errorf("%w (the registry speaks plain HTTP: use --plain-http)", err)
	}
	return err
}

// newRequest makes a request with ctx; bodies are not used by the read API.
func (c *Client) newRequest(ctx context.Context, method string, u *url.URL) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, method, u.String(), nil)
}

// Ping checks that the registry speaks the distribution API and that the
// credentials, if any, are accepted for it.
func (c *Client) Ping(ctx context.Context) error {
	req, err := c.newRequest(ctx, http.MethodGet, c.url("/v2/"))
	if err != nil {
		return err
	}
	resp, err := c.doRetrying(req, "")
	if err != nil {
		return fmt.Errorf("ping %s: %w", c.registry, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	return nil
}

// Login checks cred against the registry (the token dance, or Basic) and
// returns what should be stored: an identity (refresh) token where the realm
// grants one, else cred itself. Nothing is stored here.
func Login(ctx context.Context, c Config, cred auth.Credential) (auth.Credential, error) {
	c.Creds = nil
	cl, err := New(c)
	if err != nil {
		return auth.Credential{}, err
	}
	// Below the auth layer: Login does its own dance with these credentials.
	next := cl.http.Transport.(*auth.Transport).Next
	got, err := auth.Login(ctx, next, c.Registry, cl.BaseURL(), cred)
	if err != nil {
		return auth.Credential{}, fmt.Errorf("logging in to %s: %w", c.Registry, cl.wrapTransportError(&http.Request{URL: cl.base}, err))
	}
	return got, nil
}
