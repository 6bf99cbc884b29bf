package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/direct"
	"github.com/haul-dev/haul/internal/flock"
)

// Fetcher returns the blob's bytes from offset on; v has already been fed bytes
// [0, offset). The returned reader yields io.EOF only once v (the same one) has
// checked size and digest, as registry.Client.BlobAt does (it calls v.Write for
// every byte and v.Check at the end).
type Fetcher func(ctx context.Context, offset int64, v *image.Verifier) (io.ReadCloser, error)

// Result says where a blob is and what it cost.
type Result struct {
	Path    string // the blob's final path
	Present bool   // the blob was in the store already: nothing was read or fetched
	Cached  int64  // bytes that did not cross the network this time: the whole blob if it was present, or a resumed partial's prefix
	Fetched int64  // bytes read from fetch
}

// Ensure makes blob d present, fetching only what is missing: nothing if it is
// in the store, the rest of it if a partial download was left by an earlier
// pull. Only one caller at a time, in any process, downloads a given blob;
// the others wait for it (until ctx is done) and find the blob present.
//
// progress, which may be nil, is called with the byte count of each chunk as
// it is written, and once with the size of a resumed prefix. If that prefix
// turns out not to be the blob's, the blob is fetched again from the start,
// whose bytes are counted too: the calls may then add up to more than d.Size.
//
// A failure to verify deletes the partial download: nothing corrupt is kept.
// Any other failure (the network, ctx) keeps the bytes written so far for the
// next call to resume from. On error the Result is zero.
//
// Neither partials nor blobs are fsynced: a cache can always fetch again. A
// power failure may leave a partial whose tail is zeroes, which the digest
// check at the end of its resumption catches, and then the blob is fetched
// again. It may also leave a blob renamed just before it short, which Has
// rejects, or, on some filesystems, zero-filled at its full size, which only
// pruning the store removes.
func (s *Store) Ensure(ctx context.Context, d image.Descriptor, fetch Fetcher, progress func(int64)) (Result, error) {
	return s.EnsureTee(ctx, d, fetch, progress, nil)
}

// EnsureTee is Ensure that also writes every byte of the blob to tee, at its
// offset in the blob, as the bytes are written to the store: a resumed
// prefix as it is hashed, fetched bytes as they arrive. So a caller that needs
// the blob elsewhere too (an archive) gets it with no second pass. A blob that
// was present already (Result.Present) is not read, and tee gets nothing. If
// a resumed prefix proves corrupt, tee is written again from the start.
func (s *Store) EnsureTee(ctx context.Context, d image.Descriptor, fetch Fetcher, progress func(int64), tee io.WriterAt) (Result, error) {
	what := "blob " + string(d.Digest)
	if err := image.ValidateDescriptor(d); err != nil {
		return Result{}, fmt.Errorf("fetching %s: %w", what, err)
	}
	final, _ := s.layout.BlobPath(d.Digest)
	if ok, err := s.layout.Has(d); err != nil || ok {
		return cached(final, d, err)
	}
	if progress == nil {
		progress = func(int64) {}
	}
	f, err := lockPartial(ctx, s.partialPath(d))
	if err != nil {
		return Result{}, fmt.Errorf("fetching %s: %w", what, err)
	}
	defer f.Close() // releases the lock
	// Whoever held the lock before may have finished the blob.
	if ok, err := s.layout.Has(d); err != nil || ok {
		os.Remove(f.Name()) // of no use now; we hold its lock, so it is ours to remove
		return cached(final, d, err)
	}
	res, err := s.fill(ctx, d, f, fetch, progress, tee)
	if err != nil {
		return Result{}, fmt.Errorf("fetching %s: %w", what, err)
	}
	if err := commit(f, final); err != nil {
		return Result{}, fmt.Errorf("storing %s: %w", what, err)
	}
	res.Path = final
	return res, nil
}

func cached(path string, d image.Descriptor, err error) (Result, error) {
	if err != nil {
		return Result{}, fmt.Errorf("fetching blob %s: %w", d.Digest, err)
	}
	return Result{Path: path, Cached: d.Size, Present: true}, nil
}

