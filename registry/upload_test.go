package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/store"
)

// uploadFront stands before a real registry's upload endpoints: it counts the
// blob bytes the registry reads (PATCH bodies, and the PUT's of a blob sent
// whole) and the status requests, and injects one fault per request of a
// kind, as its fields say. "PATCH" below means either.
type uploadFront struct {
	received atomic.Int64 // PATCH body bytes the registry read
	statuses atomic.Int32 // GETs of an upload URL
	patches  atomic.Int32

	mu sync.Mutex
	// cutAt, when > 0, cuts the next PATCH after that many bytes: the
	// registry sees its body fail, its answer is dropped, the connection
	// closed, and onCut runs first (the test's kill of the process).
	cutAt int64
	onCut func()
	// statusFault, patchFault answer that many status GETs / PATCHes with
	// the status and body given, without the registry seeing them.
	statusFault, patchFault fault
	held                    string // the Range the last real status answer gave
}

type fault struct {
	n      int
	status int
	body   string
}

func (f *fault) take() (fault, bool) {
	if f.n == 0 {
		return fault{}, false
	}
	f.n--
	return *f, true
}

func (f *uploadFront) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isUpload := strings.Contains(r.URL.Path, "/blobs/uploads/") && !strings.HasSuffix(r.URL.Path, "/blobs/uploads/")
		switch {
		case r.Method == http.MethodGet && isUpload:
			f.statuses.Add(1)
			f.mu.Lock()
			ft, ok := f.statusFault.take()
			f.mu.Unlock()
			if ok {
				w.WriteHeader(ft.status)
				io.WriteString(w, ft.body)
				return
			}
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(sw, r)
			f.mu.Lock()
			f.held = w.Header().Get("Range")
			f.mu.Unlock()
		case isUpload && (r.Method == http.MethodPatch || r.Method == http.MethodPut && r.ContentLength > 0):
			// The blob's bytes go in a PATCH, or a small blob's in the PUT itself.
			f.patches.Add(1)
			f.mu.Lock()
			ft, faulty := f.patchFault.take()
			cutAt, onCut := f.cutAt, f.onCut
			f.cutAt = 0
			f.mu.Unlock()
			if faulty {
				w.WriteHeader(ft.status)
				io.WriteString(w, ft.body)
				return
			}
			body := countedBody{ReadCloser: r.Body, n: &f.received}
			if cutAt == 0 {
				r.Body = body
				next.ServeHTTP(w, r)
				return
			}
			r.Body = io.NopCloser(io.MultiReader(io.LimitReader(body, cutAt), failReader{}))
			next.ServeHTTP(discardWriter{h: http.Header{}}, r)
			if onCut != nil {
				onCut()
			}
			panic(http.ErrAbortHandler) // closes the connection, answering nothing
		default:
			next.ServeHTTP(w, r)
		}
	})
}

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errors.New("connection cut by the test") }

type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}

// uploadFixture is a token-auth registry storing on disk (distribution's
// filesystem driver keeps what a cut request delivered, as a registry in
// production does), its front, and a cache directory for sessions.
type uploadFixture struct {
	reg   *registrytest.Registry
	front *uploadFront
	cache string
	to    ref.Reference
}

func newUploadFixture(t *testing.T) *uploadFixture {
	t.Helper()
	f := &uploadFixture{
		reg:   registrytest.New(t, registrytest.Config{TokenAuth: true, Dir: t.TempDir()}),
		front: &uploadFront{},
		cache: t.TempDir(),
	}
	f.reg.Wrap(f.front.wrap)
	f.to = mustRef(t, f.reg.Ref("mirror/app:1"))
	return f
}

// run is one run of the program: a new Client and a store opened afresh,
// reading the blob from b.
func (f *uploadFixture) run(ctx context.Context, t *testing.T, b []byte, d image.Descriptor, opts registry.PushOptions) error {
	t.Helper()
	return f.runFrom(ctx, t, bytesSource(b), d, opts)
}

