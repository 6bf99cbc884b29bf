package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/haul-dev/haul/auth"
)

// TLSConfig builds the client TLS settings: the system pool plus caFile, or no
// verification at all with insecure.
func TLSConfig(caFile string, insecure bool) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if insecure {
		c.InsecureSkipVerify = true
		return c, nil
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := systemPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// systemPool is a copy of the system's roots, or an empty pool where there
// are none.
func systemPool() *x509.CertPool {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		return x509.NewCertPool()
	}
	return pool
}

// hostTLS is the TLS settings for connections to host (host[:port] as
// dialed): TLSConfig's, plus the CA certificates and client pairs of the
// certs.d directories for that host, and no other's.
func hostTLS(c Config, host string) (*tls.Config, HostCerts, error) {
	tc, err := TLSConfig(c.CAFile, c.Insecure)
	if err != nil {
		return nil, HostCerts{}, err
	}
	hc, err := LoadCertsDirs(c.CertsDirs, host)
	if err != nil {
		return nil, HostCerts{}, err
	}
	if len(hc.CAs) > 0 && !c.Insecure {
		if tc.RootCAs == nil {
			tc.RootCAs = systemPool()
		}
		for _, ca := range hc.CAs {
			tc.RootCAs.AddCert(ca)
		}
	}
	tc.Certificates = hc.Clients
	return tc, hc, nil
}

// hostTransports is the bottom of the stack when Config.Transport is nil: one
// *http.Transport per host:port dialed, each with that host's TLS settings
// from certs.d. The registry's client certificate thus goes to the registry
// only: a token realm or a CDN that a blob redirects to is offered the pair
// in its own certs.d directory, if any, and nothing otherwise. (docker builds
// one TLS config from the registry's directory and uses it for the realm and
// redirects too; haul does not hand a CDN the registry's identity.)
type hostTransports struct {
	c    Config
	idle time.Duration

	mu    sync.Mutex
	hosts map[string]*http.Transport
	http1 map[string]*http.Transport // hosts' HTTP/1.1-only twins, made on need
	certs map[string]bool            // host -> a client certificate is offered
}

func newHostTransports(c Config, registryHost string) (*hostTransports, error) {
	h := &hostTransports{c: c, idle: c.IdleTimeout, hosts: map[string]*http.Transport{}, http1: map[string]*http.Transport{}, certs: map[string]bool{}}
	// The registry's own settings are read now, so that a broken certs.d
	// file or CA file fails New with its name.
	if _, err := h.transport(registryHost); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *hostTransports) transport(host string) (*http.Transport, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t, ok := h.hosts[host]; ok {
		return t, nil
	}
	tc, hc, err := hostTLS(h.c, host)
	if err != nil {
		return nil, err
	}
	t := newBaseTransport(tc, h.c)
	h.hosts[host] = t
	h.certs[host] = len(hc.Clients) > 0
	return t, nil
}

// sentClientCert reports whether connections to host offer a client
// certificate.
func (h *hostTransports) sentClientCert(host string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.certs[host]
}

func (h *hostTransports) RoundTrip(req *http.Request) (*http.Response, error) {
	t, err := h.transport(req.URL.Host)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := t.RoundTrip(req)
	if err == nil || !connNotEstablished(err) || (req.Body != nil && req.GetBody == nil) {
		return resp, err
	}
	// In TLS 1.3 a server judges the client's certificate after the client
	// has finished its handshake, so its refusal (an alert) is the first
	// thing read. Over HTTP/2 that read races the first request, and when it
	// wins net/http drops the alert for "client conn could not be
	// established". The request was never sent: ask again over HTTP/1.1,
	// where the alert comes back as the answer's read error, for TLSError
	// to say what the registry refused.
	r := req.Clone(req.Context())
	if req.GetBody != nil {
		if r.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	resp, err = h.http1Transport(req.URL.Host, t).RoundTrip(r)
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}

// connNotEstablished: a new HTTP/2 connection closed before its first
// request went out. net/http's error for it is unexported, so its text is
// all there is.
func connNotEstablished(err error) bool {
	return strings.Contains(err.Error(), "http2: client conn could not be established")
}

// http1Transport is t, for host, limited to HTTP/1.1.
func (h *hostTransports) http1Transport(host string, t *http.Transport) *http.Transport {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t1, ok := h.http1[host]; ok {
		return t1
	}
	tc := t.TLSClientConfig.Clone()
	tc.NextProtos = nil // net/http put h2 there
	t1 := newBaseTransport(tc, h.c)
	t1.ForceAttemptHTTP2 = false
	t1.Protocols = new(http.Protocols)
	t1.Protocols.SetHTTP1(true)
	h.http1[host] = t1
	return t1
}

// CloseIdleConnections closes every host's idle connections.
func (h *hostTransports) CloseIdleConnections() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, t := range h.hosts {
		t.CloseIdleConnections()
	}
	for _, t := range h.http1 {
		t.CloseIdleConnections()
	}
}

