package rootfs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
)

const (
	// maxZstdWindow bounds the memory a zstd frame can make the decoder hold.
	// zstd's default levels use at most 8 MiB; --long and --ultra go to 128
	// MiB and more, which an untrusted layer must not be able to demand.
	maxZstdWindow = 32 << 20
	// maxTrailing is how much the uncompressed stream may hold after the tar's
	// end-of-archive marker: it is hashed for the diff_id, never written.
	maxTrailing = 1 << 20
	chunkSize   = 64 << 10 // what the decompressing goroutine hands over at once
	chunks      = 16       // in flight: 1 MiB lets the two goroutines drift apart (measured best of 32 KiB-1 MiB × 4-64)
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// layerMediaTypes are the layer media types haul applies: tar, tar+gzip and
// tar+zstd, Docker's and OCI's. The name does not choose the decompressor, the
// magic bytes do: registries and tools have served gzip under the plain tar
// type and the other way round.
var layerMediaTypes = map[string]bool{
	"application/vnd.oci.image.layer.v1.tar":                       true,
	"application/vnd.oci.image.layer.v1.tar+gzip":                  true,
	"application/vnd.oci.image.layer.v1.tar+zstd":                  true,
	"application/vnd.oci.image.layer.nondistributable.v1.tar":      true,
	"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": true,
	"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd": true,
	"application/vnd.docker.image.rootfs.diff.tar":                 true,
	image.MediaTypeDockerLayerGzip:                                 true,
	"application/vnd.docker.image.rootfs.diff.tar.zstd":            true,
	image.MediaTypeDockerForeign:                                   true,
	"application/vnd.docker.image.rootfs.foreign.diff.tar":         true,
	"application/x-tar":                                            true, // old docker save
	"application/tar":                                              true,
}

// IsLayer reports whether mt is a layer media type rootfs can apply.
func IsLayer(mt string) bool { return layerMediaTypes[mt] }

// BlobVerifier is a reader that checks the blob it yields against its
// descriptor itself, returning an error in place of io.EOF when the bytes are
// not d's (as a registry download or a store's verified file does). Open then
// checks only the diff_id, and the blob's bytes are hashed once, not twice.
type BlobVerifier interface {
	io.Reader
	VerifiesBlob(d image.Descriptor) bool
}

// Open returns the uncompressed tar stream of layer l, whose blob bytes r
// yields. Decompression runs on its own goroutine, ahead of the reader. In
// place of io.EOF, Read returns an error if the blob was not l.Descriptor's
// content (*image.DigestError, *image.SizeError) or the tar not l.DiffID's
// (*image.DigestError), the former checked here unless r is a BlobVerifier
// for l.Descriptor; so the stream must be read to its end, trailing
// bytes after the tar included, before anything taken from it is trusted.
// Close stops the goroutine; it must be called. When ctx is done, Read
// returns ctx's error.
func Open(ctx context.Context, r io.Reader, l Layer) (io.ReadCloser, error) {
	if !IsLayer(l.Descriptor.MediaType) {
		return nil, fmt.Errorf("layer %s: media type %q is not a layer haul can apply (tar, tar+gzip or tar+zstd)", l.Descriptor.Digest, l.Descriptor.MediaType)
	}
	if err := image.ValidateDescriptor(l.Descriptor); err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.Descriptor.Digest, err)
	}
	if err := l.DiffID.Validate(); err != nil {
		return nil, fmt.Errorf("layer %s: diff_id %q: %w", l.Descriptor.Digest, l.DiffID, err)
	}
	what := "layer " + string(l.Descriptor.Digest)
	src := r
	if bv, ok := r.(BlobVerifier); !ok || !bv.VerifiesBlob(l.Descriptor) {
		src = image.VerifyReader(r, l.Descriptor, what)
	}
	br := bufio.NewReaderSize(src, 64<<10)
	magic, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var dec io.Reader = br
	var closeDec func()
	switch {
	case bytes.HasPrefix(magic, gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip: %w", what, err)
		}
		dec, closeDec = zr, func() { zr.Close() }
	case bytes.HasPrefix(magic, zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, fmt.Errorf("%s: zstd: %w", what, err)
		}
		dec, closeDec = zr, zr.Close
	}
	a := &asyncReader{
		src:    dec,
		what:   what,
		diffID: l.DiffID,
		h:      image.NewHash(l.DiffID),
		full:   make(chan *chunk, chunks),
		free:   make(chan *chunk, chunks),
		stop:   make(chan struct{}),
		ctx:    ctx,
	}
	for range chunks {
		a.free <- &chunk{buf: make([]byte, chunkSize)}
	}
	a.wg.Go(func() {
		a.fill()
		if closeDec != nil {
			closeDec()
		}
	})
	return a, nil
}