func (f *uploadFixture) runFrom(ctx context.Context, t *testing.T, src registry.BlobSource, d image.Descriptor, opts registry.PushOptions) error {
	t.Helper()
	st, err := store.Open(store.Config{Dir: f.cache})
	if err != nil {
		t.Fatal(err)
	}
	opts.Sessions = st.Uploads()
	cl := newClient(t, f.reg, alice, func(c *registry.Config) { c.IdleTimeout = 2 * time.Second })
	return cl.PushBlob(ctx, f.to, d, src, opts)
}

// interrupted is a first run killed when its PATCH is cut at cutAt.
func (f *uploadFixture) interrupted(t *testing.T, b []byte, d image.Descriptor, cutAt int64) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	f.front.mu.Lock()
	f.front.cutAt, f.front.onCut = cutAt, cancel
	f.front.mu.Unlock()
	if err := f.run(ctx, t, b, d, registry.PushOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("the interrupted run ended with %v, want context.Canceled", err)
	}
	if got := f.front.received.Load(); got != cutAt {
		t.Fatalf("the registry read %d bytes before the cut, want %d", got, cutAt)
	}
}

func (f *uploadFixture) checkPushed(t *testing.T, b []byte, d image.Descriptor) {
	t.Helper()
	cl := newClient(t, f.reg, alice)
	got, err := readBlob(t, cl, f.to, d)
	if err != nil {
		t.Fatal(err)
	}
	if digest.FromBytes(got) != d.Digest {
		t.Fatalf("blob read back has digest %s, want %s", digest.FromBytes(got), d.Digest)
	}
	sessions, _ := filepath.Glob(filepath.Join(f.cache, "uploads", "*", "mirror", "app", "*.json"))
	if len(sessions) != 0 {
		t.Errorf("session files left after the commit: %v", sessions)
	}
}

// heldBytes reads a status answer's Range "0-N" as N+1.
func heldBytes(t *testing.T, rng string) int64 {
	t.Helper()
	var end int64
	if _, err := fmt.Sscanf(rng, "0-%d", &end); err != nil {
		t.Fatalf("status Range %q: %v", rng, err)
	}
	return end + 1
}

// TestUploadResumesInANewRun: an upload cut at about half, the process gone,
// is resumed by a new Client from the session kept beside the cache, and the
// registry receives only the rest.
// The rest comes from the cache, or from a Range read of the registry
// copied from.
// A blob of up to 16 MiB is cut in the PUT that carries it whole, a larger
// one in its PATCH.
func TestUploadResumesInANewRun(t *testing.T) {
	t.Parallel()
	for _, from := range []string{"cache", "registry"} {
		for _, size := range []int{16 << 20, 16<<20 + 1} {
			t.Run(fmt.Sprintf("%s, %d bytes", from, size), func(t *testing.T) {
				t.Parallel()
				testUploadResumes(t, from == "registry", size)
			})
		}
	}
}

