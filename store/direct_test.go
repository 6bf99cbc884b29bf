package store

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/direct"
)

// TestEnsureDirect runs Ensure over a blob large enough for O_DIRECT: fresh,
// dropped mid-way and resumed at an unaligned offset, with a tee, which is
// written the ordinary way, or at an offset in its file through a Switcher
// while the page cache is judged cheap, or by O_DIRECT from the partial's
// stages once it was judged slow. The partial itself is written through a
// Switcher when the blob is small, unless the tee goes with it by O_DIRECT,
// else by O_DIRECT.
func TestEnsureDirect(t *testing.T) {
	t.Parallel()
	const small = direct.Min + 6*direct.Stage + 777 // the rest after the drop is still large enough
	for _, tc := range []struct {
		name            string
		directTee, slow bool
		size            int
	}{
		{"ordinary tee", false, false, small},
		{"ordinary tee, slow page cache", false, true, small},
		{"ordinary tee, large blob", false, false, switchCacheMax + 777},
		{"switched tee", true, false, small},
		{"switched tee, large blob", true, false, switchCacheMax + 777},
		{"direct tee", true, true, small},
	} {
		t.Run(tc.name, func(t *testing.T) { testEnsureDirect(t, tc.directTee, tc.slow, tc.size) })
	}
}

func testEnsureDirect(t *testing.T, directTee, slow bool, size int) {
	t.Parallel()
	content := make([]byte, size)
	rand.NewChaCha8([32]byte{2}).Read(content)
	d := image.Descriptor{Digest: digest.FromBytes(content), Size: int64(len(content))}
	s := newStore(t, Config{})
	if slow {
		s.direct.MarkSlow()
	}
	f := &fake{data: content, failAt: 5*direct.Stage + 1001, chunk: 70001}
	if _, err := s.Ensure(t.Context(), d, f.fetch, nil); err == nil {
		t.Fatal("a drop mid-way should fail this Ensure")
	}
	if got := partialSize(t, s, d); got != f.failAt {
		t.Fatalf("partial holds %d bytes, want the %d received", got, f.failAt)
	}
	f.failAt = 0
	var tee io.WriterAt = &teeBuffer{buf: make([]byte, len(content))}
	var file *fileTee
	if directTee {
		file = newFileTee(t, 3*direct.Align, d.Size)
		tee = file
	}
	res, err := s.EnsureTee(t.Context(), d, f.fetch, nil, tee)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cached != 5*direct.Stage+1001 || res.Fetched != d.Size-res.Cached {
		t.Fatalf("Result %+v: want the resume to start at the partial's end", res)
	}
	checkBlob(t, s, d, content)
	var got []byte
	if file != nil {
		got = file.content(t)
		if file.asked == 0 {
			t.Error("the tee's DirectTarget was never asked for")
		}
	} else {
		got = tee.(*teeBuffer).buf
	}
	if !bytes.Equal(got, content) {
		t.Fatal("tee does not hold the blob")
	}
}

// fileTee is a tee over a region of a file from base on, as an archive's is,
// that offers O_DIRECT writes.
type fileTee struct {
	f, direct  *os.File
	base, size int64
	asked      int
}

func newFileTee(t *testing.T, base, size int64) *fileTee {
	f, err := os.Create(filepath.Join(t.TempDir(), "tee"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(base + size + 100); err != nil {
		t.Fatal(err)
	}
	tee := &fileTee{f: f, base: base, size: size}
	if tee.direct, err = direct.Open(f.Name()); err == nil {
		t.Cleanup(func() { tee.direct.Close() })
	}
	return tee
}

func (t *fileTee) WriteAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > t.size {
		return 0, errors.New("tee written past the blob")
	}
	return t.f.WriteAt(p, t.base+off)
}

func (t *fileTee) DirectTarget() (direct.Target, bool) {
	t.asked++
	return direct.Target{File: t.f, Direct: t.direct, Base: t.base}, t.direct != nil
}

func (t *fileTee) content(tb testing.TB) []byte {
	b := make([]byte, t.size)
	if _, err := t.f.ReadAt(b, t.base); err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestPartialWriterReserves writes the start of a large blob: the partial's
// blocks are reserved ahead of the bytes, but no further than reserveAhead.
func TestPartialWriterReserves(t *testing.T) {
	t.Parallel()
	f, err := os.Create(filepath.Join(t.TempDir(), "partial"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const size = 1 << 40 // what a descriptor may claim
	w := &partialWriter{ctx: t.Context(), dst: f, progress: func(int64) {}, file: f, size: size}
	chunk := make([]byte, 256<<10)
	for range 8 {
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	written := int64(8 * len(chunk))
	got := diskBytes(t, f.Name())
	if got > written+reserveAhead {
		t.Errorf("%d bytes written, %d allocated: more than reserveAhead (%d) ahead", written, got, reserveAhead)
	}
	if got < reserveAhead {
		probe, err := os.Create(filepath.Join(t.TempDir(), "probe"))
		if err != nil {
			t.Fatal(err)
		}
		defer probe.Close()
		if unix.Fallocate(int(probe.Fd()), unix.FALLOC_FL_KEEP_SIZE, 0, 1) == nil {
			t.Errorf("%d bytes written, %d allocated: nothing reserved ahead", written, got)
		}
	}
}
