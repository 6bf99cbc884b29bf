package cli

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/config"
	"github.com/haul-dev/haul/internal/registrytest"
)

// jsonDoc is where every --json shape is documented.
const jsonDoc = "../../docs/json.md"

// opaque are the paths whose keys are data (labels, annotations, a
// manifest as the registry sent it), not part of haul's shape.
var opaque = map[string]bool{
	"manifest.manifest":         true,
	"inspect.annotations":       true,
	"inspect.image.labels":      true,
	"inspect.image.annotations": true,
}

// docExamples reads the ```json NAME blocks of docs/json.md.
func docExamples(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(jsonDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	blocks := map[string]string{}
	var name string
	var body strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case name == "" && strings.HasPrefix(line, "```json "):
			name = strings.TrimSpace(strings.TrimPrefix(line, "```json "))
			body.Reset()
		case name != "" && line == "```":
			if _, dup := blocks[name]; dup {
				t.Fatalf("%s: two examples named %s", jsonDoc, name)
			}
			blocks[name] = body.String()
			name = ""
		case name != "":
			body.WriteString(line + "\n")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return blocks
}

// keyPaths adds the paths of every key in v to paths, under prefix:
// "images[].manifests[].config".
func keyPaths(prefix string, v any, paths map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		if opaque[prefix] {
			return
		}
		for k, x := range v {
			p := prefix + "." + k
			paths[p] = true
			keyPaths(p, x, paths)
		}
	case []any:
		for _, x := range v {
			keyPaths(prefix+"[]", x, paths)
		}
	}
}

func pathsOf(t *testing.T, name, doc string) map[string]bool {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatalf("%s: %v in\n%s", name, err, doc)
	}
	paths := map[string]bool{}
	keyPaths(name, v, paths)
	return paths
}

// TestJSONDocs runs every command that prints JSON, in the cases that give
// each of its optional fields, and holds the keys it prints to the
// examples of docs/json.md: a field added, renamed or dropped without the
// document fails here.
func TestJSONDocs(t *testing.T) {
	t.Parallel()
	outputs := jsonOutputs(t)
	docs := docExamples(t)
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range outputs {
			if !yield(k) {
				return
			}
		}
	}) {
		t.Run(name, func(t *testing.T) {
			doc, ok := docs[name]
			if !ok {
				t.Fatalf("%s has no ```json %s example; haul prints:\n%s", jsonDoc, name, strings.Join(outputs[name], "\n"))
			}
			want := pathsOf(t, name, doc)
			got := map[string]bool{}
			for _, out := range outputs[name] {
				for p := range pathsOf(t, name, out) {
					got[p] = true
				}
			}
			var missing, stale []string
			for p := range got {
				if !want[p] {
					missing = append(missing, p)
				}
			}
			for p := range want {
				if !got[p] {
					stale = append(stale, p)
				}
			}
			sort.Strings(missing)
			sort.Strings(stale)
			if len(missing) > 0 || len(stale) > 0 {
				t.Errorf("%s's example for %s:\n  lacks %q\n  has what haul no longer prints: %q\nhaul prints:\n%s",
					jsonDoc, name, missing, stale, strings.Join(outputs[name], "\n"))
			}
		})
	}
	for name := range docs {
		if _, ok := outputs[name]; !ok {
			t.Errorf("%s has an example %s that no case here checks", jsonDoc, name)
		}
	}
}

