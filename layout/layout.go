package layout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/ctxio"
)

// The files at the root of a layout.
const (
	LayoutFile = ocispec.ImageLayoutFile // {"imageLayoutVersion": "1.0.0"}
	IndexFile  = "index.json"
)

const (
	// lockFile serializes the writers of index.json. It is not content: nothing
	// that lists or archives the layout's blobs or index looks at it.
	lockFile = ".haul-lock"
)

// Layout is an OCI image layout directory. Its methods may be called from
// several goroutines, and several processes may write one layout at once.
type Layout struct {
	dir string
	// link is os.Link, replaced in tests to take the copy that LinkBlob
	// falls back to across filesystems.
	link func(oldname, newname string) error
}

// Create makes dir an OCI image layout: it creates dir (and its parents) if
// needed and writes oci-layout if it is missing. A directory whose oci-layout
// is not version 1.0.0 is refused rather than mixed into.
func Create(dir string) (*Layout, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating layout: %w", err)
	}
	l := newLayout(dir)
	err := l.checkLayoutFile()
	if errors.Is(err, fs.ErrNotExist) {
		// Written whole under a temporary name: a reader never sees an empty
		// oci-layout. Two Creates racing write the same bytes.
		err = writeFileAtomic(filepath.Join(dir, LayoutFile), []byte(LayoutFileContent), false)
	}
	if err == nil {
		err = os.MkdirAll(filepath.Join(dir, "blobs"), 0o755) // the spec requires it, even empty
	}
	if err != nil {
		return nil, fmt.Errorf("creating layout %s: %w", dir, err)
	}
	return l, nil
}

// Open returns the layout at dir, which must already be one.
func Open(dir string) (*Layout, error) {
	l := newLayout(dir)
	if err := l.checkLayoutFile(); err != nil {
		return nil, fmt.Errorf("opening layout %s: %w", dir, err)
	}
	return l, nil
}

func newLayout(dir string) *Layout {
	return &Layout{dir: dir, link: os.Link}
}

func (l *Layout) checkLayoutFile() error {
	name := filepath.Join(l.dir, LayoutFile)
	b, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	var v ocispec.ImageLayout
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%s is not an OCI layout file: %w", name, err)
	}
	if v.Version != ocispec.ImageLayoutVersion {
		return fmt.Errorf("%s: imageLayoutVersion %q, want %q", name, v.Version, ocispec.ImageLayoutVersion)
	}
	return nil
}

// Dir is the layout's directory.
func (l *Layout) Dir() string { return l.dir }

// BlobPath is where blob d lives: blobs/<alg>/<encoded>. d is validated first,
// so the path never leaves the layout.
func (l *Layout) BlobPath(d digest.Digest) (string, error) {
	if err := image.ValidateDigest(d); err != nil {
		return "", err
	}
	return filepath.Join(l.dir, "blobs", string(d.Algorithm()), d.Encoded()), nil
}

// Has reports whether blob d is present with d.Size bytes. A file under a
// blob's name has been verified when it was written, so its size is all that
// is left to check: a file of another size means d's size is wrong.
func (l *Layout) Has(d image.Descriptor) (bool, error) {
	if err := image.ValidateDescriptor(d); err != nil {
		return false, err
	}
	p, _ := l.BlobPath(d.Digest)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return fi.Mode().IsRegular() && fi.Size() == d.Size, nil
}

// WriteBlob stores blob d from r, read to its end and verified as it streams
// to a temporary file beside the blob's name; the file is renamed into place
// only if size and digest matched. If d is already present, r is not read.
//
// Blobs are not fsynced (index.json is): after a power failure, a blob
// renamed just before may be short, which Has rejects, or, on some
// filesystems, zero-filled at its full size.
func (l *Layout) WriteBlob(ctx context.Context, d image.Descriptor, r io.Reader) error {
	what := "blob " + string(d.Digest)
	if ok, err := l.Has(d); err != nil || ok {
		return wrap("writing "+what, err)
	}
	final, _ := l.BlobPath(d.Digest)
	err := writeTemp(final, func(f *os.File) error {
		_, err := io.Copy(f, ctxio.Reader(ctx, image.VerifyReader(r, d, what)))
		return err
	})
	return wrap("writing "+what, err)
}

