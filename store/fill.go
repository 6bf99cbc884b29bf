package store

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/ctxio"
)

// Fetcher returns the blob's bytes from offset on; v has already been fed bytes
// [0, offset). The returned reader yields io.EOF only once v (the same one) has
// checked size and digest, as registry.Client.BlobAt does (it calls v.Write for
// every byte and v.Check at the end).
type Fetcher func(ctx context.Context, offset int64, v *image.Verifier) (io.ReadCloser, error)

// Sink is where one blob's download goes, at the blob's offsets: a Partial
// in the store, or the blob's region of an archive being written. What an
// interrupted download left there is resumed from.
type Sink interface {
	io.ReaderAt
	io.WriterAt
	// Resume is how many bytes of the blob, from its start, an earlier
	// download left in the sink.
	Resume() int64
	// Reset forgets them: the next bytes start the blob again.
	Reset() error
}

// Download is one blob to Fill a Sink with.
type Download struct {
	Blob  image.Descriptor
	Fetch Fetcher
	// Progress, if set, gets the byte count of each chunk as it is written,
	// and once the size of a resumed prefix. If that prefix turns out not to
	// be the blob's, the blob is fetched again from its start and those
	// bytes are counted too: the calls may add up to more than Blob.Size.
	Progress func(int64)
	// Tee, if set, gets every byte of the blob in order, a resumed prefix
	// included, as it goes to the sink (an unpack that reads the layer as
	// it downloads). A download that would have to start over then fails.
	Tee io.Writer
}

// Result says what a blob cost.
type Result struct {
	Path    string // where the blob is in the store (Ensure)
	Present bool   // the store had the blob already: nothing was read or fetched
	Cached  int64  // bytes that did not cross the network: a resumed prefix, or the whole blob if present
	Fetched int64  // bytes read from Fetch
}

// errRestart is a teed download that would start over: the bytes the tee
// took cannot be taken back.
var errRestart = errors.New("the download had to start over after a corrupt partial, and what was read of it cannot be taken back; pull again")

// Fill completes s with the blob, fetching only what s lacks, and returns
// nil only when s holds exactly the blob's bytes, checked as they were
// written: a resumed prefix is hashed again from s first. A resumption the
// registry refuses (416, a bad Content-Range) asks for the whole blob; a
// prefix that proves not to be the blob's (a crash left zeroes in it) is
// fetched again from the start. Bytes that fail verification are forgotten
// (s is Reset); any other failure (the network, ctx) keeps what was written
// for the next Fill to resume from.
func Fill(ctx context.Context, s Sink, dl Download) (Result, error) {
	d := dl.Blob
	if dl.Progress == nil {
		dl.Progress = func(int64) {}
	}
	n, v, err := prefix(ctx, s, dl)
	if err != nil {
		return Result{}, err
	}
	res := Result{Cached: n}
	if n > 0 {
		dl.Progress(n)
	}
	if n == d.Size && v.Check() == nil { // whole already, or the empty blob: no request
		return res, nil
	}
	for {
		rc, off, fv, err := fetchFrom(ctx, dl, n, v)
		if err != nil {
			return Result{}, err // what s holds is kept, to be resumed
		}
		if off != n {
			if dl.Tee != nil {
				rc.Close()
				return Result{}, errRestart
			}
			if err := s.Reset(); err != nil {
				rc.Close()
				return Result{}, err
			}
			n, v, res.Cached = off, fv, 0
		}
		k, err := dl.copyAt(ctx, s, n, rc, v)
		rc.Close()
		res.Fetched += k
		var de *image.DigestError
		var se *image.SizeError
		if err == nil || !errors.As(err, &de) && !errors.As(err, &se) {
			return res, err // on error, the bytes written are kept, to be resumed
		}
		rerr := s.Reset()
		switch {
		case n == 0 || rerr != nil:
			return Result{}, errors.Join(err, rerr)
		case dl.Tee != nil:
			return Result{}, fmt.Errorf("%w: %w", errRestart, err)
		}
		// The prefix was not the blob's: once more, from zero.
		n, v, res.Cached = 0, newVerifier(d), 0
	}
}

// prefix hashes what s holds into a new Verifier (and gives it to the tee),
// and returns how many bytes a download can resume after: none if s holds
// more than the blob, or all of it but not the blob.
func prefix(ctx context.Context, s Sink, dl Download) (int64, *image.Verifier, error) {
	d := dl.Blob
	v := newVerifier(d)
	n := s.Resume()
	if n <= 0 || n > d.Size {
		return 0, v, s.Reset()
	}
	var w io.Writer = v
	if dl.Tee != nil {
		w = io.MultiWriter(v, dl.Tee)
	}
	if _, err := io.Copy(w, io.NewSectionReader(ctxio.ReaderAt(ctx, s), 0, n)); err != nil {
		return 0, nil, err
	}
	if n == d.Size && v.Check() != nil {
		if dl.Tee != nil {
			return 0, nil, errRestart
		}
		return 0, newVerifier(d), s.Reset()
	}
	return n, v, nil
}

// fetchFrom fetches from n on, with v. If a resumption is refused outright,
// it asks for the whole blob instead, since a registry that will not resume
// would otherwise fail every later pull at this same offset; it returns the
// offset and Verifier it went with. If that fails too, the first error is
// returned.
func fetchFrom(ctx context.Context, dl Download, n int64, v *image.Verifier) (io.ReadCloser, int64, *image.Verifier, error) {
	rc, err := dl.Fetch(ctx, n, v)
	if err == nil || n == 0 || ctx.Err() != nil {
		return rc, n, v, err
	}
	v0 := newVerifier(dl.Blob)
	if rc0, err0 := dl.Fetch(ctx, 0, v0); err0 == nil {
		return rc0, 0, v0, nil
	}
	return nil, n, v, err
}

func newVerifier(d image.Descriptor) *image.Verifier {
	return image.NewVerifier(d, "blob "+string(d.Digest))
}

// copyBuf is the buffer of a copy from a reader that cannot write itself
// out (a registry's blob reader can: io.Copy then hashes on another
// goroutine while this one writes).
const copyBuf = 256 << 10

// copyAt writes rc's bytes to s from offset off on, and to the tee, until
// rc's io.EOF, which says v has checked the whole blob. It returns how many
// bytes it read.
func (dl Download) copyAt(ctx context.Context, s Sink, off int64, rc io.Reader, v *image.Verifier) (int64, error) {
	w := &sinkWriter{ctx: ctx, s: s, off: off, tee: dl.Tee, progress: dl.Progress}
	var read int64
	var err error
	if _, ok := rc.(io.WriterTo); ok {
		read, err = io.Copy(w, rc)
	} else {
		read, err = io.CopyBuffer(w, rc, make([]byte, copyBuf))
	}
	if err != nil {
		return read, err
	}
	// io.EOF means the fetcher's check passed. Make sure it was of this v, and
	// that the bytes it checked are the ones written.
	if err := v.Check(); err != nil {
		return read, err
	}
	if w.off != dl.Blob.Size {
		return read, &image.SizeError{What: "blob " + string(dl.Blob.Digest), Want: dl.Blob.Size, Got: w.off}
	}
	return read, nil
}

// sinkWriter writes a download to its sink at the blob's offsets, and to
// the tee.
type sinkWriter struct {
	ctx      context.Context
	s        Sink
	off      int64
	tee      io.Writer
	progress func(int64)
}

func (w *sinkWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.s.WriteAt(p, w.off)
	if err == nil && w.tee != nil {
		_, err = w.tee.Write(p[:n])
	}
	w.off += int64(n)
	w.progress(int64(n))
	return n, err
}
