package registry

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"
)

// rtFunc is a RoundTripper made of a function: the fake next layer.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// trackedBody is a response body that remembers whether it was closed.
type trackedBody struct {
	io.Reader
	closed atomic.Bool
}

func (b *trackedBody) Close() error {
	b.closed.Store(true)
	return nil
}

func newResponse(req *http.Request, status int, header http.Header, body string) (*http.Response, *trackedBody) {
	tb := &trackedBody{Reader: strings.NewReader(body)}
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{
		Status:     fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode: status,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     header,
		Body:       tb,
		Request:    req,
	}, tb
}

func TestUserAgentRTClones(t *testing.T) {
	t.Parallel()
	var seen *http.Request
	rt := userAgentRT{ua: "haul/test", next: rtFunc(func(r *http.Request) (*http.Response, error) {
		seen = r
		resp, _ := newResponse(r, 200, nil, "")
		return resp, nil
	})}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "https://r.example/v2/", nil)
	req.Header.Set("Accept", "x/y")
	req.Header.Set("User-Agent", "caller/1")
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("User-Agent"); got != "caller/1" {
		t.Errorf("the caller's request now has User-Agent %q: it was changed in place", got)
	}
	if len(req.Header) != 2 {
		t.Errorf("the caller's headers changed: %v", req.Header)
	}
	if seen == req {
		t.Error("next received the caller's request, not a clone")
	}
	if seen.Header.Get("User-Agent") != "haul/test" || seen.Header.Get("Accept") != "x/y" {
		t.Errorf("next saw headers %v, want User-Agent haul/test and the caller's Accept", seen.Header)
	}
	if seen.Context() != req.Context() {
		t.Error("the clone lost the request's context")
	}
}

// answer is what the fake next layer returns for one call.
type answer struct {
	status int
	header http.Header
	err    error
}

func retryAfter(v string) http.Header { return http.Header{"Retry-After": {v}} }

func resetErr() error {
	return &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
}