type chunk struct {
	buf []byte
	n   int
	err error // after buf[:n]: the stream's end (io.EOF), or what stopped it
}

// asyncReader decompresses on its own goroutine (fill) and hands over full
// chunks; Read hashes each chunk for the diff_id as it takes it, and copies
// out of it.
type asyncReader struct {
	src    io.Reader
	what   string
	diffID digest.Digest
	h      hash.Hash
	full   chan *chunk
	free   chan *chunk
	stop   chan struct{}
	ctx    context.Context
	once   sync.Once
	wg     sync.WaitGroup

	cur *chunk // being read; nil between chunks
	off int
	err error // sticky, once a chunk said so
}

func (a *asyncReader) fill() {
	for {
		var c *chunk
		select {
		case c = <-a.free:
		case <-a.stop:
			return
		case <-a.ctx.Done():
			c = &chunk{err: a.ctx.Err()}
			select {
			case a.full <- c:
			case <-a.stop:
			}
			return
		}
		c.n, c.err = io.ReadFull(a.src, c.buf)
		switch c.err {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			c.err = io.EOF
		default:
			c.err = a.wrap(c.err)
		}
		err := c.err // once sent, c is the reader's: it sets c.err at the end
		select {
		case a.full <- c:
		case <-a.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// check runs at the uncompressed stream's end. The blob's own check came
// first: the verifying reader returned its error in place of io.EOF, so an
// io.EOF here means the compressed bytes were the descriptor's.
func (a *asyncReader) check() error {
	got := digest.NewDigestFromBytes(a.diffID.Algorithm(), a.h.Sum(nil))
	if got != a.diffID {
		return &image.DigestError{What: a.what + " uncompressed (diff_id)", Want: a.diffID, Got: got}
	}
	return io.EOF
}

func (a *asyncReader) wrap(err error) error {
	var de *image.DigestError
	var se *image.SizeError
	switch {
	case errors.As(err, &de), errors.As(err, &se):
		return err
	case errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return fmt.Errorf("%s: zstd: %w", a.what, &LimitError{What: "zstd window", Limit: maxZstdWindow, Hint: "the layer was compressed with a window (zstd --long) larger than haul accepts"})
	}
	return fmt.Errorf("%s: decompressing: %w", a.what, err)
}

func (a *asyncReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for a.cur == nil {
		if a.err != nil {
			return 0, a.err
		}
		c := <-a.full
		// The diff_id is hashed here, on the reader's goroutine: the
		// decompressing one is the busier.
		a.h.Write(c.buf[:c.n])
		if c.err == io.EOF {
			c.err = a.check()
		}
		if c.n == 0 && c.err != nil {
			a.err = c.err
			continue
		}
		a.cur, a.off = c, 0
	}
	n := copy(p, a.cur.buf[a.off:a.cur.n])
	a.off += n
	if a.off == a.cur.n {
		c := a.cur
		a.cur = nil
		if c.err != nil {
			a.err = c.err
		} else {
			a.free <- c
		}
	}
	return n, nil
}

// Close stops the decompressing goroutine and waits for it.
func (a *asyncReader) Close() error {
	a.once.Do(func() { close(a.stop) })
	a.wg.Wait()
	return nil
}
