package cli

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"unicode/utf8"

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
		toStdout := out == "" || out == "-"
		if !toStdout {
			if err := disk.CheckFile(out); err != nil {
				return err
			}
		}
		cl, err := e.haulClient("", true)
		if err != nil {
			return err
		}
		defer cl.Close()
		rc, err := cl.Blob(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		defer rc.Close()
		if toStdout {
			var body io.Reader = rc
			if e.stdoutTerminal() {
				br := bufio.NewReader(rc)
				if head, _ := br.Peek(512); isBinary(head) {
					return usagef("cowardly refusing to write a binary blob to a terminal: redirect it, e.g. haul blob %s > blob.tar.gz, or use -o FILE", args[0])
				}
				body = br
			}
			_, err = io.Copy(e.Stdout, body)
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
// leaves nothing at path. The temporary files that killed writes to path
// left beside it, and no live process holds, are removed first.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	disk.RemoveStale(path)
	err := disk.WriteFile(path, true, false, func(f *os.File) error { return write(f) })
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// stdoutTerminal reports whether stdout is a terminal, where a tar or a
// binary blob is refused, as docker save refuses it.
func (e *env) stdoutTerminal() bool { return e.StdoutIsTerminal != nil && e.StdoutIsTerminal() }

// isBinary reports whether the first bytes of a blob are no text a terminal
// shows: a NUL (a tar), or bytes that are not UTF-8 (gzip, zstd). A config
// blob, JSON, is text.
func isBinary(head []byte) bool {
	// Peek may have cut the last character short.
	for i := len(head) - 1; i >= 0 && i >= len(head)-utf8.UTFMax; i-- {
		if utf8.RuneStart(head[i]) {
			if !utf8.FullRune(head[i:]) {
				head = head[:i]
			}
			break
		}
	}
	return bytes.IndexByte(head, 0) >= 0 || !utf8.Valid(head)
}
