package registry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/registry"
)

// closedAddr is a 127.0.0.1 port that nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestDialFailures: a connection that cannot be made fails at once, dialed
// once, with a *ConnError that says why; one nobody answers gives up at the
// dial timeout. Each read the CLI starts with is tried.
func TestDialFailures(t *testing.T) {
	t.Parallel()
	const dialTimeout = 200 * time.Millisecond
	real := (&net.Dialer{}).DialContext
	tests := []struct {
		name     string
		registry string // "": a closed port on 127.0.0.1
		dial     func(ctx context.Context, network, addr string) (net.Conn, error)
		want     registry.ConnKind
		within   time.Duration
	}{
		{name: "refused", dial: real, want: registry.ConnRefused, within: 2 * time.Second},
		{name: "no such host", registry: "nosuch.invalid", want: registry.ConnNoSuchHost, within: 2 * time.Second,
			dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				host, _, _ := net.SplitHostPort(addr)
				return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
			}},
		{name: "no DNS server", registry: "reg.example", want: registry.ConnLookup, within: 2 * time.Second,
			dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "server misbehaving", Name: "reg.example", IsTemporary: true}}
			}},
		{name: "no route", registry: "192.0.2.1:5000", want: registry.ConnUnreachable, within: 2 * time.Second,
			dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}
			}},
		{name: "no answer", registry: "192.0.2.1:5000", want: registry.ConnTimeout, within: dialTimeout + 2*time.Second,
			dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
				<-ctx.Done() // a SYN nobody answers
				return nil, ctx.Err()
			}},
	}
	ops := []struct {
		name string
		do   func(ctx context.Context, cl *registry.Client, r string) error
	}{
		{"manifest", func(ctx context.Context, cl *registry.Client, r string) error {
			_, err := cl.Manifest(ctx, mustRef(t, r))
			return err
		}},
		{"digest", func(ctx context.Context, cl *registry.Client, r string) error {
			_, err := cl.Digest(ctx, mustRef(t, r))
			return err
		}},
		{"tags", func(ctx context.Context, cl *registry.Client, r string) error {
			_, err := cl.Tags(ctx, mustRef(t, r))
			return err
		}},
	}
	for _, tt := range tests {
		for _, op := range ops {
			t.Run(tt.name+"/"+op.name, func(t *testing.T) {
				t.Parallel()
				host := tt.registry
				if host == "" {
					host = closedAddr(t)
				}
				var dials atomic.Int32
				cl, err := registry.New(registry.Config{
					Registry:    host,
					IdleTimeout: 10 * time.Second,
					DialTimeout: dialTimeout,
					Retry:       registry.RetryPolicy{Base: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
					Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
						dials.Add(1)
						return tt.dial(ctx, network, addr)
					},
				})
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				err = op.do(t.Context(), cl, host+"/team/app:1")
				took := time.Since(start)
				var ce *registry.ConnError
				if !errors.As(err, &ce) || ce.Kind != tt.want {
					t.Fatalf("err = %v (%T), want a *ConnError of kind %s", err, err, tt.want)
				}
				if n := dials.Load(); n != 1 {
					t.Errorf("dialed %d times, want once", n)
				}
				if took > tt.within {
					t.Errorf("gave up after %v, want within %v", took, tt.within)
				}
				if !strings.Contains(ce.Host, strings.Split(host, ":")[0]) {
					t.Errorf("ConnError.Host %q does not name %s", ce.Host, host)
				}
				if !strings.Contains(err.Error(), "https://"+host+"/v2/") {
					t.Errorf("error %q does not name the URL asked for", err)
				}
			})
		}
	}
}

// blobServer serves the layer's GETs itself, from memory (the real handler
// is slow under -race, and the attempts' timing is the point), through
// fault, which is given the attempt's number (from 1), the answer's headers
// set, its body for the range asked and its status.
func blobServer(t *testing.T, reg *registrytest.Registry, repo string, layer image.Descriptor, fault func(try int, w http.ResponseWriter, r *http.Request, body []byte, code int) bool) *atomic.Int32 {
	t.Helper()
	resp, err := http.Get(reg.URL() + "/v2/" + repo + "/blobs/" + layer.Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	blob, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || int64(len(blob)) != layer.Size {
		t.Fatalf("reading the layer: %d bytes, %v", len(blob), err)
	}
	var tries atomic.Int32
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !registrytest.IsBlobGET(r) || !strings.HasSuffix(r.URL.Path, layer.Digest.String()) {
				next.ServeHTTP(w, r)
				return
			}
			try := int(tries.Add(1))
			body, code := blob, http.StatusOK
			if rg := r.Header.Get("Range"); rg != "" {
				from, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
				body, code = blob[from:], http.StatusPartialContent
				w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", from, len(blob)-1, len(blob)))
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			if !fault(try, w, r, body, code) {
				w.WriteHeader(code)
				w.Write(body)
			}
		})
	})
	return &tries
}