func TestRetryRT(t *testing.T) {
	t.Parallel()
	// The bubble's clock starts at midnight UTC 2000-01-01; HTTP-dates are
	// relative to it.
	epoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	fast := RetryPolicy{Max: 3, Base: time.Millisecond, MaxBackoff: 2 * time.Millisecond}.withDefaults()
	ok := answer{status: 200}
	tests := []struct {
		name       string
		method     string
		owned      bool // the request belongs to an operation that retries it itself
		policy     RetryPolicy
		answers    []answer // the last one repeats
		ctxTimeout time.Duration
		wantCalls  int
		wantStatus int   // 0: an error
		wantErr    error // errors.Is
		minWait    time.Duration
		maxWait    time.Duration // 0: no bound checked
	}{
		{name: "429", answers: []answer{{status: 429}, ok}, wantCalls: 2, wantStatus: 200},
		{name: "500", answers: []answer{{status: 500}, ok}, wantCalls: 2, wantStatus: 200},
		{name: "502", answers: []answer{{status: 502}, ok}, wantCalls: 2, wantStatus: 200},
		{name: "503", answers: []answer{{status: 503}, ok}, wantCalls: 2, wantStatus: 200},
		{name: "504", answers: []answer{{status: 504}, ok}, wantCalls: 2, wantStatus: 200},
		{name: "408", answers: []answer{{status: 408}, ok}, wantCalls: 2, wantStatus: 200},
		{name: "HEAD 503", method: http.MethodHead, answers: []answer{{status: 503}, ok}, wantCalls: 2, wantStatus: 200},
		{name: "unexpected EOF", answers: []answer{{err: io.ErrUnexpectedEOF}, ok}, wantCalls: 2, wantStatus: 200},
		{name: "connection reset", answers: []answer{{err: resetErr()}, {err: resetErr()}, ok}, wantCalls: 3, wantStatus: 200},
		// A connection that cannot be made is not asked for again: the same
		// closed port or missing name answers the same a moment later.
		{name: "connection refused", answers: []answer{{err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, ok},
			wantCalls: 1, wantErr: syscall.ECONNREFUSED},
		{name: "no such host", answers: []answer{{err: &ConnError{Host: "nosuch.invalid:443", Kind: ConnNoSuchHost, Err: &net.DNSError{Err: "no such host", Name: "nosuch.invalid", IsNotFound: true}}}, ok},
			wantCalls: 1, wantErr: &ConnError{}},
		{name: "dial timeout", answers: []answer{{err: &ConnError{Host: "192.0.2.1:443", Kind: ConnTimeout, Err: &dialTimeoutError{"tcp", "192.0.2.1:443", time.Second}}}, ok},
			wantCalls: 1, wantErr: &ConnError{}},
		{name: "idle then success", answers: []answer{{err: &idleError{timeout: time.Second}}, ok}, wantCalls: 2, wantStatus: 200},
		{name: "two idle attempts end it", answers: []answer{{err: &idleError{timeout: time.Second, headers: true}}}, wantCalls: 2, wantErr: errIdle},
		{name: "idle, reset, idle: two idle end it", answers: []answer{{err: &idleError{timeout: time.Second}}, {err: resetErr()}, {err: &idleError{timeout: time.Second}}, ok},
			wantCalls: 3, wantErr: errIdle},
		{name: "two TLS handshake timeouts end it", answers: []answer{{err: tlsHandshakeTimeout{}}}, wantCalls: 2, wantErr: tlsHandshakeTimeout{}},
		{name: "PATCH not retried", method: http.MethodPatch, answers: []answer{{err: resetErr()}, ok}, wantCalls: 1, wantErr: syscall.ECONNRESET},
		{name: "owned by an outer operation", owned: true, answers: []answer{{status: 503}, ok}, wantCalls: 1, wantStatus: 503},
		{name: "owned, reset", owned: true, answers: []answer{{err: resetErr()}, ok}, wantCalls: 1, wantErr: syscall.ECONNRESET},
		{name: "5xx bounded by Max", answers: []answer{{status: 500}}, wantCalls: 4, wantStatus: 500},
		{name: "resets bounded by Max", answers: []answer{{err: resetErr()}}, wantCalls: 4, wantErr: syscall.ECONNRESET},
		{name: "default Max is 5", policy: RetryPolicy{Base: time.Millisecond, MaxBackoff: 2 * time.Millisecond}.withDefaults(),
			answers: []answer{{status: 503}}, wantCalls: 6, wantStatus: 503},
		{name: "negative Max: no retries", policy: RetryPolicy{Max: -1, Base: time.Millisecond, MaxBackoff: 2 * time.Millisecond}.withDefaults(),
			answers: []answer{{status: 503}}, wantCalls: 1, wantStatus: 503},
		{name: "POST not retried", method: http.MethodPost, answers: []answer{{status: 503}, ok}, wantCalls: 1, wantStatus: 503},
		{name: "PUT not retried", method: http.MethodPut, answers: []answer{{status: 500}, ok}, wantCalls: 1, wantStatus: 500},
		{name: "POST reset not retried", method: http.MethodPost, answers: []answer{{err: resetErr()}, ok}, wantCalls: 1, wantErr: syscall.ECONNRESET},
		{name: "404", answers: []answer{{status: 404}, ok}, wantCalls: 1, wantStatus: 404},
		{name: "401", answers: []answer{{status: 401}, ok}, wantCalls: 1, wantStatus: 401},
		{name: "400", answers: []answer{{status: 400}, ok}, wantCalls: 1, wantStatus: 400},
		{name: "unknown authority", answers: []answer{{err: x509.UnknownAuthorityError{}}, ok}, wantCalls: 1, wantErr: x509.UnknownAuthorityError{}},
		{name: "Retry-After 0", answers: []answer{{status: 429, header: retryAfter("0")}, ok}, wantCalls: 2, wantStatus: 200,
			maxWait: 2 * time.Millisecond},
		{name: "Retry-After seconds", answers: []answer{{status: 503, header: retryAfter("7")}, ok}, wantCalls: 2, wantStatus: 200,
			minWait: 7 * time.Second, maxWait: 7 * time.Second},
		{name: "Retry-After past date", answers: []answer{{status: 429, header: retryAfter(epoch.Add(-time.Hour).Format(http.TimeFormat))}, ok},
			wantCalls: 2, wantStatus: 200, maxWait: 2 * time.Millisecond},
		{name: "Retry-After date", answers: []answer{{status: 429, header: retryAfter(epoch.Add(12 * time.Second).Format(http.TimeFormat))}, ok},
			wantCalls: 2, wantStatus: 200, minWait: 12 * time.Second, maxWait: 12 * time.Second},
		{name: "Retry-After over MaxRetryAfter", answers: []answer{{status: 429, header: retryAfter("3600")}, ok}, wantCalls: 1, wantStatus: 429,
			maxWait: 0},
		{name: "Retry-After date over MaxRetryAfter", answers: []answer{{status: 429, header: retryAfter(epoch.Add(2 * time.Hour).Format(http.TimeFormat))}, ok},
			wantCalls: 1, wantStatus: 429},
		{name: "Retry-After wait ends with ctx", answers: []answer{{status: 429, header: retryAfter("30")}, ok}, ctxTimeout: 100 * time.Millisecond,
			wantCalls: 1, wantErr: context.DeadlineExceeded, minWait: 100 * time.Millisecond, maxWait: 100 * time.Millisecond},
		{name: "backoff wait ends with ctx", policy: RetryPolicy{Max: 3, Base: time.Hour, MaxBackoff: time.Hour}.withDefaults(),
			answers: []answer{{status: 503}, ok}, ctxTimeout: 100 * time.Millisecond,
			wantCalls: 1, wantErr: context.DeadlineExceeded, minWait: 100 * time.Millisecond, maxWait: 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				policy := tt.policy
				if policy == (RetryPolicy{}) {
					policy = fast
				}
				var (
					calls  int
					bodies []*trackedBody
				)
				rt := &retryRT{policy: policy, now: time.Now, next: rtFunc(func(r *http.Request) (*http.Response, error) {
					a := tt.answers[min(calls, len(tt.answers)-1)]
					calls++
					if a.err != nil {
						return nil, a.err
					}
					resp, tb := newResponse(r, a.status, a.header.Clone(), `{"errors":[]}`)
					bodies = append(bodies, tb)
					return resp, nil
				})}
				ctx := t.Context()
				if tt.ctxTimeout > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
					defer cancel()
				}
				method := tt.method
				if method == "" {
					method = http.MethodGet
				}
				if tt.owned {
					ctx = owned(ctx)
				}
				req := httptest.NewRequestWithContext(ctx, method, "https://r.example/v2/a/manifests/1", nil)
				start := time.Now()
				resp, err := rt.RoundTrip(req)
				waited := time.Since(start)

				if calls != tt.wantCalls {
					t.Errorf("%d calls, want %d", calls, tt.wantCalls)
				}
				switch {
				case tt.wantStatus == 0:
					if err == nil || !matches(err, tt.wantErr) {
						t.Fatalf("RoundTrip = %v, %v; want error %v", resp, err, tt.wantErr)
					}
					if resp != nil {
						t.Errorf("a response came with the error")
					}
				case err != nil || resp == nil || resp.StatusCode != tt.wantStatus:
					t.Fatalf("RoundTrip = %v, %v; want status %d", resp, err, tt.wantStatus)
				}
				if waited < tt.minWait || (tt.maxWait > 0 && waited > tt.maxWait) {
					t.Errorf("waited %v, want [%v, %v]", waited, tt.minWait, tt.maxWait)
				}
				for i, b := range bodies {
					if returned := resp != nil && b == resp.Body; b.closed.Load() == returned {
						t.Errorf("body of answer %d: closed %v, returned to the caller %v", i, b.closed.Load(), returned)
					}
				}
				if resp != nil {
					if b, err := io.ReadAll(resp.Body); err != nil || string(b) != `{"errors":[]}` {
						t.Errorf("the returned body reads %q, %v; want it whole", b, err)
					}
				}
			})
		})
	}
}

