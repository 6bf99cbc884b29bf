package pull_test

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/internal/loopfs"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/layout"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
)

// TestPullChecksOutput: an output that could not be written is refused
// before the first request reaches the registry (counted there, token
// requests included), with an *disk.OutputError naming the output as given,
// never a temporary name, and nothing is left behind.
func TestPullChecksOutput(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	reg.MustPush(t, "team/app:1", plainImage(31, 1, 1000))
	var requests atomic.Int64
	count := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			next.ServeHTTP(w, r)
		})
	}
	reg.Wrap(count)
	reg.WrapRealm(count)
	cl := newClient(t, reg, auth.Credential{Username: registrytest.Alice, Password: registrytest.AlicePassword})
	r := []ref.Reference{mustRef(t, reg.Ref("team/app:1"))}

	file := func(name string) func(t *testing.T, dir string) string {
		return func(t *testing.T, dir string) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	in := func(elem ...string) func(t *testing.T, dir string) string {
		return func(t *testing.T, dir string) string { return filepath.Join(append([]string{dir}, elem...)...) }
	}
	nonEmpty := func(t *testing.T, dir string) string {
		os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o644)
		return dir
	}
	type test struct {
		name   string
		format pull.Format
		setup  func(t *testing.T, dir string) string // returns the output
		want   error
	}
	var tests []test
	for _, f := range []pull.Format{pull.Docker, pull.OCIArchive, pull.OCI, pull.RootFS} {
		tests = append(tests,
			test{"missing parent", f, in("missing", "out"), fs.ErrNotExist},
			test{"parent is a file", f, func(t *testing.T, dir string) string { return filepath.Join(file("f")(t, dir), "out") }, disk.ErrNotDir},
		)
	}
	tests = append(tests,
		test{"tar onto a directory", pull.Docker, in(), disk.ErrIsDir},
		test{"tar onto a directory", pull.OCIArchive, in(), disk.ErrIsDir},
		test{"oci onto a file", pull.OCI, file("out"), disk.ErrNotDir},
		test{"oci onto a directory of other things", pull.OCI, nonEmpty, layout.ErrNotLayout},
		test{"rootfs onto a directory not empty", pull.RootFS, nonEmpty, disk.ErrNotEmpty},
		test{"rootfs onto a file", pull.RootFS, file("out"), disk.ErrNotDir},
	)
	t.Run("refused", func(t *testing.T) {
		for _, tt := range tests {
			t.Run(string(tt.format)+": "+tt.name, func(t *testing.T) {
				t.Parallel()
				if tt.format == pull.RootFS && runtime.GOOS != "linux" {
					t.Skip("rootfs needs Linux")
				}
				dir := t.TempDir()
				c := config(t, cl, newStore(t))
				c.Format, c.Output = tt.format, tt.setup(t, dir)
				checkRefused(t, c, r, tt.want, dir)
			})
		}
		t.Run("read-only mount", func(t *testing.T) {
			t.Parallel()
			mnt := loopfs.Mount(t, "tmpfs") // skips without Linux and root
			if err := os.Mkdir(filepath.Join(mnt, "layout"), 0o777); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
				t.Skipf("mount -o remount,ro: %v: %s", err, out)
			}
			t.Cleanup(func() { exec.Command("mount", "-o", "remount,rw", mnt).Run() })
			for _, f := range []pull.Format{pull.Docker, pull.OCIArchive, pull.OCI, pull.RootFS} {
				for _, out := range []string{"new", "layout"} {
					if f != pull.OCI && out == "layout" {
						continue
					}
					c := config(t, cl, newStore(t))
					c.Format, c.Output = f, filepath.Join(mnt, out)
					checkRefused(t, c, r, syscall.EROFS, mnt)
				}
			}
		})
	})
	if n := requests.Load(); n != 0 {
		t.Fatalf("the refused pulls sent %d requests", n)
	}
	// The same registry counts a pull it is asked for.
	c := config(t, cl, nil)
	if _, err := pull.Pull(t.Context(), r, c); err != nil {
		t.Fatal(err)
	}
	if requests.Load() == 0 {
		t.Fatal("a pull sent no request that was counted: the counter counts nothing")
	}
}

// checkRefused pulls with c, and checks that the pull is refused for its
// output with a *disk.OutputError that matches want and names c.Output, and
// that dir is as it was.
func checkRefused(t *testing.T, c pull.Config, r []ref.Reference, want error, dir string) {
	t.Helper()
	before := dirTree(t, dir)
	_, err := pull.Pull(t.Context(), r, c)
	var oe *disk.OutputError
	if !errors.As(err, &oe) || oe.Path != c.Output || !errors.Is(err, want) {
		t.Fatalf("%s to %s: %v, want an *disk.OutputError for it matching %v", c.Format, c.Output, err, want)
	}
	if msg := err.Error(); !strings.Contains(msg, c.Output) || strings.Contains(msg, ".haul-") {
		t.Errorf("%q does not name %s, or names a temporary file", msg, c.Output)
	}
	if after := dirTree(t, dir); after != before {
		t.Errorf("the refused pull changed %s: %s, then %s", dir, before, after)
	}
}

// dirTree lists every path under dir.
func dirTree(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(names, "\n")
}

// TestPullReplacesOnSuccess: a tar pull onto an existing file replaces it
// when it succeeds, and leaves it as it was when it fails.
func TestPullReplacesOnSuccess(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	pushed := reg.MustPush(t, "team/app:1", plainImage(32, 1, 1000))
	cl := newClient(t, reg, auth.Credential{})
	c := config(t, cl, nil)
	if err := os.WriteFile(c.Output, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, reg.Ref("team/app:2"))}, c); err == nil {
		t.Fatal("a pull of a missing tag succeeded")
	}
	if b, err := os.ReadFile(c.Output); err != nil || string(b) != "mine" {
		t.Fatalf("the failed pull changed %s: %q, %v", c.Output, b, err)
	}
	if _, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, reg.Ref("team/app:1"))}, c); err != nil {
		t.Fatal(err)
	}
	readTarFile(t, c.Output).has(t, imageBlobs(pushed)...)
}
