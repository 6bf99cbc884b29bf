package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haul-dev/haul"
	"github.com/haul-dev/haul/config"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
)

// run runs haul in-process with env as its whole environment.
func run(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runSystem(t, config.SystemPaths{}, env, stdin, args...)
}

// runSystem is run with docker's and the containers tools' files at sys
// (none in run: tests never read /etc).
func runSystem(t *testing.T, sys config.SystemPaths, env map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Run(t.Context(), args, IO{
		Stdin:  strings.NewReader(stdin),
		Stdout: &out,
		Stderr: &errb,
		Getenv: func(k string) string { return env[k] },
		System: &sys,
	})
	return out.String(), errb.String(), code
}

// homeEnv is an environment whose docker config lives in a fresh directory.
func homeEnv(t *testing.T) map[string]string {
	home := t.TempDir()
	return map[string]string{"HOME": home, "DOCKER_CONFIG": filepath.Join(home, "docker"), "XDG_RUNTIME_DIR": filepath.Join(home, "run")}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(h[:])
}

func TestReadCommands(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	img := registrytest.RandomImage(7, 2, 1000)
	pushed := reg.MustPush(t, "team/app:1", img)
	reg.MustPush(t, "team/app:2", img)
	arm := registrytest.RandomImage(8, 1, 100)
	arm.Platform.OS, arm.Platform.Architecture = "linux", "arm64"
	idx := reg.MustPushIndex(t, "team/multi:1", registrytest.IndexSpec{Images: []registrytest.Image{img, arm}, OCI: true, Attestation: true})
	env := homeEnv(t)
	ref := reg.Ref("team/app:1")

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{"digest", []string{"digest", ref}, func(t *testing.T, out string) {
			if out != pushed.Digest.String()+"\n" {
				t.Errorf("got %q", out)
			}
		}},
		{"digest --json", []string{"digest", "--json", ref}, func(t *testing.T, out string) {
			var v struct{ Digest string }
			if json.Unmarshal([]byte(out), &v) != nil || v.Digest != pushed.Digest.String() {
				t.Errorf("got %q", out)
			}
		}},
		{"digest --platform", []string{"digest", "--platform", "linux/arm64", reg.Ref("team/multi:1")}, func(t *testing.T, out string) {
			if strings.TrimSpace(out) != idx.Manifests[1].Digest.String() {
				t.Errorf("got %q, want %s", out, idx.Manifests[1].Digest)
			}
		}},
		{"tags", []string{"tags", reg.Ref("team/app")}, func(t *testing.T, out string) {
			if out != "1\n2\n" {
				t.Errorf("got %q", out)
			}
		}},
		{"tags --json", []string{"--json", "tags", reg.Ref("team/app")}, func(t *testing.T, out string) {
			var v struct{ Tags []string }
			if json.Unmarshal([]byte(out), &v) != nil || len(v.Tags) != 2 {
				t.Errorf("got %q", out)
			}
		}},
		{"manifest --raw hashes to the digest", []string{"manifest", "--raw", ref}, func(t *testing.T, out string) {
			if sha(out) != pushed.Digest.String() {
				t.Errorf("sha256 of --raw is %s, want %s", sha(out), pushed.Digest)
			}
		}},
		{"manifest pretty", []string{"manifest", ref}, func(t *testing.T, out string) {
			if !strings.Contains(out, "\n  \"schemaVersion\": 2") {
				t.Errorf("not indented: %q", out)
			}
		}},
		{"manifest of index", []string{"manifest", "--raw", reg.Ref("team/multi:1")}, func(t *testing.T, out string) {
			if sha(out) != idx.Digest.String() {
				t.Errorf("index digest %s, want %s", sha(out), idx.Digest)
			}
		}},
		{"config --raw hashes to the config digest", []string{"config", "--raw", ref}, func(t *testing.T, out string) {
			if sha(out) != pushed.Config.Digest.String() {
				t.Errorf("config digest %s, want %s", sha(out), pushed.Config.Digest)
			}
		}},
		{"config of an index picks the platform", []string{"config", "--platform", "linux/arm64", reg.Ref("team/multi:1")}, func(t *testing.T, out string) {
			if !strings.Contains(out, `"architecture": "arm64"`) {
				t.Errorf("got %s", out)
			}
		}},
		{"inspect --json", []string{"inspect", "--json", reg.Ref("team/multi:1")}, func(t *testing.T, out string) {
			var v haul.Image
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatal(err)
			}
			if v.Digest != idx.Digest || len(v.Platforms) != 4 || len(v.Layers) != 2 || v.Image.Platform != "linux/amd64" {
				t.Errorf("got %+v", v)
			}
		}},
		{"inspect text", []string{"inspect", ref}, func(t *testing.T, out string) {
			for _, want := range []string{"Digest:", pushed.Digest.String(), "Layers:", "2,", pushed.Layers[1].Digest.String()} {
				if !strings.Contains(out, want) {
					t.Errorf("missing %q in\n%s", want, out)
				}
			}
		}},
		{"blob to stdout", []string{"blob", reg.Ref("team/app@" + pushed.Layers[0].Digest.String())}, func(t *testing.T, out string) {
			if sha(out) != pushed.Layers[0].Digest.String() {
				t.Errorf("blob digest %s", sha(out))
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := run(t, env, "", tt.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			tt.check(t, out)
		})
	}
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true, Private: []string{"private/"}})
	reg.MustPush(t, "team/app:1", registrytest.RandomImage(9, 1, 10))
	reg.MustPush(t, "private/app:1", registrytest.RandomImage(9, 1, 10))
	env := homeEnv(t)
	tests := []struct {
		name    string
		args    []string
		code    int
		wantErr string
	}{
		{"no arguments", []string{"digest"}, ExitUsage, "takes one REF"},
		{"upper case", []string{"digest", "Alpine"}, ExitUsage, "lower case"},
		{"unknown flag", []string{"digest", "--frobnicate", "alpine"}, ExitUsage, "unknown flag"},
		{"bad platform", []string{"config", "--platform", "arm64", reg.Ref("team/app:1")}, ExitUsage, "os/arch"},
		{"blob without digest", []string{"blob", reg.Ref("team/app:1")}, ExitUsage, "needs a digest"},
		{"tags with tag", []string{"tags", reg.Ref("team/app:1")}, ExitUsage, "no tag"},
		{"missing tag", []string{"digest", reg.Ref("team/app:2")}, ExitError, "haul tags"},
		{"private without login", []string{"digest", reg.Ref("private/app:1")}, ExitError, "haul login " + reg.Host()},
		{"user without password", []string{"digest", "-u", "alice", reg.Ref("team/app:1")}, ExitUsage, "without a password"},
		{"empty password stdin", []string{"digest", "-u", "alice", "--password-stdin", reg.Ref("team/app:1")}, ExitUsage, "stdin was empty"},
		{"login without password", []string{"login", reg.Host(), "-u", "alice"}, ExitUsage, "--password-stdin"},
		{"unknown flag before the command", []string{"--no-such-flag", "digest", "x"}, ExitUsage, "unknown flag: --no-such-flag (see haul --help)"},
		{"unknown shorthand before the command", []string{"-Z", "digest", "x"}, ExitUsage, "unknown shorthand flag"},
		{"unknown command", []string{"nosuch"}, ExitUsage, `unknown command "nosuch" for "haul"`},
		{"unknown subcommand", []string{"cache", "nosuch"}, ExitUsage, `unknown command "nosuch" for "haul cache"`},
		{"help for an unknown command", []string{"help", "nosuch"}, ExitUsage, `unknown help topic "nosuch"`},
		{"push of a missing archive", []string{"push", "nosuch.tar", reg.Host() + "/mirror"}, ExitUsage, "nosuch.tar: no such file or directory: SRC is an archive"},
		{"help for an unknown subcommand", []string{"help", "cache", "nosuch"}, ExitUsage, `unknown help topic "cache nosuch"`},
		{"flag without its value", []string{"digest", "--platform"}, ExitUsage, "flag needs an argument"},
		{"version takes nothing", []string{"version", "x"}, ExitUsage, "no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, errOut, code := run(t, env, "", tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, errOut, tt.code, tt.wantErr)
			}
		})
	}
}

