package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/config"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/engine"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/mirror"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// Version is set at build time with -ldflags "-X github.com/haul-dev/haul/internal/cli.Version=…".
var Version = "dev"

// Exit codes, documented in `haul help`.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// IO is what a command reads and writes; main passes the process's.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// StdinIsTerminal reports whether a password may be prompted for;
	// StderrIsTerminal whether progress bars may be drawn; StdoutIsTerminal
	// whether a tar or a binary blob for stdout would land on a screen
	// (refused). nil: not a terminal.
	StdinIsTerminal  func() bool
	StderrIsTerminal func() bool
	StdoutIsTerminal func() bool
	// ReadPassword reads a line from the terminal without echo.
	ReadPassword func() ([]byte, error)
	// System is where docker's daemon.json and the containers tools'
	// registries.conf are; nil: where they are on Linux (/etc/docker,
	// /etc/containers, $XDG_CONFIG_HOME/containers). Tests point it at
	// fixtures.
	System *config.SystemPaths
}

// globals are the flags every command shares.
type globals struct {
	json          bool
	trace         bool
	traceSecrets  bool
	insecure      bool
	plainHTTP     bool
	caFile        string
	idleTimeout   time.Duration
	username      string
	passwordStdin bool
	quiet         bool
	mirrors       []string
	configPath    string
}

// env is what a running command has: its IO, the global flags, and a way to get
// a registry client.
type env struct {
	IO
	g        *globals
	password string // read once from stdin under --password-stdin
	pwRead   bool
	settings config.Settings // config.toml and the other tools' files, read before the command runs
}

// usageError marks a mistake in how haul was called: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// Run runs haul with args and returns the exit code.
func Run(ctx context.Context, args []string, io IO) int {
	if io.Getenv == nil {
		io.Getenv = os.Getenv
	}
	root := newRoot(io)
	root.SetArgs(args)
	root.SetIn(io.Stdin)
	root.SetOut(io.Stdout)
	root.SetErr(io.Stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	printError(io.Stderr, err)
	var ue usageError
	if errors.As(err, &ue) {
		return ExitUsage
	}
	return ExitError
}

// printError writes err and, where the library can tell, what to do about it.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "haul: %v\n", err)
	var re *registry.Error
	var te *auth.TokenError
	var tlsErr *registry.TLSError
	var se *disk.SpaceError
	var ue *engine.UnreachableError
	switch {
	case errors.As(err, &tlsErr):
		// Its message says where the CA or client certificate goes; a token
		// realm's TLS failure needs no "could not be reached" on top.
	case errors.As(err, &re):
		if h := re.Hint(); h != "" {
			fmt.Fprintf(w, "hint: %s\n", h)
		}
	case errors.As(err, &te):
		fmt.Fprintf(w, "hint: %s\n", tokenHint(te))
	case errors.As(err, &ue):
		fmt.Fprintf(w, "hint: %s\n", ue.Hint())
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(w, "hint: interrupted; nothing was left at the output, and a pull run again continues where this one stopped.")
	case errors.As(err, &se):
		free := ""
		if se.Free >= 0 {
			free = ", and its disk has " + human(se.Free) + " free"
		}
		fmt.Fprintf(w, "hint: the output takes %s%s: free some space, or write it to another disk with -o.\n", human(se.Need), free)
	case disk.IsSpace(err): // ENOSPC, or Windows' ERROR_DISK_FULL
		fmt.Fprintln(w, "hint: the disk is full: free some space (haul cache prune --all empties the cache), or put the output (-o) or the cache (--cache-dir) on another disk.")
	}
}

// tokenHint advises on a refusal by the token realm.
func tokenHint(te *auth.TokenError) string {
	switch te.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		if te.From != "" && te.Registry != "" {
			return fmt.Sprintf("the token service %s refused the %s from %s: log in again with `haul login %s`, "+
				"or remove the stored login with `haul logout %s` (public images need none); an access token (Docker Hub PAT, GitHub PAT) must have read scope.",
				te.Realm, te.Sent, te.From, te.Registry, te.Registry)
		}
		return fmt.Sprintf("the token service %s refused the credentials for service %q: check the user name and password; "+
			"an access token (Docker Hub PAT, GitHub PAT) must have read scope.", te.Realm, te.Service)
	case 0:
		return fmt.Sprintf("the token service %s could not be reached or answered garbage.", te.Realm)
	}
	return fmt.Sprintf("the token service %s answered %d for service %q and scopes %v.", te.Realm, te.Status, te.Service, te.Scopes)
}

