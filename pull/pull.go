package pull

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/layout"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/store"
)

// Pull resolves refs, fetches what they need and writes c.Output. Before
// the first request it checks that c.Output can be written (its directory
// exists and takes a new file; a tar is refused onto a directory, an oci
// layout onto a directory that holds other things, a rootfs onto one that
// is not empty without Unpack.Force), and refuses with a *disk.OutputError
// naming c.Output. On failure or cancellation nothing is left at c.Output (a
// file there stays as it was); what was fetched is kept for the next pull to
// resume: a tar's in its temporary file beside c.Output, the other formats'
// in the store. What killed pulls left beside c.Output, and no live one
// holds, is taken up (a tar of the same images) or removed.
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
	if c.Referrers && c.Format == RootFS {
		return nil, errors.New("pull: referrers go in an archive or a layout, not in a rootfs")
	}
	if c.Format == RootFS {
		if err := checkRootFS(refs, c); err != nil {
			return nil, err
		}
	}
	if err := checkOutput(c); err != nil {
		return nil, fmt.Errorf("pull: %w", err)
	}
	if c.Output != "-" {
		disk.RemoveStaleDirs(filepath.Dir(c.Output), nocachePrefix)
	}
	c.setDefaults()
	start := c.Now()
	r := &run{c: c, p: newPlan(), verb: "pull", pr: &progress{fn: c.Progress}}
	for _, ref := range refs {
		if err := r.p.resolve(ctx, c, ref); err != nil {
			return nil, fmt.Errorf("pull %s: %w", ref, err)
		}
		last := r.p.pulled[len(r.p.pulled)-1]
		r.pr.emit(Event{Kind: Resolved, Ref: ref, Digest: last.Digest, Media: last.MediaType})
	}
	r.planned()
	r.res = &Result{Images: r.p.pulled}
	var err error
	if c.Format != OCI && c.Format != RootFS && c.Output != "-" {
		err = pullTar(ctx, r, c.Store)
	} else {
		err = withStore(c, func(st *store.Store) error {
			switch {
			case c.Format == RootFS:
				return pullRootFS(ctx, r, st)
			case c.Format == OCI:
				return pullLayout(ctx, r, st)
			}
			return pullStream(ctx, r, st)
		})
	}
	if err != nil {
		return nil, err
	}
	sortServed(r.res)
	fillPlatforms(ctx, c.Store, r.res)
	r.res.Elapsed = c.Now().Sub(start)
	return r.res, nil
}

// nocachePrefix starts the name of a temporary store (random digits end
// it).
const nocachePrefix = ".haul-nocache-"

// withStore calls fn with c.Store, or without one with a temporary store
// beside the output (for a layout, on its filesystem: its blobs are then
// hardlinked, not copied), removed afterwards. The temporary stores that
// killed pulls left there, and no live one holds, are removed first.
func withStore(c Config, fn func(*store.Store) error) error {
	if c.Store != nil {
		return fn(c.Store)
	}
	parent := os.TempDir()
	if c.Output != "-" && c.Output != "" {
		parent = filepath.Dir(c.Output)
	}
	disk.RemoveStaleDirs(parent, nocachePrefix)
	dir, err := disk.MkdirTemp(parent, nocachePrefix)
	if err != nil {
		return fmt.Errorf("pull: temporary store: %w", err)
	}
	defer dir.RemoveAll()
	st, err := store.Open(store.Config{Dir: dir.Name})
	if err != nil {
		return err
	}
	return fn(st)
}

// planned reports the plan: how many blobs to fetch, how many bytes.
func (r *run) planned() {
	var total int64
	for _, d := range r.p.blobs {
		total += d.Size
	}
	r.pr.emit(Event{Kind: Planned, N: int64(len(r.p.blobs)), Size: total})
}

// pullStream fills the store, then streams the tar to c.Stdout from it.
func pullStream(ctx context.Context, r *run, st *store.Store) error {
	plan, err := archive.NewPlan(r.p.images, r.c.Format == Docker)
	if err != nil {
		return err
	}
	count(plan.Blobs(), r.res)
	if err := r.p.putManifests(ctx, st); err != nil {
		return err
	}
	if err := r.fetch(ctx, storeOutput{st}); err != nil {
		return err
	}
	r.pr.emit(Event{Kind: Writing})
	_, err = plan.WriteTo(ctx, r.c.Stdout, storeSource{ctx, st})
	return err
}

// storeOutput puts every blob in the store, and nowhere else.
type storeOutput struct{ st *store.Store }

func (o storeOutput) dest(ctx context.Context, d image.Descriptor) (dest, error) {
	return storeDest(ctx, o.st, d)
}

// layoutOutput puts every blob in the store and hardlinks it into an OCI
// layout directory (a copy across filesystems) as soon as it is there.
type layoutOutput struct {
	st *store.Store
	l  *layout.Layout
}

func (o layoutOutput) dest(ctx context.Context, d image.Descriptor) (dest, error) {
	dst, err := storeDest(ctx, o.st, d)
	dst.done = func(ctx context.Context, err error) error {
		if err != nil {
			return nil
		}
		return o.link(ctx, d)
	}
	return dst, err
}

func (o layoutOutput) link(ctx context.Context, d image.Descriptor) error {
	path, ok := o.st.Path(ctx, d)
	if !ok {
		return fmt.Errorf("blob %s is not in the store", d.Digest)
	}
	return o.l.LinkBlob(ctx, d, path)
}

// pullLayout adds the images to an OCI layout directory: blobs first, then
// index.json under the layout's lock.
func pullLayout(ctx context.Context, r *run, st *store.Store) error {
	l, err := layout.Create(r.c.Output)
	if err != nil {
		return err
	}
	l.RemoveStale()
	count(blobSet(r.p), r.res)
	if err := r.p.putManifests(ctx, st); err != nil {
		return err
	}
	out := layoutOutput{st, l}
	for dg, body := range r.p.manifests {
		if err := out.link(ctx, image.Descriptor{Digest: dg, Size: int64(len(body))}); err != nil {
			return err
		}
	}
	if err := r.fetch(ctx, out); err != nil {
		return err
	}
	r.pr.emit(Event{Kind: Writing})
	return l.UpdateIndex(ctx, func(idx *image.Index) error {
		for _, img := range r.p.images {
			layout.AddEntry(idx, layout.Entry(img.Root, img.Name))
		}
		return nil
	})
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