// tlsHandshakeTimeout is net/http's error for a handshake that never ends.
type tlsHandshakeTimeout struct{}

func (tlsHandshakeTimeout) Error() string   { return "net/http: TLS handshake timeout" }
func (tlsHandshakeTimeout) Timeout() bool   { return true }
func (tlsHandshakeTimeout) Temporary() bool { return true }

// matches is errors.Is, or errors.As for a pointer to a ConnError.
func matches(err, want error) bool {
	if _, ok := want.(*ConnError); ok {
		var ce *ConnError
		return errors.As(err, &ce)
	}
	return errors.Is(err, want)
}

func TestRetryBackoff(t *testing.T) {
	t.Parallel()
	policies := []RetryPolicy{
		{Base: time.Millisecond, MaxBackoff: time.Second},
		{Base: 200 * time.Millisecond, MaxBackoff: 10 * time.Second},
		{Base: time.Hour, MaxBackoff: 2 * time.Hour},
		{Base: time.Second, MaxBackoff: time.Millisecond}, // base above the cap
	}
	for _, p := range policies {
		t.Run(fmt.Sprintf("%v-%v", p.Base, p.MaxBackoff), func(t *testing.T) {
			t.Parallel()
			for _, try := range []int{0, 1, 2, 5, 10, 19, 20, 21, 30, 62, 63, 64, 1000, 1 << 40, int(^uint(0) >> 1)} {
				want := p.MaxBackoff
				if try < 20 && p.Base <= p.MaxBackoff>>try {
					want = p.Base << try
				} else if try >= 20 && p.Base <= p.MaxBackoff>>20 {
					want = p.Base << 20
				}
				lo, hi := want, time.Duration(0)
				for range 200 {
					d := p.backoff(try)
					if d < want/2 || d > want {
						t.Fatalf("backoff(%d) = %v, want within [%v, %v]", try, d, want/2, want)
					}
					lo, hi = min(lo, d), max(hi, d)
				}
				if want >= 100*time.Millisecond && hi-lo < want/10 {
					t.Errorf("backoff(%d) ranged over [%v, %v] in 200 draws: no jitter", try, lo, hi)
				}
			}
		})
	}
}

