package layout

import "github.com/haul-dev/haul/image"

// The annotations of an index.json entry that is a referrer (a signature,
// an SBOM, an attestation) of another manifest in the layout, not an image:
// the digest of what it refers to, and for one that cosign keeps under a
// tag (sha256-<hex>.sig, .att, .sbom; its manifest names no subject), that
// tag. Such an entry has no name (no ref.name, no image name), so no
// engine loading the layout names an image after it, and readers that
// follow the graph from index.json (oras) find it by its subject.
const (
	AnnotationReferrerSubject = "io.github.haul-dev.referrer.subject"
	AnnotationReferrerTag     = "io.github.haul-dev.referrer.tag"
)

// IsReferrer reports whether an index.json entry is a referrer haul listed.
func IsReferrer(d image.Descriptor) bool {
	_, ok := d.Annotations[AnnotationReferrerSubject]
	return ok
}
