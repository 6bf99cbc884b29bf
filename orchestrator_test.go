package haul_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// TestOrchestratorModule builds testdata/orchestrator, a module of its own
// that imports haul as a program outside this one would (a replace
// directive points at this tree), and runs its two programs: a digest, and
// a pull to a tar. Only exported API can build there.
func TestOrchestratorModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module: not with -short")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command builds the module: %v", err)
	}
	bin := t.TempDir()
	build := exec.CommandContext(t.Context(), gobin, "build", "-o", bin+string(filepath.Separator), "./...")
	build.Dir = filepath.Join("testdata", "orchestrator")
	build.Env = append(goEnv, "GOWORK=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build in %s: %v\n%s", build.Dir, err, out)
	}

	ref := reg.Ref("team/app:1")
	digest := runProgram(t, filepath.Join(bin, "digest"), ref)
	want := "sha256:9b0e200758a654535354d5191643e2d4745cea2c52d0a12183d6ee5c04974616"
	if digest != want {
		t.Errorf("digest %s printed %q, want %s", ref, digest, want)
	}
	tarPath := filepath.Join(t.TempDir(), "bundle.tar")
	if out := runProgram(t, filepath.Join(bin, "pull"), tarPath, ref); out != ref+" "+want {
		t.Errorf("pull printed %q, want %q", out, ref+" "+want)
	}
	if fi, err := os.Stat(tarPath); err != nil || fi.Size() == 0 {
		t.Errorf("pull wrote no tar at %s: %v", tarPath, err)
	}
}

// runProgram runs a program built by the test and returns its output, trimmed.
func runProgram(t *testing.T, prog string, args ...string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		prog += ".exe"
	}
	out, err := exec.CommandContext(t.Context(), prog, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(prog), strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
