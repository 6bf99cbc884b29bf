package engine

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/haul-dev/haul/disk"
)

// Host is where an engine listens, and how it was chosen.
type Host struct {
	// URL is the address as DOCKER_HOST spells it: unix:///var/run/docker.sock,
	// tcp://10.0.0.5:2376.
	URL string
	// From says where URL came from, for messages: "DOCKER_HOST",
	// `docker context "remote" (/home/me/.docker/contexts/meta/…/meta.json)`,
	// "the default socket".
	From string
	// TLS is for a tcp:// engine behind TLS; nil: plain HTTP.
	TLS *TLSFiles
}

// TLSFiles are the PEM files docker uses for a tcp:// engine: ca.pem,
// cert.pem and key.pem of DOCKER_CERT_PATH, or of a context's TLS directory.
type TLSFiles struct {
	CA         string // "": the system's roots
	Cert, Key  string // "": no client certificate
	SkipVerify bool   // the engine's certificate is not checked (DOCKER_TLS without DOCKER_TLS_VERIFY; a context's SkipTLSVerify)
}

// The addresses of an engine nobody configured, as the docker CLI has them.
const (
	DefaultUnixHost    = "unix:///var/run/docker.sock"
	DefaultWindowsHost = "npipe:////./pipe/docker_engine"
)

// Resolve finds the engine the docker CLI would use, reading the
// environment through getenv and docker's files: DOCKER_HOST (with
// DOCKER_TLS_VERIFY, DOCKER_TLS and DOCKER_CERT_PATH for tcp://); else the
// context DOCKER_CONTEXT names, else config.json's currentContext (in
// DOCKER_CONFIG, else ~/.docker), read from contexts/meta/<sha256 of the
// name>/meta.json; else the default socket. As in docker, DOCKER_HOST wins
// over DOCKER_CONTEXT. An address haul cannot speak to (ssh://, npipe://
// off Windows) is an *UnsupportedError, with what to do instead.
func Resolve(getenv func(string) string) (Host, error) {
	return resolveFor(runtime.GOOS, getenv)
}

func resolveFor(goos string, getenv func(string) string) (Host, error) {
	h, err := resolve(goos, getenv)
	if err != nil {
		return Host{}, err
	}
	return h, check(h, goos)
}

func resolve(goos string, getenv func(string) string) (Host, error) {
	if u := getenv("DOCKER_HOST"); u != "" {
		h := Host{URL: u, From: "DOCKER_HOST"}
		if tlsOn(getenv) && strings.HasPrefix(u, "tcp://") {
			h.TLS = envTLS(getenv)
		}
		return h, nil
	}
	name, from, err := contextName(getenv)
	if err != nil {
		return Host{}, err
	}
	if name != "" && name != "default" {
		return contextHost(configDir(getenv), name, from)
	}
	if goos == "windows" {
		return Host{URL: DefaultWindowsHost, From: "the default named pipe"}, nil
	}
	return Host{URL: DefaultUnixHost, From: "the default socket"}, nil
}

func tlsOn(getenv func(string) string) bool {
	return getenv("DOCKER_TLS_VERIFY") != "" || getenv("DOCKER_TLS") != ""
}

// envTLS is the docker CLI's reading of DOCKER_CERT_PATH: ca.pem always,
// cert.pem and key.pem only when they exist.
func envTLS(getenv func(string) string) *TLSFiles {
	dir := getenv("DOCKER_CERT_PATH")
	if dir == "" {
		dir = configDir(getenv)
	}
	t := &TLSFiles{CA: filepath.Join(dir, "ca.pem"), SkipVerify: getenv("DOCKER_TLS_VERIFY") == ""}
	t.Cert, t.Key = existing(filepath.Join(dir, "cert.pem")), existing(filepath.Join(dir, "key.pem"))
	return t
}

func existing(path string) string {
	if _, err := os.Stat(path); err != nil {
		return ""
	}
	return path
}

// configDir is docker's configuration directory: DOCKER_CONFIG, else ~/.docker.
func configDir(getenv func(string) string) string {
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	if h := disk.Home(getenv); h != "" {
		return filepath.Join(h, ".docker")
	}
	return ""
}

