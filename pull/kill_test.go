package pull_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/store"
)

// The child of TestPullKilledResumes is this test binary, run again with
// these set.
const (
	killHelperEnv = "HAUL_PULL_KILL_HELPER" // the reference to pull
	killFormatEnv = "HAUL_PULL_KILL_FORMAT"
	killOutEnv    = "HAUL_PULL_KILL_OUT"
	killCacheEnv  = "HAUL_PULL_KILL_CACHE"
)

// TestPullKillHelper is not a test: it is the pull that TestPullKilledResumes
// kills. It prints the bytes of the layer written so far after each chunk.
func TestPullKillHelper(t *testing.T) {
	name := os.Getenv(killHelperEnv)
	if name == "" {
		return
	}
	r, err := ref.Parse(name)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := registry.New(registry.Config{Registry: r.Registry()})
	if err != nil {
		t.Fatal(err)
	}
	var st *store.Store // none when killCacheEnv is empty
	if dir := os.Getenv(killCacheEnv); dir != "" {
		if st, err = store.Open(store.Config{Dir: dir}); err != nil {
			t.Fatal(err)
		}
	}
	var n int64
	_, err = pull.Pull(context.Background(), []ref.Reference{r}, pull.Config{
		Source: func(string) (pull.Source, error) { return cl, nil },
		Store:  st,
		Format: pull.Format(os.Getenv(killFormatEnv)),
		Output: os.Getenv(killOutEnv),
		Jobs:   1,
		Progress: func(e pull.Event) {
			if e.Kind == pull.BlobBytes {
				n += e.N
				fmt.Println("bytes", n)
			}
		},
	})
	fmt.Println("pull ended:", err)
	os.Exit(3) // the parent kills it long before
}

// TestPullKilledResumes pulls in another process, kills it with SIGKILL once
// it has written half a layer, and pulls again: for every format, the second
// pull asks the registry for the layer from where the first stopped (a tar
// keeps its count in the temporary tar's journal, at most a MiB behind the
// bytes; the store's partial is the bytes), and writes the whole image.
func TestPullKilledResumes(t *testing.T) {
	t.Parallel()
	const half = 3 << 20
	formats := []pull.Format{pull.Docker, pull.OCIArchive, pull.OCI}
	if runtime.GOOS == "linux" {
		formats = append(formats, pull.RootFS)
	}
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{})
			pushed := reg.MustPush(t, "team/app:1", plainImage(21, 1, 2*half))
			layer := pushed.Layers[0]
			var mu sync.Mutex
			var ranges []string
			reg.Wrap(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if !registrytest.IsBlobGET(r) || !strings.HasSuffix(r.URL.Path, layer.Digest.String()) {
						next.ServeHTTP(w, r)
						return
					}
					mu.Lock()
					ranges = append(ranges, r.Header.Get("Range"))
					first := len(ranges) == 1
					mu.Unlock()
					if !first {
						next.ServeHTTP(w, r)
						return
					}
					// The first GET: more than half the layer, then nothing
					// until the client is gone.
					rec := registrytest.Record(next, r)
					registrytest.CopyHeader(w, rec)
					w.WriteHeader(rec.Code)
					w.Write(rec.Body.Bytes()[:half+half/2])
					w.(http.Flusher).Flush()
					select {
					case <-r.Context().Done():
					case <-time.After(time.Minute):
					}
				})
			})
			dir := t.TempDir()
			c := pull.Config{
				Format: f,
				Output: filepath.Join(dir, "out"),
				Store:  nil,
				Source: func(string) (pull.Source, error) { return newClient(t, reg, auth.Credential{}), nil },
			}
			cache := filepath.Join(dir, "cache")
			killAfter(t, half, exec.Command(os.Args[0], "-test.run=^TestPullKillHelper$"),
				killHelperEnv+"="+reg.Ref("team/app:1"), killFormatEnv+"="+string(f),
				killOutEnv+"="+c.Output, killCacheEnv+"="+cache)
			left := c.Output
			if f == pull.OCI { // a layout may hold blobs no index names; the index is written last
				left = filepath.Join(c.Output, "index.json")
			}
			if _, err := os.Stat(left); !os.IsNotExist(err) {
				t.Fatalf("the killed pull left %s (%v)", left, err)
			}

			st, err := store.Open(store.Config{Dir: cache})
			if err != nil {
				t.Fatal(err)
			}
			c.Store = st
			res, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, reg.Ref("team/app:1"))}, c)
			if err != nil {
				t.Fatalf("the pull after the kill: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(ranges) != 2 || !strings.HasPrefix(ranges[1], "bytes=") {
				t.Fatalf("the layer was asked for with Range %q, want a second request that resumes", ranges)
			}
			from, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(ranges[1], "bytes="), "-"), 10, 64)
			if err != nil || from < half-1<<20 || from > half+half/2 {
				t.Errorf("the resumed request asks from %q, want within a MiB below %d", ranges[1], half)
			}
			if res.Fetched > layer.Size-from+pushed.Config.Size {
				t.Errorf("Fetched %d bytes, more than the rest of the layer", res.Fetched)
			}
			switch f {
			case pull.Docker, pull.OCIArchive:
				readTarFile(t, c.Output).has(t, imageBlobs(pushed)...)
				if left, _ := filepath.Glob(filepath.Join(dir, ".*.haul-partial")); len(left) > 0 {
					t.Errorf("the finished pull left %v", left)
				}
			case pull.OCI:
				readDir(t, c.Output).has(t, imageBlobs(pushed)...)
			case pull.RootFS:
				if res.Unpacked == nil || res.Unpacked.Layers != 1 {
					t.Errorf("unpacked %+v, want one layer", res.Unpacked)
				}
			}
		})
	}
}

