package registrytest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types that the OCI image-spec package does not define.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerLayerGzip    = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerLayer        = "application/vnd.docker.image.rootfs.diff.tar"
	MediaTypeInToto             = "application/vnd.in-toto+json"
)

// Annotations buildx puts on an attestation manifest's index entry.
const (
	AnnotationReferenceType   = "vnd.docker.reference.type"   // "attestation-manifest"
	AnnotationReferenceDigest = "vnd.docker.reference.digest" // digest of the image attested
)

// epoch is the mtime of every tar entry and the created time of generated
// configs, so the same content always has the same digest.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Image is what Push uploads: layers, a config and a manifest over them.
type Image struct {
	Layers [][]byte // raw layer blobs: gzip, zstd or plain tar (see Layer, Tar, Zstd); media types follow the magic bytes
	// Config is the config blob; nil: a minimal valid image config (os/arch
	// from Platform, rootfs.diff_ids of the layers' uncompressed content).
	Config      []byte
	Platform    ocispec.Platform  // zero: linux/amd64
	OCI         bool              // OCI media types, else Docker schema2
	Annotations map[string]string // manifest annotations; OCI only
}

// IndexSpec is what PushIndex uploads: one image per platform under an index.
type IndexSpec struct {
	Images []Image // each is pushed by digest, with OCI set to the index's
	OCI    bool    // OCI image index, else Docker manifest list
	// Attestation adds, per image, an unknown/unknown attestation manifest with
	// vnd.docker.reference.type and .digest annotations, as buildx does.
	Attestation bool
}

// Pushed describes what was pushed.
type Pushed struct {
	Digest    digest.Digest // of Manifest
	MediaType string
	Manifest  []byte // exactly as pushed and served
	Size      int64  // len(Manifest)

	// Images only.
	Config    ocispec.Descriptor
	Layers    []ocispec.Descriptor
	Platform  ocispec.Platform
	RawConfig []byte

	// Indexes only: the manifests listed, in order (attestations after the images).
	Manifests []Pushed
}

// Descriptor describes the pushed manifest (with Platform for images).
func (p Pushed) Descriptor() ocispec.Descriptor {
	d := ocispec.Descriptor{MediaType: p.MediaType, Digest: p.Digest, Size: p.Size}
	if p.Platform.OS != "" {
		pl := p.Platform
		d.Platform = &pl
	}
	return d
}

// builtImage is an Image turned into blobs and a manifest, before upload.
type builtImage struct {
	Pushed
	blobs [][]byte // config, then layers
}

func buildImage(img Image) (builtImage, error) {
	if img.Platform.OS == "" && img.Platform.Architecture == "" {
		img.Platform = ocispec.Platform{OS: "linux", Architecture: "amd64"}
	}
	b := builtImage{}
	b.Platform = img.Platform
	layers := make([]ocispec.Descriptor, len(img.Layers))
	diffIDs := make([]digest.Digest, len(img.Layers))
	for i, l := range img.Layers {
		mt, raw, err := layerInfo(l, img.OCI)
		if err != nil {
			return b, fmt.Errorf("layer %d: %w", i, err)
		}
		layers[i] = ocispec.Descriptor{MediaType: mt, Digest: digest.FromBytes(l), Size: int64(len(l))}
		diffIDs[i] = digest.FromBytes(raw)
	}
	cfg := img.Config
	if cfg == nil {
		created := epoch
		history := make([]ocispec.History, len(img.Layers))
		for i := range history {
			history[i] = ocispec.History{Created: &created, CreatedBy: fmt.Sprintf("registrytest layer %d", i)}
		}
		var err error
		cfg, err = json.Marshal(ocispec.Image{
			Created:  &created,
			Platform: img.Platform,
			Config: ocispec.ImageConfig{
				Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
				Cmd: []string{"/bin/sh"},
			},
			RootFS:  ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
			History: history,
		})
		if err != nil {
			return b, fmt.Errorf("encoding config: %w", err)
		}
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers:    layers,
	}
	if img.OCI {
		m.Annotations = img.Annotations
	} else {
		m.MediaType = MediaTypeDockerManifest
		m.Config.MediaType = MediaTypeDockerConfig
	}
	if m.Layers == nil {
		m.Layers = []ocispec.Descriptor{} // "layers": [] rather than null
	}
	raw, err := json.MarshalIndent(m, "", "   ")
	if err != nil {
		return b, fmt.Errorf("encoding manifest: %w", err)
	}
	b.Digest, b.MediaType, b.Manifest, b.Size = digest.FromBytes(raw), m.MediaType, raw, int64(len(raw))
	b.Config, b.Layers, b.RawConfig = m.Config, layers, cfg
	b.blobs = append([][]byte{cfg}, img.Layers...)
	return b, nil
}

