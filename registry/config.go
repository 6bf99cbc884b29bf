package registry

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
)

// Image is an image manifest resolved for one platform, with its config.
type Image struct {
	Chain      []*Manifest // from r's manifest or index to the image manifest
	Manifest   *image.Manifest
	ConfigBody []byte
	Config     image.Config
}

// Image resolves r for platform and fetches the image's config, verified.
func (c *Client) Image(ctx context.Context, r ref.Reference, platform image.Platform) (*Image, error) {
	chain, err := c.Resolve(ctx, r, platform)
	if err != nil {
		return nil, err
	}
	m := chain[len(chain)-1].Parsed.Manifest
	body, err := c.BlobBytes(ctx, r, m.Config, image.MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("fetching config of %s: %w", r, err)
	}
	img := &Image{Chain: chain, Manifest: m, ConfigBody: body}
	if err := json.Unmarshal(body, &img.Config); err != nil {
		return nil, fmt.Errorf("decoding config %s of %s: %w", m.Config.Digest, r, err)
	}
	return img, nil
}
