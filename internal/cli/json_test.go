package cli

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/internal/registrytest"
)

// TestPullJSONNamesTheImages: pull --json gives, per image, the digests an
// engine knows it by once loaded, checked against what was pushed.
func TestPullJSONNamesTheImages(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	single := reg.MustPush(t, "team/app:1", registrytest.RandomImage(90, 1, 100))
	arm := registrytest.RandomImage(91, 1, 100)
	arm.Platform = ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	idx := reg.MustPushIndex(t, "team/multi:1", registrytest.IndexSpec{Images: []registrytest.Image{registrytest.RandomImage(92, 1, 100), arm}, OCI: true, Attestation: true})
	amd64, arm64 := idx.Manifests[0], idx.Manifests[1]
	type kept struct{ Platform, Manifest, Config string }
	tests := []struct {
		name     string
		args     []string
		digest   string
		platform string // "": none, and no single manifest and config either
		want     []kept
	}{
		{"one manifest", []string{reg.Ref("team/app:1")}, single.Digest.String(), "linux/amd64",
			[]kept{{"linux/amd64", single.Digest.String(), single.Config.Digest.String()}}},
		{"one manifest, no cache: platform unknown", []string{"--no-cache", reg.Ref("team/app:1")}, single.Digest.String(), "",
			[]kept{{"", single.Digest.String(), single.Config.Digest.String()}}},
		{"index, default platform", []string{"--platform", "linux/amd64", reg.Ref("team/multi:1")}, idx.Digest.String(), "linux/amd64",
			[]kept{{"linux/amd64", amd64.Digest.String(), amd64.Config.Digest.String()}}},
		{"index, the variant the index adds", []string{"--platform", "linux/arm64", reg.Ref("team/multi:1")}, idx.Digest.String(), "linux/arm64/v8",
			[]kept{{"linux/arm64/v8", arm64.Digest.String(), arm64.Config.Digest.String()}}},
		{"index, all platforms, no attestations", []string{"--platform", "all", reg.Ref("team/multi:1")}, idx.Digest.String(), "", []kept{
			{"linux/amd64", amd64.Digest.String(), amd64.Config.Digest.String()},
			{"linux/arm64/v8", arm64.Digest.String(), arm64.Config.Digest.String()}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := homeEnv(t)
			env["XDG_CACHE_HOME"] = t.TempDir()
			args := append([]string{"--json", "pull", "-o", filepath.Join(t.TempDir(), "o.tar")}, tt.args...)
			out, errOut, code := run(t, env, "", args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var v struct {
				Images []struct {
					Digest                     string
					Platform, Manifest, Config string
					Manifests                  []kept
				}
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Images) != 1 {
				t.Fatalf("%v: %s", err, out)
			}
			img := v.Images[0]
			if img.Digest != tt.digest {
				t.Errorf("digest %s, want %s", img.Digest, tt.digest)
			}
			if len(img.Manifests) != len(tt.want) {
				t.Fatalf("manifests %+v, want %+v", img.Manifests, tt.want)
			}
			for i := range tt.want {
				if img.Manifests[i] != tt.want[i] {
					t.Errorf("manifests[%d] = %+v, want %+v", i, img.Manifests[i], tt.want[i])
				}
			}
			single := kept{img.Platform, img.Manifest, img.Config}
			switch {
			case len(tt.want) == 1 && single != tt.want[0]:
				t.Errorf("the image kept is %+v, want %+v", single, tt.want[0])
			case len(tt.want) > 1 && single != kept{}:
				t.Errorf("several images kept, yet one is named: %+v", single)
			}
		})
	}
}

// TestDigestJSONPlatform: digest --json names the platform chosen from an
// index, and the index, only when --platform chose one.
func TestDigestJSONPlatform(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	single := reg.MustPush(t, "team/app:1", registrytest.RandomImage(93, 1, 10))
	arm := registrytest.RandomImage(94, 1, 10)
	arm.Platform = ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	idx := reg.MustPushIndex(t, "team/multi:1", registrytest.IndexSpec{Images: []registrytest.Image{registrytest.RandomImage(95, 1, 10), arm}})
	tests := []struct {
		name                          string
		args                          []string
		digest, platform, indexDigest string
	}{
		{"no platform asked", []string{reg.Ref("team/multi:1")}, idx.Digest.String(), "", ""},
		{"platform chosen", []string{"--platform", "linux/arm64", reg.Ref("team/multi:1")}, idx.Manifests[1].Digest.String(), "linux/arm64/v8", idx.Digest.String()},
		{"no index to choose from", []string{"--platform", "linux/amd64", reg.Ref("team/app:1")}, single.Digest.String(), "", ""},
	}
	env := homeEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := run(t, env, "", append([]string{"--json", "digest"}, tt.args...)...)
			var v map[string]any
			if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
				t.Fatalf("exit %d: %s%s", code, out, errOut)
			}
			p, hasP := v["platform"]
			i, hasI := v["index"]
			if v["digest"] != tt.digest || hasP != (tt.platform != "") || hasI != (tt.indexDigest != "") ||
				(hasP && p != tt.platform) || (hasI && i != tt.indexDigest) {
				t.Errorf("got %v; want digest %s, platform %q, index %q", v, tt.digest, tt.platform, tt.indexDigest)
			}
		})
	}
}

// TestInspectForAPerson: inspect shows exposed ports, labels and
// annotations without --json too, and no control character of them.
func TestInspectForAPerson(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	img := registrytest.RandomImage(96, 1, 100)
	img.OCI = true
	img.Annotations = map[string]string{"org.opencontainers.image.source": "https://example.com/app", "evil": "a\x1b[2Jb"}
	img.Config = labeledConfig(t, img)
	pushed := reg.MustPush(t, "team/app:1", img)
	idx := reg.MustPushIndex(t, "team/multi:1", registrytest.IndexSpec{Images: []registrytest.Image{img}, OCI: true})
	pushAnnotatedIndex(t, reg, "team/multi:annotated", idx)
	env := homeEnv(t)
	out, errOut, code := run(t, env, "", "inspect", reg.Ref("team/multi:annotated"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Exposed ports:      53/udp, 8080/tcp\n",
		"Labels:             maintainer=team@example.com\n",
		"                    org.opencontainers.image.version=1.0\n",
		"Annotations:        evil=a?[2Jb\n",
		"                    org.opencontainers.image.source=https://example.com/app\n",
		"Index annotations:  org.opencontainers.image.created=2024-01-01T00:00:00Z\n",
		"Config:             " + pushed.Config.Digest.String(),
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("an escape sequence reached the terminal:\n%q", out)
	}
}
