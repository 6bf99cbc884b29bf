package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/haul-dev/haul/disk"
)

// DockerConfig reads (and for login/logout writes) docker's config.json, in docker's
// order: credHelpers[registry], else credsStore, else auths.
//
// When a helper applies, its answer is final, as in docker/cli's nativeStore: "not found"
// means anonymous, and the file's auths entry is not consulted for a username or
// password (only its registrytoken survives, as docker keeps it too). A helper that fails
// any other way, or is missing, is an error naming the helper and the registry.
//
// Docker Hub lives under "https://index.docker.io/v1/", in auths and as the server URL
// given to helpers; other registries under their host[:port]. Keys docker's older
// versions wrote ("https://ghcr.io", "index.docker.io", "registry-1.docker.io") are
// recognised too.
type DockerConfig struct {
	Path string              // "": $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json (%USERPROFILE% on Windows)
	Env  func(string) string // nil: os.Getenv (for DOCKER_CONFIG, HOME and USERPROFILE; helpers are found on exec's PATH)
}

func (d DockerConfig) getenv(k string) string {
	if d.Env == nil {
		return os.Getenv(k)
	}
	return d.Env(k)
}

// path returns the config file's path, or "" when neither DOCKER_CONFIG nor a home is set.
func (d DockerConfig) path() string {
	switch {
	case d.Path != "":
		return d.Path
	case d.getenv("DOCKER_CONFIG") != "":
		return filepath.Join(d.getenv("DOCKER_CONFIG"), "config.json")
	case disk.Home(d.getenv) != "":
		return filepath.Join(disk.Home(d.getenv), ".docker", "config.json")
	}
	return ""
}

// Credential returns the credential docker would use for registry. A missing config file
// means anonymous.
func (d DockerConfig) Credential(ctx context.Context, registry string) (Credential, error) {
	path := d.path()
	if path == "" {
		return Credential{}, nil
	}
	f, err := loadConfigFile(path)
	if err != nil {
		return Credential{}, err
	}
	if h := f.helperFor(registry); h != "" {
		c, err := helperGet(ctx, h, dockerKey(registry))
		if err != nil {
			return Credential{}, err
		}
		if e, _, ok := f.entry(registry); ok {
			c.RegistryToken = e.RegistryToken
		}
		if !c.IsZero() {
			c.From = "credential helper docker-credential-" + h + " (named in " + path + ")"
		}
		return c, nil
	}
	e, key, ok := f.entry(registry)
	if !ok {
		return Credential{}, nil
	}
	c, err := e.credential()
	if err != nil {
		return Credential{}, fmt.Errorf("read auths[%q] of %s: %w", key, path, err)
	}
	if !c.IsZero() {
		c.From = path
	}
	return c, nil
}

// Store saves c for registry where docker would: through the registry's helper
// (credHelpers or credsStore) if it has one, leaving only an empty auths entry in the
// file as docker does so that the registry is listed as logged in; otherwise in auths,
// as base64("user:pass") with any identity or registry token beside it.
//
// Every other key of the file is kept as it was. The file is replaced atomically, mode
// 0600, its directory created 0700 if missing.
func (d DockerConfig) Store(ctx context.Context, registry string, c Credential) error {
	if c.IsZero() {
		return fmt.Errorf("store credential for %s: credential is empty", registry)
	}
	path := d.path()
	if path == "" {
		return fmt.Errorf("store credential for %s: no docker config: neither DOCKER_CONFIG nor HOME (USERPROFILE on Windows) is set", registry)
	}
	f, err := loadConfigFile(path)
	if err != nil {
		return err
	}
	key := dockerKey(registry)
	if h := f.helperFor(registry); h != "" {
		if err := helperStore(ctx, h, key, c); err != nil {
			return err
		}
		f.setEntry(key, authEntry{})
	} else {
		f.setEntry(key, newAuthEntry(c))
	}
	return writeConfigFile(path, f)
}

// Erase removes registry's credential: from its helper, if it has one, and every auths
// entry that names registry. Erasing what is not there is an error wrapping
// ErrNotLoggedIn.
func (d DockerConfig) Erase(ctx context.Context, registry string) error {
	notLoggedIn := fmt.Errorf("%w to %s", ErrNotLoggedIn, normalizeRegistry(registry))
	path := d.path()
	if path == "" {
		return notLoggedIn
	}
	f, err := loadConfigFile(path)
	if err != nil {
		return err
	}
	erased := false
	if h := f.helperFor(registry); h != "" {
		if erased, err = helperErase(ctx, h, dockerKey(registry)); err != nil {
			return err
		}
	}
	if f.removeEntries(registry) {
		erased = true
		if err := writeConfigFile(path, f); err != nil {
			return err
		}
	}
	if !erased {
		return notLoggedIn
	}
	return nil
}

// configFile is a parsed config.json (docker's or podman's). Only what auth reads is
// decoded; raw keeps every top-level key, so writing the file back loses nothing.
type configFile struct {
	raw         map[string]json.RawMessage
	auths       map[string]json.RawMessage // entries stay raw until one is needed
	credsStore  string
	credHelpers map[string]string
}

func loadConfigFile(path string) (*configFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &configFile{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read credential file: %w", err)
	}
	f, err := parseConfigFile(data)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return f, nil
}

