//go:build linux

package pull_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/internal/treetest"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/rootfs"
)

// layeredImage has three layers that only make sense applied in order: the
// second replaces and whites out what the first made, the third hardlinks.
func layeredImage() registrytest.Image {
	return registrytest.Image{Layers: [][]byte{
		registrytest.Layer(map[string][]byte{"etc/": nil, "etc/a": []byte("1"), "etc/gone": []byte("x"), "bin/": nil, "bin/sh": []byte("sh")}),
		registrytest.Tar(map[string][]byte{"etc/a": []byte("2"), "etc/.wh.gone": nil}),
		registrytest.Zstd(registrytest.Tar(map[string][]byte{"usr/": nil, "usr/x": []byte("x")})),
	}}
}

var wantTree = []string{"bin/", "bin/sh = sh", "etc/", "etc/a = 2", "usr/", "usr/x = x"}

func TestPullRootFS(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	pushed := reg.MustPush(t, "team/app:1", layeredImage())
	cl := newClient(t, reg, auth.Credential{})
	st := newStore(t)
	r := []ref.Reference{mustRef(t, reg.Ref("team/app:1"))}
	tests := []struct {
		name  string
		store bool
		jobs  int
	}{
		{"cached", true, 0},
		{"cached again: every blob present", true, 0},
		{"no cache", false, 0},
		{"one job", false, 1},
	}
	for _, tt := range tests {
		// In order: the second pull finds the first's blobs.
		t.Run(tt.name, func(t *testing.T) {
			c := config(t, cl, nil)
			if tt.store {
				c.Store = st
			}
			c.Jobs = tt.jobs
			c.Format = pull.RootFS
			c.Output = filepath.Join(t.TempDir(), "rootfs")
			res, err := pull.Pull(t.Context(), r, c)
			if err != nil {
				t.Fatal(err)
			}
			if got := treetest.List(t, c.Output); !slices.Equal(got, wantTree) {
				t.Errorf("tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantTree, "\n"))
			}
			if res.Unpacked == nil || res.Unpacked.Layers != 3 || res.Images[0].Digest != pushed.Digest {
				t.Errorf("result %+v, unpacked %+v", res, res.Unpacked)
			}
			if entries, _ := os.ReadDir(filepath.Dir(c.Output)); len(entries) != 1 {
				t.Errorf("beside the rootfs: %v", entries)
			}
		})
	}
}

func TestPullRootFSRefuses(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	reg.MustPush(t, "team/app:1", layeredImage())
	bad := layeredImage()
	cfg, _ := json.Marshal(image.Config{
		Platform: image.Platform{OS: "linux", Architecture: "amd64"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.FromString("a"), digest.FromString("b"), digest.FromString("c")}},
	})
	bad.Config = cfg
	reg.MustPush(t, "team/bad:1", bad)
	arm := layeredImage()
	arm.Platform = image.Platform{OS: "linux", Architecture: "arm64"}
	reg.MustPushIndex(t, "team/multi:1", registrytest.IndexSpec{Images: []registrytest.Image{layeredImage(), arm}})
	cl := newClient(t, reg, auth.Credential{})
	// The same image, from a registry that flips a bit in every blob it serves.
	evil := registrytest.New(t, registrytest.Config{})
	evil.MustPush(t, "team/app:1", layeredImage())
	evil.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := registrytest.Record(next, r)
			b := rec.Body.Bytes()
			if registrytest.IsBlobGET(r) && len(b) > 0 {
				b[len(b)/2] ^= 1
			}
			registrytest.CopyHeader(w, rec)
			w.WriteHeader(rec.Code)
			w.Write(b)
		})
	})
	evilClient := newClient(t, evil, auth.Credential{})
	amd64, arm64 := image.Platform{OS: "linux", Architecture: "amd64"}, image.Platform{OS: "linux", Architecture: "arm64"}

	tests := []struct {
		name   string
		refs   []string
		on     *registrytest.Registry // the registry refs name; nil: reg
		mutate func(c *pull.Config)
		check  func(error) bool
	}{
		{"two images", []string{"team/app:1", "team/multi:1"}, nil, nil, says("one image")},
		{"two platforms", []string{"team/multi:1"}, nil, func(c *pull.Config) { c.Platforms = []image.Platform{amd64, arm64} }, says("one platform")},
		{"all platforms", []string{"team/multi:1"}, nil, func(c *pull.Config) { c.AllPlatforms = true }, says("one platform")},
		{"stdout", []string{"team/app:1"}, nil, func(c *pull.Config) { c.Output = "-" }, says("stdout")},
		{"wrong diff_ids", []string{"team/bad:1"}, nil, nil, func(err error) bool {
			var de *image.DigestError
			return errors.As(err, &de) && strings.Contains(de.What, "diff_id")
		}},
		{"a limit", []string{"team/app:1"}, nil, func(c *pull.Config) { c.Unpack.MaxEntries = 2 }, func(err error) bool {
			var le *rootfs.LimitError
			return errors.As(err, &le)
		}},
		{"a layer the registry corrupts", []string{"team/app:1"}, evil, func(c *pull.Config) {
			c.Source = func(string) (pull.Source, error) { return evilClient, nil }
		}, func(err error) bool {
			var de *image.DigestError
			return errors.As(err, &de)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := config(t, cl, nil)
			c.Format = pull.RootFS
			c.Output = filepath.Join(t.TempDir(), "rootfs")
			if tt.mutate != nil {
				tt.mutate(&c)
			}
			on := reg
			if tt.on != nil {
				on = tt.on
			}
			var refs []ref.Reference
			for _, s := range tt.refs {
				refs = append(refs, mustRef(t, on.Ref(s)))
			}
			_, err := pull.Pull(t.Context(), refs, c)
			if !tt.check(err) {
				t.Fatalf("Pull error = %v", err)
			}
			if c.Output != "-" {
				if entries, _ := os.ReadDir(filepath.Dir(c.Output)); len(entries) != 0 {
					t.Errorf("a failed pull left %v", entries)
				}
			}
		})
	}
}

func TestPullRootFSForce(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	reg.MustPush(t, "team/app:1", layeredImage())
	cl := newClient(t, reg, auth.Credential{})
	c := config(t, cl, nil)
	c.Format = pull.RootFS
	c.Output = filepath.Join(t.TempDir(), "rootfs")
	if err := os.MkdirAll(filepath.Join(c.Output, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(c.Output, "etc", "mine"), []byte("m"), 0o644)
	r := []ref.Reference{mustRef(t, reg.Ref("team/app:1"))}
	if _, err := pull.Pull(t.Context(), r, c); err == nil {
		t.Fatal("pulled into a directory that is not empty")
	}
	c.Unpack.Force = true
	if _, err := pull.Pull(t.Context(), r, c); err != nil {
		t.Fatal(err)
	}
	want := slices.Concat(wantTree, []string{"etc/mine = m"})
	slices.Sort(want)
	if got := treetest.List(t, c.Output); !slices.Equal(got, want) {
		t.Errorf("tree %q, want %q", got, want)
	}
}

func says(s string) func(error) bool {
	return func(err error) bool { return err != nil && strings.Contains(err.Error(), s) }
}
