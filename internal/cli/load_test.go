package cli

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/haul-dev/haul/internal/registrytest"
)

// engineFake is an engine's API on a unix socket: /_ping, and a load that
// reads the whole body and answers with answer (status, when not 0).
type engineFake struct {
	status int
	answer string

	mu     sync.Mutex
	bodies [][]byte
	errs   []error // of reading each body: nil when it ended cleanly
}

func (f *engineFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_ping" {
		w.Header().Set("API-Version", "1.43")
		io.WriteString(w, "OK")
		return
	}
	if r.URL.Path != "/v1.43/images/load" || r.Header.Get("Content-Type") != "application/x-tar" {
		http.Error(w, `{"message":"unexpected request"}`, http.StatusNotFound)
		return
	}
	b, err := io.ReadAll(r.Body)
	f.mu.Lock()
	f.bodies, f.errs = append(f.bodies, b), append(f.errs, err)
	f.mu.Unlock()
	if f.status != 0 {
		w.WriteHeader(f.status)
	}
	io.WriteString(w, f.answer)
}

func (f *engineFake) loads() ([][]byte, []error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bodies, f.errs
}

// serveEngine serves f on a socket in a short directory and returns DOCKER_HOST for it.
func serveEngine(t *testing.T, f *engineFake) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "eng")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "d.sock"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(f)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return "unix://" + filepath.Join(dir, "d.sock")
}

func withEnv(env map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

func TestPullLoad(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	reg.MustPush(t, "team/app:1", registrytest.RandomImage(50, 2, 2000))
	reg.MustPush(t, "team/other:1", registrytest.RandomImage(51, 1, 3000))
	env := homeEnv(t)
	env["XDG_CACHE_HOME"] = filepath.Join(env["HOME"], "cache")
	app, other := reg.Ref("team/app:1"), reg.Ref("team/other:1")

	t.Run("the engine gets what -o - writes", func(t *testing.T) {
		t.Parallel()
		for _, refs := range [][]string{{app}, {app, other}} {
			want, errOut, code := run(t, env, "", append([]string{"pull", "-q", "-o", "-"}, refs...)...)
			if code != 0 {
				t.Fatal(errOut)
			}
			fake := &engineFake{answer: `{"stream":"Loaded image: ` + strings.Join(refs, `\n"}{"stream":"Loaded image: `) + `\n"}`}
			host := serveEngine(t, fake)
			stdout, errOut, code := run(t, withEnv(env, "DOCKER_HOST", host), "", append([]string{"pull", "--load"}, refs...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			bodies, errs := fake.loads()
			if len(bodies) != 1 || errs[0] != nil || string(bodies[0]) != want {
				t.Fatalf("the engine got %d loads (%v); want one of the %d bytes -o - writes", len(bodies), errs, len(want))
			}
			for _, r := range refs {
				if !strings.Contains(errOut, "Loaded image: "+r+"\n") {
					t.Errorf("stderr lacks the engine's line for %s:\n%s", r, errOut)
				}
			}
			if !strings.Contains(errOut, "wrote "+host+" (docker)") || stdout != "" {
				t.Errorf("stdout %q, stderr:\n%s", stdout, errOut)
			}
		}
	})
	t.Run("-q prints nothing", func(t *testing.T) {
		t.Parallel()
		host := serveEngine(t, &engineFake{answer: `{"stream":"Loaded image: x:1\n"}`})
		stdout, errOut, code := run(t, withEnv(env, "DOCKER_HOST", host), "", "pull", "-q", "--load", app)
		if code != 0 || stdout != "" || errOut != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, errOut)
		}
	})

	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		code    int
		wantErr []string
	}{
		{"with -o", nil, []string{"pull", "--load", "-o", "x.tar", app}, ExitUsage, []string{"--load sends the images to the engine, -o to a file"}},
		{"with -o -", nil, []string{"pull", "--load", "-o", "-", app}, ExitUsage, []string{"choose one"}},
		{"with --format oci", nil, []string{"pull", "--load", "--format", "oci", app}, ExitUsage, []string{"--load takes the docker format"}},
		{"with --format rootfs", nil, []string{"pull", "--load", "--format", "rootfs", app}, ExitUsage, []string{"--format rootfs is for -o"}},
		{"no engine at the socket", map[string]string{"DOCKER_HOST": "unix:///nonexistent/docker.sock"}, []string{"pull", "--load", app}, ExitError,
			[]string{"haul: engine unix:///nonexistent/docker.sock (from DOCKER_HOST): GET /_ping: dial unix /nonexistent/docker.sock: connect: no such file or directory\n",
				"hint: is dockerd (or podman system service) running"}},
		{"ssh", map[string]string{"DOCKER_HOST": "ssh://me@build.lan"}, []string{"pull", "--load", app}, ExitError,
			[]string{"engine ssh://me@build.lan (from DOCKER_HOST): haul does not speak ssh to an engine: stream the tar over ssh yourself: haul pull -o - REF | ssh me@build.lan docker load"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := env
			for k, v := range tt.env {
				e = withEnv(e, k, v)
			}
			start := time.Now()
			_, errOut, code := run(t, e, "", tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errOut)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
			if strings.Contains(errOut, "resolved ") {
				t.Errorf("the pull started before the engine was checked:\n%s", errOut)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s", d)
			}
		})
	}
}

// TestPullLoadFailures: an engine's refusal is the error, and a pull that
// fails loads nothing.
func TestPullLoadFailures(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	reg.MustPush(t, "team/app:1", registrytest.RandomImage(52, 2, 2000))
	env := homeEnv(t)
	env["XDG_CACHE_HOME"] = filepath.Join(env["HOME"], "cache")

	t.Run("the engine refuses", func(t *testing.T) {
		fake := &engineFake{status: 500, answer: `{"message":"Error processing tar file(exit status 1): no space left on device"}`}
		host := serveEngine(t, fake)
		_, errOut, code := run(t, withEnv(env, "DOCKER_HOST", host), "", "pull", "--load", reg.Ref("team/app:1"))
		want := "haul: engine " + host + " (from DOCKER_HOST): POST /v1.43/images/load: 500 Internal Server Error: Error processing tar file(exit status 1): no space left on device\n"
		if code != ExitError || !strings.Contains(errOut, want) {
			t.Fatalf("exit %d, stderr:\n%s\nwant %q", code, errOut, want)
		}
	})
	t.Run("an error inside the 200 stream", func(t *testing.T) {
		fake := &engineFake{answer: `{"errorDetail":{"message":"invalid tar header"},"error":"invalid tar header"}`}
		host := serveEngine(t, fake)
		_, errOut, code := run(t, withEnv(env, "DOCKER_HOST", host), "", "pull", "--load", reg.Ref("team/app:1"))
		if code != ExitError || !strings.Contains(errOut, "POST /v1.43/images/load: invalid tar header\n") || strings.Contains(errOut, "Loaded") {
			t.Fatalf("exit %d, stderr:\n%s", code, errOut)
		}
	})
	t.Run("a pull that fails loads nothing", func(t *testing.T) {
		fake := &engineFake{answer: `{"stream":"Loaded image: x:1\n"}`}
		host := serveEngine(t, fake)
		_, errOut, code := run(t, withEnv(env, "DOCKER_HOST", host), "", "pull", "--load", reg.Ref("team/app:nope"))
		if code != ExitError || !strings.Contains(errOut, "team/app:nope") {
			t.Fatalf("exit %d, stderr:\n%s", code, errOut)
		}
		if bodies, _ := fake.loads(); len(bodies) != 0 {
			t.Fatalf("the engine got %d loads", len(bodies))
		}
	})
}
