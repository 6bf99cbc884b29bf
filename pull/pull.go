package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/layout"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/store"
)

// Pull resolves refs, fetches what they need and writes c.Output. On failure
// or cancellation nothing is left at c.Output; the store keeps verified blobs
// and partial downloads, which the next pull resumes.
func Pull(ctx context.Context, refs []ref.Reference, c Config) (*Result, error) {
	if len(refs) == 0 {
		return nil, errors.New("pull: no reference given")
	}
	if c.Source == nil {
		return nil, errors.New("pull: no Source")
	}
	if c.Output == "" {
		return nil, errors.New("pull: no output given")
	}
	if c.Format == "" {
		c.Format = Docker
	}
	if _, ok := ParseFormat(string(c.Format)); !ok {
		return nil, fmt.Errorf("pull: unknown format %q (docker, oci, oci-archive or rootfs)", c.Format)
	}
	if c.Output == "-" && c.Format == OCI {
		return nil, errors.New("pull: an oci layout is a directory and cannot go to stdout; use --format oci-archive or docker")
	}
	if c.Format == RootFS {
		if err := checkRootFS(refs, c); err != nil {
			return nil, err
		}
	}
	c.setDefaults()
	start := c.Now()
	pr := &progress{fn: c.Progress}

	p := newPlan()
	for _, r := range refs {
		if err := p.resolve(ctx, c, r); err != nil {
			return nil, fmt.Errorf("pull %s: %w", r, err)
		}
		last := p.pulled[len(p.pulled)-1]
		pr.emit(Event{Kind: Resolved, Ref: r, Digest: last.Digest, Media: last.MediaType})
	}

	var total int64
	for _, d := range p.blobs {
		total += d.Size
	}
	pr.emit(Event{Kind: Planned, N: int64(len(p.blobs)), Size: total})
	res := &Result{Images: p.pulled}
	var err error
	switch {
	case c.Store == nil && c.Format != OCI && c.Format != RootFS && c.Output != "-":
		err = pullDirect(ctx, c, p, pr, res)
	default:
		st := c.Store
		if c.Format == OCI || c.Format == RootFS {
			// The output and the temporary store beside it need the parent.
			if err := os.MkdirAll(filepath.Dir(c.Output), 0o755); err != nil {
				return nil, fmt.Errorf("pull: %w", err)
			}
		}
		if st == nil {
			dir, derr := os.MkdirTemp(outputDir(c.Output), ".haul-nocache-*")
			if derr != nil {
				return nil, fmt.Errorf("pull: temporary store: %w", derr)
			}
			defer os.RemoveAll(dir)
			if st, err = store.Open(store.Config{Dir: dir}); err != nil {
				return nil, err
			}
		}
		if c.Format == RootFS {
			err = pullRootFS(ctx, c, st, p, pr, res)
		} else {
			err = pullCached(ctx, c, st, p, pr, res)
		}
	}
	if err != nil {
		return nil, err
	}
	sortServed(res)
	res.Elapsed = c.Now().Sub(start)
	return res, nil
}

