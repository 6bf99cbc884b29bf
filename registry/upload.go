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
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
)

// BlobSource gives a blob's bytes from any offset: from the cache, or from a
// Range read of the registry copied from. Each Open starts a new read; the
// bytes must be the blob's (the registry checks the digest at the end).
type BlobSource interface {
	Open(ctx context.Context, offset int64) (io.ReadCloser, error)
}

// BlobSourceFunc is a function that is a BlobSource.
type BlobSourceFunc func(ctx context.Context, offset int64) (io.ReadCloser, error)

// Open calls f.
func (f BlobSourceFunc) Open(ctx context.Context, offset int64) (io.ReadCloser, error) {
	return f(ctx, offset)
}

// UploadSession is one blob's upload in progress on a registry: enough for a
// later run to ask where it stands and send only the rest.
type UploadSession struct {
	Registry   string        `json:"registry"`   // "reg.lan:5000", as in a reference
	Repository string        `json:"repository"` // "mirror/alpine"
	Digest     digest.Digest `json:"digest"`
	Size       int64         `json:"size"`
	URL        string        `json:"url"`    // the newest Location the registry gave, absolute
	Offset     int64         `json:"offset"` // bytes the registry acknowledged (a 202's or 204's Range)
	Updated    time.Time     `json:"updated"`
}

// UploadSessions keeps upload sessions between runs (store.Uploads keeps them
// beside the cache).
type UploadSessions interface {
	// Hold waits until no other upload (in any process) holds the session of
	// key's blob (key's Registry, Repository and Digest), takes it, and
	// returns the session saved for it: one with URL "" when there is none.
	// release ends the hold.
	Hold(ctx context.Context, key UploadSession) (saved UploadSession, release func(), err error)
	// Save records s, replacing what was saved for its blob.
	Save(ctx context.Context, s UploadSession) error
	// Remove forgets the session of s's blob.
	Remove(ctx context.Context, s UploadSession) error
}

// PushOptions are PushBlob's settings. The zero value pushes without keeping
// a session across runs.
type PushOptions struct {
	// Sessions keeps the upload's session so that a later run resumes it;
	// nil: an interrupted upload starts again from byte 0 next time.
	Sessions UploadSessions
	// Restarted, if set, is told when the registry refused the upload's
	// session (a 404, an expired session, a registry that keeps nothing of a
	// cut request) and the blob starts again from byte 0; that happens once
	// per PushBlob, a second refusal is an error.
	Restarted func(d digest.Digest, acknowledged int64, reason error)
	// Progress, if set, is told the bytes the registry has acknowledged
	// each time that grows.
	Progress func(acknowledged int64)
	// Stop, once closed, ends the upload after the request in flight is
	// answered and its bytes acknowledged and saved, with ErrUploadStopped,
	// so that a later run resumes from there (Ctrl-C). Where the registry
	// takes chunks that is within a chunk; otherwise the one PATCH of the
	// rest, or the PUT that carries a small blob whole (and commits it), is
	// the request in flight. Cancel ctx to cut it short instead.
	Stop <-chan struct{}
}

// ErrUploadStopped is PushBlob's error when PushOptions.Stop was closed.
var ErrUploadStopped = errors.New("upload stopped; a later run resumes it")

