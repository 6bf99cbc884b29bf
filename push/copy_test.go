package push_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/push"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/store"
)

var alice = auth.Credential{Username: registrytest.Alice, Password: registrytest.AlicePassword}

func newClient(t testing.TB, reg *registrytest.Registry, cred auth.Credential) *registry.Client {
	t.Helper()
	cl, err := registry.New(registry.Config{
		Registry:    reg.Host(),
		Creds:       auth.Static{Registry: reg.Host(), Cred: cred},
		Retry:       registry.RetryPolicy{Base: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
		IdleTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func mustRef(t testing.TB, s string) ref.Reference {
	t.Helper()
	r, err := ref.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustRepo(t testing.TB, s string) ref.Reference {
	t.Helper()
	r, err := ref.ParseRepository(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// config reads anonymously from any of regs and writes as alice.
func config(t testing.TB, regs ...*registrytest.Registry) push.Config {
	byHost := map[string]*registrytest.Registry{}
	for _, r := range regs {
		byHost[r.Host()] = r
	}
	return push.Config{
		Source: func(name string) (push.Reader, error) { return newClient(t, byHost[name], auth.Credential{}), nil },
		Dest:   func(name string) (*registry.Client, error) { return newClient(t, byHost[name], alice), nil },
	}
}

// requestLog records what a registry is asked by the code under test (not
// the token dance's 401s, not registrytest's own requests), and the blob
// bytes it reads (sendsBytes).
type requestLog struct {
	mu      sync.Mutex
	reqs    []string
	patched atomic.Int64
}

func (l *requestLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sendsBytes(r) {
			r.Body = countedBody{r.Body, &l.patched}
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		if sw.status == http.StatusUnauthorized {
			return
		}
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
	})
}

func (l *requestLog) reset() {
	l.mu.Lock()
	l.reqs = nil
	l.mu.Unlock()
	l.patched.Store(0)
}

func (l *requestLog) methods() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := map[string]int{}
	for _, r := range l.reqs {
		method, _, _ := strings.Cut(r, " ")
		m[method]++
	}
	return m
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

type countedBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// checkServed reads p back from cl at r (and each of an index's children by
// digest) and holds every manifest to the bytes pushed, every blob to its
// digest.
func checkServed(t *testing.T, cl *registry.Client, r ref.Reference, p registrytest.Pushed) {
	t.Helper()
	m, err := cl.Manifest(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.Body, p.Manifest) || m.Descriptor.MediaType != p.MediaType {
		t.Fatalf("%s: manifest read back is %s %s, want %s %s", r, m.Descriptor.MediaType, m.Descriptor.Digest, p.MediaType, p.Digest)
	}
	for _, child := range p.Manifests {
		checkServed(t, cl, r.WithDigest(child.Digest), child)
	}
	for _, d := range append([]ocispec.Descriptor{p.Config}, p.Layers...) {
		if d.Digest == "" {
			continue
		}
		rc, err := cl.Blob(t.Context(), r, d)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.Copy(io.Discard, rc) // verified at EOF
		rc.Close()
		if err != nil {
			t.Fatalf("blob %s: %v", d.Digest, err)
		}
	}
}

// blobCount is how many distinct blobs p's manifests name.
func blobCount(p registrytest.Pushed) int {
	seen := map[digest.Digest]bool{}
	var walk func(p registrytest.Pushed)
	walk = func(p registrytest.Pushed) {
		for _, d := range append([]ocispec.Descriptor{p.Config}, p.Layers...) {
			if d.Digest != "" {
				seen[d.Digest] = true
			}
		}
		for _, c := range p.Manifests {
			walk(c)
		}
	}
	walk(p)
	return len(seen)
}

func platformImages(oci bool) registrytest.IndexSpec {
	amd := registrytest.RandomImage(21, 2, 40<<10)
	arm := registrytest.RandomImage(22, 1, 40<<10)
	arm.Platform = ocispec.Platform{OS: "linux", Architecture: "arm64"}
	return registrytest.IndexSpec{Images: []registrytest.Image{amd, arm}, OCI: oci, Attestation: oci}
}

// TestCopyKeepsDigests copies images and indexes between two token-auth
// registries and reads everything back byte-exact; a second copy finds the
// destination up to date with a HEAD at each end and asks nothing else.
func TestCopyKeepsDigests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		push func(t *testing.T, reg *registrytest.Registry) registrytest.Pushed
	}{
		{"docker image", func(t *testing.T, reg *registrytest.Registry) registrytest.Pushed {
			return reg.MustPush(t, "team/app:1", registrytest.RandomImage(1, 3, 100<<10))
		}},
		{"oci image", func(t *testing.T, reg *registrytest.Registry) registrytest.Pushed {
			img := registrytest.RandomImage(2, 2, 100<<10)
			img.OCI = true
			return reg.MustPush(t, "team/app:1", img)
		}},
		{"oci index with attestations", func(t *testing.T, reg *registrytest.Registry) registrytest.Pushed {
			return reg.MustPushIndex(t, "team/app:1", platformImages(true))
		}},
		{"docker manifest list", func(t *testing.T, reg *registrytest.Registry) registrytest.Pushed {
			return reg.MustPushIndex(t, "team/app:1", platformImages(false))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := registrytest.New(t, registrytest.Config{TokenAuth: true})
			dst := registrytest.New(t, registrytest.Config{TokenAuth: true})
			want := tt.push(t, src)
			var srcLog, dstLog requestLog
			src.Wrap(srcLog.wrap)
			dst.Wrap(dstLog.wrap)
			c := config(t, src, dst)
			res, err := push.Copy(t.Context(), mustRef(t, src.Ref("team/app:1")), mustRepo(t, dst.Ref("mirror/app")), c)
			if err != nil {
				t.Fatal(err)
			}
			to := mustRef(t, dst.Ref("mirror/app:1"))
			if res.Digest != want.Digest || res.Destination != to || res.UpToDate {
				t.Errorf("result %s at %s (up to date %v), want %s at %s", res.Digest, res.Destination, res.UpToDate, want.Digest, to)
			}
			if n := blobCount(want); res.Pushed.Blobs != n || res.Skipped.Blobs != 0 || res.Mounted.Blobs != 0 {
				t.Errorf("pushed %d, skipped %d, mounted %d blobs; want %d pushed", res.Pushed.Blobs, res.Skipped.Blobs, res.Mounted.Blobs, n)
			}
			if wantM := 1 + len(want.Manifests); res.Manifests != wantM {
				t.Errorf("%d manifests put, want %d", res.Manifests, wantM)
			}
			if n := slices.Index(dstLog.reqs, "HEAD /v2/mirror/app/manifests/1"); n < 0 || slices.Contains(dstLog.reqs[n+1:], dstLog.reqs[n]) {
				t.Errorf("the destination's tag was asked for other than once: %v", dstLog.reqs)
			}
			srcLog.reset()
			dstLog.reset()
			again, err := push.Copy(t.Context(), mustRef(t, src.Ref("team/app:1")), mustRepo(t, dst.Ref("mirror/app")), c)
			if err != nil {
				t.Fatal(err)
			}
			if !again.UpToDate || again.Digest != want.Digest || again.Pushed.Blobs != 0 {
				t.Errorf("second copy: %+v, want up to date", again)
			}
			for name, log := range map[string]*requestLog{"source": &srcLog, "destination": &dstLog} {
				if got := log.methods(); len(got) != 1 || got[http.MethodHead] != 1 {
					t.Errorf("second copy asked the %s %v, want one HEAD", name, log.reqs)
				}
			}
			checkServed(t, newClient(t, dst, alice), to, want)
		})
	}
}

// TestCopyWithinRegistryMounts: a copy between two repositories of one
// registry mounts every blob; no byte is uploaded.
func TestCopyWithinRegistryMounts(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	want := reg.MustPushIndex(t, "team/app:1", platformImages(true))
	var log requestLog
	reg.Wrap(log.wrap)
	res, err := push.Copy(t.Context(), mustRef(t, reg.Ref("team/app:1")), mustRef(t, reg.Ref("other/app:2")), config(t, reg))
	if err != nil {
		t.Fatal(err)
	}
	if n := blobCount(want); res.Mounted.Blobs != n || res.Pushed.Blobs != 0 {
		t.Errorf("mounted %d, pushed %d blobs; want %d mounted", res.Mounted.Blobs, res.Pushed.Blobs, n)
	}
	if m := log.methods(); m[http.MethodPatch] != 0 || log.patched.Load() != 0 {
		t.Errorf("the registry was sent uploads: %v", log.reqs)
	}
	checkServed(t, newClient(t, reg, alice), mustRef(t, reg.Ref("other/app:2")), want)
}

// TestCopyPlatform: --platform writes the child manifest, its own digest,
// under the destination tag.
func TestCopyPlatform(t *testing.T) {
	t.Parallel()
	src := registrytest.New(t, registrytest.Config{TokenAuth: true})
	dst := registrytest.New(t, registrytest.Config{TokenAuth: true})
	idx := src.MustPushIndex(t, "team/app:1", platformImages(true))
	arm := idx.Manifests[1]
	c := config(t, src, dst)
	c.Platform = &ocispec.Platform{OS: "linux", Architecture: "arm64"}
	res, err := push.Copy(t.Context(), mustRef(t, src.Ref("team/app:1")), mustRef(t, dst.Ref("mirror/app:arm")), c)
	if err != nil {
		t.Fatal(err)
	}
	if res.Digest != arm.Digest || res.Platform != "linux/arm64" || res.Manifests != 1 {
		t.Errorf("copied %s (%q, %d manifests), want the arm64 child %s alone", res.Digest, res.Platform, res.Manifests, arm.Digest)
	}
	checkServed(t, newClient(t, dst, alice), mustRef(t, dst.Ref("mirror/app:arm")), arm)

	// An image that is no index, built for amd64, is not an arm64 image.
	src.MustPush(t, "team/single:1", registrytest.RandomImage(23, 1, 1<<10))
	_, err = push.Copy(t.Context(), mustRef(t, src.Ref("team/single:1")), mustRef(t, dst.Ref("mirror/single:arm")), c)
	var pe *image.PlatformError
	if !errors.As(err, &pe) {
		t.Errorf("copy --platform linux/arm64 of an amd64 image: %v, want an *image.PlatformError", err)
	}
}

// TestCopyAllTags copies every tag of a repository, each to its own tag.
func TestCopyAllTags(t *testing.T) {
	t.Parallel()
	src := registrytest.New(t, registrytest.Config{TokenAuth: true})
	dst := registrytest.New(t, registrytest.Config{TokenAuth: true})
	want := map[string]registrytest.Pushed{
		"1":   src.MustPush(t, "team/app:1", registrytest.RandomImage(31, 1, 1000)),
		"2":   src.MustPush(t, "team/app:2", registrytest.RandomImage(32, 1, 1000)),
		"dev": src.MustPushIndex(t, "team/app:dev", platformImages(true)),
	}
	res, err := push.CopyAllTags(t.Context(), mustRepo(t, src.Ref("team/app")), mustRepo(t, dst.Ref("mirror/app")),
		newClient(t, src, auth.Credential{}), config(t, src, dst))
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(want) {
		t.Fatalf("%d copies, want %d", len(res), len(want))
	}
	cl := newClient(t, dst, alice)
	for tag, p := range want {
		checkServed(t, cl, mustRef(t, dst.Ref("mirror/app:"+tag)), p)
	}
	if _, err := push.CopyAllTags(t.Context(), mustRepo(t, src.Ref("team/app")), mustRef(t, dst.Ref("mirror/app:x")),
		newClient(t, src, auth.Credential{}), config(t, src, dst)); err == nil {
		t.Error("every tag into one tag: no error")
	}
}

// TestCopyWithoutPushScope: a destination that grants no push says which
// scope was asked and how to log in.
func TestCopyWithoutPushScope(t *testing.T) {
	t.Parallel()
	src := registrytest.New(t, registrytest.Config{TokenAuth: true})
	dst := registrytest.New(t, registrytest.Config{TokenAuth: true})
	src.MustPush(t, "team/app:1", registrytest.RandomImage(41, 1, 1000))
	c := config(t, src, dst)
	c.Dest = func(string) (*registry.Client, error) { return newClient(t, dst, auth.Credential{}), nil }
	_, err := push.Copy(t.Context(), mustRef(t, src.Ref("team/app:1")), mustRef(t, dst.Ref("mirror/app:1")), c)
	var e *registry.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is no *registry.Error", err)
	}
	scope := strings.Replace(e.Scope, "push,pull", "pull,push", 1)
	if !strings.Contains(scope, "repository:mirror/app:pull,push") || !strings.Contains(e.Hint(), "haul login "+dst.Host()) {
		t.Errorf("scope %q, hint %q: want push on mirror/app and haul login", e.Scope, e.Hint())
	}
}

// TestCopyDigestMismatch: a destination pinned to another digest is refused
// before anything is put.
func TestCopyDigestMismatch(t *testing.T) {
	t.Parallel()
	src := registrytest.New(t, registrytest.Config{TokenAuth: true})
	dst := registrytest.New(t, registrytest.Config{TokenAuth: true})
	src.MustPush(t, "team/app:1", registrytest.RandomImage(51, 1, 1000))
	other := digest.FromString("other")
	_, err := push.Copy(t.Context(), mustRef(t, src.Ref("team/app:1")), mustRef(t, dst.Ref("mirror/app@"+other.String())), config(t, src, dst))
	if err == nil || !strings.Contains(err.Error(), "keeps digests") {
		t.Errorf("error %v, want a refusal that keeps digests", err)
	}
}

// cutFront cuts the first PATCH larger than min after cutAt bytes, and
// runs onCut (the test's kill of the copy) before the connection closes.
type cutFront struct {
	min, cutAt int64
	onCut      func()
	done       atomic.Bool
}

func (f *cutFront) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !sendsBytes(r) || r.ContentLength <= f.min || f.done.Swap(true) {
			next.ServeHTTP(w, r)
			return
		}
		r.Body = io.NopCloser(io.MultiReader(io.LimitReader(r.Body, f.cutAt), errReader{}))
		registrytest.Record(next, r) // the registry reads cutAt bytes, then the body fails; its answer is dropped
		f.onCut()
		panic(http.ErrAbortHandler)
	})
}

