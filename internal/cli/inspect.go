package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul"
)

func newInspectCmd(e *env) *cobra.Command {
	c := &cobra.Command{
		Use:   "inspect REF",
		Short: "Describe an image for a person: platforms, layers, sizes, entrypoint",
		Long: `Describe REF: the platforms of an index, and for the one chosen by --platform
its creation time, entrypoint, command, environment, exposed ports, labels,
annotations and layers with sizes.`,
		Example: "  haul inspect alpine\n  haul inspect --json --platform linux/arm64 ghcr.io/org/app:1",
		Args:    exactArgs(1, "one REF"),
	}
	platform := platformFlag(c)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		_, cl, err := e.front(cmd, args[0], platform)
		if err != nil {
			return err
		}
		defer cl.Close()
		in, err := cl.Inspect(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if e.g.json {
			return e.printJSON(in)
		}
		return printInspection(e.Stdout, in)
	}
	return c
}

func printInspection(w io.Writer, in *haul.Image) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Reference:\t%s\n", in.Reference)
	fmt.Fprintf(tw, "Digest:\t%s\n", in.Digest)
	fmt.Fprintf(tw, "Media type:\t%s\n", in.MediaType)
	if len(in.Platforms) > 0 {
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w, "Platforms:")
		pw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, p := range in.Platforms {
			mark := " "
			if p.Selected {
				mark = "*"
			}
			kind := ""
			if p.Attestation {
				kind = "(attestation)"
			}
			fmt.Fprintf(pw, "  %s %s\t%s\t%s\t%s\n", mark, p.Platform, p.Digest, human(p.Size), kind)
		}
		if err := pw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(tw, "Image:\t%s\n", in.Image.Digest)
	}
	fmt.Fprintf(tw, "Platform:\t%s\n", in.Image.Platform)
	if in.Image.Created != nil {
		fmt.Fprintf(tw, "Created:\t%s\n", in.Image.Created.UTC().Format(time.RFC3339))
	}
	if len(in.Image.Entrypoint) > 0 {
		fmt.Fprintf(tw, "Entrypoint:\t%s\n", strings.Join(in.Image.Entrypoint, " "))
	}
	if len(in.Image.Cmd) > 0 {
		fmt.Fprintf(tw, "Cmd:\t%s\n", strings.Join(in.Image.Cmd, " "))
	}
	if in.Image.WorkingDir != "" {
		fmt.Fprintf(tw, "Working dir:\t%s\n", in.Image.WorkingDir)
	}
	if in.Image.User != "" {
		fmt.Fprintf(tw, "User:\t%s\n", in.Image.User)
	}
	for i, env := range in.Image.Env {
		label := ""
		if i == 0 {
			label = "Env:"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, env)
	}
	if len(in.Image.ExposedPorts) > 0 {
		fmt.Fprintf(tw, "Exposed ports:\t%s\n", strings.Join(in.Image.ExposedPorts, ", "))
	}
	printMap(tw, "Labels:", in.Image.Labels)
	printMap(tw, "Annotations:", in.Image.Annotations)
	printMap(tw, "Index annotations:", in.Annotations)
	fmt.Fprintf(tw, "Config:\t%s\n", in.Image.Config)
	fmt.Fprintf(tw, "Layers:\t%d, %s compressed\n", len(in.Layers), human(in.TotalSize))
	if err := tw.Flush(); err != nil {
		return err
	}
	lw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, l := range in.Layers {
		fmt.Fprintf(lw, "  %s\t%s\t%s\n", l.Digest, human(l.Size), l.MediaType)
	}
	return lw.Flush()
}

// printMap writes m's entries as key=value, sorted, one a line, the first
// under title, as Env's are. The image's author wrote them: control
// characters are shown as '?', so none reaches the terminal.
func printMap(tw io.Writer, title string, m map[string]string) {
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			title = ""
		}
		fmt.Fprintf(tw, "%s\t%s=%s\n", title, noControl(k), noControl(m[k]))
	}
}

// noControl replaces control characters and broken UTF-8 with '?'.
func noControl(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

// human writes a byte count the way a person reads it.
func human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
