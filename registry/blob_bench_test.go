package registry_test

import (
	"io"
	"testing"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/internal/registrytest"
)

// BenchmarkBlob pulls a 32 MiB layer from the in-process registry through
// the whole transport stack and the verifying reader, as io.Copy does it
// (WriteTo: read, hash and write on three goroutines).
func BenchmarkBlob(b *testing.B) {
	reg := registrytest.New(b, registrytest.Config{TokenAuth: true})
	img := registrytest.RandomImage(99, 1, 32<<20)
	img.Layers[0] = registrytest.Tar(map[string][]byte{"big": img.Layers[0]})
	pushed := reg.MustPush(b, "bench/blob:1", img)
	cl := newClient(b, reg, auth.Credential{})
	r := mustRef(b, reg.Ref("bench/blob:1"))
	d := pushed.Layers[0]
	b.SetBytes(d.Size)
	b.ReportAllocs()
	for b.Loop() {
		rc, err := cl.Blob(b.Context(), r, d)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}
