//go:build linux

package direct

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// Open opens name for writing with O_DIRECT. It fails where the filesystem
// does not offer it (tmpfs, some network filesystems); the caller then writes
// the ordinary way.
func Open(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_WRONLY|unix.O_DIRECT, 0)
}

// Writer writes a stream, in order from an offset on, to every Target at once.
// It is not safe for concurrent use.
type Writer struct {
	pool    *Pool
	targets []Target
	size    int64  // the stream's length: nothing is written past it
	mem     []byte // both stages, aligned: the Pool's
	stage   []byte // the stage being filled
	n       int    // bytes gathered in stage
	off     int64  // the stream offset of stage[0], or of the next byte while unaligned
	wg      sync.WaitGroup
	errs    []error // one per target, for the stage in flight
	busy    bool    // a stage is being written
	err     error
}

// NewWriter returns a Writer of a stream of size bytes, to be written from off
// on, into targets, with stages from p. It returns nil, not an error, when p
// has no stages free or the targets cannot take O_DIRECT writes: the caller
// writes the ordinary way. It writes each target only from Base+off to
// Base+size.
func (p *Pool) NewWriter(off, size int64, targets ...Target) *Writer {
	if len(targets) == 0 {
		return nil
	}
	for _, t := range targets {
		if t.Base%Align != 0 || t.File == nil || t.Direct == nil {
			return nil
		}
	}
	mem := p.get()
	if mem == nil {
		return nil
	}
	return &Writer{pool: p, targets: targets, size: size, mem: mem, stage: mem[:Stage], off: off, errs: make([]error, len(targets))}
}

// Write writes p after the bytes written before.
func (w *Writer) Write(p []byte) (int, error) { return w.WriteAt(p, w.off+int64(w.n)) }

// WriteAt takes p, which must continue exactly where the last write ended.
func (w *Writer) WriteAt(p []byte, off int64) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if off != w.off+int64(w.n) {
		return 0, errors.New("direct write out of order")
	}
	if off+int64(len(p)) > w.size {
		return 0, fmt.Errorf("write of %d bytes at %d is past the end of a stream of %d", len(p), off, w.size)
	}
	written := 0
	// Up to the first aligned offset, the ordinary way.
	if w.n == 0 && w.off%Align != 0 {
		head := min(int64(len(p)), Align-w.off%Align)
		if err := w.ordinary(p[:head], w.off); err != nil {
			return 0, err
		}
		w.off += head
		written += int(head)
		p = p[head:]
	}
	for len(p) > 0 {
		k := copy(w.stage[w.n:], p)
		w.n += k
		written += k
		p = p[k:]
		if w.n == len(w.stage) {
			if err := w.handOff(); err != nil {
				return written - w.n, err
			}
		}
	}
	return written, nil
}

// ordinary writes p at stream offset off to every target's File.
func (w *Writer) ordinary(p []byte, off int64) error {
	for _, t := range w.targets {
		if _, err := t.File.WriteAt(p, t.Base+off); err != nil {
			w.err = err
			return err
		}
	}
	return nil
}

// handOff sends the full stage to every target's disk, each on its own
// goroutine, and turns to the other stage once the write before has finished
// with it.
func (w *Writer) handOff() error {
	if err := w.wait(); err != nil {
		return err
	}
	buf, off := w.stage, w.off
	w.busy = true
	for i, t := range w.targets {
		w.wg.Go(func() { _, w.errs[i] = t.Direct.WriteAt(buf, t.Base+off) })
	}
	w.off += int64(len(buf))
	w.n = 0
	if &buf[0] == &w.mem[0] {
		w.stage = w.mem[Stage:]
	} else {
		w.stage = w.mem[:Stage]
	}
	return nil
}

// wait waits for the stage being written, if one is.
func (w *Writer) wait() error {
	if w.busy {
		w.busy = false
		w.wg.Wait()
		if err := errors.Join(w.errs...); err != nil && w.err == nil {
			w.err = err
		}
		clear(w.errs)
	}
	return w.err
}

// Close writes whatever is gathered, the unaligned tail the ordinary way, so
// every target holds every byte given to Write, and gives the stages back to
// its Pool. It does not close the targets' files.
func (w *Writer) Close() error {
	if w.mem == nil {
		return nil
	}
	err := w.wait()
	if m := w.n &^ (Align - 1); err == nil && m > 0 {
		for _, t := range w.targets {
			if _, err = t.Direct.WriteAt(w.stage[:m], t.Base+w.off); err != nil {
				break
			}
		}
		if err == nil {
			w.off += int64(m)
			w.n = copy(w.stage, w.stage[m:w.n])
		}
	}
	if err == nil && w.n > 0 {
		if err = w.ordinary(w.stage[:w.n], w.off); err == nil {
			w.off += int64(w.n)
			w.n = 0
		}
	}
	w.pool.put(w.mem)
	w.mem, w.stage = nil, nil
	if w.err == nil {
		w.err = errClosed
	}
	return err
}

var errClosed = errors.New("direct writer closed")

var _ io.WriterAt = (*Writer)(nil)
