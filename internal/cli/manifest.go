package cli

import (
	"github.com/spf13/cobra"

	"github.com/haul-dev/haul"
	"github.com/haul-dev/haul/image"
)

func newManifestCmd(e *env) *cobra.Command {
	var raw, resolve bool
	c := &cobra.Command{
		Use:   "manifest REF",
		Short: "Print the manifest or index of an image",
		Long: `Print the manifest or index REF points to. --raw prints the bytes exactly as the
registry sent them (their sha256 is the image's digest); otherwise it is indented.
With --platform, an index is resolved to that platform's manifest.`,
		Example: `  haul manifest alpine:3.20
  haul manifest --raw ghcr.io/org/app:1 | sha256sum
  haul manifest --platform linux/arm64 alpine`,
		Args: exactArgs(1, "one REF"),
	}
	platform := platformFlag(c)
	c.Flags().BoolVar(&raw, "raw", false, "print the body exactly as the registry sent it")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		resolve = cmd.Flags().Changed("platform")
		r, p, cl, err := e.target(args[0], platform)
		if err != nil {
			return err
		}
		var body []byte
		var d image.Descriptor
		if resolve {
			chain, err := cl.Resolve(cmd.Context(), r, p)
			if err != nil {
				return err
			}
			m := chain[len(chain)-1]
			body, d = m.Body, m.Descriptor
		} else {
			m, err := cl.Manifest(cmd.Context(), r)
			if err != nil {
				return err
			}
			body, d = m.Body, m.Descriptor
		}
		switch {
		case e.g.json:
			return e.printJSON(haul.RawManifest{Reference: r.String(), Digest: d.Digest, MediaType: d.MediaType, Size: d.Size, Bytes: body})
		case raw:
			_, err := e.Stdout.Write(body)
			return err
		}
		return e.printIndented(body, "manifest")
	}
	return c
}