// hold keeps an answer open until the client gives up on it.
func hold(t *testing.T, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
		t.Error("the client did not give up on a stalled answer")
	}
}

// TestBlobStalls: attempts that go idle without getting 1 MiB further end
// the blob after two in a row, within about twice the idle timeout, naming
// the blob and the byte reached; a trickle is idle too; drops that each make
// progress never end it, however many.
func TestBlobStalls(t *testing.T) {
	t.Parallel()
	const idle = 200 * time.Millisecond
	tests := []struct {
		name      string
		size      int
		policy    registry.RetryPolicy
		fault     func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, body []byte, code int) bool
		wantErr   string // "": the blob arrives whole
		wantTries int32
	}{
		{name: "first KiB, then nothing", size: 5 << 20, wantTries: 2,
			wantErr: "stalled: two attempts in a row received under 1 MiB (at byte 1024 of SIZE); the registry or the network stopped sending",
			fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, body []byte, code int) bool {
				w.WriteHeader(code)
				if try == 1 {
					w.Write(body[:1024])
				}
				w.(http.Flusher).Flush()
				hold(t, r)
				return true
			}},
		{name: "trickle", size: 1 << 20, wantTries: 2, wantErr: "stalled: two attempts in a row received under 1 MiB",
			fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, body []byte, code int) bool {
				w.WriteHeader(code)
				for i := 0; i < len(body); i++ {
					if _, err := w.Write(body[i : i+1]); err != nil {
						return true
					}
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
						return true
					case <-time.After(50 * time.Millisecond):
					}
				}
				return true
			}},
		{name: "no headers", size: 64 << 10, wantTries: 2, wantErr: "stalled",
			fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, body []byte, code int) bool {
				hold(t, r)
				return true
			}},
		{name: "stall after progress is not counted", size: 3 << 20, wantTries: 3,
			fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, body []byte, code int) bool {
				w.WriteHeader(code)
				if try == 3 {
					w.Write(body)
					return true
				}
				w.Write(body[:min(len(body), 3<<19)]) // 1.5 MiB, then a stall
				w.(http.Flusher).Flush()
				hold(t, r)
				return true
			}},
		{name: "progress, then two stalls", size: 3 << 20, wantTries: 3,
			wantErr: "stalled: two attempts in a row received under 1 MiB (at byte 1572864 of SIZE)",
			fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, body []byte, code int) bool {
				w.WriteHeader(code)
				if try == 1 {
					w.Write(body[:3<<19]) // 1.5 MiB: progress, then a stall
				}
				w.(http.Flusher).Flush()
				hold(t, r)
				return true
			}},
		{name: "drops with progress complete", size: 8 << 20, policy: registry.RetryPolicy{Max: 2, Base: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
			wantTries: 8,
			fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, body []byte, code int) bool {
				w.WriteHeader(code)
				if len(body) <= 1100<<10 {
					w.Write(body)
					return true
				}
				w.Write(body[:1100<<10]) // a little over 1 MiB each time, then the connection drops
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}},
		{name: "drops without progress are bounded", size: 1 << 20, policy: registry.RetryPolicy{Max: 2, Base: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
			wantTries: 3, wantErr: "at byte 3072: unexpected EOF",
			fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, body []byte, code int) bool {
				w.WriteHeader(code)
				w.Write(body[:1024])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{})
			pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(7, 1, tt.size))
			layer := pushed.Layers[0]
			policy := tt.policy
			if policy == (registry.RetryPolicy{}) {
				policy = registry.RetryPolicy{Base: time.Millisecond, MaxBackoff: 5 * time.Millisecond}
			}
			cl := newClient(t, reg, auth.Credential{}, func(c *registry.Config) { c.IdleTimeout = idle; c.Retry = policy })
			tries := blobServer(t, reg, "team/app", layer, func(try int, w http.ResponseWriter, r *http.Request, body []byte, code int) bool {
				return tt.fault(t, try, w, r, body, code)
			})
			start := time.Now()
			got, err := readBlob(t, cl, mustRef(t, reg.Ref("team/app:1")), layer)
			took := time.Since(start)
			if n := tries.Load(); n != tt.wantTries {
				t.Errorf("%d attempts, want %d", n, tt.wantTries)
			}
			if tt.wantErr == "" {
				if err != nil || int64(len(got)) != layer.Size {
					t.Fatalf("read %d bytes, %v; want the whole %d", len(got), err, layer.Size)
				}
				return
			}
			want := strings.ReplaceAll(tt.wantErr, "SIZE", strconv.FormatInt(layer.Size, 10))
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), layer.Digest.String()) {
				t.Fatalf("err = %v, want one containing %q and the blob's digest", err, want)
			}
			var se *registry.StallError
			if strings.Contains(tt.wantErr, "stalled") && (!errors.As(err, &se) || se.Size != layer.Size) {
				t.Errorf("err is no *StallError for the blob's size: %#v", se)
			}
			if limit := time.Duration(tt.wantTries)*idle + 2*time.Second; took > limit {
				t.Errorf("gave up after %v, want within %v", took, limit)
			}
		})
	}
}

