package image

import (
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// ErrInvalidDescriptor is wrapped by every error ValidateDescriptor returns.
var ErrInvalidDescriptor = errors.New("invalid descriptor")

// ValidateDescriptor checks what a registry's descriptor must satisfy before any
// I/O is done with it: a digest with a known algorithm and a well-formed hex part
// (so no digest can become a path or a URL segment), and a size that is not negative.
func ValidateDescriptor(d Descriptor) error {
	if err := ValidateDigest(d.Digest); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidDescriptor, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("%w: %s has negative size %d", ErrInvalidDescriptor, d.Digest, d.Size)
	}
	return nil
}

// ValidateDigest checks that d names a supported algorithm and is well formed.
// Unlike digest.Digest.Verifier, it never panics on input from a stranger.
func ValidateDigest(d digest.Digest) error {
	if d == "" {
		return errors.New("missing digest")
	}
	if err := d.Validate(); err != nil {
		return fmt.Errorf("digest %.80q: %w", string(d), err)
	}
	return nil
}
