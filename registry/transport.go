package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
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

// RetryPolicy bounds retries of idempotent requests.
type RetryPolicy struct {
	Max           int           // retries after the first try; 0: 5; < 0: none
	Base          time.Duration // first backoff; 0: 200 ms, doubled each try, with jitter
	MaxBackoff    time.Duration // 0: 10 s
	MaxRetryAfter time.Duration // a longer Retry-After fails at once; 0: 60 s
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Max == 0 {
		p.Max = 5
	}
	if p.Max < 0 {
		p.Max = 0
	}
	if p.Base <= 0 {
		p.Base = 200 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 10 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 60 * time.Second
	}
	return p
}

// backoff is the wait before retry number try (0-based): exponential, full jitter
// in its upper half so that many clients do not retry in step.
func (p RetryPolicy) backoff(try int) time.Duration {
	d := p.MaxBackoff
	if shift := min(try, 20); p.Base <= p.MaxBackoff>>shift {
		d = p.Base << shift
	}
	return d/2 + rand.N(d/2+1)
}

// retryRT retries idempotent requests on 408, 429, 500, 502, 503, 504 and on
// dropped connections, honouring Retry-After; everything else passes through.
type retryRT struct {
	next   http.RoundTripper
	policy RetryPolicy
	now    func() time.Time
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func (t *retryRT) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	for try := 0; ; try++ {
		resp, err := t.next.RoundTrip(req)
		if try >= t.policy.Max || ctx.Err() != nil {
			return resp, err
		}
		var wait time.Duration
		switch {
		case err != nil:
			if !retryableError(err) {
				return resp, err
			}
			wait = t.policy.backoff(try)
		case retryableStatus(resp.StatusCode):
			wait = t.policy.backoff(try)
			if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), t.now()); ok {
				if ra > t.policy.MaxRetryAfter {
					return resp, nil // the caller reports the limit and when it resets
				}
				wait = max(ra, wait/4)
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
		default:
			return resp, nil
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// retryableError tells a dropped or refused connection and a stalled response
// (worth another try) from a TLS or URL error (not worth one).
func retryableError(err error) bool {
	// *url.Error has Timeout and Temporary methods, so it passes for a net.Error
	// whatever it wraps: judge what it wraps (a refused redirect is not worth a retry).
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var rec tls.RecordHeaderError
	switch {
	case isTLSError(err), errors.As(err, &rec):
		return false
	case errors.Is(err, errIdle), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE):
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

// idleRT abandons an exchange when no response arrives, or its body stops
// moving, for longer than timeout: a slow but steady transfer of any length goes
// on, a stalled one fails with errIdle and can be retried or resumed.
type idleRT struct {
	next    http.RoundTripper
	timeout time.Duration
}

func (t idleRT) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	timer := time.AfterFunc(t.timeout, func() { cancel(errIdle) })
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		timer.Stop()
		if context.Cause(ctx) == errIdle {
			err = fmt.Errorf("%s %s: %w", req.Method, redactURL(req.URL), errIdle)
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
	ctx     context.Context
	cancel  context.CancelCauseFunc
	once    sync.Once
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.timer.Reset(b.timeout)
	}
	if err != nil && err != io.EOF && context.Cause(b.ctx) == errIdle {
		err = errIdle
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

// newBaseTransport is the bottom of the stack: dialing, TLS and proxies
// (HTTPS_PROXY, NO_PROXY) and nothing else.
func newBaseTransport(tlsConfig *tls.Config, idle time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: idle,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
}
