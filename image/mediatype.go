package image

import (
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// The OCI image-spec types, under names that read well as image.X.
type (
	Descriptor = ocispec.Descriptor
	Manifest   = ocispec.Manifest
	Index      = ocispec.Index
	Platform   = ocispec.Platform
	Config     = ocispec.Image
)

// Manifest media types: Docker schema2 and OCI, the four haul reads.
const (
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeOCIManifest        = ocispec.MediaTypeImageManifest
	MediaTypeOCIIndex           = ocispec.MediaTypeImageIndex

	// Schema1 is long deprecated; registries still answer with it for old images.
	MediaTypeDockerSchema1       = "application/vnd.docker.distribution.manifest.v1+json"
	MediaTypeDockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"

	MediaTypeDockerConfig    = "application/vnd.docker.container.image.v1+json"
	MediaTypeOCIConfig       = ocispec.MediaTypeImageConfig
	MediaTypeDockerLayerGzip = "application/vnd.docker.image.rootfs.diff.tar.gzip"
	MediaTypeDockerForeign   = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
)

// ManifestMediaTypes is every manifest type haul accepts, in the order of its
// Accept header: the registry picks the first it can serve for a tag.
func ManifestMediaTypes() []string {
	return []string{MediaTypeOCIIndex, MediaTypeDockerManifestList, MediaTypeOCIManifest, MediaTypeDockerManifest}
}

// IsIndex reports whether mt is an OCI index or a Docker manifest list.
func IsIndex(mt string) bool { return mt == MediaTypeOCIIndex || mt == MediaTypeDockerManifestList }

// IsManifest reports whether mt is an OCI or Docker schema2 image manifest.
func IsManifest(mt string) bool { return mt == MediaTypeOCIManifest || mt == MediaTypeDockerManifest }

// IsSchema1 reports whether mt is a Docker schema1 manifest.
func IsSchema1(mt string) bool {
	return mt == MediaTypeDockerSchema1 || mt == MediaTypeDockerSchema1Signed
}
