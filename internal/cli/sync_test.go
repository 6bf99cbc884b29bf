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
		return run2json(t, env, append([]string{"sync", "--dest-authfile", creds}, args...)...)
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
		var spec registrytest.IndexSpec
		for i, arch := range []string{"amd64", "arm64", "s390x"} {
			img := registrytest.RandomImage(int64(77+i), 1, 100)
			img.Platform = ocispec.Platform{OS: "linux", Architecture: arch}
			spec.Images = append(spec.Images, img)
		}
		spec.OCI, spec.Attestation = true, true
		three := src.MustPushIndex(t, "library/three:1", spec)
		writeFile("images:\n  - ref: " + src.Ref("library/three:1") + "\n    platforms: [linux/amd64, linux/arm64]\n" +
			"  - ref: " + src.Ref("library/multi:1") + "\n    platforms: [linux/arm64, linux/amd64]\n")
		kept := "linux/amd64 " + three.Manifests[0].Digest.String() + ", linux/arm64 " + three.Manifests[1].Digest.String()
		before := uploads.Load()

		_, errOut, code := run(t, env, "", "sync", "--dry-run", "--dest-authfile", creds, file, dst.Host()+"/plat")
		want := "would-copy " + src.Ref("library/three:1")
		if code != 0 || !strings.Contains(errOut, want) || !strings.Contains(errOut, "only 2 of the index's 3 images (linux/amd64, linux/arm64) go: the registry must accept an index whose other images it lacks") ||
			strings.Count(errOut, "only ") != 1 { // library/multi:1 goes whole
			t.Fatalf("--dry-run: exit %d:\n%s", code, errOut)
		}
		if uploads.Load() != before {
			t.Errorf("--dry-run sent %d uploads", uploads.Load()-before)
		}

		// Distribution's default requires every image of an index.
		v, errOut, code := sync("--keep-going", file, dst.Host()+"/plat")
		if code != 1 || actions(v) != "failed plat/library/three:1, copied plat/library/multi:1" {
			t.Fatalf("exit %d, %q: %s", code, actions(v), errOut)
		}
		l := v.Images[0]
		for _, s := range []string{dst.Host() + " requires every image an index lists", "refused index " + three.Digest.String(),
			"only those for linux/amd64, linux/arm64 were copied, by digest (" + kept + ")", "list one platform", "or none (the whole index)"} {
			if !strings.Contains(l.Error, s) {
				t.Errorf("the error %q lacks %q", l.Error, s)
			}
		}
		if strings.Join(l.Platforms, " ") != "linux/amd64 linux/arm64" || l.IndexImages != 3 || v.Images[1].Digest != idx.Digest.String() {
			t.Errorf("--json lines %+v", v.Images)
		}

		// A registry configured to take an index whatever it lacks.
		open := registrytest.New(t, registrytest.Config{TokenAuth: true, IndexPlatforms: "none"})
		v, errOut, code = run2json(t, env, "sync", "--dest-authfile", authFile(t, open.Host()), file, open.Host())
		if code != 0 || len(v.Images) != 2 || v.Images[0].Action != "copied" || v.Images[0].Digest != three.Digest.String() ||
			strings.Join(v.Images[0].Platforms, " ") != "linux/amd64 linux/arm64" {
			t.Fatalf("into a registry that takes it: exit %d, %+v: %s", code, v.Images, errOut)
		}
	})
}

// run2json runs haul --json with args and decodes sync's report.
func run2json(t *testing.T, env map[string]string, args ...string) (syncJSON, string, int) {
	t.Helper()
	out, errOut, code := run(t, env, "", append([]string{"--json"}, args...)...)
	var v syncJSON
	if out != "" {
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("--json: %v\n%s", err, out)
		}
	}
	return v, errOut, code
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
