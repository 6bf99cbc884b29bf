package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// settings are a config.toml and a registries.conf, as Load reads them.
func settings(t *testing.T, toml, regConf string) Settings {
	t.Helper()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sp := SystemPaths{RegistriesConf: write("registries.conf", regConf), CertsDirs: []string{filepath.Join(dir, "certs.d")}}
	s, err := Load(Options{Path: write("config.toml", toml), Getenv: func(string) string { return "" }, System: &sp})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRegistryConfig(t *testing.T) {
	t.Parallel()
	s := settings(t, `
[registries."plain.lan:5000"]
plain-http = true
ca-file = "/etc/plain-ca.pem"
`, `
[[registry]]
location = "insecure.lan"
insecure = true
`)
	for _, tc := range []struct {
		name, host                string
		o                         Overrides
		plain, insecure, fallback bool
		caFile                    string
	}{
		{name: "nothing said", host: "ghcr.io"},
		{name: "config.toml's plain-http and ca-file", host: "plain.lan:5000", plain: true, caFile: "/etc/plain-ca.pem"},
		{name: "a flag's CA wins", host: "plain.lan:5000", o: Overrides{CAFile: "/flag.pem"}, plain: true, caFile: "/flag.pem"},
		{name: "registries.conf's insecure: unverified, plain on answer", host: "insecure.lan", insecure: true, fallback: true},
		{name: "flags for every registry", host: "ghcr.io", o: Overrides{Insecure: true, PlainHTTP: true}, plain: true, insecure: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.IdleTimeout, tc.o.Version = time.Minute, "1.2.3"
			c := s.RegistryConfig(tc.host, tc.o)
			if c.Registry != tc.host || c.PlainHTTP != tc.plain || c.Insecure != tc.insecure || c.PlainHTTPFallback != tc.fallback || c.CAFile != tc.caFile {
				t.Errorf("got registry %q plain %v insecure %v fallback %v ca %q", c.Registry, c.PlainHTTP, c.Insecure, c.PlainHTTPFallback, c.CAFile)
			}
			if c.IdleTimeout != time.Minute || c.Version != "1.2.3" || len(c.CertsDirs) != 1 || c.Creds != nil {
				t.Errorf("overrides and certs.d not kept, or credentials set: %+v", c)
			}
		})
	}
}

func TestAllowed(t *testing.T) {
	t.Parallel()
	s := settings(t, "", `
[[registry]]
prefix = "docker.io/library/blocked"
location = "docker.io/library/blocked"
blocked = true
`)
	var be *BlockedError
	if err := s.Allowed("docker.io/library/blocked"); !errors.As(err, &be) || be.Name != "docker.io/library/blocked" || be.Origin == "" {
		t.Errorf("blocked name: %v", err)
	}
	if err := s.Allowed("docker.io/library/alpine"); err != nil {
		t.Errorf("a name not blocked: %v", err)
	}
	if s.AnyMirrors() {
		t.Error("AnyMirrors with no mirror configured")
	}
}
