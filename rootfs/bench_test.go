//go:build linux

package rootfs

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
)

// BenchmarkApply unpacks one gzip layer of 2,000 small files in 100
// directories and one 8 MiB file into a fresh directory per iteration:
// decompression, both digests and file creation.
func BenchmarkApply(b *testing.B) {
	rng := rand.NewChaCha8([32]byte{7})
	var ents []ent
	body := make([]byte, 16<<10)
	for d := range 100 {
		ents = append(ents, dir(fmt.Sprint("d", d)))
		for f := range 20 {
			rng.Read(body[:len(body)/2]) // half random, half zeros: compresses about 2:1
			ents = append(ents, file(fmt.Sprintf("d%d/f%d", d, f), string(body)))
		}
	}
	big := make([]byte, 8<<20)
	rng.Read(big)
	ents = append(ents, file("big", string(big)))
	raw := tarOf(b, ents...)
	l := layerOf(b, Gzip, raw)
	root := b.TempDir()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		u, err := Create(b.Context(), filepath.Join(root, fmt.Sprint(i)), Config{})
		if err != nil {
			b.Fatal(err)
		}
		if err := u.Apply(b.Context(), l.l, bytes.NewReader(l.b)); err != nil {
			b.Fatal(err)
		}
		if err := u.Commit(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
}
