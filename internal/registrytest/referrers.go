package registrytest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Artifact is a manifest that refers to another (a signature, an SBOM, an
// attestation), as OCI 1.1 artifacts are made: an image manifest with
// artifactType, the empty config, one layer holding Data, and a subject.
type Artifact struct {
	ArtifactType string
	// Subject is what it refers to; nil for none, as cosign's tags are made.
	Subject *ocispec.Descriptor
	Data    []byte
	// ConfigMediaType replaces the empty config ({}, of
	// application/vnd.oci.empty.v1+json) by Data's bytes under that media
	// type, as cosign's manifests (no artifactType) have.
	ConfigMediaType string
	// LayerMediaType is Data's media type; "": "application/octet-stream".
	LayerMediaType string
	Annotations    map[string]string
}

// PushArtifact pushes a's blobs and manifest to repoTag ("team/app@" by
// digest, or "team/app:sha256-….sig" under a tag).
func (r *Registry) PushArtifact(ctx context.Context, repoTag string, a Artifact) (Pushed, error) {
	repo, tag := splitRef(repoTag)
	cfg, cfgType := []byte("{}"), ocispec.MediaTypeEmptyJSON
	if a.ConfigMediaType != "" {
		cfg, cfgType = a.Data, a.ConfigMediaType
	}
	lt := a.LayerMediaType
	if lt == "" {
		lt = "application/octet-stream"
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: a.ArtifactType,
		Config:       ocispec.Descriptor{MediaType: cfgType, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers:       []ocispec.Descriptor{{MediaType: lt, Digest: digest.FromBytes(a.Data), Size: int64(len(a.Data))}},
		Subject:      a.Subject,
		Annotations:  a.Annotations,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return Pushed{}, err
	}
	for _, b := range [][]byte{cfg, a.Data} {
		if _, err := r.PushBlob(ctx, repo, b); err != nil {
			return Pushed{}, err
		}
	}
	if _, err := r.PushManifest(ctx, repo, tag, m.MediaType, raw); err != nil {
		return Pushed{}, err
	}
	return Pushed{Digest: digest.FromBytes(raw), MediaType: m.MediaType, Manifest: raw, Size: int64(len(raw)),
		Config: m.Config, Layers: m.Layers}, nil
}

// ReferrerDescriptor is p as a referrers list names it: with artifactType
// and the manifest's annotations.
func ReferrerDescriptor(p Pushed, a Artifact) ocispec.Descriptor {
	d := ocispec.Descriptor{MediaType: p.MediaType, Digest: p.Digest, Size: p.Size, ArtifactType: a.ArtifactType, Annotations: a.Annotations}
	if d.ArtifactType == "" {
		d.ArtifactType = p.Config.MediaType
	}
	return d
}

// PushFallbackIndex pushes an OCI index of refs under subject's fallback
// tag (sha256-<hex>), as a client keeps referrers in a registry without
// the referrers API (OCI distribution spec 1.1).
func (r *Registry) PushFallbackIndex(ctx context.Context, repo string, subject digest.Digest, refs []ocispec.Descriptor) (digest.Digest, error) {
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: refs}
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	raw, err := json.Marshal(idx)
	if err != nil {
		return "", err
	}
	return r.PushManifest(ctx, repo, subject.Algorithm().String()+"-"+subject.Encoded(), idx.MediaType, raw)
}

// ReferrersAPI serves GET /v2/<name>/referrers/<digest> in front of a
// registry that has no such API (distribution), from the referrers Add
// was told of, PageSize per page with a Link to the next, filtered by
// artifactType when asked (saying so in OCI-Filters-Applied). A request
// is authorized as a HEAD of the subject would be: the real registry's
// 401 and challenge are relayed.
type ReferrersAPI struct {
	PageSize int // <= 0: all on one page
	// Requests counts the requests served (or refused) here.
	Requests atomic.Int64

	mu   sync.Mutex
	refs map[string][]ocispec.Descriptor // "repo@digest"
}

// Add lists d as a referrer of subject in repo.
func (a *ReferrersAPI) Add(repo string, subject digest.Digest, d ocispec.Descriptor) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.refs == nil {
		a.refs = map[string][]ocispec.Descriptor{}
	}
	k := repo + "@" + subject.String()
	a.refs[k] = append(a.refs[k], d)
}

// Wrap is a middleware for Registry.Wrap: it answers the referrers API and
// passes every other request to next.
func (a *ReferrersAPI) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if repo, _, ok := strings.Cut(strings.TrimPrefix(req.URL.Path, "/v2/"), "/manifests/"); ok && req.Method == http.MethodPut {
			a.put(w, req, next, repo)
			return
		}
		repo, subject, ok := strings.Cut(strings.TrimPrefix(req.URL.Path, "/v2/"), "/referrers/")
		if !ok || req.Method != http.MethodGet || !strings.HasPrefix(req.URL.Path, "/v2/") {
			next.ServeHTTP(w, req)
			return
		}
		a.Requests.Add(1)
		head := req.Clone(req.Context())
		head.Method = http.MethodHead
		head.URL = &url.URL{Path: "/v2/" + repo + "/manifests/" + subject}
		head.RequestURI = head.URL.Path
		if rec := Record(next, head); rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
			CopyHeader(w, rec)
			w.WriteHeader(rec.Code)
			return
		}
		a.serve(w, req, repo, subject)
	})
}

// put passes a manifest PUT on; once the registry has stored a manifest
// that names a subject, it lists it and answers OCI-Subject, as a registry
// with the referrers API does.
func (a *ReferrersAPI) put(w http.ResponseWriter, req *http.Request, next http.Handler, repo string) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 4<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	rec := Record(next, req)
	var m struct {
		ocispec.Manifest
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if rec.Code == http.StatusCreated && json.Unmarshal(body, &m) == nil && m.Subject != nil {
		d := ocispec.Descriptor{MediaType: req.Header.Get("Content-Type"), Digest: digest.FromBytes(body), Size: int64(len(body)),
			ArtifactType: m.ArtifactType, Annotations: m.Annotations}
		if d.ArtifactType == "" && m.Manifests == nil {
			d.ArtifactType = m.Config.MediaType
		}
		a.Add(repo, m.Subject.Digest, d)
		w.Header().Set("OCI-Subject", m.Subject.Digest.String())
	}
	CopyHeader(w, rec)
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

func (a *ReferrersAPI) serve(w http.ResponseWriter, req *http.Request, repo, subject string) {
	a.mu.Lock()
	all := append([]ocispec.Descriptor(nil), a.refs[repo+"@"+subject]...)
	a.mu.Unlock()
	q := req.URL.Query()
	if at := q.Get("artifactType"); at != "" {
		var kept []ocispec.Descriptor
		for _, d := range all {
			if d.ArtifactType == at {
				kept = append(kept, d)
			}
		}
		all = kept
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	page, _ := strconv.Atoi(q.Get("page"))
	if a.PageSize > 0 {
		from := min(page*a.PageSize, len(all))
		to := min(from+a.PageSize, len(all))
		if to < len(all) {
			q.Set("page", strconv.Itoa(page+1))
			w.Header().Set("Link", fmt.Sprintf(`</v2/%s/referrers/%s?%s>; rel="next"`, repo, subject, q.Encode()))
		}
		all = all[from:to]
	}
	idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: all}
	if idx.Manifests == nil {
		idx.Manifests = []ocispec.Descriptor{}
	}
	raw, err := json.Marshal(idx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	w.Write(raw)
}
