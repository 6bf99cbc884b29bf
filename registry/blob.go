package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
)

// Blob opens the blob d in r's repository as a verified stream: it yields at
// most d.Size bytes and, at the end, io.EOF only if size and digest match
// (*image.SizeError or *image.DigestError otherwise). A body that drops or stalls
// is resumed with Range after the bytes already read and hashed, a bounded
// number of times; a server that ignores Range has the bytes already read skipped.
func (c *Client) Blob(ctx context.Context, r ref.Reference, d image.Descriptor) (io.ReadCloser, error) {
	return c.BlobAt(ctx, r, d, 0, nil)
}

// BlobAt is Blob starting at offset: the caller already holds the first offset
// bytes of the blob and has fed them to v, which must be a Verifier for d (nil
// when offset is 0). That is how a partial download kept on disk is finished.
func (c *Client) BlobAt(ctx context.Context, r ref.Reference, d image.Descriptor, offset int64, v *image.Verifier) (io.ReadCloser, error) {
	if err := c.checkRef(r); err != nil {
		return nil, err
	}
	what := "blob " + string(d.Digest) + " of " + r.Name()
	if err := image.ValidateDescriptor(d); err != nil {
		return nil, fmt.Errorf("fetching %s: %w", what, err)
	}
	if offset < 0 || offset > d.Size || (offset > 0 && (v == nil || v.Written() != offset)) {
		return nil, fmt.Errorf("fetching %s: offset %d does not match what was hashed", what, offset)
	}
	if v == nil {
		v = image.NewVerifier(d, what)
	}
	u := c.url("/v2/" + r.Repository() + "/blobs/" + d.Digest.String())
	return c.openBlob(ctx, r, d, offset, v, u, c.http, what)
}

// BlobFromURL is BlobAt from one of a descriptor's urls (a non-distributable
// layer's home), asked without credentials: they belong to the registry. Only
// https URLs are tried, and the bytes are verified like any other.
func (c *Client) BlobFromURL(ctx context.Context, r ref.Reference, d image.Descriptor, rawURL string, offset int64, v *image.Verifier) (io.ReadCloser, error) {
	if err := c.checkRef(r); err != nil {
		return nil, err
	}
	what := "blob " + string(d.Digest) + " from " + rawURL
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("fetching blob %s: %q is not an https URL", d.Digest, rawURL)
	}
	if err := image.ValidateDescriptor(d); err != nil {
		return nil, fmt.Errorf("fetching %s: %w", what, err)
	}
	if offset < 0 || offset > d.Size || (offset > 0 && (v == nil || v.Written() != offset)) {
		return nil, fmt.Errorf("fetching %s: offset %d does not match what was hashed", what, offset)
	}
	if v == nil {
		v = image.NewVerifier(d, what)
	}
	return c.openBlob(ctx, r, d, offset, v, u, c.anon, what)
}

func (c *Client) openBlob(ctx context.Context, r ref.Reference, d image.Descriptor, offset int64, v *image.Verifier, u *url.URL, hc *http.Client, what string) (io.ReadCloser, error) {
	b := &blobReader{c: c, u: u, hc: hc, ctx: ctx, r: r, d: d, what: what, v: v, n: offset, budget: budget{p: c.retry}}
	if offset == d.Size {
		return b, nil // nothing left to ask for: Read checks and returns EOF
	}
	if err := b.attempt(nil); err != nil {
		return nil, err
	}
	return b, nil
}

// minProgress is how far an attempt must get past the furthest byte received
// before it (or to the blob's end) to count as progress. Attempts that make
// progress never count toward giving up, so a long download over a flaky
// network completes; attempts that do not are bounded by the retry policy,
// and two in a row that go idle end the blob with a *StallError.
const minProgress = 1 << 20

// StallError says that a blob stopped arriving: two attempts in a row went
// idle (under 1 KiB within the idle timeout), neither getting 1 MiB further.
type StallError struct {
	Offset int64 // the bytes received, from the blob's start
	Size   int64 // the blob's size
	Err    error // how the last attempt ended
}

