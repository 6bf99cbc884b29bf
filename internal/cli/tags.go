package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/ref"
)

func newTagsCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "tags REPO",
		Aliases: []string{"ls"},
		Short:   "List every tag of a repository",
		Long:    "List every tag of REPO, one a line, following the registry's pagination.",
		Example: "  haul tags alpine\n  haul tags --json localhost:5000/team/app",
		Args:    exactArgs(1, "one REPO"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := ref.ParseRepository(args[0])
			if err != nil {
				return usageError{err}
			}
			if err := e.allowed(r); err != nil {
				return err
			}
			cl, err := e.haulClient("", false)
			if err != nil {
				return err
			}
			defer cl.Close()
			tags, err := cl.Tags(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if e.g.json {
				if tags == nil {
					tags = []string{}
				}
				return e.printJSON(map[string]any{"repository": r.Name(), "tags": tags})
			}
			if len(tags) == 0 {
				return nil
			}
			_, err = fmt.Fprintln(e.Stdout, strings.Join(tags, "\n"))
			return err
		},
	}
}
