package cli

import (
	"github.com/spf13/cobra"
)

func newConfigCmd(e *env) *cobra.Command {
	var raw bool
	c := &cobra.Command{
		Use:   "config REF",
		Short: "Print the config of an image",
		Long: `Print the image config (environment, entrypoint, history, rootfs diff_ids) of
REF, verified against its digest. An index is resolved to --platform.`,
		Example: "  haul config alpine | jq .config.Env\n  haul config --platform linux/arm/v7 alpine",
		Args:    exactArgs(1, "one REF"),
	}
	platform := platformFlag(c)
	c.Flags().BoolVar(&raw, "raw", false, "print the bytes exactly as the registry sent them")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		r, p, cl, err := e.target(args[0], platform)
		if err != nil {
			return err
		}
		img, err := cl.Image(cmd.Context(), r, p)
		if err != nil {
			return err
		}
		if raw {
			_, err = e.Stdout.Write(img.ConfigBody)
			return err
		}
		return e.printIndented(img.ConfigBody, "config")
	}
	return c
}