// pipeNext is a fake next layer whose response body is fed through a pipe by
// feed, and which, like net/http, aborts the body when the request's context ends.
func pipeNext(feed func(w *io.PipeWriter), reqCtx *context.Context) http.RoundTripper {
	return rtFunc(func(r *http.Request) (*http.Response, error) {
		*reqCtx = r.Context()
		pr, pw := io.Pipe()
		go func() {
			<-r.Context().Done()
			pw.CloseWithError(r.Context().Err())
		}()
		go feed(pw)
		return &http.Response{StatusCode: 200, Status: "200 OK", Proto: "HTTP/1.1", Header: http.Header{}, Body: pr, Request: r}, nil
	})
}

func TestIdleRT(t *testing.T) {
	t.Parallel()
	const timeout = 100 * time.Millisecond
	t.Run("stalled body", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			var reqCtx context.Context
			rt := idleRT{timeout: timeout, next: pipeNext(func(w *io.PipeWriter) {
				w.Write([]byte("half of it"))
				// then nothing: the stall
			}, &reqCtx)}
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "https://r.example/v2/a/blobs/x", nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			start := time.Now()
			got, err := io.ReadAll(resp.Body)
			if !errors.Is(err, errIdle) {
				t.Fatalf("read = %q, %v; want errIdle", got, err)
			}
			if string(got) != "half of it" {
				t.Errorf("read %q before the stall, want %q", got, "half of it")
			}
			if d := time.Since(start); d != timeout {
				t.Errorf("gave up after %v, want %v", d, timeout)
			}
			if reqCtx.Err() == nil || context.Cause(reqCtx) != errIdle {
				t.Errorf("the attempt's context: err %v, cause %v; want cancelled by errIdle", reqCtx.Err(), context.Cause(reqCtx))
			}
			if req.Context().Err() != nil {
				t.Error("the caller's context was cancelled")
			}
			if !retryableError(err) {
				t.Errorf("a stall is not retryable: %v", err)
			}
		})
	})
	t.Run("slow but steady body", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			const n = 12 // 12 KiB, 1 KiB a third of the timeout apart: 4× the timeout in all
			var reqCtx context.Context
			rt := idleRT{timeout: timeout, next: pipeNext(func(w *io.PipeWriter) {
				for i := range n {
					time.Sleep(timeout / 3)
					if _, err := w.Write(bytes.Repeat([]byte{byte('a' + i)}, minIdleBytes)); err != nil {
						return
					}
				}
				w.Close()
			}, &reqCtx)}
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "https://r.example/v2/a/blobs/x", nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			got, err := io.ReadAll(resp.Body)
			if err != nil || len(got) != n*minIdleBytes || got[len(got)-1] != 'l' {
				t.Fatalf("read %d bytes, %v; want the whole body", len(got), err)
			}
			if d := time.Since(start); d < 3*timeout {
				t.Fatalf("the body took %v, want more than 3× the timeout (the test proves nothing)", d)
			}
			resp.Body.Close()
			if context.Cause(reqCtx) == errIdle {
				t.Error("the attempt was cancelled for idleness")
			}
		})
	})
	t.Run("trickle", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			// A byte every quarter of the timeout: never silent, never moving.
			var reqCtx context.Context
			stop := make(chan struct{})
			defer close(stop)
			rt := idleRT{timeout: timeout, next: pipeNext(func(w *io.PipeWriter) {
				for {
					select {
					case <-stop:
						return
					case <-time.After(timeout / 4):
					}
					if _, err := w.Write([]byte{'x'}); err != nil {
						return
					}
				}
			}, &reqCtx)}
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "https://r.example/v2/a/blobs/x", nil)
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			start := time.Now()
			got, err := io.ReadAll(resp.Body)
			if !errors.Is(err, errIdle) {
				t.Fatalf("read %d bytes, %v; want errIdle", len(got), err)
			}
			if d := time.Since(start); d != timeout {
				t.Errorf("gave up after %v, want %v", d, timeout)
			}
			if len(got) == 0 || len(got) >= minIdleBytes {
				t.Errorf("read %d bytes before giving up, want a few", len(got))
			}
			if !strings.Contains(err.Error(), "under 1 KiB received in 100ms") {
				t.Errorf("error %q does not say what idle means", err)
			}
		})
	})
	t.Run("no response headers", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			var reqCtx context.Context
			rt := idleRT{timeout: timeout, next: rtFunc(func(r *http.Request) (*http.Response, error) {
				reqCtx = r.Context()
				<-r.Context().Done()
				return nil, r.Context().Err()
			})}
			req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "https://r.example/v2/a/manifests/1?token=s3cret", nil)
			start := time.Now()
			resp, err := rt.RoundTrip(req)
			if resp != nil || !errors.Is(err, errIdle) {
				t.Fatalf("RoundTrip = %v, %v; want an error wrapping errIdle", resp, err)
			}
			if d := time.Since(start); d != timeout {
				t.Errorf("gave up after %v, want %v", d, timeout)
			}
			if !strings.Contains(err.Error(), "no answer within 100ms") || strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q should say no answer came in the idle timeout", err)
			}
			if context.Cause(reqCtx) != errIdle {
				t.Errorf("attempt context cause %v, want errIdle", context.Cause(reqCtx))
			}
		})
	})
	t.Run("caller cancels", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), timeout/2)
			defer cancel()
			rt := idleRT{timeout: timeout, next: rtFunc(func(r *http.Request) (*http.Response, error) {
				<-r.Context().Done()
				return nil, r.Context().Err()
			})}
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, "https://r.example/v2/", nil)
			_, err := rt.RoundTrip(req)
			if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errIdle) {
				t.Fatalf("RoundTrip err = %v, want the caller's deadline, not errIdle", err)
			}
		})
	})
	t.Run("real server stalls", func(t *testing.T) {
		t.Parallel()
		released := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("some"))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
				t.Error("the client did not abandon the stalled body")
			}
			close(released)
		}))
		defer srv.Close()
		rt := idleRT{timeout: 50 * time.Millisecond, next: srv.Client().Transport}
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if _, err := io.ReadAll(resp.Body); !errors.Is(err, errIdle) {
			t.Fatalf("read err = %v, want errIdle", err)
		}
		<-released
	})
}

