package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// userAgentRT sets User-Agent on a clone of each request.
type userAgentRT struct {
	next http.RoundTripper
	ua   string
}

func (t userAgentRT) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("User-Agent", t.ua)
	return t.next.RoundTrip(r)
}

// minIdleBytes is what an exchange must keep receiving within each idle
// timeout to count as moving: a trickle of a few bytes is as stuck as
// silence, and would otherwise hold a pull for ever.
const minIdleBytes = 1 << 10

// idleError is errIdle, saying which timeout ran out and on what.
type idleError struct {
	timeout time.Duration
	headers bool // no answer came at all
}

func (e *idleError) Error() string {
	if e.headers {
		return fmt.Sprintf("no answer within %s (the idle timeout)", e.timeout)
	}
	return fmt.Sprintf("under 1 KiB received in %s (the idle timeout)", e.timeout)
}

func (e *idleError) Is(target error) bool { return target == errIdle }

// idleRT abandons an exchange when no response arrives, or its body receives
// under minIdleBytes, within timeout: a slow but steady transfer of any length
// goes on, a stalled or trickling one fails with errIdle and can be retried
// or resumed.
type idleRT struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (t idleRT) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(t.timeout, func() { cancel(errIdle) })
	resp, err := t.next.RoundTrip(watchBody(req.WithContext(ctx), timer, t.timeout)) // an upload's body: see sendingBody
	if err != nil {
		timer.Stop()
		// net/http's ResponseHeaderTimeout, the same timeout, may fire first;
		// its error is unexported, and its text is all there is.
		if context.Cause(ctx) == errIdle || strings.Contains(err.Error(), "timeout awaiting response headers") {
			err = &idleError{timeout: t.timeout, headers: true}
		}
		cancel(nil)
		return nil, err
	}
	timer.Reset(t.timeout)
	resp.Body = &idleBody{rc: resp.Body, timer: timer, timeout: t.timeout, ctx: ctx, cancel: cancel}
	return resp, nil
}

type idleBody struct {
	rc      io.ReadCloser
	timer   *time.Timer
	timeout time.Duration
	got     int // bytes since the timer was last reset
	ctx     context.Context
	cancel  context.CancelCauseFunc
	once    sync.Once
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if b.got += n; b.got >= minIdleBytes {
		b.timer.Reset(b.timeout)
		b.got = 0
	}
	if err != nil && err != io.EOF && context.Cause(b.ctx) == errIdle {
		err = &idleError{timeout: b.timeout}
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.once.Do(func() {
		b.timer.Stop()
		b.cancel(nil)
	})
	return b.rc.Close()
}

// plainFallbackRT lets a loopback registry speak plain HTTP, as docker allows:
// requests go out as https until the server answers TLS with plain HTTP, and
// from then on as http. Above it, the request keeps its https URL, so the auth
// layer's origin check and Link resolution see one origin.
type plainFallbackRT struct {
	next  http.RoundTripper
	host  string
	plain atomic.Bool
}

func (t *plainFallbackRT) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" || req.URL.Host != t.host {
		return t.next.RoundTrip(req)
	}
	if !t.plain.Load() {
		resp, err := t.next.RoundTrip(req)
		if err == nil || !answeredPlainHTTP(err) {
			return resp, err
		}
		t.plain.Store(true)
		if req.Body != nil && req.GetBody == nil {
			return nil, err
		}
	}
	r := req.Clone(req.Context())
	r.URL.Scheme = "http"
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r.Body = body
	}
	resp, err := t.next.RoundTrip(r)
	if resp != nil {
		resp.Request = req
	}
	return resp, err
}

// answeredPlainHTTP reports whether a TLS handshake met a plain HTTP server.
// net/http reports it with an untyped error, so its text is all there is.
func answeredPlainHTTP(err error) bool {
	var rec tls.RecordHeaderError
	return errors.As(err, &rec) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// newBaseTransport is the bottom of the stack: dialing (bounded by
// c.DialTimeout), TLS and proxies (HTTPS_PROXY, NO_PROXY) and nothing else.
func newBaseTransport(tlsConfig *tls.Config, c Config) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           newDialer(c).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: c.IdleTimeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
}
