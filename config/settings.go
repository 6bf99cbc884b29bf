package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/haul-dev/haul/disk"
)

// Value is a setting and where it came from: "PATH:LINE" of a file,
// "daemon.json registry-mirrors"; "" when nothing set it.
type Value[T any] struct {
	V      T
	Origin string
}

// Set reports whether something set v.
func (v Value[T]) Set() bool { return v.Origin != "" }

// Options says where Load looks.
type Options struct {
	// Path is the config.toml named on the command line (--config): it must
	// exist. "": $XDG_CONFIG_HOME/haul/config.toml (~/.config/haul/...),
	// read when it exists.
	Path string
	// Getenv reads the environment (XDG_CONFIG_HOME, HOME, USERPROFILE on
	// Windows, CONTAINERS_REGISTRIES_CONF). Required.
	Getenv func(string) string
	// System is where docker's and the containers tools' files are; nil:
	// DefaultSystemPaths(Getenv).
	System *SystemPaths
}

// Settings are haul's config.toml and the other tools' files, merged.
type Settings struct {
	File   File   // config.toml; File.Path "" when there is none
	System System // daemon.json, registries.conf and its drop-ins
	// CertsDirs are the certs.d roots to search for each registry's CAs and
	// client certificates (SystemPaths.CertsDirs).
	CertsDirs []string
}

// DefaultPath is where haul's config.toml is: $XDG_CONFIG_HOME/haul/config.toml,
// else ~/.config/haul/config.toml; "" when neither variable is set.
func DefaultPath(getenv func(string) string) string {
	if home := userConfigHome(getenv); home != "" {
		return filepath.Join(home, "haul", "config.toml")
	}
	return ""
}

// Load reads config.toml and the other tools' files. An absent file is
// nothing to read, except a config.toml named by o.Path; a present one that
// cannot be read or parsed is an error naming it (and the line, where the
// parser knows it).
func Load(o Options) (Settings, error) {
	var s Settings
	path, named := o.Path, o.Path != ""
	if !named {
		path = DefaultPath(o.Getenv)
	}
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			if s.File, err = ParseFile(path, data, disk.Home(o.Getenv)); err != nil {
				return Settings{}, err
			}
		case errors.Is(err, fs.ErrNotExist) && !named:
		case errors.Is(err, fs.ErrNotExist):
			return Settings{}, fmt.Errorf("--config %s: no such file", path)
		default:
			return Settings{}, fmt.Errorf("reading %s: %w", path, err)
		}
	}
	sp := DefaultSystemPaths(o.Getenv)
	if o.System != nil {
		sp = *o.System
	}
	sys, err := ReadSystem(sp)
	if err != nil {
		return Settings{}, err
	}
	s.System = sys
	s.CertsDirs = sp.CertsDirs
	return s, nil
}

// Defaults are the flags config.toml gives defaults for, by flag name, as
// the flag's text: "jobs" -> "8". A flag given on the command line wins.
func (s Settings) Defaults() map[string]Value[string] {
	f := s.File
	d := map[string]Value[string]{}
	put := func(flag, key, v string, set bool) {
		if set {
			d[flag] = Value[string]{V: v, Origin: f.origin(key)}
		}
	}
	put("platform", "platform", f.Platform, f.Platform != "")
	put("jobs", "jobs", strconv.Itoa(f.Jobs), f.Jobs != 0)
	put("cache-dir", "cache-dir", f.CacheDir, f.CacheDir != "")
	put("idle-timeout", "idle-timeout", f.IdleTimeout.String(), f.IdleTimeout != 0)
	put("cache-all", "cache-all", strconv.FormatBool(f.CacheAll), f.lines["cache-all"] != 0)
	put("max-size", "limits.max-size", strconv.FormatInt(f.MaxSize, 10), f.lines["limits.max-size"] != 0)
	put("max-entries", "limits.max-entries", strconv.FormatInt(f.MaxEntries, 10), f.lines["limits.max-entries"] != 0)
	return d
}

// Registry is what the files say about one registry.
type Registry struct {
	Name      string
	PlainHTTP Value[bool]
	// Insecure allows unverified TLS and plain HTTP, as docker's
	// insecure-registries and registries.conf's insecure do.
	Insecure Value[bool]
	CAFile   Value[string]
	// Mirrors in the order to try them: config.toml's, then registries.conf's
	// (those of the longest prefix first), then daemon.json's; each location
	// once for each prefix.
	Mirrors []Mirror
}

// Registry is what the files say about the registry name ("docker.io",
// "reg.local:5000"; Docker Hub's other host names are docker.io).
func (s Settings) Registry(name string) Registry {
	name = canonicalPrefix(strings.ToLower(name))
	r := Registry{Name: name}
	var mirrors []Mirror
	if i := slices.IndexFunc(s.File.Registries, func(fr FileRegistry) bool { return fr.Name == name }); i >= 0 {
		fr := s.File.Registries[i]
		if fr.PlainHTTP != nil {
			r.PlainHTTP = Value[bool]{*fr.PlainHTTP, s.File.registryOrigin(fr, "plain-http")}
		}
		if fr.Insecure != nil {
			r.Insecure = Value[bool]{*fr.Insecure, s.File.registryOrigin(fr, "insecure")}
		}
		if fr.CAFile != "" {
			r.CAFile = Value[string]{fr.CAFile, s.File.registryOrigin(fr, "ca-file")}
		}
		for _, m := range fr.Mirrors {
			mirrors = append(mirrors, Mirror{Location: m, Prefix: name, Origin: s.File.registryOrigin(fr, "mirrors")})
		}
	}
	// Prefixes inside the registry ("docker.io/library") have mirrors of
	// their own, tried before the registry-wide ones.
	var inside []SystemRegistry
	for _, e := range s.System.Registries {
		if !e.daemon && strings.HasPrefix(e.Prefix, name+"/") {
			inside = append(inside, e)
		}
	}
	slices.SortStableFunc(inside, func(a, b SystemRegistry) int { return len(b.Prefix) - len(a.Prefix) })
	for _, e := range inside {
		mirrors = append(mirrors, e.Mirrors...)
	}
	sys := s.System.For(name)
	mirrors = append(mirrors, sys.Mirrors...)
	if sys.Insecure && !r.Insecure.Set() {
		r.Insecure = Value[bool]{true, sys.Origin}
	}
	seen := map[string]bool{}
	for _, m := range mirrors {
		k := m.Prefix + " " + strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(m.Location, "https://"), "/"))
		if !seen[k] {
			seen[k] = true
			r.Mirrors = append(r.Mirrors, m)
		}
	}
	return r
}

// Blocked is the origin of the entry that forbids pulling the image name
// ("docker.io/library/alpine"); "" when nothing does.
func (s Settings) Blocked(name string) string {
	if e := s.System.For(name); e.Blocked {
		return e.Origin
	}
	return ""
}

// Registries are the registries that some file says something about, in
// the order config.toml, registries.conf, daemon.json name them.
func (s Settings) Registries() []string {
	var names []string
	add := func(n string) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	for _, fr := range s.File.Registries {
		add(fr.Name)
	}
	for _, e := range s.System.Registries {
		host, _, _ := strings.Cut(e.Prefix, "/")
		if e.daemon && len(e.Mirrors) > 0 {
			host = "docker.io"
		}
		if !strings.HasPrefix(host, "*.") {
			add(host)
		}
	}
	return names
}