// fixedNext answers every request with 200 and a few protocol headers.
func fixedNext(header http.Header) http.RoundTripper {
	return rtFunc(func(r *http.Request) (*http.Response, error) {
		resp, _ := newResponse(r, 200, header.Clone(), "")
		return resp, nil
	})
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func TestTraceRT(t *testing.T) {
	t.Parallel()
	const (
		password = "hunter2-pass"
		refresh  = "refresh-tok-123"
		bearer   = "eyJhbGciOi.bearer.tok"
		sig      = "amz-signature-abc"
		cred     = "AKIA-credential"
		userPass = "userinfo-pw"
	)
	form := func(v url.Values) func() *http.Request {
		return func() *http.Request {
			body := v.Encode()
			req, _ := http.NewRequest(http.MethodPost, "https://auth.example/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return req
		}
	}
	get := func(method, u string, header ...string) func() *http.Request {
		return func() *http.Request {
			req, _ := http.NewRequest(method, u, nil)
			for i := 0; i+1 < len(header); i += 2 {
				req.Header.Add(header[i], header[i+1])
			}
			return req
		}
	}
	tests := []struct {
		name        string
		req         func() *http.Request
		secrets     []string // never printed with secrets=false; printed with true
		want        []string // in the curl line with secrets=false
		wantSecrets []string // in the curl line with secrets=true
		absent      []string // in neither
	}{
		{name: "GET", req: get(http.MethodGet, "https://r.example/v2/a/manifests/1", "Accept", "application/json"),
			want: []string{"$ curl -sS -H 'Accept: application/json' 'https://r.example/v2/a/manifests/1'"}, absent: []string{" -X ", " -I"}},
		{name: "HEAD", req: get(http.MethodHead, "https://r.example/v2/a/manifests/1"),
			want: []string{"$ curl -sS -I 'https://r.example/v2/a/manifests/1'"}},
		{name: "DELETE", req: get(http.MethodDelete, "https://r.example/v2/a/manifests/1"),
			want: []string{"$ curl -sS -X DELETE 'https://r.example/v2/a/manifests/1'"}},
		{name: "password grant", req: form(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {password}, "scope": {"repository:a:pull"}}),
			secrets:     []string{password},
			want:        []string{"-X POST", "--data-raw '", "password=REDACTED", "username=alice", "grant_type=password", "'https://auth.example/token'"},
			wantSecrets: []string{"password=" + password}},
		{name: "refresh token grant", req: form(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"haul"}}),
			secrets: []string{refresh}, want: []string{"refresh_token=REDACTED", "client_id=haul"}, wantSecrets: []string{"refresh_token=" + refresh}},
		{name: "Basic auth", req: get(http.MethodGet, "https://r.example/v2/", "Authorization", basic("alice", password)),
			secrets: []string{password, base64.StdEncoding.EncodeToString([]byte("alice:" + password))},
			want:    []string{"-u 'alice:REDACTED'"}, wantSecrets: []string{"-u 'alice:" + password + "'"}, absent: []string{"Authorization"}},
		{name: "Bearer", req: get(http.MethodGet, "https://r.example/v2/", "Authorization", "Bearer "+bearer),
			secrets: []string{bearer}, want: []string{"-H 'Authorization: Bearer REDACTED'"}, wantSecrets: []string{"-H 'Authorization: Bearer " + bearer + "'"}},
		{name: "Basic auth not base64", req: get(http.MethodGet, "https://r.example/v2/", "Authorization", "Basic "+password+"!"),
			secrets: []string{password}, want: []string{"-H 'Authorization: Basic REDACTED'"}},
		{name: "signed URL", req: get(http.MethodGet, "https://cdn.example/blob?X-Amz-Algorithm=AWS4&X-Amz-Credential="+cred+"&X-Amz-Signature="+sig),
			secrets: []string{sig, cred}, want: []string{"X-Amz-Signature=REDACTED", "X-Amz-Credential=REDACTED", "X-Amz-Algorithm=AWS4", "'https://cdn.example/blob?"},
			wantSecrets: []string{"X-Amz-Signature=" + sig}},
		{name: "userinfo", req: get(http.MethodGet, "https://bob:"+userPass+"@r.example/v2/"),
			secrets: []string{userPass}, want: []string{"'https://bob@r.example/v2/'"}},
		{name: "single quotes", req: get(http.MethodGet, "https://r.example/v2/", "X-Note", "it's; rm -rf /"),
			want: []string{`-H 'X-Note: it'\''s; rm -rf /'`}},
		{name: "single quote in Basic user", req: get(http.MethodGet, "https://r.example/v2/", "Authorization", basic("o'brien", password)),
			secrets: []string{password}, want: []string{`-u 'o'\''brien:REDACTED'`}},
		{name: "headers sorted", req: get(http.MethodGet, "https://r.example/v2/", "Zeta", "1", "Accept", "2"),
			want: []string{"-H 'Accept: 2' -H 'Zeta: 1'"}},
		{name: "large body not printed", req: func() *http.Request {
			req, _ := http.NewRequest(http.MethodPut, "https://r.example/v2/a/blobs/uploads/1", strings.NewReader(strings.Repeat("x", 5<<10)))
			return req
		}, want: []string{"-X PUT"}, absent: []string{"--data-raw"}},
	}
	respHeader := http.Header{
		"Content-Type":          {"application/json"},
		"Docker-Content-Digest": {"sha256:abc"},
		"Www-Authenticate":      {`Bearer realm="https://auth.example/token"`},
		"Location":              {"https://cdn.example/b?X-Amz-Signature=" + sig},
		"Set-Cookie":            {"session=" + refresh}, // not a traced header
		"Ratelimit-Remaining":   {"99;w=21600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, secrets := range []bool{false, true} {
				var buf strings.Builder
				rt := traceRT{next: fixedNext(respHeader), w: &buf, mu: &sync.Mutex{}, secrets: secrets}
				req := tt.req()
				resp, err := rt.RoundTrip(req)
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("RoundTrip = %v, %v", resp, err)
				}
				out := buf.String()
				lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
				if !strings.HasPrefix(lines[0], "$ curl -sS") {
					t.Fatalf("first line %q is not a curl command:\n%s", lines[0], out)
				}
				for _, w := range []string{
					"< HTTP/1.1 200 OK", "< Content-Type: application/json", "< Docker-Content-Digest: sha256:abc",
					`< Www-Authenticate: Bearer realm="https://auth.example/token"`, "< Ratelimit-Remaining: 99;w=21600",
				} {
					if !contains(lines[1:], w) {
						t.Errorf("secrets=%v: no line %q in\n%s", secrets, w, out)
					}
				}
				if strings.Contains(out, "Set-Cookie") {
					t.Errorf("an untraced header was printed:\n%s", out)
				}
				want := tt.want
				if secrets {
					want = tt.wantSecrets
				}
				for _, w := range want {
					if !strings.Contains(lines[0], w) {
						t.Errorf("secrets=%v: curl line lacks %q:\n%s", secrets, w, lines[0])
					}
				}
				for _, a := range tt.absent {
					if strings.Contains(lines[0], a) {
						t.Errorf("secrets=%v: curl line has %q:\n%s", secrets, a, lines[0])
					}
				}
				if !secrets {
					for _, s := range append(tt.secrets, sig, refresh) {
						if strings.Contains(out, s) {
							t.Errorf("secret %q printed with secrets=false:\n%s", s, out)
						}
					}
					if !contains(lines[1:], "< Location: https://cdn.example/b?X-Amz-Signature=REDACTED") {
						t.Errorf("Location not redacted:\n%s", out)
					}
				}
				if req.GetBody != nil && req.ContentLength <= 4<<10 {
					// The body must still be there for the next layer to send.
					if b, _ := io.ReadAll(req.Body); int64(len(b)) != req.ContentLength {
						t.Errorf("the request body was consumed: %d of %d bytes left", len(b), req.ContentLength)
					}
				}
			}
		})
	}
}

