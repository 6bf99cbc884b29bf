package cli

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// TestSyncCommand: haul sync against two real registries with token auth:
// a first run copies every image to its mirror path with the source's
// digests, a second costs HEADs only, --dry-run sends nothing, a tag pattern
// picks tags, --keep-going finishes the others, and colliding paths are refused.
func TestSyncCommand(t *testing.T) {
	t.Parallel()
	src := registrytest.New(t, registrytest.Config{TokenAuth: true})
	dst := registrytest.New(t, registrytest.Config{TokenAuth: true})
	app := src.MustPush(t, "org/app:v1.0.0", registrytest.RandomImage(71, 2, 1500))
	src.MustPush(t, "org/app:v1.1.0", registrytest.RandomImage(72, 1, 1500))
	src.MustPush(t, "org/app:v2.0.0", registrytest.RandomImage(73, 1, 1500))
	arm := registrytest.RandomImage(74, 1, 100)
	arm.Platform = ocispec.Platform{OS: "linux", Architecture: "arm64"}
	idx := src.MustPushIndex(t, "library/multi:1", registrytest.IndexSpec{Images: []registrytest.Image{registrytest.RandomImage(75, 1, 100), arm}, OCI: true})
	var uploads atomic.Int64
	dst.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				uploads.Add(1)
			}
			next.ServeHTTP(w, r)
		})
	})
	creds := authFile(t, dst.Host())
	env := homeEnv(t)
	env["XDG_CACHE_HOME"] = t.TempDir()
	file := filepath.Join(t.TempDir(), "images.yaml")
	writeFile := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeFile("images:\n  - " + src.Ref("library/multi:1") + "\n  - ref: " + src.Ref("org/app") + "\n    tags: '^v1\\.[0-9]+\\.[0-9]+$'\n")
	mirrorAt := dst.Host() + "/mirror"
	sync := func(args ...string) (syncJSON, string, int) {
		t.Helper()
		out, errOut, code := run(t, env, "", append([]string{"--json", "sync", "--dest-authfile", creds}, args...)...)
		var v syncJSON
		if out != "" {
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("--json: %v\n%s", err, out)
			}
		}
		return v, errOut, code
	}
	actions := func(v syncJSON) string {
		var s []string
		for _, l := range v.Images {
			s = append(s, l.Action+" "+strings.TrimPrefix(l.Destination, dst.Host()+"/"))
		}
		return strings.Join(s, ", ")
	}

	v, errOut, code := sync("--dry-run", file, mirrorAt)
	if code != 0 || actions(v) != "would-copy mirror/library/multi:1, would-copy mirror/org/app:v1.0.0, would-copy mirror/org/app:v1.1.0" || uploads.Load() != 0 {
		t.Fatalf("--dry-run: exit %d, %q, %d uploads: %s", code, actions(v), uploads.Load(), errOut)
	}
	v, errOut, code = sync(file, mirrorAt)
	if code != 0 || actions(v) != "copied mirror/library/multi:1, copied mirror/org/app:v1.0.0, copied mirror/org/app:v1.1.0" {
		t.Fatalf("first sync: exit %d, %q: %s", code, actions(v), errOut)
	}
	if v.Images[0].Digest != idx.Digest.String() || v.Images[1].Digest != app.Digest.String() {
		t.Errorf("digests changed: %+v", v.Images)
	}
	cl, err := registry.New(registry.Config{Registry: dst.Host(), Creds: auth.Static{Registry: dst.Host(),
		Cred: auth.Credential{Username: registrytest.Alice, Password: registrytest.AlicePassword}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ref.Parse(dst.Ref("mirror/library/multi:1"))
	if err != nil {
		t.Fatal(err)
	}
	if d, err := cl.Digest(t.Context(), r); err != nil || d != idx.Digest {
		t.Errorf("the destination's index: %v, %v; want %s", d, err, idx.Digest)
	}
	before := uploads.Load()
	v, _, code = sync(file, mirrorAt)
	if code != 0 || actions(v) != "up-to-date mirror/library/multi:1, up-to-date mirror/org/app:v1.0.0, up-to-date mirror/org/app:v1.1.0" || uploads.Load() != before {
		t.Fatalf("second sync: exit %d, %q, %d more uploads", code, actions(v), uploads.Load()-before)
	}

	t.Run("--keep-going", func(t *testing.T) {
		writeFile("images:\n  - " + src.Ref("org/nothere:1") + "\n  - " + src.Ref("org/app:v2.0.0") + "\n")
		v, errOut, code := sync("--keep-going", file, dst.Host()+"/kg")
		if code != 1 || actions(v) != "failed kg/org/nothere:1, copied kg/org/app:v2.0.0" || v.Failed != 1 {
			t.Fatalf("exit %d, %q: %s", code, actions(v), errOut)
		}
		_, errOut, code = sync(file, dst.Host()+"/nokg")
		if code != 1 || !strings.Contains(errOut, "nothere") {
			t.Fatalf("without --keep-going: exit %d: %s", code, errOut)
		}
	})
	t.Run("colliding paths", func(t *testing.T) {
		other := registrytest.New(t, registrytest.Config{})
		other.MustPush(t, "org/app:v1.0.0", registrytest.RandomImage(76, 1, 100))
		writeFile("images:\n  - " + src.Ref("org/app:v1.0.0") + "\n  - " + other.Ref("org/app:v1.0.0") + "\n")
		if _, errOut, code := sync("--dry-run", file, mirrorAt); code != 2 || !strings.Contains(errOut, "--keep-registry") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		v, errOut, code := sync("--dry-run", "--keep-registry", file, mirrorAt)
		under := func(host string) string { return strings.ReplaceAll(host, ":", "_") }
		want := "would-copy mirror/" + under(src.Host()) + "/org/app:v1.0.0, would-copy mirror/" + under(other.Host()) + "/org/app:v1.0.0"
		if code != 0 || actions(v) != want {
			t.Fatalf("--keep-registry: exit %d, %q, want %q: %s", code, actions(v), want, errOut)
		}
	})
	t.Run("several platforms", func(t *testing.T) {
		writeFile("images:\n  - ref: " + src.Ref("library/multi:1") + "\n    platforms: [linux/amd64, linux/arm64]\n")
		if _, errOut, code := sync(file, mirrorAt); code != 2 || !strings.Contains(errOut, "haul keeps digests") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
	})
}

// syncFile writes a sync file holding s.
func syncFile(t *testing.T, s string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "images.yaml")
	if err := os.WriteFile(name, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
	return name
}
