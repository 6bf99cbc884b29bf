package engine

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeEngine answers as an engine's API does, on a unix socket: /_ping with
// API-Version (unless version is ""), and a load with answer after reading
// the whole body. It records what each load received.
type fakeEngine struct {
	version string
	status  int    // of the load; 0: 200
	answer  string // the load's body
	hang    bool   // the load never answers

	mu    sync.Mutex
	loads []received
	done  chan received // each load, once its body was read
}

type received struct {
	path, query, contentType string
	body                     []byte
	err                      error // reading the body: nil when it ended cleanly
}

func (f *fakeEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/_ping":
		if f.version != "" {
			w.Header().Set("API-Version", f.version)
		}
		w.Header().Set("OSType", "linux")
		io.WriteString(w, "OK")
	case strings.HasSuffix(r.URL.Path, "/images/load") && r.Method == http.MethodPost:
		body, err := io.ReadAll(r.Body)
		got := received{r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), body, err}
		f.mu.Lock()
		f.loads = append(f.loads, got)
		f.mu.Unlock()
		f.done <- got
		if f.hang {
			<-r.Context().Done()
			return
		}
		if f.status != 0 {
			w.WriteHeader(f.status)
		}
		io.WriteString(w, f.answer)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeEngine) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.loads)
}

// serveUnix serves h on a unix socket under a short temporary directory
// (a socket path must fit in 108 bytes) and returns its Host.
func serveUnix(t *testing.T, h http.Handler) Host {
	t.Helper()
	dir, err := os.MkdirTemp("", "eng")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return Host{URL: "unix://" + sock, From: "DOCKER_HOST"}
}

