//go:build !linux

package rootfs

import (
	"context"
	"errors"
	"io"

	"github.com/opencontainers/go-digest"
)

// Unpacking resolves every path inside the root with openat2 and friends,
// which only Linux has.
type extractor struct{}

func newExtractor(string, Config, *Stats) (*extractor, error) {
	return nil, errors.New("unpacking a root filesystem needs Linux")
}

func (x *extractor) apply(context.Context, digest.Digest, io.Reader) error { return nil }
func (x *extractor) finish() error                                         { return nil }
func (x *extractor) close()                                                {}
