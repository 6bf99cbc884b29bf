package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// image resolves r for p and fetches its config. A --platform given for an
// image that is no index must match its config, as docker requires; without
// the flag, a single-platform image is taken as it is.
func (e *env) image(cmd *cobra.Command, cl reader, r ref.Reference, p image.Platform) (*registry.Image, error) {
	img, err := cl.Image(cmd.Context(), r, p)
	if err != nil {
		return nil, err
	}
	if len(img.Chain) == 1 && cmd.Flags().Changed("platform") {
		if err := image.CheckPlatform(p, img.Config); err != nil {
			return nil, fmt.Errorf("resolving %s: %w", r, err)
		}
	}
	return img, nil
}