func testUploadResumes(t *testing.T, fromRegistry bool, size int) {
	f := newUploadFixture(t)
	b, d := blobOf(11, size)
	f.interrupted(t, b, d, int64(size/2))

	src := bytesSource(b)
	var ranges []string
	if fromRegistry {
		srcReg := registrytest.New(t, registrytest.Config{TokenAuth: true, Dir: t.TempDir()})
		if _, err := srcReg.PushBlob(t.Context(), "team/app", b); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		srcReg.Wrap(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if registrytest.IsBlobGET(r) {
					mu.Lock()
					ranges = append(ranges, r.Header.Get("Range"))
					mu.Unlock()
				}
				next.ServeHTTP(w, r)
			})
		})
		src = newClient(t, srcReg, alice).BlobSource(mustRef(t, srcReg.Ref("team/app:1")), d)
	}

	f.front.received.Store(0)
	var restarted atomic.Int32
	var progress []int64
	err := f.runFrom(t.Context(), t, src, d, registry.PushOptions{
		Restarted: func(digest.Digest, int64, error) { restarted.Add(1) },
		Progress:  func(n int64) { progress = append(progress, n) },
	})
	if err != nil {
		t.Fatal(err)
	}
	f.front.mu.Lock()
	held := heldBytes(t, f.front.held)
	f.front.mu.Unlock()
	if held <= 0 || held > int64(size/2) {
		t.Fatalf("the registry held %d bytes after the cut at %d", held, size/2)
	}
	if got, want := f.front.received.Load(), int64(size)-held; got != want {
		t.Errorf("the second run sent %d bytes, want the %d the registry lacked", got, want)
	}
	if restarted.Load() != 0 {
		t.Error("Restarted was called for a session the registry resumed")
	}
	if len(progress) != 2 || progress[0] != held || progress[1] != int64(size) {
		t.Errorf("progress %v, want [%d %d]", progress, held, size)
	}
	if fromRegistry && (len(ranges) == 0 || ranges[len(ranges)-1] != fmt.Sprintf("bytes=%d-", held)) {
		t.Errorf("the source registry was asked with Range %q, want the last from byte %d", ranges, held)
	}
	t.Logf("cut at %d; the registry kept %d; the second run sent %d", size/2, held, f.front.received.Load())
	f.checkPushed(t, b, d)
}

// TestUploadSessionRefused: a session the registry no longer knows is
// started again from byte 0, once, and Restarted says so; a second refusal
// ends the push.
func TestUploadSessionRefused(t *testing.T) {
	t.Parallel()
	unknown := `{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"blob upload unknown to registry"}]}`
	rangeInvalid := `{"errors":[{"code":"RANGE_INVALID","message":"invalid content range"}]}`
	tests := []struct {
		name          string
		status, patch fault
		wantErr       string
		wantRestarts  int32
		wantReason    string // in the error Restarted is given
	}{
		{name: "404 on the status request", status: fault{n: 1, status: 404, body: unknown}, wantRestarts: 1, wantReason: "BLOB_UPLOAD_UNKNOWN"},
		{name: "416 on the status request, as distribution 2.8 answers once a request was cut",
			status: fault{n: 1, status: 416, body: rangeInvalid}, wantRestarts: 1, wantReason: "416"},
		{name: "expired: 404 to everything", status: fault{n: -1, status: 404, body: unknown},
			patch: fault{n: -1, status: 404, body: unknown}, wantRestarts: 1, wantReason: "BLOB_UPLOAD_UNKNOWN",
			wantErr: "refused the upload session a second time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newUploadFixture(t)
			const size = 4 << 20
			b, d := blobOf(12, size)
			f.interrupted(t, b, d, size/2)
			f.front.received.Store(0)
			f.front.mu.Lock()
			f.front.statusFault, f.front.patchFault = tt.status, tt.patch
			f.front.mu.Unlock()
			var restarts atomic.Int32
			var reason error
			err := f.run(t.Context(), t, b, d, registry.PushOptions{Restarted: func(got digest.Digest, _ int64, why error) {
				if got != d.Digest {
					t.Errorf("Restarted for %s, want %s", got, d.Digest)
				}
				restarts.Add(1)
				reason = why
			}})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if restarts.Load() != tt.wantRestarts || reason == nil || !strings.Contains(reason.Error(), tt.wantReason) {
				t.Errorf("%d restarts because %v; want %d because %s", restarts.Load(), reason, tt.wantRestarts, tt.wantReason)
			}
			if tt.wantErr != "" {
				return
			}
			if got := f.front.received.Load(); got != size {
				t.Errorf("the restarted upload sent %d bytes, want the whole %d", got, size)
			}
			f.checkPushed(t, b, d)
		})
	}
}

