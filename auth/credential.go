package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Credential is what a user holds for one registry.
type Credential struct {
	Username      string
	Password      string
	IdentityToken string // an OAuth2 refresh token ("identitytoken" in docker's config.json)
	RegistryToken string // a bearer token sent as is ("registrytoken" in docker's config.json)
	// From says where the credential was found, for a person fixing a
	// refused one: "/root/.docker/config.json", "credential helper
	// docker-credential-pass", "--password-stdin". Never a secret.
	From string
}

// IsZero reports whether c holds nothing, which means anonymous access.
func (c Credential) IsZero() bool {
	return c.Username == "" && c.Password == "" && c.IdentityToken == "" && c.RegistryToken == ""
}

// String never prints a secret, so a Credential may be logged by mistake.
func (c Credential) String() string {
	switch {
	case c.IsZero():
		return "anonymous"
	case c.RegistryToken != "":
		return "registry token"
	case c.IdentityToken != "":
		return fmt.Sprintf("identity token for %q", c.Username)
	default:
		return fmt.Sprintf("password for %q", c.Username)
	}
}

// GoString keeps %#v from printing secrets too.
func (c Credential) GoString() string { return "auth.Credential{" + c.String() + "}" }

// ErrNotLoggedIn is returned, wrapped with the registry's name, by Erase when there is
// nothing to erase.
var ErrNotLoggedIn = errors.New("not logged in")

// Source finds the credential for a registry. registry is the reference's domain as
// github.com/distribution/reference normalizes it: "docker.io", "ghcr.io",
// "localhost:5000". A zero Credential with nil error means anonymous.
type Source interface {
	Credential(ctx context.Context, registry string) (Credential, error)
}

// Static applies to exactly one registry (flags -u/--password-stdin,
// HAUL_USERNAME/HAUL_PASSWORD): never to another registry, a mirror or a redirect target.
// The zero Static applies to none.
type Static struct {
	Registry string // compared after normalization: "index.docker.io" is "docker.io"
	Cred     Credential
}

// Credential returns s.Cred if registry is s.Registry, and the zero Credential otherwise.
func (s Static) Credential(_ context.Context, registry string) (Credential, error) {
	if s.Registry == "" || normalizeRegistry(s.Registry) != normalizeRegistry(registry) {
		return Credential{}, nil
	}
	return s.Cred, nil
}

// Chain asks each source in order; the first non-zero credential wins. An error stops
// the chain: a failing credential helper is an error, never silent anonymous access.
type Chain []Source

// Credential asks each source of c in turn.
func (c Chain) Credential(ctx context.Context, registry string) (Credential, error) {
	for _, s := range c {
		if s == nil {
			continue
		}
		cred, err := s.Credential(ctx, registry)
		if err != nil {
			return Credential{}, err
		}
		if !cred.IsZero() {
			return cred, nil
		}
	}
	return Credential{}, nil
}

// Default is the lookup haul uses: explicit (may be the zero Static) first, then
// docker's config.json and its helpers, then podman's auth.json. env nil means os.Getenv.
func Default(explicit Static, env func(string) string) Source {
	return Chain{explicit, DockerConfig{Env: env}, ContainersAuth{Env: env}}
}

// dockerHubKey is where docker keeps Docker Hub's credential, in auths and as the
// server URL it gives credential helpers: the v1 index address, for history's sake.
const dockerHubKey = "https://index.docker.io/v1/"

// normalizeRegistry reduces a registry name or a config.json key to the domain
// distribution/reference would give: it drops an http(s) scheme and any path, lower-cases
// the host, and names Docker Hub "docker.io" whichever of its aliases was used.
func normalizeRegistry(s string) string {
	if scheme, rest, ok := strings.Cut(s, "://"); ok && (strings.EqualFold(scheme, "http") || strings.EqualFold(scheme, "https")) {
		s = rest
	}
	s, _, _ = strings.Cut(s, "/")
	s = strings.ToLower(s)
	switch s {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return s
}

// dockerKey is the key docker uses for registry in auths, credHelpers and helper calls.
func dockerKey(registry string) string {
	r := normalizeRegistry(registry)
	if r == "docker.io" {
		return dockerHubKey
	}
	return r
}