func newFake(version, answer string) *fakeEngine {
	return &fakeEngine{version: version, answer: answer, done: make(chan received, 4)}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	archive := bytes.Repeat([]byte("tar!"), 50<<10) // larger than one buffer
	tests := []struct {
		name       string
		fake       *fakeEngine
		wantPath   string
		wantImages []string
		wantErr    string // part of the error; "" for none
		status     int    // of the *Error, when wantErr is one
	}{
		{name: "docker's answer", fake: newFake("1.41", `{"stream":"Loaded image: e2e/app:1\n"}`+"\n"+`{"stream":"Loaded image ID: sha256:abc\n"}`+"\n"),
			wantPath: "/v1.41/images/load", wantImages: []string{"e2e/app:1", "sha256:abc"}},
		{name: "podman's answer, names joined by commas", fake: newFake("1.41", `{"stream":"Loaded image: localhost/a:1,docker.io/library/b:2"}`),
			wantPath: "/v1.41/images/load", wantImages: []string{"localhost/a:1", "docker.io/library/b:2"}},
		{name: "no API-Version: the unversioned path", fake: newFake("", `{"stream":"Loaded image: x:1\n"}`),
			wantPath: "/images/load", wantImages: []string{"x:1"}},
		{name: "another version is used as announced", fake: newFake("1.50", `{"stream":"Loaded image: x:1\n"}`),
			wantPath: "/v1.50/images/load", wantImages: []string{"x:1"}},
		{name: "errorDetail inside a 200", fake: newFake("1.41", `{"stream":"Loading layer\n"}`+"\n"+`{"errorDetail":{"message":"open /var/lib/docker/tmp/x: no space left on device"},"error":"open /var/lib/docker/tmp/x: no space left on device"}`),
			wantPath: "/v1.41/images/load", wantErr: "POST /v1.41/images/load: open /var/lib/docker/tmp/x: no space left on device", status: 200},
		{name: "error without errorDetail", fake: newFake("1.41", `{"error":"invalid tar header"}`),
			wantPath: "/v1.41/images/load", wantErr: "invalid tar header", status: 200},
		{name: "non-2xx with a JSON message", fake: &fakeEngine{version: "1.41", status: 500, answer: `{"message":"Error processing tar file(exit status 1): unexpected EOF"}`, done: make(chan received, 1)},
			wantPath: "/v1.41/images/load", wantErr: "500 Internal Server Error: Error processing tar file(exit status 1): unexpected EOF", status: 500},
		{name: "non-2xx in plain text", fake: &fakeEngine{version: "1.41", status: 400, answer: "bad request\n", done: make(chan received, 1)},
			wantPath: "/v1.41/images/load", wantErr: "400 Bad Request: bad request", status: 400},
		{name: "an answer cut off mid-object", fake: newFake("1.41", `{"stream":"Loaded image: x:1\n"}{"stream":"Loa`),
			wantPath: "/v1.41/images/load", wantErr: "reading the answer: unexpected EOF"},
		{name: "an answer that is no JSON", fake: newFake("1.41", `<html>`),
			wantPath: "/v1.41/images/load", wantErr: "reading the answer: invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := serveUnix(t, tt.fake)
			c, err := New(h)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Load(t.Context(), bytes.NewReader(archive))
			got := <-tt.fake.done
			if got.path != tt.wantPath || got.query != "quiet=1" || got.contentType != "application/x-tar" {
				t.Errorf("the engine got %s?%s (%s), want %s?quiet=1 (application/x-tar)", got.path, got.query, got.contentType, tt.wantPath)
			}
			if got.err != nil || !bytes.Equal(got.body, archive) {
				t.Errorf("the engine read %d bytes (%v), want the %d of the archive", len(got.body), got.err, len(archive))
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(res.Images, " ") != strings.Join(tt.wantImages, " ") {
					t.Errorf("images %q, want %q (messages %q)", res.Images, tt.wantImages, res.Messages)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), h.URL) {
				t.Fatalf("error %v, want one naming %s and containing %q", err, h.URL, tt.wantErr)
			}
			var ee *Error
			if errors.As(err, &ee) != (tt.status != 0) {
				t.Fatalf("error %T: want an *Error: %v", err, tt.status != 0)
			}
			if ee != nil && (ee.Status != tt.status || ee.Host.URL != h.URL) {
				t.Errorf("*Error status %d host %s, want %d %s", ee.Status, ee.Host.URL, tt.status, h.URL)
			}
		})
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string // API version
		wantErr string
	}{
		{"docker", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("API-Version", "1.41")
			w.Header().Set("Server", "Docker/20.10.24 (linux)")
			io.WriteString(w, "OK")
		}, "1.41", ""},
		{"no version, OK", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") }, "", ""},
		{"not an engine", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>hello</html>") }, "",
			"neither an engine's OK nor has an API-Version header"},
		{"an engine in trouble", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"message":"daemon is shutting down"}`)
		}, "", "GET /_ping: 503 Service Unavailable: daemon is shutting down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := serveUnix(t, tt.handler)
			c, err := New(h)
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.Ping(t.Context())
			if tt.wantErr != "" {
				var ee *Error
				if !errors.As(err, &ee) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), h.URL) {
					t.Fatalf("error %v, want an *Error naming %s and containing %q", err, h.URL, tt.wantErr)
				}
				return
			}
			if err != nil || p.APIVersion != tt.want {
				t.Fatalf("got %+v, %v; want version %q", p, err, tt.want)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "eng")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	stale := filepath.Join(dir, "stale.sock") // a socket file nobody listens on: ECONNREFUSED
	ln, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	for _, sock := range []string{filepath.Join(dir, "none.sock"), stale} {
		t.Run(filepath.Base(sock), func(t *testing.T) {
			c, err := New(Host{URL: "unix://" + sock, From: "DOCKER_HOST"})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = c.Load(t.Context(), strings.NewReader("tar"))
			var ue *UnreachableError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), "unix://"+sock+" (from DOCKER_HOST): GET /_ping: dial unix "+sock) {
				t.Fatalf("error %v, want an *UnreachableError naming the socket", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s to fail", d)
			}
			if ue.Hint() == "" {
				t.Error("no hint")
			}
		})
	}
}

// failingSource gives n bytes, then err.
type failingSource struct {
	n   int
	err error
}

func (s *failingSource) Read(p []byte) (int, error) {
	if s.n == 0 {
		return 0, s.err
	}
	k := min(len(p), s.n)
	clear(p[:k])
	s.n -= k
	return k, nil
}

// TestLoadAbortsOnSourceFailure: a source that fails midway cuts the upload
// off, so the engine sees a broken body, not a short archive; one that fails
// before its first byte never reaches the engine.
func TestLoadAbortsOnSourceFailure(t *testing.T) {
	t.Parallel()
	boom := errors.New("pull failed: blob sha256:ab… digest mismatch")
	for _, n := range []int{0, 1, 200 << 10} {
		t.Run(strings.Repeat("x", min(n, 3)), func(t *testing.T) {
			t.Parallel()
			fake := newFake("1.41", `{"stream":"Loaded image: x:1\n"}`)
			c, err := New(serveUnix(t, fake))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Load(t.Context(), &failingSource{n: n, err: boom})
			if !errors.Is(err, boom) {
				t.Fatalf("error %v, want the source's", err)
			}
			if n == 0 {
				if fake.count() != 0 {
					t.Fatal("a source that failed before its first byte reached the engine")
				}
				return
			}
			select {
			case got := <-fake.done:
				if got.err == nil {
					t.Fatalf("the engine read %d bytes and a clean end: the upload was not cut off", len(got.body))
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the engine's read of the body never ended")
			}
		})
	}
}

// TestLoadCanceled: a load the engine never answers ends with ctx.
func TestLoadCanceled(t *testing.T) {
	t.Parallel()
	fake := newFake("1.41", "")
	fake.hang = true
	c, err := New(serveUnix(t, fake))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-fake.done; cancel() }()
	_, err = c.Load(ctx, strings.NewReader("tar"))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

// TestTLS: a tcp:// engine behind TLS is verified against DOCKER_CERT_PATH's
// ca.pem, and refused without it.
func TestTLS(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("API-Version", "1.41")
		io.WriteString(w, "OK")
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "ca.pem"), otherCA(t), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "tcp://" + srv.Listener.Addr().String()
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"verified with ca.pem", map[string]string{"DOCKER_HOST": addr, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": dir}, ""},
		{"unverified with DOCKER_TLS", map[string]string{"DOCKER_HOST": addr, "DOCKER_TLS": "1", "DOCKER_CERT_PATH": t.TempDir()}, ""},
		{"another CA's ca.pem: refused", map[string]string{"DOCKER_HOST": addr, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": other}, "certificate signed by unknown authority"},
		{"a missing ca.pem is an error", map[string]string{"DOCKER_HOST": addr, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": dir + "-none"}, "ca.pem"},
		{"plain HTTP to a TLS port", map[string]string{"DOCKER_HOST": addr}, "400 Bad Request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := FromEnv(func(k string) string { return tt.env[k] })
			if err == nil {
				_, err = c.Ping(t.Context())
			}
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// otherCA is a self-signed certificate that signed nothing the test serves.
func otherCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestUnreachableHint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"no socket", &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ENOENT)}, "is dockerd (or podman system service) running"},
		{"refused", &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, "is dockerd (or podman system service) running"},
		{"permission", &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.EACCES)}, "join the group that owns it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &UnreachableError{Host: Host{URL: DefaultUnixHost}, Request: "GET /_ping", Err: tt.err}
			if h := e.Hint(); !strings.Contains(h, tt.want) || !strings.Contains(h, "DOCKER_HOST") {
				t.Errorf("hint %q, want %q", h, tt.want)
			}
		})
	}
}
