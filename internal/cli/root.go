package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/config"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/engine"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/mirror"
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
	// Interrupts, when set, delivers SIGINT and SIGTERM: the first cancels
	// the command, which then says what a second run will do; the second
	// ends the process at once through Exit.
	Interrupts <-chan os.Signal
	// Exit ends the process; nil: os.Exit. main's puts back the terminal
	// as haul found it (a password prompt turns its echo off).
	Exit func(code int)
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
	// prompting is set while a prompt waits for the terminal, which no
	// context cancels: an interrupt then ends haul at once.
	prompting atomic.Bool
	// above, when set, prints lines above the progress bars, which would
	// otherwise draw over them; guarded by aboveMu.
	aboveMu sync.Mutex
	above   io.Writer
	// stop, when set (copy.go's setStop), is closed by the first interrupt
	// instead of cancelling the command; guarded by aboveMu.
	stop chan struct{}
}

// setAbove sets (nil: unsets) where a notice goes while progress bars are drawn.
func (e *env) setAbove(w io.Writer) {
	e.aboveMu.Lock()
	e.above = w
	e.aboveMu.Unlock()
}

// notice writes line to stderr, above the progress bars if there are any.
func (e *env) notice(line string) {
	e.aboveMu.Lock()
	w := e.above
	e.aboveMu.Unlock()
	if w != nil {
		if _, err := io.WriteString(w, line+"\n"); err == nil {
			return
		}
	}
	io.WriteString(e.Stderr, "\n"+line+"\n") // past the ^C the terminal echoed
}

// usageError marks a mistake in how haul was called: exit code 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// ExitInterrupted is the exit code of a second interrupt, which ends haul
// at once: 128 + SIGINT, as a shell reports a process killed by it.
const ExitInterrupted = 130

// Run runs haul with args and returns the exit code.
func Run(ctx context.Context, args []string, io IO) int {
	if io.Getenv == nil {
		io.Getenv = os.Getenv
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	root, e := newRoot(io)
	root.SetArgs(args)
	root.SetIn(io.Stdin)
	root.SetOut(io.Stdout)
	root.SetErr(io.Stderr)
	if io.Interrupts != nil {
		done := make(chan struct{})
		defer close(done)
		go e.watchInterrupts(done, cancel)
	}
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if e.g.json || jsonArg(args) {
		printJSONError(io.Stderr, err, cmd)
	} else {
		printError(io.Stderr, err, cmd)
	}
	if errorKind(err) == kindUsage {
		return ExitUsage
	}
	return ExitError
}

// watchInterrupts cancels the command at the first interrupt and ends the
// process at the second, until done is closed.
func (e *env) watchInterrupts(done <-chan struct{}, cancel context.CancelFunc) {
	for n := 0; ; n++ {
		select {
		case <-done:
			return
		case <-e.Interrupts:
		}
		if n > 0 || e.prompting.Load() {
			if !e.g.json {
				msg := "interrupted again: quitting at once"
				if n == 0 {
					msg = "interrupted"
				}
				fmt.Fprintf(e.Stderr, "\nhaul: %s\n", msg)
			}
			exit := e.Exit
			if exit == nil {
				exit = os.Exit
			}
			exit(ExitInterrupted)
			return
		}
		if !e.g.json && !e.g.quiet {
			e.notice("haul: interrupted: stopping (interrupt again to quit at once)")
		}
		if !e.closeStop() {
			cancel()
		}
	}
}

// jsonArg reports whether args ask for --json before any "--", for an
// error met before the flags were parsed (an unknown flag).
func jsonArg(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "--json", "--json=true", "--json=1":
			return true
		}
	}
	return false
}

// printError writes err and, where the library can tell, what to do about
// it; cmd is the command that failed (nil if none was found).
func printError(w io.Writer, err error, cmd *cobra.Command) {
	fmt.Fprintf(w, "haul: %v\n", err)
	if h := hint(err, cmd); h != "" {
		fmt.Fprintf(w, "hint: %s\n", h)
	}
}

// jsonError is what a failure prints on stderr under --json, on one line.
type jsonError struct {
	Error string `json:"error"`
	Kind  string `json:"kind"` // one of the kind… constants
	Hint  string `json:"hint"` // "" when there is no likely fix to suggest
}

// printJSONError writes err as one line of JSON (docs/json.md).
func printJSONError(w io.Writer, err error, cmd *cobra.Command) {
	b, mErr := marshalVersioned(jsonError{Error: err.Error(), Kind: errorKind(err), Hint: hint(err, cmd)}, "")
	if mErr != nil { // cannot happen for strings, but say the error all the same
		printError(w, err, cmd)
		return
	}
	w.Write(append(b, '\n'))
}

