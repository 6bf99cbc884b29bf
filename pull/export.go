package pull

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/rootfs"
	"github.com/haul-dev/haul/store"
)

// Export resolves r to one image (c.Platforms: at most one; nil: the
// host's), fetches its config and layers into c.Store (nil: a temporary
// store, removed afterwards), and writes the filesystem its layers make to w
// as one tar (rootfs.Export). c.Format and c.Output are ignored. As with
// rootfs.Export, a failure once the tar has started leaves it truncated on w.
func Export(ctx context.Context, ref ref.Reference, w io.Writer, c Config) (*Result, error) {
	if c.Source == nil {
		return nil, errors.New("export: no Source")
	}
	if c.AllPlatforms || len(c.Platforms) > 1 {
		return nil, errors.New("export: a filesystem is one platform's; choose one with --platform os/arch")
	}
	c.setDefaults()
	start := c.Now()
	r := &run{c: c, p: newPlan(), verb: "export", pr: &progress{fn: c.Progress}}
	if err := r.p.resolve(ctx, c, ref); err != nil {
		return nil, fmt.Errorf("export %s: %w", ref, err)
	}
	r.pr.emit(Event{Kind: Resolved, Ref: ref, Digest: r.p.pulled[0].Digest, Media: r.p.pulled[0].MediaType})
	img := r.p.images[0]
	if img.Manifest == nil {
		return nil, fmt.Errorf("export %s: the reference names no image manifest", ref)
	}
	r.planned()
	r.res = &Result{Images: r.p.pulled}
	count(r.p.blobs, r.res)
	c.Output = ""
	err := withStore(c, func(st *store.Store) error {
		if err := r.fetch(ctx, storeOutput{st}); err != nil {
			return err
		}
		cfg, err := storedConfig(ctx, st, img.Config)
		if err != nil {
			return fmt.Errorf("export %s: %w", ref, err)
		}
		layers, err := rootfs.Layers(&image.Manifest{Layers: img.Layers}, cfg)
		if err != nil {
			return fmt.Errorf("export %s: %w", ref, err)
		}
		r.pr.emit(Event{Kind: Writing})
		err = rootfs.Export(ctx, w, layers, func(ctx context.Context, l rootfs.Layer) (io.ReadCloser, error) {
			return openStored(ctx, st, l.Descriptor)
		})
		if err != nil {
			return fmt.Errorf("export %s: %w", ref, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sortServed(r.res)
	r.res.Elapsed = c.Now().Sub(start)
	return r.res, nil
}