const rootLong = `haul pulls container images from Docker/OCI registries over their HTTP API,
with no Docker daemon: Docker Hub, GHCR, Quay, Harbor, any registry:2.

References are normalized as docker does: alpine is docker.io/library/alpine:latest.
Registries on localhost and 127.0.0.0/8 may speak plain HTTP (https is tried first).

Credentials come from -u/--password-stdin or HAUL_USERNAME/HAUL_PASSWORD (for the
registry of the reference given only), then docker's config.json (credHelpers,
credsStore, auths) and its credential helpers, then podman's auth.json.

--mirror HOST[:PORT][/PATH] (repeatable; http:// for plain HTTP) reads through
pull-through caches before the reference's registry (pull, export, manifest,
config, digest, inspect, blob); a mirror gets its own host's credentials only.

Defaults, mirrors and per-registry TLS come from $XDG_CONFIG_HOME/haul/config.toml
(or --config FILE), and mirrors and insecure registries from docker's daemon.json
and the containers tools' registries.conf: haul config show prints them all and
where each came from. Flags win over files.

Exit codes: 0 success, 1 failure, 2 usage error.`

func newRoot(io IO) *cobra.Command {
	g := &globals{}
	e := &env{IO: io, g: g}
	root := &cobra.Command{
		Use:           "haul",
		Short:         "Pull container images from any registry, no daemon needed",
		Long:          rootLong,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{fmt.Errorf("%w (see haul %s --help)", err, c.Name())}
	})
	f := root.PersistentFlags()
	f.BoolVar(&g.json, "json", false, "print machine-readable JSON")
	f.BoolVar(&g.trace, "trace", false, "print every HTTP exchange to stderr as the curl command that repeats it")
	f.BoolVar(&g.traceSecrets, "trace-secrets", false, "with --trace, print tokens and passwords instead of REDACTED")
	f.BoolVar(&g.insecure, "insecure", false, "skip TLS certificate verification (dangerous)")
	f.BoolVar(&g.plainHTTP, "plain-http", false, "speak plain HTTP to the registry (localhost falls back to it by itself)")
	f.StringVar(&g.caFile, "ca-file", "", "PEM file of CA certificates to trust for every registry, besides the system's and certs.d's ($XDG_CONFIG_HOME/haul/certs.d, /etc/docker/certs.d, /etc/containers/certs.d: HOST[:PORT]/ca.crt, NAME.cert + NAME.key)")
	f.DurationVar(&g.idleTimeout, "idle-timeout", 30*time.Second, "abandon a response that sends nothing for this long")
	f.StringVarP(&g.username, "username", "u", "", "user name for the registry of the reference (else HAUL_USERNAME, then docker's config)")
	f.BoolVar(&g.passwordStdin, "password-stdin", false, "read the password or token from stdin (else HAUL_PASSWORD)")
	f.BoolVarP(&g.quiet, "quiet", "q", false, "print nothing but results and errors")
	f.StringArrayVar(&g.mirrors, "mirror", nil, "read from this mirror (host[:port][/path], http:// for plain HTTP) before the reference's registry; repeatable, tried in order")
	f.StringVar(&g.configPath, "config", "", "haul's config file (default $XDG_CONFIG_HOME/haul/config.toml, read when it exists)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return e.loadSettings(cmd) }

	root.AddCommand(
		newManifestCmd(e), newDigestCmd(e), newConfigCmd(e), newTagsCmd(e),
		newBlobCmd(e), newInspectCmd(e), newLoginCmd(e), newLogoutCmd(e),
		newPullCmd(e), newCacheCmd(e), newUnpackCmd(e), newExportCmd(e),
	)
	for _, c := range root.Commands() {
		c.Flags().SortFlags = false
	}
	return root
}

// loadSettings reads config.toml and the other tools' files, and gives the
// command's flags that the command line left alone the values config.toml
// sets.
func (e *env) loadSettings(cmd *cobra.Command) error {
	s, err := config.Load(config.Options{Path: e.g.configPath, Getenv: e.Getenv, System: e.System})
	if err != nil {
		return err
	}
	e.settings = s
	for name, v := range s.Defaults() {
		if f := cmd.Flags().Lookup(name); f != nil && !f.Changed {
			if err := f.Value.Set(v.V); err != nil {
				return fmt.Errorf("%s: %s: %w", v.Origin, name, err)
			}
		}
	}
	return nil
}

// parseRef parses a command-line reference; a malformed one is a usage error.
func parseRef(s string) (ref.Reference, error) {
	r, err := ref.Parse(s)
	if err != nil {
		return ref.Reference{}, usageError{err}
	}
	return r, nil
}

