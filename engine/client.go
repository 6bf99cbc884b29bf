package engine

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Timeouts of the client. A load itself has none: a large image on a slow
// storage driver may take minutes, and ctx ends it.
const (
	dialTimeout = 10 * time.Second // a TCP engine that does not answer the dial
	pingTimeout = 20 * time.Second // an engine that accepted the connection but says nothing
	maxErrBody  = 64 << 10         // of a non-2xx answer, read for its message
)

// Client talks to one engine. Its zero value is not usable: make it with New
// or FromEnv. It is safe for concurrent use.
type Client struct {
	host Host
	hc   *http.Client
	base string // scheme and host for requests: http://docker for a socket

	mu      sync.Mutex
	pinged  bool
	version string // API-Version of the last ping; "" when the engine gave none
}

// FromEnv returns a client for the engine the docker CLI would use (see Resolve).
func FromEnv(getenv func(string) string) (*Client, error) {
	h, err := Resolve(getenv)
	if err != nil {
		return nil, err
	}
	return New(h)
}

// New returns a client for h. It does no network I/O; it reads h's TLS
// files, so a missing or malformed one fails here.
func New(h Host) (*Client, error) {
	if err := check(h, runtime.GOOS); err != nil {
		return nil, err
	}
	scheme, addr, _ := strings.Cut(h.URL, "://")
	tr := &http.Transport{DisableCompression: true, MaxIdleConns: 2, IdleConnTimeout: 30 * time.Second}
	c := &Client{host: h, hc: &http.Client{Transport: tr}, base: "http://docker"}
	d := &net.Dialer{Timeout: dialTimeout}
	if scheme == "unix" {
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", addr)
		}
		return c, nil
	}
	u, err := url.Parse("tcp://" + addr)
	if err != nil {
		return nil, &UnsupportedError{Host: h, Reason: "not a TCP address (want tcp://HOST:PORT)"}
	}
	hostport := u.Host
	if u.Port() == "" { // docker's defaults
		port := "2375"
		if h.TLS != nil {
			port = "2376"
		}
		hostport = net.JoinHostPort(u.Hostname(), port)
	}
	tr.DialContext, tr.Proxy = d.DialContext, http.ProxyFromEnvironment // as docker's client does for tcp://
	c.base = "http://" + hostport + strings.TrimSuffix(u.Path, "/")
	if h.TLS != nil {
		cfg, err := tlsConfig(h.TLS, u.Hostname())
		if err != nil {
			return nil, fmt.Errorf("engine %s (from %s): %w", h.URL, h.From, err)
		}
		tr.TLSClientConfig = cfg
		c.base = "https://" + hostport + strings.TrimSuffix(u.Path, "/")
	}
	return c, nil
}

// tlsConfig reads the PEM files as docker does: the CA only when verifying.
func tlsConfig(t *TLSFiles, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName, InsecureSkipVerify: t.SkipVerify}
	if !t.SkipVerify && t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("reading the engine's CA (DOCKER_CERT_PATH): %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", t.CA)
		}
		cfg.RootCAs = pool
	}
	if t.Cert != "" || t.Key != "" {
		if t.Cert == "" || t.Key == "" {
			return nil, fmt.Errorf("a client certificate needs both cert.pem and key.pem (have %q and %q)", t.Cert, t.Key)
		}
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("reading the client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// Host is the engine this client talks to.
func (c *Client) Host() Host { return c.host }

// Ping is what an engine's /_ping said.
type Ping struct {
	APIVersion string // "1.41"; "" when the engine gave none
	OSType     string // "linux"
	Server     string // "Docker/20.10.24 (linux)", "Libpod/4.3.1 (linux)"
}

// Ping asks the engine's /_ping, within 20 s, and remembers its API version
// for the next Load.
func (c *Client) Ping(ctx context.Context) (Ping, error) {
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	const what = "GET /_ping"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/_ping", nil)
	if err != nil {
		return Ping{}, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return Ping{}, &UnreachableError{Host: c.host, Request: what, Err: unwrapURL(err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
	if resp.StatusCode/100 != 2 {
		return Ping{}, &Error{Host: c.host, Request: what, Status: resp.StatusCode, Message: message(body)}
	}
	p := Ping{APIVersion: resp.Header.Get("API-Version"), OSType: resp.Header.Get("OSType"), Server: resp.Header.Get("Server")}
	if p.APIVersion == "" && strings.TrimSpace(string(body)) != "OK" {
		return Ping{}, &Error{Host: c.host, Request: what, Status: resp.StatusCode,
			Message: "the answer is neither an engine's OK nor has an API-Version header: is this a Docker Engine?"}
	}
	c.mu.Lock()
	c.pinged, c.version = true, p.APIVersion
	c.mu.Unlock()
	return p, nil
}

// apiPath is path under the API version the engine announced, pinging it
// first if no ping did yet; the unversioned path when it announced none.
func (c *Client) apiPath(ctx context.Context, path string) (string, error) {
	c.mu.Lock()
	pinged, v := c.pinged, c.version
	c.mu.Unlock()
	if !pinged {
		p, err := c.Ping(ctx)
		if err != nil {
			return "", err
		}
		v = p.APIVersion
	}
	if v == "" {
		return path, nil
	}
	return "/v" + v + path, nil
}

// message is the engine's words in an error body: its JSON "message", else the text.
func message(body []byte) string {
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil && m.Message != "" {
		return m.Message
	}
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "(no message)"
	}
	return s
}

// unwrapURL drops net/http's *url.Error, whose text repeats the made-up
// http://docker URL of a socket; Error names the real address instead.
func unwrapURL(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
