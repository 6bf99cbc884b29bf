package haul

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// reader is what a Client reads a registry with: its *registry.Client, or a
// *mirror.Source over it and its mirrors.
type reader interface {
	pull.Source
	Resolve(ctx context.Context, r ref.Reference, platform image.Platform) ([]*registry.Manifest, error)
	Image(ctx context.Context, r ref.Reference, platform image.Platform) (*registry.Image, error)
	Digest(ctx context.Context, r ref.Reference) (digest.Digest, error)
	BlobDescriptor(ctx context.Context, r ref.Reference, dg digest.Digest) (image.Descriptor, error)
	Blob(ctx context.Context, r ref.Reference, d image.Descriptor) (io.ReadCloser, error)
	CloseIdleConnections()
}

// target parses s and returns the reader of its registry.
func (cl *Client) target(s string) (ref.Reference, reader, error) {
	r, err := cl.parse(s)
	if err != nil {
		return ref.Reference{}, nil, err
	}
	rd, err := cl.reader(r.Registry())
	return r, rd, err
}

// Digest is the digest of the manifest or index ref points to, as `haul
// digest` prints it: asked with HEAD, which Docker Hub does not count as a
// pull. With Config.Platform, it is the digest of that platform's image
// manifest (Resolve, which GETs).
func (cl *Client) Digest(ctx context.Context, ref string) (digest.Digest, error) {
	if len(cl.platforms) > 0 {
		res, err := cl.Resolve(ctx, ref)
		if err != nil {
			return "", err
		}
		return res.Digest, nil
	}
	r, rd, err := cl.target(ref)
	if err != nil {
		return "", err
	}
	return rd.Digest(ctx, r)
}

// RawManifest is a manifest or index as the registry sent it, and `haul
// manifest --json`'s shape.
type RawManifest struct {
	Reference string        `json:"reference"`
	Digest    digest.Digest `json:"digest"` // of Bytes, checked
	MediaType string        `json:"mediaType"`
	Size      int64         `json:"size"`
	// Bytes are exactly as the registry sent them (a JSON document).
	Bytes json.RawMessage `json:"manifest"`
}

// Resolved is what a reference points to, and `haul digest --json`'s shape
// (docs/json.md).
type Resolved struct {
	Reference string        `json:"reference"`
	Digest    digest.Digest `json:"digest"`             // what it points to; after Resolve, the chosen platform's manifest
	Platform  string        `json:"platform,omitempty"` // the platform chosen from an index
	Index     digest.Digest `json:"index,omitempty"`    // the index it was chosen from
}

// Resolve follows ref to the image manifest for Config.Platform: through an
// index, whose digest it names with the platform chosen, or to the manifest
// ref points to. Unlike Digest it GETs each manifest.
func (cl *Client) Resolve(ctx context.Context, ref string) (*Resolved, error) {
	r, rd, err := cl.target(ref)
	if err != nil {
		return nil, err
	}
	chain, err := rd.Resolve(ctx, r, cl.prefer)
	if err != nil {
		return nil, err
	}
	return ResolvedChain(r.String(), chain, cl.prefer), nil
}

// ResolvedChain is what Resolve returns for the chain of manifests a
// registry.Client's Resolve gave for the reference name and platform want.
func ResolvedChain(name string, chain []*registry.Manifest, want image.Platform) *Resolved {
	out := &Resolved{Reference: name, Digest: chain[len(chain)-1].Descriptor.Digest}
	if len(chain) > 1 {
		out.Index = chain[0].Descriptor.Digest
		out.Platform = chosenPlatform(chain, want)
	}
	return out
}

// chosenPlatform is the platform of the image manifest at the end of chain,
// as the index that named it says (which may add a variant to want).
func chosenPlatform(chain []*registry.Manifest, want image.Platform) string {
	last := chain[len(chain)-1].Descriptor.Digest
	if idx := chain[len(chain)-2].Parsed.Index; idx != nil {
		for _, d := range idx.Manifests {
			if d.Digest == last && d.Platform != nil {
				return image.FormatPlatform(*d.Platform)
			}
		}
	}
	return image.FormatPlatform(want)
}