// layerInfo names a layer's media type from its magic bytes and returns its
// uncompressed content, whose digest is the diff_id.
func layerInfo(l []byte, oci bool) (mediaType string, raw []byte, err error) {
	switch {
	case bytes.HasPrefix(l, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(l))
		if err != nil {
			return "", nil, err
		}
		raw, err = io.ReadAll(zr)
		if err != nil {
			return "", nil, fmt.Errorf("gunzip: %w", err)
		}
		if oci {
			return ocispec.MediaTypeImageLayerGzip, raw, nil
		}
		return MediaTypeDockerLayerGzip, raw, nil
	case bytes.HasPrefix(l, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return "", nil, err
		}
		defer zr.Close()
		raw, err = zr.DecodeAll(l, nil)
		if err != nil {
			return "", nil, fmt.Errorf("unzstd: %w", err)
		}
		return ocispec.MediaTypeImageLayerZstd, raw, nil // Docker has no zstd type; buildx uses OCI's
	}
	if oci {
		return ocispec.MediaTypeImageLayer, l, nil
	}
	return MediaTypeDockerLayer, l, nil
}

// buildAttestation builds a buildx-style provenance attestation manifest for
// the image with digest subject, and its two blobs.
func buildAttestation(subject digest.Digest, pl ocispec.Platform) (builtImage, error) {
	statement, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v0.1",
		"predicateType": "https://slsa.dev/provenance/v0.2",
		"subject": []any{map[string]any{
			"name":   "pkg:docker/registrytest@latest?platform=" + platformString(pl),
			"digest": map[string]string{"sha256": subject.Encoded()},
		}},
		"predicate": map[string]any{
			"builder":   map[string]string{"id": "registrytest"},
			"buildType": "https://mobyproject.org/buildkit@v1",
		},
	})
	if err != nil {
		return builtImage{}, err
	}
	layer := ocispec.Descriptor{
		MediaType:   MediaTypeInToto,
		Digest:      digest.FromBytes(statement),
		Size:        int64(len(statement)),
		Annotations: map[string]string{"in-toto.io/predicate-type": "https://slsa.dev/provenance/v0.2"},
	}
	cfg, err := json.Marshal(ocispec.Image{
		Platform: ocispec.Platform{Architecture: "unknown", OS: "unknown"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{layer.Digest}},
	})
	if err != nil {
		return builtImage{}, err
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.FromBytes(cfg), Size: int64(len(cfg))},
		Layers:    []ocispec.Descriptor{layer},
	}
	raw, err := json.MarshalIndent(m, "", "   ")
	if err != nil {
		return builtImage{}, err
	}
	b := builtImage{blobs: [][]byte{cfg, statement}}
	b.Digest, b.MediaType, b.Manifest, b.Size = digest.FromBytes(raw), m.MediaType, raw, int64(len(raw))
	b.Config, b.Layers, b.RawConfig = m.Config, m.Layers, cfg
	b.Platform = ocispec.Platform{Architecture: "unknown", OS: "unknown"}
	return b, nil
}

func platformString(p ocispec.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// RandomImage is a linux/amd64 Docker image of layers gzip'ed tar layers, each
// holding one file of layerSize pseudo-random bytes drawn from seed: the same
// arguments always give the same digests, different seeds different ones.
func RandomImage(seed int64, layers int, layerSize int) Image {
	rng := rand.New(rand.NewSource(seed))
	img := Image{Layers: make([][]byte, layers)}
	for i := range img.Layers {
		content := make([]byte, layerSize)
		rng.Read(content)
		img.Layers[i] = Layer(map[string][]byte{
			fmt.Sprintf("data/seed%d-layer%d.bin", seed, i): content,
		})
	}
	return img
}

// Layer is a gzip'ed Tar of files.
func Layer(files map[string][]byte) []byte {
	return Gzip(Tar(files))
}

// Tar is a deterministic tar of files: entries sorted by name, mode 0644 (0755
// for directories), uid/gid 0, a fixed mtime. A name ending in "/" is a
// directory (its content is ignored); parent directories are not added
// implicitly.
func Tar(files map[string][]byte) []byte {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		h := &tar.Header{Name: n, Mode: 0o644, ModTime: epoch, Typeflag: tar.TypeReg, Size: int64(len(files[n]))}
		if strings.HasSuffix(n, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			panic(fmt.Sprintf("registrytest: tar header %q: %v", n, err)) // writing to memory fails only on bad names
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(files[n]); err != nil {
				panic(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Gzip compresses b deterministically (no name, no mtime in the header).
func Gzip(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b) // a bytes.Buffer does not fail
	_ = zw.Close()
	return buf.Bytes()
}

// Zstd compresses b deterministically, for zstd layers.
func Zstd(b []byte) []byte {
	zw, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	if err != nil {
		panic(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}