// PushBlob uploads blob d into r's repository, reading it from src, the way
// every registry accepts: POST, one PATCH streaming the rest of the blob
// (never held in memory), PUT with the digest; a blob of up to 16 MiB goes
// in the PUT itself (see maxWhole). With opts.Sessions the upload's
// session is saved as soon as the POST answers and after each acknowledged
// request, and a saved one is resumed: the registry is asked where it stands
// (GET on the upload URL) and only the rest is sent, with Content-Range.
//
// This is the only place an upload is retried. An attempt that adds no
// acknowledged byte counts toward giving up, and two in a row end the push
// with a *StalledUploadError; a request body the registry stops reading for
// the client's idle timeout is such an attempt. Offsets come only from the
// Range of a 202 or 204, every request goes to the newest Location, and a
// 416 gets one more status request.
//
// A registry that announces OCI-Chunk-Min-Length on the POST's answer gets
// chunks of that size (at least 5 MiB), each acknowledged and saved; a 416 to
// a chunk, a Range that does not advance or a 201 before the last chunk makes
// the upload, and every later one of the Client, go whole.
func (c *Client) PushBlob(ctx context.Context, r ref.Reference, d image.Descriptor, src BlobSource, opts PushOptions) error {
	what := fmt.Sprintf("pushing blob %s to %s", d.Digest, r.Name())
	if err := image.ValidateDescriptor(d); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := c.checkRef(r); err != nil {
		return err
	}
	u := &upload{c: c, r: r, d: d, src: src, opts: opts}
	u.session = UploadSession{Registry: c.registry, Repository: r.Repository(), Digest: d.Digest, Size: d.Size}
	if opts.Sessions != nil {
		saved, release, err := opts.Sessions.Hold(ctx, u.session)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		defer release()
		u.adopt(saved)
	}
	if err := u.run(ctx); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// StalledUploadError ends an upload whose attempts stopped adding
// acknowledged bytes.
type StalledUploadError struct {
	Digest       digest.Digest
	Acknowledged int64 // bytes the registry holds
	Size         int64
	Err          error // the last attempt's
}

func (e *StalledUploadError) Error() string {
	return fmt.Sprintf("upload of %s stalled: two attempts in a row added nothing to the %d of %d bytes the registry acknowledged: %v",
		e.Digest, e.Acknowledged, e.Size, e.Err)
}

func (e *StalledUploadError) Unwrap() error { return e.Err }

// errSessionRefused: the registry does not know the upload session (any more).
var errSessionRefused = errors.New("the registry refused the upload session")

// upload is one PushBlob's state.
type upload struct {
	c        *Client
	r        ref.Reference
	d        image.Descriptor
	src      BlobSource
	opts     PushOptions
	session  UploadSession // URL "" until the POST answers
	loc      *url.URL      // session.URL, parsed
	origins  []string      // scheme://host the registry sent us to: its own, and redirect targets
	status   bool          // ask where the session stands before sending more
	resuming bool          // a PATCH was sent in this session (by this run or an earlier one)
	chunk    int64         // the size of the chunks to send; 0: the rest in one PATCH
	done     bool
	restart  bool // the session was refused once already
}

// adopt takes a saved session if it is for the same blob and can be asked.
func (u *upload) adopt(saved UploadSession) {
	if saved.URL == "" || saved.Size != u.d.Size || saved.Digest != u.d.Digest {
		return
	}
	loc, err := url.Parse(saved.URL)
	if err != nil || !u.allowed(loc) {
		return
	}
	u.loc, u.session.URL, u.session.Offset = loc, saved.URL, saved.Offset
	u.status, u.resuming = true, true // the offset saved is what was acknowledged then; ask what it is now
}

// run makes attempts until the blob is committed or the stall rule ends it.
func (u *upload) run(ctx context.Context) error {
	for stalls := 0; ; {
		if u.stopped() {
			return fmt.Errorf("%w (%d of %d bytes acknowledged)", ErrUploadStopped, u.session.Offset, u.d.Size)
		}
		before := u.session.Offset
		err := u.attempt(ctx)
		if u.done {
			u.forget(ctx)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if sourceFailed(err) {
			// The source's bytes are not the blob's, and were held back
			// before the registry had them all: no later attempt does better.
			u.discard(ctx)
			return err
		}
		if errors.Is(err, errSessionRefused) {
			if u.restart {
				return fmt.Errorf("the registry refused the upload session a second time: %w", err)
			}
			u.restart = true
			if u.opts.Restarted != nil {
				u.opts.Restarted(u.d.Digest, u.session.Offset, err)
			}
			u.forget(ctx)
			u.loc, u.session.URL, u.session.Offset, u.status = nil, "", 0, false
			continue
		}
		if err != nil && !uploadRetryable(err) {
			return err
		}
		if u.session.Offset > before {
			stalls = 0
			continue
		}
		if err == nil {
			continue // the POST, or a status that confirmed the offset: no bytes were due
		}
		if stalls++; stalls >= 2 {
			return &StalledUploadError{Digest: u.d.Digest, Acknowledged: u.session.Offset, Size: u.d.Size, Err: err}
		}
		u.c.log.Debug("upload attempt failed; asking the registry where it stands", "blob", u.d.Digest, "acknowledged", u.session.Offset, "err", err)
		if err := sleep(ctx, u.c.retry.backoff(stalls-1)); err != nil {
			return err
		}
	}
}

// stopped: Stop was closed, and what is left is more than the PUT that
// commits bytes all acknowledged.
func (u *upload) stopped() bool {
	select {
	case <-u.opts.Stop: // nil: never
		return u.loc == nil || u.status || u.session.Offset < u.d.Size
	default:
		return false
	}
}

// attempt sends one request: a status request, the POST, the PATCH of the
// rest, or the PUT that commits.
func (u *upload) attempt(ctx context.Context) error {
	switch {
	case u.loc == nil:
		return u.start(ctx)
	case u.status:
		return u.askStatus(ctx)
	case u.session.Offset < u.d.Size:
		return u.patch(ctx)
	default:
		return u.commit(ctx, false)
	}
}

// start opens a session (POST) and saves it.
func (u *upload) start(ctx context.Context) error {
	post := u.c.url("/v2/" + u.r.Repository() + "/blobs/uploads/")
	req, err := u.c.newBodyRequest(ctx, http.MethodPost, post, nil)
	if err != nil {
		return err
	}
	resp, err := u.c.do(req, u.r.Repository())
	if err != nil {
		return err
	}
	drain(resp)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST %s: unexpected status %s", redactURL(post), resp.Status)
	}
	u.origins = appendOrigin(u.origins, resp.Request.URL)
	loc, err := u.c.location(resp, post)
	if err != nil {
		return err
	}
	u.loc, u.session.URL, u.session.Offset, u.resuming = loc, loc.String(), 0, false
	u.chunk = 0
	if n, err := strconv.ParseInt(resp.Header.Get("OCI-Chunk-Min-Length"), 10, 64); err == nil && n > 0 && !u.c.noChunks.Load() {
		u.chunk = max(n, minChunk)
	}
	u.save(ctx)
	return nil
}

// minChunk is the smallest chunk sent, whatever a registry's
// OCI-Chunk-Min-Length: S3's smallest multipart part, which registries
// storing there need anyway.
const minChunk = 5 << 20

// noChunks stops chunked uploads to this registry, for this upload and the
// client's later ones.
func (u *upload) noChunks(why string) {
	if u.chunk > 0 {
		u.c.log.Debug("the registry mishandled a chunked upload; uploads go whole from now on", "registry", u.c.registry, "why", why)
	}
	u.chunk = 0
	u.c.noChunks.Store(true)
}

// askStatus asks the upload URL how many bytes the registry holds (GET, 204
// with Range).
func (u *upload) askStatus(ctx context.Context) error {
	req, err := u.c.newRequest(ctx, http.MethodGet, u.loc)
	if err != nil {
		return err
	}
	resp, err := u.c.do(req, u.r.Repository())
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Status == http.StatusRequestedRangeNotSatisfiable {
			// Distribution 2.8 once a request was cut: the session's state
			// no longer matches what it holds, and it cannot say how much.
			return fmt.Errorf("%w: %w", errSessionRefused, err)
		}
		return refusal(err)
	}
	drain(resp)
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("GET %s: unexpected status %s", redactURL(u.loc), resp.Status)
	}
	n, ok := rangeEnd(resp.Header.Get("Range"))
	if !ok || n > u.d.Size {
		return fmt.Errorf("%w: its status answered Range %q", errSessionRefused, resp.Header.Get("Range"))
	}
	u.status = false
	return u.acknowledge(ctx, resp, n)
}

