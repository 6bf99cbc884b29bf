package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// registriesConf is the part of containers-registries.conf(5) that haul
// reads. The containers tools add keys over time and haul's are a subset, so
// unknown keys are not errors here.
type registriesConf struct {
	Registries []containersRegistry `toml:"registry"`

	UnqualifiedSearch []string `toml:"unqualified-search-registries"`
	ShortNameMode     string   `toml:"short-name-mode"`

	// V1 is the format before v2: [registries.search], [registries.insecure]
	// and [registries.block], each with a registries list.
	V1 *struct {
		Search   v1List `toml:"search"`
		Insecure v1List `toml:"insecure"`
		Block    v1List `toml:"block"`
	} `toml:"registries"`
}

type v1List struct {
	Registries []string `toml:"registries"`
}

type containersRegistry struct {
	Prefix             string             `toml:"prefix"`
	Location           string             `toml:"location"`
	Insecure           bool               `toml:"insecure"`
	Blocked            bool               `toml:"blocked"`
	MirrorByDigestOnly bool               `toml:"mirror-by-digest-only"`
	Mirrors            []containersMirror `toml:"mirror"`
}

type containersMirror struct {
	Location       string `toml:"location"`
	Insecure       bool   `toml:"insecure"`
	PullFromMirror string `toml:"pull-from-mirror"` // "all" (default), "digest-only", "tag-only"
}

// readRegistriesConf adds the [[registry]] tables of one registries.conf
// file (the main one or a drop-in) to s. A table whose prefix an earlier file
// already has replaces it in place, as containers' drop-ins do.
func (s *System) readRegistriesConf(path string, data []byte) error {
	var f registriesConf
	if err := toml.Unmarshal(data, &f); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, col := de.Position()
			return fmt.Errorf("%s:%d:%d: %s", path, line, col, de.Error())
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	if f.V1 != nil {
		if len(f.Registries) > 0 {
			return fmt.Errorf("%s: mixes the v1 format ([registries.*]) with v2 ([[registry]]); containers tools refuse that too: keep [[registry]]", path)
		}
		for _, l := range []struct {
			table string
			list  v1List
			entry SystemRegistry
		}{
			{"[registries.insecure]", f.V1.Insecure, SystemRegistry{Insecure: true}},
			{"[registries.block]", f.V1.Block, SystemRegistry{Blocked: true}},
		} {
			for _, r := range l.list.Registries {
				e := l.entry
				e.Prefix, e.Origin = canonicalPrefix(r), path+" "+l.table
				if err := checkPrefix(e.Prefix); err != nil {
					return fmt.Errorf("%s: %w", e.Origin, err)
				}
				s.putRegistry(e)
			}
		}
		if len(f.V1.Search.Registries) > 0 {
			s.Notes = append(s.Notes, path+": [registries.search] not used: haul completes short names with docker.io, as docker does")
		}
	}
	if len(f.UnqualifiedSearch) > 0 {
		s.Notes = append(s.Notes, path+": unqualified-search-registries not used: haul completes short names with docker.io, as docker does")
	}
	lines := tableLines(data)
	for i, r := range f.Registries {
		origin := path
		if len(lines.registry) == len(f.Registries) {
			origin = fmt.Sprintf("%s:%d", path, lines.registry[i])
		}
		e, err := s.containersEntry(r, origin, lines.mirrorsOf(i, len(f.Registries), path))
		if err != nil {
			return fmt.Errorf("%s: %w", origin, err)
		}
		s.putRegistry(e)
	}
	return nil
}

