package registry_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/registry"
)

// fixture is a token-auth registry holding one image with a layer of size n.
func fixture(t *testing.T, n int) (*registrytest.Registry, *registry.Client, registrytest.Pushed) {
	t.Helper()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(42, 1, n))
	// The idle timeout is short so that a stall test ends soon, and long
	// enough that a client starved of CPU (go test -race, every package at
	// once) does not time out a body the server is sending: a cut that
	// must resume with Range has to have delivered some bytes first.
	cl := newClient(t, reg, auth.Credential{}, func(c *registry.Config) { c.IdleTimeout = 2 * time.Second })
	// Warm the token cache, so that the faults below meet authorized requests.
	if _, err := cl.Manifest(t.Context(), mustRef(t, reg.Ref("team/app:1"))); err != nil {
		t.Fatal(err)
	}
	return reg, cl, pushed
}

func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		status    int
		header    map[string]string
		failures  int
		wantCalls int
		wantErr   string
	}{
		{name: "429 with Retry-After seconds", status: 429, header: map[string]string{"Retry-After": "0"}, failures: 2, wantCalls: 3},
		{name: "429 with Retry-After date", status: 429, header: map[string]string{"Retry-After": time.Now().UTC().Format(http.TimeFormat)}, failures: 1, wantCalls: 2},
		{name: "503", status: 503, failures: 1, wantCalls: 2},
		{name: "500 then success", status: 500, failures: 2, wantCalls: 3},
		{name: "502", status: 502, failures: 1, wantCalls: 2},
		{name: "bounded", status: 500, failures: 100, wantCalls: 6, wantErr: "500"},
		{name: "404 is not retried", status: 404, failures: 100, wantCalls: 1, wantErr: "404"},
		{name: "long Retry-After fails at once", status: 429, failures: 100, wantCalls: 1,
			header:  map[string]string{"Retry-After": "3600", "Ratelimit-Limit": "100;w=21600", "Ratelimit-Remaining": "0;w=21600"},
			wantErr: "ratelimit-limit 100;w=21600, ratelimit-remaining 0;w=21600; retry after 1h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, cl, pushed := fixture(t, 100)
			var calls atomic.Int32
			reg.Wrap(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if !strings.Contains(r.URL.Path, "/manifests/") {
						next.ServeHTTP(w, r)
						return
					}
					if calls.Add(1) <= int32(tt.failures) {
						for k, v := range tt.header {
							w.Header().Set(k, v)
						}
						w.WriteHeader(tt.status)
						fmt.Fprintf(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`)
						return
					}
					next.ServeHTTP(w, r)
				})
			})
			m, err := cl.Manifest(t.Context(), mustRef(t, reg.Ref("team/app:1")))
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Errorf("%d manifest requests, want %d", got, tt.wantCalls)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || m.Descriptor.Digest != pushed.Digest {
				t.Fatalf("Manifest = %v, %v", m, err)
			}
		})
	}
}

func TestManifestFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pinned  bool
		bend    func(w http.ResponseWriter, rec *httptest.ResponseRecorder)
		wantErr string
	}{
		{name: "wrong Docker-Content-Digest", wantErr: "disagrees with the manifest", bend: func(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
			registrytest.CopyHeader(w, rec)
			w.Header().Set("Docker-Content-Digest", "sha256:"+strings.Repeat("0", 64))
			w.Write(rec.Body.Bytes())
		}},
		{name: "malformed Docker-Content-Digest", wantErr: "malformed Docker-Content-Digest", bend: func(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
			registrytest.CopyHeader(w, rec)
			w.Header().Set("Docker-Content-Digest", "sha256:../../x")
			w.Write(rec.Body.Bytes())
		}},
		{name: "body not the pinned digest", pinned: true, wantErr: "digest mismatch", bend: func(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
			registrytest.CopyHeader(w, rec)
			w.Header().Del("Docker-Content-Digest")
			w.Header().Del("Content-Length")
			w.Write(append(rec.Body.Bytes(), ' '))
		}},
		{name: "oversized without Content-Length", wantErr: "over the limit", bend: func(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
			w.Header().Set("Content-Type", registrytest.MediaTypeDockerManifest)
			chunk := bytes.Repeat([]byte(" "), 1<<20)
			for range 5 {
				w.Write(chunk)
			}
		}},
		{name: "oversized Content-Length", wantErr: "over the limit", bend: func(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
			w.Header().Set("Content-Length", strconv.Itoa(5<<20))
			w.WriteHeader(200)
		}},
		{name: "HTML page", wantErr: "answered a web page (text/html), not a manifest", bend: func(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html><body>Please log in to the Wi-Fi</body></html>")
		}},
		{name: "Content-Type disagrees", wantErr: "disagrees with the manifest's mediaType", bend: func(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
			registrytest.CopyHeader(w, rec)
			w.Header().Set("Content-Type", image.MediaTypeOCIIndex)
			w.Write(rec.Body.Bytes())
		}},
		{name: "schema1", wantErr: "schema1", bend: func(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
			w.Header().Set("Content-Type", image.MediaTypeDockerSchema1Signed)
			io.WriteString(w, `{"schemaVersion":1,"name":"team/app","fsLayers":[]}`)
		}},
		{name: "unknown media type", wantErr: "unsupported manifest media type", bend: func(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
			w.Header().Set("Content-Type", "application/vnd.example+json")
			io.WriteString(w, `{"schemaVersion":2,"mediaType":"application/vnd.example+json"}`)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, cl, pushed := fixture(t, 10)
			reg.Wrap(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/manifests/") {
						next.ServeHTTP(w, r)
						return
					}
					rec := registrytest.Record(next, r)
					if rec.Code != 200 {
						registrytest.CopyHeader(w, rec)
						w.WriteHeader(rec.Code)
						w.Write(rec.Body.Bytes())
						return
					}
					tt.bend(w, rec)
				})
			})
			name := "team/app:1"
			if tt.pinned {
				name = "team/app@" + pushed.Digest.String()
			}
			_, err := cl.Manifest(t.Context(), mustRef(t, reg.Ref(name)))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestBlobFaults injects each way a blob body can go wrong, around the real registry.
func TestBlobFaults(t *testing.T) {
	t.Parallel()
	const size = 256 << 10
	type outcome struct {
		err    string // "" for success
		ranged bool   // a request carried Range
	}
	tests := []struct {
		name  string
		fault func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool // true: handled
		want  outcome
	}{
		{name: "drop at 30% resumes with Range", want: outcome{ranged: true}, fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool {
			if try > 1 {
				return false
			}
			registrytest.CopyHeader(w, rec)
			w.WriteHeader(200)
			w.Write(rec.Body.Bytes()[:rec.Body.Len()*3/10])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}},
		{name: "stall resumes after idle timeout", want: outcome{ranged: true}, fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool {
			if try > 1 {
				return false
			}
			registrytest.CopyHeader(w, rec)
			w.WriteHeader(200)
			w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
				t.Error("client did not give up on a stalled body")
			}
			return true
		}},
		{name: "server ignores Range", want: outcome{ranged: true}, fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool {
			registrytest.CopyHeader(w, rec)
			w.Header().Del("Content-Range")
			w.WriteHeader(200)
			body := rec.Body.Bytes()
			if try == 1 {
				w.Write(body[:len(body)/3])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}
			w.Write(body) // the whole blob, Range or not
			return true
		}},
		{name: "wrong bytes", want: outcome{err: "digest mismatch"}, fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool {
			registrytest.CopyHeader(w, rec)
			body := bytes.Clone(rec.Body.Bytes())
			body[len(body)/2] ^= 0xff
			w.Write(body)
			return true
		}},
		{name: "short body", want: outcome{err: "size mismatch"}, fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(rec.Body.Bytes()[:100])
			w.(http.Flusher).Flush() // chunked, ends cleanly: the server says that is all
			return true
		}},
		{name: "long body is cut at the descriptor's size", want: outcome{}, fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(rec.Body.Bytes())
			w.Write(bytes.Repeat([]byte{0}, 1<<20)) // never read
			return true
		}},
		{name: "Content-Length disagrees with descriptor", want: outcome{err: "its descriptor says"}, fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool {
			w.Header().Set("Content-Length", strconv.Itoa(rec.Body.Len()+1))
			w.Write(rec.Body.Bytes())
			w.Write([]byte{0})
			return true
		}},
		{name: "bad Content-Range on resume", want: outcome{err: "Content-Range", ranged: true}, fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool {
			registrytest.CopyHeader(w, rec)
			if try == 1 {
				w.WriteHeader(200)
				w.Write(rec.Body.Bytes()[:1000])
				w.(http.Flusher).Flush()
				panic(http.ErrAbortHandler)
			}
			w.Header().Set("Content-Range", "bytes 0-99/100")
			w.WriteHeader(206)
			return true
		}},
		{name: "drops forever are bounded", want: outcome{err: "at byte 60: unexpected EOF", ranged: true}, fault: func(t *testing.T, try int, w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) bool {
			registrytest.CopyHeader(w, rec)
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes()[:min(10, rec.Body.Len())])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, cl, pushed := fixture(t, size)
			layer := pushed.Layers[0]
			var (
				mu     sync.Mutex
				tries  int
				ranged bool
				served atomic.Int64
			)
			reg.Wrap(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if !registrytest.IsBlobGET(r) || !strings.HasSuffix(r.URL.Path, layer.Digest.String()) {
						next.ServeHTTP(w, r)
						return
					}
					mu.Lock()
					tries++
					try := tries
					if r.Header.Get("Range") != "" {
						ranged = true
					}
					mu.Unlock()
					if tt.name == "server ignores Range" {
						r.Header.Del("Range")
					}
					rec := registrytest.Record(next, r)
					cw := &registrytest.CountingWriter{ResponseWriter: w, N: &served}
					if !tt.fault(t, try, cw, r, rec) {
						registrytest.CopyHeader(w, rec)
						w.WriteHeader(rec.Code)
						cw.Write(rec.Body.Bytes())
					}
				})
			})
			got, err := readBlob(t, cl, mustRef(t, reg.Ref("team/app:1")), layer)
			mu.Lock()
			defer mu.Unlock()
			if ranged != tt.want.ranged {
				t.Errorf("Range sent: %v, want %v", ranged, tt.want.ranged)
			}
			if tt.want.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.want.err)
				}
				if !strings.Contains(err.Error(), layer.Digest.String()) {
					t.Errorf("error does not name the blob: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if int64(len(got)) != layer.Size {
				t.Fatalf("read %d bytes, want %d", len(got), layer.Size)
			}
			if tt.want.ranged && tt.name != "server ignores Range" && served.Load() > layer.Size*13/10 {
				t.Errorf("served %d bytes for a %d-byte blob: the resume refetched what it had", served.Load(), layer.Size)
			}
		})
	}
}

// TestRedirectCarriesNoCredentials sends blob GETs to a "CDN" on another port,
// which fails the test if it ever sees an Authorization header.
func TestRedirectCarriesNoCredentials(t *testing.T) {
	t.Parallel()
	reg, _, pushed := fixture(t, 1000)
	cl := newClient(t, reg, auth.Credential{Username: registrytest.Alice, Password: registrytest.AlicePassword})
	cdn := registrytest.NewCDN(t)
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !registrytest.IsBlobGET(r) {
				next.ServeHTTP(w, r)
				return
			}
			cdn.Redirect(w, r, next)
		})
	})
	got, err := readBlob(t, cl, mustRef(t, reg.Ref("team/app:1")), pushed.Layers[0])
	if err != nil || int64(len(got)) != pushed.Layers[0].Size {
		t.Fatalf("blob via CDN: %d bytes, %v", len(got), err)
	}
	if cdn.Hits() == 0 {
		t.Fatal("the CDN was never asked")
	}
}

func TestRedirectPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, location, wantErr string
	}{
		{"file scheme", "file:///etc/passwd", "refusing redirect to scheme"},
		{"endless", "", "stopped after 10 redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, cl, pushed := fixture(t, 10)
			reg.Wrap(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if !registrytest.IsBlobGET(r) {
						next.ServeHTTP(w, r)
						return
					}
					loc := tt.location
					if loc == "" {
						loc = r.URL.Path + "?again=" + strconv.Itoa(len(r.URL.RawQuery))
					}
					w.Header().Set("Location", loc)
					w.WriteHeader(http.StatusFound)
				})
			})
			_, err := readBlob(t, cl, mustRef(t, reg.Ref("team/app:1")), pushed.Layers[0])
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestTagsFaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, link, wantErr string
	}{
		{"foreign origin", `<http://203.0.113.9/v2/team/app/tags/list?last=a>; rel="next"`, "another origin"},
		{"loop", `</v2/team/app/tags/list>; rel="next"`, "loops back"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg, cl, _ := fixture(t, 10)
			reg.Wrap(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if strings.HasSuffix(r.URL.Path, "/tags/list") {
						rec := registrytest.Record(next, r)
						registrytest.CopyHeader(w, rec)
						if rec.Code == 200 {
							w.Header().Set("Link", tt.link)
						}
						w.WriteHeader(rec.Code)
						w.Write(rec.Body.Bytes())
						return
					}
					next.ServeHTTP(w, r)
				})
			})
			_, err := cl.Tags(t.Context(), mustRef(t, reg.Ref("team/app")))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestHeadFallsBackToGET(t *testing.T) {
	t.Parallel()
	reg, _, pushed := fixture(t, 10)
	var trace bytes.Buffer
	cl := newClient(t, reg, auth.Credential{}, func(c *registry.Config) { c.Trace = &syncWriter{w: &trace} })
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := registrytest.Record(next, r)
			registrytest.CopyHeader(w, rec)
			if r.Method == http.MethodHead {
				w.Header().Del("Docker-Content-Digest")
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		})
	})
	d, err := cl.Digest(t.Context(), mustRef(t, reg.Ref("team/app:1")))
	if err != nil || d != pushed.Digest {
		t.Fatalf("Digest = %s, %v; want %s", d, err, pushed.Digest)
	}
	if !strings.Contains(trace.String(), "falling back to GET") {
		t.Errorf("trace does not say it fell back:\n%s", trace.String())
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
