package cli

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/config"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// authFile writes a docker config.json that logs alice in to each host.
func authFile(t *testing.T, hosts ...string) string {
	t.Helper()
	auths := map[string]any{}
	for _, h := range hosts {
		auths[h] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(registrytest.Alice + ":" + registrytest.AlicePassword))}
	}
	b, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "auth.json")
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestCopyCommand(t *testing.T) {
	t.Parallel()
	src := registrytest.New(t, registrytest.Config{TokenAuth: true})
	dst := registrytest.New(t, registrytest.Config{TokenAuth: true})
	img := src.MustPush(t, "team/app:1", registrytest.RandomImage(91, 2, 2000))
	src.MustPush(t, "team/app:2", registrytest.RandomImage(92, 1, 2000))
	arm := registrytest.RandomImage(93, 1, 100)
	arm.Platform = ocispec.Platform{OS: "linux", Architecture: "arm64"}
	idx := src.MustPushIndex(t, "team/multi:1", registrytest.IndexSpec{Images: []registrytest.Image{registrytest.RandomImage(94, 1, 100), arm}, OCI: true, Attestation: true})
	creds := authFile(t, dst.Host())
	env := homeEnv(t)
	env["XDG_CACHE_HOME"] = t.TempDir()

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout *regexp.Regexp
		stderr *regexp.Regexp
	}{
		{name: "an image, DST keeps the tag",
			args:   []string{"copy", "--dest-authfile", creds, src.Ref("team/app:1"), dst.Ref("mirror/app")},
			stderr: regexp.MustCompile(fmt.Sprintf(`(?m)^copied %s to %s \(%s\): 3 blobs pushed \([0-9.]+ KiB\), 0 mounted, 0 skipped, in `, regexp.QuoteMeta(src.Ref("team/app:1")), regexp.QuoteMeta(dst.Ref("mirror/app:1")), img.Digest))},
		{name: "again: up to date",
			args:   []string{"copy", "--dest-authfile", creds, src.Ref("team/app:1"), dst.Ref("mirror/app")},
			stderr: regexp.MustCompile(`already there, nothing sent`)},
		{name: "within one registry: mounted",
			args:   []string{"copy", "--dest-authfile", creds, dst.Ref("mirror/app:1"), dst.Ref("other/app:x")},
			stderr: regexp.MustCompile(`: 0 blobs pushed \(0 B\), 3 mounted, 0 skipped, in `)},
		{name: "--platform names the child",
			args:   []string{"copy", "--dest-authfile", creds, "--platform", "linux/arm64", src.Ref("team/multi:1"), dst.Ref("mirror/multi:arm")},
			stderr: regexp.MustCompile(fmt.Sprintf(`for linux/arm64 is the image %s: %s names it, not the index`, idx.Manifests[1].Digest, regexp.QuoteMeta(dst.Ref("mirror/multi:arm"))))},
		{name: "--all-tags --json",
			args:   []string{"--json", "copy", "--dest-authfile", creds, "--all-tags", src.Ref("team/app"), dst.Ref("all/app")},
			stdout: regexp.MustCompile(fmt.Sprintf(`"source": "%s",\s*"destination": "%s",\s*"digest": "%s"`, regexp.QuoteMeta(src.Ref("team/app:1")), regexp.QuoteMeta(dst.Ref("all/app:1")), img.Digest))},
		{name: "no credentials: the scope and haul login", code: 1,
			args:   []string{"copy", src.Ref("team/app:1"), dst.Ref("nologin/app")},
			stderr: regexp.MustCompile(`repository:nologin/app:(push,pull|pull,push)(.|\n)*haul login ` + regexp.QuoteMeta(dst.Host()))},
		{name: "--all-tags with a tag", code: 2,
			args:   []string{"copy", "--all-tags", src.Ref("team/app:1"), dst.Ref("all/app")},
			stderr: regexp.MustCompile(`--all-tags: SRC is a repository`)},
		{name: "--jobs 0", code: 2,
			args:   []string{"copy", "-j", "0", src.Ref("team/app:1"), dst.Ref("all/app")},
			stderr: regexp.MustCompile(`--jobs 0`)},
		{name: "one argument", code: 2,
			args:   []string{"copy", src.Ref("team/app:1")},
			stderr: regexp.MustCompile(`copy takes SRC and DST`)},
	}
	for _, tt := range tests { // in order: each builds on the one before
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, env, "", tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			if tt.stdout != nil && !tt.stdout.MatchString(out) {
				t.Errorf("stdout %q does not match %s", out, tt.stdout)
			}
			if tt.stderr != nil && !tt.stderr.MatchString(errOut) {
				t.Errorf("stderr %q does not match %s", errOut, tt.stderr)
			}
		})
	}

	// Every tag went to its own tag with its digest.
	out, errOut, code := run(t, env, "", "digest", dst.Ref("all/app:2"))
	if code != 0 || !strings.HasPrefix(out, "sha256:") {
		t.Errorf("all/app:2: %d %s %s", code, out, errOut)
	}
}

// TestCopyInterrupt: the first interrupt lets the upload in flight finish,
// starts no other blob, puts no manifest, and says a later run resumes.
func TestCopyInterrupt(t *testing.T) {
	t.Parallel()
	src := registrytest.New(t, registrytest.Config{})
	dst := registrytest.New(t, registrytest.Config{})
	pushed := src.MustPush(t, "team/app:1", registrytest.RandomImage(95, 2, 64<<10))
	release := make(chan struct{})
	stalled := make(chan struct{}, 8)
	src.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if registrytest.IsBlobGET(r) && strings.HasSuffix(r.URL.Path, pushed.Layers[0].Digest.String()) {
				hold(r, release, stalled) // the upload of layer 0 is in flight, waiting for its bytes
			}
			next.ServeHTTP(w, r)
		})
	})
	env := homeEnv(t)
	env["XDG_CACHE_HOME"] = t.TempDir()
	interrupts := make(chan os.Signal, 1)
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Run(t.Context(), []string{"copy", "-j", "1", src.Ref("team/app:1"), dst.Ref("mirror/app:1")}, IO{
			Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &stderr,
			Getenv: func(k string) string { return env[k] }, System: &config.SystemPaths{}, Interrupts: interrupts,
		})
	}()
	<-stalled
	interrupts <- os.Interrupt
	waitFor(t, func() bool { return strings.Contains(stderr.String(), "interrupted: stopping") })
	close(release) // the layer in flight goes on to its end
	var code int
	select {
	case code = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("Run did not return; stderr:\n%s", stderr.String())
	}
	if code != ExitError || !strings.Contains(stderr.String(), "the same copy run again resumes them") {
		t.Errorf("exit %d, stderr:\n%s", code, stderr.String())
	}
	ctx := t.Context()
	cl, err := registry.New(registry.Config{Registry: dst.Host()})
	if err != nil {
		t.Fatal(err)
	}
	to, _ := ref.Parse(dst.Ref("mirror/app:1"))
	for i, want := range []bool{true, false} {
		if ok, err := cl.BlobExists(ctx, to, pushed.Layers[i]); err != nil || ok != want {
			t.Errorf("layer %d at the destination: %v (%v), want %v", i, ok, err, want)
		}
	}
	if _, ok, _ := cl.ManifestExists(ctx, to); ok {
		t.Error("a stopped copy put the manifest")
	}
}