func (e *StallError) Error() string {
	return fmt.Sprintf("stalled: two attempts in a row received under 1 MiB (at byte %d of %d); the registry or the network stopped sending",
		e.Offset, e.Size)
}

func (e *StallError) Unwrap() error { return e.Err }

type blobReader struct {
	c      *Client
	u      *url.URL     // where the blob is asked for
	hc     *http.Client // the registry's, with credentials, or one without for a foreign URL
	ctx    context.Context
	r      ref.Reference
	d      image.Descriptor
	what   string
	v      *image.Verifier
	body   io.ReadCloser
	n      int64  // bytes handed to the caller, and hashed
	skip   int64  // bytes of the current body to discard: a 200 answered a Range request
	start  int64  // n when the current attempt began, to measure its progress from
	budget budget // the blob's retries: its attempts are one operation
	err    error  // sticky
}

// attempt closes the current body, if any, and opens the blob from b.n, again
// as long as the budget allows; cause is how the previous attempt ended (nil:
// there was none).
func (b *blobReader) attempt(cause error) error {
	b.closeBody()
	for {
		if cause != nil {
			if err := b.judge(cause); err != nil {
				b.err = err
				return err
			}
		}
		b.start = b.n
		if cause = b.open(); cause == nil {
			return nil
		}
	}
}

// judge decides whether another attempt follows one that ended with cause,
// and waits for it; the error it returns ends the blob.
func (b *blobReader) judge(cause error) error {
	if err := b.ctx.Err(); err != nil {
		return err
	}
	wait, ok := b.budget.next(errOutcome(cause), b.n-b.start >= minProgress)
	switch {
	case b.budget.stalled():
		return fmt.Errorf("fetching %s: %w", b.what, &StallError{Offset: b.n, Size: b.d.Size, Err: cause})
	case !ok && b.n == 0:
		return fmt.Errorf("fetching %s: %w", b.what, cause)
	case !ok:
		return fmt.Errorf("fetching %s at byte %d: %w", b.what, b.n, cause)
	}
	b.c.log.Debug("resuming blob", "blob", b.d.Digest, "offset", b.n, "wait", wait, "cause", cause)
	return sleep(b.ctx, wait)
}

// open (re)requests the blob from b.n on.
func (b *blobReader) open() error {
	req, err := b.c.newRequest(owned(b.ctx), http.MethodGet, b.u)
	if err != nil {
		return err
	}
	if b.n > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(b.n, 10)+"-")
	}
	resp, err := b.c.doWith(b.hc, req, b.r.Repository())
	if err != nil {
		return err
	}
	b.skip = 0
	switch {
	case b.n > 0 && resp.StatusCode == http.StatusPartialContent:
		start, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != b.n || (total >= 0 && total != b.d.Size) {
			resp.Body.Close()
			return fmt.Errorf("resuming at %d: the registry answered Content-Range %q", b.n, resp.Header.Get("Content-Range"))
		}
		if resp.ContentLength >= 0 && resp.ContentLength != b.d.Size-b.n {
			resp.Body.Close()
			return fmt.Errorf("resuming at %d: Content-Length %d, want %d", b.n, resp.ContentLength, b.d.Size-b.n)
		}
	case resp.StatusCode == http.StatusOK:
		if resp.ContentLength >= 0 && resp.ContentLength != b.d.Size {
			resp.Body.Close()
			return fmt.Errorf("the registry says the blob is %d bytes; its descriptor says %d", resp.ContentLength, b.d.Size)
		}
		b.skip = b.n // the server ignored Range: discard what we already have
	default:
		resp.Body.Close()
		return fmt.Errorf("unexpected status %s", resp.Status)
	}
	b.body = resp.Body
	return nil
}

