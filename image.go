package haul

import (
	"maps"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/registry"
)

// Image is what Inspect tells of an image, and `haul inspect --json`'s shape
// (docs/json.md).
type Image struct {
	Reference string        `json:"reference"`
	Digest    digest.Digest `json:"digest"` // what the reference points to: an index or a manifest
	MediaType string        `json:"mediaType"`
	// Platforms are the index's entries; none when the reference points to
	// an image manifest.
	Platforms []Platform `json:"platforms,omitempty"`
	// Annotations of the index; the image manifest's are in Image.
	Annotations map[string]string `json:"annotations,omitempty"`
	Image       ImageDetails      `json:"image"`
	Layers      []Layer           `json:"layers"`
	TotalSize   int64             `json:"totalSize"` // of the layers, compressed
}

// Platform is one entry of an index.
type Platform struct {
	Platform    string        `json:"platform"` // os/arch[/variant]; "" when the index names none
	Digest      digest.Digest `json:"digest"`
	Size        int64         `json:"size"`
	Attestation bool          `json:"attestation,omitempty"`
	Selected    bool          `json:"selected,omitempty"` // the one described
}

// ImageDetails are the chosen image manifest's and its config's.
type ImageDetails struct {
	Digest       digest.Digest     `json:"digest"` // of the image manifest
	Platform     string            `json:"platform"`
	Created      *time.Time        `json:"created,omitempty"`
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	WorkingDir   string            `json:"workingDir,omitempty"`
	User         string            `json:"user,omitempty"`
	Env          []string          `json:"env,omitempty"`
	ExposedPorts []string          `json:"exposedPorts,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"` // of the image manifest
	Config       digest.Digest     `json:"config"`
}

// Layer is one layer of an image manifest.
type Layer struct {
	Digest    digest.Digest `json:"digest"`
	Size      int64         `json:"size"`
	MediaType string        `json:"mediaType"`
}

// Describe is what Inspect returns for img, resolved from the reference
// name.
func Describe(name string, img *registry.Image) *Image {
	top := img.Chain[0]
	in := &Image{Reference: name, Digest: top.Descriptor.Digest, MediaType: top.Descriptor.MediaType}
	if idx := top.Parsed.Index; idx != nil {
		in.Annotations = idx.Annotations
		var chosen digest.Digest
		if len(img.Chain) > 1 {
			chosen = img.Chain[1].Descriptor.Digest
		}
		for _, d := range idx.Manifests {
			pe := Platform{Digest: d.Digest, Size: d.Size, Attestation: image.IsAttestation(d), Selected: d.Digest == chosen}
			if d.Platform != nil {
				pe.Platform = image.FormatPlatform(*d.Platform)
			}
			in.Platforms = append(in.Platforms, pe)
		}
	}
	in.Image = details(img)
	for _, l := range img.Manifest.Layers {
		in.Layers = append(in.Layers, Layer{Digest: l.Digest, Size: l.Size, MediaType: l.MediaType})
		in.TotalSize += l.Size
	}
	return in
}

func details(img *registry.Image) ImageDetails {
	cfg := img.Config
	return ImageDetails{
		Digest:       img.Chain[len(img.Chain)-1].Descriptor.Digest,
		Platform:     image.FormatPlatform(image.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}),
		Created:      cfg.Created,
		Entrypoint:   cfg.Config.Entrypoint,
		Cmd:          cfg.Config.Cmd,
		WorkingDir:   cfg.Config.WorkingDir,
		User:         cfg.Config.User,
		Env:          cfg.Config.Env,
		Labels:       cfg.Config.Labels,
		Annotations:  img.Manifest.Annotations,
		ExposedPorts: slices.Sorted(maps.Keys(cfg.Config.ExposedPorts)),
		Config:       img.Manifest.Config.Digest,
	}
}
