//go:build linux

package rootfs

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// rootlessEnv marks a test process that TestRootless started as nobody.
const rootlessEnv = "HAUL_ROOTFS_ROOTLESS_CHILD"

// TestRootless runs this package's unpack tests again as an unprivileged user
// when the tests run as root (as CI does): the same escapes must be stopped,
// owners and devices are skipped, and everything unpacked stays readable.
func TestRootless(t *testing.T) {
	if os.Getenv(rootlessEnv) != "" {
		t.Skip("already the unprivileged run")
	}
	if os.Geteuid() != 0 {
		t.Skip("not root: the other tests already run unprivileged")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv (util-linux) is not installed")
	}
	// The test binary sits in a directory only root may enter: copy it where nobody can run it.
	dir, err := os.MkdirTemp("", "haul-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "rootfs.test")
	src, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o777)
	os.Chmod(tmp, 0o777) // past the umask
	cmd := exec.CommandContext(t.Context(), setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--",
		bin, "-test.run", "^(TestApplySemantics|TestConfinement|TestMetadata|TestRefusals|TestTarget|TestUnprivileged)$", "-test.count=1")
	cmd.Env = append(os.Environ(), rootlessEnv+"=1", "TMPDIR="+tmp, "GOCOVERDIR=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the tests as nobody failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("the tests as nobody did not run:\n%s", out)
	}
}

// TestUnprivileged: devices are skipped with one warning each, owners with
// one warning in all, and a file or directory without owner permissions is
// still readable (and a directory removable) by the user who unpacked it.
func TestUnprivileged(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root: TestRootless runs this as nobody")
	}
	t.Parallel()
	var warnings []string
	c := Config{Warn: func(s string) { warnings = append(warnings, s) }}
	layer := l1(t,
		ent{name: "dev/null", typ: tar.TypeChar, mode: 0o666, uid: 0},
		ent{name: "dev/sda", typ: tar.TypeBlock, mode: 0o660},
		ent{name: "secret", typ: tar.TypeReg, mode: 0o000, body: "s", uid: 1, gid: 1},
		ent{name: "locked", typ: tar.TypeDir, mode: 0o000},
		ent{name: "locked/f", typ: tar.TypeReg, mode: 0o644, body: "f"},
	)
	target, err := unpack(t, c, layer)
	if err != nil {
		t.Fatal(err)
	}
	devices, owners := 0, 0
	for _, w := range warnings {
		switch {
		case strings.Contains(w, "skipped device"):
			devices++
		case strings.Contains(w, "owners"):
			owners++
		}
	}
	if devices != 2 || owners != 1 {
		t.Errorf("warnings %q: want one per device (2) and one about owners", warnings)
	}
	for p, want := range map[string]string{"secret": "s", "locked/f": "f"} {
		f, err := os.Open(filepath.Join(target, p))
		if err != nil {
			t.Fatalf("%s is not readable by its user: %v", p, err)
		}
		b, _ := io.ReadAll(f)
		f.Close()
		if !bytes.Equal(b, []byte(want)) {
			t.Errorf("%s holds %q", p, b)
		}
	}
	if _, err := os.Lstat(filepath.Join(target, "dev/null")); err == nil {
		t.Error("a device node was made without root")
	}
}
