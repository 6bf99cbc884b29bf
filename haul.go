package haul

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/config"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/mirror"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/push"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/store"
)

// Config configures a Client. Its zero value gives the CLI's defaults: the
// host's platform, docker's and podman's stored credentials, the mirrors,
// insecure registries and TLS settings of config.toml, registries.conf and
// daemon.json, certs.d, the cache in $XDG_CACHE_HOME/haul.
type Config struct {
	// Platform picks the image of an index: "linux/arm64", "linux/arm/v7"; a
	// comma list or "all" keep several for Pull. An image that is no index
	// must be built for it. "": config.toml's platform, else linux and this
	// machine's architecture, as a preference (an image that is no index is
	// taken whatever it is built for).
	Platform string
	// Login is the credential for the registries the references name
	// (Username and Password, as haul -u gives them), tried before
	// Credentials and never sent to a mirror. Zero: none.
	Login auth.Credential
	// Credentials finds the credential of each registry and mirror by its
	// host; nil: docker's config.json and its helpers, then podman's
	// auth.json (auth.Default), as the CLI does.
	Credentials auth.Source
	// Mirrors are read before every registry, in order, as haul --mirror:
	// "host[:port][/path]", "http://" for plain HTTP. The settings files'
	// mirrors come after them.
	Mirrors []string
	// CacheDir is the blob cache; "": config.toml's cache-dir, else
	// $XDG_CACHE_HOME/haul ($HOME/.cache/haul). NoCache uses none: a pull
	// writes blobs straight into its output.
	CacheDir string
	NoCache  bool
	// Progress, when set, receives the events of Pull and Export; calls are
	// serialized. CopyProgress does for Copy and Push.
	Progress     func(pull.Event)
	CopyProgress func(push.Event)
	// ConfigFile is haul's config.toml, which must exist; "":
	// $XDG_CONFIG_HOME/haul/config.toml when it exists. System says where
	// docker's daemon.json, registries.conf and the certs.d roots are; nil:
	// where they are on Linux. NoSettings reads none of these files.
	ConfigFile string
	System     *config.SystemPaths
	NoSettings bool
	// Settings, when set, are the files as already read (config.Load), and
	// ConfigFile, System and NoSettings are ignored.
	Settings *config.Settings
	// Transport is the bottom of every registry client's stack (TLS,
	// proxies, dialing); nil: a transport per host with proxies from the
	// environment, certs.d and CAFile. Not an *http.Client, whose Timeout
	// would cut every large blob short: IdleTimeout bounds a stalled one.
	Transport http.RoundTripper
	// IdleTimeout abandons a response that sends under 1 KiB in this long;
	// 0: config.toml's idle-timeout, else 30 s.
	IdleTimeout time.Duration
	// PlainHTTP, Insecure (no TLS verification) and CAFile apply to every
	// registry, above what the files say about each, as the CLI's flags.
	PlainHTTP, Insecure bool
	CAFile              string
	// OnInsecure, when set, is called with the host of each registry or
	// mirror a client is made for while Insecure is set, for a program to
	// warn its user that TLS verification is off there.
	OnInsecure func(host string)
	// Trace, when set, receives each HTTP exchange as a curl command, secrets
	// redacted unless TraceSecrets.
	Trace        io.Writer
	TraceSecrets bool
	// Version is the program's version, in the User-Agent haul/VERSION; "": dev.
	Version string
	// Jobs is how many blobs are moved at once; 0: config.toml's jobs, else
	// 8.
	Jobs int
	// Getenv reads the environment (HOME, XDG_*, DOCKER_CONFIG,
	// REGISTRY_AUTH_FILE); nil: os.Getenv.
	Getenv func(string) string
}

// Client does each job with one Config, keeping a registry client (and its
// connections and tokens) per registry between calls. It is safe for
// concurrent use; Close releases its connections.
type Client struct {
	c         Config
	settings  config.Settings
	platforms []image.Platform // Config.Platform: demanded
	prefer    image.Platform   // config.toml's platform, else the host's
	all       bool
	mirrors   []mirror.Endpoint
	creds     auth.Source

	mu      sync.Mutex
	closed  bool
	readers map[string]reader
	clients map[string]*registry.Client
	store   *store.Store
}

// errClosed is what a Client's methods return after Close.
var errClosed = errors.New("haul: the client is closed")

// New checks c, reads the settings files and returns a Client.
func New(c Config) (*Client, error) {
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	cl := &Client{c: c, readers: map[string]reader{}, clients: map[string]*registry.Client{}}
	switch {
	case c.Settings != nil:
		cl.settings = *c.Settings
	case !c.NoSettings:
		s, err := config.Load(config.Options{Path: c.ConfigFile, Getenv: c.Getenv, System: c.System})
		if err != nil {
			return nil, fmt.Errorf("haul: %w", err)
		}
		cl.settings = s
	}
	if err := cl.applyFile(); err != nil {
		return nil, err
	}
	for _, m := range c.Mirrors {
		ep, err := mirror.ParseEndpoint(m)
		if err != nil {
			return nil, fmt.Errorf("haul: %w", err)
		}
		cl.mirrors = append(cl.mirrors, ep)
	}
	cl.creds = c.Credentials
	if cl.creds == nil {
		cl.creds = auth.Default(auth.Static{}, c.Getenv)
	}
	return cl, nil
}

