package push

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/errgroup"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// EventKind tells what an Event reports.
type EventKind int

// The events of a copy, in the order they happen for each blob.
const (
	Planned      EventKind = iota // the blobs to put are known: N blobs, Size bytes in all
	BlobStart                     // a blob is being put: Digest, Size
	BlobBytes                     // N more of its bytes went out (never fewer than before)
	BlobDone                      // it is at the destination: How, and Resumed bytes an earlier run had sent
	Restarted                     // the registry refused a blob's saved session (Err): it starts again from byte 0
	ManifestDone                  // a manifest is at the destination: Ref, Digest
)

// How a blob got to the destination.
const (
	HowPushed  = "pushed"
	HowMounted = "mounted"
	HowSkipped = "skipped" // it was there already
)

// Event is one step of a copy, for progress display.
type Event struct {
	Kind    EventKind
	Ref     ref.Reference
	Digest  digest.Digest
	Media   string
	Size    int64
	N       int64
	How     string
	Resumed int64
	Err     error
}

// transfer puts the blobs of one plan.
type transfer struct {
	plan *Plan
	to   ref.Reference
	dcl  *registry.Client
	c    Config

	mu  sync.Mutex // guards res and serializes Progress
	res *Result
}

func newTransfer(plan *Plan, to ref.Reference, dcl *registry.Client, c Config, res *Result) *transfer {
	return &transfer{plan: plan, to: to, dcl: dcl, c: c, res: res}
}

func (t *transfer) emit(ev Event) {
	if t.c.Progress != nil {
		t.c.Progress(ev)
	}
}

// blobs puts, concurrently, each blob of the manifests not present; the
// blobs of those present are counted as skipped.
func (t *transfer) blobs(ctx context.Context, present map[digest.Digest]bool) error {
	var todo []Blob
	seen := map[digest.Digest]bool{}
	for _, m := range t.plan.Manifests {
		if !present[m.Descriptor.Digest] {
			continue
		}
		for _, b := range m.Blobs {
			if !seen[b.Descriptor.Digest] {
				seen[b.Descriptor.Digest] = true
				t.res.Skipped.add(b.Descriptor.Size)
			}
		}
	}
	var size int64
	for _, m := range t.plan.Manifests {
		for _, b := range m.Blobs {
			if !seen[b.Descriptor.Digest] {
				seen[b.Descriptor.Digest] = true
				todo = append(todo, b)
				size += b.Descriptor.Size
			}
		}
	}
	t.emit(Event{Kind: Planned, Ref: t.to, N: int64(len(todo)), Size: size})
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(t.c.jobs())
	for _, b := range todo {
		if t.c.stopped() {
			break
		}
		g.Go(func() error { return t.blob(gctx, b) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if t.c.stopped() {
		return fmt.Errorf("stopped with blobs left to put: %w", registry.ErrUploadStopped)
	}
	return nil
}

// blob puts one blob: HEAD, a mount within one registry, else an upload.
func (t *transfer) blob(ctx context.Context, b Blob) error {
	if t.c.stopped() {
		return nil // not begun: blobs reports the stop
	}
	d := b.Descriptor
	t.lock(func() { t.emit(Event{Kind: BlobStart, Digest: d.Digest, Media: d.MediaType, Size: d.Size}) })
	ok, err := t.dcl.BlobExists(ctx, t.to, d)
	if err != nil {
		return err
	}
	if ok {
		t.done(d, HowSkipped, 0)
		return nil
	}
	if from := t.plan.Source; !from.IsZero() && from.Registry() == t.to.Registry() && from.Repository() != t.to.Repository() {
		mounted, err := t.dcl.MountBlob(ctx, t.to, d, from)
		if err != nil {
			return err
		}
		if mounted {
			t.done(d, HowMounted, 0)
			return nil
		}
	}
	src := &countingSource{t: t, d: d, src: b.Open, resumed: -1}
	opts := registry.PushOptions{
		Sessions: t.c.Sessions,
		Stop:     t.c.Stop,
		Restarted: func(dg digest.Digest, _ int64, reason error) {
			t.lock(func() { t.emit(Event{Kind: Restarted, Digest: dg, Size: d.Size, Err: reason}) })
		},
	}
	if err := t.dcl.PushBlob(ctx, t.to, d, src, opts); err != nil {
		return err
	}
	t.done(d, HowPushed, max(src.resumed, 0))
	return nil
}

func (t *transfer) lock(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	f()
}

func (t *transfer) done(d image.Descriptor, how string, resumed int64) {
	t.lock(func() {
		switch how {
		case HowSkipped:
			t.res.Skipped.add(d.Size)
		case HowMounted:
			t.res.Mounted.add(d.Size)
		default:
			t.res.Pushed.add(d.Size)
			t.res.Resumed += resumed
		}
		t.emit(Event{Kind: BlobDone, Digest: d.Digest, Media: d.MediaType, Size: d.Size, How: how, Resumed: resumed})
	})
}

// countingSource is a blob's source that reports its progress: the
// furthest byte read into a request, so that it never goes backwards when
// a request is sent again or the blob restarts; and the offset of the first
// read, which is what the registry held of an upload begun before.
type countingSource struct {
	t       *transfer
	d       image.Descriptor
	src     registry.BlobSource
	shown   int64 // bytes reported; guarded by t.mu
	resumed int64 // the first Open's offset; -1 before it; guarded by t.mu
}

func (s *countingSource) Open(ctx context.Context, offset int64) (io.ReadCloser, error) {
	rc, err := s.src.Open(ctx, offset)
	if err != nil {
		return nil, err
	}
	s.t.lock(func() {
		if s.resumed < 0 {
			s.resumed = offset
		}
		s.advance(offset, 0)
	})
	return &countingBody{rc: rc, s: s, pos: offset}, nil
}

// advance reports the bytes up to pos not reported yet; sent are bytes that
// went out again. Called under t.mu.
func (s *countingSource) advance(pos, sent int64) {
	s.t.res.Sent += sent
	if pos > s.shown {
		s.t.emit(Event{Kind: BlobBytes, Digest: s.d.Digest, Size: s.d.Size, N: pos - s.shown})
		s.shown = pos
	}
}

// progressStep is how many bytes a body reads between two reports: one per
// read (32 KiB, net/http's copy buffer) would take the transfer's lock and
// call Progress (a progress bar's channel send) 32,768 times a GiB.
const progressStep = 1 << 20

type countingBody struct {
	rc io.ReadCloser
	s  *countingSource

	mu      sync.Mutex // Read and Close may run at once: net/http reads, the upload closes
	pos     int64
	pending int64 // bytes read and not reported yet
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pos += int64(n)
	b.pending += int64(n)
	if b.pending >= progressStep || err != nil {
		b.flush()
	}
	return n, err
}

// flush reports the pending bytes; called under b.mu.
func (b *countingBody) flush() {
	if b.pending == 0 {
		return
	}
	sent := b.pending
	b.pending = 0
	b.s.t.lock(func() { b.s.advance(b.pos, sent) })
}

func (b *countingBody) Close() error {
	b.mu.Lock()
	b.flush()
	b.mu.Unlock()
	return b.rc.Close()
}
