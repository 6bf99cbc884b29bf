package store

import (
	"cmp"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/image"
)

// Entry is a blob in the store, or a partial download of one.
type Entry struct {
	Digest  digest.Digest `json:"digest"`
	Size    int64         `json:"size"` // of a partial: the bytes downloaded so far
	ModTime time.Time     `json:"modTime"`
	Partial bool          `json:"partial"`
}

// PruneOptions says what Prune removes. The zero value removes partial
// downloads older than the store's PartialMaxAge.
type PruneOptions struct {
	All               bool          // every blob and partial
	PartialsOlderThan time.Duration // 0: the store's PartialMaxAge
}

// List returns the store's blobs and partial downloads, by digest.
func (s *Store) List(ctx context.Context) ([]Entry, error) {
	var out []Entry
	err := s.walk(ctx.Err, func(f file) {
		if !f.leftover {
			out = append(out, f.Entry)
		}
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Entry) int {
		if c := cmp.Compare(a.Digest, b.Digest); c != 0 {
			return c
		}
		if a.Partial == b.Partial {
			return 0
		}
		if a.Partial {
			return 1
		}
		return -1
	})
	return out, nil
}

// Prune removes partial downloads older than o.PartialsOlderThan, or with
// o.All every blob and partial, and the temporary files of writes that a
// crash interrupted. A partial that a download holds locked is never removed,
// however old. A blob removed while a reader has it open stays readable
// through that reader. It returns how many files it removed and their size.
func (s *Store) Prune(ctx context.Context, o PruneOptions) (removed int, freed int64, err error) {
	age := o.PartialsOlderThan
	if age <= 0 {
		age = s.partialMaxAge
	}
	return s.prune(ctx.Err, o.All, s.now().Add(-age))
}

// prune removes blobs if all is set, and partials and leftovers last changed
// before cutoff (or all of them). It goes on past a failure to remove one
// file and returns the first error; stop ends it early.
func (s *Store) prune(stop func() error, all bool, cutoff time.Time) (removed int, freed int64, err error) {
	note := func(size int64, ok bool, rerr error) {
		if ok {
			removed++
			freed += size
		}
		if err == nil && rerr != nil {
			err = rerr
		}
	}
	werr := s.walk(stop, func(f file) {
		switch {
		case f.Partial:
			note(removePartial(f.path, all, cutoff))
		case f.leftover && f.ModTime.Before(cutoff), !f.leftover && all:
			rerr := os.Remove(f.path)
			note(f.Size, rerr == nil, rerr)
		}
	})
	if werr != nil {
		err = werr
	}
	if all { // the notes of unsynced blobs name blobs no longer there
		os.RemoveAll(filepath.Join(s.Dir(), unsyncedDir))
		os.RemoveAll(filepath.Join(s.Dir(), suspectDir))
	}
	return removed, freed, err
}

// removePartial removes the partial download at name if no one holds its lock,
// and if all is set or it was last written before cutoff.
func removePartial(name string, all bool, cutoff time.Time) (int64, bool, error) {
	lf, err := os.OpenFile(strings.TrimSuffix(name, partialSuffix)+lockSuffix, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return 0, false, err
	}
	if ok, err := disk.TryLock(lf); !ok || err != nil {
		lf.Close()
		return 0, false, err // being downloaded
	}
	defer unlock(lf)
	fi, err := os.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil // finished, or removed, since it was listed
	}
	if err != nil {
		return 0, false, err
	}
	if !all && !fi.ModTime().Before(cutoff) {
		return 0, false, nil // resumed since it was listed
	}
	if err := os.Remove(name); err != nil {
		return 0, false, err
	}
	return fi.Size(), true, nil
}

// file is one file that walk found.
type file struct {
	Entry
	path string
	// leftover is a temporary file in a blob directory: one being written, or
	// one that a crash left behind. It has no digest.
	leftover bool
}

// walk calls fn for every blob, partial and leftover in the store.
func (s *Store) walk(stop func() error, fn func(file)) error {
	blobs := filepath.Join(s.Dir(), "blobs")
	algs, err := os.ReadDir(blobs)
	if err != nil {
		return err
	}
	for _, a := range algs {
		if !a.IsDir() {
			continue
		}
		err := walkDir(filepath.Join(blobs, a.Name()), stop, fn, func(name string) (file, bool) {
			if strings.HasPrefix(name, ".") { // no digest's encoding starts with a dot
				return file{leftover: true}, true
			}
			dg := digest.NewDigestFromEncoded(digest.Algorithm(a.Name()), name)
			return file{Entry: Entry{Digest: dg}}, image.ValidateDigest(dg) == nil
		})
		if err != nil {
			return err
		}
	}
	return walkDir(s.ingest, stop, fn, func(name string) (file, bool) {
		base, ok := strings.CutSuffix(name, partialSuffix)
		alg, enc, ok2 := strings.Cut(base, "-")
		dg := digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)
		return file{Entry: Entry{Digest: dg, Partial: true}}, ok && ok2 && image.ValidateDigest(dg) == nil
	})
}

// walkDir calls fn for each regular file in dir that parse recognizes.
func walkDir(dir string, stop func() error, fn func(file), parse func(name string) (file, bool)) error {
	es, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range es {
		if err := stop(); err != nil {
			return err
		}
		f, ok := parse(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // renamed or removed since ReadDir
		}
		if err != nil {
			return err
		}
		f.path, f.Size, f.ModTime = filepath.Join(dir, e.Name()), fi.Size(), fi.ModTime()
		fn(f)
	}
	return nil
}
