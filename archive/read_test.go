package archive_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/rootfs"
)

// pullTo pulls refs from reg with haul itself into a fresh output of format f.
func pullTo(t *testing.T, reg *registrytest.Registry, f pull.Format, platforms []image.Platform, all bool, refs ...string) string {
	t.Helper()
	cl, err := registry.New(registry.Config{Registry: reg.Host()})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	var rs []ref.Reference
	for _, s := range refs {
		r, err := ref.Parse(reg.Ref(s))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	_, err = pull.Pull(t.Context(), rs, pull.Config{
		Source:       func(string) (pull.Source, error) { return cl, nil },
		Format:       f,
		Output:       out,
		Platforms:    platforms,
		AllPlatforms: all,
	})
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	return out
}

// readLayers reads every layer of s through rootfs.Open, which verifies the
// blob digest and the diff_id, and returns the uncompressed tars.
func readLayers(t *testing.T, rd *archive.Reader, s *archive.Stored) [][]byte {
	t.Helper()
	ls, err := rootfs.Layers(&s.Manifest, &s.Config)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, l := range ls {
		rc, err := rd.Blob(l.Descriptor)
		if err != nil {
			t.Fatal(err)
		}
		tr, err := rootfs.Open(t.Context(), rc, l)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		tr.Close()
		rc.Close()
		if err != nil {
			t.Fatalf("layer %s: %v", l.Descriptor.Digest, err)
		}
		out = append(out, b)
	}
	return out
}

func TestReadPulled(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	img := registrytest.Image{Layers: [][]byte{
		registrytest.Layer(map[string][]byte{"etc/a": []byte("a")}),
		registrytest.Tar(map[string][]byte{"etc/b": []byte("b")}), // uncompressed
	}}
	app := reg.MustPush(t, "team/app:1", img)
	other := reg.MustPush(t, "team/other:2", registrytest.RandomImage(5, 1, 100))
	arm := registrytest.RandomImage(6, 1, 100)
	arm.Platform.OS, arm.Platform.Architecture = "linux", "arm64"
	amd := img
	idx := reg.MustPushIndex(t, "team/multi:1", registrytest.IndexSpec{Images: []registrytest.Image{amd, arm}, OCI: true, Attestation: true})
	amd64 := image.Platform{OS: "linux", Architecture: "amd64"}
	arm64 := image.Platform{OS: "linux", Architecture: "arm64"}

	tests := []struct {
		name      string
		format    pull.Format
		platforms []image.Platform
		all       bool
		refs      []string
		want      string // name asked for
		platform  image.Platform
		digest    digest.Digest
		err       string
	}{
		{"docker", pull.Docker, nil, false, []string{"team/app:1"}, "", amd64, app.Digest, ""},
		{"oci-archive", pull.OCIArchive, nil, false, []string{"team/app:1"}, "", amd64, app.Digest, ""},
		{"oci layout", pull.OCI, nil, false, []string{"team/app:1"}, "", amd64, app.Digest, ""},
		{"by its full name", pull.Docker, nil, false, []string{"team/app:1"}, reg.Ref("team/app:1"), amd64, app.Digest, ""},
		{"a bundle needs a name", pull.Docker, nil, false, []string{"team/app:1", "team/other:2"}, "", amd64, "", "holds 2 images"},
		{"a bundle by name", pull.Docker, nil, false, []string{"team/app:1", "team/other:2"}, reg.Ref("team/other:2"), amd64, other.Digest, ""},
		{"a name not there", pull.OCI, nil, false, []string{"team/app:1"}, reg.Ref("team/nope:1"), amd64, "", "no image named"},
		{"platforms of one name", pull.Docker, []image.Platform{amd64, arm64}, false, []string{"team/multi:1"}, "", arm64, idx.Manifests[1].Digest, ""},
		{"a whole index", pull.OCIArchive, nil, true, []string{"team/multi:1"}, "", arm64, idx.Manifests[1].Digest, ""},
		{"a whole index, host", pull.OCI, nil, true, []string{"team/multi:1"}, "", amd64, idx.Manifests[0].Digest, ""},
		{"a platform the index lacks", pull.OCI, nil, true, []string{"team/multi:1"}, "", image.Platform{OS: "linux", Architecture: "s390x"}, "", "no image for platform linux/s390x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := pullTo(t, reg, tt.format, tt.platforms, tt.all, tt.refs...)
			rd, err := archive.Open(t.Context(), src)
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			for _, r := range tt.refs {
				if !slices.ContainsFunc(rd.Images(), func(l archive.Listed) bool { return slices.Contains(l.Names, reg.Ref(r)) }) {
					t.Errorf("Images() = %+v: no %s", rd.Images(), reg.Ref(r))
				}
			}
			s, err := rd.Image(t.Context(), tt.want, tt.platform)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Image error = %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Digest() != tt.digest {
				t.Errorf("digest %s, want %s", s.Digest(), tt.digest)
			}
			if len(s.Config.RootFS.DiffIDs) != len(s.Manifest.Layers) || digest.FromBytes(s.ConfigBody) != s.Manifest.Config.Digest {
				t.Errorf("config %+v does not go with manifest %+v", s.Config.RootFS, s.Manifest)
			}
			readLayers(t, rd, s)
		})
	}
}

