package pull_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/store"
)

// BenchmarkPull pulls an image of 16 uncompressed 2 MiB layers from the
// in-process registry, cold each time, in each output mode. bench/pull.sh
// compares the built binary with crane, regctl and skopeo; this one tracks
// the library's own cost from commit to commit.
func BenchmarkPull(b *testing.B) {
	reg := registrytest.New(b, registrytest.Config{TokenAuth: true})
	img := registrytest.RandomImage(1234, 16, 2<<20)
	for i, l := range img.Layers {
		img.Layers[i] = registrytest.Tar(map[string][]byte{fmt.Sprintf("l%d", i): l})
	}
	pushed := reg.MustPush(b, "bench/pull:1", img)
	var size int64
	for _, l := range pushed.Layers {
		size += l.Size
	}
	r, err := ref.Parse(reg.Ref("bench/pull:1"))
	if err != nil {
		b.Fatal(err)
	}
	cl, err := registry.New(registry.Config{Registry: reg.Host(), Creds: auth.Static{}})
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []struct {
		name   string
		format pull.Format
		cache  bool
	}{{"docker-cache", pull.Docker, true}, {"docker-nocache", pull.Docker, false}, {"oci-cache", pull.OCI, true}} {
		b.Run(mode.name, func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				dir := b.TempDir()
				c := pull.Config{Source: func(string) (pull.Source, error) { return cl, nil }, Format: mode.format, Output: filepath.Join(dir, "out")}
				if mode.cache {
					if c.Store, err = store.Open(store.Config{Dir: filepath.Join(dir, "cache")}); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := pull.Pull(b.Context(), []ref.Reference{r}, c); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				os.RemoveAll(dir)
				b.StartTimer()
			}
		})
	}
}
