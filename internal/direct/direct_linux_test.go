//go:build linux

package direct

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

// TestWriter writes a stream through a Writer from unaligned starts in chunks
// of every size, into a file of its own and into the middle of a larger one,
// and checks that each holds exactly the bytes given where they belong and
// nothing else changed.
func TestWriter(t *testing.T) {
	t.Parallel()
	data := randomBytes(1, 3*Stage+12345)
	const base = 3 * Align                                 // where the stream starts in the larger file
	around := bytes.Repeat([]byte{0xAA}, len(data)+2*base) // the larger file's bytes before
	for _, start := range []int64{0, 1, 4095, 4096, 100000} {
		for _, chunk := range []int{1, 1000, 4096, 65537, Stage + 3} {
			dir := t.TempDir()
			own := openFile(t, filepath.Join(dir, "own"), data[:start])
			big := openFile(t, filepath.Join(dir, "big"), around)
			targets := []Target{{File: own, Direct: openDirect(t, own.Name()), Base: 0}, {File: big, Direct: openDirect(t, big.Name()), Base: base}}
			w := NewPool(1).NewWriter(start, int64(len(data)), targets...)
			if w == nil {
				t.Fatal("NewWriter returned nil")
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
			if got := readFile(t, own.Name()); !bytes.Equal(got, data[:stop]) {
				t.Fatalf("start %d chunk %d: the file holds %d bytes, not the %d given", start, chunk, len(got), stop)
			}
			want := bytes.Clone(around)
			copy(want[base+start:], data[start:stop])
			if got := readFile(t, big.Name()); !bytes.Equal(got, want) {
				t.Fatalf("start %d chunk %d: the larger file does not hold the stream at %d and its own bytes around it", start, chunk, base)
			}
		}
	}
}

// TestWriterRefuses checks the writes a Writer must not make.
func TestWriterRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := openFile(t, filepath.Join(dir, "f"), nil)
	tg := Target{File: f, Direct: openDirect(t, f.Name())}
	p := NewPool(1)
	if p.NewWriter(0, 10, Target{File: f, Direct: tg.Direct, Base: 512}) != nil {
		t.Error("NewWriter took an unaligned Base")
	}
	if p.NewWriter(0, 10) != nil {
		t.Error("NewWriter took no target")
	}
	w := p.NewWriter(0, 10, tg)
	if _, err := w.WriteAt([]byte("abc"), 1); err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Errorf("a write out of order: %v", err)
	}
	if _, err := w.Write(make([]byte, 11)); err == nil || !strings.Contains(err.Error(), "past the end") {
		t.Errorf("a write past the stream's size: %v", err)
	}
	if _, err := w.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("a write after Close succeeded")
	}
	if got := readFile(t, f.Name()); string(got) != "0123456789" {
		t.Errorf("file holds %q", got)
	}
}

// TestPool checks that a Pool lends no more Writers than it has slots, and
// that a closed Writer's stages go to the next Writer, aligned for O_DIRECT.
func TestPool(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := openFile(t, filepath.Join(dir, "f"), nil)
	tg := Target{File: f, Direct: openDirect(t, f.Name())}
	p := NewPool(2)
	a, b := p.NewWriter(0, Stage, tg), p.NewWriter(0, Stage, tg)
	if a == nil || b == nil {
		t.Fatal("a Pool of 2 refused one of two Writers")
	}
	if p.NewWriter(0, Stage, tg) != nil {
		t.Fatal("a Pool of 2 lent a third Writer while two were open")
	}
	mem := &a.mem[0]
	if uintptr(unsafe.Pointer(mem))%Align != 0 || len(a.mem) != 2*Stage {
		t.Fatalf("stages of %d bytes at %p: want 2×Stage aligned to %d", len(a.mem), mem, Align)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	c := p.NewWriter(0, Stage, tg)
	if c == nil {
		t.Fatal("the Pool did not take back a closed Writer's slot")
	}
	if &c.mem[0] != mem {
		t.Error("the next Writer did not get the closed Writer's stages")
	}
	if p.NewWriter(0, Stage, tg) != nil {
		t.Error("a closed Writer's slot was given back twice")
	}
	b.Close()
	c.Close()
}

// randomBytes returns n bytes of a seeded stream.
func randomBytes(seed byte, n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

func openFile(t *testing.T, name string, content []byte) *os.File {
	t.Helper()
	if err := os.WriteFile(name, content, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func openDirect(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := Open(name)
	if err != nil {
		t.Skipf("O_DIRECT is not available on the test directory's filesystem: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