func (b *blobReader) Read(p []byte) (int, error) {
	n, err := b.fill(p)
	b.v.Write(p[:n])
	if err == io.EOF {
		err = b.finish()
	}
	return n, err
}

// finish judges the blob once every expected byte has been hashed.
func (b *blobReader) finish() error {
	if err := b.v.Check(); err != nil {
		b.err = err
	}
	return b.err
}

// pipeBufs and pipeBufSize are WriteTo's buffers: enough in flight that the
// hash and the writes overlap, small enough that many blobs at once stay
// within a few MiB.
const (
	pipeBufs    = 4
	pipeBufSize = 256 << 10
)

// WriteTo streams the rest of the blob to w. Three goroutines share the
// work: this one reads from the network, one hashes and one writes, each
// buffer going back to the reader once both are done with it; so on two cores
// the hash and the writes cost little wall time beyond the transfer. io.Copy
// uses it. It returns nil only if size and digest matched.
func (b *blobReader) WriteTo(w io.Writer) (int64, error) {
	if b.err != nil {
		if b.err == io.EOF {
			return 0, nil
		}
		return 0, b.err
	}
	type chunk struct {
		buf  []byte
		refs atomic.Int32 // the hasher and the writer: the last one frees it
	}
	free := make(chan *chunk, pipeBufs)
	for range pipeBufs {
		free <- &chunk{buf: b.c.getBuf()}
	}
	defer func() {
		for range pipeBufs {
			b.c.putBuf((<-free).buf)
		}
	}()
	release := func(c *chunk) {
		if c.refs.Add(-1) == 0 {
			free <- c
		}
	}
	toHash := make(chan *chunk, pipeBufs)
	toWrite := make(chan *chunk, pipeBufs)
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for c := range toHash {
			b.v.Write(c.buf)
			release(c)
		}
	}()
	var written int64
	var werr error // set by the writer; read after it is done
	wrote := make(chan struct{})
	var failed atomic.Bool
	go func() {
		defer close(wrote)
		for c := range toWrite {
			if werr == nil {
				n, err := w.Write(c.buf)
				written += int64(n)
				if err == nil && n < len(c.buf) {
					err = io.ErrShortWrite
				}
				if err != nil {
					werr = err
					failed.Store(true)
				}
			}
			release(c)
		}
	}()
	var err error
	for !failed.Load() {
		c := <-free
		// Fill the whole buffer (short only at the end): fewer, larger
		// writes, at offsets a multiple of the buffer from where it started.
		var n int
		for buf := c.buf[:cap(c.buf)]; n < len(buf) && err == nil; {
			var k int
			k, err = b.fill(buf[n:])
			n += k
		}
		if n == 0 {
			free <- c
		} else {
			c.buf = c.buf[:n]
			c.refs.Store(2)
			toHash <- c
			toWrite <- c
		}
		if err != nil {
			break
		}
	}
	close(toHash)
	close(toWrite)
	<-hashed
	<-wrote
	switch {
	case werr != nil:
		return written, werr
	case err == io.EOF:
		if err := b.finish(); err != io.EOF {
			return written, err
		}
		return written, nil
	}
	return written, err
}

