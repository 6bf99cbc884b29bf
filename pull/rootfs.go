package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/rootfs"
	"github.com/haul-dev/haul/store"
)

// checkRootFS refuses what a root filesystem cannot be: several images, or
// several platforms of one.
func checkRootFS(refs []ref.Reference, c Config) error {
	switch {
	case len(refs) != 1:
		return fmt.Errorf("pull: the rootfs format unpacks one image; %d references were given", len(refs))
	case c.AllPlatforms || len(c.Platforms) > 1:
		return errors.New("pull: the rootfs format unpacks one platform; choose one with --platform os/arch")
	case c.Output == "-":
		return errors.New("pull: a rootfs is a directory and cannot go to stdout; use haul export for a tar of it")
	}
	return nil
}

// download is one blob being fetched into the store for an unpack.
type download struct {
	d     image.Descriptor
	done  chan struct{} // closed once the blob is in the store, or failed
	err   error         // set before done is closed
	claim chan *stream  // gets the stream when the download is teed to the unpack
}

// pullRootFS fetches the image's blobs into the store, concurrently as for
// any pull, while one goroutine applies the layers into c.Output in order:
// layer i as soon as it is there, while later ones still download. A layer
// whose download starts when it is the next to apply streams from the
// network into the unpack as it is written to the store (the first layer
// does, and any that waited for a download slot until then); the others are
// applied from the store once verified. On failure nothing is left at
// c.Output (with Unpack.Force, what was applied stays).
func pullRootFS(ctx context.Context, r *run, st *store.Store) (err error) {
	img := r.p.images[0]
	if img.Manifest == nil {
		return errors.New("pull: the reference names no image manifest to unpack")
	}
	count(r.p.blobs, r.res)
	u, err := rootfs.Create(ctx, r.c.Output, r.c.Unpack)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			u.Abort()
		}
	}()
	out := newRootfsOutput(st, r.p.blobs, img.Layers)
	g, gctx := errgroup.WithContext(ctx)
	// The plan lists the config first, then the layers in order, so the
	// fetch gives them download slots in the order the unpack needs them.
	g.Go(func() error { return r.fetch(gctx, out) })
	unpack := func() error {
		cfg, err := readConfig(gctx, st, out.downloads[img.Config.Digest])
		if err != nil {
			return err
		}
		layers, err := rootfs.Layers(&image.Manifest{Layers: img.Layers}, cfg)
		if err != nil {
			return fmt.Errorf("pull %s: %w", r.p.pulled[0].Ref, err)
		}
		for i, l := range layers {
			out.next.Store(int64(i))
			if err := out.apply(gctx, u, i, l); err != nil {
				return fmt.Errorf("pull %s: %w", r.p.pulled[0].Ref, err)
			}
		}
		out.next.Store(int64(len(layers)))
		return nil
	}
	g.Go(func() error {
		err := unpack()
		if errors.Is(err, context.Canceled) && gctx.Err() == nil {
			// A download the fetch cancelled because another blob failed
			// says only "context canceled": the fetch returns the cause.
			return nil
		}
		return err
	})
	if err := g.Wait(); err != nil {
		return err
	}
	r.pr.emit(Event{Kind: Writing})
	if err := u.Commit(ctx); err != nil {
		return err
	}
	stats := u.Stats()
	r.res.Unpacked = &stats
	return nil
}

// rootfsOutput puts every blob in the store, and tees the layer the unpack
// waits for to it as it downloads.
type rootfsOutput struct {
	st        *store.Store
	downloads map[digest.Digest]*download
	// first[i] says whether layer i is its blob's first use: only that one
	// may read the blob as a stream.
	first      []bool
	firstIndex map[digest.Digest]int
	next       atomic.Int64 // the layer the unpack waits for
}

func newRootfsOutput(st *store.Store, blobs, layers []image.Descriptor) *rootfsOutput {
	o := &rootfsOutput{st: st, downloads: map[digest.Digest]*download{}, first: make([]bool, len(layers)), firstIndex: map[digest.Digest]int{}}
	for _, d := range blobs {
		o.downloads[d.Digest] = &download{d: d, done: make(chan struct{}), claim: make(chan *stream, 1)}
	}
	for i, l := range layers {
		if _, ok := o.firstIndex[l.Digest]; !ok {
			o.firstIndex[l.Digest] = i
			o.first[i] = true
		}
	}
	return o
}