// explicitCredential is what flags and HAUL_USERNAME/HAUL_PASSWORD give, for one registry.
func (e *env) explicitCredential(registryName string) (auth.Static, error) {
	user := e.g.username
	if user == "" {
		user = e.Getenv("HAUL_USERNAME")
	}
	pass := ""
	if e.g.passwordStdin {
		if !e.pwRead {
			b, err := io.ReadAll(io.LimitReader(e.Stdin, 64<<10))
			if err != nil {
				return auth.Static{}, fmt.Errorf("reading password from stdin: %w", err)
			}
			e.password = strings.TrimRight(string(b), "\r\n")
			e.pwRead = true
		}
		pass = e.password
		if pass == "" {
			return auth.Static{}, usagef("--password-stdin: stdin was empty")
		}
	} else if p := e.Getenv("HAUL_PASSWORD"); p != "" {
		pass = p
	}
	switch {
	case user == "" && pass == "":
		return auth.Static{}, nil
	case user == "":
		return auth.Static{}, usagef("a password was given without a user name: add -u USER (or HAUL_USERNAME)")
	case pass == "":
		return auth.Static{}, usagef("a user name was given without a password: add --password-stdin (or HAUL_PASSWORD)")
	}
	from := "HAUL_USERNAME and HAUL_PASSWORD"
	if e.g.passwordStdin {
		from = "--password-stdin"
	}
	return auth.Static{Registry: registryName, Cred: auth.Credential{Username: user, Password: pass, From: from}}, nil
}

// baseConfig is the registry.Config for one registry, from the global flags,
// without credentials.
func (e *env) baseConfig(registryName string) registry.Config {
	c := registry.Config{
		Registry:     registryName,
		CAFile:       e.g.caFile,
		Insecure:     e.g.insecure,
		PlainHTTP:    e.g.plainHTTP,
		Version:      Version,
		TraceSecrets: e.g.traceSecrets,
		IdleTimeout:  e.g.idleTimeout,
	}
	// What the files say about this registry, under the flags.
	rs := e.settings.Registry(registryName)
	c.PlainHTTP = c.PlainHTTP || rs.PlainHTTP.V
	if rs.Insecure.V {
		// docker's and the containers tools' insecure: unverified TLS, and
		// plain HTTP when the registry answers with it.
		c.Insecure, c.PlainHTTPFallback = true, true
	}
	if c.CAFile == "" {
		c.CAFile = rs.CAFile.V
	}
	c.CertsDirs = e.settings.CertsDirs
	if e.g.trace {
		c.Trace = e.Stderr
	}
	if e.g.insecure && !e.g.quiet {
		fmt.Fprintf(e.Stderr, "haul: warning: TLS verification is off for %s (--insecure): anyone on the path can read and change what is pulled\n", registryName)
	}
	return c
}

// clientConfig is the registry.Config for one registry, from the global
// flags, with the explicit credential (flags, HAUL_USERNAME) first.
func (e *env) clientConfig(registryName string) (registry.Config, error) {
	explicit, err := e.explicitCredential(registryName)
	if err != nil {
		return registry.Config{}, err
	}
	c := e.baseConfig(registryName)
	c.Creds = auth.Default(explicit, e.Getenv)
	return c, nil
}

func (e *env) client(registryName string) (*registry.Client, error) {
	c, err := e.clientConfig(registryName)
	if err != nil {
		return nil, err
	}
	return registry.New(c)
}

// reader is what the read commands ask of a registry: a *registry.Client, or
// a *mirror.Source over the registry and its mirrors.
type reader interface {
	pull.Source
	Resolve(ctx context.Context, r ref.Reference, platform image.Platform) ([]*registry.Manifest, error)
	Image(ctx context.Context, r ref.Reference, platform image.Platform) (*registry.Image, error)
	Digest(ctx context.Context, r ref.Reference) (digest.Digest, error)
	BlobDescriptor(ctx context.Context, r ref.Reference, dg digest.Digest) (image.Descriptor, error)
	Blob(ctx context.Context, r ref.Reference, d image.Descriptor) (io.ReadCloser, error)
}

// mirrorSpec is a mirror to read a registry's content from, and what it
// serves.
type mirrorSpec struct {
	ep         mirror.Endpoint
	scope      string // "": the whole registry
	digestOnly bool
}

