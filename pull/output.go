package pull

import (
	"os"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/layout"
	"github.com/haul-dev/haul/rootfs"
)

// checkOutput refuses, before the first request, an output that could not
// be written once everything is fetched: a tar (docker, oci-archive) needs
// a directory that exists and takes a new file, and is refused onto a
// directory; an oci layout goes into an absent or empty directory or a
// layout (layout.Check); a rootfs into an absent or empty directory, or any
// with Unpack.Force (rootfs.Check). What it refuses is a *disk.OutputError
// naming c.Output (or, for a rootfs anywhere but on Linux,
// rootfs.ErrUnsupported). Stdout needs nothing.
func checkOutput(c Config) error {
	switch {
	case c.Output == "-":
		return nil
	case c.Format == OCI:
		return layout.Check(c.Output)
	case c.Format == RootFS:
		return rootfs.Check(c.Output, c.Unpack)
	}
	if fi, err := os.Stat(c.Output); err == nil && fi.IsDir() {
		return disk.Refuse(c.Output, disk.ErrIsDir, "it is a directory, and the %s format writes one file: name a file (in it, say), or use the oci format for a layout directory", c.Format)
	}
	return disk.CheckFile(c.Output)
}
