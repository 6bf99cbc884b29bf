package cli

import (
	"bytes"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/haul-dev/haul/config"
	"github.com/haul-dev/haul/internal/registrytest"
)

// runTerminal is run with stdout a terminal, as IO.StdoutIsTerminal says.
func runTerminal(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(t.Context(), args, IO{
		Stdin:            strings.NewReader(""),
		Stdout:           &out,
		Stderr:           &errb,
		Getenv:           func(k string) string { return env[k] },
		System:           &config.SystemPaths{},
		StdoutIsTerminal: func() bool { return true },
	})
	return out.String(), errb.String(), code
}

// TestTerminalRefused: a tar for a terminal is refused before any request,
// as docker save refuses it, with the redirect to use; a binary blob is
// refused before a byte of it is written; a config blob (JSON) is shown.
func TestTerminalRefused(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(14, 1, 1<<12))
	var requests atomic.Int64
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			next.ServeHTTP(w, r)
		})
	})
	env := homeEnv(t)
	app := reg.Ref("team/app:1")
	tests := []struct {
		name     string
		args     []string
		want     string // in stderr
		requests bool   // may reach the registry
	}{
		{"pull -o -", []string{"pull", app, "-o", "-"}, "cowardly refusing to write a tar to a terminal: redirect it, e.g. haul pull REF -o - > x.tar, or pipe it into docker load", false},
		{"pull --format oci-archive -o -", []string{"pull", "--format", "oci-archive", app, "-o", "-"}, "cowardly refusing", false},
		{"export -o -", []string{"export", app, "-o", "-"}, "cowardly refusing to write a tar to a terminal: redirect it, e.g. haul export " + app + " -o - > fs.tar", false},
		{"blob of a layer", []string{"blob", reg.Ref("team/app@" + pushed.Layers[0].Digest.String())}, "cowardly refusing to write a binary blob to a terminal", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := requests.Load()
			out, errOut, code := runTerminal(t, env, tt.args...)
			if code != ExitUsage || !strings.Contains(errOut, tt.want) || out != "" {
				t.Fatalf("exit %d, stdout %d bytes, stderr %q; want exit 2, nothing on stdout and %q", code, len(out), errOut, tt.want)
			}
			if n := requests.Load() - before; n != 0 && !tt.requests {
				t.Errorf("the refusal came after %d requests", n)
			}
		})
	}
	t.Run("blob of a config", func(t *testing.T) {
		out, errOut, code := runTerminal(t, env, "blob", reg.Ref("team/app@"+pushed.Config.Digest.String()))
		if code != 0 || sha(out) != pushed.Config.Digest.String() {
			t.Fatalf("exit %d, %s: the config was not shown whole", code, errOut)
		}
	})
	t.Run("--load at a terminal", func(t *testing.T) {
		// The tar goes to the engine, not to the terminal: no refusal for that.
		loadEnv := maps.Clone(env)
		loadEnv["DOCKER_HOST"] = "unix://" + filepath.Join(t.TempDir(), "no-engine.sock")
		_, errOut, code := runTerminal(t, loadEnv, "pull", "--load", app)
		if code == ExitOK || strings.Contains(errOut, "cowardly") || !strings.Contains(errOut, "no-engine.sock") {
			t.Fatalf("exit %d, %s; want the missing engine named, not a terminal refusal", code, errOut)
		}
	})
	t.Run("not a terminal", func(t *testing.T) {
		out, errOut, code := run(t, env, "", "pull", "-q", app, "-o", "-")
		if code != 0 || len(out) == 0 {
			t.Fatalf("exit %d, %s", code, errOut)
		}
	})
}

// TestOutputChecked: -o that could not be written is refused before any
// request, naming the path given; a killed write's temporary file beside
// it is removed by the next write to it.
func TestOutputChecked(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(15, 1, 1<<12))
	var requests atomic.Int64
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			next.ServeHTTP(w, r)
		})
	})
	env := homeEnv(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing", "x.tar")
	app := reg.Ref("team/app:1")
	layer := reg.Ref("team/app@" + pushed.Layers[0].Digest.String())
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"pull into a missing directory", []string{"pull", app, "-o", missing}},
		{"pull --format oci into a missing directory", []string{"pull", "--format", "oci", app, "-o", missing}},
		{"export into a missing directory", []string{"export", app, "-o", missing}},
		{"blob into a missing directory", []string{"blob", layer, "-o", missing}},
		{"pull onto a directory", []string{"pull", app, "-o", dir}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := run(t, env, "", tt.args...)
			path := tt.args[len(tt.args)-1]
			if code != ExitError || !strings.Contains(errOut, "output "+path+": ") || strings.Contains(errOut, ".haul-") {
				t.Fatalf("exit %d, %q: want a refusal naming %s", code, errOut, path)
			}
		})
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("the refusals came after %d requests", n)
	}
	// What a blob -o killed midway leaves: Create's temporary name, no lock.
	dst := filepath.Join(dir, "layer.tar.gz")
	stale := filepath.Join(dir, ".layer.tar.gz.abcdefghijk23.haul-tmp")
	if err := os.WriteFile(stale, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := run(t, env, "", "blob", layer, "-o", dst); code != 0 {
		t.Fatal(errOut)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("the killed write's %s is still there (%v)", stale, err)
	}
}