func outputDir(out string) string {
	if out == "-" {
		return os.TempDir()
	}
	return filepath.Dir(out)
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

// ensure fetches d into st as EnsureTee does and counts in res (under mu)
// where it came from. With retry, a copy that failed verification is asked
// for again when the Source says another endpoint may serve it. It returns
// the BlobDone event to emit.
func (p *plan) ensure(ctx context.Context, st *store.Store, d image.Descriptor, pr *progress, tee io.WriterAt, res *Result, mu *sync.Mutex, retry bool) (store.Result, Event, error) {
	var sv served
	var r store.Result
	var err, bad error
	for try := 0; ; try++ {
		r, err = st.EnsureTee(ctx, d, p.fetcher(d, &sv), func(n int64) {
			pr.emit(Event{Kind: BlobBytes, Digest: d.Digest.String(), N: n})
		}, tee)
		if err == nil || !retry || !again(err, try) || ctx.Err() != nil {
			break
		}
		bad = err
	}
	if err != nil {
		return r, Event{}, withBadCopy(err, bad)
	}
	ev := Event{Kind: BlobDone, Digest: d.Digest.String(), Size: d.Size, Cached: r.Cached}
	if !r.Present && r.Fetched > 0 {
		ev.From, ev.Mirror = sv.from()
	}
	mu.Lock()
	res.Fetched += r.Fetched
	res.Cached += r.Cached
	res.addServed(ev.From, ev.Mirror, d.Size)
	mu.Unlock()
	return r, ev, nil
}

// pullCached fills the store and writes the output from it. A tar is created
// before the first blob arrives, and each blob is copied into it (in the
// kernel) as soon as it is verified, while the others still download.
func pullCached(ctx context.Context, c Config, st *store.Store, p *plan, pr *progress, res *Result) (err error) {
	for dg, body := range p.manifests {
		d := image.Descriptor{Digest: dg, Size: int64(len(body))}
		if err := st.Put(ctx, d, body); err != nil {
			return fmt.Errorf("storing manifest %s: %w", dg, err)
		}
	}
	src := storeSource{st}
	var out *archive.Output
	var plan *archive.Plan
	if c.Format != OCI {
		if plan, err = archive.NewPlan(archive.Format(c.Format), p.images); err != nil {
			return err
		}
		count(plan.Blobs(), res)
		if c.Output != "-" {
			if out, err = plan.Create(ctx, c.Output); err != nil {
				return err
			}
			defer func() {
				if err != nil {
					out.Abort()
				}
			}()
			for dg, body := range p.manifests {
				d := image.Descriptor{Digest: dg, Size: int64(len(body))}
				if _, ok := plan.Offset(dg); ok {
					if err := out.CopyBlob(ctx, d, src); err != nil {
						return err
					}
				}
			}
		}
	}
	// A tar gets each blob's bytes as they are written to the store; a blob
	// the store already has is copied in the kernel.
	var tee func(image.Descriptor) (io.WriterAt, error)
	var present func(context.Context, image.Descriptor) error
	if out != nil {
		tee = func(d image.Descriptor) (io.WriterAt, error) { return out.Region(d) }
		present = func(ctx context.Context, d image.Descriptor) error { return out.CopyBlob(ctx, d, src) }
	}
	if err := fetchBlobs(ctx, "pull", c, st, p, pr, res, tee, present); err != nil {
		return err
	}
	pr.emit(Event{Kind: Writing})
	switch {
	case c.Format == OCI:
		return writeLayout(ctx, c, p, st, res)
	case out != nil:
		return out.Commit()
	}
	_, err = plan.WriteTo(ctx, c.Stdout, src)
	return err
}

// fetchBlobs fetches every blob of p into st, c.Jobs at once, adding what
// came from where to res. With tee, each blob's bytes also go, as they are
// stored, to the WriterAt tee returns for it; present, if set, runs for a
// blob the store already held, which was not teed. Errors say verb ("pull",
// "export") and the reference.
func fetchBlobs(ctx context.Context, verb string, c Config, st *store.Store, p *plan, pr *progress, res *Result,
	tee func(image.Descriptor) (io.WriterAt, error), present func(context.Context, image.Descriptor) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.Jobs)
	var mu sync.Mutex
	for _, d := range p.blobs {
		g.Go(func() error {
			pr.emit(Event{Kind: BlobStart, Digest: d.Digest.String(), Media: d.MediaType, Size: d.Size})
			var w io.WriterAt
			if tee != nil {
				var err error
				if w, err = tee(d); err != nil {
					return err
				}
			}
			r, done, err := p.ensure(gctx, st, d, pr, w, res, &mu, true)
			if err != nil {
				return fmt.Errorf("%s %s: %w", verb, p.origins[d.Digest].ref, err)
			}
			if present != nil && r.Present {
				if err := present(gctx, d); err != nil {
					return err
				}
			}
			pr.emit(done)
			return nil
		})
	}
	return g.Wait()
}

// setDefaults fills the zero values Config documents.
func (c *Config) setDefaults() {
	if c.Jobs <= 0 {
		c.Jobs = DefaultJobs
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func count(blobs []image.Descriptor, res *Result) {
	res.Blobs = len(blobs)
	for _, d := range blobs {
		res.Bytes += d.Size
	}
}

type storeSource struct{ st *store.Store }

func (s storeSource) Open(d image.Descriptor) (*os.File, error) {
	path, ok := s.st.Path(d)
	if !ok {
		return nil, fmt.Errorf("blob %s is not in the store", d.Digest)
	}
	return os.Open(path)
}

// writeLayout adds the images to an OCI layout directory: blobs first
// (hardlinked from the store where it can), then index.json under the
// layout's lock.
func writeLayout(ctx context.Context, c Config, p *plan, st *store.Store, res *Result) error {
	l, err := layout.Create(c.Output)
	if err != nil {
		return err
	}
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
	count(blobs, res)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.Jobs)
	for _, d := range blobs {
		g.Go(func() error {
			path, ok := st.Path(d)
			if !ok {
				return fmt.Errorf("blob %s is not in the store", d.Digest)
			}
			return l.LinkBlob(gctx, d, path)
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return l.UpdateIndex(ctx, func(idx *image.Index) error {
		for _, img := range p.images {
			addToIndex(idx, img)
		}
		return nil
	})
}

// addToIndex lists img.Root in idx under its name, replacing an entry of the
// same name and platform (a re-pull of a tag that moved).
func addToIndex(idx *image.Index, img archive.Image) {
	d := img.Root
	d.Annotations = map[string]string{}
	for k, v := range img.Root.Annotations {
		d.Annotations[k] = v
	}
	if img.Name != "" {
		d.Annotations["org.opencontainers.image.ref.name"] = img.Name
		d.Annotations["io.containerd.image.name"] = img.Name
	}
	kept := idx.Manifests[:0]
	for _, m := range idx.Manifests {
		same := img.Name != "" && m.Annotations["org.opencontainers.image.ref.name"] == img.Name && samePlatform(m.Platform, d.Platform)
		if !same {
			kept = append(kept, m)
		}
	}
	idx.Manifests = append(kept, d)
}

func samePlatform(a, b *image.Platform) bool {
	if a == nil || b == nil {
		return a == b
	}
	return image.FormatPlatform(image.Normalize(*a)) == image.FormatPlatform(image.Normalize(*b))
}

// progress serializes events to the caller's function.
type progress struct {
	mu sync.Mutex
	fn func(Event)
}

func (p *progress) emit(e Event) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fn(e)
}
