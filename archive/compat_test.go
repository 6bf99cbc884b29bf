package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
)

// Tests against the tools that read these archives, run when they are installed.
// No network: every image is built here.

func TestGNUTarReads(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("tar"); err != nil {
		t.Skip("no tar on PATH")
	}
	f := newFixture(t)
	p, err := newPlan(f.images, true, 0) // every blob aligned: PAX comments throughout
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "a.tar")
	if err := p.WriteFile(t.Context(), out, f.src, 0); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(t.Context(), "tar", "-tvf", out)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("tar -tvf: %v\n%s", err, stderr.String())
	}
	if lines := strings.Count(stdout.String(), "\n"); lines != len(p.entries) {
		t.Errorf("tar -tvf lists %d entries, want %d:\n%s", lines, len(p.entries), stdout.String())
	}

	dir := t.TempDir()
	cmd = exec.CommandContext(t.Context(), "tar", "-xf", out, "-C", dir)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		t.Fatalf("tar -xf: %v\n%s", err, stderr.String())
	}
	for _, d := range p.Blobs() {
		got, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", d.Digest.Encoded()))
		if err != nil || !bytes.Equal(got, f.src.read(t, d.Digest)) {
			t.Errorf("%s extracted wrong (%v)", d.Digest, err)
		}
	}
}

// realImage puts a runnable-looking image in src: one gzip layer holding
// hello.txt, a config whose diff_ids is that layer's uncompressed digest, and a
// manifest of mediaType mt (OCI or Docker schema2).
func realImage(t *testing.T, src *blobs, mt string) Image {
	t.Helper()
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	body := []byte("hello from haul\n")
	if err := tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1, 0), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body)
	tw.Close()
	diffID := digest.FromBytes(layer.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(layer.Bytes())
	zw.Close()

	configMT, layerMT := image.MediaTypeOCIConfig, "application/vnd.oci.image.layer.v1.tar+gzip"
	if mt == image.MediaTypeDockerManifest {
		configMT, layerMT = image.MediaTypeDockerConfig, image.MediaTypeDockerLayerGzip
	}
	l := src.put(t, layerMT, gz.Bytes())
	cfgJSON, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      "2024-01-01T00:00:00Z",
		"config":       map[string]any{"Cmd": []string{"/hello"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []digest.Digest{diffID}},
		"history":      []map[string]any{{"created": "2024-01-01T00:00:00Z", "created_by": "haul test"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := src.put(t, configMT, cfgJSON)
	mJSON, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mt,
		"config":        cfg,
		"layers":        []image.Descriptor{l},
	})
	if err != nil {
		t.Fatal(err)
	}
	m := src.put(t, mt, mJSON)
	return Image{
		Name: "docker.io/library/hello:1", RepoTag: "hello:1",
		Root: m, Manifest: &m, Config: cfg, Layers: []image.Descriptor{l},
	}
}

func TestSkopeoReads(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("skopeo"); err != nil {
		t.Skip("no skopeo on PATH")
	}
	tests := []struct {
		name      string
		docker    bool
		transport string
		manifest  string
	}{
		{"docker, OCI manifest", true, "docker-archive", image.MediaTypeOCIManifest},
		{"docker, schema2 manifest", true, "docker-archive", image.MediaTypeDockerManifest},
		{"docker read as oci-archive", true, "oci-archive", image.MediaTypeOCIManifest},
		{"oci-archive, OCI manifest", false, "oci-archive", image.MediaTypeOCIManifest},
		{"oci-archive, schema2 manifest", false, "oci-archive", image.MediaTypeDockerManifest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := newBlobs(t)
			img := realImage(t, src, tt.manifest)
			p, err := newPlan([]Image{img}, tt.docker, 0) // aligned: skopeo must read PAX comments too
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "a.tar")
			if err := p.WriteFile(t.Context(), out, src, 0); err != nil {
				t.Fatal(err)
			}
			tmp := t.TempDir()
			skopeo := func(args ...string) []byte {
				t.Helper()
				cmd := exec.CommandContext(t.Context(), "skopeo", args...)
				cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				b, err := cmd.Output()
				if err != nil {
					t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
				}
				return b
			}
			ref := tt.transport + ":" + out
			var info struct {
				Digest       digest.Digest
				RepoTags     []string
				Architecture string
				Layers       []string
			}
			if err := json.Unmarshal(skopeo("inspect", ref), &info); err != nil {
				t.Fatal(err)
			}
			if info.Architecture != "amd64" || len(info.Layers) != 1 {
				t.Errorf("skopeo inspect %s: %+v", ref, info)
			}
			if tt.transport == "oci-archive" && info.Digest != img.Manifest.Digest {
				t.Errorf("skopeo inspect %s: digest %s, want the manifest's %s", ref, info.Digest, img.Manifest.Digest)
			}
			// A copy reads every blob and checks it against its digest; from a
			// docker-archive, the layers are checked against the config's diff_ids.
			skopeo("--insecure-policy", "copy", "--quiet", ref, "dir:"+filepath.Join(t.TempDir(), "copy"))
		})
	}
}
