package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul"
	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/mirror"
	"github.com/haul-dev/haul/ref"
)

// front parses a read command's REF and --platform, and makes the
// haul.Client that reads it: the global flags, the settings already read,
// and --platform when given (a demand, where config.toml's is a default).
func (e *env) front(cmd *cobra.Command, arg string, platform func() (image.Platform, error)) (ref.Reference, *haul.Client, error) {
	r, err := parseRef(arg)
	if err != nil {
		return ref.Reference{}, nil, err
	}
	if err := e.allowed(r); err != nil {
		return ref.Reference{}, nil, err
	}
	p, err := platform()
	if err != nil {
		return ref.Reference{}, nil, err
	}
	plat := ""
	if cmd.Flags().Changed("platform") {
		plat = image.FormatPlatform(p)
	}
	cl, err := e.haulClient(plat, true)
	return r, cl, err
}

// haulClient is the haul.Client of the global flags, with -u and
// --password-stdin for the registries of the references, and platform
// ("": the default); with viaMirrors, reads go through --mirror's mirrors
// too.
func (e *env) haulClient(platform string, viaMirrors bool) (*haul.Client, error) {
	c, err := e.haulConfig(viaMirrors)
	if err != nil {
		return nil, err
	}
	if c.Login, err = e.login(); err != nil {
		return nil, err
	}
	c.Platform = platform
	return haul.New(c)
}

// login is the credential -u/--password-stdin or HAUL_USERNAME and
// HAUL_PASSWORD give; zero if none.
func (e *env) login() (auth.Credential, error) {
	explicit, err := e.explicitCredential("")
	return explicit.Cred, err
}

// haulConfig is the haul.Config of the global flags and the settings
// already read, with no cache and no credential but the stored logins;
// with viaMirrors, reads go through --mirror's mirrors too.
func (e *env) haulConfig(viaMirrors bool) (haul.Config, error) {
	var mirrors []string
	if viaMirrors {
		for _, s := range e.g.mirrors {
			if _, err := mirror.ParseEndpoint(s); err != nil {
				return haul.Config{}, usagef("--mirror: %v", err)
			}
		}
		mirrors = e.g.mirrors
	}
	c := haul.Config{
		Mirrors: mirrors, NoCache: true, Settings: &e.settings,
		IdleTimeout: e.g.idleTimeout, PlainHTTP: e.g.plainHTTP, Insecure: e.g.insecure, CAFile: e.g.caFile,
		TraceSecrets: e.g.traceSecrets, Version: Version, Getenv: e.Getenv,
	}
	if e.g.trace {
		c.Trace = e.Stderr
	}
	if !e.g.quiet {
		c.OnInsecure = func(host string) {
			fmt.Fprintf(e.Stderr, "haul: warning: TLS verification is off for %s (--insecure): anyone on the path can read and change what is pulled\n", host)
		}
	}
	return c, nil
}