func contains(lines []string, s string) bool {
	for _, l := range lines {
		if l == s {
			return true
		}
	}
	return false
}

func TestTraceRTError(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	rt := traceRT{w: &buf, mu: &sync.Mutex{}, next: rtFunc(func(*http.Request) (*http.Response, error) {
		return nil, io.ErrUnexpectedEOF
	})}
	req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "https://r.example/v2/", nil)
	if _, err := rt.RoundTrip(req); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("RoundTrip err = %v, want next's error unchanged", err)
	}
	if want := "$ curl -sS 'https://r.example/v2/'\n< error: unexpected EOF\n"; buf.String() != want {
		t.Fatalf("trace %q, want %q", buf.String(), want)
	}
}

func TestCheckRedirect(t *testing.T) {
	t.Parallel()
	hops := func(urls ...string) []*http.Request {
		var via []*http.Request
		for _, u := range urls {
			r, _ := http.NewRequest(http.MethodGet, u, nil)
			via = append(via, r)
		}
		return via
	}
	nHops := func(n int) []*http.Request {
		urls := make([]string, n)
		for i := range urls {
			urls[i] = fmt.Sprintf("https://r.example/hop/%d", i)
		}
		return hops(urls...)
	}
	tests := []struct {
		name       string
		allowPlain bool
		via        []*http.Request
		to         string
		wantErr    string // "" for allowed
	}{
		{name: "https to https", via: hops("https://r.example/v2/a/blobs/x"), to: "https://cdn.example/x"},
		{name: "http to https", via: hops("http://r.example/v2/a/blobs/x"), to: "https://cdn.example/x"},
		{name: "http to http", via: hops("http://r.example/v2/"), to: "http://cdn.example/x"},
		{name: "https to http refused", via: hops("https://r.example/v2/"), to: "http://cdn.example/x", wantErr: "refusing redirect from https"},
		{name: "https to http allowed with plain", allowPlain: true, via: hops("https://r.example/v2/"), to: "http://cdn.example/x"},
		{name: "downgrade after an upgrade", via: hops("http://r.example/v2/", "https://cdn.example/x"), to: "http://cdn.example/y",
			wantErr: "refusing redirect from https"},
		{name: "file", via: hops("https://r.example/v2/"), to: "file:///etc/passwd", wantErr: `refusing redirect to scheme "file"`},
		{name: "ftp", allowPlain: true, via: hops("http://r.example/v2/"), to: "ftp://cdn.example/x", wantErr: `refusing redirect to scheme "ftp"`},
		{name: "9 hops", via: nHops(9), to: "https://r.example/next"},
		{name: "10 hops", via: nHops(10), to: "https://r.example/next?X-Amz-Signature=sekrit", wantErr: "stopped after 10 redirects"},
		{name: "11 hops", allowPlain: true, via: nHops(11), to: "https://r.example/next", wantErr: "stopped after 10 redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest(http.MethodGet, tt.to, nil)
			err := checkRedirect(tt.allowPlain)(req, tt.via)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("redirect refused: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			case err != nil && strings.Contains(err.Error(), "sekrit"):
				t.Fatalf("error shows a signature: %v", err)
			}
		})
	}
}