// TestBlobSource reads a blob from offsets, as a resumed copy does, from a
// registry that honours Range and from one that ignores it.
func TestBlobSource(t *testing.T) {
	t.Parallel()
	const size = 1 << 20
	b, d := blobOf(16, size)
	for _, ignoreRange := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignore Range=%v", ignoreRange), func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
			if _, err := reg.PushBlob(t.Context(), "team/app", b); err != nil {
				t.Fatal(err)
			}
			if ignoreRange {
				reg.Wrap(func(next http.Handler) http.Handler {
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						r.Header.Del("Range")
						next.ServeHTTP(w, r)
					})
				})
			}
			src := newClient(t, reg, auth.Credential{}).BlobSource(mustRef(t, reg.Ref("team/app:1")), d)
			for _, off := range []int64{0, 1, size / 2, size - 1, size} {
				rc, err := src.Open(t.Context(), off)
				if err != nil {
					t.Fatalf("offset %d: %v", off, err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || !bytes.Equal(got, b[off:]) {
					t.Errorf("offset %d: %d bytes, %v; want the blob's last %d", off, len(got), err, size-off)
				}
			}
		})
	}
}

// TestPushBlobSizes pushes blobs of the sizes at the edges of the protocol
// (nothing to send; Range "0-0", which distribution writes for 0 bytes held
// and for 1; the largest blob sent whole in the PUT, and one byte more, which
// goes in a PATCH) and reads them back, and checks the requests each took.
func TestPushBlobSizes(t *testing.T) {
	t.Parallel()
	const maxWhole = 16 << 20
	tests := []struct {
		size int
		want string // the upload's requests
	}{
		{0, "POST PUT"},
		{1, "POST PUT"},
		{2, "POST PUT"},
		{maxWhole, "POST PUT"},
		{maxWhole + 1, "POST PATCH PUT"},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.size), func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
			var log requestLog
			reg.Wrap(log.wrap)
			cl := newClient(t, reg, alice)
			b, d := blobOf(int64(tt.size), tt.size)
			r := mustRef(t, reg.Ref("team/app:1"))
			if err := cl.PushBlob(t.Context(), r, d, bytesSource(b), registry.PushOptions{}); err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(log.methods(), " "); got != tt.want {
				t.Errorf("requests %q, want %q", got, tt.want)
			}
			got, err := readBlob(t, cl, r, d)
			if err != nil || !bytes.Equal(got, b) {
				t.Errorf("read back %d bytes, %v", len(got), err)
			}
		})
	}
}

// TestUpload416: a 416 to a PATCH gets one status request, and the PATCH is
// sent again from the offset it gives; a second 416 in a row ends the push.
func TestUpload416(t *testing.T) {
	t.Parallel()
	rangeInvalid := `{"errors":[{"code":"RANGE_INVALID","message":"invalid content range"}]}`
	tests := []struct {
		name         string
		patch        fault
		wantStatuses int32
		wantErr      bool
	}{
		{name: "once", patch: fault{n: 1, status: 416, body: rangeInvalid}, wantStatuses: 1},
		{name: "twice", patch: fault{n: 2, status: 416, body: rangeInvalid}, wantStatuses: 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newUploadFixture(t)
			b, d := blobOf(13, 1<<20)
			f.front.patchFault = tt.patch
			err := f.run(t.Context(), t, b, d, registry.PushOptions{})
			if got := f.front.statuses.Load(); got != tt.wantStatuses {
				t.Errorf("%d status requests, want %d", got, tt.wantStatuses)
			}
			var stalled *registry.StalledUploadError
			if tt.wantErr {
				if !errors.As(err, &stalled) || stalled.Acknowledged != 0 || !strings.Contains(err.Error(), d.Digest.String()) {
					t.Fatalf("error %v, want a *StalledUploadError naming the blob at 0 bytes", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f.checkPushed(t, b, d)
		})
	}
}

// TestUploadStall: a registry that stops reading the body ends the push
// after two idle attempts, within a bounded time, naming the blob and the
// bytes acknowledged.
func TestUploadStall(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	release := make(chan struct{})
	t.Cleanup(func() { close(release) }) // runs before the registry's Close
	var patches atomic.Int32
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPatch {
				next.ServeHTTP(w, r)
				return
			}
			patches.Add(1)
			select { // read nothing, answer nothing
			case <-r.Context().Done():
			case <-release:
			}
		})
	})
	const idle = 200 * time.Millisecond
	cl := newClient(t, reg, alice, func(c *registry.Config) { c.IdleTimeout = idle })
	b, d := blobOf(14, 64<<20) // far more than the sockets' buffers hold
	start := time.Now()
	err := cl.PushBlob(t.Context(), mustRef(t, reg.Ref("team/app:1")), d, bytesSource(b), registry.PushOptions{})
	elapsed := time.Since(start)
	var stalled *registry.StalledUploadError
	if !errors.As(err, &stalled) || stalled.Acknowledged != 0 || stalled.Digest != d.Digest {
		t.Fatalf("error %v, want a *StalledUploadError at 0 bytes", err)
	}
	if !strings.Contains(err.Error(), "idle") {
		t.Errorf("error %q does not say the exchange went idle", err)
	}
	if n := patches.Load(); n != 2 {
		t.Errorf("%d PATCHes, want 2", n)
	}
	if elapsed > 20*idle+5*time.Second {
		t.Errorf("the stalled push took %s with an idle timeout of %s", elapsed, idle)
	}
}

