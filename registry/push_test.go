package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/registry"
)

var alice = auth.Credential{Username: registrytest.Alice, Password: registrytest.AlicePassword}

// blobOf is n pseudo-random bytes and their descriptor.
func blobOf(seed int64, n int) ([]byte, image.Descriptor) {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b, image.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(b), Size: int64(n)}
}

// bytesSource serves b from any offset, as the cache does.
func bytesSource(b []byte) registry.BlobSource {
	return registry.BlobSourceFunc(func(_ context.Context, off int64) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b[off:])), nil
	})
}

// requestLog records the method and path of each request a registry gets
// from the client under test and does not answer 401 (registrytest's own
// requests bypass it).
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if sw.status == http.StatusUnauthorized {
			return // the token dance, not the protocol
		}
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
	})
}

// methods are the requests' methods, in order.
func (l *requestLog) methods() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var m []string
	for _, r := range l.reqs {
		m = append(m, strings.Fields(r)[0])
	}
	return m
}

func (l *requestLog) count(method, pathPart string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, r := range l.reqs {
		m, p, _ := strings.Cut(r, " ")
		if m == method && strings.Contains(p, pathPart) {
			n++
		}
	}
	return n
}

// TestCopyImageBetweenRegistries copies an image from one token-auth
// registry to another, blob by blob from the source's stream, then the
// manifest's bytes, and reads everything back byte-exact from the second.
func TestCopyImageBetweenRegistries(t *testing.T) {
	t.Parallel()
	for _, oci := range []bool{false, true} {
		t.Run(fmt.Sprintf("oci=%v", oci), func(t *testing.T) {
			t.Parallel()
			src := registrytest.New(t, registrytest.Config{TokenAuth: true})
			dst := registrytest.New(t, registrytest.Config{TokenAuth: true})
			img := registrytest.RandomImage(7, 2, 300<<10)
			img.OCI = oci
			want := src.MustPush(t, "team/app:1", img)
			srcCl := newClient(t, src, auth.Credential{})
			dstCl := newClient(t, dst, alice)
			to := mustRef(t, dst.Ref("mirror/app:1"))

			m, err := srcCl.Manifest(t.Context(), mustRef(t, src.Ref("team/app:1")))
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range append([]image.Descriptor{want.Config}, want.Layers...) {
				from := registry.BlobSourceFunc(func(ctx context.Context, off int64) (io.ReadCloser, error) {
					if off != 0 {
						return nil, fmt.Errorf("asked for offset %d", off)
					}
					return srcCl.Blob(ctx, mustRef(t, src.Ref("team/app:1")), d)
				})
				if err := dstCl.PushBlob(t.Context(), to, d, from, registry.PushOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			got, err := dstCl.PushManifest(t.Context(), to, m.Body, m.Descriptor.MediaType)
			if err != nil {
				t.Fatal(err)
			}
			if got != want.Digest {
				t.Errorf("pushed manifest digest %s, want %s", got, want.Digest)
			}
			back, err := dstCl.Manifest(t.Context(), to)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(back.Body, want.Manifest) || back.Descriptor.Digest != want.Digest || back.Descriptor.MediaType != want.MediaType {
				t.Errorf("manifest read back differs: %s %s", back.Descriptor.MediaType, back.Descriptor.Digest)
			}
			for i, d := range want.Layers {
				b, err := readBlob(t, dstCl, to, d)
				if err != nil {
					t.Fatalf("layer %d: %v", i, err)
				}
				if digest.FromBytes(b) != d.Digest {
					t.Errorf("layer %d read back with digest %s, want %s", i, digest.FromBytes(b), d.Digest)
				}
			}
			cfg, err := readBlob(t, dstCl, to, want.Config)
			if err != nil || !bytes.Equal(cfg, want.RawConfig) {
				t.Errorf("config read back: %v, equal %v", err, bytes.Equal(cfg, want.RawConfig))
			}
			// By digest too: the same bytes under the same digest.
			if got, err := dstCl.PushManifest(t.Context(), to.WithDigest(want.Digest), m.Body, m.Descriptor.MediaType); err != nil || got != want.Digest {
				t.Errorf("push by digest: %s, %v", got, err)
			}
		})
	}
}

func TestBlobExists(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	b, d := blobOf(1, 4<<10)
	if _, err := reg.PushBlob(t.Context(), "team/app", b); err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, reg, alice)
	r := mustRef(t, reg.Ref("team/app:1"))
	_, absent := blobOf(2, 10)
	wrongSize := d
	wrongSize.Size++
	tests := []struct {
		name    string
		d       image.Descriptor
		want    bool
		wantErr bool
	}{
		{name: "present", d: d, want: true},
		{name: "absent", d: absent},
		{name: "present with another size", d: wrongSize, wantErr: true},
		{name: "malformed digest", d: image.Descriptor{Digest: "sha256:zz"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := cl.BlobExists(t.Context(), r, tt.d)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("BlobExists = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestMountBlob mounts within one registry (the request log shows no
// upload), and falls back when the registry answers 202: the source lacks
// the blob, so distribution starts an upload, which MountBlob cancels.
func TestMountBlob(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	var log requestLog
	reg.Wrap(log.wrap)
	cl := newClient(t, reg, alice)
	b, d := blobOf(3, 64<<10)
	if _, err := reg.PushBlob(t.Context(), "team/base", b); err != nil {
		t.Fatal(err)
	}

	mounted, err := cl.MountBlob(t.Context(), mustRef(t, reg.Ref("team/app:1")), d, mustRef(t, reg.Ref("team/base:1")))
	if err != nil || !mounted {
		t.Fatalf("MountBlob = %v, %v; want mounted", mounted, err)
	}
	if n := log.count(http.MethodPatch, "/blobs/uploads/") + log.count(http.MethodPut, "/blobs/uploads/"); n != 0 {
		t.Errorf("%d upload requests for a mount, want none: %v", n, log.reqs)
	}
	got, err := readBlob(t, cl, mustRef(t, reg.Ref("team/app:1")), d)
	if err != nil || !bytes.Equal(got, b) {
		t.Fatalf("mounted blob read back: %v", err)
	}
	var scoped bool
	for _, tr := range reg.TokenRequests() {
		if strings.Contains(strings.Join(tr.Scopes, " "), "repository:team/base:pull") &&
			strings.Contains(strings.Join(tr.Scopes, " "), "repository:team/app:pull,push") {
			scoped = true
		}
	}
	if !scoped {
		t.Errorf("no token request asked push on the target and pull on the source at once: %+v", reg.TokenRequests())
	}

	// From a repository without the blob: 202, an upload the client cancels.
	b2, d2 := blobOf(4, 32<<10)
	to := mustRef(t, reg.Ref("team/other:1"))
	mounted, err = cl.MountBlob(t.Context(), to, d2, mustRef(t, reg.Ref("team/base:1")))
	if err != nil || mounted {
		t.Fatalf("MountBlob of a blob the source lacks = %v, %v; want not mounted, no error", mounted, err)
	}
	if n := log.count(http.MethodDelete, "/v2/team/other/blobs/uploads/"); n != 1 {
		t.Errorf("%d DELETEs of the upload the 202 started, want 1", n)
	}
	if err := cl.PushBlob(t.Context(), to, d2, bytesSource(b2), registry.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	if ok, err := cl.BlobExists(t.Context(), to, d2); err != nil || !ok {
		t.Errorf("after the fallback upload, BlobExists = %v, %v", ok, err)
	}
}

// TestPushWithoutPushScope: an anonymous user may pull but not push; the
// error names the scope asked and the login command.
func TestPushWithoutPushScope(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	reg.MustPush(t, "team/app:1", registrytest.RandomImage(1, 1, 100))
	cl := newClient(t, reg, auth.Credential{})
	r := mustRef(t, reg.Ref("team/app:2"))
	b, d := blobOf(5, 100)
	tests := []struct {
		name string
		push func() error
	}{
		{name: "blob", push: func() error { return cl.PushBlob(t.Context(), r, d, bytesSource(b), registry.PushOptions{}) }},
		{name: "manifest", push: func() error {
			_, err := cl.PushManifest(t.Context(), r, []byte(`{"schemaVersion":2}`), image.MediaTypeOCIManifest)
			return err
		}},
		{name: "mount", push: func() error {
			_, err := cl.MountBlob(t.Context(), r, d, mustRef(t, reg.Ref("team/base:1")))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.push()
			var e *registry.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is no *registry.Error", err)
			}
			// Distribution names the actions in either order.
			scope := strings.Replace(e.Scope, "push,pull", "pull,push", 1)
			if e.Status != http.StatusUnauthorized || !strings.Contains(scope, "repository:team/app:pull,push") {
				t.Errorf("status %d, scope %q; want 401 naming push on team/app", e.Status, e.Scope)
			}
			h := e.Hint()
			for _, want := range []string{e.Scope, "does not grant push on " + reg.Host() + "/team/app", "haul login " + reg.Host()} {
				if !strings.Contains(h, want) {
					t.Errorf("hint %q lacks %q", h, want)
				}
			}
		})
	}
}

// TestPushManifestFaults: what a registry may answer a manifest PUT.
func TestPushManifestFaults(t *testing.T) {
	t.Parallel()
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	tests := []struct {
		name      string
		status    int
		header    map[string]string
		errBody   string
		wantErr   string
		mediaType bool // the error is a *registry.MediaTypeError
	}{
		{name: "415", status: 415, wantErr: "refused media type " + image.MediaTypeOCIManifest, mediaType: true},
		{name: "400 MANIFEST_INVALID", status: 400, errBody: `{"errors":[{"code":"MANIFEST_INVALID","message":"manifest invalid"}]}`,
			wantErr: "refused media type " + image.MediaTypeOCIManifest, mediaType: true},
		{name: "other digest", status: 201, header: map[string]string{"Docker-Content-Digest": digest.FromString("x").String()},
			wantErr: "the registry stored other bytes"},
		{name: "403 DENIED", status: 403, errBody: `{"errors":[{"code":"DENIED","message":"no"}]}`, wantErr: "403"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
			reg.Wrap(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method != http.MethodPut || !strings.Contains(r.URL.Path, "/manifests/") {
						next.ServeHTTP(w, r)
						return
					}
					for k, v := range tt.header {
						w.Header().Set(k, v)
					}
					w.WriteHeader(tt.status)
					io.WriteString(w, tt.errBody)
				})
			})
			cl := newClient(t, reg, alice)
			_, err := cl.PushManifest(t.Context(), mustRef(t, reg.Ref("team/app:1")), body, image.MediaTypeOCIManifest)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			var me *registry.MediaTypeError
			if errors.As(err, &me) != tt.mediaType {
				t.Errorf("MediaTypeError: %v, want %v", errors.As(err, &me), tt.mediaType)
			}
		})
	}
}

// countedBody counts the request body bytes a handler reads.
type countedBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c countedBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Flush() { s.ResponseWriter.(http.Flusher).Flush() }
