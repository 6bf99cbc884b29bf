package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
)

// BlobExists asks the registry (HEAD, which Docker Hub does not count as a
// pull) whether r's repository holds blob d. A registry that says the blob
// has another size than d's is an error: the two cannot both be right.
func (c *Client) BlobExists(ctx context.Context, r ref.Reference, d image.Descriptor) (bool, error) {
	if err := c.checkRef(r); err != nil {
		return false, err
	}
	if err := image.ValidateDescriptor(d); err != nil {
		return false, fmt.Errorf("checking for blob %s in %s: %w", d.Digest, r.Name(), err)
	}
	ok, err := c.blobExists(ctx, r, d)
	if err != nil {
		return false, fmt.Errorf("checking for blob %s in %s: %w", d.Digest, r.Name(), err)
	}
	return ok, nil
}

func (c *Client) blobExists(ctx context.Context, r ref.Reference, d image.Descriptor) (bool, error) {
	req, err := c.newRequest(ctx, http.MethodHead, c.url("/v2/"+r.Repository()+"/blobs/"+d.Digest.String()))
	if err != nil {
		return false, err
	}
	resp, err := c.do(req, r.Repository(), http.StatusNotFound)
	if err != nil {
		return false, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if resp.ContentLength >= 0 && resp.Header.Get("Content-Length") != "" && resp.ContentLength != d.Size {
		return false, &image.SizeError{What: "blob " + string(d.Digest), Want: d.Size, Got: resp.ContentLength}
	}
	return true, nil
}

// MountBlob asks the registry to link blob d from the repository of from
// (same registry) into r's, without sending its bytes: the token asked for
// carries push and pull on r's repository and pull on from's, in one request.
// It reports whether the blob was mounted (201). A registry that answers 202
// has started an upload instead (it does not mount, or does not let this
// user read from): that session is cancelled with DELETE, best effort, and
// MountBlob returns false, so that the caller pushes the blob with PushBlob,
// whose session it owns and can keep across runs.
func (c *Client) MountBlob(ctx context.Context, r ref.Reference, d image.Descriptor, from ref.Reference) (bool, error) {
	what := fmt.Sprintf("mounting blob %s from %s into %s", d.Digest, from.Name(), r.Name())
	if err := image.ValidateDescriptor(d); err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	if err := c.checkRef(r); err != nil {
		return false, err
	}
	if err := c.checkRef(from); err != nil {
		return false, fmt.Errorf("%s: a blob mounts only within one registry: %w", what, err)
	}
	u := c.url("/v2/" + r.Repository() + "/blobs/uploads/")
	u.RawQuery = url.Values{"mount": {d.Digest.String()}, "from": {from.Repository()}}.Encode()
	req, err := c.newBodyRequest(ctx, http.MethodPost, u, nil)
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	resp, err := c.do(req, r.Repository())
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	drain(resp)
	switch resp.StatusCode {
	case http.StatusCreated:
		return true, nil
	case http.StatusAccepted:
		if loc, err := c.location(resp, u); err == nil {
			c.cancelUpload(ctx, r, loc)
		}
		return false, nil
	}
	return false, fmt.Errorf("%s: unexpected status %s", what, resp.Status)
}

// cancelUpload deletes an upload session the client will not use, best
// effort: a registry expires abandoned sessions in any case.
func (c *Client) cancelUpload(ctx context.Context, r ref.Reference, loc *url.URL) {
	req, err := c.newRequest(ctx, http.MethodDelete, loc)
	if err != nil {
		return
	}
	if resp, err := c.do(req, r.Repository()); err == nil {
		drain(resp)
	}
}

// PushManifest puts body, exactly as given, as r's tag or digest, with
// mediaType as its Content-Type, and returns its digest (sha256 of body, or
// the algorithm of r's pinned digest, which body must match). The registry's
// Docker-Content-Digest, when sent, must be the same.
func (c *Client) PushManifest(ctx context.Context, r ref.Reference, body []byte, mediaType string) (digest.Digest, error) {
	d, _, err := c.putManifest(ctx, r, body, mediaType)
	return d, err
}

// putManifest is PushManifest, with the headers of the registry's answer.
func (c *Client) putManifest(ctx context.Context, r ref.Reference, body []byte, mediaType string) (digest.Digest, http.Header, error) {
	if err := c.checkRef(r); err != nil {
		return "", nil, err
	}
	what := "pushing manifest " + r.String()
	if r.Tag() == "" && r.Digest() == "" {
		return "", nil, fmt.Errorf("%s: no tag or digest to push it as", what)
	}
	if len(body) > MaxManifestSize {
		return "", nil, fmt.Errorf("%s: %d bytes, over the limit of %d", what, len(body), MaxManifestSize)
	}
	dgst := digest.FromBytes(body)
	if pinned := r.Digest(); pinned != "" {
		if err := image.ValidateDigest(pinned); err != nil {
			return "", nil, fmt.Errorf("%s: %w", what, err)
		}
		if got := pinned.Algorithm().FromBytes(body); got != pinned {
			return "", nil, fmt.Errorf("%s: %w", what, &image.DigestError{What: "manifest " + r.String(), Want: pinned, Got: got})
		}
		dgst = pinned
	}
	req, err := c.newBodyRequest(ctx, http.MethodPut, c.url("/v2/"+r.Repository()+"/manifests/"+r.Identifier()), body)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", what, err)
	}
	req.Header.Set("Content-Type", mediaType)
	resp, err := c.do(req, r.Repository())
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", what, mediaTypeRefused(err, mediaType))
	}
	drain(resp)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("%s: unexpected status %s", what, resp.Status)
	}
	if h := resp.Header.Get("Docker-Content-Digest"); h != "" {
		if err := checkManifestDigest(body, "", h, r.String()); err != nil {
			return "", nil, fmt.Errorf("%s: the registry stored other bytes: %w", what, err)
		}
	}
	return dgst, resp.Header, nil
}

