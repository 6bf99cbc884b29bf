package layout

import (
	"maps"
	"path"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/image"
)

// LayoutFileContent is what every layout haul writes holds in oci-layout,
// directory or tar alike: what Docker writes, space included.
const LayoutFileContent = `{"imageLayoutVersion": "1.0.0"}`

// The annotations index.json gives a named image. Docker writes the bare tag
// as ref.name; haul writes the full reference, since podman names an image
// whose ref.name is "latest" "localhost/latest".
const (
	AnnotationImageName = "io.containerd.image.name"
	AnnotationRefName   = ocispec.AnnotationRefName
)

// BlobName is blob d's path inside a layout, with slashes: blobs/<alg>/<encoded>.
func BlobName(d digest.Digest) string {
	return path.Join("blobs", d.Algorithm().String(), d.Encoded())
}

// Entry is root as index.json lists it under name, the full reference
// ("docker.io/library/alpine:3.20", or "…@sha256:…" for a pull by digest; ""
// for none), annotated as containerd's and Docker's exporters do: the image
// name always, the ref.name only for a tag, since a digest is no tag.
func Entry(root image.Descriptor, name string) image.Descriptor {
	if name == "" {
		return root
	}
	a := make(map[string]string, len(root.Annotations)+2)
	maps.Copy(a, root.Annotations)
	a[AnnotationImageName] = name
	if strings.Contains(name, "@") {
		delete(a, AnnotationRefName)
	} else {
		a[AnnotationRefName] = name
	}
	root.Annotations = a
	return root
}

// AddEntry lists e in idx, replacing an entry of the same name and platform
// (a re-pull of a tag that moved). An entry already there, same digest and
// name, is not listed twice.
func AddEntry(idx *image.Index, e image.Descriptor) {
	name := e.Annotations[AnnotationImageName]
	kept := idx.Manifests[:0]
	for _, m := range idx.Manifests {
		mname := m.Annotations[AnnotationImageName]
		switch {
		case mname != name:
		case m.Digest == e.Digest && samePlatform(m.Platform, e.Platform):
			continue // replaced by e, whose annotations may be newer
		case name != "" && samePlatform(m.Platform, e.Platform):
			continue // the tag moved
		}
		kept = append(kept, m)
	}
	idx.Manifests = append(kept, e)
}

func samePlatform(a, b *image.Platform) bool {
	if a == nil || b == nil {
		return a == b
	}
	return image.FormatPlatform(image.Normalize(*a)) == image.FormatPlatform(image.Normalize(*b))
}
