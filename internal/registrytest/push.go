package registrytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Push uploads img to repoTag ("team/app:1"; no tag: latest; "team/app@sha256:…"
// or "team/app@" to push by digest only) over HTTP, as a client would: blobs by
// POST then PUT with the digest, then the manifest. It authenticates with a
// token it mints itself (or as Alice with BasicAuth), so the token server's log
// is untouched, and it bypasses Wrap.
func (r *Registry) Push(ctx context.Context, repoTag string, img Image) (Pushed, error) {
	repo, ref := splitRef(repoTag)
	b, err := buildImage(img)
	if err != nil {
		return Pushed{}, fmt.Errorf("pushing %s: %w", repoTag, err)
	}
	if err := r.pushBuilt(ctx, repo, ref, b); err != nil {
		return Pushed{}, fmt.Errorf("pushing %s: %w", repoTag, err)
	}
	return b.Pushed, nil
}

// MustPush is Push that fails the test on error.
func (r *Registry) MustPush(t testing.TB, repoTag string, img Image) Pushed {
	t.Helper()
	p, err := r.Push(t.Context(), repoTag, img)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return p
}

// PushIndex pushes each image of idx by digest, then the index (OCI image index
// or Docker manifest list) at repoTag.
func (r *Registry) PushIndex(ctx context.Context, repoTag string, idx IndexSpec) (Pushed, error) {
	repo, ref := splitRef(repoTag)
	fail := func(err error) (Pushed, error) { return Pushed{}, fmt.Errorf("pushing index %s: %w", repoTag, err) }
	var children, attestations []Pushed
	for i, img := range idx.Images {
		img.OCI = idx.OCI
		b, err := buildImage(img)
		if err != nil {
			return fail(fmt.Errorf("image %d: %w", i, err))
		}
		if err := r.pushBuilt(ctx, repo, "", b); err != nil {
			return fail(err)
		}
		children = append(children, b.Pushed)
		if !idx.Attestation {
			continue
		}
		a, err := buildAttestation(b.Digest, b.Platform)
		if err != nil {
			return fail(fmt.Errorf("attestation %d: %w", i, err))
		}
		if err := r.pushBuilt(ctx, repo, "", a); err != nil {
			return fail(err)
		}
		attestations = append(attestations, a.Pushed)
	}

	index := ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: MediaTypeDockerManifestList,
		Manifests: []ocispec.Descriptor{},
	}
	if idx.OCI {
		index.MediaType = ocispec.MediaTypeImageIndex
	}
	for _, c := range children {
		index.Manifests = append(index.Manifests, c.Descriptor())
	}
	for i, a := range attestations {
		d := a.Descriptor()
		d.Annotations = map[string]string{
			AnnotationReferenceDigest: children[i].Digest.String(),
			AnnotationReferenceType:   "attestation-manifest",
		}
		index.Manifests = append(index.Manifests, d)
	}
	raw, err := json.MarshalIndent(index, "", "   ")
	if err != nil {
		return fail(err)
	}
	if _, err := r.PushManifest(ctx, repo, ref, index.MediaType, raw); err != nil {
		return fail(err)
	}
	return Pushed{
		Digest:    digest.FromBytes(raw),
		MediaType: index.MediaType,
		Manifest:  raw,
		Size:      int64(len(raw)),
		Manifests: append(children, attestations...),
	}, nil
}

// MustPushIndex is PushIndex that fails the test on error.
func (r *Registry) MustPushIndex(t testing.TB, repoTag string, idx IndexSpec) Pushed {
	t.Helper()
	p, err := r.PushIndex(t.Context(), repoTag, idx)
	if err != nil {
		t.Fatalf("registrytest: %v", err)
	}
	return p
}

func (r *Registry) pushBuilt(ctx context.Context, repo, ref string, b builtImage) error {
	for _, blob := range b.blobs {
		if _, err := r.PushBlob(ctx, repo, blob); err != nil {
			return err
		}
	}
	_, err := r.PushManifest(ctx, repo, ref, b.MediaType, b.Manifest)
	return err
}

// PushBlob uploads body to repo unless it is there already, and returns its digest.
func (r *Registry) PushBlob(ctx context.Context, repo string, body []byte) (digest.Digest, error) {
	d := digest.FromBytes(body)
	fail := func(err error) (digest.Digest, error) {
		return "", fmt.Errorf("uploading blob %s to %s: %w", d, repo, err)
	}
	resp, err := r.do(ctx, http.MethodHead, r.URL()+"/v2/"+repo+"/blobs/"+d.String(), repo, "", nil)
	if err != nil {
		return fail(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return d, nil
	}

	resp, err = r.do(ctx, http.MethodPost, r.URL()+"/v2/"+repo+"/blobs/uploads/", repo, "", nil)
	if err != nil {
		return fail(err)
	}
	if err := expect(resp, http.StatusAccepted); err != nil {
		return fail(err)
	}
	loc, err := resp.Location()
	if err != nil {
		return fail(fmt.Errorf("upload location: %w", err))
	}
	q := loc.Query()
	q.Set("digest", d.String())
	loc.RawQuery = q.Encode()

	resp, err = r.do(ctx, http.MethodPut, loc.String(), repo, "application/octet-stream", body)
	if err != nil {
		return fail(err)
	}
	if err := expect(resp, http.StatusCreated); err != nil {
		return fail(err)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != d.String() {
		return fail(fmt.Errorf("registry says digest %q", got))
	}
	return d, nil
}

// PushManifest puts body as a manifest of mediaType at repo:ref (ref "": by
// digest) and returns its digest, checked against the registry's.
func (r *Registry) PushManifest(ctx context.Context, repo, ref, mediaType string, body []byte) (digest.Digest, error) {
	d := digest.FromBytes(body)
	if ref == "" {
		ref = d.String()
	}
	fail := func(err error) (digest.Digest, error) {
		return "", fmt.Errorf("putting manifest %s:%s: %w", repo, ref, err)
	}
	resp, err := r.do(ctx, http.MethodPut, r.URL()+"/v2/"+repo+"/manifests/"+ref, repo, mediaType, body)
	if err != nil {
		return fail(err)
	}
	if err := expect(resp, http.StatusCreated); err != nil {
		return fail(err)
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != d.String() {
		return fail(fmt.Errorf("registry says digest %q, want %s", got, d))
	}
	return d, nil
}

// do sends one of the helper's own requests, authenticated for push to repo.
func (r *Registry) do(ctx context.Context, method, u, repo, contentType string, body []byte) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set(helperHeader, r.helper)
	switch {
	case r.cfg.TokenAuth:
		tok, err := r.MintToken(Alice, 0, "repository:"+repo+":pull,push")
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	case r.cfg.BasicAuth:
		req.SetBasicAuth(Alice, AlicePassword)
	}
	return r.client.Do(req)
}

// expect closes resp's body and fails unless it has status want.
func expect(resp *http.Response, want int) error {
	defer resp.Body.Close()
	if resp.StatusCode == want {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	return fmt.Errorf("%s %s: %s: %s", resp.Request.Method, resp.Request.URL.Redacted(), resp.Status, strings.TrimSpace(string(msg)))
}

// splitRef splits "repo:tag" or "repo@digest"; "repo" alone means latest and
// "repo@" means by digest only (ref "").
func splitRef(s string) (repo, ref string) {
	if repo, ref, ok := strings.Cut(s, "@"); ok {
		return repo, ref
	}
	slash := strings.LastIndex(s, "/")
	if i := strings.LastIndex(s, ":"); i > slash {
		return s[:i], s[i+1:]
	}
	return s, "latest"
}