// TestUploadSessionsStore: the store keeps one session per registry,
// repository and blob, hands it to one holder at a time, and forgets it.
func TestUploadSessionsStore(t *testing.T) {
	t.Parallel()
	st, err := store.Open(store.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	up := st.Uploads()
	_, d := blobOf(15, 10)
	key := registry.UploadSession{Registry: "127.0.0.1:5000", Repository: "mirror/app", Digest: d.Digest, Size: d.Size}
	saved, release, err := up.Hold(t.Context(), key)
	if err != nil || saved.URL != "" {
		t.Fatalf("Hold of a new session = %+v, %v", saved, err)
	}
	s := key
	s.URL, s.Offset, s.Updated = "https://127.0.0.1:5000/v2/mirror/app/blobs/uploads/u?_state=x", 7, time.Now().UTC()
	if err := up.Save(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	// Held: another holder waits until its context ends.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := up.Hold(ctx, key); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a second Hold while held: %v, want the deadline", err)
	}
	release()
	other := key
	other.Repository = "mirror/other"
	if got, release, err := up.Hold(t.Context(), other); err != nil || got.URL != "" {
		t.Errorf("another repository's session = %+v, %v", got, err)
	} else {
		release()
	}
	got, release, err := up.Hold(t.Context(), key)
	if err != nil || got.URL != s.URL || got.Offset != 7 || !got.Updated.Equal(s.Updated) {
		t.Fatalf("Hold after Save = %+v, %v; want %+v", got, err, s)
	}
	if err := up.Remove(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	release()
	if got, release, err := up.Hold(t.Context(), key); err != nil || got.URL != "" {
		t.Errorf("Hold after Remove = %+v, %v", got, err)
	} else {
		release()
	}
	bad := key
	bad.Repository = "../../etc"
	if err := up.Save(t.Context(), bad); err == nil {
		t.Error("a repository name with .. was saved")
	}
	if _, err := os.Stat(filepath.Join(st.Dir(), "uploads", "127.0.0.1+5000")); err != nil {
		t.Errorf("sessions are not kept under uploads/<registry>: %v", err)
	}
}

// TestChunkedUpload: a registry that announces OCI-Chunk-Min-Length gets
// chunks of that size; a 416 to a chunk, a Range that does not advance or a
// 201 before the last chunk makes that upload go whole, and the client's
// later ones too.
func TestChunkedUpload(t *testing.T) {
	t.Parallel()
	const chunk = 5 << 20
	const size = 12 << 20 // chunks of 5, 5 and 2 MiB
	first, second, last := "0-5242879", "5242880-10485759", "10485760-12582911"
	rest := "5242880-12582911"
	answer := func(status int, header ...string) func(http.ResponseWriter, *http.Request) {
		return func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			for i := 0; i+1 < len(header); i += 2 {
				w.Header().Set(header[i], header[i+1])
			}
			w.WriteHeader(status)
		}
	}
	tests := []struct {
		name         string
		fault        func(http.ResponseWriter, *http.Request) // answers the second PATCH, if set
		want         []string                                 // Content-Range of each PATCH; "" for none
		wantRestarts int32
		chunksAfter  bool // the client's next upload is chunked
	}{
		{name: "chunks", want: []string{first, second, last}, chunksAfter: true},
		{name: "416 to the second chunk", fault: answer(416), want: []string{first, second, rest}},
		{name: "a Range that does not advance", fault: answer(202, "Range", "0-5242879"), want: []string{first, second, rest}},
		// The session refused, the blob starts again, whole (maxWhole): in the PUT, no PATCH.
		{name: "201 before the last chunk", fault: answer(201), want: []string{first, second}, wantRestarts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// On disk: the in-memory driver copies the blob so far at each chunk.
			reg := registrytest.New(t, registrytest.Config{TokenAuth: true, Dir: t.TempDir()})
			var mu sync.Mutex
			var ranges []string
			reg.Wrap(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					switch {
					case r.Method == http.MethodPost:
						w.Header().Set("OCI-Chunk-Min-Length", strconv.Itoa(chunk))
					case r.Method == http.MethodPatch && r.Header.Get("Authorization") != "":
						mu.Lock()
						ranges = append(ranges, r.Header.Get("Content-Range"))
						faulty := len(ranges) == 2 && tt.fault != nil
						mu.Unlock()
						if faulty {
							tt.fault(w, r)
							return
						}
					}
					next.ServeHTTP(w, r)
				})
			})
			cl := newClient(t, reg, alice)
			b, d := blobOf(17, size)
			r := mustRef(t, reg.Ref("team/app:1"))
			var restarts atomic.Int32
			err := cl.PushBlob(t.Context(), r, d, bytesSource(b), registry.PushOptions{
				Restarted: func(digest.Digest, int64, error) { restarts.Add(1) },
			})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			if strings.Join(ranges, " ") != strings.Join(tt.want, " ") {
				t.Errorf("PATCHes with Content-Range %q, want %q", ranges, tt.want)
			}
			ranges = nil
			mu.Unlock()
			if restarts.Load() != tt.wantRestarts {
				t.Errorf("%d restarts, want %d", restarts.Load(), tt.wantRestarts)
			}
			if got, err := readBlob(t, cl, r, d); err != nil || !bytes.Equal(got, b) {
				t.Fatalf("read back: %v", err)
			}

			b2, d2 := blobOf(18, size)
			if err := cl.PushBlob(t.Context(), r, d2, bytesSource(b2), registry.PushOptions{}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if chunked := len(ranges) > 1; chunked != tt.chunksAfter {
				t.Errorf("the next upload sent PATCHes %q; chunked: %v, want %v", ranges, chunked, tt.chunksAfter)
			}
		})
	}
}