// jsonOutputs runs the commands and returns what each printed, by the name
// of its example in docs/json.md.
func jsonOutputs(t *testing.T) map[string][]string {
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	labeled := registrytest.RandomImage(80, 2, 1000)
	labeled.OCI = true
	labeled.Annotations = map[string]string{"org.opencontainers.image.source": "https://example.com/app"}
	labeled.Config = labeledConfig(t, labeled)
	app := reg.MustPush(t, "team/app:1", labeled)
	sbom := registrytest.Artifact{ArtifactType: "application/spdx+json", Subject: &ocispec.Descriptor{MediaType: app.MediaType, Digest: app.Digest, Size: app.Size}, Data: []byte("{}")}
	sp, err := reg.PushArtifact(t.Context(), "team/app@", sbom)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.PushFallbackIndex(t.Context(), "team/app", app.Digest, []ocispec.Descriptor{registrytest.ReferrerDescriptor(sp, sbom)}); err != nil {
		t.Fatal(err)
	}
	arm := registrytest.RandomImage(81, 1, 100)
	arm.Platform = ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	amd := registrytest.RandomImage(82, 1, 100)
	idx := reg.MustPushIndex(t, "team/multi:1", registrytest.IndexSpec{Images: []registrytest.Image{amd, arm}, OCI: true, Attestation: true})
	pushAnnotatedIndex(t, reg, "team/multi:annotated", idx)

	env := homeEnv(t)
	env["XDG_CACHE_HOME"] = t.TempDir()
	xdg := t.TempDir()
	env["XDG_CONFIG_HOME"] = xdg
	writeFile(t, xdg, "haul/config.toml", fmt.Sprintf("jobs = 4\n\n[registries.%q]\nmirrors = [\"mirror.example:5000\"]\nca-file = \"/etc/haul/ca.pem\"\n", "reg.example:5000"))
	sys := config.SystemPaths{RegistriesConf: writeFile(t, t.TempDir(), "registries.conf", `unqualified-search-registries = ["quay.io"]

[[registry]]
prefix = "reg.example:5000/blocked"
blocked = true

[[registry]]
prefix = "quay.io/team"
[[registry.mirror]]
location = "cache.example/quay"
pull-from-mirror = "digest-only"
insecure = true
`)}
	dir := t.TempDir()
	tarball := filepath.Join(dir, "app.tar")
	partial := partialLayout(t, sys, env, reg.Ref("team/multi:1"), idx.Manifests[1].Digest)
	cases := []struct {
		name string
		args []string
	}{
		{"version", []string{"version"}},
		{"digest", []string{"digest", reg.Ref("team/app:1")}},
		{"digest", []string{"digest", "--platform", "linux/arm64", reg.Ref("team/multi:1")}},
		{"tags", []string{"tags", reg.Ref("team/app")}},
		{"manifest", []string{"manifest", reg.Ref("team/app:1")}},
		{"inspect", []string{"inspect", reg.Ref("team/app:1")}},
		{"inspect", []string{"inspect", reg.Ref("team/multi:annotated")}},
		{"pull", []string{"pull", reg.Ref("team/app:1"), "-o", tarball}},
		{"pull", []string{"pull", "--platform", "all", reg.Ref("team/multi:1"), "-o", filepath.Join(dir, "all.tar")}},
		{"pull", []string{"pull", "--platform", "linux/amd64,linux/arm64", reg.Ref("team/multi:1"), "-o", filepath.Join(dir, "two.tar")}},
		{"pull", []string{"pull", "--referrers", reg.Ref("team/app:1"), "-o", filepath.Join(dir, "referrers.tar")}},
		{"cache-ls", []string{"cache", "ls"}},
		{"cache-prune", []string{"cache", "prune"}},
		{"config-show", []string{"config", "show", "--mirror", "flag.example:5000", "--insecure"}},
		{"copy", []string{"copy", "--dest-authfile", authFile(t, reg.Host()), reg.Ref("team/app:1"), reg.Ref("copied/app")}},
		{"copy", []string{"copy", "--dest-authfile", authFile(t, reg.Host()), "--platform", "linux/arm64", reg.Ref("team/multi:1"), reg.Ref("copied/multi:arm")}},
		{"push", []string{"push", "--dest-authfile", authFile(t, reg.Host()), filepath.Join(dir, "two.tar"), reg.Host() + "/pushed"}},
		{"push", []string{"push", "--dest-authfile", authFile(t, reg.Host()), partial, reg.Host() + "/partial"}},
		{"push", []string{"push", "--dest-authfile", authFile(t, reg.Host()), filepath.Join(dir, "referrers.tar"), reg.Host() + "/signed"}},
		{"sync", []string{"sync", "--dest-authfile", authFile(t, reg.Host()), syncFile(t, "images:\n  - "+reg.Ref("team/app:1")+"\n  - ref: "+reg.Ref("team/multi:1")+"\n    platforms: [linux/amd64]\n"), reg.Host() + "/synced"}},
		{"sync", []string{"sync", "--dry-run", syncFile(t, "images:\n  - ref: "+reg.Ref("team/multi:1")+"\n    platforms: [linux/amd64, linux/arm64]\n"), reg.Host() + "/synced"}},
	}
	if runtime.GOOS == "linux" { // unpacking is Linux's only
		cases = append(cases,
			struct {
				name string
				args []string
			}{"pull", []string{"pull", "--format", "rootfs", reg.Ref("team/app:1"), "-o", filepath.Join(dir, "rootfs")}},
			struct {
				name string
				args []string
			}{"unpack", []string{"unpack", tarball, filepath.Join(dir, "unpacked")}})
	}
	outputs := map[string][]string{}
	for _, c := range cases {
		out, errOut, code := runSystem(t, sys, env, "", append([]string{"--json"}, c.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, code, errOut)
		}
		outputs[c.name] = append(outputs[c.name], out)
	}
	_, errOut, _ := runSystem(t, sys, env, "", "--json", "digest", reg.Ref("team/app:nope"))
	outputs["error"] = []string{errOut}
	// A sync that fails for one image prints its report all the same, and exits 1.
	out, errOut, code := runSystem(t, sys, env, "", "--json", "sync", "--keep-going", "--dest-authfile", authFile(t, reg.Host()),
		syncFile(t, "images:\n  - "+reg.Ref("team/nothere:1")+"\n"), reg.Host()+"/synced")
	if code != 1 {
		t.Fatalf("a failing sync: exit %d: %s", code, errOut)
	}
	outputs["sync"] = append(outputs["sync"], out)
	return outputs
}