// TestBlobRetryStatus: a 503 or a 429 on the way to a blob is asked again,
// after Retry-After when the registry says so.
func TestBlobRetryStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		retryAfter string
		minWait    time.Duration
	}{
		{name: "503", status: http.StatusServiceUnavailable},
		{name: "429 Retry-After", status: http.StatusTooManyRequests, retryAfter: "1", minWait: time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{})
			pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(8, 1, 4<<10))
			layer := pushed.Layers[0]
			cl := newClient(t, reg, auth.Credential{})
			tries := blobServer(t, reg, "team/app", layer, func(try int, w http.ResponseWriter, r *http.Request, body []byte, code int) bool {
				if try > 1 {
					return false
				}
				for k := range w.Header() {
					w.Header().Del(k)
				}
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
				return true
			})
			start := time.Now()
			got, err := readBlob(t, cl, mustRef(t, reg.Ref("team/app:1")), layer)
			if err != nil || int64(len(got)) != layer.Size {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
			if n := tries.Load(); n != 2 {
				t.Errorf("%d attempts, want 2", n)
			}
			if d := time.Since(start); d < tt.minWait {
				t.Errorf("asked again after %v, before Retry-After's %v", d, tt.minWait)
			}
		})
	}
}

// TestManifestOneBudget: a manifest whose answers fail in every way the
// policy retries (5xx, drops mid-body, stalls) is asked for at most Max+1
// times in all: the transport does not retry inside the manifest's loop.
func TestManifestOneBudget(t *testing.T) {
	t.Parallel()
	const maxRetries = 3
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	reg.MustPush(t, "team/app:1", registrytest.RandomImage(9, 1, 100))
	cl := newClient(t, reg, auth.Credential{}, func(c *registry.Config) {
		c.Retry.Max = maxRetries
		c.IdleTimeout = 200 * time.Millisecond
	})
	var asked atomic.Int32
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/manifests/") {
				next.ServeHTTP(w, r)
				return
			}
			rec := registrytest.Record(next, r)
			if rec.Code == http.StatusUnauthorized {
				registrytest.CopyHeader(w, rec)
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
				return
			}
			switch asked.Add(1) % 2 {
			case 1: // the body drops half-way
				registrytest.CopyHeader(w, rec)
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			default:
				w.WriteHeader(http.StatusServiceUnavailable)
			}
		})
	})
	_, err := cl.Manifest(t.Context(), mustRef(t, reg.Ref("team/app:1")))
	if err == nil {
		t.Fatal("Manifest succeeded against a registry that never answers whole")
	}
	if n := asked.Load(); n != maxRetries+1 {
		t.Fatalf("the manifest was asked for %d times, want %d (Max+1): one budget for the whole exchange", n, maxRetries+1)
	}
}

// TestHeadNoAnswer: a HEAD that never gets an answer ends after two idle
// attempts, not Max+1.
func TestHeadNoAnswer(t *testing.T) {
	t.Parallel()
	const idle = 200 * time.Millisecond
	reg := registrytest.New(t, registrytest.Config{})
	reg.MustPush(t, "team/app:1", registrytest.RandomImage(10, 1, 100))
	cl := newClient(t, reg, auth.Credential{}, func(c *registry.Config) { c.IdleTimeout = idle })
	var asked atomic.Int32
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodHead {
				next.ServeHTTP(w, r)
				return
			}
			asked.Add(1)
			hold(t, r)
		})
	})
	start := time.Now()
	_, err := cl.Digest(t.Context(), mustRef(t, reg.Ref("team/app:1")))
	if err == nil || !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Fatalf("err = %v, want no answer within the idle timeout", err)
	}
	if n := asked.Load(); n != 2 {
		t.Errorf("HEAD asked %d times, want 2", n)
	}
	if d := time.Since(start); d > 2*idle+2*time.Second {
		t.Errorf("gave up after %v", d)
	}
}