// patch sends the rest of the blob from the acknowledged offset: in one
// streamed PATCH, or, where the registry announced OCI-Chunk-Min-Length, the
// next chunk. The first PATCH of a session goes without Content-Range (the
// form every registry takes), any later one and every chunk with it, so that
// the registry refuses (416) a range that does not start where its bytes end.
func (u *upload) patch(ctx context.Context) error {
	off, end := u.session.Offset, u.d.Size
	chunked := u.chunk > 0 && !u.c.noChunks.Load() && end-off > u.chunk
	if !chunked && !u.resuming && off == 0 && end <= maxWhole {
		return u.commit(ctx, true)
	}
	if chunked {
		end = off + u.chunk
	}
	body, err := u.src.Open(ctx, off)
	if err != nil {
		return fmt.Errorf("reading the blob from byte %d: %w", off, err)
	}
	defer body.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPatch, u.loc.String(), u.sendBody(body, off, end))
	if err != nil {
		return err
	}
	req.ContentLength = end - off
	req.Header.Set("Content-Type", "application/octet-stream")
	if u.resuming || chunked {
		req.Header.Set("Content-Range", strconv.FormatInt(off, 10)+"-"+strconv.FormatInt(end-1, 10))
	}
	u.resuming = true
	resp, err := u.c.do(req, u.r.Repository(), http.StatusCreated)
	if err != nil {
		u.status = true // whatever happened, the registry knows how much it kept
		if e := (*Error)(nil); chunked && errors.As(err, &e) && e.Status == http.StatusRequestedRangeNotSatisfiable {
			u.noChunks("416 to a chunk")
		}
		return refusal(err)
	}
	drain(resp)
	if resp.StatusCode == http.StatusCreated {
		return u.committedEarly(ctx)
	}
	return u.patched(ctx, resp, off, end, chunked)
}

