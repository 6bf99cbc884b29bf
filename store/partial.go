package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/image"
)

// Partial is one blob's download into the store: its bytes go to a file in
// ingest/ that only the holder of its lock writes, in any process, and
// appear under the blob's name only by Commit. A Partial closed without
// Commit keeps its bytes for the next download of the blob to resume from.
// It is a Sink.
type Partial struct {
	s    *Store
	d    image.Descriptor
	f    *os.File // the bytes, ingest/<alg>-<encoded>.partial
	lock *os.File // ingest/<alg>-<encoded>.lock, locked
	done bool
}

// Partial locks blob d's partial download, waiting while another download
// holds it (until ctx is done). It returns nil and no error when the blob is
// present, perhaps because the download it waited for finished it.
func (s *Store) Partial(ctx context.Context, d image.Descriptor) (*Partial, error) {
	if err := image.ValidateDescriptor(d); err != nil {
		return nil, err
	}
	if _, ok := s.Path(ctx, d); ok {
		return nil, nil
	}
	name := s.partialPath(d)
	lock, err := disk.LockPath(ctx, strings.TrimSuffix(name, partialSuffix)+lockSuffix)
	if err != nil {
		return nil, fmt.Errorf("waiting for the download of blob %s: %w", d.Digest, err)
	}
	// Whoever held the lock before may have finished the blob.
	if _, ok := s.Path(ctx, d); ok {
		os.Remove(name)
		unlock(lock)
		return nil, nil
	}
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		unlock(lock)
		return nil, err
	}
	return &Partial{s: s, d: d, f: f, lock: lock}, nil
}

// unlock removes the lock file and releases its lock. Whoever waits on the
// removed file finds, once it has the lock, that the name is gone, and opens
// it again (disk.LockPath).
func unlock(lock *os.File) {
	os.Remove(lock.Name())
	lock.Close()
}

// Resume is the size of the partial file: what earlier downloads left.
func (p *Partial) Resume() int64 {
	fi, err := p.f.Stat()
	if err != nil {
		return 0
	}
	return fi.Size()
}

// ReadAt reads the partial file.
func (p *Partial) ReadAt(b []byte, off int64) (int, error) { return p.f.ReadAt(b, off) }

// WriteAt writes the partial file.
func (p *Partial) WriteAt(b []byte, off int64) (int, error) { return p.f.WriteAt(b, off) }

// Reset empties the partial file (disk.Empty).
func (p *Partial) Reset() error { return disk.Empty(p.f) }

// Commit puts the partial under the blob's name, read-only (an output
// layout that hardlinks it must not be able to edit it), once Fill has
// returned nil for it: Fill checked every byte as it was written. It is
// not fsynced; the store notes it as written in this boot (see Store).
func (p *Partial) Commit() error {
	fi, err := p.f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != p.d.Size {
		return &image.SizeError{What: "blob " + string(p.d.Digest), Want: p.d.Size, Got: fi.Size()}
	}
	final, _ := p.s.layout.BlobPath(p.d.Digest)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return err
	}
	if err := errors.Join(disk.MakeReadOnly(p.f), p.f.Close()); err != nil {
		return err
	}
	p.s.markUnsynced(p.d)
	if err := disk.Rename(p.f.Name(), final); err != nil {
		return err
	}
	p.done = true
	return nil
}

// Close releases the partial, keeping its bytes for a resumption; an empty
// one is removed.
func (p *Partial) Close() error {
	if !p.done {
		if p.Resume() == 0 {
			os.Remove(p.f.Name())
		}
		p.f.Close()
		p.done = true
	}
	unlock(p.lock)
	return nil
}

// Ensure makes blob d present, fetching only what is missing: nothing if it
// is in the store, the rest of it if a partial download was left by an
// earlier one (Fill). Only one caller at a time, in any process, downloads a
// given blob; the others wait for it (until ctx is done) and find it present.
// A failure to verify deletes the partial download: nothing corrupt is kept.
// Any other failure keeps the bytes written so far for the next call to
// resume from. On error the Result is zero.
func (s *Store) Ensure(ctx context.Context, d image.Descriptor, fetch Fetcher, progress func(int64)) (Result, error) {
	what := "blob " + string(d.Digest)
	p, err := s.Partial(ctx, d)
	if err != nil {
		return Result{}, fmt.Errorf("fetching %s: %w", what, err)
	}
	final, _ := s.layout.BlobPath(d.Digest)
	if p == nil {
		return Result{Path: final, Present: true, Cached: d.Size}, nil
	}
	defer p.Close()
	res, err := Fill(ctx, p, Download{Blob: d, Fetch: fetch, Progress: progress})
	if err != nil {
		return Result{}, fmt.Errorf("fetching %s: %w", what, err)
	}
	if err := p.Commit(); err != nil {
		return Result{}, fmt.Errorf("storing %s: %w", what, err)
	}
	res.Path = final
	return res, nil
}

// Clone puts blob d into the store from n bytes of src at off (the blob's
// region of an archive that was just verified as it was written), if the
// filesystem can share the extents (XFS with reflink, Btrfs): a cache that
// costs no second write. With copyOK it is copied where they cannot be
// shared. It reports whether the store has the blob now.
func (s *Store) Clone(ctx context.Context, d image.Descriptor, src *os.File, off int64, copyOK bool) (bool, error) {
	if _, ok := s.Path(ctx, d); ok {
		return true, nil
	}
	final, err := s.layout.BlobPath(d.Digest)
	if err != nil {
		return false, err
	}
	err = disk.WriteFile(final, false, true, func(f *os.File) error {
		err := disk.CloneRange(ctx, f, 0, src, off, d.Size)
		if errors.Is(err, errors.ErrUnsupported) && copyOK {
			err = disk.CopyRange(ctx, f, 0, src, off, d.Size)
		}
		if err == nil {
			s.markUnsynced(d)
		}
		return err
	})
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("caching blob %s: %w", d.Digest, err)
	}
	return true, nil
}

// SharesExtents reports whether the store's filesystem can share extents
// between files (XFS with reflink, Btrfs), so that a tar pull keeps every
// layer it downloads at no cost, and not only the small blobs.
func (s *Store) SharesExtents(ctx context.Context) bool {
	a, err := disk.Create(filepath.Join(s.ingest, "probe"))
	if err != nil {
		return false
	}
	defer a.Abort()
	b, err := disk.Create(filepath.Join(s.ingest, "probe"))
	if err != nil {
		return false
	}
	defer b.Abort()
	if _, err := a.Write(make([]byte, 64<<10)); err != nil {
		return false
	}
	return disk.CloneRange(ctx, b.File, 0, a.File, 0, 64<<10) == nil
}
