package image

import (
	"bytes"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"
)

// BenchmarkVerifyReader is the cost of checking a blob as it streams: sha256
// and the size count, per byte.
func BenchmarkVerifyReader(b *testing.B) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 4<<20/16)
	d := Descriptor{Digest: digest.FromBytes(data), Size: int64(len(data))}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := io.Copy(io.Discard, VerifyReader(bytes.NewReader(data), d, "blob")); err != nil {
			b.Fatal(err)
		}
	}
}