// TestUploadStop: closing Stop ends the upload once the chunk in flight is
// acknowledged and saved; the next run sends only the rest.
func TestUploadStop(t *testing.T) {
	t.Parallel()
	const chunk = 5 << 20
	const size = 12 << 20
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true, Dir: t.TempDir()})
	stop := make(chan struct{})
	var patches atomic.Int32
	var received atomic.Int64
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.Method {
			case http.MethodPost:
				w.Header().Set("OCI-Chunk-Min-Length", strconv.Itoa(chunk))
			case http.MethodPatch:
				if patches.Add(1) == 2 {
					close(stop) // Ctrl-C while the second chunk is on its way
				}
				r.Body = countedBody{ReadCloser: r.Body, n: &received}
			}
			next.ServeHTTP(w, r)
		})
	})
	cache := t.TempDir()
	b, d := blobOf(19, size)
	to := mustRef(t, reg.Ref("team/app:1"))
	run := func(stop <-chan struct{}) error {
		st, err := store.Open(store.Config{Dir: cache})
		if err != nil {
			t.Fatal(err)
		}
		cl := newClient(t, reg, alice)
		return cl.PushBlob(t.Context(), to, d, bytesSource(b), registry.PushOptions{Sessions: st.Uploads(), Stop: stop})
	}
	err := run(stop)
	if !errors.Is(err, registry.ErrUploadStopped) || patches.Load() != 2 || received.Load() != 2*chunk {
		t.Fatalf("stopped run: %v after %d PATCHes and %d bytes; want ErrUploadStopped after 2 chunks", err, patches.Load(), received.Load())
	}
	if !strings.Contains(err.Error(), "10485760 of 12582912 bytes acknowledged") {
		t.Errorf("error %q does not say how much the registry holds", err)
	}
	received.Store(0)
	if err := run(nil); err != nil {
		t.Fatal(err)
	}
	if got := received.Load(); got != size-2*chunk {
		t.Errorf("the next run sent %d bytes, want the last %d", got, size-2*chunk)
	}
	cl := newClient(t, reg, alice)
	if got, err := readBlob(t, cl, to, d); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("read back: %v", err)
	}
}

