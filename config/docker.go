package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// daemonJSON is the part of docker's daemon.json that haul reads; dockerd's
// other keys are its own business.
type daemonJSON struct {
	RegistryMirrors    []string `json:"registry-mirrors"`
	InsecureRegistries []string `json:"insecure-registries"`
}

// readDaemonJSON adds what daemon.json at path says to s: registry-mirrors as
// Docker Hub's mirrors, insecure-registries as insecure hosts and networks.
// data is the file's content.
func (s *System) readDaemonJSON(path string, data []byte) error {
	var d daemonJSON
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("%s: %w", jsonPosition(path, data, err), unwrapJSON(err))
	}
	if len(d.RegistryMirrors) > 0 {
		hub := SystemRegistry{Prefix: "docker.io", Origin: path + " registry-mirrors", daemon: true}
		for i, m := range d.RegistryMirrors {
			origin := fmt.Sprintf("%s registry-mirrors[%d]", path, i)
			loc, err := dockerMirror(m)
			if err != nil {
				return fmt.Errorf("%s: %w (dockerd refuses this file too: fix or remove the entry)", origin, err)
			}
			hub.Mirrors = append(hub.Mirrors, Mirror{Location: loc, Prefix: "docker.io", Origin: origin})
		}
		s.Registries = append(s.Registries, hub)
	}
	for i, r := range d.InsecureRegistries {
		origin := fmt.Sprintf("%s insecure-registries[%d]", path, i)
		if strings.Contains(r, "://") {
			return fmt.Errorf("%s: %q: an insecure registry is host[:port] or a CIDR, without a scheme", origin, r)
		}
		if n, err := netip.ParsePrefix(r); err == nil {
			s.InsecureNets = append(s.InsecureNets, InsecureNet{Net: n.Masked(), Origin: origin})
			continue
		}
		host := strings.TrimSuffix(r, "/")
		if host == "" || strings.ContainsAny(host, "/ ") {
			return fmt.Errorf("%s: %q: an insecure registry is host[:port] or a CIDR", origin, r)
		}
		s.Registries = append(s.Registries, SystemRegistry{Prefix: canonicalPrefix(host), Insecure: true, Origin: origin, daemon: true})
	}
	return nil
}

// dockerMirror checks a registry-mirrors entry the way dockerd does (an
// http or https URL, no credentials, query or fragment) and returns it
// without its trailing slash.
func dockerMirror(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("mirror %q is not a URL", s)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("mirror %q: a mirror is an http:// or https:// URL", s)
	case u.Host == "":
		return "", fmt.Errorf("mirror %q has no host", s)
	case u.User != nil:
		return "", fmt.Errorf("mirror %s://%s: credentials do not belong in the URL (docker login to the mirror's host)", u.Scheme, u.Host)
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("mirror %q: a query or fragment is not allowed", s)
	}
	return strings.TrimSuffix(s, "/"), nil
}

// jsonPosition is "path:line:col" of a JSON decoding error, or path when the
// error has no offset.
func jsonPosition(path string, data []byte, err error) string {
	var off int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off = syn.Offset
	case errors.As(err, &typ):
		off = typ.Offset
	}
	if off < 0 || off > int64(len(data)) {
		return path
	}
	line, col := lineCol(data, int(off))
	return fmt.Sprintf("%s:%d:%d", path, line, col)
}

// lineCol is the 1-based line and column of data[off]; for a JSON error's
// offset (just past the bad byte) it is the bad byte's own column.
func lineCol(data []byte, off int) (int, int) {
	if off > 0 {
		off-- // the decoder's offset is after the byte it choked on
	}
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := off - bytes.LastIndexByte(before, '\n')
	return line, col
}

// unwrapJSON makes encoding/json's messages read as a person's: a wrong type
// says which key.
func unwrapJSON(err error) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Field != "" {
		return fmt.Errorf("%q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	}
	return err
}

func jsonKind(k string) string {
	switch k {
	case "slice":
		return "a list of strings"
	case "string":
		return "a string"
	}
	return k
}