// Manifest fetches the manifest or index ref points to, verified against
// its digest. With Config.Platform, an index is resolved to that
// platform's image manifest.
func (cl *Client) Manifest(ctx context.Context, ref string) (*RawManifest, error) {
	r, rd, err := cl.target(ref)
	if err != nil {
		return nil, err
	}
	var m *registry.Manifest
	if len(cl.platforms) > 0 {
		var chain []*registry.Manifest
		if chain, err = rd.Resolve(ctx, r, cl.prefer); err == nil {
			m = chain[len(chain)-1]
		}
	} else {
		m, err = rd.Manifest(ctx, r)
	}
	if err != nil {
		return nil, err
	}
	d := m.Descriptor
	return &RawManifest{Reference: r.String(), Digest: d.Digest, MediaType: d.MediaType, Size: d.Size, Bytes: m.Body}, nil
}

// image resolves r to Config.Platform and fetches its config.
func (cl *Client) image(ctx context.Context, s string) (ref.Reference, *registry.Image, error) {
	r, rd, err := cl.target(s)
	if err != nil {
		return ref.Reference{}, nil, err
	}
	img, err := rd.Image(ctx, r, cl.prefer)
	if err != nil {
		return ref.Reference{}, nil, err
	}
	// A platform asked for an image that is no index must match its config,
	// as docker requires; by default, such an image is taken as it is.
	if len(img.Chain) == 1 && len(cl.platforms) > 0 {
		if err := image.CheckPlatform(cl.prefer, img.Config); err != nil {
			return ref.Reference{}, nil, fmt.Errorf("resolving %s: %w", r, err)
		}
	}
	return r, img, nil
}

// Inspect describes the image ref points to, resolved to Config.Platform:
// an index's platforms, the image's layers, sizes, entrypoint and labels,
// as `haul inspect` shows them.
func (cl *Client) Inspect(ctx context.Context, ref string) (*Image, error) {
	r, img, err := cl.image(ctx, ref)
	if err != nil {
		return nil, err
	}
	return Describe(r.String(), img), nil
}

// ConfigBlob is an image's config, as `haul config` prints it.
type ConfigBlob struct {
	Digest   digest.Digest // of Bytes, checked
	Platform string        // os/arch[/variant], as the config says
	Config   image.Config  // Bytes, decoded
	Bytes    []byte        // exactly as the registry sent them
}

// ImageConfig fetches the config (environment, entrypoint, history,
// diff_ids) of the image ref points to, resolved to Config.Platform and
// verified. It is not named Config, which is the type of a Client's own
// settings (and the function and the type cannot share a name).
func (cl *Client) ImageConfig(ctx context.Context, ref string) (*ConfigBlob, error) {
	_, img, err := cl.image(ctx, ref)
	if err != nil {
		return nil, err
	}
	c := img.Config
	p := image.FormatPlatform(image.Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant})
	return &ConfigBlob{Digest: img.Manifest.Config.Digest, Platform: p, Config: c, Bytes: img.ConfigBody}, nil
}

// Tags lists every tag of the repository repo ("alpine", "ghcr.io/org/app"),
// following the registry's pagination.
func (cl *Client) Tags(ctx context.Context, repo string) ([]string, error) {
	r, err := ref.ParseRepository(repo)
	if err != nil {
		return nil, err
	}
	if err := cl.settings.Allowed(r.Name()); err != nil {
		return nil, err
	}
	c, err := cl.client(r.Registry())
	if err != nil {
		return nil, err
	}
	return c.Tags(ctx, r)
}

// Blob opens the blob named by ref, "repository@sha256:…" (a layer or a
// config). Its reader checks size and digest at EOF: a Read that returns
// io.EOF has verified every byte, and a mismatch is an error instead of
// io.EOF, so the bytes are not to be trusted until EOF.
func (cl *Client) Blob(ctx context.Context, ref string) (io.ReadCloser, error) {
	r, rd, err := cl.target(ref)
	if err != nil {
		return nil, err
	}
	if r.Digest() == "" {
		return nil, errors.New("haul: a blob is named by repository@digest")
	}
	d, err := rd.BlobDescriptor(ctx, r, r.Digest())
	if err != nil {
		return nil, err
	}
	return rd.Blob(ctx, r, d)
}