// parseConfigFile parses the JSON of a config file. An empty file is an empty config,
// as docker reads it.
func parseConfigFile(data []byte) (*configFile, error) {
	f := &configFile{}
	if len(bytes.TrimSpace(data)) == 0 {
		return f, nil
	}
	if err := json.Unmarshal(data, &f.raw); err != nil {
		return nil, err
	}
	fields := []struct {
		name string
		dst  any
	}{{"auths", &f.auths}, {"credsStore", &f.credsStore}, {"credHelpers", &f.credHelpers}}
	for _, fl := range fields {
		if v, ok := f.raw[fl.name]; ok {
			if err := json.Unmarshal(v, fl.dst); err != nil {
				return nil, fmt.Errorf("decode %q: %w", fl.name, err)
			}
		}
	}
	return f, nil
}

// marshal encodes f as docker does (tab-indented), every unknown key kept.
func (f *configFile) marshal() ([]byte, error) {
	raw := make(map[string]json.RawMessage, len(f.raw)+1)
	for k, v := range f.raw {
		raw[k] = v
	}
	auths, err := encodeJSON(f.auths, "")
	if err != nil {
		return nil, err
	}
	if f.auths == nil {
		auths = []byte("{}")
	}
	raw["auths"] = auths
	return encodeJSON(raw, "\t")
}

// encodeJSON encodes without HTML escaping, so "<token>" stays readable.
func encodeJSON(v any, indent string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if indent != "" {
		enc.SetIndent("", indent)
	}
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// helperFor returns the credential helper for registry: credHelpers first, then
// credsStore; "" for none.
func (f *configFile) helperFor(registry string) string {
	if h, ok := f.credHelpers[dockerKey(registry)]; ok {
		return h
	}
	if k, ok := aliasKey(f.credHelpers, registry, false); ok {
		return f.credHelpers[k]
	}
	return f.credsStore
}

// entry returns the auths entry for registry: under docker's key if present, else under
// the first (in sorted order) key that names the same registry.
func (f *configFile) entry(registry string) (authEntry, string, bool) {
	key := dockerKey(registry)
	if _, ok := f.auths[key]; !ok {
		if key, ok = aliasKey(f.auths, registry, false); !ok {
			return authEntry{}, "", false
		}
	}
	return f.entryAt(key)
}

// entryAt decodes auths[key].
func (f *configFile) entryAt(key string) (authEntry, string, bool) {
	raw, ok := f.auths[key]
	if !ok {
		return authEntry{}, "", false
	}
	var e authEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		// An entry of the wrong shape is kept as an error for the caller who needs it.
		return authEntry{bad: err}, key, true
	}
	return e, key, true
}

func (f *configFile) setEntry(key string, e authEntry) {
	b, _ := json.Marshal(e) // strings only: cannot fail
	if f.auths == nil {
		f.auths = map[string]json.RawMessage{}
	}
	f.auths[key] = b
}

// removeEntries deletes every auths key naming registry, as docker logout does for the
// server address and its http(s):// forms, and reports whether there was one.
func (f *configFile) removeEntries(registry string) bool {
	removed := false
	for k := range f.auths {
		if normalizeRegistry(k) == normalizeRegistry(registry) {
			delete(f.auths, k)
			removed = true
		}
	}
	return removed
}

// aliasKey finds, in sorted order for determinism, a key of m that names registry.
// With hostOnly, keys holding a path without a scheme (podman's "quay.io/ns/repo") are
// skipped: they are scoped to a namespace, not the whole registry.
func aliasKey[V any](m map[string]V, registry string, hostOnly bool) (string, bool) {
	want := normalizeRegistry(registry)
	keys := make([]string, 0, len(m))
	for k := range m {
		if hostOnly && !strings.Contains(k, "://") && strings.Contains(k, "/") {
			continue
		}
		if normalizeRegistry(k) == want {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", false
	}
	return slices.Min(keys), true
}

// authEntry is one value of auths.
type authEntry struct {
	Auth          string `json:"auth,omitempty"` // base64("user:pass")
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`

	bad error // the entry did not decode
}

func newAuthEntry(c Credential) authEntry {
	e := authEntry{IdentityToken: c.IdentityToken, RegistryToken: c.RegistryToken}
	if c.Username != "" || c.Password != "" {
		e.Auth = encodeAuth(c.Username, c.Password)
	}
	return e
}

func (e authEntry) credential() (Credential, error) {
	if e.bad != nil {
		return Credential{}, e.bad
	}
	c := Credential{Username: e.Username, Password: e.Password, IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
	if e.Auth != "" {
		var err error
		if c.Username, c.Password, err = decodeAuth(e.Auth); err != nil {
			return Credential{}, err
		}
	}
	return c, nil
}

func encodeAuth(user, pass string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
}

// decodeAuth reads the "auth" field as docker/cli's decodeAuth does: base64 of
// "user:pass", the username non-empty, NULs trimmed from the password (some Windows
// tools padded it).
func decodeAuth(s string) (user, pass string, err error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", fmt.Errorf("decode auth: %w", err)
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok || user == "" {
		return "", "", errors.New("decode auth: not base64 of \"username:password\"")
	}
	return user, strings.Trim(pass, "\x00"), nil
}

// writeConfigFile replaces path with f's JSON: a temporary file in the same directory,
// mode 0600, synced, then renamed, so a crash leaves the old file or the new one. A
// symlinked config.json (dotfile managers do that) is followed, not replaced.
func writeConfigFile(path string, f *configFile) error {
	data, err := f.marshal()
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	if target, err := filepath.EvalSymlinks(path); err == nil {
		path = target
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Private before the first byte: it holds credentials.
	err = disk.WriteFile(path, true, false, func(f *os.File) error {
		if err := f.Chmod(0o600); err != nil {
			return err
		}
		_, err := f.Write(data)
		return err
	})
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
