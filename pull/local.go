package pull

import (
	"context"
	"fmt"
	"io"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/rootfs"
)

// Local is one image of a local archive or OCI layout, opened to be
// unpacked or exported: what `haul unpack` and `haul export SRC` read.
type Local struct {
	Image  *archive.Stored
	Layers []rootfs.Layer
	rd     *archive.Reader
}

// OpenLocal opens the archive or layout at src and resolves its image name
// ("": the only one; an *archive.AmbiguousError when there are several)
// and, for an index, platform. Close releases it.
func OpenLocal(ctx context.Context, src, name string, platform image.Platform) (*Local, error) {
	rd, err := archive.Open(ctx, src)
	if err != nil {
		return nil, err
	}
	img, err := rd.Image(ctx, name, platform)
	if err != nil {
		rd.Close()
		return nil, err
	}
	layers, err := rootfs.Layers(&img.Manifest, &img.Config)
	if err != nil {
		rd.Close()
		return nil, fmt.Errorf("%s: %s: %w", src, StoredName(img), err)
	}
	return &Local{Image: img, Layers: layers, rd: rd}, nil
}

// Close closes the archive.
func (l *Local) Close() error { return l.rd.Close() }

// Unpack applies the layers in order into dir (rootfs.Create's rules: absent
// or empty unless c.Force), each verified as it is read; on failure nothing
// is left at dir.
func (l *Local) Unpack(ctx context.Context, dir string, c rootfs.Config) (_ rootfs.Stats, err error) {
	u, err := rootfs.Create(ctx, dir, c)
	if err != nil {
		return rootfs.Stats{}, err
	}
	defer func() {
		if err != nil {
			u.Abort()
		}
	}()
	for _, layer := range l.Layers {
		if err := l.apply(ctx, u, layer); err != nil {
			return rootfs.Stats{}, err
		}
	}
	if err := u.Commit(ctx); err != nil {
		return rootfs.Stats{}, err
	}
	return u.Stats(), nil
}

func (l *Local) apply(ctx context.Context, u *rootfs.Unpacker, layer rootfs.Layer) error {
	rc, err := l.rd.Blob(layer.Descriptor)
	if err != nil {
		return err
	}
	defer rc.Close()
	return u.Apply(ctx, layer, rc)
}

// Export writes the flattened tree of the layers to w as one tar
// (rootfs.Export).
func (l *Local) Export(ctx context.Context, w io.Writer) error {
	return rootfs.Export(ctx, w, l.Layers, func(_ context.Context, layer rootfs.Layer) (io.ReadCloser, error) {
		return l.rd.Blob(layer.Descriptor)
	})
}

// StoredName names an archive's image for a person: "NAME (DIGEST)", or
// the digest alone.
func StoredName(img *archive.Stored) string {
	if img.Name != "" {
		return img.Name + " (" + img.Digest().String() + ")"
	}
	return img.Digest().String()
}
