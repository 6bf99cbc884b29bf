package cli

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/ref"
)

func newBlobCmd(e *env) *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "blob REPO@DIGEST",
		Short: "Download one blob, verified",
		Long: `Download the blob DIGEST of repository REPO (a layer or a config) to stdout or,
with -o, to FILE. The bytes are checked against DIGEST as they arrive; FILE
appears only once they have matched. On stdout, a mismatch is reported after the
bytes were written, and the exit code is 1.`,
		Example: "  haul blob alpine@sha256:… -o layer.tar.gz\n  haul blob localhost:5000/app@sha256:… | tar -tzf -",
		Args:    exactArgs(1, "one REPO@DIGEST"),
	}
	c.Flags().StringVarP(&out, "output", "o", "", "write to FILE instead of stdout")
	c.RunE = func(cmd *cobra.Command, args []string) error {
		r, err := ref.Parse(args[0])
		if err != nil {
			return usageError{err}
		}
		if r.Digest() == "" {
			return usagef("blob needs a digest: REPO@sha256:…")
		}
		if err := e.allowed(r); err != nil {
			return err
		}
		cl, err := e.reader(r.Registry())
		if err != nil {
			return err
		}
		d, err := cl.BlobDescriptor(cmd.Context(), r, r.Digest())
		if err != nil {
			return err
		}
		rc, err := cl.Blob(cmd.Context(), r, d)
		if err != nil {
			return err
		}
		defer rc.Close()
		if out == "" || out == "-" {
			_, err = io.Copy(e.Stdout, rc)
			return err
		}
		return writeFileAtomic(out, func(w io.Writer) error {
			_, err := io.Copy(w, rc)
			return err
		})
	}
	return c
}

// writeFileAtomic writes path through a temporary file beside it, renamed into
// place only when write succeeded and the data reached the disk: a failure
// leaves nothing at path.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	err := disk.WriteFile(path, true, false, func(f *os.File) error { return write(f) })
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
