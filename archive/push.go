package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
)

// What a push into a registry reads of an archive: manifests and indexes as
// stored (their bytes are what their digests name), blobs from any offset in
// place, and, for an archive that holds no manifest, one built from what it
// does hold.

// IsDocker reports whether l is an entry of manifest.json in an archive
// without index.json (docker save before Docker 25, skopeo's
// docker-archive:): it holds no manifest, and Docker builds one.
func (l Listed) IsDocker() bool { return l.item >= 0 }

// Manifest reads the manifest or index d from the archive, exactly as
// stored, checked against d's size and digest.
func (r *Reader) Manifest(ctx context.Context, d image.Descriptor) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return r.readBlob(d, maxManifestSize, "manifest")
}

// Has reports whether the archive holds blob d, of d's size.
func (r *Reader) Has(d image.Descriptor) bool {
	f, err := r.openBlob(d)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// BlobAt reads blob d from offset on, in place: from byte 0 verified at its
// end against d; from another offset, the rest unverified (whoever gets the
// whole, a registry, checks the digest).
func (r *Reader) BlobAt(d image.Descriptor, offset int64) (io.ReadCloser, error) {
	f, err := r.openBlob(d)
	if err != nil {
		return nil, err
	}
	if offset < 0 || offset > f.Size() {
		f.Close()
		return nil, fmt.Errorf("blob %s: offset %d outside its %d bytes", d.Digest, offset, f.Size())
	}
	var rd io.Reader = io.NewSectionReader(f, offset, f.Size()-offset)
	if offset == 0 {
		rd = image.VerifyReader(rd, d, "blob "+d.Digest.String())
	}
	return struct {
		io.Reader
		io.Closer
	}{rd, f}, nil
}

// DockerImage reads the image of l, a manifest.json entry (IsDocker): its
// config, verified, and the descriptors of its layers as stored (an
// uncompressed layer.tar's digest is its diff_id, checked when it is read
// from byte 0).
func (r *Reader) DockerImage(ctx context.Context, l Listed) (*Stored, error) {
	if !l.IsDocker() || l.item >= len(r.items) {
		return nil, fmt.Errorf("%s: %s is no entry of manifest.json", r.src, l.Name())
	}
	it := r.items[l.item]
	s, err := r.dockerImage(ctx, it)
	if err != nil {
		return nil, fmt.Errorf("%s: image %s: %w", r.src, l.Name(), err)
	}
	r.paths.add(s.Manifest.Config.Digest, it.Config) // for BlobAt
	if len(l.Names) > 0 {
		s.Name = l.Names[0]
	}
	return s, nil
}

// dockerManifest is a Docker schema2 manifest, in the field order Docker
// writes.
type dockerManifest struct {
	SchemaVersion int                `json:"schemaVersion"`
	MediaType     string             `json:"mediaType"`
	Config        image.Descriptor   `json:"config"`
	Layers        []image.Descriptor `json:"layers"`
}

// DockerManifest builds the Docker schema2 manifest of an image that an
// archive holds without one: config as stored, layers as given. The same
// descriptors always give the same bytes, so the same digest.
func DockerManifest(config image.Descriptor, layers []image.Descriptor) ([]byte, image.Descriptor, error) {
	m := dockerManifest{SchemaVersion: 2, MediaType: image.MediaTypeDockerManifest, Config: plain(config)}
	for _, l := range layers {
		m.Layers = append(m.Layers, plain(l))
	}
	body, err := json.MarshalIndent(m, "", "   ")
	if err != nil {
		return nil, image.Descriptor{}, fmt.Errorf("building a manifest: %w", err)
	}
	d := image.Descriptor{MediaType: m.MediaType, Digest: digest.FromBytes(body), Size: int64(len(body))}
	return body, d, nil
}

// plain is d with only what a manifest's descriptor holds.
func plain(d image.Descriptor) image.Descriptor {
	return image.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, URLs: d.URLs}
}