// hint is what to do about err, where the library can tell; "" if nothing.
func hint(err error, cmd *cobra.Command) string {
	var re *registry.Error
	var te *auth.TokenError
	var tlsErr *registry.TLSError
	var se *disk.SpaceError
	var ue *engine.UnreachableError
	var ce *registry.ConnError
	var stall *registry.StallError
	switch {
	case errors.As(err, &tlsErr):
		// Its message says where the CA or client certificate goes; a token
		// realm's TLS failure needs no "could not be reached" on top.
	case errors.As(err, &ce):
		return connHint(ce)
	case errors.As(err, &stall):
		return "the download stopped moving: run the command again (a pull goes on from where it stopped); on a slow or congested link, a longer --idle-timeout waits more patiently."
	case errors.As(err, &re):
		return re.Hint()
	case errors.As(err, &te):
		return tokenHint(te)
	case errors.As(err, &ue):
		return ue.Hint()
	case errors.Is(err, context.Canceled):
		// Only a pull keeps what it fetched for the next one to continue
		// from (a tar's partial file, the cache) and leaves no output.
		if cmd != nil && cmd.Name() == "pull" {
			return "interrupted; nothing was left at the output, and the same pull run again continues where this one stopped."
		}
	case errors.As(err, &se):
		free := ""
		if se.Free >= 0 {
			free = ", and its disk has " + human(se.Free) + " free"
		}
		return fmt.Sprintf("the output takes %s%s: free some space, or write it to another disk with -o.", human(se.Need), free)
	case disk.IsSpace(err): // ENOSPC, or Windows' ERROR_DISK_FULL
		return "the disk is full: free some space (haul cache prune --all empties the cache), or put the output (-o) or the cache (--cache-dir) on another disk."
	}
	return ""
}

// connHint advises on a connection that could not be made, by why.
func connHint(ce *registry.ConnError) string {
	const proxy = "If this network reaches registries through a proxy, set HTTPS_PROXY."
	if ce.Proxy {
		return fmt.Sprintf("the proxy %s (HTTPS_PROXY or HTTP_PROXY) could not be reached: check its address and port, or unset it if no proxy is needed here.", ce.Host)
	}
	switch ce.Kind {
	case registry.ConnRefused:
		return fmt.Sprintf("nothing accepts connections at %s: is the registry running, and are the name and port right? %s", ce.Host, proxy)
	case registry.ConnNoSuchHost:
		return fmt.Sprintf("the name %s does not resolve: is it spelled right? %s", hostName(ce.Host), proxy)
	case registry.ConnLookup:
		return fmt.Sprintf("the name %s could not be looked up: no DNS server answered. Check this machine's network and DNS settings. %s", hostName(ce.Host), proxy)
	case registry.ConnTimeout:
		return fmt.Sprintf("nobody answered at %s: are the name and port right, and does a firewall let the connection through? %s", ce.Host, proxy)
	case registry.ConnUnreachable:
		return fmt.Sprintf("there is no route to %s: check this machine's network, and the name and port. %s", ce.Host, proxy)
	}
	return fmt.Sprintf("no connection could be made to %s: is the registry running, and are the name and port right? %s", ce.Host, proxy)
}