// committedEarly handles a 201 to a PATCH. A registry that committed the
// blob there (none should) holds it, as a HEAD says; if not, the session is
// gone.
func (u *upload) committedEarly(ctx context.Context) error {
	u.noChunks("201 before the last chunk")
	if ok, err := u.c.blobExists(ctx, u.r, u.d); err == nil && ok {
		u.done = true
		return nil
	}
	return fmt.Errorf("%w: PATCH answered 201 without the blob being there", errSessionRefused)
}

// patched takes the 202 to a PATCH of bytes off to end.
func (u *upload) patched(ctx context.Context, resp *http.Response, off, end int64, chunked bool) error {
	n, ok := rangeEnd(resp.Header.Get("Range"))
	switch {
	case !ok && chunked:
		u.noChunks("no Range after a chunk")
		u.status = true
		return fmt.Errorf("PATCH %s: the registry acknowledged a chunk without Range", redactURL(u.loc))
	case !ok:
		// No Range after the whole rest: trust nothing; the PUT's digest check decides.
		n = u.d.Size
	case n == 0 && off == 0 && end == 1:
		n = 1 // "0-0" after the one byte of a 1-byte blob (see rangeEnd)
	}
	if n > u.d.Size {
		return fmt.Errorf("PATCH %s: the registry acknowledged %d bytes of a %d-byte blob", redactURL(u.loc), n, u.d.Size)
	}
	if err := u.acknowledge(ctx, resp, n); err != nil {
		return err
	}
	if n <= off {
		u.noChunks("a Range that did not advance")
		return fmt.Errorf("PATCH %s: the registry acknowledged no byte past %d (Range %q)", redactURL(u.loc), off, resp.Header.Get("Range"))
	}
	return nil
}

// maxWhole is the largest blob sent in the PUT that commits it (POST, PUT
// with the body: the spec's monolithic upload, which containerd and regctl
// use for every blob), one request and one saved session fewer than a PATCH
// and a PUT. Larger blobs go as issue 21 asks, POST, one streamed PATCH,
// PUT: the PATCH's answer is an acknowledged point that Stop can end at and
// a later run resume from without asking first, which is worth a request
// only when the blob is large.
const maxWhole = 16 << 20

// commit ends the session with PUT ?digest=; the registry checks the digest.
// With whole, the PUT carries the blob, from byte 0, in a session nothing was
// sent in: a cut PUT leaves the registry holding what it read, which the next
// attempt asks for and completes as for a cut PATCH.
func (u *upload) commit(ctx context.Context, whole bool) error {
	put := *u.loc
	q := put.Query()
	q.Set("digest", u.d.Digest.String())
	put.RawQuery = q.Encode()
	req, err := u.c.newBodyRequest(ctx, http.MethodPut, &put, nil)
	if whole {
		var body io.ReadCloser
		if body, err = u.src.Open(ctx, 0); err != nil {
			return fmt.Errorf("reading the blob: %w", err)
		}
		defer body.Close()
		u.resuming = true // what follows a cut PUT goes with Content-Range
		if req, err = http.NewRequestWithContext(ctx, http.MethodPut, put.String(), u.sendBody(body, 0, u.d.Size)); err == nil {
			req.ContentLength = u.d.Size
			req.Header.Set("Content-Type", "application/octet-stream")
		}
	}
	if err != nil {
		return err
	}
	resp, err := u.c.do(req, u.r.Repository())
	if err != nil {
		return u.commitFailed(ctx, err)
	}
	drain(resp)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("PUT %s: unexpected status %s", redactURL(&put), resp.Status)
	}
	if h := strings.TrimSpace(resp.Header.Get("Docker-Content-Digest")); h != "" && digest.Digest(h) != u.d.Digest {
		return fmt.Errorf("PUT %s: the registry committed the blob as %s", redactURL(&put), h)
	}
	u.done = true
	if whole && u.opts.Progress != nil {
		u.opts.Progress(u.d.Size)
	}
	return nil
}

