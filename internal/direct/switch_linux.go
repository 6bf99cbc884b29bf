//go:build linux

package direct

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// switchWindow is how many bytes of ordinary writes each judgement of
	// their cost spans.
	switchWindow = 16 << 20
	// slowPerMiB is the CPU time per MiB of ordinary writes above which a
	// Switcher turns to O_DIRECT. Buffered writes of 256 KiB cost the
	// kernel 0.2–0.35 ms per MiB when the page cache lands in memory this
	// VM holds, and 1–3.5 ms when it lands in memory the host took back; an
	// O_DIRECT write costs about 0.2 ms of CPU and 0.6–1 ms of the disk's
	// time, which the hash and the network do not wait for
	// (bench/pagecache.sh and BENCHMARKS.md, 2026-12-04).
	slowPerMiB = time.Millisecond
)

// Switcher writes a stream, in order from an offset on, to one Target: the
// ordinary way, through the page cache, while the kernel spends little on
// those writes, and through a Writer from its Pool from the first window of
// them that cost more than slowPerMiB. It is not safe for concurrent use.
type Switcher struct {
	pool   *Pool
	t      Target
	size   int64
	off    int64   // the stream offset of the next byte
	dw     *Writer // set once switched
	window int64
	n      int64         // bytes written the ordinary way in this window
	spent  time.Duration // and the CPU time they took
	cpu    func() time.Duration
}

// NewSwitcher returns a Switcher of a stream of size bytes, to be written from
// off on into t, with stages from p once it switches. It returns nil where t
// cannot take O_DIRECT writes: the caller writes the ordinary way.
func (p *Pool) NewSwitcher(off, size int64, t Target) *Switcher {
	if t.File == nil || t.Direct == nil || t.Base%Align != 0 {
		return nil
	}
	return &Switcher{pool: p, t: t, size: size, off: off, window: switchWindow, cpu: threadCPU}
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
	s.n += int64(n)
	s.spent += max(spent, 0)
	if err != nil {
		return n, err
	}
	if s.n >= s.window {
		if s.spent > slowPerMiB*time.Duration(s.n)/(1<<20) {
			s.dw = s.pool.NewWriter(s.off, s.size, s.t) // nil when the pool has no stages free: judge again later
		}
		s.n, s.spent = 0, 0
	}
	return n, nil
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
