//go:build linux

package store

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
)

// TestDirectWriter writes a file through directWriter from unaligned starts in
// chunks of every size, and checks that it holds exactly the bytes given.
func TestDirectWriter(t *testing.T) {
	t.Parallel()
	data := make([]byte, 3*directStage+12345)
	rand.NewChaCha8([32]byte{1}).Read(data)
	for _, start := range []int64{0, 1, 4095, 4096, 100000} {
		for _, chunk := range []int{1, 1000, 4096, 65537, directStage + 3} {
			name := filepath.Join(t.TempDir(), "partial")
			f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(data[:start], 0); err != nil {
				t.Fatal(err)
			}
			w := newDirectWriter(f, start)
			if w == nil {
				f.Close()
				t.Skip("O_DIRECT is not available on the test directory's filesystem")
			}
			stop := int64(len(data)) - int64(chunk)/2 // end mid-chunk too, as a dropped download does
			for off := start; off < stop; {
				end := min(off+int64(chunk), stop)
				if _, err := w.WriteAt(data[off:end], off); err != nil {
					t.Fatalf("start %d chunk %d: WriteAt at %d: %v", start, chunk, off, err)
				}
				off = end
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			f.Close()
			got, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data[:stop]) {
				t.Fatalf("start %d chunk %d: the file holds %d bytes, not the %d given", start, chunk, len(got), stop)
			}
		}
	}
}

// TestEnsureDirect runs Ensure over a blob large enough for O_DIRECT: fresh,
// dropped mid-way and resumed at an unaligned offset, with a tee.
func TestEnsureDirect(t *testing.T) {
	t.Parallel()
	content := make([]byte, directMin+3*directStage+777)
	rand.NewChaCha8([32]byte{2}).Read(content)
	d := image.Descriptor{Digest: digest.FromBytes(content), Size: int64(len(content))}
	s := newStore(t, Config{})
	f := &fake{data: content, failAt: 5*directStage + 1001, chunk: 70001}
	if _, err := s.Ensure(t.Context(), d, f.fetch, nil); err == nil {
		t.Fatal("a drop mid-way should fail this Ensure")
	}
	if got := partialSize(t, s, d); got != f.failAt {
		t.Fatalf("partial holds %d bytes, want the %d received", got, f.failAt)
	}
	f.failAt = 0
	tee := &teeBuffer{buf: make([]byte, len(content))}
	res, err := s.EnsureTee(t.Context(), d, f.fetch, nil, tee)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cached != 5*directStage+1001 || res.Fetched != d.Size-res.Cached {
		t.Fatalf("Result %+v: want the resume to start at the partial's end", res)
	}
	checkBlob(t, s, d, content)
	if !bytes.Equal(tee.buf, content) {
		t.Fatal("tee does not hold the blob")
	}
}