// contextName is the docker context in force and what chose it: DOCKER_CONTEXT,
// else config.json's currentContext; "" when neither names one.
func contextName(getenv func(string) string) (name, from string, err error) {
	if n := getenv("DOCKER_CONTEXT"); n != "" {
		return n, "DOCKER_CONTEXT", nil
	}
	dir := configDir(getenv)
	if dir == "" {
		return "", "", nil
	}
	path := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", fmt.Errorf("reading the docker context: %w", err)
	}
	var cfg struct {
		CurrentContext string `json:"currentContext"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return "", "", fmt.Errorf("reading the docker context from %s: %w", path, err)
	}
	return cfg.CurrentContext, "currentContext of " + path, nil
}

// contextHost reads a context's docker endpoint, as docker's context store
// keeps it: contexts/meta/<sha256 of the name>/meta.json, and the TLS files
// in contexts/tls/<same>/docker/.
func contextHost(dir, name, from string) (Host, error) {
	sum := sha256.Sum256([]byte(name))
	id := hex.EncodeToString(sum[:])
	path := filepath.Join(dir, "contexts", "meta", id, "meta.json")
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Host{}, fmt.Errorf("docker context %q (from %s) does not exist: there is no %s (docker context ls lists those there are)", name, from, path)
	}
	if err != nil {
		return Host{}, fmt.Errorf("docker context %q (from %s): %w", name, from, err)
	}
	var meta struct {
		Endpoints map[string]struct {
			Host          string
			SkipTLSVerify bool
		}
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return Host{}, fmt.Errorf("docker context %q: %s: %w", name, path, err)
	}
	ep := meta.Endpoints["docker"]
	h := Host{URL: ep.Host, From: fmt.Sprintf("docker context %q (%s)", name, path)}
	if h.URL == "" {
		return Host{}, fmt.Errorf("docker context %q: %s has no docker endpoint", name, path)
	}
	tlsDir := filepath.Join(dir, "contexts", "tls", id, "docker")
	t := &TLSFiles{CA: existing(filepath.Join(tlsDir, "ca.pem")), Cert: existing(filepath.Join(tlsDir, "cert.pem")),
		Key: existing(filepath.Join(tlsDir, "key.pem")), SkipVerify: ep.SkipTLSVerify}
	if strings.HasPrefix(h.URL, "tcp://") && (t.CA != "" || t.Cert != "" || t.SkipVerify) {
		h.TLS = t
	}
	return h, nil
}

// check refuses the addresses haul cannot speak to, saying what would work.
func check(h Host, goos string) error {
	scheme, rest, ok := strings.Cut(h.URL, "://")
	if !ok {
		return &UnsupportedError{Host: h, Reason: "not an address (want unix:///PATH or tcp://HOST:PORT)"}
	}
	switch scheme {
	case "unix":
		if rest == "" {
			return &UnsupportedError{Host: h, Reason: "a unix socket needs a path (unix:///var/run/docker.sock)"}
		}
		return nil
	case "tcp":
		if _, err := url.Parse(h.URL); err != nil || rest == "" {
			return &UnsupportedError{Host: h, Reason: "not a TCP address (want tcp://HOST:PORT)"}
		}
		return nil
	case "ssh":
		target := strings.TrimSuffix(rest, "/")
		return &UnsupportedError{Host: h, Reason: "haul does not speak ssh to an engine",
			Hint: "stream the tar over ssh yourself: haul pull -o - REF | ssh " + sshTarget(target) + " docker load"}
	case "npipe":
		if goos == "windows" {
			return &UnsupportedError{Host: h, Reason: "haul does not yet speak to an engine over a named pipe",
				Hint: "haul pull -o - REF | docker load, or expose the engine on tcp:// and set DOCKER_HOST"}
		}
		return &UnsupportedError{Host: h, Reason: "a named pipe exists only on Windows"}
	}
	return &UnsupportedError{Host: h, Reason: fmt.Sprintf("haul does not speak %s:// (want unix:// or tcp://)", scheme)}
}

// sshTarget turns ssh://user@host:port into what the ssh command takes.
func sshTarget(s string) string {
	if host, port, err := net.SplitHostPort(s); err == nil && port != "22" {
		return "-p " + port + " " + host
	} else if err == nil {
		return host
	}
	return s
}