// MediaTypeError is a registry's refusal of a manifest's media type (415, or
// 400 MANIFEST_INVALID for an OCI type): registries older than the OCI
// specs accept only Docker's.
type MediaTypeError struct {
	MediaType string
	Err       *Error
}

func (e *MediaTypeError) Error() string {
	return fmt.Sprintf("the registry refused media type %s: %v", e.MediaType, e.Err)
}

func (e *MediaTypeError) Unwrap() error { return e.Err }

// mediaTypeRefused names the media type in a refusal that is about it.
func mediaTypeRefused(err error, mediaType string) error {
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	oci := strings.HasPrefix(mediaType, "application/vnd.oci.")
	if e.Status == http.StatusUnsupportedMediaType || (oci && e.Status == http.StatusBadRequest && e.Is(ErrManifestInvalid)) {
		return &MediaTypeError{MediaType: mediaType, Err: e}
	}
	return err
}

// newBodyRequest is newRequest with b as its body (nil: empty), which the
// auth layer may send again after a 401.
func (c *Client) newBodyRequest(ctx context.Context, method string, u *url.URL, b []byte) (*http.Request, error) {
	return http.NewRequestWithContext(ctx, method, u.String(), bytes.NewReader(b))
}

// drain reads what is left of a small answer and closes it, so that its
// connection can be used again.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
}

// BlobSource reads blob d of r's repository on this registry for PushBlob
// into another: from byte 0 as Blob does, verified; from an offset with a
// Range request, whose bytes only the destination's digest check at the end
// verifies (the bytes they complete are there, not here). A registry that
// ignores Range has the bytes before the offset skipped.
func (c *Client) BlobSource(r ref.Reference, d image.Descriptor) BlobSource {
	return BlobSourceFunc(func(ctx context.Context, offset int64) (io.ReadCloser, error) {
		if err := c.checkRef(r); err != nil {
			return nil, err
		}
		if offset == 0 {
			return c.Blob(ctx, r, d)
		}
		rc, err := c.blobRange(ctx, r, d, offset)
		if err != nil {
			return nil, fmt.Errorf("fetching blob %s of %s from byte %d: %w", d.Digest, r.Name(), offset, err)
		}
		return rc, nil
	})
}

func (c *Client) blobRange(ctx context.Context, r ref.Reference, d image.Descriptor, offset int64) (io.ReadCloser, error) {
	if err := image.ValidateDescriptor(d); err != nil {
		return nil, err
	}
	if offset < 0 || offset > d.Size {
		return nil, fmt.Errorf("offset %d is outside the blob's %d bytes", offset, d.Size)
	}
	if offset == d.Size {
		return io.NopCloser(strings.NewReader("")), nil // a Range past the end is a 416
	}
	req, err := c.newRequest(ctx, http.MethodGet, c.url("/v2/"+r.Repository()+"/blobs/"+d.Digest.String()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	resp, err := c.do(req, r.Repository())
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, total, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != offset || (total >= 0 && total != d.Size) {
			resp.Body.Close()
			return nil, fmt.Errorf("the registry answered Content-Range %q", resp.Header.Get("Content-Range"))
		}
	case http.StatusOK:
		if _, err := io.CopyN(io.Discard, resp.Body, offset); err != nil {
			resp.Body.Close()
			return nil, fmt.Errorf("skipping the %d bytes before the offset (the registry ignored Range): %w", offset, err)
		}
	default:
		drain(resp)
		return nil, fmt.Errorf("unexpected status %s", resp.Status)
	}
	return &exactBody{rc: resp.Body, left: d.Size - offset, size: d.Size, what: "blob " + string(d.Digest)}, nil
}

// exactBody yields exactly left bytes of rc, the last of a blob of size
// bytes: fewer is io.ErrUnexpectedEOF, more an error. It reads rc past its
// last byte in the Read that would hand that byte on, and hands it on only if
// rc ends there cleanly: a verifying rc (Blob's) judges the blob at its end,
// so an upload whose source fails the check never gives the registry the
// whole blob, which the registry could commit before the client gave up.
type exactBody struct {
	rc   io.ReadCloser
	left int64
	size int64
	what string
}

func (b *exactBody) Read(p []byte) (int, error) {
	if b.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	switch {
	case err == io.EOF && b.left > 0:
		return n, io.ErrUnexpectedEOF
	case err == io.EOF:
		return n, nil // rc ended with its last bytes, and so judged them
	case err != nil && b.left == 0:
		return 0, err // rc judged the blob with its last bytes: they are held back
	case err != nil:
		return n, err
	case b.left == 0:
		if err := b.end(); err != nil {
			return 0, err // the last bytes are held back
		}
	}
	return n, nil
}

// end reads rc past the blob's last byte: it must end there, cleanly.
func (b *exactBody) end() error {
	var one [1]byte
	for range maxEmptyReads {
		n, err := b.rc.Read(one[:])
		switch {
		case n > 0:
			return &image.SizeError{What: b.what, Want: b.size, Got: b.size + 1}
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
	return fmt.Errorf("%s: %w after the blob's %d bytes", b.what, io.ErrNoProgress, b.size)
}

// maxEmptyReads is how many reads in a row may return nothing (io.Reader
// allows it) before a stream counts as stuck, as bufio counts them.
const maxEmptyReads = 100

func (b *exactBody) Close() error { return b.rc.Close() }
