package cli

import (
	"fmt"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/registry"
)

// digestOutput is `haul digest --json`'s shape.
type digestOutput struct {
	Reference string        `json:"reference"`
	Digest    digest.Digest `json:"digest"`             // what REF points to; with --platform, that platform's manifest
	Platform  string        `json:"platform,omitempty"` // the platform chosen from an index by --platform
	Index     digest.Digest `json:"index,omitempty"`    // the index it was chosen from
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

func newDigestCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "digest REF",
		Short: "Print the digest a tag points to",
		Long: `Print the digest of the manifest or index REF points to. It asks with HEAD, which
Docker Hub does not count against the pull limit, and prints the registry's
Docker-Content-Digest; when that header is missing it GETs the manifest and hashes
it (--trace says so). With --platform, an index is resolved to that platform's
manifest (this needs GETs).`,
		Example: `  haul digest alpine
  haul digest --platform linux/arm64 alpine:3.20`,
		Args: exactArgs(1, "one REF"),
	}
	platform := platformFlag(c)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		r, p, cl, err := e.target(args[0], platform)
		if err != nil {
			return err
		}
		out := digestOutput{Reference: r.String()}
		if cmd.Flags().Changed("platform") {
			chain, err := cl.Resolve(cmd.Context(), r, p)
			if err != nil {
				return err
			}
			out.Digest = chain[len(chain)-1].Descriptor.Digest
			if len(chain) > 1 {
				out.Index = chain[0].Descriptor.Digest
				out.Platform = chosenPlatform(chain, p)
			}
		} else if out.Digest, err = cl.Digest(cmd.Context(), r); err != nil {
			return err
		}
		if e.g.json {
			return e.printJSON(out)
		}
		_, err = fmt.Fprintln(e.Stdout, out.Digest)
		return err
	}
	return c
}