// fill reads the next bytes of the blob into p without hashing them,
// resuming a dropped or stalled body. It returns io.EOF once every byte the
// descriptor promises has been delivered; a blob is never read past its size.
func (b *blobReader) fill(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	// A canceled read stops here, not once the transport notices: bytes
	// already in its buffers would otherwise still be handed out.
	if err := b.ctx.Err(); err != nil {
		b.err = err
		b.closeBody()
		return 0, err
	}
	for {
		if b.n == b.d.Size {
			b.err = io.EOF
			b.closeBody()
			return 0, io.EOF
		}
		if b.body == nil {
			if err := b.attempt(nil); err != nil {
				return 0, err
			}
			continue
		}
		if b.skip > 0 {
			k, err := io.CopyN(io.Discard, b.body, b.skip)
			b.skip -= k
			if err != nil {
				if err := b.attempt(err); err != nil {
					return 0, err
				}
			}
			continue
		}
		if rest := b.d.Size - b.n; int64(len(p)) > rest {
			p = p[:rest]
		}
		n, err := b.body.Read(p)
		b.n += int64(n)
		if err == nil || n > 0 && err == io.EOF && b.n == b.d.Size {
			return n, nil
		}
		if err == io.EOF {
			if b.n < b.d.Size {
				// A body that ends early is short, not dropped: the server says
				// this is the whole blob. Say so rather than resume forever.
				b.closeBody()
				b.err = &image.SizeError{What: b.what, Want: b.d.Size, Got: b.n}
				return n, b.err
			}
			continue
		}
		if rerr := b.attempt(err); rerr != nil {
			return n, rerr
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (b *blobReader) closeBody() {
	if b.body != nil {
		b.body.Close()
		b.body = nil
	}
}

func (b *blobReader) Close() error {
	b.closeBody()
	if b.err == nil {
		b.err = errors.New("blob reader closed")
	}
	return nil
}

// parseContentRange reads "bytes START-END/TOTAL"; total is -1 for "*".
func parseContentRange(v string) (start, total int64, err error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !ok {
		return 0, 0, fmt.Errorf("malformed Content-Range %q", v)
	}
	rng, tot, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, fmt.Errorf("malformed Content-Range %q", v)
	}
	s, e, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, fmt.Errorf("malformed Content-Range %q", v)
	}
	start, err1 := strconv.ParseInt(s, 10, 64)
	end, err2 := strconv.ParseInt(e, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, fmt.Errorf("malformed Content-Range %q", v)
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil || total <= end {
			return 0, 0, fmt.Errorf("malformed Content-Range %q", v)
		}
	}
	return start, total, nil
}

// BlobDescriptor asks the registry (HEAD) for the size of blob dgst in r's
// repository. The size only bounds the read: the digest still judges the bytes.
func (c *Client) BlobDescriptor(ctx context.Context, r ref.Reference, dgst digest.Digest) (image.Descriptor, error) {
	if err := c.checkRef(r); err != nil {
		return image.Descriptor{}, err
	}
	what := "blob " + string(dgst) + " of " + r.Name()
	if err := image.ValidateDigest(dgst); err != nil {
		return image.Descriptor{}, fmt.Errorf("checking %s: %w", what, err)
	}
	req, err := c.newRequest(ctx, http.MethodHead, c.url("/v2/"+r.Repository()+"/blobs/"+dgst.String()))
	if err != nil {
		return image.Descriptor{}, err
	}
	resp, err := c.doRetrying(req, r.Repository())
	if err != nil {
		return image.Descriptor{}, fmt.Errorf("checking %s: %w", what, err)
	}
	resp.Body.Close()
	if resp.ContentLength < 0 {
		return image.Descriptor{}, fmt.Errorf("checking %s: the registry did not say its size", what)
	}
	return image.Descriptor{Digest: dgst, Size: resp.ContentLength, MediaType: "application/octet-stream"}, nil
}

// BlobBytes reads a small blob (a config) whole, verified. Blobs larger than
// limit are refused before any byte is read.
func (c *Client) BlobBytes(ctx context.Context, r ref.Reference, d image.Descriptor, limit int64) ([]byte, error) {
	if d.Size > limit {
		return nil, fmt.Errorf("fetching blob %s of %s: %d bytes is over the limit of %d", d.Digest, r.Name(), d.Size, limit)
	}
	rc, err := c.Blob(ctx, r, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, 0, max(d.Size, 0))
	for {
		n, err := rc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // room for the final, verifying read
		}
	}
}

// getBuf and putBuf recycle WriteTo's buffers across blobs.
func (c *Client) getBuf() []byte {
	if p, ok := c.bufs.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, pipeBufSize)
}

func (c *Client) putBuf(b []byte) {
	b = b[:cap(b)]
	c.bufs.Put(&b)
}
