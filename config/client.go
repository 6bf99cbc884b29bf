package config

import (
	"fmt"
	"io"
	"time"

	"github.com/haul-dev/haul/registry"
)

// Overrides are what a command line (or a program) says about every
// registry, above what the files say about each one.
type Overrides struct {
	CAFile       string // trusted for every registry; "": the registry's ca-file from the files
	Insecure     bool   // skip TLS verification for every registry
	PlainHTTP    bool   // speak plain HTTP to every registry
	IdleTimeout  time.Duration
	Trace        io.Writer // each HTTP exchange as a curl command; nil: none
	TraceSecrets bool
	Version      string // haul's, for the user agent
}

// RegistryConfig is the registry.Config for the registry name: o's
// settings, then what the files say about name (plain-http, insecure,
// ca-file), and the certs.d roots. It has no credentials: the caller sets
// Creds.
func (s Settings) RegistryConfig(name string, o Overrides) registry.Config {
	c := registry.Config{
		Registry:     name,
		CAFile:       o.CAFile,
		Insecure:     o.Insecure,
		PlainHTTP:    o.PlainHTTP,
		Version:      o.Version,
		TraceSecrets: o.TraceSecrets,
		IdleTimeout:  o.IdleTimeout,
		Trace:        o.Trace,
		CertsDirs:    s.CertsDirs,
	}
	rs := s.Registry(name)
	c.PlainHTTP = c.PlainHTTP || rs.PlainHTTP.V
	if rs.Insecure.V {
		// docker's and the containers tools' insecure: unverified TLS, and
		// plain HTTP when the registry answers with it.
		c.Insecure, c.PlainHTTPFallback = true, true
	}
	if c.CAFile == "" {
		c.CAFile = rs.CAFile.V
	}
	return c
}

// BlockedError is a name that registries.conf forbids pulling.
type BlockedError struct {
	Name   string // the image name: "docker.io/library/alpine"
	Origin string // the entry that blocks it, "PATH:LINE"
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("%s is blocked by %s (blocked = true): haul does not read it; remove the entry to allow it", e.Name, e.Origin)
}

// Allowed returns a *BlockedError when the files forbid reading the image
// name ("docker.io/library/alpine"), and nil otherwise.
func (s Settings) Allowed(name string) error {
	if origin := s.Blocked(name); origin != "" {
		return &BlockedError{Name: name, Origin: origin}
	}
	return nil
}

// AnyMirrors reports whether the files give some registry a mirror.
func (s Settings) AnyMirrors() bool {
	for _, n := range s.Registries() {
		if len(s.Registry(n).Mirrors) > 0 {
			return true
		}
	}
	return false
}
