package config

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/editdist"
)

// File is haul's own config.toml. A zero field is one the file does not set.
type File struct {
	Path        string
	Platform    string        // platform = "linux/arm64"
	Jobs        int           // jobs = 8
	CacheDir    string        // cache-dir = "/var/cache/haul" ("~/" is the home directory)
	IdleTimeout time.Duration // idle-timeout = "1m"
	CacheAll    bool          // cache-all = true
	MaxSize     int64         // [limits] max-size = "10G" (or a count of bytes)
	MaxEntries  int64         // [limits] max-entries = 1000000
	// Registries are the [registries."HOST"] tables in the order written.
	Registries []FileRegistry

	lines map[string]int // "jobs", "limits.max-size": the line of each key
}

// FileRegistry is one [registries."HOST"] table of config.toml.
type FileRegistry struct {
	// Name is the registry, as references spell it: Docker Hub's hosts are
	// all "docker.io".
	Name      string
	Mirrors   []string // mirrors = ["mirror.local:5000", "http://10.0.0.5:5000/hub"]
	PlainHTTP *bool    // plain-http = true
	Insecure  *bool    // insecure = true
	CAFile    string   // ca-file = "/etc/haul/reg-ca.pem"
	Origin    string   // path:line of the table

	key string // the table's dotted key in File.lines: "registries.docker.io"
}

// origin is "path:line" of key in f, or path when the line is unknown.
func (f File) origin(key string) string {
	if n, ok := f.lines[key]; ok {
		return fmt.Sprintf("%s:%d", f.Path, n)
	}
	return f.Path
}

// fileTOML is config.toml's shape. Unknown keys are errors: a misspelt key
// would otherwise be a setting silently not applied.
type fileTOML struct {
	Platform    string `toml:"platform"`
	Jobs        *int   `toml:"jobs"`
	CacheDir    string `toml:"cache-dir"`
	IdleTimeout string `toml:"idle-timeout"`
	CacheAll    bool   `toml:"cache-all"`
	Limits      struct {
		MaxSize    any    `toml:"max-size"`
		MaxEntries *int64 `toml:"max-entries"`
	} `toml:"limits"`
	Registries map[string]registryTOML `toml:"registries"`
}

type registryTOML struct {
	Mirrors   []string `toml:"mirrors"`
	PlainHTTP *bool    `toml:"plain-http"`
	Insecure  *bool    `toml:"insecure"`
	CAFile    string   `toml:"ca-file"`
}

// keys are the keys each table of config.toml takes, to suggest the one
// meant when a key is unknown.
var keys = map[string][]string{
	"":           {"platform", "jobs", "cache-dir", "idle-timeout", "cache-all", "limits", "registries"},
	"limits":     {"max-size", "max-entries"},
	"registries": {"mirrors", "plain-http", "insecure", "ca-file"},
}

