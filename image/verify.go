package image

import (
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"io"

	"github.com/opencontainers/go-digest"
)

// DigestError says that content did not hash to the digest it was fetched by.
// Every verified read returns it at EOF (a Verifier's Check, so
// registry.Client's manifests and blobs, the store's, an archive's), wrapped
// in what was being read: match it with errors.As. The bytes already read are
// not the content asked for and must be dropped. A *SizeError says the same of
// the length, and comes first when both are wrong.
type DigestError struct {
	What string // what was checked: "blob sha256:…", "manifest alpine:3"
	Want digest.Digest
	Got  digest.Digest
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("%s: digest mismatch: want %s, got %s", e.What, e.Want, e.Got)
}

// SizeError says that content was not as long as its descriptor said:
// returned as DigestError is (match it with errors.As), and also by a
// registry that gives a blob another size than its descriptor.
type SizeError struct {
	What string
	Want int64
	Got  int64 // for a body longer than Want, Want+1: reading stopped there
}

func (e *SizeError) Error() string {
	if e.Got > e.Want {
		return fmt.Sprintf("%s: size mismatch: want %d bytes, got more", e.What, e.Want)
	}
	return fmt.Sprintf("%s: size mismatch: want %d bytes, got %d", e.What, e.Want, e.Got)
}

// NewHash returns the hash for d's algorithm; d must have passed ValidateDigest.
func NewHash(d digest.Digest) hash.Hash {
	switch d.Algorithm() {
	case digest.SHA384:
		return sha512.New384()
	case digest.SHA512:
		return sha512.New()
	}
	return sha256.New()
}

// Verifier checks a stream against a descriptor as it is read: it is an io.Writer
// fed every byte in order, and Check judges size and digest at the end.
type Verifier struct {
	want Descriptor
	what string
	h    hash.Hash
	n    int64
}

// NewVerifier returns a Verifier for d, which must have passed ValidateDescriptor.
// what names the content in errors.
func NewVerifier(d Descriptor, what string) *Verifier {
	return &Verifier{want: d, what: what, h: NewHash(d.Digest)}
}

func (v *Verifier) Write(p []byte) (int, error) {
	v.n += int64(len(p))
	return v.h.Write(p)
}

// Written is the number of bytes seen so far.
func (v *Verifier) Written() int64 { return v.n }

// Check returns a *SizeError or *DigestError, or nil when the bytes seen are the descriptor's.
func (v *Verifier) Check() error {
	if v.n != v.want.Size {
		return &SizeError{What: v.what, Want: v.want.Size, Got: v.n}
	}
	if got := digest.NewDigestFromBytes(v.want.Digest.Algorithm(), v.h.Sum(nil)); got != v.want.Digest {
		return &DigestError{What: v.what, Want: v.want.Digest, Got: got}
	}
	return nil
}

// VerifyReader returns a reader that yields at most d.Size bytes of r and, in
// place of io.EOF, the verification error if the stream was not d's content.
// It reads one byte past d.Size to tell a long body from an exact one, so an
// oversized body fails without being read in full.
func VerifyReader(r io.Reader, d Descriptor, what string) io.Reader {
	return &verifyingReader{r: io.LimitReader(r, d.Size+1), v: NewVerifier(d, what)}
}

type verifyingReader struct {
	r   io.Reader
	v   *Verifier
	err error
}

func (vr *verifyingReader) Read(p []byte) (int, error) {
	if vr.err != nil {
		return 0, vr.err
	}
	n, err := vr.r.Read(p)
	if over := vr.v.n + int64(n) - vr.v.want.Size; over > 0 {
		vr.v.Write(p[:n])
		vr.err = vr.v.Check()
		return n - int(over), vr.err
	}
	vr.v.Write(p[:n])
	if err == io.EOF {
		if cerr := vr.v.Check(); cerr != nil {
			err = cerr
		}
		vr.err = err
	}
	return n, err
}