// dockerSave builds an archive as docker save wrote it before Docker 25:
// manifest.json, <id>.json, <v1id>/layer.tar, a layer shared by symlink.
func dockerSave(t *testing.T, mutate func(files map[string][]byte, links map[string]string, items []map[string]any)) (string, [][]byte) {
	t.Helper()
	l1 := registrytest.Tar(map[string][]byte{"bin/": nil, "bin/sh": []byte("#!")})
	l2 := registrytest.Tar(map[string][]byte{"etc/os-release": []byte("ID=test")})
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"rootfs": map[string]any{"type": "layers", "diff_ids": []digest.Digest{digest.FromBytes(l1), digest.FromBytes(l2), digest.FromBytes(l1)}},
	})
	id := digest.FromBytes(cfg).Encoded()
	files := map[string][]byte{
		id + ".json":                           cfg,
		strings.Repeat("a", 64) + "/layer.tar": l1,
		strings.Repeat("b", 64) + "/layer.tar": l2,
		strings.Repeat("b", 64) + "/VERSION":   []byte("1.0"),
	}
	links := map[string]string{strings.Repeat("c", 64) + "/layer.tar": "../" + strings.Repeat("a", 64) + "/layer.tar"}
	items := []map[string]any{{
		"Config":   id + ".json",
		"RepoTags": []string{"team/app:1"},
		"Layers":   []string{strings.Repeat("a", 64) + "/layer.tar", strings.Repeat("b", 64) + "/layer.tar", strings.Repeat("c", 64) + "/layer.tar"},
	}}
	if mutate != nil {
		mutate(files, links, items)
	}
	mj, _ := json.Marshal(items)
	files["manifest.json"] = mj
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg})
		tw.Write(files[n])
	}
	for n, to := range links {
		tw.WriteHeader(&tar.Header{Name: n, Linkname: to, Typeflag: tar.TypeSymlink})
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "save.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p, [][]byte{l1, l2, l1}
}

