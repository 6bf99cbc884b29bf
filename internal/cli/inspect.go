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

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/registry"
)

// inspection is what `haul inspect` shows, and its --json shape.
type inspection struct {
	Reference string          `json:"reference"`
	Digest    string          `json:"digest"`
	MediaType string          `json:"mediaType"`
	Platforms []platformEntry `json:"platforms,omitempty"`
	// Annotations of the index REF points to; the image manifest's are in Image.
	Annotations map[string]string `json:"annotations,omitempty"`
	Image       imageInspection   `json:"image"`
	Layers      []layerEntry      `json:"layers"`
	TotalSize   int64             `json:"totalSize"`
}

type platformEntry struct {
	Platform    string `json:"platform"`
	Digest      string `json:"digest"`
	Size        int64  `json:"size"`
	Attestation bool   `json:"attestation,omitempty"`
	Selected    bool   `json:"selected,omitempty"`
}

type imageInspection struct {
	Digest       string            `json:"digest"`
	Platform     string            `json:"platform"`
	Created      *time.Time        `json:"created,omitempty"`
	Entrypoint   []string          `json:"entrypoint,omitempty"`
	Cmd          []string          `json:"cmd,omitempty"`
	WorkingDir   string            `json:"workingDir,omitempty"`
	User         string            `json:"user,omitempty"`
	Env          []string          `json:"env,omitempty"`
	ExposedPorts []string          `json:"exposedPorts,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"` // of the image manifest
	Config       string            `json:"config"`
}

type layerEntry struct {
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType"`
}

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
		r, p, cl, err := e.target(args[0], platform)
		if err != nil {
			return err
		}
		img, err := e.image(cmd, cl, r, p)
		if err != nil {
			return err
		}
		in := describe(r.String(), img)
		if e.g.json {
			return e.printJSON(in)
		}
		return printInspection(e.Stdout, in)
	}
	return c
}

func describe(name string, img *registry.Image) inspection {
	top, last := img.Chain[0], img.Chain[len(img.Chain)-1]
	in := inspection{
		Reference: name,
		Digest:    top.Descriptor.Digest.String(),
		MediaType: top.Descriptor.MediaType,
	}
	if idx := top.Parsed.Index; idx != nil {
		in.Annotations = idx.Annotations
		var chosen string
		if len(img.Chain) > 1 {
			chosen = img.Chain[1].Descriptor.Digest.String()
		}
		for _, d := range idx.Manifests {
			pe := platformEntry{Digest: d.Digest.String(), Size: d.Size, Attestation: image.IsAttestation(d), Selected: d.Digest.String() == chosen}
			if d.Platform != nil {
				pe.Platform = image.FormatPlatform(*d.Platform)
			}
			in.Platforms = append(in.Platforms, pe)
		}
	}
	cfg := img.Config
	in.Image = imageInspection{
		Digest:       last.Descriptor.Digest.String(),
		Platform:     image.FormatPlatform(image.Platform{OS: cfg.OS, Architecture: cfg.Architecture, Variant: cfg.Variant}),
		Created:      cfg.Created,
		Entrypoint:   cfg.Config.Entrypoint,
		Cmd:          cfg.Config.Cmd,
		WorkingDir:   cfg.Config.WorkingDir,
		User:         cfg.Config.User,
		Env:          cfg.Config.Env,
		Labels:       cfg.Config.Labels,
		Annotations:  img.Manifest.Annotations,
		ExposedPorts: slices.Sorted(maps.Keys(cfg.Config.ExposedPorts)),
		Config:       img.Manifest.Config.Digest.String(),
	}
	for _, l := range img.Manifest.Layers {
		in.Layers = append(in.Layers, layerEntry{Digest: l.Digest.String(), Size: l.Size, MediaType: l.MediaType})
		in.TotalSize += l.Size
	}
	return in
}

func printInspection(w io.Writer, in inspection) error {
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