// killAfter runs cmd with env added, waits until it prints that it wrote n
// bytes, and kills it with SIGKILL: no deferred function, no signal
// handler, nothing of the process runs after that.
func killAfter(t *testing.T, n int64, cmd *exec.Cmd, env ...string) {
	t.Helper()
	startUntil(t, n, cmd, env...)()
}

// startUntil runs cmd with env added and waits until it prints that it
// wrote n bytes. It returns the function that kills it (SIGKILL), which the
// test's end calls too.
func startUntil(t *testing.T, n int64, cmd *exec.Cmd, env ...string) (kill func()) {
	t.Helper()
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if k, ok := strings.CutPrefix(line, "bytes "); ok {
			if got, _ := strconv.ParseInt(k, 10, 64); got >= n {
				break
			}
			continue
		}
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the pull to kill said %q", line)
	}
	var once sync.Once
	kill = func() {
		once.Do(func() {
			if err := cmd.Process.Kill(); err != nil {
				t.Error(err)
			}
			cmd.Wait()
		})
	}
	t.Cleanup(kill)
	return kill
}

// TestPullKilledCleansUp: a pull without a cache, killed midway, leaves its
// temporaries beside the output (a tar's partial file, a temporary store,
// an unpack's tree). While its process lives, another pull to the same
// output leaves them alone (to a tar, it refuses: another haul is writing
// it); once it is dead, the next pull to the output takes them up (a tar's)
// or removes them, and the output is all that is left.
func TestPullKilledCleansUp(t *testing.T) {
	t.Parallel()
	const half = 1 << 20
	formats := []pull.Format{pull.Docker, pull.OCI}
	if runtime.GOOS == "linux" {
		formats = append(formats, pull.RootFS)
	}
	for _, f := range formats {
		t.Run(string(f), func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{})
			pushed := reg.MustPush(t, "team/app:1", plainImage(22, 1, 2*half))
			reg.Wrap(stallFirstGET(pushed.Layers[0].Digest.String(), half+half/2))
			dir := t.TempDir()
			c := pull.Config{
				Format: f,
				Output: filepath.Join(dir, "out"),
				Source: func(string) (pull.Source, error) { return newClient(t, reg, auth.Credential{}), nil },
			}
			kill := startUntil(t, half, exec.Command(os.Args[0], "-test.run=^TestPullKillHelper$"),
				killHelperEnv+"="+reg.Ref("team/app:1"), killFormatEnv+"="+string(f), killOutEnv+"="+c.Output)
			left := hidden(t, dir)
			if len(left) == 0 {
				t.Fatal("the pull being killed has no temporary beside its output")
			}
			r := []ref.Reference{mustRef(t, reg.Ref("team/app:1"))}
			_, err := pull.Pull(t.Context(), r, c)
			switch {
			case f == pull.Docker && (err == nil || !strings.Contains(err.Error(), "another haul is writing it")):
				t.Fatalf("a pull to a tar another process writes: %v, want a refusal", err)
			case f != pull.Docker && err != nil:
				t.Fatalf("a pull beside a live one: %v", err)
			}
			for _, name := range left {
				if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
					t.Errorf("the live pull's %s was removed: %v", name, err)
				}
			}
			kill()
			if f == pull.RootFS {
				os.RemoveAll(c.Output) // the second pull made it: a third would be refused
			}
			if _, err := pull.Pull(t.Context(), r, c); err != nil {
				t.Fatalf("the pull after the kill: %v", err)
			}
			if got := hidden(t, dir); len(got) != 0 {
				t.Errorf("the pull after the kill left %v of %v", got, left)
			}
		})
	}
}

// stallFirstGET serves the first GET of the blob dg with only its first n
// bytes, then nothing until the client is gone.
func stallFirstGET(dg string, n int) func(http.Handler) http.Handler {
	var gets atomic.Int32
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !registrytest.IsBlobGET(r) || !strings.HasSuffix(r.URL.Path, dg) || gets.Add(1) > 1 {
				next.ServeHTTP(w, r)
				return
			}
			rec := registrytest.Record(next, r)
			registrytest.CopyHeader(w, rec)
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes()[:n])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
		})
	}
}

// hidden lists the names in dir that start with a dot: haul's temporaries.
func hidden(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		if strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names
}
