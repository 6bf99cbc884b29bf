package pull

import (
	"context"
	"fmt"
	"io"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/direct"
)

// pullDirect writes a tar without a cache: its layout is known from the
// descriptors before any byte arrives, so every blob streams from the network,
// hashed on the way, straight to its final offset in the output, concurrently.
// Each byte crosses user space once.
func pullDirect(ctx context.Context, c Config, p *plan, pr *progress, res *Result) (err error) {
	plan, err := archive.NewPlan(archive.Format(c.Format), p.images)
	if err != nil {
		return err
	}
	count(plan.Blobs(), res)
	out, err := plan.Create(ctx, c.Output)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			out.Abort()
		}
	}()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.Jobs)
	pool := direct.NewPool(direct.Concurrent)
	var mu sync.Mutex
	for _, d := range plan.Blobs() {
		w, err := out.Region(d)
		if err != nil {
			return err
		}
		if body, ok := p.manifests[d.Digest]; ok {
			if _, err := w.Write(body); err != nil {
				return fmt.Errorf("writing %s: %w", c.Output, err)
			}
			continue
		}
		g.Go(func() error {
			pr.emit(Event{Kind: BlobStart, Digest: d.Digest.String(), Media: d.MediaType, Size: d.Size})
			var sv served
			var n int64
			var err, bad error
			region := w
			for try := 0; ; try++ {
				if try > 0 { // a bad copy, asked for again: write the region from its start
					if region, err = out.Region(d); err != nil {
						return err
					}
				}
				dst, done := regionWriter(pool, region, d.Size)
				n, err = p.copyBlob(gctx, d, &sv, dst, pr)
				if cerr := done(); err == nil {
					err = cerr
				}
				if err == nil || !again(err, try) || gctx.Err() != nil {
					break
				}
				bad = err
			}
			if err != nil {
				return fmt.Errorf("pull %s: %w", p.origins[d.Digest].ref, withBadCopy(err, bad))
			}
			from, mirror := sv.from()
			mu.Lock()
			res.Fetched += n
			res.addServed(from, mirror, d.Size)
			mu.Unlock()
			pr.emit(Event{Kind: BlobDone, Digest: d.Digest.String(), Size: d.Size, From: from, Mirror: mirror})
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	pr.emit(Event{Kind: Writing})
	return out.Commit()
}

// regionWriter returns what writes a blob of size bytes into region r: for a
// blob of direct.Min or more, a direct.Switcher from pool over it, which
// writes through the page cache while pool judges that cheap and by O_DIRECT
// once it does not (on a VM that hands freed memory back to its host, a
// page-cache write can cost ten times more in one run than in the next);
// otherwise, or where the filesystem has no O_DIRECT, r itself. done flushes
// and releases it; call it once the copy ends.
func regionWriter(pool *direct.Pool, r *archive.Region, size int64) (w io.Writer, done func() error) {
	if size >= direct.Min {
		if t, ok := r.DirectTarget(); ok {
			if sw := pool.NewSwitcher(0, size, t); sw != nil {
				return sw, sw.Close
			}
		}
	}
	return r, func() error { return nil }
}

// copyBlob streams blob d, verified, from the network into w.
func (p *plan) copyBlob(ctx context.Context, d image.Descriptor, sv *served, w io.Writer, pr *progress) (int64, error) {
	rc, err := p.fetcher(d, sv)(ctx, 0, nil)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	pw := &progressWriter{w: w, emit: func(n int64) {
		pr.emit(Event{Kind: BlobBytes, Digest: d.Digest.String(), N: n})
	}}
	return io.Copy(pw, rc)
}

// progressWriter reports each write's size.
type progressWriter struct {
	w    io.Writer
	emit func(int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.emit(int64(n))
	return n, err
}