func TestRetryableError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"idle", errIdle, true},
		{"wrapped idle", fmt.Errorf("GET x: %w", errIdle), true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"EOF", io.EOF, true},
		{"reset", resetErr(), true},
		{"reset in url.Error", &url.Error{Op: "Get", URL: "https://r.example/", Err: resetErr()}, true},
		{"idle body", &idleError{timeout: time.Second}, true},
		{"no headers", &idleError{timeout: time.Second, headers: true}, true},
		// A connection that cannot be made fails at once.
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, false},
		{"refused ConnError", &ConnError{Host: "h:1", Kind: ConnRefused, Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, false},
		{"dial timeout", &ConnError{Host: "h:1", Kind: ConnTimeout, Err: &dialTimeoutError{"tcp", "h:1", time.Second}}, false},
		{"proxy refused", &net.OpError{Op: "proxyconnect", Net: "tcp", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}, false},
		{"broken pipe", fmt.Errorf("write: %w", syscall.EPIPE), true},
		{"DNS", &net.DNSError{Err: "no such host", Name: "r.example", IsNotFound: true}, false},
		{"unknown authority", x509.UnknownAuthorityError{}, false},
		{"unknown authority in url.Error", &url.Error{Op: "Get", URL: "https://r.example/", Err: x509.UnknownAuthorityError{}}, false},
		{"hostname", x509.HostnameError{Host: "r.example", Certificate: &x509.Certificate{}}, false},
		{"certificate verification", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, false},
		{"record header", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, false},
		{"plain error", errors.New("something else"), false},
		{"spec error code", ErrManifestUnknown, false},
		{"registry error", &Error{Status: 404}, false},
		{"canceled", context.Canceled, false},
		// A *url.Error has Timeout and Temporary methods, so it is a net.Error
		// whatever it wraps; what it wraps must decide.
		{"redirect refused in url.Error", &url.Error{Op: "Get", URL: "file:///etc/passwd", Err: errors.New(`refusing redirect to scheme "file"`)}, false},
		{"bad URL in url.Error", &url.Error{Op: "parse", URL: "::", Err: errors.New("missing protocol scheme")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := retryableError(tt.err); got != tt.want {
				t.Fatalf("retryableError(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestDialFailure: a transport of the caller's reports dial failures as
// net/http does; they are classified as this package's dialer's are.
func TestDialFailure(t *testing.T) {
	t.Parallel()
	refused := os.NewSyscallError("connect", syscall.ECONNREFUSED)
	tests := []struct {
		name      string
		err       error
		ok        bool
		host      string
		kind      ConnKind
		wantProxy bool
	}{
		{name: "refused", err: &net.OpError{Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5099}, Err: refused},
			ok: true, host: "127.0.0.1:5099", kind: ConnRefused},
		{name: "lookup", err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "nosuch.invalid", IsNotFound: true}},
			ok: true, host: "nosuch.invalid", kind: ConnNoSuchHost},
		{name: "proxy refused", err: &url.Error{Op: "Get", URL: "https://r.example/v2/", Err: &net.OpError{Op: "proxyconnect", Net: "tcp",
			Err: &ConnError{Host: "proxy.example:3128", Kind: ConnRefused, Err: refused}}}, ok: true, host: "proxy.example:3128", kind: ConnRefused, wantProxy: true},
		{name: "timeout", err: &ConnError{Host: "192.0.2.1:443", Kind: ConnTimeout, Err: &dialTimeoutError{"tcp", "192.0.2.1:443", time.Second}},
			ok: true, host: "192.0.2.1:443", kind: ConnTimeout},
		{name: "reset is no dial failure", err: resetErr()},
		{name: "idle is no dial failure", err: &idleError{timeout: time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ce, ok := dialFailure(tt.err)
			if ok != tt.ok {
				t.Fatalf("dialFailure(%v) ok = %v, want %v", tt.err, ok, tt.ok)
			}
			if ok && (ce.Host != tt.host || ce.Kind != tt.kind || ce.Proxy != tt.wantProxy) {
				t.Errorf("got %+v, want host %s, kind %s, proxy %v", ce, tt.host, tt.kind, tt.wantProxy)
			}
		})
	}
}
