package cli

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/rootfs"
)

const unpackLong = `Unpack an image from a local archive or OCI layout into DIR: its layers
applied in order (whiteouts, opaque directories, hardlinks, symlinks, modes,
owners when run as root, times), nothing ever written outside DIR.

SRC is a tar that haul pull, docker save (any version), podman or skopeo
wrote (docker or oci-archive), or an OCI layout directory. When SRC holds
several images, --image NAME chooses one; an index is resolved to --platform.
Each layer's digest and diff_id are checked as it is read.

DIR must be absent or empty (--force applies the layers onto what is there).
The tree is built beside DIR and renamed onto it once every layer verified:
a failed unpack leaves nothing at DIR.`

// unpackFlags are the rootfs settings unpack and pull --format rootfs share.
type unpackFlags struct {
	force      bool
	maxSize    int64
	maxEntries int64
}

func (u *unpackFlags) add(c *cobra.Command) {
	f := c.Flags()
	f.BoolVar(&u.force, "force", false, "apply the layers onto a DIR that is not empty (a failure leaves it changed)")
	f.Var(sizeValue{&u.maxSize}, "max-size", "most bytes of file content to write, as 10G or 512M (default: no limit)")
	f.Int64Var(&u.maxEntries, "max-entries", 0, "most tar entries to read over all layers (default: no limit)")
}

func (u *unpackFlags) config(e *env) rootfs.Config {
	c := rootfs.Config{MaxSize: u.maxSize, MaxEntries: u.maxEntries, Force: u.force}
	if !e.g.quiet {
		c.Warn = func(s string) { fmt.Fprintf(e.Stderr, "haul: warning: %s\n", s) }
	}
	return c
}

func newUnpackCmd(e *env) *cobra.Command {
	var name string
	var uf unpackFlags
	c := &cobra.Command{
		Use:     "unpack SRC DIR",
		Short:   "Unpack an image from a local archive or layout into a directory",
		Long:    unpackLong,
		Example: "  haul unpack alpine_3.20.tar rootfs/\n  haul unpack --image ghcr.io/org/app:1 bundle.tar app/\n  haul unpack --platform linux/arm64 layout/ rootfs/",
		Args:    exactArgs(2, "SRC and DIR"),
	}
	c.Flags().StringVar(&name, "image", "", "the image to unpack from an archive holding several")
	platform := platformFlag(c)
	uf.add(c)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		p, err := platform()
		if err != nil {
			return err
		}
		if uf.maxEntries < 0 {
			return usagef("--max-entries %d: want a count", uf.maxEntries)
		}
		src, dir := args[0], args[1]
		l, err := openLocal(cmd.Context(), src, name, p)
		if err != nil {
			return err
		}
		defer l.Close()
		stats, err := l.Unpack(cmd.Context(), dir, uf.config(e))
		if err != nil {
			return err
		}
		if e.g.json {
			return e.printJSON(map[string]any{"source": src, "image": l.Image.Name, "digest": l.Image.Digest(), "dir": dir, "stats": stats})
		}
		if !e.g.quiet {
			fmt.Fprintf(e.Stderr, "unpacked %s into %s: %d layers, %d entries, %d files, %s\n",
				pull.StoredName(l.Image), dir, stats.Layers, stats.Entries, stats.Files, human(stats.Bytes))
		}
		return nil
	}
	return c
}

// openLocal opens an archive or layout and resolves the image to use; a
// missing SRC, or an image to choose that was not named, is a usage error.
func openLocal(ctx context.Context, src, name string, p image.Platform) (*pull.Local, error) {
	l, err := pull.OpenLocal(ctx, src, name, p)
	var ae *archive.AmbiguousError
	switch {
	case errors.Is(err, os.ErrNotExist) && missing(src):
		return nil, usageError{err}
	case errors.As(err, &ae):
		return nil, usageError{fmt.Errorf("%w (--image NAME)", err)}
	}
	return l, err
}

// missing reports whether nothing is at path.
func missing(path string) bool {
	_, err := os.Stat(path)
	return errors.Is(err, os.ErrNotExist)
}
