package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// Mirror is one mirror and the client that speaks to it.
type Mirror struct {
	Endpoint Endpoint
	// Client is made for Endpoint.Host (ClientConfig), with the mirror's own
	// credentials. Required. It is given names as the mirror serves them
	// (Endpoint.Map), never the upstream's: a registry.Client refuses a
	// reference of another registry (*registry.OtherRegistryError).
	Client *registry.Client
	// Scope is the names this mirror serves, "registry[/path]"; "": the
	// Config's Scope. (registries.conf gives each mirror a prefix of its own.)
	Scope string
	// DigestOnly keeps reads by tag away from the mirror: a tag resolves at
	// the upstream, and the mirror serves what it names by digest
	// (registries.conf's mirror-by-digest-only).
	DigestOnly bool
}

// Config configures a Source. Zero values are the documented defaults.
type Config struct {
	// Upstream is the client of the registry the names belong to. Required.
	Upstream *registry.Client
	// Scope is the names the mirrors serve, "registry[/path]"; "": every name
	// of the upstream registry. Names outside it are read from the upstream
	// only.
	Scope string
	// Mirrors are tried in order before the upstream; none: every read goes
	// to the upstream.
	Mirrors []Mirror
	// Trace, when set, gets a comment line each time a read falls back from a
	// mirror, beside the registry clients' curl lines.
	Trace io.Writer
}

// Retry is the retry policy for mirror clients: one quick retry, then the
// next endpoint. A mirror's full backoff (seconds per request) would cost more
// than asking the upstream, and a long Retry-After is not worth waiting for.
func Retry() registry.RetryPolicy {
	return registry.RetryPolicy{Max: 1, Base: 100 * time.Millisecond, MaxBackoff: time.Second, MaxRetryAfter: 2 * time.Second}
}

// ClientConfig is base made for e: its host, scheme and TLS setting, Retry's
// policy, and creds, which must look credentials up by host (auth.Default
// with no explicit credential) since they are asked for e.Host. The rest of
// base (trace, CA file, user agent, timeouts) is kept; base's Creds never are.
func ClientConfig(base registry.Config, e Endpoint, creds auth.Source) registry.Config {
	base.Registry = e.Host
	base.PlainHTTP = e.PlainHTTP
	base.Insecure = base.Insecure || e.Insecure
	base.PlainHTTPFallback = base.PlainHTTPFallback || e.Insecure
	base.Retry = Retry()
	base.Creds = creds
	return base
}

// Source reads one upstream's manifests and blobs from its mirrors in order,
// then from the upstream. It satisfies pull.Source and offers the rest of the
// registry client's reads (Resolve, Image, Digest, BlobDescriptor, Blob). It
// is safe for concurrent use.
type Source struct {
	upstream *registry.Client
	scope    string
	mirrors  []Mirror
	trace    io.Writer

	mu   sync.Mutex
	down map[int]error      // mirrors that could not be reached: skipped for the rest of the run
	bad  map[badCopy]string // a mirror's copy of a blob that failed verification
}

type badCopy struct {
	mirror int
	digest digest.Digest
}

// New checks c and makes a Source.
func New(c Config) (*Source, error) {
	if c.Upstream == nil {
		return nil, errors.New("mirror: no upstream client")
	}
	for i, m := range c.Mirrors {
		if m.Client == nil {
			return nil, fmt.Errorf("mirror %s: no client", m.Endpoint)
		}
		if m.Client.Registry() != m.Endpoint.Host {
			return nil, fmt.Errorf("mirror %s: its client is for %s", m.Endpoint, m.Client.Registry())
		}
		if m.Endpoint.Host == c.Upstream.Registry() {
			return nil, fmt.Errorf("mirror %d, %s, is the upstream registry itself", i+1, m.Endpoint)
		}
	}
	return &Source{
		upstream: c.Upstream, scope: c.Scope, mirrors: c.Mirrors, trace: c.Trace,
		down: map[int]error{}, bad: map[badCopy]string{},
	}, nil
}

