package rootfs

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
)

// Layer is one layer of an image, as its manifest and config describe it.
type Layer struct {
	Descriptor image.Descriptor // the blob: media type, digest and size, from the manifest
	DiffID     digest.Digest    // the digest of the uncompressed tar: the config's rootfs.diff_ids[i]
}

// Config configures an unpack. The zero value unpacks with no explicit limits
// into a directory that must be absent or empty.
type Config struct {
	MaxSize    int64        // most bytes of file content over all layers; <= 0: no limit
	MaxEntries int64        // most tar entries over all layers; <= 0: no limit
	MinFree    int64        // bytes the target's filesystem keeps free; 0: DefaultMinFree; < 0: not checked
	Force      bool         // DIR may hold files: layers are applied onto them in place, and a failure leaves it changed
	Warn       func(string) // nil: discard. Told of what was skipped: devices and owners when not root, xattrs refused
}

// DefaultMinFree is the free space an unpack leaves on the target's
// filesystem unless told otherwise: a decompression bomb stops there.
const DefaultMinFree = 256 << 20

// Stats counts what an unpack did.
type Stats struct {
	Layers  int   `json:"layers"`  // layers applied
	Entries int64 `json:"entries"` // tar entries read, whiteouts included
	Files   int64 `json:"files"`   // regular files written
	Bytes   int64 `json:"bytes"`   // bytes of file content written
}

// EntryError says which entry of which layer an unpack refused, and why.
type EntryError struct {
	Layer digest.Digest
	Entry string // the name as the tar header gives it
	Err   error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("layer %s: entry %q: %v", e.Layer, e.Entry, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// LimitError says that an unpack stopped at a limit: MaxSize, MaxEntries,
// MinFree, or the zstd window.
type LimitError struct {
	What  string // "size", "entries", "free space", "zstd window"
	Limit int64
	Hint  string // the flag or setting that changes it
}

func (e *LimitError) Error() string {
	msg := fmt.Sprintf("%s limit of %d reached", e.What, e.Limit)
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// ErrUnsupported is what Create returns anywhere but on Linux: unpacking
// stays inside its root by resolving every path with openat2's
// RESOLVE_IN_ROOT, and sets what only Linux's calls set (a symlink's own
// times, devices, xattrs). Go's os.Root, the portable alternative, refuses
// the absolute symlinks real layers hold (var/run -> /run). Export works
// everywhere, and `tar -x` of what it writes is the same tree. errors.Is
// matches ErrUnsupported to errors.ErrUnsupported too.
var ErrUnsupported error = unsupportedError{}

type unsupportedError struct{}

func (unsupportedError) Error() string {
	return "unpacking a root filesystem needs Linux, and this is " + runtime.GOOS +
		": `haul export REF -o fs.tar` writes the same tree as one tar, on any system"
}

func (unsupportedError) Unwrap() error { return errors.ErrUnsupported }