func (o *rootfsOutput) dest(ctx context.Context, d image.Descriptor) (dest, error) {
	dl := o.downloads[d.Digest]
	dst, err := storeDest(ctx, o.st, d)
	var s *stream
	stop := func() bool { return false }
	if i, ok := o.firstIndex[d.Digest]; ok && err == nil && dst.sink != nil && int64(i) == o.next.Load() {
		s = newStream(d.Digest)
		dst.tee = s
		dl.claim <- s
		// A write into the pipe waits for the unpack, which may have
		// stopped: the pull's end unblocks it.
		stop = context.AfterFunc(ctx, func() { s.pr.CloseWithError(context.Cause(ctx)) })
	}
	dst.done = func(_ context.Context, err error) error {
		if s != nil {
			s.finish(err)
			stop()
		}
		dl.err = err
		close(dl.done)
		return nil
	}
	return dst, err
}

// wait waits for dl's blob to be in the store.
func (dl *download) wait(ctx context.Context) error {
	select {
	case <-dl.done:
		return dl.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// readConfig reads the image config from the store once it is there.
func readConfig(ctx context.Context, st *store.Store, dl *download) (*image.Config, error) {
	if err := dl.wait(ctx); err != nil {
		return nil, err
	}
	return storedConfig(ctx, st, dl.d)
}

// storedConfig reads the image config d from the store, which verified it.
func storedConfig(ctx context.Context, st *store.Store, d image.Descriptor) (*image.Config, error) {
	path, ok := st.Path(ctx, d)
	if !ok {
		return nil, fmt.Errorf("config %s is not in the store", d.Digest)
	}
	cfg, err := image.ReadConfig(d, func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		return nil, err
	}
	return &cfg, nil
}

// apply applies layer i, l, from its download's stream when it has one and
// the first byte comes before the download ends; else from the store.
func (o *rootfsOutput) apply(ctx context.Context, u *rootfs.Unpacker, i int, l rootfs.Layer) error {
	dl := o.downloads[l.Descriptor.Digest]
	if o.first[i] {
		select {
		case s := <-dl.claim:
			select {
			case <-s.started:
				return s.apply(ctx, u, l)
			case <-dl.done:
				select {
				case <-s.started: // bytes came, then the end: read what the pipe holds
					return s.apply(ctx, u, l)
				default: // the store had it: nothing was teed
				}
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-dl.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := dl.wait(ctx); err != nil {
		return err
	}
	f, err := openStored(ctx, o.st, l.Descriptor)
	if err != nil {
		return err
	}
	defer f.Close()
	return u.Apply(ctx, l, f)
}

// openStored opens layer d's blob in the store, as a rootfs.BlobVerifier.
func openStored(ctx context.Context, st *store.Store, d image.Descriptor) (storeBlob, error) {
	path, ok := st.Path(ctx, d)
	if !ok {
		return storeBlob{}, fmt.Errorf("layer %s is not in the store", d.Digest)
	}
	f, err := os.Open(path)
	if err != nil {
		return storeBlob{}, fmt.Errorf("layer %s: %w", d.Digest, err)
	}
	return storeBlob{f, d.Digest}, nil
}

// storeBlob is a blob file of the store, which verified it before giving it
// its name: an unpack or export checks only the diff_id.
type storeBlob struct {
	*os.File
	dg digest.Digest
}

func (b storeBlob) VerifiesBlob(d image.Descriptor) bool { return d.Digest == b.dg }

// stream hands a download's bytes to the unpack as the store writes them
// (store.Download's Tee), through a pipe. A write blocks until the unpack has
// read it, so the download goes at the unpack's pace: only the layer the
// unpack waits for is teed.
type stream struct {
	pr      *io.PipeReader
	pw      *io.PipeWriter
	started chan struct{} // closed at the first byte
	once    sync.Once
	dg      digest.Digest // the blob's, which the store verifies
}

func newStream(dg digest.Digest) *stream {
	pr, pw := io.Pipe()
	return &stream{pr: pr, pw: pw, started: make(chan struct{}), dg: dg}
}

// verified is what the unpack reads of a stream: the store checks the bytes
// as it writes them, and the stream ends at io.EOF only once they matched
// (finish), so the unpack checks only the diff_id.
type verified struct {
	*io.PipeReader
	dg digest.Digest
}

func (v verified) VerifiesBlob(d image.Descriptor) bool { return d.Digest == v.dg }

func (s *stream) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.once.Do(func() { close(s.started) })
	return s.pw.Write(b)
}

// finish ends the stream: at EOF when the download verified, else with its error.
func (s *stream) finish(err error) {
	if err == nil {
		s.pw.Close()
		return
	}
	s.pw.CloseWithError(err)
}

// apply unpacks the layer from the stream; a failure stops the download too.
func (s *stream) apply(ctx context.Context, u *rootfs.Unpacker, l rootfs.Layer) error {
	err := u.Apply(ctx, l, verified{s.pr, s.dg})
	if err != nil {
		s.pr.CloseWithError(err)
	}
	return err
}
