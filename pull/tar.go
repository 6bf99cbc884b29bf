package pull

import (
	"context"
	"fmt"
	"os"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/store"
)

// cacheCopyMax bounds the blobs a tar pull copies into the cache where the
// filesystem cannot share extents: manifests, configs and small layers,
// whose second write costs next to nothing. Larger layers are written once,
// into the tar, unless Config.CacheAll asks for the copy.
const cacheCopyMax = 1 << 20

// tarOutput writes a docker or oci-archive tar to a file. A blob the cache
// holds is copied from it into the tar (disk.CopyRange: extents shared on
// XFS and Btrfs, a copy in the kernel elsewhere). Any other blob downloads
// straight into its region of the tar, each byte written once; a pull that
// fails or is killed leaves the tar's temporary file for the next pull of
// the same images to the same path to resume (archive.Output). With a
// cache, a blob downloaded so is then kept in the cache where that costs no
// second write (store.Clone), or when it is small or CacheAll asks.
type tarOutput struct {
	out      *archive.Output
	st       *store.Store // nil: no cache
	cacheAll bool
}

func (t *tarOutput) dest(ctx context.Context, d image.Descriptor) (dest, error) {
	if t.st != nil {
		if path, ok := t.st.Path(ctx, d); ok {
			open := func(image.Descriptor) (*os.File, error) { return os.Open(path) }
			return dest{cached: true}, t.out.CopyBlob(ctx, d, archive.SourceFunc(open))
		}
	}
	rg, err := t.out.Region(d)
	if err != nil {
		return dest{}, err
	}
	dst := dest{sink: rg}
	if t.st != nil {
		dst.done = func(ctx context.Context, err error) error {
			if err != nil {
				return nil
			}
			f, off := rg.File()
			// Best effort: the tar is whole whether or not the cache keeps a copy.
			t.st.Clone(ctx, d, f, off, t.cacheAll || d.Size < cacheCopyMax)
			return nil
		}
	}
	return dst, nil
}

// pullTar writes the tar at c.Output, laid out before the first byte
// arrives, every blob at its final offset as it lands.
func pullTar(ctx context.Context, r *run, st *store.Store) (err error) {
	plan, err := archive.NewPlan(r.p.images, r.c.Format == Docker)
	if err != nil {
		return err
	}
	count(plan.Blobs(), r.res)
	out, err := plan.Create(ctx, r.c.Output)
	if err != nil {
		return err
	}
	defer func() {
		if err == nil {
			return
		}
		if name, n := out.Abort(); name != "" {
			err = fmt.Errorf("%w (%d bytes of it are kept in %s for the next pull to the same path)", err, n, name)
		}
	}()
	if st != nil {
		if err := r.p.putManifests(ctx, st); err != nil {
			return err
		}
	}
	for dg, body := range r.p.manifests {
		if _, ok := plan.Offset(dg); !ok {
			continue // an index's child not kept
		}
		if err := writeRegion(out, image.Descriptor{Digest: dg, Size: int64(len(body))}, body); err != nil {
			return err
		}
	}
	if err := r.fetch(ctx, &tarOutput{out: out, st: st, cacheAll: r.c.CacheAll}); err != nil {
		return err
	}
	r.pr.emit(Event{Kind: Writing})
	return out.Commit()
}

// writeRegion writes b, blob d held in memory (a manifest), into its region.
func writeRegion(out *archive.Output, d image.Descriptor, b []byte) error {
	rg, err := out.Region(d)
	if err != nil {
		return err
	}
	if _, err := rg.WriteAt(b, 0); err != nil {
		return fmt.Errorf("writing manifest %s: %w", d.Digest, err)
	}
	return rg.Commit()
}
