package mirror

import (
	"fmt"
	"io"
	"slices"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/config"
	"github.com/haul-dev/haul/registry"
)

// Spec is a mirror to read a registry's content from, and what it serves.
type Spec struct {
	Endpoint Endpoint
	// Scope is the names it serves, "registry[/path]"; "": the whole registry.
	Scope      string
	DigestOnly bool // reads by tag go to the upstream (Mirror.DigestOnly)
}

// FromSettings are the mirrors of registry in the order to try them: first
// (given on a command line, for every registry), then those the files give
// registry (config.toml, registries.conf, daemon.json), each endpoint once
// per scope. A malformed location in a file is an error naming the file.
func FromSettings(s config.Settings, registry string, first []Endpoint) ([]Spec, error) {
	specs := make([]Spec, 0, len(first))
	for _, ep := range first {
		specs = append(specs, Spec{Endpoint: ep})
	}
	for _, m := range s.Registry(registry).Mirrors {
		ep, err := ParseEndpoint(m.Location)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", m.Origin, err)
		}
		ep.Insecure = ep.Insecure || m.Insecure
		spec := Spec{Endpoint: ep, Scope: m.Prefix, DigestOnly: m.DigestOnly}
		if m.Prefix == registry {
			spec.Scope = "" // the whole registry, as a command line's
		}
		if !slices.ContainsFunc(specs, func(s Spec) bool {
			return s.Endpoint.Host == ep.Host && s.Endpoint.Prefix == ep.Prefix && s.Scope == spec.Scope
		}) {
			specs = append(specs, spec)
		}
	}
	return specs, nil
}

// Clients says how Open makes each mirror's client.
type Clients struct {
	// Base is the registry.Config for a host, without credentials
	// (config.Settings.RegistryConfig). Required.
	Base func(host string) registry.Config
	// Creds are asked for each mirror's own host, never the upstream's:
	// auth.Default with no explicit credential. nil: anonymous.
	Creds auth.Source
	// Trace is Config.Trace.
	Trace io.Writer
}

// Open reads up's registry through specs, in order, then up; each mirror
// gets a client of its own (ClientConfig), with its own host's credentials.
func Open(up *registry.Client, specs []Spec, c Clients) (*Source, error) {
	mc := Config{Upstream: up, Trace: c.Trace}
	for _, s := range specs {
		cl, err := registry.New(ClientConfig(c.Base(s.Endpoint.Host), s.Endpoint, c.Creds))
		if err != nil {
			return nil, fmt.Errorf("mirror %s: %w", s.Endpoint, err)
		}
		mc.Mirrors = append(mc.Mirrors, Mirror{Endpoint: s.Endpoint, Client: cl, Scope: s.Scope, DigestOnly: s.DigestOnly})
	}
	return New(mc)
}

// CloseIdleConnections closes the idle connections of the upstream's and
// every mirror's client.
func (s *Source) CloseIdleConnections() {
	s.upstream.CloseIdleConnections()
	for _, m := range s.mirrors {
		m.Client.CloseIdleConnections()
	}
}
