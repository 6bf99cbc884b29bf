package haul_test

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/haul-dev/haul"
)

// TestSoak pulls 200 images through one Client, as a long-lived
// orchestrator would: the heap in use after GC at pull 200 is within 1 MiB
// of pull 50's, and after Close the goroutines and open files are those
// there were before.
func TestSoak(t *testing.T) {
	const pulls, warm = 200, 50
	ctx := t.Context()
	cfg := haul.Config{Login: alice, NoSettings: true, CacheDir: t.TempDir()}
	// A first client's pull starts what the process keeps for good (the
	// registry's own workers): not the Client's to give back.
	settle(t, cfg)
	goroutines, fds := runtime.NumGoroutine(), openFiles(t)

	c, err := haul.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var heapAtWarm uint64
	for i := 1; i <= pulls; i++ {
		name := fmt.Sprintf("team/app:%d", 1+i%2)
		if _, err := c.Pull(ctx, []string{reg.Ref(name)}, haul.Writer(io.Discard)); err != nil {
			t.Fatalf("pull %d: %v", i, err)
		}
		switch i {
		case warm:
			heapAtWarm = heapInUse()
		case pulls:
			if h := heapInUse(); h > heapAtWarm+1<<20 {
				t.Errorf("heap in use %d B after %d pulls, %d B after %d: grew by more than 1 MiB", h, pulls, heapAtWarm, warm)
			}
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Digest(ctx, reg.Ref("team/app:1")); err == nil {
		t.Error("a closed Client still works")
	}
	waitFor(t, "goroutines", goroutines, runtime.NumGoroutine)
	if fds >= 0 {
		waitFor(t, "open files", fds, func() int { return openFiles(t) })
	}
}

// settle pulls once through a Client of c and closes it.
func settle(t *testing.T, c haul.Config) {
	cl, err := haul.New(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Pull(t.Context(), []string{reg.Ref("team/app:1")}, haul.Writer(io.Discard)); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	time.Sleep(100 * time.Millisecond) // the server's side of the closed connections ends
}

// waitFor polls count for up to a second until it is at most want.
func waitFor(t *testing.T, what string, want int, count func() int) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		got := count()
		if got <= want {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: %d after Close, %d before New", what, got, want)
			if what == "goroutines" {
				buf := make([]byte, 1<<20)
				t.Logf("%s", buf[:runtime.Stack(buf, true)])
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// openFiles counts the process's open file descriptors on Linux; -1
// elsewhere.
func openFiles(t *testing.T) int {
	if runtime.GOOS != "linux" {
		return -1
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
