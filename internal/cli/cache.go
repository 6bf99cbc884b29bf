package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/store"
)

func newCacheCmd(e *env) *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "cache",
		Short: "List or prune the blob cache",
		Long: `haul keeps every blob it pulls in a cache ($XDG_CACHE_HOME/haul, else
~/.cache/haul), laid out as an OCI image layout, with partial downloads kept
apart until they finish. Partials older than 7 days are dropped by themselves.`,
	}
	c.PersistentFlags().StringVar(&dir, "cache-dir", "", "cache directory (default $XDG_CACHE_HOME/haul)")
	open := func() (*store.Store, error) {
		st, err := store.Open(store.Config{Dir: dir, Env: e.Getenv})
		if err != nil {
			return nil, fmt.Errorf("opening the cache: %w", err)
		}
		return st, nil
	}
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List cached blobs and partial downloads",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open()
			if err != nil {
				return err
			}
			entries, err := st.List(cmd.Context())
			if err != nil {
				return err
			}
			if e.g.json {
				if entries == nil {
					entries = []store.Entry{}
				}
				return e.printJSON(map[string]any{"dir": st.Dir(), "blobs": entries})
			}
			tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
			var total int64
			for _, en := range entries {
				kind := "blob"
				if en.Partial {
					kind = "partial"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", en.Digest, human(en.Size), kind, en.ModTime.Format(time.DateTime))
				total += en.Size
			}
			fmt.Fprintf(tw, "%d entries, %s in %s\n", len(entries), human(total), st.Dir())
			return tw.Flush()
		},
	}
	var all bool
	prune := &cobra.Command{
		Use:   "prune",
		Short: "Remove stale partial downloads, or everything with --all",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open()
			if err != nil {
				return err
			}
			n, freed, err := st.Prune(cmd.Context(), store.PruneOptions{All: all})
			if err != nil {
				return err
			}
			if e.g.json {
				return e.printJSON(map[string]any{"removed": n, "freed": freed})
			}
			fmt.Fprintf(e.Stdout, "removed %d entries, freed %s\n", n, human(freed))
			return nil
		},
	}
	prune.Flags().BoolVar(&all, "all", false, "remove every cached blob, not only stale partials")
	c.AddCommand(ls, prune)
	return c
}
