package pull

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

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
func Export(ctx context.Context, r ref.Reference, w io.Writer, c Config) (*Result, error) {
	if c.Source == nil {
		return nil, errors.New("export: no Source")
	}
	if c.AllPlatforms || len(c.Platforms) > 1 {
		return nil, errors.New("export: a filesystem is one platform's; choose one with --platform os/arch")
	}
	c.setDefaults()
	start := c.Now()
	pr := &progress{fn: c.Progress}
	p := newPlan()
	if err := p.resolve(ctx, c, r); err != nil {
		return nil, fmt.Errorf("export %s: %w", r, err)
	}
	pr.emit(Event{Kind: Resolved, Ref: r, Digest: p.pulled[0].Digest, Media: p.pulled[0].MediaType})
	img := p.images[0]
	if img.Manifest == nil {
		return nil, fmt.Errorf("export %s: the reference names no image manifest", r)
	}
	st := c.Store
	if st == nil {
		dir, err := os.MkdirTemp("", "haul-export-*")
		if err != nil {
			return nil, fmt.Errorf("export: temporary store: %w", err)
		}
		defer os.RemoveAll(dir)
		if st, err = store.Open(store.Config{Dir: dir}); err != nil {
			return nil, err
		}
	}
	var total int64
	for _, d := range p.blobs {
		total += d.Size
	}
	pr.emit(Event{Kind: Planned, N: int64(len(p.blobs)), Size: total})
	res := &Result{Images: p.pulled}
	count(p.blobs, res)
	if err := fetchBlobs(ctx, "export", c, st, p, pr, res, nil, nil); err != nil {
		return nil, err
	}
	cfg, err := storedConfig(st, img.Config)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", r, err)
	}
	layers, err := rootfs.Layers(&image.Manifest{Layers: img.Layers}, cfg)
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", r, err)
	}
	pr.emit(Event{Kind: Writing})
	err = rootfs.Export(ctx, w, layers, func(ctx context.Context, l rootfs.Layer) (io.ReadCloser, error) {
		return openStored(st, l.Descriptor)
	})
	if err != nil {
		return nil, fmt.Errorf("export %s: %w", r, err)
	}
	sortServed(res)
	res.Elapsed = c.Now().Sub(start)
	return res, nil
}