// sendsBytes: r carries a blob's bytes, in a PATCH or, for a blob sent
// whole, in the PUT that commits it.
func sendsBytes(r *http.Request) bool {
	return r.Method == http.MethodPatch || r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/blobs/uploads/") && r.ContentLength > 0
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection cut by the test") }

// TestCopyResumes: a copy cut mid-blob and run again with the same sessions
// sends the registry only the rest of that blob, and its progress never
// goes backwards.
func TestCopyResumes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		reader func(*registry.Client) push.Reader
	}{
		{"the source read by Range", func(cl *registry.Client) push.Reader { return cl }},
		// A mirror.Source reads no Range: the rest comes from reading the blob from byte 0.
		{"a source without Range", func(cl *registry.Client) push.Reader { return readerOnly{cl} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testCopyResumes(t, tt.reader)
		})
	}
}

// readerOnly hides all but push.Reader's methods and Referrers, as a
// mirror.Source has.
type readerOnly struct{ push.Reader }

func (r readerOnly) Referrers(ctx context.Context, at ref.Reference, subject ocispec.Descriptor, opts registry.ReferrersOptions) ([]registry.Referrer, error) {
	return r.Reader.(push.ReferrerReader).Referrers(ctx, at, subject, opts)
}

func testCopyResumes(t *testing.T, reader func(*registry.Client) push.Reader) {
	src := registrytest.New(t, registrytest.Config{TokenAuth: true})
	dst := registrytest.New(t, registrytest.Config{TokenAuth: true, Dir: t.TempDir()})
	const size = 3 << 20
	img := registrytest.RandomImage(61, 1, size)
	img.Layers[0] = randomBytes(size) // an uncompressed layer of exactly size bytes
	want := src.MustPush(t, "team/app:1", img)
	layer := want.Layers[0]
	cache := t.TempDir()
	run := func(ctx context.Context, progress func(push.Event)) (*push.Result, error) {
		st, err := store.Open(store.Config{Dir: cache})
		if err != nil {
			t.Fatal(err)
		}
		c := config(t, src, dst)
		c.Source = func(string) (push.Reader, error) { return reader(newClient(t, src, auth.Credential{})), nil }
		c.Sessions, c.Jobs, c.Progress = st.Uploads(), 1, progress
		return push.Copy(ctx, mustRef(t, src.Ref("team/app:1")), mustRef(t, dst.Ref("mirror/app:1")), c)
	}

	const cutAt = size / 2
	ctx, cancel := context.WithCancel(t.Context())
	front := &cutFront{min: 1 << 20, cutAt: cutAt, onCut: cancel}
	dst.Wrap(front.wrap)
	if _, err := run(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("the cut copy ended with %v, want context.Canceled", err)
	}
	cancel()

	var log requestLog
	dst.Wrap(log.wrap)
	var shown int64
	var backwards bool
	res, err := run(t.Context(), func(ev push.Event) {
		if ev.Kind == push.BlobBytes && ev.Digest == layer.Digest {
			if ev.N <= 0 {
				backwards = true
			}
			shown += ev.N
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := log.patched.Load(); got != layer.Size-cutAt {
		t.Errorf("the second run sent %d bytes, want the %d left after the cut", got, layer.Size-cutAt)
	}
	if res.Resumed != cutAt || res.Skipped.Blobs != 1 || res.Pushed.Blobs != 1 {
		t.Errorf("resumed %d bytes, skipped %d and pushed %d blobs; want %d resumed, the config skipped, the layer pushed", res.Resumed, res.Skipped.Blobs, res.Pushed.Blobs, cutAt)
	}
	if backwards || shown != layer.Size {
		t.Errorf("progress showed %d bytes of %d (backwards: %v)", shown, layer.Size, backwards)
	}
	checkServed(t, newClient(t, dst, alice), mustRef(t, dst.Ref("mirror/app:1")), want)
}

// TestCopyStop: a Stop closed before the copy puts nothing and says a later
// run resumes.
func TestCopyStop(t *testing.T) {
	t.Parallel()
	src := registrytest.New(t, registrytest.Config{TokenAuth: true})
	dst := registrytest.New(t, registrytest.Config{TokenAuth: true})
	src.MustPush(t, "team/app:1", registrytest.RandomImage(71, 2, 1000))
	c := config(t, src, dst)
	stop := make(chan struct{})
	close(stop)
	c.Stop = stop
	_, err := push.Copy(t.Context(), mustRef(t, src.Ref("team/app:1")), mustRef(t, dst.Ref("mirror/app:1")), c)
	if !errors.Is(err, registry.ErrUploadStopped) {
		t.Fatalf("error %v, want ErrUploadStopped", err)
	}
	if _, ok, _ := newClient(t, dst, alice).ManifestExists(t.Context(), mustRef(t, dst.Ref("mirror/app:1"))); ok {
		t.Error("a stopped copy put the manifest")
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	var x uint32 = 2463534242
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// TestCopyDestination: what DST leaves out, SRC gives; a digest goes by digest.
func TestCopyDestination(t *testing.T) {
	t.Parallel()
	src := registrytest.New(t, registrytest.Config{TokenAuth: true})
	dst := registrytest.New(t, registrytest.Config{TokenAuth: true})
	p := src.MustPush(t, "team/app:1", registrytest.RandomImage(81, 1, 1000))
	pinned := src.Ref("team/app@" + p.Digest.String())
	tests := []struct {
		src, dst, want string
		tagged         string // a tag that must name the image afterwards; "": none
	}{
		{src: src.Ref("team/app:1"), dst: "a", want: "a:1", tagged: "1"},
		{src: src.Ref("team/app:1"), dst: "b:2", want: "b:2", tagged: "2"},
		{src: pinned, dst: "c", want: "c@" + p.Digest.String()},
		{src: pinned, dst: "d:3", want: "d:3", tagged: "3"},
		{src: src.Ref("team/app:1"), dst: "e@" + p.Digest.String(), want: "e@" + p.Digest.String()},
	}
	cl := newClient(t, dst, alice)
	for _, tt := range tests {
		t.Run(tt.src+" to "+tt.dst, func(t *testing.T) {
			t.Parallel()
			d, err := ref.Parse(dst.Ref(tt.dst))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.ContainsAny(tt.dst, ":@") {
				d = mustRepo(t, dst.Ref(tt.dst))
			}
			res, err := push.Copy(t.Context(), mustRef(t, tt.src), d, config(t, src, dst))
			if err != nil {
				t.Fatal(err)
			}
			if want := mustRef(t, dst.Ref(tt.want)); res.Destination != want || res.Digest != p.Digest {
				t.Errorf("copied to %s (%s), want %s (%s)", res.Destination, res.Digest, want, p.Digest)
			}
			repo := mustRepo(t, d.Name())
			tags, err := cl.Tags(t.Context(), repo)
			var re *registry.Error
			if err != nil && !(tt.tagged == "" && errors.As(err, &re) && re.Status == http.StatusNotFound) {
				t.Fatal(err) // distribution answers 404 for a repository without tags
			}
			if want := []string{tt.tagged}; (tt.tagged == "" && len(tags) != 0) || (tt.tagged != "" && (len(tags) != 1 || tags[0] != want[0])) {
				t.Errorf("tags %v, want %q", tags, tt.tagged)
			}
			checkServed(t, cl, repo.WithDigest(p.Digest), p)
		})
	}
}

// TestCopyRestarted: a saved session the registry refuses (here a 404 to
// its status request, as for an expired session) starts the blob again
// from byte 0, once, with an event saying so; the progress shown does not
// go back.
func TestCopyRestarted(t *testing.T) {
	t.Parallel()
	src := registrytest.New(t, registrytest.Config{TokenAuth: true})
	dst := registrytest.New(t, registrytest.Config{TokenAuth: true, Dir: t.TempDir()})
	const size = 2 << 20
	img := registrytest.RandomImage(62, 1, size)
	img.Layers[0] = randomBytes(size)
	want := src.MustPush(t, "team/app:1", img)
	layer := want.Layers[0]
	cache := t.TempDir()
	run := func(ctx context.Context, progress func(push.Event)) error {
		st, err := store.Open(store.Config{Dir: cache})
		if err != nil {
			t.Fatal(err)
		}
		c := config(t, src, dst)
		c.Sessions, c.Jobs, c.Progress = st.Uploads(), 1, progress
		_, err = push.Copy(ctx, mustRef(t, src.Ref("team/app:1")), mustRef(t, dst.Ref("mirror/app:1")), c)
		return err
	}
	ctx, cancel := context.WithCancel(t.Context())
	dst.Wrap((&cutFront{min: 1 << 20, cutAt: size / 2, onCut: cancel}).wrap)
	if err := run(ctx, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("the cut copy ended with %v, want context.Canceled", err)
	}
	cancel()

	var log requestLog
	dst.Wrap(func(next http.Handler) http.Handler {
		return log.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/uploads/") {
				http.Error(w, `{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN","message":"expired"}]}`, http.StatusNotFound)
				return
			}
			next.ServeHTTP(w, r)
		}))
	})
	var restarts int
	var shown int64
	err := run(t.Context(), func(ev push.Event) {
		switch {
		case ev.Kind == push.Restarted:
			restarts++
		case ev.Kind == push.BlobBytes && ev.Digest == layer.Digest:
			shown += ev.N
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if restarts != 1 || shown != layer.Size || log.patched.Load() != layer.Size {
		t.Errorf("%d restarts, %d bytes shown, %d sent; want 1 restart, the blob's %d bytes shown once and sent whole", restarts, shown, log.patched.Load(), layer.Size)
	}
	checkServed(t, newClient(t, dst, alice), mustRef(t, dst.Ref("mirror/app:1")), want)
}

// threePlatforms is an OCI index of linux/amd64, linux/arm64 and
// linux/s390x images, each with a buildx-style attestation.
func threePlatforms() registrytest.IndexSpec {
	spec := registrytest.IndexSpec{OCI: true, Attestation: true}
	for i, arch := range []string{"amd64", "arm64", "s390x"} {
		img := registrytest.RandomImage(int64(90+i), 1, 20<<10)
		img.Platform = ocispec.Platform{OS: "linux", Architecture: arch}
		spec.Images = append(spec.Images, img)
	}
	return spec
}

// TestCopyPlatforms: Config.Platforms copies the images an index has for
// those platforms and their attestations, by digest, then the index as
// read. A registry that takes an index whatever it lacks
// (indexes.platforms: none) then serves the source's index digest; one that
// requires every image (distribution's default) refuses it with an
// *IncompleteIndexError naming what was copied. A platform the index lacks
// is refused before anything is put; an image that is no index goes whole
// if it is built for one of the platforms.
func TestCopyPlatforms(t *testing.T) {
	t.Parallel()
	amd64, arm64 := ocispec.Platform{OS: "linux", Architecture: "amd64"}, ocispec.Platform{OS: "linux", Architecture: "arm64"}
	s390x, ppc := ocispec.Platform{OS: "linux", Architecture: "s390x"}, ocispec.Platform{OS: "linux", Architecture: "ppc64le"}
	src := registrytest.New(t, registrytest.Config{TokenAuth: true})
	idx := src.MustPushIndex(t, "team/multi:1", threePlatforms())
	img := src.MustPush(t, "team/app:1", registrytest.RandomImage(95, 1, 1000)) // linux/amd64
	tests := []struct {
		name           string
		src            string
		platforms      []ocispec.Platform
		indexPlatforms string // the destination's validation.manifests.indexes.platforms
		want           registrytest.Pushed
		kept, left     []registrytest.Pushed // manifests the destination must, and must not, hold
		err            func(t *testing.T, err error)
	}{
		{name: "two of three, accepted", src: "team/multi:1", platforms: []ocispec.Platform{arm64, amd64}, indexPlatforms: "none",
			want: idx, kept: []registrytest.Pushed{idx.Manifests[0], idx.Manifests[1], idx.Manifests[3], idx.Manifests[4]},
			left: []registrytest.Pushed{idx.Manifests[2], idx.Manifests[5]}},
		{name: "two of three, refused", src: "team/multi:1", platforms: []ocispec.Platform{amd64, arm64},
			kept: []registrytest.Pushed{idx.Manifests[0], idx.Manifests[1], idx.Manifests[3], idx.Manifests[4]},
			left: []registrytest.Pushed{idx, idx.Manifests[2], idx.Manifests[5]},
			err: func(t *testing.T, err error) {
				var ie *push.IncompleteIndexError
				if !errors.As(err, &ie) {
					t.Fatalf("error %v, want an *IncompleteIndexError", err)
				}
				if !errors.Is(err, registry.ErrManifestBlobUnknown) {
					t.Errorf("error %v does not wrap the registry's MANIFEST_BLOB_UNKNOWN", err)
				}
				for _, s := range []string{"requires every image an index lists", idx.Digest.String(), "lists 3 images",
					"linux/amd64 " + idx.Manifests[0].Digest.String(), "linux/arm64 " + idx.Manifests[1].Digest.String(), "list one platform"} {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q lacks %q", err, s)
					}
				}
			}},
		{name: "every platform, a whole index", src: "team/multi:1", platforms: []ocispec.Platform{s390x, amd64, arm64},
			want: idx, kept: idx.Manifests},
		{name: "a platform the index lacks", src: "team/multi:1", platforms: []ocispec.Platform{amd64, ppc},
			left: []registrytest.Pushed{idx, idx.Manifests[0]},
			err: func(t *testing.T, err error) {
				var nm *image.NoMatchError
				if !errors.As(err, &nm) || !strings.Contains(err.Error(), "linux/amd64, linux/arm64, linux/s390x") {
					t.Errorf("error %v, want an *image.NoMatchError naming the index's platforms", err)
				}
			}},
		{name: "an image built for one of them", src: "team/app:1", platforms: []ocispec.Platform{arm64, amd64}, want: img},
		{name: "an image built for none of them", src: "team/app:1", platforms: []ocispec.Platform{arm64, s390x},
			left: []registrytest.Pushed{img},
			err: func(t *testing.T, err error) {
				var pe *image.PlatformError
				if !errors.As(err, &pe) || pe.Have.Architecture != "amd64" {
					t.Errorf("error %v, want an *image.PlatformError for linux/amd64", err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := registrytest.New(t, registrytest.Config{TokenAuth: true, IndexPlatforms: tt.indexPlatforms})
			c := config(t, src, dst)
			c.Platforms = tt.platforms
			to := mustRef(t, dst.Ref("mirror/app:1"))
			res, err := push.Copy(t.Context(), mustRef(t, src.Ref(tt.src)), to, c)
			cl := newClient(t, dst, alice)
			for _, p := range tt.left {
				if _, ok, err := cl.ManifestExists(t.Context(), to.WithDigest(p.Digest)); err != nil || ok {
					t.Errorf("the destination holds %s (%v), which was to be left out", p.Digest, err)
				}
			}
			for _, p := range tt.kept {
				checkServed(t, cl, to.WithDigest(p.Digest), p)
			}
			if tt.err != nil {
				tt.err(t, err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Digest != tt.want.Digest {
				t.Errorf("copied %s, want %s", res.Digest, tt.want.Digest)
			}
			served := tt.want
			served.Manifests = nil         // the children kept are checked above, and the others are not there
			checkServed(t, cl, to, served) // the index as read, or the image
			if len(tt.kept) > 0 && (res.Subset == nil || len(res.Subset.Kept) != len(tt.kept)) {
				t.Errorf("result's subset %+v, want %d entries kept", res.Subset, len(tt.kept))
			}
		})
	}
}

// TestKeepPlatforms: what a list of platforms keeps of an index, in the
// index's order, attestations with their images, each image once.
func TestKeepPlatforms(t *testing.T) {
	t.Parallel()
	d := func(s string) digest.Digest { return digest.FromString(s) }
	entry := func(name, platform string) image.Descriptor {
		e := image.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d(name), Size: 1}
		if platform != "" {
			parts := append(strings.Split(platform, "/"), "")
			e.Platform = &image.Platform{OS: parts[0], Architecture: parts[1], Variant: parts[2]} // as written: linux/arm64/v8 stays
		}
		return e
	}
	attestation := func(name, of string) image.Descriptor {
		e := entry(name, "unknown/unknown")
		e.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": d(of).String()}
		return e
	}
	idx := &image.Index{Manifests: []image.Descriptor{
		entry("amd", "linux/amd64"), entry("arm", "linux/arm64/v8"), entry("arm7", "linux/arm/v7"),
		attestation("att-amd", "amd"), attestation("att-arm", "arm"), attestation("att-x", "elsewhere"),
	}}
	tests := []struct {
		platforms  string
		platformsK string // Subset.Platforms
		kept       string
		images     int
		err        bool
	}{
		{platforms: "linux/arm64,linux/amd64", platformsK: "linux/arm64/v8 linux/amd64", kept: "amd arm att-amd att-arm", images: 3},
		{platforms: "linux/arm/v7,linux/arm/v7", platformsK: "linux/arm/v7", kept: "arm7", images: 3},
		{platforms: "linux/amd64,linux/arm64,linux/arm/v7", platformsK: "linux/amd64 linux/arm64/v8 linux/arm/v7", kept: "amd arm arm7 att-amd att-arm", images: 3},
		{platforms: "linux/amd64,windows/amd64", err: true},
	}
	names := map[digest.Digest]string{}
	for _, e := range idx.Manifests {
		for _, n := range []string{"amd", "arm", "arm7", "att-amd", "att-arm", "att-x"} {
			if e.Digest == d(n) {
				names[e.Digest] = n
			}
		}
	}
	for _, tt := range tests {
		t.Run(tt.platforms, func(t *testing.T) {
			t.Parallel()
			var want []image.Platform
			for _, s := range strings.Split(tt.platforms, ",") {
				p, err := image.ParsePlatform(s)
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, p)
			}
			sub, err := push.KeepPlatforms(idx, want)
			if tt.err {
				var nm *image.NoMatchError
				if !errors.As(err, &nm) {
					t.Fatalf("error %v, want an *image.NoMatchError", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kept []string
			for _, e := range sub.Kept {
				kept = append(kept, names[e.Digest])
			}
			if got := strings.Join(kept, " "); got != tt.kept || strings.Join(sub.Platforms, " ") != tt.platformsK || sub.Images != tt.images {
				t.Errorf("kept %q, platforms %q, %d images; want %q, %q, %d", got, sub.Platforms, sub.Images, tt.kept, tt.platformsK, tt.images)
			}
			if len(sub.Kept)+len(sub.Left) != len(idx.Manifests) || sub.Whole() {
				t.Errorf("%d kept and %d left of %d entries (whole: %v)", len(sub.Kept), len(sub.Left), len(idx.Manifests), sub.Whole())
			}
		})
	}
}
