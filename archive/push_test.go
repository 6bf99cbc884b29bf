package archive_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/image"
)

// TestBlobAt reads an old docker save's layers and config in place: whole
// and verified from byte 0, the rest from an offset; a layer whose bytes are
// not its diff_id fails at its end; an offset past the end is refused.
func TestBlobAt(t *testing.T) {
	t.Parallel()
	src, raw := dockerSave(t, nil)
	rd, err := archive.Open(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	s, err := rd.DockerImage(t.Context(), rd.Images()[0])
	if err != nil {
		t.Fatal(err)
	}
	if !rd.Images()[0].IsDocker() || s.Name != "team/app:1" {
		t.Fatalf("IsDocker %v, name %q", rd.Images()[0].IsDocker(), s.Name)
	}
	read := func(d image.Descriptor, off int64) ([]byte, error) {
		rc, err := rd.BlobAt(d, off)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	tests := []struct {
		name string
		d    image.Descriptor
		off  int64
		want []byte
	}{
		{"the config, by its path", s.Manifest.Config, 0, s.ConfigBody},
		{"a layer from byte 0", s.Manifest.Layers[1], 0, raw[1]},
		{"a layer from an offset", s.Manifest.Layers[0], 100, raw[0][100:]},
		{"a layer by symlink, from its end", s.Manifest.Layers[2], int64(len(raw[2])), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := read(tc.d, tc.off)
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Fatalf("read %d bytes, %v; want %d bytes", len(got), err, len(tc.want))
			}
		})
	}
	if !rd.Has(s.Manifest.Layers[0]) || rd.Has(image.Descriptor{MediaType: "x", Digest: digest.FromString("no"), Size: 2}) {
		t.Error("Has: a layer held, or a blob not held, is misreported")
	}
	if _, err := read(s.Manifest.Layers[0], int64(len(raw[0]))+1); err == nil {
		t.Error("an offset past the end was read")
	}
	wrong := s.Manifest.Layers[1]
	wrong.Digest = digest.FromString("another")
	// Not reachable by path: the Reader knows the layer by its diff_id only.
	if _, err := read(wrong, 0); err == nil {
		t.Error("a blob the archive does not hold was read")
	}
}

// TestBlobAtVerifies: a layer.tar whose bytes changed fails at its end when
// read from byte 0, with a *image.DigestError.
func TestBlobAtVerifies(t *testing.T) {
	t.Parallel()
	src, raw := dockerSave(t, nil)
	body, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(body, raw[1])
	body[i+len(raw[1])-1] ^= 0xff // the tar's padding is no part of it; its last byte is
	if err := os.WriteFile(src, body, 0o644); err != nil {
		t.Fatal(err)
	}
	rd, err := archive.Open(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	s, err := rd.DockerImage(t.Context(), rd.Images()[0])
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rd.BlobAt(s.Manifest.Layers[1], 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	_, err = io.ReadAll(rc)
	var de *image.DigestError
	if !errors.As(err, &de) {
		t.Fatalf("got %v, want a *image.DigestError", err)
	}
}

// TestDockerManifest: the same descriptors give the same bytes, whose
// digest the descriptor names; annotations and platforms are left out.
func TestDockerManifest(t *testing.T) {
	t.Parallel()
	cfg := image.Descriptor{MediaType: image.MediaTypeDockerConfig, Digest: digest.FromString("c"), Size: 1, Annotations: map[string]string{"a": "b"}}
	l := image.Descriptor{MediaType: archive.MediaTypeDockerLayer, Digest: digest.FromString("l"), Size: 1}
	b1, d1, err := archive.DockerManifest(cfg, []image.Descriptor{l, l})
	if err != nil {
		t.Fatal(err)
	}
	b2, d2, _ := archive.DockerManifest(cfg, []image.Descriptor{l, l})
	if !bytes.Equal(b1, b2) || d1.Digest != d2.Digest || d1.Digest != digest.FromBytes(b1) || d1.Size != int64(len(b1)) {
		t.Fatalf("%s %s: not one deterministic manifest", d1.Digest, d2.Digest)
	}
	p, err := image.Parse(image.MediaTypeDockerManifest, b1)
	if err != nil || p.Manifest == nil || len(p.Manifest.Layers) != 2 || p.Manifest.Config.Annotations != nil {
		t.Fatalf("parsed back: %+v, %v", p, err)
	}
}