// Registry is the upstream registry's name.
func (s *Source) Registry() string { return s.upstream.Registry() }

// target is one endpoint a read may go to, with the name it has there.
type target struct {
	mirror int // index in s.mirrors; -1 for the upstream
	host   string
	client *registry.Client
	ref    ref.Reference
}

func (t target) isMirror() bool { return t.mirror >= 0 }

func (t target) String() string {
	if t.isMirror() {
		return "mirror " + t.host
	}
	return "upstream " + t.host
}

// targets are where a read of r (of content dg, if known) may go, in order:
// the mirrors that are up, serve r's name (by tag too, unless DigestOnly)
// and have not sent a bad copy of dg, then the upstream.
func (s *Source) targets(r ref.Reference, dg digest.Digest) []target {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ts []target
	for i, m := range s.mirrors {
		if s.down[i] != nil {
			continue
		}
		if _, bad := s.bad[badCopy{i, dg}]; bad && dg != "" {
			continue
		}
		if m.DigestOnly && dg == "" {
			continue
		}
		scope := m.Scope
		if scope == "" {
			scope = s.scope
		}
		mr, err := m.Endpoint.Map(scope, r)
		if err != nil {
			continue
		}
		ts = append(ts, target{mirror: i, host: m.Endpoint.Host, client: m.Client, ref: mr})
	}
	return append(ts, target{mirror: -1, host: s.upstream.Registry(), client: s.upstream, ref: r})
}

// try runs f on each target in turn until one succeeds; the upstream's
// answer, good or bad, is final.
func try[T any](ctx context.Context, s *Source, ts []target, f func(target) (T, error)) (T, target, error) {
	var notes []string
	for i, t := range ts {
		v, err := f(t)
		if err == nil || !t.isMirror() || ctx.Err() != nil {
			if err != nil && len(notes) > 0 {
				err = fmt.Errorf("%w (mirrors tried first: %s)", err, strings.Join(notes, "; "))
			}
			return v, t, err
		}
		notes = append(notes, fmt.Sprintf("%s: %v", t.host, err))
		s.failed(t, ts[i+1].String(), err)
	}
	panic("mirror: no upstream target") // targets always ends with the upstream
}

// failed notes in the trace that t failed and next is tried, and takes t out
// of the run if it cannot be reached at all.
func (s *Source) failed(t target, next string, err error) {
	unreachable := isUnreachable(err)
	if unreachable {
		s.mu.Lock()
		s.down[t.mirror] = err
		s.mu.Unlock()
	}
	if s.trace != nil {
		line := fmt.Sprintf("# %s failed (%v): trying %s\n", t, err, next)
		if unreachable {
			line += fmt.Sprintf("# %s is skipped for the rest of this run: it cannot be reached\n", t)
		}
		io.WriteString(s.trace, line)
	}
}

// isUnreachable tells a mirror that cannot be talked to at all (refused,
// no route, no such host, no answer, a TLS failure), which every later
// request would pay for again, from one that failed one read. The registry
// client does not retry a connection that cannot be made, so such a mirror
// costs one dial before the next endpoint is asked.
func isUnreachable(err error) bool {
	var ce *registry.ConnError
	var te *registry.TLSError
	return errors.As(err, &ce) || errors.As(err, &te)
}

// Manifest fetches r's manifest or index from the first endpoint that has it
// (by tag too: docker asks mirrors for tags, and a pull-through cache resolves
// them upstream). The client checks the bytes against r's digest, if pinned.
func (s *Source) Manifest(ctx context.Context, r ref.Reference) (*registry.Manifest, error) {
	m, _, err := try(ctx, s, s.targets(r, r.Digest()), func(t target) (*registry.Manifest, error) {
		return t.client.Manifest(ctx, t.ref)
	})
	return m, err
}