// containersEntry turns a [[registry]] table into a SystemRegistry; mirrorOrigin
// gives the origin of its i-th [[registry.mirror]].
func (s *System) containersEntry(r containersRegistry, origin string, mirrorOrigin func(int) string) (SystemRegistry, error) {
	prefix := r.Prefix
	if prefix == "" {
		prefix = r.Location
	}
	if prefix == "" {
		return SystemRegistry{}, errors.New("a [[registry]] needs a prefix or a location")
	}
	e := SystemRegistry{Prefix: canonicalPrefix(prefix), Insecure: r.Insecure, Blocked: r.Blocked, Origin: origin}
	if err := checkPrefix(e.Prefix); err != nil {
		return SystemRegistry{}, err
	}
	if r.Location != "" && r.Prefix != "" && canonicalPrefix(r.Location) != e.Prefix {
		e.Location = r.Location
		s.Notes = append(s.Notes, fmt.Sprintf("%s: location %q not used: haul reads %s from its own registry (and from the mirrors)", origin, r.Location, e.Prefix))
	}
	wildcard := strings.HasPrefix(e.Prefix, "*.")
	for j, m := range r.Mirrors {
		if m.Location == "" {
			return SystemRegistry{}, fmt.Errorf("[[registry.mirror]] %d of %s has no location", j+1, e.Prefix)
		}
		if wildcard {
			s.Notes = append(s.Notes, fmt.Sprintf("%s: mirror %s of the wildcard prefix %s not used", mirrorOrigin(j), m.Location, e.Prefix))
			continue
		}
		mode := m.PullFromMirror
		switch mode {
		case "", "all", "digest-only":
		case "tag-only":
			s.Notes = append(s.Notes, fmt.Sprintf("%s: mirror %s is pull-from-mirror = \"tag-only\": not used, since haul reads blobs by digest", mirrorOrigin(j), m.Location))
			continue
		default:
			return SystemRegistry{}, fmt.Errorf("mirror %s: pull-from-mirror is %q; it takes \"all\", \"digest-only\" or \"tag-only\"", m.Location, mode)
		}
		e.Mirrors = append(e.Mirrors, Mirror{
			Location:   m.Location,
			Prefix:     e.Prefix,
			Insecure:   m.Insecure,
			DigestOnly: r.MirrorByDigestOnly || mode == "digest-only",
			Origin:     mirrorOrigin(j),
		})
	}
	return e, nil
}

// putRegistry adds e, replacing an entry of the same prefix where it stood.
func (s *System) putRegistry(e SystemRegistry) {
	for i := range s.Registries {
		if s.Registries[i].Prefix == e.Prefix {
			s.Registries[i] = e
			return
		}
	}
	s.Registries = append(s.Registries, e)
}

var (
	registryHeader = regexp.MustCompile(`^\s*\[\[\s*registry\s*\]\]`)
	mirrorHeader   = regexp.MustCompile(`^\s*\[\[\s*registry\s*\.\s*mirror\s*\]\]`)
)

// headerLines are the line numbers of a file's [[registry]] and
// [[registry.mirror]] headers, to name them in origins. Tables written
// inline (registry = [{...}]) have no header; their origins name the file only.
type headerLines struct {
	registry []int
	mirror   [][]int // mirror[i]: the mirror headers after registry header i
}

func tableLines(data []byte) headerLines {
	var h headerLines
	for n, line := range strings.Split(string(data), "\n") {
		switch {
		case registryHeader.MatchString(line):
			h.registry = append(h.registry, n+1)
			h.mirror = append(h.mirror, nil)
		case mirrorHeader.MatchString(line) && len(h.mirror) > 0:
			h.mirror[len(h.mirror)-1] = append(h.mirror[len(h.mirror)-1], n+1)
		}
	}
	return h
}

// mirrorsOf gives the origins of registry table i's mirrors, when the
// headers account for every table.
func (h headerLines) mirrorsOf(i, tables int, path string) func(int) string {
	return func(j int) string {
		if len(h.registry) == tables && j < len(h.mirror[i]) {
			return fmt.Sprintf("%s:%d", path, h.mirror[i][j])
		}
		return path
	}
}

// checkPrefix refuses a prefix that no image name could match:
// "host[:port][/path]" or "*.domain".
func checkPrefix(p string) error {
	host, _, _ := strings.Cut(p, "/")
	switch {
	case strings.ContainsAny(p, " \t"):
		return fmt.Errorf("prefix %q has a space", p)
	case strings.HasPrefix(p, "*."):
		if strings.Contains(p, "/") || len(p) == 2 || strings.Contains(p[2:], "*") {
			return fmt.Errorf("prefix %q: a wildcard prefix is *.domain, with nothing after the domain", p)
		}
	case strings.Contains(p, "*"):
		return fmt.Errorf("prefix %q: a wildcard goes only at the start, as *.domain", p)
	case strings.Contains(p, "://"):
		return fmt.Errorf("prefix %q: a prefix has no scheme", p)
	case host == "":
		return fmt.Errorf("prefix %q has no registry host", p)
	}
	return nil
}

// canonicalPrefix spells Docker Hub's host as references do ("docker.io") and
// drops a trailing slash.
func canonicalPrefix(p string) string {
	p = strings.TrimSuffix(p, "/")
	host, rest, found := strings.Cut(p, "/")
	switch host {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		host = "docker.io"
	}
	if found {
		return host + "/" + rest
	}
	return host
}
