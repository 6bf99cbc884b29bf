//go:build linux

package cli

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/internal/treetest"
)

// rootfsImage has layers that only make sense applied in order.
func rootfsImage() registrytest.Image {
	return registrytest.Image{Layers: [][]byte{
		registrytest.Layer(map[string][]byte{"etc/": nil, "etc/a": []byte("1"), "etc/gone": []byte("x"), "bin/": nil, "bin/sh": []byte("sh")}),
		registrytest.Tar(map[string][]byte{"etc/a": []byte("2"), "etc/.wh.gone": nil}),
	}}
}

var rootfsTree = []string{"bin/", "bin/sh = sh", "etc/", "etc/a = 2"}

// tarTree is what a tar holds, in the form of dirTree.
func tarTree(t *testing.T, b []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("reading the tar: %v", err)
		}
		body, _ := io.ReadAll(tr)
		if h.Typeflag == tar.TypeDir {
			out = append(out, h.Name)
		} else {
			out = append(out, h.Name+" = "+string(body))
		}
	}
	slices.Sort(out)
	return out
}

func TestUnpackExport(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	pushed := reg.MustPush(t, "team/app:1", rootfsImage())
	reg.MustPush(t, "team/other:1", registrytest.RandomImage(3, 1, 10))
	env := homeEnv(t)
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	archive := filepath.Join(dir, "app.tar")
	bundle := filepath.Join(dir, "bundle.tar")
	layout := filepath.Join(dir, "layout")
	for _, args := range [][]string{
		{"pull", "-q", "--cache-dir", cache, reg.Ref("team/app:1"), "-o", archive},
		{"pull", "-q", "--cache-dir", cache, reg.Ref("team/app:1"), reg.Ref("team/other:1"), "-o", bundle},
		{"pull", "-q", "--cache-dir", cache, "--format", "oci", reg.Ref("team/app:1"), "-o", layout},
	} {
		if _, errOut, code := run(t, env, "", args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}

	t.Run("unpack --json", func(t *testing.T) {
		t.Parallel()
		target := filepath.Join(t.TempDir(), "rootfs")
		out, errOut, code := run(t, env, "", "unpack", "--json", archive, target)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var v struct {
			Digest string
			Stats  struct{ Layers, Entries, Files int }
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.Digest != pushed.Digest.String() || v.Stats.Layers != 2 || v.Stats.Files != 4 {
			t.Errorf("--json: %s (%v)", out, err)
		}
		if got := treetest.List(t, target); !slices.Equal(got, rootfsTree) {
			t.Errorf("tree %q, want %q", got, rootfsTree)
		}
	})
	for _, src := range []string{archive, layout} {
		t.Run("export "+filepath.Base(src), func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "fs.tar")
			if _, errOut, code := run(t, env, "", "export", src, "-o", out); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			b, _ := os.ReadFile(out)
			if got := tarTree(t, b); !slices.Equal(got, rootfsTree) {
				t.Errorf("export holds %q, want %q", got, rootfsTree)
			}
		})
	}
	t.Run("export REF to stdout", func(t *testing.T) {
		t.Parallel()
		out, errOut, code := run(t, env, "", "export", "--cache-dir", cache, reg.Ref("team/app:1"), "-o", "-")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if got := tarTree(t, []byte(out)); !slices.Equal(got, rootfsTree) {
			t.Errorf("export holds %q, want %q", got, rootfsTree)
		}
	})
	t.Run("export REF without cache", func(t *testing.T) {
		t.Parallel()
		out := filepath.Join(t.TempDir(), "fs.tar")
		if _, errOut, code := run(t, env, "", "export", "--no-cache", reg.Ref("team/app:1"), "-o", out); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		b, _ := os.ReadFile(out)
		if got := tarTree(t, b); !slices.Equal(got, rootfsTree) {
			t.Errorf("export holds %q, want %q", got, rootfsTree)
		}
	})
	t.Run("a bundle needs --image", func(t *testing.T) {
		t.Parallel()
		target := filepath.Join(t.TempDir(), "rootfs")
		_, errOut, code := run(t, env, "", "unpack", bundle, target)
		if code != ExitUsage || !strings.Contains(errOut, reg.Ref("team/other:1")) || !strings.Contains(errOut, "--image") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if _, errOut, code := run(t, env, "", "unpack", "--image", reg.Ref("team/app:1"), bundle, target); code != 0 {
			t.Fatalf("--image: exit %d: %s", code, errOut)
		}
		if got := treetest.List(t, target); !slices.Equal(got, rootfsTree) {
			t.Errorf("tree %q", got)
		}
	})
	t.Run("a DIR not empty needs --force", func(t *testing.T) {
		t.Parallel()
		target := t.TempDir()
		os.WriteFile(filepath.Join(target, "mine"), []byte("m"), 0o644)
		if _, _, code := run(t, env, "", "unpack", archive, target); code != ExitError {
			t.Fatalf("exit %d", code)
		}
		if _, errOut, code := run(t, env, "", "unpack", "--force", archive, target); code != 0 {
			t.Fatalf("--force: exit %d: %s", code, errOut)
		}
		if got := treetest.List(t, target); !slices.Contains(got, "mine = m") || !slices.Contains(got, "etc/a = 2") {
			t.Errorf("tree %q", got)
		}
	})
	t.Run("a corrupt layer leaves nothing", func(t *testing.T) {
		t.Parallel()
		bad := filepath.Join(t.TempDir(), "layout")
		if err := os.CopyFS(bad, os.DirFS(layout)); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(bad, "blobs", "sha256", pushed.Layers[1].Digest.Encoded())
		os.Chmod(p, 0o644)
		// The same size, another content: only the digest can tell.
		body := registrytest.Tar(map[string][]byte{"etc/a": []byte("3"), "etc/.wh.gone": nil})
		if err := os.WriteFile(p, body, 0o644); err != nil {
			t.Fatal(err)
		}
		parent := t.TempDir()
		_, errOut, code := run(t, env, "", "unpack", bad, filepath.Join(parent, "rootfs"))
		if code != ExitError || !strings.Contains(errOut, "digest mismatch") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		out := filepath.Join(parent, "fs.tar")
		if _, errOut, code := run(t, env, "", "export", bad, "-o", out); code != ExitError {
			t.Fatalf("export: exit %d: %s", code, errOut)
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 0 {
			t.Errorf("a failed unpack and export left %v", entries)
		}
	})
	t.Run("pull --format rootfs", func(t *testing.T) {
		t.Parallel()
		target := filepath.Join(t.TempDir(), "rootfs")
		out, errOut, code := run(t, env, "", "pull", "--json", "--cache-dir", cache, "--format", "rootfs", "--max-size", "1M", reg.Ref("team/app:1"), "-o", target)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var v struct{ Unpacked struct{ Layers int } }
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.Unpacked.Layers != 2 {
			t.Errorf("--json: %s", out)
		}
		if got := treetest.List(t, target); !slices.Equal(got, rootfsTree) {
			t.Errorf("tree %q, want %q", got, rootfsTree)
		}
	})
	t.Run("pull --format rootfs over a limit leaves nothing", func(t *testing.T) {
		t.Parallel()
		parent := t.TempDir()
		_, errOut, code := run(t, env, "", "pull", "--no-cache", "--format", "rootfs", "--max-entries", "2", reg.Ref("team/app:1"), "-o", filepath.Join(parent, "rootfs"))
		if code != ExitError || !strings.Contains(errOut, "limit") {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 0 {
			t.Errorf("a failed pull left %v", entries)
		}
	})
}

func TestUnpackUsage(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	env := homeEnv(t)
	ref := reg.Ref("team/app:1")
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unpack needs DIR", []string{"unpack", "x.tar"}, "SRC and DIR"},
		{"unpack of nothing", []string{"unpack", filepath.Join(dir, "nope.tar"), filepath.Join(dir, "r")}, "no such file"},
		{"a bad size", []string{"unpack", "--max-size", "10Q", "a", "b"}, "size"},
		{"a bad platform", []string{"unpack", "--platform", "arm64", "a", "b"}, "os/arch"},
		{"export needs -o", []string{"export", ref}, "-o FILE"},
		{"export of neither", []string{"export", "Not/A/Ref", "-o", "-"}, "neither"},
		{"--image with a REF", []string{"export", "--image", "x", ref, "-o", "-"}, "local archive"},
		{"--force without rootfs", []string{"pull", "--force", ref, "-o", filepath.Join(dir, "x.tar")}, "--format rootfs"},
		{"--max-size without rootfs", []string{"pull", "--max-size", "1G", ref}, "--format rootfs"},
		{"rootfs of two images", []string{"pull", "--format", "rootfs", ref, ref, "-o", filepath.Join(dir, "r")}, "one image"},
		{"rootfs to stdout", []string{"pull", "--format", "rootfs", ref, "-o", "-"}, "haul export"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, errOut, code := run(t, env, "", tt.args...)
			if code != ExitUsage || !strings.Contains(errOut, tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want exit 2 mentioning %q", code, errOut, tt.wantErr)
			}
		})
	}
}
