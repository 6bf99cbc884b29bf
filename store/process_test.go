package store

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/haul-dev/haul/image"
)

// The other process of TestTwoProcesses is this test binary, run again with
// helperEnv set to what it should do and storeEnv to the store's directory.
const (
	helperEnv = "HAUL_STORE_TEST_HELPER"
	storeEnv  = "HAUL_STORE_TEST_DIR"
	// The blob both processes want.
	twoSize = 64 << 10
	twoSeed = 42
	dieAt   = 20 << 10
)

// TestHelperProcess is not a test: it is the child of TestTwoProcesses.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		return
	}
	content, d := blob(twoSize, twoSeed)
	s, err := Open(Config{Dir: os.Getenv(storeEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	f := &fake{data: content, chunk: 1 << 10, delay: 2 * time.Millisecond}
	if mode == "die" {
		f.exitAt = dieAt
	}
	fetch := func(ctx context.Context, offset int64, v *image.Verifier) (io.ReadCloser, error) {
		fmt.Println("fetching") // the partial is locked now
		return f.fetch(ctx, offset, v)
	}
	fmt.Println("ready")
	res, err := s.Ensure(context.Background(), d, fetch, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("fetched", res.Fetched)
	os.Exit(0)
}

// child starts the helper process in mode on dir and returns its output lines.
func child(t *testing.T, mode, dir string) (*exec.Cmd, <-chan string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	// Under -race, a process that exits 0 otherwise sleeps a second first.
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, storeEnv+"="+dir, "GORACE=atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return cmd, lines
}

// waitFor reads lines until want.
func waitFor(t *testing.T, lines <-chan string, want string) {
	t.Helper()
	for l := range lines {
		if l == want {
			return
		}
	}
	t.Fatalf("the child process never said %q", want)
}

func TestTwoProcesses(t *testing.T) {
	t.Parallel()
	content, d := blob(twoSize, twoSeed)
	tests := []struct {
		name        string
		mode        string
		after       string // the child's line the parent waits for before its Ensure
		wantOffsets []int64
	}{
		// Both want the blob at once: one downloads it, the other finds it done.
		{name: "same blob at once", mode: "ensure", after: "ready"},
		// The child is killed holding the lock: the parent, waiting for it, resumes its partial.
		{name: "killed mid-download", mode: "die", after: "fetching", wantOffsets: []int64{dieAt}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := newStore(t, Config{Dir: dir})
			cmd, lines := child(t, tt.mode, dir)
			waitFor(t, lines, tt.after)
			f := &fake{data: content, chunk: 1 << 10, delay: 2 * time.Millisecond}
			res, err := s.Ensure(t.Context(), d, f.fetch, nil)
			if err != nil {
				t.Fatal(err)
			}
			var childFetched int64
			for l := range lines {
				fmt.Sscanf(l, "fetched %d", &childFetched)
			}
			err = cmd.Wait()
			var ee *exec.ExitError
			switch {
			case tt.mode == "die":
				if !errors.As(err, &ee) || ee.ExitCode() != 3 {
					t.Fatalf("child: %v, want exit status 3", err)
				}
				if got := f.calls(); !slices.Equal(got, tt.wantOffsets) {
					t.Fatalf("parent fetched at %v, want %v", got, tt.wantOffsets)
				}
				if res.Cached != dieAt || res.Fetched != twoSize-dieAt {
					t.Fatalf("parent's Result = %+v, want the child's %d bytes resumed", res, dieAt)
				}
			case err != nil:
				t.Fatalf("child: %v", err)
			case res.Fetched+childFetched != twoSize:
				t.Fatalf("parent fetched %d and child %d bytes; want one download of %d", res.Fetched, childFetched, twoSize)
			}
			checkBlob(t, s, d, content)
			if n := partialSize(t, s, d); n != -1 {
				t.Fatalf("a partial of %d bytes is left", n)
			}
		})
	}
}