// applyFile fills what Config left zero from config.toml, and reads the
// platform.
func (cl *Client) applyFile() error {
	f := cl.settings.File
	if cl.c.CacheDir == "" {
		cl.c.CacheDir = f.CacheDir
	}
	if cl.c.IdleTimeout == 0 {
		cl.c.IdleTimeout = f.IdleTimeout
	}
	if cl.c.IdleTimeout == 0 {
		cl.c.IdleTimeout = 30 * time.Second
	}
	if cl.c.Jobs == 0 {
		cl.c.Jobs = f.Jobs
	}
	cl.prefer = image.Host()
	if f.Platform != "" {
		p, err := image.ParsePlatform(f.Platform)
		if err != nil {
			return fmt.Errorf("haul: %s: platform: %w", f.Path, err)
		}
		cl.prefer = p
	}
	return cl.parsePlatform(cl.c.Platform)
}

// parsePlatform reads Config.Platform: "", "all", or a comma list.
func (cl *Client) parsePlatform(s string) error {
	var c pull.Config
	if err := c.ParsePlatforms(s); err != nil {
		return fmt.Errorf("haul: Config.Platform: %w", err)
	}
	cl.platforms, cl.all = c.Platforms, c.AllPlatforms
	if len(cl.platforms) > 0 {
		cl.prefer = cl.platforms[0]
	}
	return nil
}

// Close closes the connections the registry clients keep open. The Client
// is of no use afterwards.
func (cl *Client) Close() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.closed = true
	for _, r := range cl.readers {
		r.CloseIdleConnections()
	}
	for _, c := range cl.clients {
		c.CloseIdleConnections()
	}
	clear(cl.readers)
	clear(cl.clients)
	return nil
}

// open is errClosed after Close.
func (cl *Client) open() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.closed {
		return errClosed
	}
	return nil
}

// parse parses s, a reference, and refuses a name the files block.
func (cl *Client) parse(s string) (ref.Reference, error) {
	r, err := ref.Parse(s)
	if err != nil {
		return ref.Reference{}, err
	}
	return r, cl.settings.Allowed(r.Name())
}

// registryConfig is the registry.Config for name, without credentials.
func (cl *Client) registryConfig(name string) registry.Config {
	if cl.c.Insecure && cl.c.OnInsecure != nil {
		cl.c.OnInsecure(name)
	}
	c := cl.settings.RegistryConfig(name, config.Overrides{
		CAFile: cl.c.CAFile, Insecure: cl.c.Insecure, PlainHTTP: cl.c.PlainHTTP, IdleTimeout: cl.c.IdleTimeout,
		Trace: cl.c.Trace, TraceSecrets: cl.c.TraceSecrets, Version: cl.c.Version,
	})
	c.Transport = cl.c.Transport
	return c
}

// upstreamCreds are the credentials of a registry a reference names: Login,
// then Credentials.
func (cl *Client) upstreamCreds(name string) auth.Source {
	if cl.c.Login.IsZero() {
		return cl.creds
	}
	login := cl.c.Login
	if login.From == "" {
		login.From = "haul.Config.Login"
	}
	return auth.Chain{auth.Static{Registry: name, Cred: login}, cl.creds}
}

// client is the registry's own client, made once.
func (cl *Client) client(name string) (*registry.Client, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.clientLocked(name)
}

func (cl *Client) clientLocked(name string) (*registry.Client, error) {
	if cl.closed {
		return nil, errClosed
	}
	if c, ok := cl.clients[name]; ok {
		return c, nil
	}
	rc := cl.registryConfig(name)
	rc.Creds = cl.upstreamCreds(name)
	c, err := registry.New(rc)
	if err != nil {
		return nil, err
	}
	cl.clients[name] = c
	return c, nil
}

// reader reads the registry name through its mirrors, then itself.
func (cl *Client) reader(name string) (reader, error) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if r, ok := cl.readers[name]; ok && !cl.closed {
		return r, nil
	}
	up, err := cl.clientLocked(name)
	if err != nil {
		return nil, err
	}
	rd, err := cl.throughMirrors(up, name)
	if err != nil {
		return nil, err
	}
	cl.readers[name] = rd
	return rd, nil
}

// throughMirrors reads up, the client of the registry name, through that
// registry's mirrors first, each with its own host's credentials; up
// alone when it has none.
func (cl *Client) throughMirrors(up *registry.Client, name string) (reader, error) {
	specs, err := mirror.FromSettings(cl.settings, name, cl.mirrors)
	if err != nil || len(specs) == 0 {
		return up, err
	}
	src, err := mirror.Open(up, specs, mirror.Clients{Base: cl.registryConfig, Creds: cl.creds, Trace: cl.c.Trace})
	if err != nil {
		return nil, err
	}
	return src, nil
}

// cache opens the blob cache once; nil with NoCache.
func (cl *Client) cache() (*store.Store, error) {
	if cl.c.NoCache {
		return nil, nil
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.store == nil {
		st, err := store.Open(store.Config{Dir: cl.c.CacheDir, Env: cl.c.Getenv})
		if err != nil {
			return nil, fmt.Errorf("opening the cache: %w", err)
		}
		cl.store = st
	}
	return cl.store, nil
}