// mirrors are the mirrors for a registry in the order to try them:
// --mirror's (for the registries of every reference given), then those the
// files configure for registryName (config.toml, registries.conf,
// daemon.json).
func (e *env) mirrors(registryName string) ([]mirrorSpec, error) {
	var specs []mirrorSpec
	for _, s := range e.g.mirrors {
		ep, err := mirror.ParseEndpoint(s)
		if err != nil {
			return nil, usagef("--mirror: %v", err)
		}
		specs = append(specs, mirrorSpec{ep: ep})
	}
	for _, m := range e.settings.Registry(registryName).Mirrors {
		ep, err := mirror.ParseEndpoint(m.Location)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", m.Origin, err)
		}
		ep.Insecure = ep.Insecure || m.Insecure
		spec := mirrorSpec{ep: ep, scope: m.Prefix, digestOnly: m.DigestOnly}
		if m.Prefix == registryName {
			spec.scope = "" // the whole registry, as --mirror's
		}
		if !slices.ContainsFunc(specs, func(s mirrorSpec) bool {
			return s.ep.Host == ep.Host && s.ep.Prefix == ep.Prefix && s.scope == spec.scope
		}) {
			specs = append(specs, spec)
		}
	}
	return specs, nil
}

// anyMirrors reports whether some registry is read through mirrors, for the
// progress and the summary to name who served each blob.
func (e *env) anyMirrors() bool {
	if len(e.g.mirrors) > 0 {
		return true
	}
	for _, n := range e.settings.Registries() {
		if len(e.settings.Registry(n).Mirrors) > 0 {
			return true
		}
	}
	return false
}

// allowed refuses an image name that registries.conf blocks.
func (e *env) allowed(r ref.Reference) error {
	if origin := e.settings.Blocked(r.Name()); origin != "" {
		return fmt.Errorf("%s is blocked by %s (blocked = true): haul does not read it; remove the entry to allow it", r.Name(), origin)
	}
	return nil
}

// reader is where reads of registryName's content go: its mirrors in
// order, then the registry.
func (e *env) reader(registryName string) (reader, error) {
	eps, err := e.mirrors(registryName)
	if err != nil {
		return nil, err
	}
	return e.source(registryName, eps)
}

// source reads upstream through mirrors: the upstream's client has the
// explicit credential; each mirror's looks up its own host's credentials in
// docker's config and helpers, so the upstream's never reach a mirror.
// Without mirrors it is the upstream's client itself.
func (e *env) source(upstream string, mirrors []mirrorSpec) (reader, error) {
	up, err := e.client(upstream)
	if err != nil || len(mirrors) == 0 {
		return up, err
	}
	c := mirror.Config{Upstream: up}
	if e.g.trace {
		c.Trace = e.Stderr
	}
	for _, m := range mirrors {
		cl, err := registry.New(mirror.ClientConfig(e.baseConfig(m.ep.Host), m.ep, auth.Default(auth.Static{}, e.Getenv)))
		if err != nil {
			return nil, fmt.Errorf("mirror %s: %w", m.ep, err)
		}
		c.Mirrors = append(c.Mirrors, mirror.Mirror{Endpoint: m.ep, Client: cl, Scope: m.scope, DigestOnly: m.digestOnly})
	}
	return mirror.New(c)
}

// target parses a read command's REF and --platform, and makes the client for
// the reference's registry.
func (e *env) target(arg string, platform func() (image.Platform, error)) (ref.Reference, image.Platform, reader, error) {
	r, err := parseRef(arg)
	if err != nil {
		return ref.Reference{}, image.Platform{}, nil, err
	}
	if err := e.allowed(r); err != nil {
		return ref.Reference{}, image.Platform{}, nil, err
	}
	p, err := platform()
	if err != nil {
		return ref.Reference{}, image.Platform{}, nil, err
	}
	cl, err := e.reader(r.Registry())
	if err != nil {
		return ref.Reference{}, image.Platform{}, nil, err
	}
	return r, p, cl, nil
}

// printIndented writes a JSON document indented, as a person reads it.
func (e *env) printIndented(body []byte, what string) error {
	var out bytes.Buffer
	if err := json.Indent(&out, body, "", "  "); err != nil {
		return fmt.Errorf("indenting %s: %w", what, err)
	}
	out.WriteByte('\n')
	_, err := e.Stdout.Write(out.Bytes())
	return err
}

// printJSON writes v as indented JSON to stdout.
func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.Stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// platformFlag adds --platform to c and returns a function reading it.
func platformFlag(c *cobra.Command) func() (image.Platform, error) {
	s := c.Flags().String("platform", "", "os/arch[/variant] to pick from an index (default: linux and this machine's architecture)")
	return func() (image.Platform, error) {
		if *s == "" {
			return image.Host(), nil
		}
		p, err := image.ParsePlatform(*s)
		if err != nil {
			return image.Platform{}, usageError{err}
		}
		return p, nil
	}
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s (see haul %s --help)", c.Name(), names, c.Name())
		}
		return nil
	}
}