// ParseFile reads config.toml's bytes; path names the file in errors and
// origins, and home expands a leading "~/" in paths. Every error names the
// file and line, and says what the key takes.
func ParseFile(path string, data []byte, home string) (File, error) {
	var t fileTOML
	d := toml.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&t); err != nil {
		return File{}, fileError(path, err)
	}
	f := File{Path: path, lines: keyLines(data)}
	at := func(key, format string, a ...any) error {
		return fmt.Errorf("%s: %s", f.origin(key), fmt.Sprintf(format, a...))
	}
	if t.Platform != "" {
		p, err := image.ParsePlatform(t.Platform)
		if err != nil {
			return File{}, at("platform", "platform %q: %v (one os/arch[/variant], as linux/arm64)", t.Platform, err)
		}
		f.Platform = image.FormatPlatform(p)
	}
	if t.Jobs != nil {
		if *t.Jobs < 1 {
			return File{}, at("jobs", "jobs = %d: want 1 or more blobs fetched at once", *t.Jobs)
		}
		f.Jobs = *t.Jobs
	}
	f.CacheAll = t.CacheAll
	if t.CacheDir != "" {
		dir, err := absPath(t.CacheDir, home)
		if err != nil {
			return File{}, at("cache-dir", "cache-dir: %v", err)
		}
		f.CacheDir = dir
	}
	if t.IdleTimeout != "" {
		dur, err := time.ParseDuration(t.IdleTimeout)
		if err != nil || dur <= 0 {
			return File{}, at("idle-timeout", "idle-timeout = %q: want a positive duration, as \"30s\" or \"2m\"", t.IdleTimeout)
		}
		f.IdleTimeout = dur
	}
	switch v := t.Limits.MaxSize.(type) {
	case nil:
	case string:
		n, err := ParseSize(v)
		if err != nil {
			return File{}, at("limits.max-size", "max-size: %v", err)
		}
		f.MaxSize = n
	case int64:
		if v < 0 {
			return File{}, at("limits.max-size", "max-size = %d: want a size, as \"10G\", or a count of bytes", v)
		}
		f.MaxSize = v
	default:
		return File{}, at("limits.max-size", "max-size: want a size, as \"10G\", or a count of bytes")
	}
	if t.Limits.MaxEntries != nil {
		if *t.Limits.MaxEntries < 0 {
			return File{}, at("limits.max-entries", "max-entries = %d: want a count", *t.Limits.MaxEntries)
		}
		f.MaxEntries = *t.Limits.MaxEntries
	}
	raws := make([]string, 0, len(t.Registries))
	for raw := range t.Registries {
		raws = append(raws, raw)
	}
	slices.SortFunc(raws, func(a, b string) int {
		if d := f.lines["registries."+a] - f.lines["registries."+b]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	seen := map[string]string{}
	for _, raw := range raws {
		r := t.Registries[raw]
		key := "registries." + raw
		name := canonicalPrefix(strings.ToLower(strings.TrimSpace(raw)))
		if err := checkRegistryName(name); err != nil {
			return File{}, at(key, "[registries.%q]: %v", raw, err)
		}
		if prev, dup := seen[name]; dup {
			return File{}, at(key, "[registries.%q] is %s again, already configured at %s: merge the two tables", raw, name, prev)
		}
		seen[name] = f.origin(key)
		fr := FileRegistry{Name: name, Mirrors: r.Mirrors, PlainHTTP: r.PlainHTTP, Insecure: r.Insecure, Origin: f.origin(key), key: key}
		for i, m := range r.Mirrors {
			if strings.TrimSpace(m) == "" {
				return File{}, at(key+".mirrors", "[registries.%q] mirror %d is empty", raw, i+1)
			}
		}
		if r.CAFile != "" {
			p, err := absPath(r.CAFile, home)
			if err != nil {
				return File{}, at(key+".ca-file", "ca-file: %v", err)
			}
			fr.CAFile = p
		}
		f.Registries = append(f.Registries, fr)
	}
	return f, nil
}

// registryOrigin is "path:line" of key in r's table, or the table's when
// the key's line is unknown.
func (f File) registryOrigin(r FileRegistry, key string) string {
	if n, ok := f.lines[r.key+"."+key]; ok {
		return fmt.Sprintf("%s:%d", f.Path, n)
	}
	return r.Origin
}

// checkRegistryName refuses a [registries] key that is not a registry host.
func checkRegistryName(name string) error {
	switch {
	case name == "":
		return errors.New("no registry name")
	case strings.Contains(name, "://"):
		return errors.New("a registry is named without a scheme (plain-http = true speaks http)")
	case strings.ContainsAny(name, "/ \t*"):
		return errors.New("a registry is a host[:port], as \"docker.io\" or \"reg.local:5000\"")
	}
	return nil
}

// absPath expands a leading "~/" with home and refuses a relative path,
// which would depend on where haul runs.
func absPath(p, home string) (string, error) {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home == "" {
			return "", fmt.Errorf("%q: HOME (USERPROFILE on Windows) is not set to expand ~", p)
		}
		p = filepath.Join(home, rest)
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%q: write an absolute path (or ~/…)", p)
	}
	return filepath.Clean(p), nil
}

// fileError turns go-toml's errors into "path:line:col: what" lines, with
// the key meant when one is misspelt.
func fileError(path string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		var msgs []string
		for _, de := range strict.Errors {
			line, col := de.Position()
			msgs = append(msgs, fmt.Sprintf("%s:%d:%d: %s", path, line, col, unknownKey(de.Key())))
		}
		return errors.New(strings.Join(msgs, "\n"))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		return fmt.Errorf("%s:%d:%d: %s", path, line, col, de.Error())
	}
	return fmt.Errorf("%s: %w", path, err)
}

// unknownKey says what is wrong with an unknown key and what was meant.
func unknownKey(k toml.Key) string {
	full := strings.Join(k, ".")
	table, name := "", full
	if len(k) > 1 {
		table, name = k[0], k[len(k)-1]
	}
	if table == "registries" && (len(k) > 3 || len(k) == 3 && nearest(name, keys["registries"]) == "") {
		return fmt.Sprintf("unknown key %s: quote a registry name that has dots, as [registries.%q]", full, strings.Join(k[1:], "."))
	}
	if table == "registries" && len(k) == 2 {
		return fmt.Sprintf("unknown key %s: [registries] holds one table per registry, as [registries.\"docker.io\"]", full)
	}
	known := keys[table]
	msg := fmt.Sprintf("unknown key %q", full)
	if near := nearest(name, known); near != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", near)
	} else if len(known) > 0 {
		msg += fmt.Sprintf(" (the keys here are %s)", strings.Join(known, ", "))
	}
	return msg
}

// nearest is the candidate within two edits of s, if any.
func nearest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := editdist.Distance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// keyLines maps each key of a TOML document, dotted from its table
// ("limits.max-size", "registries.docker.io.mirrors"), and each table header,
// to its line. The document has already decoded, so it parses.
func keyLines(data []byte) map[string]int {
	lines := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = keyParts(e.Key())
			if k := e.Key(); k.Next() {
				lines[strings.Join(table, ".")] = p.Shape(k.Node().Raw).Start.Line
			}
		case unstable.KeyValue:
			full := append(slices.Clone(table), keyParts(e.Key())...)
			lines[strings.Join(full, ".")] = p.Shape(e.Raw).Start.Line
		}
	}
	return lines
}

func keyParts(it unstable.Iterator) []string {
	var parts []string
	for it.Next() {
		parts = append(parts, string(it.Node().Data))
	}
	return parts
}