// lockPartial opens (or creates) the partial file at name and locks it.
func lockPartial(ctx context.Context, name string) (*os.File, error) {
	for {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := flock.Lock(ctx, f); err != nil {
			f.Close()
			return nil, fmt.Errorf("waiting for the partial download %s: %w", name, err)
		}
		// The holder before us may have renamed the file into place or removed it,
		// and f would then be a file no one will ever find: open the name again.
		if isNamed(f, name) {
			return f, nil
		}
		f.Close()
	}
}

// isNamed reports whether name is f's file.
func isNamed(f *os.File, name string) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	ni, err := os.Stat(name)
	return err == nil && os.SameFile(fi, ni)
}

// fill completes the locked partial f with blob d's bytes, verified.
func (s *Store) fill(ctx context.Context, d image.Descriptor, f *os.File, fetch Fetcher, progress func(int64), tee io.WriterAt) (_ Result, err error) {
	defer func() {
		if err != nil {
			direct.Release(f) // a kept partial holds no blocks reserved past its bytes
		}
	}()
	n, v, err := s.prefix(ctx, f, d, tee)
	if err != nil {
		return Result{}, err
	}
	res := Result{Cached: n}
	if n > 0 {
		progress(n)
	}
	if n == d.Size { // a complete partial, already checked, or the empty blob: no request
		if err := v.Check(); err != nil {
			os.Remove(f.Name())
			return Result{}, err
		}
		return res, nil
	}
	for {
		rc, off, fv, err := fetchFrom(ctx, d, fetch, n, v)
		if err != nil {
			return Result{}, err // the partial is kept, to be resumed
		}
		if off != n {
			n, v, res.Cached = off, fv, 0
		}
		if err := f.Truncate(n); err != nil {
			rc.Close()
			return Result{}, err
		}
		k, err := s.copyAt(ctx, f, n, rc, v, d, progress, tee)
		rc.Close()
		res.Fetched += k
		var de *image.DigestError
		var se *image.SizeError
		if err == nil || !errors.As(err, &de) && !errors.As(err, &se) {
			return res, err // on error, the bytes written are kept, to be resumed
		}
		if n == 0 {
			os.Remove(f.Name()) // we hold its lock, so it is still ours
			return Result{}, err
		}
		// The prefix on disk was not the blob's (a crash left zeroes in it, or
		// the disk lost a bit): once more, from zero.
		n, v, res.Cached = 0, newVerifier(d), 0
	}
}

// prefix hashes the bytes of the partial f into a new Verifier and returns
// how many of them a download can resume after: none if f is longer than the
// blob, or is complete but not the blob.
func (s *Store) prefix(ctx context.Context, f *os.File, d image.Descriptor, tee io.WriterAt) (int64, *image.Verifier, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, nil, err
	}
	n := fi.Size()
	if n == 0 || n > d.Size {
		return 0, newVerifier(d), nil
	}
	v := newVerifier(d)
	if err := s.hashPrefix(ctx, f, n, v, tee); err != nil {
		return 0, nil, err
	}
	if n == d.Size && v.Check() != nil {
		return 0, newVerifier(d), nil
	}
	return n, v, nil
}

// fetchFrom calls fetch for d from n on, with v. If a resumption is refused
// outright, it asks for the whole blob instead, since a registry that will
// not resume (416, a bad Content-Range) would otherwise fail every later pull
// at this same offset; it returns the offset and Verifier it went with. If
// that fails too, the first error is returned and the partial is kept.
func fetchFrom(ctx context.Context, d image.Descriptor, fetch Fetcher, n int64, v *image.Verifier) (io.ReadCloser, int64, *image.Verifier, error) {
	rc, err := fetch(ctx, n, v)
	if err == nil || n == 0 || ctx.Err() != nil {
		return rc, n, v, err
	}
	v0 := newVerifier(d)
	if rc0, err0 := fetch(ctx, 0, v0); err0 == nil {
		return rc0, 0, v0, nil
	}
	return nil, n, v, err
}

func newVerifier(d image.Descriptor) *image.Verifier {
	return image.NewVerifier(d, "blob "+string(d.Digest))
}