// TestUploadStopWhole: Stop closed while the PUT that carries a small blob
// whole is on its way lets that request finish, which commits the blob:
// nothing is left to resume, and no second request is sent.
func TestUploadStopWhole(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true, Dir: t.TempDir()})
	stop := make(chan struct{})
	var log requestLog
	reg.Wrap(func(next http.Handler) http.Handler {
		return log.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut && r.ContentLength > 0 {
				close(stop) // Ctrl-C while the blob is on its way
			}
			next.ServeHTTP(w, r)
		}))
	})
	cache := t.TempDir()
	st, err := store.Open(store.Config{Dir: cache})
	if err != nil {
		t.Fatal(err)
	}
	b, d := blobOf(21, 3<<20)
	to := mustRef(t, reg.Ref("team/app:1"))
	cl := newClient(t, reg, alice)
	if err := cl.PushBlob(t.Context(), to, d, bytesSource(b), registry.PushOptions{Sessions: st.Uploads(), Stop: stop}); err != nil {
		t.Fatalf("stopped during the whole PUT: %v, want the blob committed", err)
	}
	if got := strings.Join(log.methods(), " "); got != "POST PUT" {
		t.Errorf("requests %q, want POST PUT", got)
	}
	if got, err := readBlob(t, cl, to, d); err != nil || !bytes.Equal(got, b) {
		t.Fatalf("read back: %v", err)
	}
	if sessions, _ := filepath.Glob(filepath.Join(cache, "uploads", "*", "team", "app", "*.json")); len(sessions) != 0 {
		t.Errorf("a session was kept for a committed blob: %v", sessions)
	}
}

// TestUploadWrongBytes: bytes that are not the blob's are refused at the
// PUT, and their session is forgotten, so that no later run resumes after
// them.
func TestUploadWrongBytes(t *testing.T) {
	t.Parallel()
	f := newUploadFixture(t)
	b, d := blobOf(20, 1<<20)
	wrong := bytes.Clone(b)
	wrong[len(wrong)/2] ^= 1
	err := f.run(t.Context(), t, wrong, d, registry.PushOptions{})
	if !errors.Is(err, registry.ErrDigestInvalid) || !strings.Contains(err.Error(), "refused the bytes sent as blob "+d.Digest.String()) {
		t.Fatalf("error %v, want DIGEST_INVALID naming the blob", err)
	}
	if sessions, _ := filepath.Glob(filepath.Join(f.cache, "uploads", "*", "mirror", "app", "*.json")); len(sessions) != 0 {
		t.Errorf("the refused bytes' session was kept: %v", sessions)
	}
	if err := f.run(t.Context(), t, b, d, registry.PushOptions{}); err != nil {
		t.Fatal(err)
	}
	f.checkPushed(t, b, d)
}

