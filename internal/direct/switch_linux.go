//go:build linux

package direct

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Switcher writes a stream, in order from an offset on, to one Target: the
// ordinary way, through the page cache, while its Pool judges that cheap, and
// through a Writer from the Pool from the first write after the Pool judged
// it slow (costPerMiB). It is not safe for concurrent use; several Switchers
// of one Pool may be.
type Switcher struct {
	pool *Pool
	t    Target
	size int64
	off  int64   // the stream offset of the next byte
	dw   *Writer // set once switched
	cpu  func() time.Duration
}

// NewSwitcher returns a Switcher of a stream of size bytes, to be written from
// off on into t, with stages from p once it switches. It returns nil where t
// cannot take O_DIRECT writes: the caller writes the ordinary way.
func (p *Pool) NewSwitcher(off, size int64, t Target) *Switcher {
	if t.File == nil || t.Direct == nil || t.Base%Align != 0 {
		return nil
	}
	return &Switcher{pool: p, t: t, size: size, off: off, cpu: threadCPU}
}

// Write writes p after the bytes written before.
func (s *Switcher) Write(p []byte) (int, error) { return s.WriteAt(p, s.off) }

// WriteAt takes p, which must continue exactly where the last write ended.
func (s *Switcher) WriteAt(p []byte, off int64) (int, error) {
	if off != s.off {
		return 0, errors.New("switcher write out of order")
	}
	if s.off+int64(len(p)) > s.size {
		return 0, fmt.Errorf("write of %d bytes at %d is past the end of a stream of %d", len(p), s.off, s.size)
	}
	if s.dw == nil && s.pool.Slow() {
		s.dw = s.pool.NewWriter(s.off, s.size, s.t) // nil when the pool has no stages free: try again next write
	}
	if s.dw != nil {
		n, err := s.dw.Write(p)
		s.off += int64(n)
		return n, err
	}
	// The thread's CPU time around the write is what the kernel spent on it,
	// the host's faults included; the goroutine stays on its thread meanwhile.
	runtime.LockOSThread()
	c0 := s.cpu()
	n, err := s.t.File.WriteAt(p, s.t.Base+s.off)
	spent := s.cpu() - c0
	runtime.UnlockOSThread()
	s.off += int64(n)
	s.pool.cost.add(int64(n), spent)
	return n, err
}

// Switched says whether s writes with O_DIRECT now.
func (s *Switcher) Switched() bool { return s.dw != nil }

// Close writes what a switched Switcher still holds and gives its stages
// back. It does not close the target's files.
func (s *Switcher) Close() error {
	if s.dw == nil {
		return nil
	}
	return s.dw.Close()
}

// threadCPU is the CPU time the calling thread has used.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
