package registry_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/registry"
)

var linuxAMD64 = image.Platform{OS: "linux", Architecture: "amd64"}

// pushIndex pushes an OCI index of entries to repo (by digest when tag is "")
// and returns its descriptor, with a linux/amd64 platform for use as an entry.
func pushIndex(t *testing.T, reg *registrytest.Registry, repo, tag string, entries ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	raw, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: entries})
	if err != nil {
		t.Fatal(err)
	}
	d, err := reg.PushManifest(t.Context(), repo, tag, ocispec.MediaTypeImageIndex, raw)
	if err != nil {
		t.Fatal(err)
	}
	pl := ocispec.Platform{OS: "linux", Architecture: "amd64"}
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: d, Size: int64(len(raw)), Platform: &pl}
}

// nest pushes depth indexes, each the only entry of the next, over leaf; the
// outermost is tagged tag.
func nest(t *testing.T, reg *registrytest.Registry, repo, tag string, depth int, leaf ocispec.Descriptor) []ocispec.Descriptor {
	t.Helper()
	chain := []ocispec.Descriptor{leaf}
	for i := range depth {
		ref := ""
		if i == depth-1 {
			ref = tag
		}
		chain = append([]ocispec.Descriptor{pushIndex(t, reg, repo, ref, chain[0])}, chain...)
	}
	return chain
}

func TestResolveNestedIndexes(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	img := reg.MustPush(t, "nest/app@", registrytest.RandomImage(20, 1, 100))
	cl := newClient(t, reg, auth.Credential{})
	tests := []struct {
		depth   int
		wantErr string
	}{
		{depth: 1},
		{depth: 2},
		{depth: 8},
		{depth: 9, wantErr: "nested more than 8"},
		{depth: 10, wantErr: "nested more than 8"},
	}
	for _, tt := range tests {
		t.Run(strings.Repeat("index→", tt.depth)+"manifest", func(t *testing.T) {
			t.Parallel()
			tag := "depth" + strconv.Itoa(tt.depth)
			want := nest(t, reg, "nest/app", tag, tt.depth, img.Descriptor())
			chain, err := cl.Resolve(t.Context(), mustRef(t, reg.Ref("nest/app:"+tag)), linuxAMD64)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Resolve = %d manifests, %v; want an error containing %q", len(chain), err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(chain) != len(want) {
				t.Fatalf("chain of %d, want %d", len(chain), len(want))
			}
			for i, m := range chain {
				if m.Descriptor.Digest != want[i].Digest || m.Descriptor.MediaType != want[i].MediaType || m.Descriptor.Size != want[i].Size {
					t.Errorf("chain[%d] = %+v, want %+v", i, m.Descriptor, want[i])
				}
			}
			last := chain[len(chain)-1]
			if last.Parsed.Manifest == nil || !bytes.Equal(last.Body, img.Manifest) {
				t.Errorf("the chain does not end at the image manifest")
			}
		})
	}
}

func TestResolveEntryMediaTypeMismatch(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	img := reg.MustPush(t, "lie/app@", registrytest.RandomImage(21, 1, 100))
	inner := pushIndex(t, reg, "lie/app", "", img.Descriptor())
	claimsManifest := inner
	claimsManifest.MediaType = ocispec.MediaTypeImageManifest
	pushIndex(t, reg, "lie/app", "index-says-manifest", claimsManifest)
	claimsIndex := img.Descriptor()
	claimsIndex.MediaType = ocispec.MediaTypeImageIndex
	pushIndex(t, reg, "lie/app", "index-says-index", claimsIndex)

	cl := newClient(t, reg, auth.Credential{})
	for _, tc := range []struct{ tag, child, says, is string }{
		{"index-says-manifest", inner.Digest.String(), ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex},
		{"index-says-index", img.Digest.String(), ocispec.MediaTypeImageIndex, img.MediaType},
	} {
		t.Run(tc.tag, func(t *testing.T) {
			t.Parallel()
			_, err := cl.Resolve(t.Context(), mustRef(t, reg.Ref("lie/app:"+tc.tag)), linuxAMD64)
			if err == nil {
				t.Fatal("Resolve followed an entry whose media type lies")
			}
			for _, w := range []string{tc.child, tc.says, tc.is} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q does not name %q", err, w)
				}
			}
		})
	}
}