// ManifestByDescriptor fetches the manifest d names, which must have d's
// digest and size, from the first endpoint that has it.
func (s *Source) ManifestByDescriptor(ctx context.Context, r ref.Reference, d image.Descriptor) (*registry.Manifest, error) {
	m, _, err := try(ctx, s, s.targets(r, d.Digest), func(t target) (*registry.Manifest, error) {
		return t.client.ManifestByDescriptor(ctx, t.ref, d)
	})
	return m, err
}

// Resolve is registry.Client.Resolve on the first endpoint that resolves r.
func (s *Source) Resolve(ctx context.Context, r ref.Reference, platform image.Platform) ([]*registry.Manifest, error) {
	chain, _, err := try(ctx, s, s.targets(r, r.Digest()), func(t target) ([]*registry.Manifest, error) {
		return t.client.Resolve(ctx, t.ref, platform)
	})
	return chain, err
}

// Image is registry.Client.Image on the first endpoint that serves it all.
func (s *Source) Image(ctx context.Context, r ref.Reference, platform image.Platform) (*registry.Image, error) {
	img, _, err := try(ctx, s, s.targets(r, r.Digest()), func(t target) (*registry.Image, error) {
		return t.client.Image(ctx, t.ref, platform)
	})
	return img, err
}

// Digest is registry.Client.Digest on the first endpoint that answers.
func (s *Source) Digest(ctx context.Context, r ref.Reference) (digest.Digest, error) {
	d, _, err := try(ctx, s, s.targets(r, r.Digest()), func(t target) (digest.Digest, error) {
		return t.client.Digest(ctx, t.ref)
	})
	return d, err
}

// BlobDescriptor is registry.Client.BlobDescriptor on the first endpoint
// that has the blob. The size only bounds the read.
func (s *Source) BlobDescriptor(ctx context.Context, r ref.Reference, dg digest.Digest) (image.Descriptor, error) {
	d, _, err := try(ctx, s, s.targets(r, dg), func(t target) (image.Descriptor, error) {
		return t.client.BlobDescriptor(ctx, t.ref, dg)
	})
	return d, err
}

// Blob is BlobAt from the start.
func (s *Source) Blob(ctx context.Context, r ref.Reference, d image.Descriptor) (io.ReadCloser, error) {
	return s.BlobAt(ctx, r, d, 0, nil)
}

// BlobFromURL asks the upstream's client: a descriptor's urls are the
// layer's home, not the upstream's, and are asked without credentials.
func (s *Source) BlobFromURL(ctx context.Context, r ref.Reference, d image.Descriptor, url string, offset int64, v *image.Verifier) (io.ReadCloser, error) {
	return s.upstream.BlobFromURL(ctx, r, d, url, offset, v)
}

// BlobAt opens blob d from the first endpoint that serves it, as
// registry.Client.BlobAt does (offset and v likewise). If a mirror's body
// fails past the client's own resumes, the stream goes on from the next
// endpoint with Range, after the bytes already hashed. If a mirror's bytes
// fail verification, the read ends with an error that says the blob may be
// asked for again (TryElsewhere), and that mirror is not asked for it again.
// The stream says which endpoint served it (ServedBy).
func (s *Source) BlobAt(ctx context.Context, r ref.Reference, d image.Descriptor, offset int64, v *image.Verifier) (io.ReadCloser, error) {
	if v == nil {
		if err := image.ValidateDescriptor(d); err != nil {
			return nil, fmt.Errorf("fetching blob %s of %s: %w", d.Digest, r.Name(), err)
		}
		v = image.NewVerifier(d, "blob "+string(d.Digest)+" of "+r.Name())
	}
	b := &stream{s: s, ctx: ctx, r: r, d: d, v: v}
	if err := b.open(s.targets(r, d.Digest), offset); err != nil {
		return nil, err
	}
	return b, nil
}

