package direct

import "os"

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
	// SwitchMin is the smallest stream given a Switcher: a smaller one
	// would have little left to write by the time a window is judged.
	SwitchMin = 64 << 20
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