// TestResolveChildDigestMismatch serves other bytes for an index entry's
// digest, which no real registry can do, around the real handler.
func TestResolveChildDigestMismatch(t *testing.T) {
	t.Parallel()
	wantSizeError := func(t *testing.T, err error, child ocispec.Descriptor) {
		var se *image.SizeError
		if !errors.As(err, &se) || se.Want != child.Size || se.Got == child.Size {
			t.Fatalf("err = %v, want a *image.SizeError wanting %d", err, child.Size)
		}
	}
	tests := []struct {
		name                     string
		childLayers, otherLayers int
		chunked                  bool // no Content-Length: the size is found by reading
		bend                     func(child, other []byte) []byte
		check                    func(t *testing.T, err error, child ocispec.Descriptor)
	}{
		{name: "a shorter manifest", childLayers: 3, otherLayers: 1, bend: func(_, other []byte) []byte { return other }, check: wantSizeError},
		// A body longer than the entry's size is as much a size mismatch as a
		// shorter one, and callers tell it with errors.As, not the text.
		{name: "a longer manifest", childLayers: 1, otherLayers: 3, bend: func(_, other []byte) []byte { return other }, check: wantSizeError},
		{name: "a longer manifest, chunked", childLayers: 1, otherLayers: 3, chunked: true, bend: func(_, other []byte) []byte { return other },
			check: wantSizeError},
		{name: "same size, one byte changed", childLayers: 1, otherLayers: 1, bend: func(child, _ []byte) []byte {
			b := bytes.Clone(child)
			i := bytes.LastIndexByte(b, '0') // inside a digest or size: still the same length
			b[i] = '1'
			return b
		},
			check: func(t *testing.T, err error, child ocispec.Descriptor) {
				var de *image.DigestError
				if !errors.As(err, &de) || de.Want != child.Digest || de.Got == child.Digest {
					t.Fatalf("err = %v, want a *image.DigestError wanting %s", err, child.Digest)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
			child := reg.MustPush(t, "swap/app@", registrytest.RandomImage(22, tt.childLayers, 100))
			other := reg.MustPush(t, "swap/app:other", registrytest.RandomImage(23, tt.otherLayers, 100))
			pushIndex(t, reg, "swap/app", "1", child.Descriptor())
			cl := newClient(t, reg, auth.Credential{})
			var swapped atomic.Int32
			reg.Wrap(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/manifests/"+child.Digest.String()) {
						next.ServeHTTP(w, r)
						return
					}
					rec := registrytest.Record(next, r)
					if rec.Code != http.StatusOK {
						registrytest.CopyHeader(w, rec)
						w.WriteHeader(rec.Code)
						w.Write(rec.Body.Bytes())
						return
					}
					swapped.Add(1)
					w.Header().Set("Content-Type", child.MediaType)
					if tt.chunked {
						w.WriteHeader(http.StatusOK)
						w.(http.Flusher).Flush()
					}
					w.Write(tt.bend(rec.Body.Bytes(), other.Manifest))
				})
			})
			_, err := cl.Resolve(t.Context(), mustRef(t, reg.Ref("swap/app:1")), linuxAMD64)
			if swapped.Load() == 0 {
				t.Fatal("the child was never fetched")
			}
			if err == nil {
				t.Fatal("Resolve accepted bytes that are not the entry's")
			}
			if !strings.Contains(err.Error(), child.Digest.String()) {
				t.Errorf("err %q does not name the child %s", err, child.Digest)
			}
			if n := swapped.Load(); n != 1 {
				t.Errorf("the child was fetched %d times; bad bytes are not worth another try", n)
			}
			tt.check(t, err, child.Descriptor())
		})
	}
}