// stream is a blob read that may move from one endpoint to the next.
type stream struct {
	s   *Source
	ctx context.Context
	r   ref.Reference
	d   image.Descriptor
	v   *image.Verifier // fed by the registry clients' readers, in order
	t   target          // the endpoint serving now
	rc  io.ReadCloser
}

// open opens the blob at offset from the first of ts that serves it.
func (b *stream) open(ts []target, offset int64) error {
	rc, t, err := try(b.ctx, b.s, ts, func(t target) (io.ReadCloser, error) {
		return t.client.BlobAt(b.ctx, t.ref, b.d, offset, b.v)
	})
	if err != nil {
		return err
	}
	b.rc, b.t = rc, t
	return nil
}

// ServedBy is the endpoint that served the blob (the last one, if the read
// moved): its host, and whether it is a mirror.
func (b *stream) ServedBy() (host string, mirror bool) { return b.t.host, b.t.isMirror() }

// recover decides what a failed read from b.t leads to: nil when the stream
// went on from the next endpoint, else the error to return.
func (b *stream) recover(err error) error {
	if !b.t.isMirror() || b.ctx.Err() != nil {
		return err
	}
	var de *image.DigestError
	bad := errors.As(err, &de)
	b.s.mu.Lock()
	b.s.bad[badCopy{b.t.mirror, b.d.Digest}] = err.Error()
	b.s.mu.Unlock()
	if bad {
		// The caller has the mirror's bytes and must drop them: only a
		// fresh read, which will not come here, can fix that.
		b.s.failed(b.t, "the next endpoint from the start", err)
		return &CopyError{Mirror: b.t.host, Err: err}
	}
	ts := b.s.targets(b.r, b.d.Digest) // b.t is now left out
	b.s.failed(b.t, ts[0].String()+" from byte "+strconv.FormatInt(b.v.Written(), 10), err)
	b.rc.Close()
	if oerr := b.open(ts, b.v.Written()); oerr != nil {
		return fmt.Errorf("%w (after mirror %s failed: %v)", oerr, b.t.host, err)
	}
	return nil
}

func (b *stream) Read(p []byte) (int, error) {
	for {
		n, err := b.rc.Read(p)
		if err == nil || err == io.EOF {
			return n, err
		}
		if rerr := b.recover(err); rerr != nil {
			return n, rerr
		}
		if n > 0 {
			return n, nil
		}
	}
}

// WriteTo lets io.Copy use the registry reader's WriteTo, which hashes and
// writes on two goroutines; a failure of the source, not of w, goes on from
// the next endpoint.
func (b *stream) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		rw := &recordingWriter{w: w}
		var n int64
		var err error
		if wt, ok := b.rc.(io.WriterTo); ok {
			n, err = wt.WriteTo(rw)
		} else {
			n, err = io.Copy(rw, struct{ io.Reader }{b.rc})
		}
		total += n
		if err == nil || rw.err != nil {
			return total, err
		}
		if rerr := b.recover(err); rerr != nil {
			return total, rerr
		}
	}
}

func (b *stream) Close() error { return b.rc.Close() }

// recordingWriter remembers w's own error, to tell it from the source's.
type recordingWriter struct {
	w   io.Writer
	err error
}

func (r *recordingWriter) Write(p []byte) (int, error) {
	n, err := r.w.Write(p)
	if err != nil {
		r.err = err
	}
	return n, err
}

// CopyError is a mirror's copy of a blob that failed verification. The bytes
// read must be dropped; asking the Source for the blob again goes to the next
// endpoint.
type CopyError struct {
	Mirror string
	Err    error // an *image.DigestError
}

func (e *CopyError) Error() string {
	return fmt.Sprintf("mirror %s sent a bad copy: %v", e.Mirror, e.Err)
}

func (e *CopyError) Unwrap() error { return e.Err }

// TryElsewhere says that another endpoint may serve the blob.
func (e *CopyError) TryElsewhere() bool { return true }
