package registry_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/store"
)

// The child of TestUploadKilledResumes is this test binary, run again with
// these set.
const (
	uploadKillRegistryEnv = "HAUL_UPLOAD_KILL_REGISTRY" // the registry's host:port
	uploadKillCacheEnv    = "HAUL_UPLOAD_KILL_CACHE"    // the store directory
	uploadKillSizeEnv     = "HAUL_UPLOAD_KILL_SIZE"     // the blob's size (its bytes: blobOf(21, size))
)

// TestUploadKillHelper is not a test: it is the push that
// TestUploadKilledResumes runs, kills, and runs again. It prints how the push
// ended, and exits 3.
func TestUploadKillHelper(t *testing.T) {
	host := os.Getenv(uploadKillRegistryEnv)
	if host == "" {
		return
	}
	size, err := strconv.Atoi(os.Getenv(uploadKillSizeEnv))
	if err != nil {
		t.Fatal(err)
	}
	b, d := blobOf(21, size)
	cl, err := registry.New(registry.Config{Registry: host, Creds: auth.Static{Registry: host, Cred: alice}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(store.Config{Dir: os.Getenv(uploadKillCacheEnv)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ref.Parse(host + "/mirror/app:1")
	if err != nil {
		t.Fatal(err)
	}
	err = cl.PushBlob(context.Background(), r, d, bytesSource(b), registry.PushOptions{
		Sessions:  st.Uploads(),
		Restarted: func(_ digest.Digest, _ int64, why error) { fmt.Println("restarted:", why) },
	})
	fmt.Println("push ended:", err)
	os.Exit(3)
}

// TestUploadKilledResumes pushes a large blob from another process, kills it
// with SIGKILL once the registry has read about half, and pushes again from a
// new process: the registry (distribution 3, storing on disk) receives only
// what it lacked.
func TestUploadKilledResumes(t *testing.T) {
	t.Parallel()
	const size = 64 << 20
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true, Dir: t.TempDir()})
	var (
		received atomic.Int64 // PATCH body bytes the registry read
		killAt   atomic.Int64 // kill the child once received reaches it; 0: never
		mu       sync.Mutex
		child    *exec.Cmd
		held     string // the Range of the last status answer
	)
	var patching sync.WaitGroup // PATCHes the registry is still reading
	killed := make(chan struct{})
	var killOnce sync.Once
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodPatch:
				patching.Add(1)
				defer patching.Done()
				r.Body = &killingBody{rc: r.Body, n: &received, at: &killAt, kill: func() {
					killOnce.Do(func() {
						mu.Lock()
						child.Process.Kill() // SIGKILL on Unix: nothing of the child runs after it
						mu.Unlock()
						close(killed)
					})
				}}
			case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/uploads/"):
				defer func() {
					mu.Lock()
					held = w.Header().Get("Range")
					mu.Unlock()
				}()
			}
			next.ServeHTTP(w, r)
		})
	})
	cache := t.TempDir()
	run := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestUploadKillHelper$")
		cmd.Env = append(os.Environ(), uploadKillRegistryEnv+"="+reg.Host(), uploadKillCacheEnv+"="+cache,
			uploadKillSizeEnv+"="+strconv.Itoa(size))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		mu.Lock()
		child = cmd
		err := cmd.Start()
		mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		return cmd, &out
	}

	killAt.Store(size / 2)
	first, out := run()
	select {
	case <-killed:
	case <-time.After(2 * time.Minute):
		first.Process.Kill()
		t.Fatalf("the first push never reached half the blob; it said %q", out)
	}
	first.Wait()
	if strings.Contains(out.String(), "push ended") {
		t.Fatalf("the killed push got to say %q", out)
	}
	// The registry reads what the sockets still held after the kill; the
	// second run's bytes are counted from when it has done so.
	patching.Wait()
	sent1 := received.Load()

	killAt.Store(0)
	received.Store(0)
	second, out := run()
	if err := second.Wait(); !strings.Contains(out.String(), "push ended: <nil>") {
		t.Fatalf("the second push (%v) said %q", err, out)
	}
	if strings.Contains(out.String(), "restarted:") {
		t.Errorf("the second push started again: %q", out)
	}
	mu.Lock()
	h := heldBytes(t, held)
	mu.Unlock()
	if h < size/4 || h > sent1 {
		t.Errorf("the registry held %d bytes after the kill at %d read", h, sent1)
	}
	if got, want := received.Load(), int64(size)-h; got != want {
		t.Errorf("the second push sent %d bytes, want the %d the registry lacked", got, want)
	}
	t.Logf("killed after %d bytes read; the registry kept %d; the second process sent %d", sent1, h, received.Load())

	cl := newClient(t, reg, alice)
	_, d := blobOf(21, size)
	if ok, err := cl.BlobExists(t.Context(), mustRef(t, reg.Ref("mirror/app:1")), d); err != nil || !ok {
		t.Errorf("after the second push, BlobExists = %v, %v", ok, err)
	}
}

// killingBody counts what the registry reads of a request body and calls
// kill once the count reaches at (when at is not 0).
type killingBody struct {
	rc   io.ReadCloser
	n    *atomic.Int64
	at   *atomic.Int64
	kill func()
}

func (b *killingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if got := b.n.Add(int64(n)); b.at.Load() > 0 && got >= b.at.Load() {
		b.kill()
	}
	return n, err
}

func (b *killingBody) Close() error { return b.rc.Close() }