func TestManifestStallIsRequestedAgain(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(24, 1, 100))
	cl := newClient(t, reg, auth.Credential{}, func(c *registry.Config) { c.IdleTimeout = 200 * time.Millisecond })
	var served atomic.Int32
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/manifests/") {
				next.ServeHTTP(w, r)
				return
			}
			rec := registrytest.Record(next, r)
			registrytest.CopyHeader(w, rec)
			if rec.Code != http.StatusOK || served.Add(1) > 1 {
				w.WriteHeader(rec.Code)
				w.Write(rec.Body.Bytes())
				return
			}
			w.WriteHeader(http.StatusOK)
			w.Write(rec.Body.Bytes()[:rec.Body.Len()/2])
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
				t.Error("the client did not give up on a stalled manifest")
			}
		})
	})
	start := time.Now()
	m, err := cl.Manifest(t.Context(), mustRef(t, reg.Ref("team/app:1")))
	if err != nil {
		t.Fatalf("Manifest after a stall: %v", err)
	}
	if m.Descriptor.Digest != pushed.Digest || !bytes.Equal(m.Body, pushed.Manifest) {
		t.Fatalf("Manifest %s, want %s", m.Descriptor.Digest, pushed.Digest)
	}
	if n := served.Load(); n != 2 {
		t.Fatalf("%d successful manifest GETs, want 2 (a stall, then the whole)", n)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("took %v, less than the idle timeout: was there a stall?", d)
	}
}

// TestManifestRedirectRefusalNotRetried: a refused redirect is a decision, not
// a dropped connection; asking again cannot change it.
func TestManifestRedirectRefusalNotRetried(t *testing.T) {
	t.Parallel()
	reg, cl, _ := fixture(t, 10)
	var asked atomic.Int32
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.URL.Path, "/manifests/") {
				next.ServeHTTP(w, r)
				return
			}
			asked.Add(1)
			w.Header().Set("Location", "file:///etc/passwd")
			w.WriteHeader(http.StatusFound)
		})
	})
	_, err := cl.Manifest(t.Context(), mustRef(t, reg.Ref("team/app:1")))
	if err == nil || !strings.Contains(err.Error(), "refusing redirect") {
		t.Fatalf("err = %v, want the redirect refused", err)
	}
	if n := asked.Load(); n != 1 {
		t.Fatalf("the manifest was asked for %d times, want 1", n)
	}
}

func TestImageArtifact(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	ctx := t.Context()
	empty := []byte("{}")
	sbom := []byte(`{"spdxVersion":"SPDX-2.3","name":"app"}`)
	sig := []byte("not a tar at all")
	for _, b := range [][]byte{empty, sbom, sig} {
		if _, err := reg.PushBlob(ctx, "art/app", b); err != nil {
			t.Fatal(err)
		}
	}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: "application/spdx+json",
		Config:       ocispec.Descriptor{MediaType: ocispec.MediaTypeEmptyJSON, Digest: digest.FromBytes(empty), Size: 2, Data: empty},
		Layers: []ocispec.Descriptor{
			{MediaType: "application/spdx+json", Digest: digest.FromBytes(sbom), Size: int64(len(sbom)),
				Annotations: map[string]string{"org.opencontainers.image.title": "sbom.spdx.json"}},
			{MediaType: "application/vnd.example.signature.v1", Digest: digest.FromBytes(sig), Size: int64(len(sig))},
		},
		Annotations: map[string]string{"org.opencontainers.image.created": "2024-01-01T00:00:00Z"},
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	d, err := reg.PushManifest(ctx, "art/app", "sbom", ocispec.MediaTypeImageManifest, raw)
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, reg, auth.Credential{})
	r := mustRef(t, reg.Ref("art/app:sbom"))

	got, err := cl.Manifest(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Body, raw) || got.Descriptor.Digest != d || got.Descriptor.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("Manifest %+v is not the artifact as pushed (%s)", got.Descriptor, d)
	}
	checkArtifact(t, "Manifest", got.Parsed.Manifest, m)

	img, err := cl.Image(ctx, r, linuxAMD64)
	if err != nil {
		t.Fatalf("Image of an artifact: %v", err)
	}
	if len(img.Chain) != 1 || !bytes.Equal(img.Chain[0].Body, raw) {
		t.Fatalf("Image chain %d long, want the one manifest as pushed", len(img.Chain))
	}
	if string(img.ConfigBody) != "{}" {
		t.Errorf("ConfigBody %q, want {}", img.ConfigBody)
	}
	checkArtifact(t, "Image", img.Manifest, m)
}

