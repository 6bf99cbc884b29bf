package pull_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	ctrarchive "github.com/containerd/containerd/v2/core/images/archive"
	"github.com/containerd/containerd/v2/plugins/content/local"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/store"
)

// TestContainerdImportsDockerTar feeds haul's docker tar to containerd's own
// importer (what `ctr import` and Docker's containerd image store run) and
// finds the image under its name with the registry's digest.
func TestContainerdImportsDockerTar(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	for _, oci := range []bool{false, true} {
		img := registrytest.RandomImage(30, 2, 4096)
		img.OCI = oci
		name := "team/docker:1"
		if oci {
			name = "team/oci:1"
		}
		pushed := reg.MustPush(t, name, img)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cl, err := registry.New(registry.Config{Registry: reg.Host(), Creds: auth.Static{}})
			if err != nil {
				t.Fatal(err)
			}
			st, err := store.Open(store.Config{Dir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			r, err := ref.Parse(reg.Ref(name))
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "image.tar")
			if _, err := pull.Pull(t.Context(), []ref.Reference{r}, pull.Config{
				Source: func(string) (pull.Source, error) { return cl, nil },
				Store:  st, Output: out, Format: pull.Docker,
			}); err != nil {
				t.Fatal(err)
			}
			cs, err := local.NewStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			idxDesc, err := ctrarchive.ImportIndex(t.Context(), cs, f)
			if err != nil {
				t.Fatalf("containerd ImportIndex: %v", err)
			}
			raw, err := content.ReadBlob(t.Context(), cs, idxDesc)
			if err != nil {
				t.Fatal(err)
			}
			var idx ocispec.Index
			if err := json.Unmarshal(raw, &idx); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, m := range idx.Manifests {
				if m.Annotations["io.containerd.image.name"] != r.String() {
					continue
				}
				found = true
				if m.Digest != pushed.Digest {
					t.Fatalf("containerd sees %s as %s, the registry as %s", r, m.Digest, pushed.Digest)
				}
				for _, d := range append([]ocispec.Descriptor{m, pushed.Config}, pushed.Layers...) {
					if _, err := cs.Info(t.Context(), d.Digest); err != nil {
						t.Errorf("blob %s not imported: %v", d.Digest, err)
					}
				}
			}
			if !found {
				t.Fatalf("no image named %s in the imported index: %s", r, raw)
			}
		})
	}
}
