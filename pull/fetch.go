package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/store"
)

// output is what differs between a pull's formats: where each blob goes.
// The one fetch loop (run.fetch) asks it where each blob goes, downloads
// into that, verified and resumable (store.Fill), and tells it how the
// blob's download ended.
type output interface {
	dest(ctx context.Context, d image.Descriptor) (dest, error)
}

// dest is where one blob goes.
type dest struct {
	// sink receives the blob's download; nil when the blob is in place
	// already (the output took it from the cache, or holds it).
	sink sink
	// cached is set with a nil sink when the bytes came from the cache.
	cached bool
	// tee, if set, gets the blob's bytes in order as they arrive (an unpack
	// reading the layer as it downloads). A teed blob is not asked for again
	// after a bad copy: the tee cannot take bytes back.
	tee io.Writer
	// done, if set, is told how the blob's download ended once it has (nil:
	// whole, verified and committed); its error becomes the blob's.
	done func(ctx context.Context, err error) error
}

// sink is a store.Sink that the loop commits once it holds the whole blob,
// verified, and closes in every case: a store.Partial or an archive.Region.
type sink interface {
	store.Sink
	Commit() error
	Close() error
}

// run is one pull or export in progress: its settings, what it resolved,
// and what it has fetched so far.
type run struct {
	c    Config
	p    *plan
	verb string // "pull" or "export", for errors
	pr   *progress
	mu   sync.Mutex // guards res
	res  *Result
}

// fetch gets every blob of the plan into out, c.Jobs at once, in the plan's
// order: a blob the output needs first (a rootfs's config, then its layers)
// gets a slot first.
func (r *run) fetch(ctx context.Context, out output) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.c.Jobs)
	for _, d := range r.p.blobs {
		g.Go(func() error {
			if err := r.fetchOne(gctx, out, d); err != nil {
				return fmt.Errorf("%s %s: %w", r.verb, r.p.origins[d.Digest].ref, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func (r *run) fetchOne(ctx context.Context, out output, d image.Descriptor) error {
	r.pr.emit(Event{Kind: BlobStart, Digest: d.Digest, Media: d.MediaType, Size: d.Size})
	dst, err := out.dest(ctx, d)
	switch {
	case err != nil:
	case dst.sink != nil:
		err = r.download(ctx, d, dst)
	default:
		ev := Event{Kind: BlobDone, Digest: d.Digest, Size: d.Size}
		if dst.cached {
			ev.Cached = d.Size
			r.count(store.Result{Cached: d.Size}, "", false, d.Size)
		}
		r.pr.emit(ev)
	}
	if dst.done != nil {
		if derr := dst.done(ctx, err); err == nil {
			err = derr
		}
	}
	return err
}

// download fills dst's sink with d and commits it. A copy that fails
// verification is asked for again while the Source says another endpoint
// may serve it: this is the one place a bad copy is retried.
func (r *run) download(ctx context.Context, d image.Descriptor, dst dest) error {
	defer dst.sink.Close()
	var sv served
	var bad error
	for try := 0; ; try++ {
		res, err := store.Fill(ctx, dst.sink, store.Download{
			Blob:     d,
			Fetch:    r.p.fetcher(d, &sv),
			Progress: func(n int64) { r.pr.emit(Event{Kind: BlobBytes, Digest: d.Digest, N: n}) },
			Tee:      dst.tee,
		})
		if err == nil {
			err = dst.sink.Commit()
		}
		if err == nil {
			ev := Event{Kind: BlobDone, Digest: d.Digest, Size: d.Size, Cached: res.Cached}
			if res.Fetched > 0 {
				ev.From, ev.Mirror = sv.from()
			}
			r.count(res, ev.From, ev.Mirror, d.Size)
			r.pr.emit(ev)
			return nil
		}
		if dst.tee != nil || !again(err, try) || ctx.Err() != nil {
			return withBadCopy(err, bad)
		}
		bad = err
	}
}

// count adds what a blob cost to the result.
func (r *run) count(res store.Result, from string, mirror bool, size int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res.Fetched += res.Fetched
	r.res.Cached += res.Cached
	r.res.addServed(from, mirror, size)
}

// fetcher reads blob d from where the plan found it: the registry, or, for a
// layer that names urls (a non-distributable layer), each https URL in turn,
// without credentials, when the registry does not serve it. sv learns what
// served it.
func (p *plan) fetcher(d image.Descriptor, sv *served) store.Fetcher {
	o := p.origins[d.Digest]
	return func(ctx context.Context, offset int64, v *image.Verifier) (io.ReadCloser, error) {
		rc, err := o.src.BlobAt(ctx, o.ref, d, offset, v)
		if err == nil || len(d.URLs) == 0 || ctx.Err() != nil {
			if err == nil {
				sv.opened(rc, o.ref.Registry())
			}
			return rc, err
		}
		errs := []error{err}
		for _, u := range d.URLs {
			rc, uerr := o.src.BlobFromURL(ctx, o.ref, d, u, offset, v)
			if uerr == nil {
				sv.opened(rc, urlHost(u))
				return rc, nil
			}
			errs = append(errs, uerr)
		}
		return nil, fmt.Errorf("blob %s: neither the registry nor its urls serve it: %w", d.Digest, errors.Join(errs...))
	}
}

// storeDest is a blob's destination in the store: its partial download, or
// nothing when the store has it.
func storeDest(ctx context.Context, st *store.Store, d image.Descriptor) (dest, error) {
	p, err := st.Partial(ctx, d)
	if err != nil || p == nil {
		return dest{cached: true}, err
	}
	return dest{sink: p}, nil
}

// putManifests stores the manifests resolution read, which are no download.
func (p *plan) putManifests(ctx context.Context, st *store.Store) error {
	for dg, body := range p.manifests {
		if err := st.Put(ctx, image.Descriptor{Digest: dg, Size: int64(len(body))}, body); err != nil {
			return fmt.Errorf("storing manifest %s: %w", dg, err)
		}
	}
	return nil
}

// storeSource opens blobs of the store, for archive writers.
type storeSource struct {
	ctx context.Context
	st  *store.Store
}

func (s storeSource) Open(d image.Descriptor) (*os.File, error) {
	path, ok := s.st.Path(s.ctx, d)
	if !ok {
		return nil, fmt.Errorf("blob %s is not in the store", d.Digest)
	}
	return os.Open(path)
}

// blobSet lists the distinct blobs of the images, for counting.
func blobSet(p *plan) []image.Descriptor {
	seen := map[digest.Digest]bool{}
	var blobs []image.Descriptor
	for _, img := range p.images {
		for _, d := range img.Blobs {
			if !seen[d.Digest] {
				seen[d.Digest] = true
				blobs = append(blobs, d)
			}
		}
	}
	return blobs
}