// hostName is host:port without the port.
func hostName(hostPort string) string {
	if h, _, err := net.SplitHostPort(hostPort); err == nil {
		return h
	}
	return hostPort
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
config, digest, inspect, blob, copy's SRC); a mirror gets its own host's credentials only.

Defaults, mirrors and per-registry TLS come from $XDG_CONFIG_HOME/haul/config.toml
(or --config FILE), and mirrors and insecure registries from docker's daemon.json
and the containers tools' registries.conf: haul config show prints them all and
where each came from. Flags win over files.

With --json, a command prints one JSON object, and a failure one line of JSON on
stderr with a stable "kind" to branch on: docs/json.md documents every shape.

Ctrl-C stops cleanly (a pull or copy run again continues where it stopped); a
second Ctrl-C quits at once.

Exit codes: 0 success, 1 failure, 2 usage error, 130 a second Ctrl-C.`

func newRoot(io IO) (*cobra.Command, *env) {
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
		return usageError{fmt.Errorf("%w (see %s --help)", err, c.CommandPath())}
	})
	f := root.PersistentFlags()
	f.BoolVar(&g.json, "json", false, "print machine-readable JSON")
	f.BoolVar(&g.trace, "trace", false, "print every HTTP exchange to stderr as the curl command that repeats it")
	f.BoolVar(&g.traceSecrets, "trace-secrets", false, "with --trace, print tokens and passwords instead of REDACTED")
	f.BoolVar(&g.insecure, "insecure", false, "skip TLS certificate verification (dangerous)")
	f.BoolVar(&g.plainHTTP, "plain-http", false, "speak plain HTTP to the registry (localhost falls back to it by itself)")
	f.StringVar(&g.caFile, "ca-file", "", "PEM file of CA certificates to trust for every registry, besides the system's and certs.d's ($XDG_CONFIG_HOME/haul/certs.d, /etc/docker/certs.d, /etc/containers/certs.d: HOST[:PORT]/ca.crt, NAME.cert + NAME.key)")
	f.DurationVar(&g.idleTimeout, "idle-timeout", 30*time.Second, "abandon a response that sends under 1 KiB in this long (a blob ends after two such tries in a row without 1 MiB of progress)")
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
		newVersionCmd(e),
		newCopyCmd(e),
		newPushCmd(e),
		newSyncCmd(e),
	)
	for _, c := range root.Commands() {
		c.Flags().SortFlags = false
	}
	root.SetHelpCommand(newHelpCmd(root))
	refuseUnknownCommands(root)
	return root, e
}

// newHelpCmd is `haul help [COMMAND]`: cobra's own prints haul's help and
// exits 0 for a command that does not exist.
func newHelpCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "help [command]",
		Short: "Help about any command",
		RunE: func(_ *cobra.Command, args []string) error {
			c, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 || (len(args) > 0 && c == root) {
				return usagef("unknown help topic %q (see haul --help)", strings.Join(args, " "))
			}
			return c.Help()
		},
	}
}

// refuseUnknownCommands makes an unknown command a usage error, in haul and
// in every command that has subcommands: cobra's own is a plain error (exit
// 1), and a command that only groups others would print its help and exit 0.
// A command that groups others prints its help when given nothing else.
func refuseUnknownCommands(c *cobra.Command) {
	if c.HasSubCommands() && c.Args == nil {
		c.Args = func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q for %q (see %s --help)", args[0], c.CommandPath(), c.CommandPath())
			}
			return nil
		}
		if !c.Runnable() {
			c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
		}
	}
	for _, sub := range c.Commands() {
		refuseUnknownCommands(sub)
	}
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

// overrides are the global flags' settings for every registry.
func (e *env) overrides() config.Overrides {
	o := config.Overrides{
		CAFile: e.g.caFile, Insecure: e.g.insecure, PlainHTTP: e.g.plainHTTP,
		IdleTimeout: e.g.idleTimeout, TraceSecrets: e.g.traceSecrets, Version: Version,
	}
	if e.g.trace {
		o.Trace = e.Stderr
	}
	return o
}

// baseConfig is the registry.Config for one registry, from the global flags
// and the files, without credentials.
func (e *env) baseConfig(registryName string) registry.Config {
	if e.g.insecure && !e.g.quiet {
		fmt.Fprintf(e.Stderr, "haul: warning: TLS verification is off for %s (--insecure): anyone on the path can read and change what is pulled\n", registryName)
	}
	return e.settings.RegistryConfig(registryName, e.overrides())
}

// mirrors are the mirrors for a registry in the order to try them:
// --mirror's (for the registries of every reference given), then those the
// files configure for registryName (mirror.FromSettings).
func (e *env) mirrors(registryName string) ([]mirror.Spec, error) {
	first := make([]mirror.Endpoint, 0, len(e.g.mirrors))
	for _, s := range e.g.mirrors {
		ep, err := mirror.ParseEndpoint(s)
		if err != nil {
			return nil, usagef("--mirror: %v", err)
		}
		first = append(first, ep)
	}
	return mirror.FromSettings(e.settings, registryName, first)
}

// anyMirrors reports whether some registry is read through mirrors, for the
// progress and the summary to name who served each blob.
func (e *env) anyMirrors() bool {
	return len(e.g.mirrors) > 0 || e.settings.AnyMirrors()
}

// allowed refuses an image name that registries.conf blocks.
func (e *env) allowed(r ref.Reference) error {
	return e.settings.Allowed(r.Name())
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

// printJSON writes v, a struct or map, as indented JSON to stdout, with
// the jsonVersion field first (docs/json.md).
func (e *env) printJSON(v any) error {
	b, err := marshalVersioned(v, "  ")
	if err != nil {
		return err
	}
	_, err = e.Stdout.Write(append(b, '\n'))
	return err
}

// JSONVersion is the version of every --json shape haul prints, in each
// object's jsonVersion field: raised only when a shape breaks (a field
// removed, renamed or given another meaning or type), not when one is added.
const JSONVersion = 1

// marshalVersioned marshals v, which must marshal to a JSON object, with
// "jsonVersion" as its first field, indented by indent ("" for one line).
func marshalVersioned(v any, indent string) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encoding JSON: %w", err)
	}
	body := bytes.TrimSpace(buf.Bytes())
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("encoding JSON: %T is no object", v)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, `{"jsonVersion":%d`, JSONVersion)
	if rest := body[1:]; rest[0] != '}' {
		out.WriteByte(',')
		out.Write(rest)
	} else {
		out.WriteByte('}')
	}
	if indent == "" {
		return out.Bytes(), nil
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, out.Bytes(), "", indent); err != nil {
		return nil, fmt.Errorf("encoding JSON: %w", err)
	}
	return ind.Bytes(), nil
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