func TestLoginLogout(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true, Private: []string{"private/"}})
	pushed := reg.MustPush(t, "private/app:1", registrytest.RandomImage(10, 1, 10))
	env := homeEnv(t)
	cfgPath := filepath.Join(env["DOCKER_CONFIG"], "config.json")
	if err := os.MkdirAll(env["DOCKER_CONFIG"], 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, []byte(`{"psFormat":"table {{.ID}}","auths":{"other.example":{"auth":"eDp5"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := run(t, env, "wrong\n", "login", reg.Host(), "-u", registrytest.Alice, "--password-stdin"); code != ExitError {
		t.Fatalf("wrong password: exit %d, %s", code, errOut)
	}
	if _, errOut, code := run(t, env, registrytest.AlicePassword+"\n", "login", reg.Host(), "-u", registrytest.Alice, "--password-stdin"); code != 0 {
		t.Fatalf("login: exit %d, %s", code, errOut)
	}
	fi, err := os.Stat(cfgPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config.json: %v, mode %v; want 0600", err, fi.Mode())
	}
	raw, _ := os.ReadFile(cfgPath)
	var cfg map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cfg); err != nil || cfg["psFormat"] == nil || !strings.Contains(string(cfg["auths"]), "other.example") || !strings.Contains(string(cfg["auths"]), reg.Host()) {
		t.Fatalf("config.json lost keys or lacks the login: %s", raw)
	}
	if strings.Contains(string(raw), registrytest.AlicePassword) {
		t.Errorf("the realm offers refresh tokens, yet the password was stored: %s", raw)
	}
	out, errOut, code := run(t, env, "", "digest", reg.Ref("private/app:1"))
	if code != 0 || strings.TrimSpace(out) != pushed.Digest.String() {
		t.Fatalf("digest after login: exit %d, %q, %s", code, out, errOut)
	}
	if _, errOut, code := run(t, env, "", "logout", reg.Host()); code != 0 {
		t.Fatalf("logout: %d %s", code, errOut)
	}
	if _, _, code := run(t, env, "", "digest", reg.Ref("private/app:1")); code != ExitError {
		t.Fatalf("digest after logout: exit %d, want 1", code)
	}
	if _, errOut, code := run(t, env, "", "logout", reg.Host()); code != ExitError || !strings.Contains(errOut, "not logged in") {
		t.Fatalf("second logout: exit %d, %s", code, errOut)
	}
}

// TestExplicitCredentialsStayWithTheirRegistry gives HAUL_USERNAME/PASSWORD for
// one registry and checks that another registry's token server never sees them.
func TestExplicitCredentialsStayWithTheirRegistry(t *testing.T) {
	t.Parallel()
	a := registrytest.New(t, registrytest.Config{TokenAuth: true, Private: []string{"private/"}})
	b := registrytest.New(t, registrytest.Config{TokenAuth: true})
	a.MustPush(t, "private/app:1", registrytest.RandomImage(11, 1, 10))
	b.MustPush(t, "team/app:1", registrytest.RandomImage(11, 1, 10))
	env := homeEnv(t)
	env["HAUL_USERNAME"], env["HAUL_PASSWORD"] = registrytest.Alice, registrytest.AlicePassword
	if _, errOut, code := run(t, env, "", "digest", a.Ref("private/app:1")); code != 0 {
		t.Fatalf("registry A with env credentials: %s", errOut)
	}
	// The env credentials name no registry: they go to the one named by the
	// reference on the command line, here B, and never to A in the same breath.
	if _, errOut, code := run(t, env, "", "digest", b.Ref("team/app:1")); code != 0 {
		t.Fatalf("registry B: %s", errOut)
	}
	for _, tr := range a.TokenRequests() {
		if tr.User != registrytest.Alice {
			t.Errorf("registry A token request without the credentials: %+v", tr)
		}
	}
}

func TestTraceRedactsSecrets(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true, Private: []string{"private/"}})
	reg.MustPush(t, "private/app:1", registrytest.RandomImage(12, 1, 10))
	env := homeEnv(t)
	_, errOut, code := run(t, env, registrytest.AlicePassword, "--trace", "-u", registrytest.Alice, "--password-stdin", "manifest", reg.Ref("private/app:1"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"$ curl -sS", "-u 'alice:REDACTED'", "Authorization: Bearer REDACTED", "< HTTP/1.1 200 OK", "Www-Authenticate: Bearer realm="} {
		if !strings.Contains(errOut, want) {
			t.Errorf("trace lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, registrytest.AlicePassword) || strings.Contains(errOut, "eyJ") {
		t.Errorf("trace shows a secret:\n%s", errOut)
	}
	_, errOut, _ = run(t, env, registrytest.AlicePassword, "--trace", "--trace-secrets", "-u", registrytest.Alice, "--password-stdin", "manifest", reg.Ref("private/app:1"))
	if !strings.Contains(errOut, registrytest.AlicePassword) || !strings.Contains(errOut, "Bearer eyJ") {
		t.Errorf("--trace-secrets hides secrets:\n%s", errOut)
	}
}

func TestBlobToFileIsAtomic(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(13, 1, 1<<16))
	env := homeEnv(t)
	dir := t.TempDir()
	dst := filepath.Join(dir, "layer.tar.gz")
	blobRef := reg.Ref("team/app@" + pushed.Layers[0].Digest.String())
	if _, errOut, code := run(t, env, "", "blob", blobRef, "-o", dst); code != 0 {
		t.Fatalf("blob -o: %s", errOut)
	}
	got, _ := os.ReadFile(dst)
	if sha(string(got)) != pushed.Layers[0].Digest.String() {
		t.Fatal("file does not hash to the blob's digest")
	}
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/") {
				rec := &bytes.Buffer{}
				rw := &captureWriter{header: http.Header{}, body: rec}
				next.ServeHTTP(rw, r)
				body := rec.Bytes()
				body[len(body)-1] ^= 1
				for k, v := range rw.header {
					w.Header()[k] = v
				}
				w.Write(body)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	bad := filepath.Join(dir, "bad.tar.gz")
	_, errOut, code := run(t, env, "", "blob", blobRef, "-o", bad)
	if code != ExitError || !strings.Contains(errOut, "digest mismatch") {
		t.Fatalf("corrupt blob: exit %d, %s", code, errOut)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("a failed blob left files behind: %v", entries)
	}
}

type captureWriter struct {
	header http.Header
	body   *bytes.Buffer
}

func (c *captureWriter) Header() http.Header         { return c.header }
func (c *captureWriter) Write(p []byte) (int, error) { return c.body.Write(p) }
func (c *captureWriter) WriteHeader(int)             {}

func TestPullCommand(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(40, 2, 2000))
	env := homeEnv(t)
	env["XDG_CACHE_HOME"] = filepath.Join(env["HOME"], "cache")
	dir := t.TempDir()

	t.Run("usage errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"pull"},
			{"pull", "--format", "zip", reg.Ref("team/app:1")},
			{"pull", "--platform", "arm64", reg.Ref("team/app:1")},
			{"pull", reg.Ref("team/app:1"), reg.Ref("team/app:1")},
			{"pull", "--format", "oci", "-o", "-", reg.Ref("team/app:1")},
			{"pull", "--referrers", "--format", "rootfs", "-o", filepath.Join(dir, "r"), reg.Ref("team/app:1")},
		} {
			if _, errOut, code := run(t, env, "", args...); code != ExitUsage {
				t.Errorf("%v: exit %d, %s; want 2", args, code, errOut)
			}
		}
	})
	t.Run("json summary, cache", func(t *testing.T) {
		out := filepath.Join(dir, "app_1.tar")
		for i, wantFetched := range []bool{true, false} {
			stdout, errOut, code := run(t, env, "", "--json", "pull", reg.Ref("team/app:1"), "-o", out)
			if code != 0 {
				t.Fatalf("pull %d: exit %d: %s", i, code, errOut)
			}
			var sum struct {
				Output  string
				Fetched int64
				Cached  int64
				Images  []struct{ Digest string }
			}
			if err := json.Unmarshal([]byte(stdout), &sum); err != nil {
				t.Fatalf("summary %q: %v", stdout, err)
			}
			if sum.Output != out || len(sum.Images) != 1 || sum.Images[0].Digest != pushed.Digest.String() {
				t.Fatalf("summary %+v", sum)
			}
			if (sum.Fetched > 0) != wantFetched || (i == 1 && sum.Cached == 0) {
				t.Fatalf("pull %d fetched %d, cached %d", i, sum.Fetched, sum.Cached)
			}
			if _, err := os.Stat(out); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("stdout equals file", func(t *testing.T) {
		file := filepath.Join(dir, "f.tar")
		if _, errOut, code := run(t, env, "", "pull", "-q", reg.Ref("team/app:1"), "-o", file); code != 0 {
			t.Fatal(errOut)
		}
		stdout, errOut, code := run(t, env, "", "pull", "-q", reg.Ref("team/app:1"), "-o", "-")
		if code != 0 {
			t.Fatal(errOut)
		}
		want, _ := os.ReadFile(file)
		if stdout != string(want) {
			t.Fatalf("-o - wrote %d bytes, the file has %d", len(stdout), len(want))
		}
	})
	t.Run("missing tag leaves nothing", func(t *testing.T) {
		out := filepath.Join(dir, "nope.tar")
		_, errOut, code := run(t, env, "", "pull", reg.Ref("team/app:nope"), "-o", out)
		if code != ExitError || !strings.Contains(errOut, "haul tags") {
			t.Fatalf("exit %d, %s", code, errOut)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Fatalf("%s exists after a failed pull", out)
		}
	})
}

func TestDefaultOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ref    string
		format pull.Format
		want   string
	}{
		{"alpine", pull.Docker, "alpine_latest.tar"},
		{"alpine:3.20", pull.OCIArchive, "alpine_3.20.tar"},
		{"ghcr.io/org/app:v1.2", pull.Docker, "app_v1.2.tar"},
		{"localhost:5000/team/app:1", pull.OCI, "app_1"},
		{"alpine@sha256:" + strings.Repeat("ab", 32), pull.Docker, "alpine_abababababab.tar"},
	}
	for _, tt := range tests {
		r, err := ref.Parse(tt.ref)
		if err != nil {
			t.Fatal(err)
		}
		if got := defaultOutput(r, tt.format); got != tt.want {
			t.Errorf("defaultOutput(%s) = %q, want %q", tt.ref, got, tt.want)
		}
	}
}
