//go:build !linux

package rootfs

import (
	"context"
	"io"
	"os"

	"github.com/opencontainers/go-digest"
)

// supported says that Create refuses here, with ErrUnsupported: unpacking
// resolves every path inside the root with openat2 and friends, which only
// Linux has.
const supported = false

// extractor stands in for Linux's, which Create never gets to make here.
type extractor struct{}

func newExtractor(string, Config, *Stats) (*extractor, error) { return nil, ErrUnsupported }

func (x *extractor) apply(context.Context, digest.Digest, io.Reader) error { return ErrUnsupported }
func (x *extractor) finish() error                                         { return ErrUnsupported }
func (x *extractor) close()                                                {}

func renameDir(from, to string) error { return os.Rename(from, to) }
