package rootfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/haul-dev/haul/disk"
)

// Unpacker builds a root filesystem from layers applied in order. Create one
// with Create, give it each layer with Apply, and finish with Commit, or
// Abort to remove what it wrote. It is not safe for concurrent use.
type Unpacker struct {
	dir   string        // the target
	work  string        // where the tree is built: a temporary sibling of dir, or dir with Force
	tmp   *disk.TempDir // work, when it is a temporary sibling: locked until renamed or removed
	c     Config
	x     *extractor
	stats Stats
	err   error // the first failure: nothing more is applied
	done  bool
}

// tempPrefix starts the name of the temporary sibling of dir that an
// unpack builds its tree in; random digits end it.
func tempPrefix(dir string) string { return ".haul-rootfs-" + filepath.Base(dir) + "-" }

// Check tells, before anything is fetched, whether Create would refuse dir
// with c: anywhere but on Linux (ErrUnsupported); when dir is not a
// directory, or without c.Force is not empty (a *disk.OutputError matching
// disk.ErrNotDir or disk.ErrNotEmpty); when the directory it goes in is
// missing or takes no new file (a *disk.OutputError, see disk.CheckParent).
func Check(dir string, c Config) error {
	if dir == "" {
		return errors.New("unpack: no target directory")
	}
	dir = filepath.Clean(dir)
	if !supported {
		return fmt.Errorf("unpack into %s: %w", dir, ErrUnsupported)
	}
	if c.Force {
		return disk.CheckDir(dir)
	}
	// The tree is built beside dir and renamed onto it.
	if err := disk.CheckParent(dir); err != nil {
		return err
	}
	return checkEmpty(dir)
}

// Create starts an unpack into dir, which must be absent or an empty
// directory unless c.Force is set, in a directory that exists (Check). The
// tree is built in a temporary sibling of dir (or, with c.Force, in dir
// itself) and renamed onto dir by Commit. The temporary siblings that
// killed unpacks into dir left are removed first; never one that a live
// process holds. Anywhere but on Linux it returns ErrUnsupported, having
// touched nothing.
func Create(ctx context.Context, dir string, c Config) (*Unpacker, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := Check(dir, c); err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	u := &Unpacker{dir: dir, c: c}
	if c.Force {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("unpack into %s: %w", dir, err)
		}
		u.work = dir
	} else {
		parent := filepath.Dir(dir)
		disk.RemoveStaleDirs(parent, tempPrefix(dir))
		tmp, err := disk.MkdirTemp(parent, tempPrefix(dir))
		if err != nil {
			return nil, fmt.Errorf("unpack into %s: %w", dir, err)
		}
		u.tmp, u.work = tmp, tmp.Name
		// A root filesystem's root is 0755 unless a layer says otherwise.
		if err := os.Chmod(u.work, 0o755); err != nil {
			u.Abort()
			return nil, fmt.Errorf("unpack into %s: %w", dir, err)
		}
	}
	x, err := newExtractor(u.work, c, &u.stats)
	if err != nil {
		u.Abort()
		return nil, fmt.Errorf("unpack into %s: %w", dir, err)
	}
	u.x = x
	return u, nil
}

// checkEmpty accepts an absent dir or an empty directory.
func checkEmpty(dir string) error {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("unpack into %s: %w", dir, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("unpack into %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return disk.Refuse(dir, disk.ErrNotDir, "it exists and is not a directory")
	}
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return disk.Refuse(dir, disk.ErrNotEmpty, "the directory is not empty (use --force to apply the layers onto what it holds)")
	}
	return nil
}

// Apply applies layer l, whose blob bytes r yields, on top of the layers
// before it. It reads r to its end and returns the first error: an entry
// refused (*EntryError), a limit reached (*LimitError), or a blob or diff_id
// that did not verify (*image.DigestError, *image.SizeError). After an
// error, the Unpacker only aborts.
func (u *Unpacker) Apply(ctx context.Context, l Layer, r io.Reader) error {
	if u.err != nil {
		return u.err
	}
	if u.done {
		return errors.New("unpack: Apply after Commit")
	}
	u.err = u.apply(ctx, l, r)
	return u.err
}

func (u *Unpacker) apply(ctx context.Context, l Layer, r io.Reader) error {
	tr, err := Open(ctx, r, l)
	if err != nil {
		return err
	}
	defer tr.Close()
	if err := u.x.apply(ctx, l.Descriptor.Digest, tr); err != nil {
		return err
	}
	// The tar's end is not the stream's: what follows is hashed for the
	// diff_id, and only then is the layer known to be the one asked for.
	n, err := io.Copy(io.Discard, io.LimitReader(tr, maxTrailing+1))
	if err != nil {
		return err
	}
	if n > maxTrailing {
		return fmt.Errorf("layer %s: more than %d bytes after the tar's end", l.Descriptor.Digest, maxTrailing)
	}
	u.stats.Layers++
	return nil
}

// Commit finishes the tree (directory times, which the entries made inside
// them changed) and renames it onto dir.
func (u *Unpacker) Commit(ctx context.Context) error {
	if u.err != nil {
		return u.err
	}
	if u.done {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := u.x.finish(); err != nil {
		u.err = fmt.Errorf("unpack into %s: %w", u.dir, err)
		return u.err
	}
	u.x.close()
	u.x = nil
	if u.work != u.dir {
		// rename(2) replaces an empty directory, and refuses one that
		// something filled meanwhile.
		if err := renameDir(u.work, u.dir); err != nil {
			u.err = fmt.Errorf("unpack into %s: %w", u.dir, err)
			return u.err
		}
		u.tmp.Release()
	}
	u.done = true
	return nil
}

// Abort removes what the unpack wrote (with Force: nothing, and the target
// is left as the failed layer made it). It is safe after Commit, where it
// does nothing.
func (u *Unpacker) Abort() {
	if u.x != nil {
		u.x.close()
		u.x = nil
	}
	if u.done || u.tmp == nil {
		return
	}
	u.tmp.RemoveAll()
	u.tmp, u.work = nil, ""
}

// Stats says what has been applied so far.
func (u *Unpacker) Stats() Stats { return u.stats }
