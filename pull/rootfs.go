package pull

import (
	"context"
	"encoding/json"
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

// maxConfigSize bounds an image config read into memory, as the registry
// client bounds it.
const maxConfigSize = 32 << 20

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
func pullRootFS(ctx context.Context, c Config, st *store.Store, p *plan, pr *progress, res *Result) (err error) {
	img := p.images[0]
	if img.Manifest == nil {
		return errors.New("pull: the reference names no image manifest to unpack")
	}
	count(p.blobs, res)
	u, err := rootfs.Create(ctx, c.Output, c.Unpack)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			u.Abort()
		}
	}()

	downloads := map[digest.Digest]*download{}
	for _, d := range p.blobs {
		downloads[d.Digest] = &download{d: d, done: make(chan struct{}), claim: make(chan *stream, 1)}
	}
	// first[i] says whether layer i is its blob's first use: only that one
	// may read the blob as a stream.
	first := make([]bool, len(img.Layers))
	firstIndex := map[digest.Digest]int{}
	for i, l := range img.Layers {
		if _, ok := firstIndex[l.Digest]; !ok {
			firstIndex[l.Digest] = i
			first[i] = true
		}
	}
	var next atomic.Int64 // the layer the unpack waits for
	var mu sync.Mutex

	g, gctx := errgroup.WithContext(ctx)
	slots := make(chan struct{}, c.Jobs)
	for _, d := range p.blobs {
		dl := downloads[d.Digest]
		g.Go(func() error {
			defer close(dl.done)
			// The config takes no slot: the unpack needs it before any
			// layer, and a streamed layer holds its slot until the unpack
			// reads it.
			if d.Digest != img.Config.Digest {
				select {
				case slots <- struct{}{}:
				case <-gctx.Done():
					dl.err = gctx.Err()
					return dl.err
				}
				defer func() { <-slots }()
			}
			pr.emit(Event{Kind: BlobStart, Digest: d.Digest.String(), Media: d.MediaType, Size: d.Size})
			var s *stream
			var tee io.WriterAt
			if i, ok := firstIndex[d.Digest]; ok && int64(i) == next.Load() {
				s = newStream(d.Digest)
				tee = s
				dl.claim <- s
				// A write into the pipe waits for the unpack, which may
				// have stopped: the group's end unblocks it.
				stop := context.AfterFunc(gctx, func() { s.pr.CloseWithError(context.Cause(gctx)) })
				defer stop()
			}
			// A teed layer's bytes are in the unpack already: a bad copy
			// cannot be taken back from it, so it is not asked for again.
			_, done, err := p.ensure(gctx, st, d, pr, tee, res, &mu, s == nil)
			if s != nil {
				s.finish(err)
			}
			if err != nil {
				dl.err = fmt.Errorf("pull %s: %w", p.origins[d.Digest].ref, err)
				return dl.err
			}
			pr.emit(done)
			return nil
		})
	}
	g.Go(func() error {
		cfg, err := readConfig(gctx, st, downloads[img.Config.Digest])
		if err != nil {
			return err
		}
		layers, err := rootfs.Layers(&image.Manifest{Layers: img.Layers}, cfg)
		if err != nil {
			return fmt.Errorf("pull %s: %w", p.pulled[0].Ref, err)
		}
		for i, l := range layers {
			next.Store(int64(i))
			if err := applyLayer(gctx, u, st, l, downloads[l.Descriptor.Digest], first[i]); err != nil {
				return fmt.Errorf("pull %s: %w", p.pulled[0].Ref, err)
			}
		}
		next.Store(int64(len(layers)))
		return nil
	})
	if err := g.Wait(); err != nil {
		return err
	}
	pr.emit(Event{Kind: Writing})
	if err := u.Commit(ctx); err != nil {
		return err
	}
	stats := u.Stats()
	res.Unpacked = &stats
	return nil
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
	return storedConfig(st, dl.d)
}

// storedConfig reads the image config d from the store, which verified it.
func storedConfig(st *store.Store, d image.Descriptor) (*image.Config, error) {
	if d.Size > maxConfigSize {
		return nil, fmt.Errorf("config %s is %d bytes, over the limit of %d", d.Digest, d.Size, maxConfigSize)
	}
	path, ok := st.Path(d)
	if !ok {
		return nil, fmt.Errorf("config %s is not in the store", d.Digest)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config %s: %w", d.Digest, err)
	}
	var cfg image.Config
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("decoding config %s: %w", d.Digest, err)
	}
	return &cfg, nil
}

// applyLayer applies l from its download's stream when it has one and the
// first byte comes before the download ends; else from the store.
func applyLayer(ctx context.Context, u *rootfs.Unpacker, st *store.Store, l rootfs.Layer, dl *download, first bool) error {
	if first {
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
	f, err := openStored(st, l.Descriptor)
	if err != nil {
		return err
	}
	defer f.Close()
	return u.Apply(ctx, l, f)
}

// openStored opens layer d's blob in the store, as a rootfs.BlobVerifier.
func openStored(st *store.Store, d image.Descriptor) (storeBlob, error) {
	path, ok := st.Path(d)
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

// stream hands a download's bytes to the unpack as the store writes them: an
// io.WriterAt that takes them in order from offset 0 (what EnsureTee gives)
// into a pipe. A write blocks until the unpack has read it, so the download
// goes at the unpack's pace: only the layer the unpack waits for is teed.
type stream struct {
	pr      *io.PipeReader
	pw      *io.PipeWriter
	started chan struct{} // closed at the first byte
	once    sync.Once
	next    int64
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

// errRestarted is a tee written again from the start: a resumed partial
// download proved corrupt, and the bytes the unpack took cannot be taken back.
var errRestarted = errors.New("the download started over after a corrupt partial; pull again")

func (s *stream) WriteAt(b []byte, off int64) (int, error) {
	if off != s.next {
		s.pw.CloseWithError(errRestarted)
		return 0, errRestarted
	}
	if len(b) == 0 {
		return 0, nil
	}
	s.once.Do(func() { close(s.started) })
	n, err := s.pw.Write(b)
	s.next += int64(n)
	return n, err
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
