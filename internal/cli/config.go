package cli

import (
	"github.com/spf13/cobra"
)

func newConfigCmd(e *env) *cobra.Command {
	var raw bool
	c := &cobra.Command{
		Use:   "config REF | config show",
		Short: "Print the config of an image, or haul's own configuration (config show)",
		Long: `Print the image config (environment, entrypoint, history, rootfs diff_ids) of
REF, verified against its digest. An index is resolved to --platform.

haul config show prints haul's own settings instead: config.toml, the mirrors
and insecure registries of docker's and the containers tools' files, and where
each came from (see haul config show --help). An image named show is
docker.io/library/show.`,
		Example: "  haul config alpine | jq .config.Env\n  haul config --platform linux/arm/v7 alpine\n  haul config show",
		Args:    exactArgs(1, "one REF"),
	}
	c.AddCommand(newConfigShowCmd(e))
	platform := platformFlag(c)
	c.Flags().BoolVar(&raw, "raw", false, "print the bytes exactly as the registry sent them")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		_, cl, err := e.front(cmd, args[0], platform)
		if err != nil {
			return err
		}
		defer cl.Close()
		cfg, err := cl.ImageConfig(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if raw {
			_, err = e.Stdout.Write(cfg.Bytes)
			return err
		}
		return e.printIndented(cfg.Bytes, "config")
	}
	return c
}
