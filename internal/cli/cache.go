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
		Long: `haul keeps the blobs it pulls in a cache ($XDG_CACHE_HOME/haul, else
~/.cache/haul), laid out as an OCI image layout, with partial downloads kept
apart until they finish. Partials older than 7 days are dropped by themselves.

An oci or rootfs pull keeps every blob here (a layout hardlinks them). A tar
pull writes each layer it downloads once, into the tar, and keeps here the
manifests, configs and blobs under 1 MiB, and larger layers only where this
filesystem shares extents with the tar's (XFS, Btrfs), which costs no second
write; --cache-all (config.toml: cache-all = true) keeps every layer.`,
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
				return e.printJSON(map[string]any{"dir": st.Dir(), "blobs": entries, "sharesExtents": st.SharesExtents(cmd.Context())})
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
			if err := tw.Flush(); err != nil {
				return err
			}
			if st.SharesExtents(cmd.Context()) {
				fmt.Fprintln(e.Stdout, "this filesystem shares extents: tar pulls keep every layer here at no cost")
			} else {
				fmt.Fprintln(e.Stdout, "this filesystem cannot share extents: tar pulls keep here only blobs under 1 MiB (--cache-all for every layer)")
			}
			return nil
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
