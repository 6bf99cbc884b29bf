package cli

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haul-dev/haul/internal/registrytest"
)

// TestHintsTellTheTruth checks that each first-contact failure gets the
// hint that matches what the server answered, against the real registry
// (with token auth where it matters) and, for a server that is no registry,
// an HTML web server.
func TestHintsTellTheTruth(t *testing.T) {
	t.Parallel()
	open := registrytest.New(t, registrytest.Config{})
	open.MustPush(t, "team/app:1", registrytest.RandomImage(3, 1, 100))
	tokens := registrytest.New(t, registrytest.Config{TokenAuth: true, Private: []string{"private/"}})
	tokens.MustPush(t, "team/app:1", registrytest.RandomImage(4, 1, 100))
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("<html><body>Not here</body></html>"))
	}))
	t.Cleanup(web.Close)
	webHost := strings.TrimPrefix(web.URL, "http://")

	stale := homeEnv(t)
	cfg := filepath.Join(stale["DOCKER_CONFIG"], "config.json")
	if err := os.MkdirAll(filepath.Dir(cfg), 0o700); err != nil {
		t.Fatal(err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(registrytest.Alice + ":not-the-password"))
	if err := os.WriteFile(cfg, []byte(`{"auths":{"`+tokens.Host()+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		want  []string
		never []string
	}{
		{name: "missing repository on registry:2", args: []string{"digest", open.Ref("team/nothere:1")},
			want:  []string{"hint: the repository " + open.Host() + "/team/nothere does not exist"},
			never: []string{"exists but"}},
		{name: "missing repository, pull", args: []string{"pull", "-o", filepath.Join(t.TempDir(), "x.tar"), open.Ref("team/nothere:1")},
			want:  []string{"does not exist"},
			never: []string{"exists but"}},
		{name: "missing tag", args: []string{"digest", open.Ref("team/app:2")},
			want: []string{"hint: " + open.Host() + "/team/app has no such tag; near ones: 1"}},
		{name: "a web server that is no registry", args: []string{"digest", webHost + "/team/app:1"},
			want:  []string{"does not answer as a container registry", "404 Not Found, text/html", "host name and port"},
			never: []string{"repository"}},
		{name: "private or missing, anonymous", args: []string{"digest", tokens.Ref("private/app:1")},
			want: []string{"may be private", "may not exist", "haul login " + tokens.Host()}},
		{name: "stale password in docker's config.json", env: stale, args: []string{"digest", tokens.Ref("team/app:1")},
			want: []string{"refused the password for \"" + registrytest.Alice + "\" from " + cfg, "haul logout " + tokens.Host(), "haul login " + tokens.Host()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := tt.env
			if env == nil {
				env = homeEnv(t)
			}
			_, stderr, code := run(t, env, "", tt.args...)
			if code != ExitError {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitError, stderr)
			}
			_, hint, _ := strings.Cut(stderr, "\nhint: ")
			for _, w := range tt.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, stderr)
				}
			}
			for _, n := range tt.never {
				if strings.Contains(hint, n) {
					t.Errorf("the hint says %q, which is not true here:\n%s", n, stderr)
				}
			}
			if strings.Contains(stderr, "not-the-password") {
				t.Fatalf("the password was printed:\n%s", stderr)
			}
		})
	}
}

// TestPlatformOfSingleImage: --platform on an image that is no index is an
// error naming both platforms, for pull, inspect and config alike.
func TestPlatformOfSingleImage(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	reg.MustPush(t, "team/app:1", registrytest.RandomImage(5, 1, 100)) // linux/amd64
	name := reg.Ref("team/app:1")
	tests := []struct {
		args []string
		ok   bool
	}{
		{args: []string{"pull", "--platform", "linux/arm64", "-o", filepath.Join(t.TempDir(), "x.tar"), name}},
		{args: []string{"inspect", "--platform", "linux/arm64", name}},
		{args: []string{"config", "--platform", "linux/arm64", name}},
		{args: []string{"inspect", "--platform", "linux/amd64", name}, ok: true},
		{args: []string{"inspect", name}, ok: true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args[:min(3, len(tt.args))], " "), func(t *testing.T) {
			t.Parallel()
			_, stderr, code := run(t, homeEnv(t), "", tt.args...)
			if tt.ok {
				if code != ExitOK {
					t.Fatalf("exit %d: %s", code, stderr)
				}
				return
			}
			if code != ExitError || !strings.Contains(stderr, "the image is for linux/amd64, not linux/arm64") {
				t.Fatalf("exit %d, stderr:\n%s\nwant exit 1 naming both platforms", code, stderr)
			}
		})
	}
}
