package mirror

import (
	"errors"
	"fmt"
	"strings"

	"github.com/haul-dev/haul/ref"
)

// Endpoint is one mirror: where its API is and how to speak to it.
type Endpoint struct {
	// Host is the mirror's host[:port], lower case, as a registry name:
	// "mirror.local:5000", "127.0.0.1:5001".
	Host string
	// Prefix is the repository path on the mirror that upstream names go
	// under: "hub" puts docker.io/library/alpine at HOST/hub/library/alpine;
	// "": at the mirror's root.
	Prefix string
	// PlainHTTP speaks http (an http:// endpoint). Loopback mirrors fall back
	// to http by themselves, as any loopback registry.
	PlainHTTP bool
	// Insecure skips TLS verification of the mirror and lets it answer in
	// plain HTTP, as an insecure registry of docker's or registries.conf's.
	Insecure bool
}

// ParseEndpoint reads a mirror as given on the command line or in a
// configuration file: host[:port][/path] or http(s)://host[:port][/path].
// http:// means plain HTTP; a path is a repository prefix on the mirror.
func ParseEndpoint(s string) (Endpoint, error) {
	bad := func(why string) (Endpoint, error) {
		return Endpoint{}, fmt.Errorf("mirror %q: %s (want host[:port][/path] or http(s)://host[:port][/path])", s, why)
	}
	var e Endpoint
	rest := strings.TrimSpace(s)
	if scheme, r, ok := strings.Cut(rest, "://"); ok {
		switch strings.ToLower(scheme) {
		case "http":
			e.PlainHTTP = true
		case "https":
		default:
			return bad("the scheme must be http or https")
		}
		rest = r
	}
	if rest == "" {
		return bad("no host")
	}
	if strings.ContainsAny(rest, "?#@\\ \t") {
		return bad("a mirror is a host and a path, with no query, fragment, user or spaces (credentials come from docker's config.json for the mirror's host)")
	}
	host, path, _ := strings.Cut(rest, "/")
	e.Host = strings.ToLower(host)
	e.Prefix = strings.TrimSuffix(path, "/")
	if e.Host == "" {
		return bad("no host")
	}
	if err := e.check(); err != nil {
		return bad(err.Error())
	}
	return e, nil
}

// check makes sure names under e parse back to e's host and prefix: the
// reference grammar reads a first component without a dot or a port (and not
// localhost) as a Docker Hub path.
func (e Endpoint) check() error {
	probe := join(e.Host, e.Prefix, "p/x")
	r, err := ref.Parse(probe)
	switch {
	case err != nil:
		return errors.New("not a valid host and repository path")
	case r.Registry() != e.Host:
		return errors.New("the host needs a dot or a port (mirror.local, mirror:5000), or is localhost")
	case r.Repository() != join(e.Prefix, "p/x"):
		return errors.New("the path is not a repository prefix")
	}
	return nil
}

// String is e as ParseEndpoint reads it back (Insecure aside).
func (e Endpoint) String() string {
	s := join(e.Host, e.Prefix)
	if e.PlainHTTP {
		return "http://" + s
	}
	return s
}

// Map returns r as the mirror names it: the part of r's name under scope
// ("registry[/path]"; "": r's whole registry) moved under e's host and
// prefix, with r's tag and digest. A name outside scope is an error.
func (e Endpoint) Map(scope string, r ref.Reference) (ref.Reference, error) {
	if scope == "" {
		scope = r.Registry()
	}
	rest, ok := strings.CutPrefix(r.Name(), strings.TrimSuffix(scope, "/"))
	if !ok || rest != "" && rest[0] != '/' {
		return ref.Reference{}, fmt.Errorf("mirror %s: %s is not under %s, the names it serves", e, r.Name(), scope)
	}
	repo := join(e.Prefix, strings.TrimPrefix(rest, "/"))
	if repo == "" {
		return ref.Reference{}, fmt.Errorf("mirror %s: %s would name no repository on it", e, r.Name())
	}
	s := e.Host + "/" + repo
	if r.Tag() != "" {
		s += ":" + r.Tag()
	}
	if r.Digest() != "" {
		s += "@" + r.Digest().String()
	}
	m, err := ref.Parse(s)
	if err != nil || m.Registry() != e.Host || m.Repository() != repo {
		return ref.Reference{}, fmt.Errorf("mirror %s: %s maps to %q, which is not a reference on the mirror", e, r, s)
	}
	return m, nil
}

// join joins non-empty path parts with "/".
func join(parts ...string) string {
	var kept []string
	for _, p := range parts {
		if p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "/")
}
