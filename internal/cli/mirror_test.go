package cli

import (
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/haul-dev/haul/internal/registrytest"
)

// TestMirrorFlag: --mirror reads through the mirror, with -u and
// --password-stdin going to the reference's registry only, and falls back
// to the registry when the mirror is down.
func TestMirrorFlag(t *testing.T) {
	t.Parallel()
	up := registrytest.New(t, registrytest.Config{TokenAuth: true, Private: []string{"private/"}})
	img := registrytest.RandomImage(12, 2, 4000)
	pushed := up.MustPush(t, "private/app:1", img)
	// The mirror asks for tokens: a client holding the upstream's
	// credentials for it would present them to its token service.
	m := registrytest.New(t, registrytest.Config{TokenAuth: true})
	m.MustPush(t, "private/app:1", img)
	var mu sync.Mutex
	var authz []string
	m.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			if a := r.Header.Get("Authorization"); a != "" {
				authz = append(authz, a)
			}
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()
	env := homeEnv(t)
	ref := up.Ref("private/app:1")
	login := []string{"-u", registrytest.Alice, "--password-stdin"}
	pw := registrytest.AlicePassword

	t.Run("pull through the mirror", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "o.tar")
		args := append([]string{"pull", "--no-cache", "--mirror", m.Host(), "-o", out, ref}, login...)
		_, errOut, code := run(t, env, pw, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if want := "3 from mirror " + m.Host() + ", 0 from cache"; !strings.Contains(errOut, want) || !strings.Contains(errOut, pushed.Digest.String()) {
			t.Fatalf("summary does not say %q:\n%s", want, errOut)
		}
	})
	t.Run("json says who served", func(t *testing.T) {
		env := homeEnv(t)
		env["XDG_CACHE_HOME"] = t.TempDir()
		args := append([]string{"--json", "pull", "--mirror", "http://" + down, "--mirror", m.Host(), "-o", filepath.Join(t.TempDir(), "o.tar"), ref}, login...)
		stdout, errOut, code := run(t, env, pw, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var sum struct {
			Served []struct {
				From   string
				Mirror bool
				Blobs  int
			}
		}
		if err := json.Unmarshal([]byte(stdout), &sum); err != nil || len(sum.Served) != 1 || sum.Served[0].From != m.Host() || !sum.Served[0].Mirror || sum.Served[0].Blobs != 3 {
			t.Fatalf("served %+v (%v) from %s", sum.Served, err, stdout)
		}
	})
	t.Run("mirror down", func(t *testing.T) {
		args := append([]string{"pull", "--no-cache", "--mirror", down, "-o", filepath.Join(t.TempDir(), "o.tar"), ref}, login...)
		_, errOut, code := run(t, env, pw, args...)
		if want := "3 from upstream " + up.Host(); code != 0 || !strings.Contains(errOut, want) {
			t.Fatalf("exit %d; want a summary with %q:\n%s", code, want, errOut)
		}
	})
	t.Run("read commands", func(t *testing.T) {
		for _, args := range [][]string{
			{"digest", ref},
			{"manifest", "--raw", ref},
			{"config", ref},
			{"inspect", ref},
			{"blob", up.Ref("private/app@" + pushed.Layers[0].Digest.String()), "-o", filepath.Join(t.TempDir(), "blob")},
		} {
			args = append(append([]string{"--mirror", m.Host()}, login...), args...)
			if _, errOut, code := run(t, env, pw, args...); code != 0 {
				t.Errorf("%v: exit %d: %s", args, code, errOut)
			}
		}
	})
	t.Run("a bad --mirror is a usage error", func(t *testing.T) {
		if _, errOut, code := run(t, env, "", "--mirror", "ftp://m.local", "digest", ref); code != ExitUsage || !strings.Contains(errOut, "--mirror") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	for _, a := range authz {
		if !strings.HasPrefix(a, "Bearer ") {
			t.Errorf("the mirror was sent Authorization %q: only its own tokens belong there", a)
		}
	}
	if len(m.TokenRequests()) == 0 {
		t.Error("the mirror's token service was never asked: the test proves nothing")
	}
	for _, tr := range m.TokenRequests() {
		if tr.User != "" {
			t.Errorf("the mirror's token service was asked as %q: the upstream's credentials went to the mirror", tr.User)
		}
	}
	for _, tr := range up.TokenRequests() {
		if tr.User != registrytest.Alice {
			t.Errorf("the upstream was asked without the credentials: %+v", tr)
		}
	}
}
