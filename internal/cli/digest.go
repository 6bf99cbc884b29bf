package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul"
)

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
		r, cl, err := e.front(cmd, args[0], platform)
		if err != nil {
			return err
		}
		defer cl.Close()
		out := &haul.Resolved{Reference: r.String()}
		if cmd.Flags().Changed("platform") {
			out, err = cl.Resolve(cmd.Context(), args[0])
		} else {
			out.Digest, err = cl.Digest(cmd.Context(), args[0])
		}
		if err != nil {
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
