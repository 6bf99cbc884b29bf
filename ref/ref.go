package ref

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
)

// DockerHub is the registry name docker gives Docker Hub, and DockerHubAPI the
// host its distribution API answers on.
const (
	DockerHub    = "docker.io"
	DockerHubAPI = "registry-1.docker.io"
	defaultTag   = "latest"
)

// Reference names an image: a repository in a registry, and a tag, a digest, or both.
type Reference struct {
	registry   string
	repository string
	tag        string
	digest     digest.Digest
}

// ErrInvalid is wrapped by every error Parse returns.
var ErrInvalid = errors.New("invalid reference")

// Parse normalizes s the way docker does. A reference with neither tag nor digest
// gets the tag "latest".
func Parse(s string) (Reference, error) {
	r, err := parse(s)
	if err != nil {
		return Reference{}, err
	}
	if r.tag == "" && r.digest == "" {
		r.tag = defaultTag
	}
	return r, nil
}

// ParseRepository parses a repository name with no tag or digest, as `haul tags` takes.
func ParseRepository(s string) (Reference, error) {
	r, err := parse(s)
	if err != nil {
		return Reference{}, err
	}
	if r.tag != "" || r.digest != "" {
		return Reference{}, fmt.Errorf("%w: %q: a repository takes no tag or digest", ErrInvalid, s)
	}
	return r, nil
}

func parse(s string) (Reference, error) {
	n, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return Reference{}, fmt.Errorf("%w: %q: %w", ErrInvalid, s, hint(s, err))
	}
	r := Reference{registry: reference.Domain(n), repository: reference.Path(n)}
	if t, ok := n.(reference.Tagged); ok {
		r.tag = t.Tag()
	}
	if d, ok := n.(reference.Digested); ok {
		r.digest = d.Digest()
		if err := r.digest.Validate(); err != nil {
			return Reference{}, fmt.Errorf("%w: %q: %w", ErrInvalid, s, err)
		}
	}
	return r, nil
}

// hint turns the grammar's terse errors into advice for the two common slips.
func hint(s string, err error) error {
	lower := strings.ToLower(s)
	_, lerr := reference.ParseNormalizedNamed(lower)
	switch {
	case lower != s && lerr == nil:
		return fmt.Errorf("%w (repository names are lower case: did you mean %q?)", err, lower)
	case strings.Contains(s, "://"):
		return fmt.Errorf("%w (give the registry without a scheme, as in localhost:5000/app)", err)
	}
	return err
}

// Registry is the registry's name as docker writes it: "docker.io", "ghcr.io", "localhost:5000".
func (r Reference) Registry() string { return r.registry }

// Repository is the repository path inside the registry: "library/alpine".
func (r Reference) Repository() string { return r.repository }

// Tag is the tag, or "" for a reference by digest alone.
func (r Reference) Tag() string { return r.tag }

// Digest is the pinned digest, or "".
func (r Reference) Digest() digest.Digest { return r.digest }

// Name is the fully qualified repository: "docker.io/library/alpine".
func (r Reference) Name() string { return r.registry + "/" + r.repository }

// Identifier is what goes after /manifests/ in a request: the digest when pinned, else the tag.
func (r Reference) Identifier() string {
	if r.digest != "" {
		return r.digest.String()
	}
	return r.tag
}

// String is the fully qualified reference, which Parse reads back to r.
func (r Reference) String() string {
	if r.repository == "" {
		return ""
	}
	s := r.Name()
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest.String()
	}
	return s
}

// Familiar is the short form docker prints: "alpine:latest", "ghcr.io/o/x:1".
func (r Reference) Familiar() string {
	s := r.FamiliarName()
	if r.tag != "" {
		s += ":" + r.tag
	}
	if r.digest != "" {
		s += "@" + r.digest.String()
	}
	return s
}

// FamiliarName is the repository as docker prints it: "alpine", "user/app", "ghcr.io/o/x".
func (r Reference) FamiliarName() string {
	if r.registry != DockerHub {
		return r.Name()
	}
	if rest, ok := strings.CutPrefix(r.repository, "library/"); ok && !strings.Contains(rest, "/") {
		return rest
	}
	// A first component that reads as a registry (docker.io/0.0/x, docker.io/
	// localhost/x) must keep docker.io/ in front, or the name would parse as
	// another registry's: docker's rule, splitDockerDomain's, for what comes
	// before the first slash.
	if first, _, ok := strings.Cut(r.repository, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return DockerHub + "/" + r.repository
	}
	return r.repository
}

// WithDigest returns r pinned to d, keeping its tag.
func (r Reference) WithDigest(d digest.Digest) Reference {
	r.digest = d
	return r
}

// WithTag returns r with tag t instead of its tag and digest.
func (r Reference) WithTag(t string) Reference {
	r.tag, r.digest = t, ""
	return r
}

// IsZero reports whether r is the zero Reference.
func (r Reference) IsZero() bool { return r == Reference{} }

// APIHost is the host:port that serves the distribution API of a registry name:
// Docker Hub's is registry-1.docker.io; every other registry serves its own name.
func APIHost(registry string) string {
	if registry == DockerHub || registry == "index.docker.io" {
		return DockerHubAPI
	}
	return registry
}

// IsLoopback reports whether a registry name is this machine (localhost, 127.0.0.0/8, ::1),
// where plain HTTP is used without asking, as docker does.
func IsLoopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
