package cli

import (
	"github.com/spf13/cobra"
)

func newManifestCmd(e *env) *cobra.Command {
	var raw bool
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
		_, cl, err := e.front(cmd, args[0], platform)
		if err != nil {
			return err
		}
		defer cl.Close()
		m, err := cl.Manifest(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		switch {
		case e.g.json:
			return e.printJSON(m)
		case raw:
			_, err := e.Stdout.Write(m.Bytes)
			return err
		}
		return e.printIndented(m.Bytes, "manifest")
	}
	return c
}