// hashPrefix feeds f's first n bytes to v, and to tee.
func (s *Store) hashPrefix(ctx context.Context, f *os.File, n int64, v *image.Verifier, tee io.WriterAt) error {
	buf := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(buf)
	var w io.Writer = v
	if tee != nil {
		w = io.MultiWriter(v, io.NewOffsetWriter(tee, 0))
	}
	_, err := io.CopyBuffer(w, io.NewSectionReader(ctxReaderAt{ctx, f}, 0, n), *buf)
	return err
}

// copyAt writes rc's bytes to f from offset off on, and to tee, until rc's
// io.EOF, which says v has checked the whole blob. It returns how many bytes it
// read. io.Copy lets a reader that can (a registry blob) hash on another
// goroutine while the bytes are written here.
func (s *Store) copyAt(ctx context.Context, f *os.File, off int64, rc io.Reader, v *image.Verifier, d image.Descriptor, progress func(int64), tee io.WriterAt) (int64, error) {
	w := &partialWriter{ctx: ctx, dst: f, off: off, tee: tee, progress: progress, file: f, size: d.Size, reserved: off}
	dws := s.directWriters(f, off, d, tee)
	if dws != nil {
		w.dst = dws.partial
		switch {
		case dws.teeDirect:
			w.tee = nil // partial writes it
		case dws.tee != nil:
			w.tee = dws.tee
		}
	}
	var read int64
	var err error
	if _, ok := rc.(io.WriterTo); ok {
		read, err = io.Copy(w, rc)
	} else {
		buf := s.bufs.Get().(*[]byte)
		read, err = io.CopyBuffer(w, rc, *buf)
		s.bufs.Put(buf)
	}
	if dws != nil {
		// On any outcome the partial must hold every byte received, for a resume.
		if cerr := dws.close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return read, err
	}
	// io.EOF means the fetcher's check passed. Make sure it was of this v, and
	// that the bytes it checked are the ones written.
	if err := v.Check(); err != nil {
		return read, err
	}
	if w.off != d.Size {
		return read, &image.SizeError{What: "blob " + string(d.Digest), Want: d.Size, Got: w.off}
	}
	return read, nil
}

// directWriters are a download's writers that bypass the page cache, or may.
type directWriters struct {
	// partial writes the partial file: a direct.Writer, or a direct.Switcher
	// for a blob under switchCacheMax.
	partial interface {
		io.WriterAt
		Close() error
	}
	teeDirect bool             // partial, a Writer, writes the tee's region too
	tee       *direct.Switcher // over the tee's region, written apart
	fd        *os.File         // the partial file, opened with O_DIRECT
}

// switchCacheMax bounds the blobs whose partial is written through a
// Switcher. 40 blobs of 10 MiB into a layout took a median 0.47-0.475 s that
// way against 0.485-0.525 s by O_DIRECT, and into a cached tar, with the tee
// through a Switcher of its own too, 0.48 s against 0.555 s with the partial
// by O_DIRECT. But 1 GiB into a layout took 1.34 s against 1.12-1.23 s, and
// into a tar 1.49 s against 1.34 s (bench/ab.sh, 2026-12-04), so larger
// blobs go to the partial by O_DIRECT.
const switchCacheMax = 64 << 20