// TestPushUnreachable: a registry nobody answers ends the push at once with
// a *ConnError, the upload loop trying no second time.
func TestPushUnreachable(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := ln.Addr().String()
	ln.Close() // refused from now on
	cl, err := registry.New(registry.Config{Registry: host, PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	b, d := blobOf(22, 100)
	start := time.Now()
	err = cl.PushBlob(t.Context(), mustRef(t, host+"/team/app:1"), d, bytesSource(b), registry.PushOptions{})
	var ce *registry.ConnError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want a *registry.ConnError", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("a refused push took %s", d)
	}
}

// TestUploadSourceFails: a source whose bytes are not the blob's ends the
// upload with the source's error, before the registry has the whole blob,
// so that it can commit nothing; the session is forgotten. Both ways up: the
// PUT that carries a small blob, the PATCH of a large one.
func TestUploadSourceFails(t *testing.T) {
	t.Parallel()
	const small, large = 1 << 20, 16<<20 + 1 // large > maxWhole
	tests := []struct {
		name   string
		size   int
		source func(t *testing.T, b []byte, d image.Descriptor) registry.BlobSource
		want   func(error) bool
	}{
		{"a registry copied from that serves a flipped byte, small", small, flipped, isDigestError},
		{"a registry copied from that serves a flipped byte, large", large, flipped, isDigestError},
		{"a verifying source that fails with its last bytes, small", small, failsAtEnd, isDigestError},
		{"a verifying source that fails with its last bytes, large", large, failsAtEnd, isDigestError},
		{"a source that goes on past the blob, small", small, longer, isSizeError},
		{"a source that goes on past the blob, large", large, longer, isSizeError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, d := blobOf(int64(tt.size), tt.size)
			f := newUploadFixture(t)
			err := f.runFrom(t.Context(), t, tt.source(t, b, d), d, registry.PushOptions{})
			if !tt.want(err) {
				t.Fatalf("error %v, want the source's", err)
			}
			if got := f.front.received.Load(); got >= d.Size {
				t.Errorf("the registry read %d bytes of %d: it had the whole blob", got, d.Size)
			}
			if ok, err := newClient(t, f.reg, alice).BlobExists(t.Context(), f.to, d); ok || err != nil {
				t.Errorf("the registry holds the blob (%v)", err)
			}
			if sessions, _ := filepath.Glob(filepath.Join(f.cache, "uploads", "*", "mirror", "app", "*.json")); len(sessions) != 0 {
				t.Errorf("the failed upload's session was kept: %v", sessions)
			}
		})
	}
}

// flipped is blob d read from a registry that serves it with its last byte
// flipped.
func flipped(t *testing.T, b []byte, d image.Descriptor) registry.BlobSource {
	src := registrytest.New(t, registrytest.Config{TokenAuth: true})
	if _, err := src.PushBlob(t.Context(), "team/app", b); err != nil {
		t.Fatal(err)
	}
	src.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !registrytest.IsBlobGET(r) {
				next.ServeHTTP(w, r)
				return
			}
			rec := registrytest.Record(next, r)
			body := rec.Body.Bytes()
			body[len(body)-1] ^= 1
			registrytest.CopyHeader(w, rec)
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	})
	return newClient(t, src, auth.Credential{}).BlobSource(mustRef(t, src.Ref("team/app:1")), d)
}

// failsAtEnd is a flipped blob through image.VerifyReader over a reader
// that returns its last bytes with io.EOF: the digest error comes with them.
func failsAtEnd(_ *testing.T, b []byte, d image.Descriptor) registry.BlobSource {
	b = bytes.Clone(b)
	b[len(b)-1] ^= 1
	return registry.BlobSourceFunc(func(_ context.Context, off int64) (io.ReadCloser, error) {
		if off != 0 {
			return nil, fmt.Errorf("asked for offset %d", off)
		}
		return io.NopCloser(image.VerifyReader(iotest.DataErrReader(bytes.NewReader(b)), d, "blob")), nil
	})
}

func longer(_ *testing.T, b []byte, _ image.Descriptor) registry.BlobSource {
	return bytesSource(append(bytes.Clone(b), 'x'))
}

func isDigestError(err error) bool {
	var de *image.DigestError
	return errors.As(err, &de)
}

func isSizeError(err error) bool {
	var se *image.SizeError
	return errors.As(err, &se)
}