func TestReadDockerSave(t *testing.T) {
	t.Parallel()
	src, raw := dockerSave(t, nil)
	rd, err := archive.Open(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if ls := rd.Images(); len(ls) != 1 || !slices.Equal(ls[0].Names, []string{"team/app:1"}) {
		t.Fatalf("Images() = %+v", ls)
	}
	s, err := rd.Image(t.Context(), "team/app:1", image.Host())
	if err != nil {
		t.Fatal(err)
	}
	if s.Descriptor.Digest != "" || s.Digest() != s.Manifest.Config.Digest {
		t.Errorf("an old docker save has no manifest; Digest() should be the image ID, got %s", s.Digest())
	}
	for i, d := range s.Manifest.Layers {
		if d.MediaType != archive.MediaTypeDockerLayer || d.Digest != s.Config.RootFS.DiffIDs[i] || d.Size != int64(len(raw[i])) {
			t.Errorf("layer %d: %+v", i, d)
		}
	}
	got := readLayers(t, rd, s)
	for i := range raw {
		if !bytes.Equal(got[i], raw[i]) {
			t.Errorf("layer %d differs", i)
		}
	}
	// docker.io/library/... normalization: "team/app:1" is docker.io/team/app:1.
	if _, err := rd.Image(t.Context(), "docker.io/team/app:1", image.Host()); err != nil {
		t.Errorf("by its normalized name: %v", err)
	}
}

func TestReadRefuses(t *testing.T) {
	t.Parallel()
	layer := strings.Repeat("a", 64) + "/layer.tar"
	tests := []struct {
		name   string
		mutate func(files map[string][]byte, links map[string]string, items []map[string]any)
		open   bool // Open itself fails
		check  func(error) bool
	}{
		{"a layer path with ..", func(_ map[string][]byte, _ map[string]string, items []map[string]any) {
			items[0]["Layers"] = []string{"../../etc/passwd"}
		}, true, contains("holds a .. component")},
		{"an absolute layer path", func(_ map[string][]byte, _ map[string]string, items []map[string]any) {
			items[0]["Layers"] = []string{"/etc/passwd"}
		}, true, contains("absolute")},
		{"a config that is not its name", func(files map[string][]byte, _ map[string]string, items []map[string]any) {
			name := items[0]["Config"].(string)
			files[name] = append(files[name], ' ')
		}, false, isDigestError},
		{"a layer that is not its diff_id", func(files map[string][]byte, _ map[string]string, _ []map[string]any) {
			files[layer] = registrytest.Tar(map[string][]byte{"evil": []byte("x")})
		}, false, isDigestError},
		{"a symlink loop", func(_ map[string][]byte, links map[string]string, _ []map[string]any) {
			for k := range links {
				links[k] = "../" + strings.Repeat("d", 64) + "/layer.tar"
			}
			links[strings.Repeat("d", 64)+"/layer.tar"] = "../" + strings.Repeat("c", 64) + "/layer.tar"
		}, false, contains("links")},
		{"a symlink out of the archive", func(_ map[string][]byte, links map[string]string, _ []map[string]any) {
			for k := range links {
				links[k] = "../../../../etc/passwd"
			}
		}, false, contains("not exist")},
		{"layers and diff_ids disagree", func(_ map[string][]byte, _ map[string]string, items []map[string]any) {
			items[0]["Layers"] = []string{layer}
		}, false, contains("diff_ids")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, _ := dockerSave(t, tt.mutate)
			rd, err := archive.Open(t.Context(), src)
			if tt.open {
				if err == nil || !tt.check(err) {
					t.Fatalf("Open error = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			s, err := rd.Image(t.Context(), "", image.Host())
			if err == nil {
				ls, lerr := rootfs.Layers(&s.Manifest, &s.Config)
				if lerr != nil {
					t.Fatal(lerr)
				}
				for _, l := range ls {
					rc, berr := rd.Blob(l.Descriptor)
					if berr != nil {
						err = berr
						break
					}
					tr, oerr := rootfs.Open(t.Context(), rc, l)
					if oerr != nil {
						err = oerr
						break
					}
					_, err = io.Copy(io.Discard, tr)
					tr.Close()
					if err != nil {
						break
					}
				}
			}
			if err == nil || !tt.check(err) {
				t.Fatalf("error = %v", err)
			}
		})
	}
}

func TestReadLayoutTampered(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	app := reg.MustPush(t, "team/app:1", registrytest.RandomImage(3, 1, 100))
	src := pullTo(t, reg, pull.OCI, nil, false, "team/app:1")
	p := filepath.Join(src, "blobs", "sha256", app.Config.Digest.Encoded())
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, bytes.Replace(app.RawConfig, []byte("amd64"), []byte("arm64"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	rd, err := archive.Open(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if _, err := rd.Image(t.Context(), "", image.Host()); !isDigestError(err) {
		t.Fatalf("a tampered config: %v", err)
	}
}

func TestOpenNotAnArchive(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := archive.Open(t.Context(), dir); !errors.Is(err, archive.ErrNotArchive) {
		t.Errorf("empty dir: %v", err)
	}
	gz := filepath.Join(dir, "x.tar.gz")
	os.WriteFile(gz, registrytest.Layer(map[string][]byte{"a": nil}), 0o644)
	if _, err := archive.Open(t.Context(), gz); err == nil || !strings.Contains(err.Error(), "compressed") {
		t.Errorf("gzip'ed tar: %v", err)
	}
	if _, err := archive.Open(t.Context(), filepath.Join(dir, "nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func contains(s string) func(error) bool {
	return func(err error) bool { return err != nil && strings.Contains(err.Error(), s) }
}

func isDigestError(err error) bool {
	var de *image.DigestError
	return errors.As(err, &de)
}
