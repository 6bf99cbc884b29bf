package mirror

import (
	"context"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// Referrers finds what refers to subject (registry.Client.Referrers) at
// the upstream, never at a mirror: a pull-through cache holds what was
// pulled through it, and its referrers API or fallback tags would list
// less than the upstream's, or nothing. The referrers' blobs are then read
// like any other, mirrors first.
func (s *Source) Referrers(ctx context.Context, r ref.Reference, subject image.Descriptor, opts registry.ReferrersOptions) ([]registry.Referrer, error) {
	return s.upstream.Referrers(ctx, r, subject, opts)
}