// TestPlainHTTPErrorsShowHTTP: once a loopback registry fell back to plain
// HTTP, its errors name http://, the scheme really sent.
func TestPlainHTTPErrorsShowHTTP(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{}) // plain HTTP on 127.0.0.1
	pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(11, 1, 4<<10))
	cl := newClient(t, reg, auth.Credential{}, func(c *registry.Config) { c.Retry.Max = -1 })
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if registrytest.IsBlobGET(r) {
				panic(http.ErrAbortHandler) // a dropped connection: a transport error
			}
			next.ServeHTTP(w, r)
		})
	})
	_, err := cl.Manifest(t.Context(), mustRef(t, reg.Ref("team/app:nosuch")))
	var re *registry.Error
	if !errors.As(err, &re) || !strings.HasPrefix(re.URL, "http://"+reg.Host()+"/") {
		t.Fatalf("err = %v, want a registry.Error whose URL is http://%s/…", err, reg.Host())
	}
	_, err = readBlob(t, cl, mustRef(t, reg.Ref("team/app:1")), pushed.Layers[0])
	for _, e := range []error{re, err} {
		if e == nil || strings.Contains(e.Error(), "https://") || !strings.Contains(e.Error(), "http://"+reg.Host()+"/v2/") {
			t.Errorf("err = %v, want the http:// URL that was sent", e)
		}
	}
}

// TestUploadsNotReplayed: the transport never sends a POST, PATCH or PUT
// again, whatever befalls it.
func TestUploadsNotReplayed(t *testing.T) {
	t.Parallel()
	for _, method := range []string{http.MethodPost, http.MethodPatch, http.MethodPut} {
		for _, fault := range []string{"503", "drop"} {
			t.Run(method+"/"+fault, func(t *testing.T) {
				t.Parallel()
				reg := registrytest.New(t, registrytest.Config{})
				var got atomic.Int32
				reg.Wrap(func(next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if r.Method != method {
							next.ServeHTTP(w, r)
							return
						}
						got.Add(1)
						if fault == "drop" {
							panic(http.ErrAbortHandler)
						}
						w.WriteHeader(http.StatusServiceUnavailable)
					})
				})
				cl := newClient(t, reg, auth.Credential{})
				err := registry.SendForTest(t.Context(), cl, method, "/v2/team/app/blobs/uploads/", []byte("layer bytes"))
				if err == nil {
					t.Fatal("the fault was not reported")
				}
				if n := got.Load(); n != 1 {
					t.Fatalf("the %s reached the registry %d times, want once", method, n)
				}
			})
		}
	}
}

// TestTokenDropRetried: a token answer that drops half-way is asked for
// again within the budget of the operation that needed it.
func TestTokenDropRetried(t *testing.T) {
	t.Parallel()
	ops := []struct {
		name string
		do   func(ctx context.Context, cl *registry.Client, r string) error
	}{
		{"manifest", func(ctx context.Context, cl *registry.Client, r string) error {
			_, err := cl.Manifest(ctx, mustRef(t, r))
			return err
		}},
		{"digest", func(ctx context.Context, cl *registry.Client, r string) error {
			_, err := cl.Digest(ctx, mustRef(t, r))
			return err
		}},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
			reg.MustPush(t, "team/app:1", registrytest.RandomImage(12, 1, 100))
			cl := newClient(t, reg, auth.Credential{})
			var asked atomic.Int32
			reg.WrapRealm(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if asked.Add(1) > 1 {
						next.ServeHTTP(w, r)
						return
					}
					rec := registrytest.Record(next, r)
					registrytest.CopyHeader(w, rec)
					w.WriteHeader(rec.Code)
					w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
					w.(http.Flusher).Flush()
					panic(http.ErrAbortHandler)
				})
			})
			if err := op.do(t.Context(), cl, reg.Ref("team/app:1")); err != nil {
				t.Fatalf("after a dropped token answer: %v", err)
			}
			if n := asked.Load(); n != 2 {
				t.Errorf("the token was asked for %d times, want 2", n)
			}
		})
	}
}