// commitFailed takes a PUT's failure.
func (u *upload) commitFailed(ctx context.Context, err error) error {
	var e *Error
	if errors.As(err, &e) && (e.Status == http.StatusNotFound || e.Is(ErrBlobUploadUnknown)) {
		// A PUT that was cut after the registry committed: the blob is there.
		if ok, herr := u.c.blobExists(ctx, u.r, u.d); herr == nil && ok {
			u.done = true
			return nil
		}
	}
	if errors.As(err, &e) && (e.Is(ErrDigestInvalid) || e.Is(ErrSizeInvalid)) {
		// The bytes sent are not the blob's: a later run must not
		// resume after them.
		u.discard(ctx)
		return fmt.Errorf("the registry refused the bytes sent as blob %s (a source that changed, or a descriptor that is wrong): %w", u.d.Digest, err)
	}
	u.status = true
	return refusal(err)
}

// sendBody is the request body of the blob's bytes off to end, read from
// body. Up to the blob's end it is an exactBody, which holds the last bytes
// back unless the source, read past them, ends cleanly: a source that
// verifies (Blob) has by then judged the blob.
func (u *upload) sendBody(body io.Reader, off, end int64) io.Reader {
	if end < u.d.Size {
		return io.LimitReader(body, end-off)
	}
	// Only a Reader: the request must not close body, which this upload owns.
	return struct{ io.Reader }{&exactBody{rc: io.NopCloser(body), left: end - off, size: u.d.Size, what: "blob " + string(u.d.Digest)}}
}

// discard forgets the session and deletes it at the registry, best effort:
// what it holds is not the blob's.
func (u *upload) discard(ctx context.Context) {
	u.forget(ctx)
	if u.loc != nil {
		u.c.cancelUpload(ctx, u.r, u.loc)
	}
}

// sourceFailed: err is the source's bytes failing their size or digest.
func sourceFailed(err error) bool {
	var de *image.DigestError
	var se *image.SizeError
	return errors.As(err, &de) || errors.As(err, &se)
}

// acknowledge takes the offset the registry acknowledged and its newest
// Location, and saves the session.
func (u *upload) acknowledge(ctx context.Context, resp *http.Response, n int64) error {
	u.origins = appendOrigin(u.origins, resp.Request.URL)
	if resp.Header.Get("Location") != "" {
		loc, err := u.c.location(resp, u.loc)
		if err != nil {
			return err
		}
		if !u.allowed(loc) {
			return fmt.Errorf("%s %s: the registry sent the upload to %s, another origin", resp.Request.Method, redactURL(u.loc), redactURL(loc))
		}
		u.loc, u.session.URL = loc, loc.String()
	}
	grew := n > u.session.Offset
	u.session.Offset = n
	u.save(ctx)
	if grew && u.opts.Progress != nil {
		u.opts.Progress(n)
	}
	return nil
}

// allowed: the registry's own origin, or one it redirected this upload to.
func (u *upload) allowed(loc *url.URL) bool {
	o := loc.Scheme + "://" + loc.Host
	if o == u.c.base.Scheme+"://"+u.c.base.Host {
		return true
	}
	for _, a := range u.origins {
		if a == o {
			return true
		}
	}
	return false
}

func appendOrigin(origins []string, u *url.URL) []string {
	o := u.Scheme + "://" + u.Host
	for _, a := range origins {
		if a == o {
			return origins
		}
	}
	return append(origins, o)
}

// save records the session; a failure to save costs only the resumption.
func (u *upload) save(ctx context.Context) {
	if u.opts.Sessions == nil {
		return
	}
	u.session.Updated = u.c.now().UTC()
	if err := u.opts.Sessions.Save(ctx, u.session); err != nil {
		u.c.log.Debug("could not save the upload session", "blob", u.d.Digest, "err", err)
	}
}

func (u *upload) forget(ctx context.Context) {
	if u.opts.Sessions == nil {
		return
	}
	if err := u.opts.Sessions.Remove(ctx, u.session); err != nil {
		u.c.log.Debug("could not remove the upload session", "blob", u.d.Digest, "err", err)
	}
}