// TLSError is a TLS failure with a registry (or its token service, or a
// host its blobs redirect to): its certificate could not be verified, or it
// refused haul's client certificate or the lack of one. Its message says
// what failed and where the file that fixes it goes.
type TLSError struct {
	Host string // host[:port]
	Err  error
	// CertsDirs are the certs.d roots searched, for the message to name.
	CertsDirs []string
	// SentClientCert: a client certificate from certs.d was offered.
	SentClientCert bool
}

func (e *TLSError) Error() string {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	switch {
	case errors.As(e.Err, &unknown):
		what := "certificate signed by unknown authority"
		if c := unknown.Cert; c != nil {
			what += fmt.Sprintf(" (issuer %s)", c.Issuer)
		}
		return fmt.Sprintf("TLS with %s: %s: put the registry's CA certificate in %s, pass --ca-file FILE, or skip verification with --insecure",
			e.Host, what, e.where("ca.crt"))
	case errors.As(e.Err, &hostname):
		names := hostname.Certificate.DNSNames
		for _, ip := range hostname.Certificate.IPAddresses {
			names = append(names, ip.String())
		}
		valid := "no name"
		if len(names) > 0 {
			valid = strings.Join(names, ", ")
		}
		return fmt.Sprintf("TLS with %s: the certificate is valid for %s, not %s: use a name it holds, or have it reissued with this one",
			e.Host, valid, hostname.Host)
	case errors.As(e.Err, &invalid) && invalid.Reason == x509.Expired:
		c := invalid.Cert
		now := time.Now()
		when := fmt.Sprintf("expired on %s", c.NotAfter.UTC().Format(time.DateTime))
		if now.Before(c.NotBefore) {
			when = fmt.Sprintf("is not valid before %s", c.NotBefore.UTC().Format(time.DateTime))
		}
		return fmt.Sprintf("TLS with %s: the certificate of %s %s (now %s): renew it, or check this machine's clock",
			e.Host, c.Subject, when, now.UTC().Format(time.DateTime))
	}
	if alert := remoteAlert(e.Err); alert != "" {
		if e.SentClientCert {
			return fmt.Sprintf("TLS with %s: the registry refused haul's client certificate (%s): check that a CA it trusts signed the pair in %s, and that it has not expired",
				e.Host, alert, e.where(""))
		}
		return fmt.Sprintf("TLS with %s: the registry asks for a client certificate (%s): put NAME.cert and NAME.key in %s",
			e.Host, alert, e.where(""))
	}
	return fmt.Sprintf("TLS with %s: %v (add its CA with --ca-file, or skip verification with --insecure)", e.Host, e.Err)
}

func (e *TLSError) Unwrap() error { return e.Err }

// where names the certs.d directory for e's host (and file in it): the
// first root, then the others as alternatives.
func (e *TLSError) where(file string) string {
	if len(e.CertsDirs) == 0 {
		return "a certs.d directory (docker's /etc/docker/certs.d/" + e.Host + "/)"
	}
	paths := make([]string, len(e.CertsDirs))
	for i, d := range e.CertsDirs {
		paths[i] = filepath.Join(d, e.Host, file)
		if file == "" {
			paths[i] += string(filepath.Separator)
		}
	}
	if len(paths) == 1 {
		return paths[0]
	}
	return paths[0] + " (or " + strings.Join(paths[1:], " or ") + ")"
}

// remoteAlert is the text of a TLS alert the server sent about haul's
// client certificate ("tls: certificate required"); "" for anything else.
// crypto/tls reports received alerts as a *net.OpError "remote error" over
// an unexported type, so the text is all there is.
func remoteAlert(err error) string {
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "remote error" || oe.Err == nil {
		return ""
	}
	msg := oe.Err.Error()
	for _, a := range []string{"certificate required", "bad certificate", "unknown certificate authority", "certificate expired", "certificate revoked", "unsupported certificate"} {
		if strings.Contains(msg, a) {
			return msg
		}
	}
	return ""
}

// failedHost is the host[:port] whose connection err is about: the token
// realm when fetching a token failed, the target of a redirect when
// following it failed, else req's host. A TLS message must name the host,
// and the certs.d directory, that the fix belongs to.
func failedHost(req *http.Request, err error) string {
	var te *auth.TokenError
	if errors.As(err, &te) {
		if u, perr := url.Parse(te.Realm); perr == nil && u.Host != "" {
			return u.Host
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			return u.Host
		}
	}
	return req.URL.Host
}

// isTLSError tells a TLS failure (not worth a retry, worth a message of its
// own) from the rest.
func isTLSError(err error) bool {
	var cert *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	return errors.As(err, &cert) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		remoteAlert(err) != ""
}
