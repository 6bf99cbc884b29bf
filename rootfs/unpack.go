package rootfs

import (
	"context"
	"errors"
	"io"
)

// Unpacker builds a root filesystem from layers applied in order. Create one
// with Create, give it each layer with Apply, and finish with Commit, or
// Abort to remove what it wrote.
type Unpacker struct {
	dir   string
	c     Config
	stats Stats
}

// Create starts an unpack into dir, which must be absent or an empty
// directory unless c.Force is set. The tree is built in a temporary sibling of
// dir (or, with c.Force, in dir itself) and renamed onto dir by Commit.
func Create(ctx context.Context, dir string, c Config) (*Unpacker, error) {
	return nil, errors.New("rootfs: not implemented yet")
}

// Apply applies layer l, whose blob bytes r yields, on top of the layers
// before it. It reads r to its end and returns the first error: an entry
// refused (*EntryError), a limit reached (*LimitError), or a blob or diff_id
// that did not verify (*image.DigestError, *image.SizeError).
func (u *Unpacker) Apply(ctx context.Context, l Layer, r io.Reader) error {
	return errors.New("rootfs: not implemented yet")
}

// Commit finishes the tree (directory times and modes, which later entries
// would have changed) and renames it onto dir.
func (u *Unpacker) Commit(ctx context.Context) error {
	return errors.New("rootfs: not implemented yet")
}

// Abort removes what the unpack wrote (with Force: nothing, and the target
// is left as the failed layer made it). It is safe after Commit.
func (u *Unpacker) Abort() {}

// Stats says what has been applied so far.
func (u *Unpacker) Stats() Stats { return u.stats }
