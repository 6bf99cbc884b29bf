package direct

import (
	"os"
	"time"
)

const (
	// Align is what offsets, lengths and buffers of O_DIRECT writes are
	// aligned to: the page, and every filesystem block this runs on.
	Align = 4096
	// Stage is how many bytes are gathered before each O_DIRECT write; a
	// Writer holds two, one filling while the other is on its way.
	Stage = 1 << 20
	// Min is the smallest stream given a Writer; a smaller one is a few
	// stages at most and goes the ordinary way. From 4 MiB, 40 blobs of
	// 10 MiB took a median 0.61 s against 0.70 s buffered for a cached pull
	// to a tar (half the kernel CPU), and 0.58–0.74 s against 0.89–0.95 s
	// into an OCI layout (a third), by bench/ab.sh on 2026-12-04.
	Min = 4 << 20
	// costWindow is how many bytes of its Switchers' ordinary writes a Pool
	// judges at a time.
	costWindow = 16 << 20
	// costPerMiB is the CPU time per MiB of ordinary writes above which a
	// Pool's Switchers turn to O_DIRECT. Buffered writes of 256 KiB cost the
	// kernel 0.2–0.35 ms per MiB when the page cache lands in memory this
	// VM holds, and 1–3.5 ms when it lands in memory the host took back; an
	// O_DIRECT write costs about 0.2 ms of CPU and 0.6–1 ms of the disk's
	// time, which the hash and the network do not wait for
	// (bench/pagecache.sh and BENCHMARKS.md, 2026-12-04).
	costPerMiB = time.Millisecond
	// Concurrent is how many Writers one pull keeps at once: each holds
	// 2×Stage of memory, and the budget is for the whole pull.
	Concurrent = 4
)

// Target is one file a Writer writes the stream to.
type Target struct {
	File   *os.File // the file, as opened: the unaligned head and tail go here
	Direct *os.File // the same file opened with Open
	Base   int64    // the file offset of the stream's offset 0: a multiple of Align
}