// partialLayout pulls r whole into an OCI layout, then removes the image
// manifest missing: an index the layout holds only in part, as docker save
// of one platform writes.
func partialLayout(t *testing.T, sys config.SystemPaths, env map[string]string, r string, missing digest.Digest) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	if _, errOut, code := runSystem(t, sys, env, "", "pull", "-q", "--platform", "all", "--format", "oci", r, "-o", dir); code != 0 {
		t.Fatalf("pull: %s", errOut)
	}
	if err := os.Remove(filepath.Join(dir, "blobs", missing.Algorithm().String(), missing.Encoded())); err != nil {
		t.Fatal(err)
	}
	return dir
}

// labeledConfig is img's config with labels and exposed ports.
func labeledConfig(t *testing.T, img registrytest.Image) []byte {
	t.Helper()
	var diffIDs []digest.Digest
	for _, l := range img.Layers {
		diffIDs = append(diffIDs, uncompressedDigest(t, l))
	}
	b, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		Config: ocispec.ImageConfig{
			Entrypoint:   []string{"/app"},
			Cmd:          []string{"--serve"},
			WorkingDir:   "/srv",
			User:         "app",
			Env:          []string{"PATH=/usr/bin:/bin"},
			ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}},
			Labels:       map[string]string{"org.opencontainers.image.version": "1.0", "maintainer": "team@example.com"},
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pushAnnotatedIndex pushes idx again under tag, with index annotations.
func pushAnnotatedIndex(t *testing.T, reg *registrytest.Registry, tag string, idx registrytest.Pushed) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(idx.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	m["annotations"] = map[string]string{"org.opencontainers.image.created": "2024-01-01T00:00:00Z"}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	repo, ref, _ := strings.Cut(tag, ":")
	if _, err := reg.PushManifest(t.Context(), repo, ref, idx.MediaType, b); err != nil {
		t.Fatal(err)
	}
}

// uncompressedDigest is the diff_id of layer l, gzipped or not.
func uncompressedDigest(t *testing.T, l []byte) digest.Digest {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(l))
	if err != nil {
		return digest.FromBytes(l)
	}
	d, err := digest.FromReader(zr)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