func checkArtifact(t *testing.T, what string, got *image.Manifest, want ocispec.Manifest) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: no parsed manifest", what)
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Errorf("%s changed the artifact:\n got %s\nwant %s", what, g, w)
	}
}

func TestBlobAtOffset(t *testing.T) {
	t.Parallel()
	const offset = 10000
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	src := registrytest.RandomImage(25, 1, 64<<10)
	pushed := reg.MustPush(t, "team/app:1", src)
	layer, raw := pushed.Layers[0], src.Layers[0]
	size := layer.Size
	if layer.Digest != digest.FromBytes(raw) {
		t.Fatalf("layer %s is not the raw bytes", layer.Digest)
	}
	cl := newClient(t, reg, auth.Credential{})
	r := mustRef(t, reg.Ref("team/app:1"))
	var (
		mu     sync.Mutex
		ranges []string // Range of each blob GET the registry answered
	)
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			rec := registrytest.Record(next, req)
			if registrytest.IsBlobGET(req) && rec.Code/100 == 2 {
				mu.Lock()
				ranges = append(ranges, req.Header.Get("Range"))
				mu.Unlock()
			}
			registrytest.CopyHeader(w, rec)
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
		})
	})
	held := func(b []byte) *image.Verifier {
		v := image.NewVerifier(layer, "held part")
		v.Write(b)
		return v
	}
	corrupt := bytes.Clone(raw[:offset])
	corrupt[offset/2] ^= 1
	tests := []struct {
		name       string
		offset     int64
		v          *image.Verifier
		want       []byte
		openErr    string // BlobAt fails before any request
		readErr    func(error) bool
		wantRanges []string
	}{
		{name: "finish a partial blob", offset: offset, v: held(raw[:offset]), want: raw[offset:], wantRanges: []string{"bytes=10000-"}},
		{name: "held bytes are wrong", offset: offset, v: held(corrupt), want: raw[offset:], wantRanges: []string{"bytes=10000-"},
			readErr: func(err error) bool {
				var de *image.DigestError
				return errors.As(err, &de) && de.Want == layer.Digest
			}},
		{name: "all held", offset: size, v: held(raw), want: []byte{}},
		{name: "all held but wrong", offset: size, v: held(append(bytes.Clone(raw[:size-1]), raw[size-1]^1)), want: []byte{},
			readErr: func(err error) bool { var de *image.DigestError; return errors.As(err, &de) }},
		{name: "verifier behind offset", offset: offset, v: held(raw[:offset-1]), openErr: "does not match what was hashed"},
		{name: "no verifier", offset: offset, openErr: "does not match what was hashed"},
		{name: "past the end", offset: size + 1, v: held(append(bytes.Clone(raw), 0)), openErr: "does not match what was hashed"},
		{name: "negative", offset: -1, openErr: "does not match what was hashed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Not parallel: each case reads the Range log of the one registry.
			mu.Lock()
			ranges = nil
			mu.Unlock()
			rc, err := cl.BlobAt(t.Context(), r, layer, tt.offset, tt.v)
			if tt.openErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.openErr) {
					t.Fatalf("BlobAt err = %v, want %q", err, tt.openErr)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(rc)
				rc.Close()
				switch {
				case tt.readErr == nil && err != nil:
					t.Fatalf("read: %v", err)
				case tt.readErr != nil && !tt.readErr(err):
					t.Fatalf("read err = %v, not the one wanted", err)
				}
				if !bytes.Equal(got, tt.want) {
					t.Errorf("read %d bytes, want the %d after the offset", len(got), len(tt.want))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Join(ranges, ",") != strings.Join(tt.wantRanges, ",") {
				t.Errorf("blob GETs with Range %q, want %q", ranges, tt.wantRanges)
			}
		})
	}
}
