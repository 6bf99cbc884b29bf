package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul"
	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/pull"
)

const exportLong = `Write the filesystem an image's layers make, flattened, as one tar: what
tar -x of it gives is what haul unpack makes (whiteouts applied, never
written; each path once, as the uppermost layer has it), but for the times
of directories: entries come layer by layer, top first, as crane export
writes them, so tar -x sets a directory's times before all of it is in.
For scanners, or for tar -x where haul does not run.

The image is a local archive or OCI layout (SRC, when that path exists; see
haul unpack) or a reference pulled from its registry (REF: config and layers
fetched into the cache, or a temporary one with --no-cache).

Every layer is verified as it is read. With -o FILE the tar is written under
a temporary name and renamed when whole; with -o - it streams to stdout, and
a failure leaves a tar cut short, ended by a block no tar reader accepts,
and exit code 1.`

func newExportCmd(e *env) *cobra.Command {
	var out, name, cacheDir string
	var noCache bool
	var jobs int
	c := &cobra.Command{
		Use:     "export REF|SRC -o FILE|-",
		Short:   "Write an image's flattened filesystem as one tar",
		Long:    exportLong,
		Example: "  haul export alpine:3.20 -o - | tar -tv\n  haul export bundle.tar --image ghcr.io/org/app:1 -o app-fs.tar",
		Args:    exactArgs(1, "one REF or SRC"),
	}
	f := c.Flags()
	f.StringVarP(&out, "output", "o", "", "file to write, or - for stdout (required)")
	f.StringVar(&name, "image", "", "the image to export from an archive holding several")
	platform := platformFlag(c)
	f.IntVar(&jobs, "jobs", pull.DefaultJobs, "blobs fetched at once (REF)")
	f.StringVar(&cacheDir, "cache-dir", "", "blob cache directory (default $XDG_CACHE_HOME/haul)")
	f.BoolVar(&noCache, "no-cache", false, "use a temporary cache, removed afterwards")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if out == "" {
			return usagef("export needs -o FILE, or -o - for stdout")
		}
		if out == "-" && e.stdoutTerminal() {
			return usagef("cowardly refusing to write a tar to a terminal: redirect it, e.g. haul export %s -o - > fs.tar, or pipe it into tar -t", args[0])
		}
		if out != "-" {
			if err := disk.CheckFile(out); err != nil {
				return err
			}
		}
		p, err := platform()
		if err != nil {
			return err
		}
		var write func(w io.Writer) error
		var summary func() string
		if _, serr := os.Stat(args[0]); serr == nil {
			l, err := openLocal(cmd.Context(), args[0], name, p)
			if err != nil {
				return err
			}
			defer l.Close()
			write = func(w io.Writer) error { return l.Export(cmd.Context(), w) }
			summary = func() string { return "exported " + pull.StoredName(l.Image) + " to " + out }
		} else {
			if name != "" {
				return usagef("--image chooses among the images of a local archive; %s is no file or directory", args[0])
			}
			r, err := parseRef(args[0])
			if err != nil {
				return usagef("%s is neither a file or directory nor a reference: %v", args[0], err)
			}
			if err := e.allowed(r); err != nil {
				return err
			}
			plat := ""
			if cmd.Flags().Changed("platform") {
				plat = image.FormatPlatform(p)
			}
			cl, pr, err := e.pullClient(plat, fetchFlags{jobs, cacheDir, noCache}, out == "-")
			if err != nil {
				return err
			}
			defer cl.Close()
			write = func(w io.Writer) error {
				res, err := cl.Export(cmd.Context(), args[0], w)
				pr.done()
				if err == nil {
					summary = func() string { return e.exportLine(res, out) }
				}
				return err
			}
		}
		if out == "-" {
			err = write(e.Stdout)
		} else {
			err = writeFileAtomic(out, write)
		}
		if err == nil && summary != nil && !e.g.quiet && !e.g.json {
			fmt.Fprintln(e.Stderr, summary())
		}
		return err
	}
	return c
}

// exportLine is the summary of an export of a reference: what was fetched.
func (e *env) exportLine(res *haul.Exported, out string) string {
	line := fmt.Sprintf("exported %s (%s) to %s: fetched %s, %s from cache", familiar(res.Image), res.Digest, out, human(res.Fetched), human(res.Cached))
	if e.anyMirrors() {
		line += "\n" + servedLine(res.Served)
	}
	return line
}