// location resolves resp's Location against the URL asked (resp.Request.URL
// after redirects), as RFC 9110 says.
func (c *Client) location(resp *http.Response, asked *url.URL) (*url.URL, error) {
	h := resp.Header.Get("Location")
	if h == "" {
		return nil, fmt.Errorf("%s %s: the registry answered %s without a Location", resp.Request.Method, redactURL(asked), resp.Status)
	}
	base := asked
	if resp.Request != nil && resp.Request.URL != nil {
		base = resp.Request.URL
	}
	loc, err := base.Parse(h)
	if err != nil || (loc.Scheme != "http" && loc.Scheme != "https") || loc.Host == "" {
		return nil, fmt.Errorf("%s %s: the registry answered an unusable Location %q", resp.Request.Method, redactURL(asked), h)
	}
	if loc.Scheme == "http" && c.base.Scheme == "https" && loc.Host == c.base.Host {
		// A loopback registry that speaks plain HTTP names its own URLs with
		// http; above the plain fallback layer its requests keep https (the
		// auth layer's origin), and that layer sends them as http again. A
		// registry that speaks TLS gets the upgrade it should have asked for.
		loc.Scheme = "https"
	}
	return loc, nil
}

// rangeEnd reads an upload's Range, "0-N" (or "bytes=0-N"), as the N+1 bytes
// held. Distribution writes "0-0" for an empty session, so "0-0" is taken as
// nothing held: at worst one byte is sent again, and refused with a 416.
func rangeEnd(v string) (int64, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "bytes=")
	s, e, ok := strings.Cut(v, "-")
	if !ok || s != "0" {
		return 0, false
	}
	end, err := strconv.ParseInt(e, 10, 64)
	if err != nil || end < 0 || end == 1<<63-1 {
		return 0, false
	}
	if end == 0 {
		return 0, true
	}
	return end + 1, true
}

// refusal marks the answers that mean the session is gone: 404
// (BLOB_UPLOAD_UNKNOWN), 400 BLOB_UPLOAD_INVALID (distribution's answer to a
// state it cannot resume), 410.
func refusal(err error) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	switch {
	case e.Status == http.StatusNotFound, e.Status == http.StatusGone, e.Is(ErrBlobUploadUnknown), e.Is(ErrBlobUploadInvalid):
		return fmt.Errorf("%w: %w", errSessionRefused, err)
	}
	return err
}

// uploadRetryable tells the failures an upload attempt may be followed by
// another: a dropped or stalled exchange, 408, 416 (its status is asked next),
// 429, 5xx, and a 401 that is no lack of scope (the token was refreshed).
func uploadRetryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		switch {
		case e.Status == http.StatusRequestedRangeNotSatisfiable, retryableStatus(e.Status):
			return true
		case e.Status == http.StatusUnauthorized:
			return e.ChallengeError != "insufficient_scope" && !e.Is(ErrDenied)
		}
		return false
	}
	var ce *ConnError
	if isTLSError(err) || errors.As(err, &ce) || errors.Is(err, context.Canceled) {
		return false // as for every request: a failed dial or handshake is not tried again soon
	}
	return true // the connection dropped, the body stalled, the source failed to read
}

// sendingBody keeps idleRT's timer from running while a request body is
// being read: an upload's body takes as long as it takes, and what idle means
// for it is the server not taking bytes. The timer is stopped during each
// Read of the body (the source's own time) and restarted after it; a server
// that stops reading leaves it running, and the exchange ends with errIdle.
type sendingBody struct {
	rc      io.ReadCloser
	timer   *time.Timer
	timeout time.Duration
	mu      sync.Mutex
}

func (b *sendingBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	b.timer.Stop()
	b.mu.Unlock()
	n, err := b.rc.Read(p)
	b.mu.Lock()
	b.timer.Reset(b.timeout)
	b.mu.Unlock()
	return n, err
}

func (b *sendingBody) Close() error { return b.rc.Close() }

// watchBody makes req's body, if any, a sendingBody on timer (see idleRT).
func watchBody(req *http.Request, timer *time.Timer, timeout time.Duration) *http.Request {
	if req.Body == nil || req.Body == http.NoBody {
		return req
	}
	r := req.Clone(req.Context())
	r.Body = &sendingBody{rc: req.Body, timer: timer, timeout: timeout}
	return r
}