// WriteBlobBytes is WriteBlob for a blob held in memory, such as a manifest.
func (l *Layout) WriteBlobBytes(d image.Descriptor, b []byte) error {
	what := "blob " + string(d.Digest)
	if ok, err := l.Has(d); err != nil || ok {
		return wrap("writing "+what, err)
	}
	v := image.NewVerifier(d, what)
	v.Write(b)
	if err := v.Check(); err != nil {
		return fmt.Errorf("writing %s: %w", what, err)
	}
	final, _ := l.BlobPath(d.Digest)
	err := writeTemp(final, func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
	return wrap("writing "+what, err)
}

// LinkBlob puts blob d into the layout from src, a file that was verified as
// d (a store's blob): as a hardlink when src is on the same filesystem, else
// as a copy. Either way the blob appears by rename, and src's size is checked
// against d's first.
func (l *Layout) LinkBlob(ctx context.Context, d image.Descriptor, src string) error {
	what := "blob " + string(d.Digest)
	if ok, err := l.Has(d); err != nil || ok {
		return wrap("linking "+what, err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("linking %s: %w", what, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() != d.Size {
		return fmt.Errorf("linking %s: %s is not a %d-byte file", what, src, d.Size)
	}
	final, _ := l.BlobPath(d.Digest)
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return fmt.Errorf("linking %s: %w", what, err)
	}
	for try := 1; ; try++ {
		linked, err := l.linkAt(src, final)
		if !linked && err != nil {
			return wrap("linking "+what, err)
		}
		if !linked {
			break
		}
		if err == nil || !errors.Is(err, fs.ErrNotExist) || try == linkTries {
			return wrap("linking "+what, err)
		}
	}
	// EXDEV mostly, but also filesystems without hardlinks, or a src this
	// process may not link (fs.protected_hardlinks): a copy works for all.
	err = writeTemp(final, func(f *os.File) error { return copyFile(ctx, f, src, d.Size) })
	return wrap("copying "+what+" from "+src, err)
}

// linkAt hardlinks src at a temporary name beside final, then renames it
// onto final. It reports whether the link was made; if it was, err is the
// rename's: fs.ErrNotExist when another process's RemoveStale took the link
// (it holds no lock) before the rename.
func (l *Layout) linkAt(src, final string) (linked bool, err error) {
	f, err := disk.Create(final) // a free name, which link needs absent
	if err != nil {
		return false, err
	}
	f.Abort()
	tmp := f.Name()
	if l.link(src, tmp) != nil {
		return false, nil
	}
	if err := disk.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return true, err
	}
	return true, nil
}

// copyFile copies exactly size bytes from src to dst, in the kernel where it
// can (disk.CopyRange).
func copyFile(ctx context.Context, dst *os.File, src string, size int64) error {
	s, err := os.Open(src)
	if err != nil {
		return err
	}
	defer s.Close()
	if fi, err := s.Stat(); err != nil || fi.Size() != size {
		return fmt.Errorf("%s is not %d bytes long", src, size)
	}
	return disk.CopyRange(ctx, dst, 0, s, 0, size)
}

// writeTemp writes final whole and read-only (blobs never change; that also
// keeps a hardlink to a store's blob from being edited in place through an
// output layout), from a temporary file that write fills.
func writeTemp(final string, write func(*os.File) error) error {
	return disk.WriteFile(final, false, true, write)
}

// writeFileAtomic replaces name with b by rename; with sync, b is on disk
// before the rename, and the rename is too when this returns.
func writeFileAtomic(name string, b []byte, sync bool) error {
	return disk.WriteFile(name, sync, false, func(f *os.File) error {
		_, err := f.Write(b)
		return err
	})
}

// ReadIndex reads index.json. A layout without one has an empty index.
func (l *Layout) ReadIndex() (*image.Index, error) {
	name := filepath.Join(l.dir, IndexFile)
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return emptyIndex(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading layout index: %w", err)
	}
	idx := emptyIndex()
	if err := json.Unmarshal(b, idx); err != nil {
		return nil, fmt.Errorf("reading layout index %s: %w", name, err)
	}
	if idx.SchemaVersion != 2 {
		return nil, fmt.Errorf("reading layout index %s: schemaVersion %d, want 2", name, idx.SchemaVersion)
	}
	if idx.Manifests == nil {
		idx.Manifests = []image.Descriptor{}
	}
	return idx, nil
}

func emptyIndex() *image.Index {
	idx := &image.Index{MediaType: image.MediaTypeOCIIndex, Manifests: []image.Descriptor{}}
	idx.SchemaVersion = 2
	return idx
}

// UpdateIndex changes index.json with fn, under an exclusive lock that other
// haul processes writing the layout honour too. fn gets the current index (an
// empty one if there is none) and changes it in place; if fn fails, index.json
// is left as it was and fn's error is returned. When there is an index.json,
// the new one is on disk before it replaces it by rename, so a crash leaves
// one or the other and the images the layout held stay reachable. A new
// layout's first index.json is not fsynced, as its blobs are not: a crash
// then loses only what this call was writing.
// Waiting for the lock ends when ctx does.
func (l *Layout) UpdateIndex(ctx context.Context, fn func(*image.Index) error) error {
	lf, err := os.OpenFile(filepath.Join(l.dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("locking layout %s: %w", l.dir, err)
	}
	defer lf.Close() // releases the lock
	if err := disk.Lock(ctx, lf); err != nil {
		return fmt.Errorf("locking layout %s: %w", l.dir, err)
	}
	idx, err := l.ReadIndex()
	if err != nil {
		return err
	}
	before, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("reading layout index: %w", err)
	}
	if err := fn(idx); err != nil {
		return err
	}
	if idx.Manifests == nil {
		idx.Manifests = []image.Descriptor{} // the spec requires the array
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("writing layout index: %w", err)
	}
	_, err = os.Stat(filepath.Join(l.dir, IndexFile))
	exists := err == nil
	// A re-pull of what the layout holds changes nothing: no write, no fsync.
	if exists && bytes.Equal(b, before) {
		return nil
	}
	if err := writeFileAtomic(filepath.Join(l.dir, IndexFile), b, exists); err != nil {
		return fmt.Errorf("writing layout index: %w", err)
	}
	return nil
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
