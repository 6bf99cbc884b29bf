package store

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/ctxio"
)

// Blobs are written without fsync, as the page cache takes them: waiting for
// the disk would make a pull on a slow disk as slow as the disk, and a cache
// can always fetch again. A power failure may then leave a blob renamed into
// place short, zero-filled or empty. So every blob is noted as written in
// this boot (an empty file under unsynced/<boot id>/), and a store opened in
// a later boot moves the notes of earlier boots to suspect/: a suspect blob
// is hashed again at its first use, and removed if it is not what its name
// says. Where the boot cannot be told (disk.BootID is ""), nothing is noted.
const (
	unsyncedDir = "unsynced"
	suspectDir  = "suspect"
)

func markName(d image.Descriptor) string {
	return string(d.Digest.Algorithm()) + "-" + d.Digest.Encoded()
}

// markUnsynced notes that blob d is being written in this boot. Best effort:
// without the note, a power failure could go unnoticed for this blob only.
func (s *Store) markUnsynced(d image.Descriptor) {
	if s.boot == "" {
		return
	}
	dir := filepath.Join(s.Dir(), unsyncedDir, s.boot)
	name := filepath.Join(dir, markName(d))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE, 0o644)
	if errors.Is(err, os.ErrNotExist) {
		os.MkdirAll(dir, 0o700)
		f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE, 0o644)
	}
	if err == nil {
		f.Close()
	}
}

// sweepBoots makes the notes of earlier boots suspects. Best effort.
func (s *Store) sweepBoots() {
	if s.boot == "" {
		return
	}
	root := filepath.Join(s.Dir(), unsyncedDir)
	boots, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, b := range boots {
		if b.Name() == s.boot || !b.IsDir() {
			continue
		}
		dir := filepath.Join(root, b.Name())
		marks, _ := os.ReadDir(dir)
		if len(marks) > 0 {
			os.MkdirAll(filepath.Join(s.Dir(), suspectDir), 0o700)
		}
		for _, m := range marks {
			disk.Rename(filepath.Join(dir, m.Name()), filepath.Join(s.Dir(), suspectDir, m.Name()))
		}
		os.Remove(dir)
	}
}

// checkSuspect hashes blob d at path again if a power failure may have
// damaged it since it was written, and removes it if it is not d. It
// reports whether the blob may be used.
func (s *Store) checkSuspect(ctx context.Context, d image.Descriptor, path string) bool {
	mark := filepath.Join(s.Dir(), suspectDir, markName(d))
	if _, err := os.Lstat(mark); err != nil {
		return true
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	_, err = io.Copy(io.Discard, ctxio.Reader(ctx, image.VerifyReader(f, d, "blob "+string(d.Digest))))
	f.Close()
	switch {
	case err == nil:
		os.Remove(mark)
		return true
	case ctx.Err() != nil:
		return false
	}
	var de *image.DigestError
	var se *image.SizeError
	if errors.As(err, &de) || errors.As(err, &se) {
		os.Remove(path)
		os.Remove(mark)
	}
	return false
}
