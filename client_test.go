package haul_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/haul-dev/haul"
	"github.com/haul-dev/haul/config"
	"github.com/haul-dev/haul/pull"
)

// client is a Client of alice's on reg, reading no settings, with a cache
// of the test's own.
func client(t *testing.T, c haul.Config) *haul.Client {
	t.Helper()
	c.Login, c.NoSettings = alice, true
	if c.CacheDir == "" && !c.NoCache {
		c.CacheDir = t.TempDir()
	}
	cl, err := haul.New(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl
}

// TestClientConcurrent runs each job at once from several goroutines
// through one Client (go test -race sees what they share).
func TestClientConcurrent(t *testing.T) {
	t.Parallel()
	cl := client(t, haul.Config{})
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 8 {
		wg.Go(func() {
			if _, err := cl.Digest(ctx, reg.Ref("team/multi:1")); err != nil {
				errs <- err
			}
			if _, err := cl.Inspect(ctx, reg.Ref("team/multi:1")); err != nil {
				errs <- err
			}
			if _, err := cl.Pull(ctx, []string{reg.Ref("team/app:1")}, haul.Writer(io.Discard)); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestPullCancelled cancels a pull as its first bytes arrive: it fails
// with the context's error and leaves nothing at the output.
func TestPullCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	cl := client(t, haul.Config{Progress: func(e pull.Event) {
		if e.Kind == pull.BlobBytes {
			cancel()
		}
	}})
	dir := t.TempDir()
	out := filepath.Join(dir, "app.tar")
	_, err := cl.Pull(ctx, []string{reg.Ref("team/app:2")}, haul.DockerArchive(out))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("pull cancelled: %v, want context.Canceled", err)
	}
	// Nothing at the output; beside it at most haul's partial tar, which
	// the next pull to the same path resumes.
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a cancelled pull left %s: %v", out, err)
	}
	for _, name := range dirNames(t, dir) {
		if !strings.HasPrefix(name, ".app.tar.") || !strings.HasSuffix(name, ".haul-partial") {
			t.Errorf("a cancelled pull left %s beside its output", name)
		}
	}
	// The cache is consistent: the same pull, run again, completes from it
	// and from the registry, every blob verified.
	res, err := cl.Pull(t.Context(), []string{reg.Ref("team/app:2")}, haul.DockerArchive(out))
	if err != nil {
		t.Fatalf("the pull run again: %v", err)
	}
	if len(res.Images) != 1 || res.Images[0].Digest == "" {
		t.Errorf("the pull run again: %+v", res)
	}
	if names := dirNames(t, dir); !slices.Equal(names, []string{"app.tar"}) {
		t.Errorf("after the pull run again, the directory holds %q, want app.tar alone", names)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

// TestBlocked refuses a name registries.conf blocks, before any request.
func TestBlocked(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	conf := filepath.Join(dir, "registries.conf")
	body := "[[registry]]\nprefix = \"" + reg.Ref("team/app") + "\"\nblocked = true\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	cl, err := haul.New(haul.Config{NoCache: true, System: &config.SystemPaths{RegistriesConf: conf}})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var be *config.BlockedError
	if _, err := cl.Digest(t.Context(), reg.Ref("team/app:1")); !errors.As(err, &be) {
		t.Errorf("digest of a blocked name: %v, want a *config.BlockedError", err)
	}
	if _, err := cl.Digest(t.Context(), reg.Ref("team/multi:1")); err != nil {
		t.Errorf("digest of a name not blocked: %v", err)
	}
}

// TestPlatformDemanded: a platform asked for an image that is no index
// must be the one it is built for.
func TestPlatformDemanded(t *testing.T) {
	t.Parallel()
	cl := client(t, haul.Config{Platform: "linux/arm64", NoCache: true})
	if _, err := cl.Inspect(t.Context(), reg.Ref("team/app:1")); err == nil {
		t.Error("inspect of an amd64 image for linux/arm64 succeeded")
	}
	img, err := cl.Inspect(t.Context(), reg.Ref("team/app:2"))
	if err != nil || img.Image.Platform != "linux/arm64" {
		t.Errorf("inspect of an arm64 image for linux/arm64: %v, %v", img, err)
	}
}

// TestConfigNeverPrintsPassword: a Config logged by mistake shows no secret.
func TestConfigNeverPrintsPassword(t *testing.T) {
	t.Parallel()
	c := haul.Config{Login: alice}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(verb, c); strings.Contains(s, alice.Password) {
			t.Errorf("%s of a Config prints the password: %s", verb, s)
		}
	}
}