// directWriters returns the writers of a download into the partial f from off
// on, and into tee's region when the tee offers one. A rest of direct.Min or
// more goes to the partial through a direct.Switcher for a blob under
// switchCacheMax, by O_DIRECT for a larger one. A Switcher writes through the
// page cache while the store's pool judges that cheap. The tee's copy goes
// through a Switcher of its own while the pool has not judged the page cache
// slow; once it has, the tee's copy goes with the partial's, from the same
// stages of one Writer. (For a 1 GiB blob, a cached pull to a tar took a
// median 1.50–1.75 s with the tee through a Switcher against 1.98–2.00 s
// with both copies by O_DIRECT, whose 2 GiB this disk writes at
// 1.2–1.7 GB/s; bench/ab.sh, 2026-12-04.) It returns nil for a rest smaller
// than direct.Min, when the pool has no stages free (the memory budget is for
// the whole pull), or where O_DIRECT cannot be had: the download then writes
// the ordinary way.
func (s *Store) directWriters(f *os.File, off int64, d image.Descriptor, tee io.WriterAt) *directWriters {
	if d.Size-off < direct.Min {
		return nil
	}
	var teeTarget *direct.Target
	if dt, ok := tee.(DirectTee); ok {
		if t, ok := dt.DirectTarget(); ok {
			teeTarget = &t
		}
	}
	fd, err := direct.Open(f.Name())
	if err != nil {
		return nil
	}
	dws := &directWriters{fd: fd}
	targets := []direct.Target{{File: f, Direct: fd}}
	teeSwitched := teeTarget != nil && !s.direct.Slow()
	if teeSwitched {
		dws.tee = s.direct.NewSwitcher(off, d.Size, *teeTarget)
	}
	if d.Size < switchCacheMax && (teeTarget == nil || teeSwitched) {
		if sw := s.direct.NewSwitcher(off, d.Size, targets[0]); sw != nil {
			dws.partial = sw
			return dws
		}
	}
	if teeTarget != nil && !teeSwitched {
		targets = append(targets, *teeTarget)
		dws.teeDirect = true
	}
	dw := s.direct.NewWriter(off, d.Size, targets...)
	if dw == nil {
		fd.Close()
		return nil
	}
	dws.partial = dw
	return dws
}

// close writes what the writers still hold, so that the partial and the tee
// hold every byte given, and gives their stages back.
func (w *directWriters) close() error {
	err := w.partial.Close()
	if w.tee != nil {
		err = errors.Join(err, w.tee.Close())
	}
	w.fd.Close()
	return err
}

// DirectTee is a tee that can also take the blob's bytes with O_DIRECT, from
// the stages that fill the cache (an archive.Region of a large blob). When
// DirectTarget says ok, EnsureTee writes the tee only through it.
type DirectTee interface {
	io.WriterAt
	DirectTarget() (direct.Target, bool)
}

// partialWriter writes a download to its partial file, and to the tee, at
// the offsets they have in the blob. Ahead of the bytes, it reserves the
// partial's disk blocks, reserveAhead at a time.
type partialWriter struct {
	ctx      context.Context
	dst      io.WriterAt // the partial file, or a direct.Writer or Switcher over it (a Writer may write the tee too)
	off      int64
	tee      io.WriterAt
	progress func(int64)
	file     *os.File // the partial file
	size     int64    // the blob's
	reserved int64    // the partial's blocks are reserved up to here
}

// reserveAhead is how far ahead of a download its partial's blocks are
// reserved (direct.Reserve): a whole 10 MiB blob at once, a large one in
// steps. It bounds what a pull killed mid-way leaves reserved past a
// partial's end, until a resumption truncates it or prune removes it, and
// what a descriptor that lies about its size can take.
const reserveAhead = 64 << 20

func (w *partialWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	if end := w.off + int64(len(p)); end > w.reserved && w.reserved < w.size {
		n := min(max(reserveAhead, end-w.reserved), w.size-w.reserved)
		direct.Reserve(w.file, w.reserved, n) // the blocks at once, not page by page as the bytes come
		w.reserved += n
	}
	var teeErr error
	var wg sync.WaitGroup
	if w.tee != nil {
		// The two copies into the page cache run on both cores.
		wg.Go(func() { _, teeErr = w.tee.WriteAt(p, w.off) })
	}
	n, err := w.dst.WriteAt(p, w.off)
	wg.Wait()
	if err == nil {
		err = teeErr
	}
	w.off += int64(n)
	w.progress(int64(n))
	return n, err
}

// commit renames the verified partial f to its blob's name, still under the
// lock, so a waiter finds the blob and not a partial. A blob never changes, so
// it is then made read-only (best effort: the blob is already in place), so
// that an output layout which hardlinks it cannot edit it in place.
func commit(f *os.File, final string) error {
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return err
	}
	if fi, err := f.Stat(); err == nil {
		f.Chmod(fi.Mode().Perm() &^ 0o222)
	}
	return nil
}

// ctxReaderAt stops reading a partial file when ctx is done.
type ctxReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
}

func (c ctxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.ReadAt(p, off)
}
