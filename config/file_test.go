package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseFile(t *testing.T) {
	data, err := os.ReadFile("testdata/haul/config.toml")
	if err != nil {
		t.Fatal(err)
	}
	f, err := ParseFile("config.toml", data, "/home/u")
	if err != nil {
		t.Fatal(err)
	}
	if f.Platform != "linux/arm64" || f.Jobs != 6 || f.CacheDir != "/home/u/haul-cache" || f.IdleTimeout != time.Minute ||
		f.MaxSize != 2<<30 || f.MaxEntries != 500000 {
		t.Errorf("settings: %+v", f)
	}
	var regs []string
	for _, r := range f.Registries {
		regs = append(regs, r.Name+" @ "+r.Origin)
	}
	want := []string{"docker.io @ config.toml:11", "reg.lan:5000 @ config.toml:14", "localhost:5001 @ config.toml:18"}
	if !reflect.DeepEqual(regs, want) {
		t.Errorf("registries:\n got %q\nwant %q", regs, want)
	}
	for key, origin := range map[string]string{"jobs": "config.toml:3", "limits.max-size": "config.toml:8", "nothing": "config.toml"} {
		if got := f.origin(key); got != origin {
			t.Errorf("origin(%s) = %s, want %s", key, got, origin)
		}
	}
	if got := f.registryOrigin(f.Registries[0], "mirrors"); got != "config.toml:12" {
		t.Errorf("mirrors origin %s", got)
	}
}

func TestParseFileBroken(t *testing.T) {
	for _, tc := range []struct{ name, file, want string }{
		{"syntax", "jobs = 4\nplatform = \"linux/amd64\n", "config.toml:2:"},
		{"misspelt key", "jobs = 4\njbos = 5\n", `config.toml:2:1: unknown key "jbos" (did you mean "jobs"?)`},
		{"misspelt key in a table", "[limits]\nmax-sise = \"1G\"\n", `config.toml:2:1: unknown key "limits.max-sise" (did you mean "max-size"?)`},
		{"unknown key far from any", "[limits]\ncolour = 1\n", `unknown key "limits.colour" (the keys here are max-size, max-entries)`},
		{"registry name unquoted", "[registries.docker.io]\nmirrors = [\"m:5000\"]\n", `config.toml:1:2: unknown key registries.docker.io: quote a registry name that has dots, as [registries."docker.io"]`},
		{"another registry name unquoted", "[registries.quay.io]\ninsecure = true\n", `as [registries."quay.io"]`},
		{"registry key misspelt", "[registries.\"r.io\"]\nmirror = [\"m:5000\"]\n", `did you mean "mirrors"?`},
		{"wrong type", "jobs = \"four\"\n", "config.toml:1:"},
		{"jobs zero", "jobs = 0\n", "config.toml:1: jobs = 0: want 1 or more"},
		{"bad platform", "platform = \"linux\"\n", "config.toml:1: platform \"linux\""},
		{"relative cache dir", "\ncache-dir = \"cache\"\n", "config.toml:2: cache-dir: \"cache\": write an absolute path"},
		{"bad duration", "idle-timeout = \"soon\"\n", "config.toml:1: idle-timeout = \"soon\": want a positive duration"},
		{"negative duration", "idle-timeout = \"-1s\"\n", "want a positive duration"},
		{"bad size", "[limits]\nmax-size = \"lots\"\n", "config.toml:2: max-size:"},
		{"negative size", "[limits]\nmax-size = -1\n", "config.toml:2: max-size = -1"},
		{"size of a wrong type", "[limits]\nmax-size = 1.5\n", "config.toml:2: max-size: want a size"},
		{"negative entries", "[limits]\nmax-entries = -2\n", "config.toml:2: max-entries = -2"},
		{"registry with a scheme", "[registries.\"https://r.io\"]\n", "config.toml:1: [registries.\"https://r.io\"]: a registry is named without a scheme"},
		{"registry with a path", "[registries.\"r.io/team\"]\n", "a registry is a host[:port]"},
		{"Docker Hub twice", "[registries.\"docker.io\"]\n[registries.\"index.docker.io\"]\n", "config.toml:2: [registries.\"index.docker.io\"] is docker.io again, already configured at config.toml:1"},
		{"empty mirror", "[registries.\"r.io\"]\nmirrors = [\"\"]\n", "config.toml:2: [registries.\"r.io\"] mirror 1 is empty"},
		{"relative CA file", "[registries.\"r.io\"]\nca-file = \"ca.pem\"\n", "config.toml:2: ca-file:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseFile("config.toml", []byte(tc.file), "/home/u")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// settingsFixture loads testdata/haul/config.toml with the system fixtures.
func settingsFixture(t *testing.T) Settings {
	t.Helper()
	sp := fixture(false)
	s, err := Load(Options{Path: "testdata/haul/config.toml", Getenv: func(k string) string {
		if k == "HOME" {
			return "/home/u"
		}
		return ""
	}, System: &sp})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSettingsRegistry(t *testing.T) {
	s := settingsFixture(t)
	mirrors := func(r Registry) []string {
		var out []string
		for _, m := range r.Mirrors {
			out = append(out, m.Location+" for "+m.Prefix+" @ "+strings.TrimPrefix(m.Origin, "testdata/"))
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		mirrors  []string
		insecure string // origin, "" when not insecure
		plain    bool
		ca       string
	}{{
		name: "registry-1.docker.io",
		mirrors: []string{
			"mirror.corp:5000 for docker.io @ haul/config.toml:12",
			"https://mirror.gcr.io for docker.io @ haul/config.toml:12",
			"lib-cache.corp/dockerhub/library for docker.io/library @ system/etc/containers/registries.conf:21",
			"hub-cache.corp:5000 for docker.io @ system/etc/containers/registries.conf.d/10-hub.conf:5",
			"hub-cache-2.corp:5000 for docker.io @ system/etc/containers/registries.conf.d/10-hub.conf:7",
			// daemon.json's https://mirror.gcr.io is config.toml's again.
			"http://10.1.2.3:5000 for docker.io @ system/etc/docker/daemon.json registry-mirrors[1]",
		},
	}, {
		name:     "reg.lan:5000",
		insecure: "", // config.toml's insecure = false wins over daemon.json's insecure-registries
		ca:       "/etc/haul/reg-lan-ca.pem",
	}, {
		name:     "10.1.9.9:5000",
		insecure: "testdata/system/etc/docker/daemon.json insecure-registries[1]",
	}, {
		name:     "build.internal.corp",
		insecure: "testdata/system/etc/containers/registries.conf:28",
	}, {
		name:  "localhost:5001",
		plain: true,
	}, {
		name: "ghcr.io",
		mirrors: []string{
			"ghcr-cache.corp/acme for ghcr.io/acme @ system/etc/containers/registries.conf.d/20-ghcr.conf:4",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Registry(tc.name)
			if got := mirrors(r); !reflect.DeepEqual(got, tc.mirrors) {
				t.Errorf("mirrors:\n got %q\nwant %q", got, tc.mirrors)
			}
			if got := map[bool]string{true: r.Insecure.Origin}[r.Insecure.V]; got != tc.insecure {
				t.Errorf("insecure %+v, want origin %q", r.Insecure, tc.insecure)
			}
			if r.PlainHTTP.V != tc.plain || r.CAFile.V != tc.ca {
				t.Errorf("plain-http %+v, ca-file %+v", r.PlainHTTP, r.CAFile)
			}
		})
	}
	if got := s.Blocked("quay.io/team/app"); got != "testdata/system/etc/containers/registries.conf:24" {
		t.Errorf("Blocked(quay.io/team/app) = %q", got)
	}
	if got := s.Blocked("docker.io/library/alpine"); got != "" {
		t.Errorf("Blocked(alpine) = %q", got)
	}
	want := []string{"docker.io", "reg.lan:5000", "localhost:5001", "quay.io", "ghcr.io"}
	if got := s.Registries(); !reflect.DeepEqual(got, want) {
		t.Errorf("Registries() = %q, want %q", got, want)
	}
}

func TestSettingsDefaults(t *testing.T) {
	s := settingsFixture(t)
	got := s.Defaults()
	want := map[string]Value[string]{
		"platform":     {"linux/arm64", "testdata/haul/config.toml:2"},
		"jobs":         {"6", "testdata/haul/config.toml:3"},
		"cache-dir":    {"/home/u/haul-cache", "testdata/haul/config.toml:4"},
		"idle-timeout": {"1m0s", "testdata/haul/config.toml:5"},
		"max-size":     {"2147483648", "testdata/haul/config.toml:8"},
		"max-entries":  {"500000", "testdata/haul/config.toml:9"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Defaults():\n got %v\nwant %v", got, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	none := SystemPaths{}
	env := func(vars map[string]string) func(string) string { return func(k string) string { return vars[k] } }
	// No config.toml at the default path: nothing set, no error.
	s, err := Load(Options{Getenv: env(map[string]string{"XDG_CONFIG_HOME": dir}), System: &none})
	if err != nil || s.File.Path != "" || len(s.Defaults()) != 0 {
		t.Fatalf("absent default file: %+v, %v", s, err)
	}
	// The default path is read when present.
	p := filepath.Join(dir, "haul", "config.toml")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("jobs = 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = Load(Options{Getenv: env(map[string]string{"HOME": "/nowhere", "XDG_CONFIG_HOME": dir}), System: &none})
	if err != nil || s.File.Jobs != 3 || s.Defaults()["jobs"].Origin != p+":1" {
		t.Fatalf("default file: %+v, %v", s.File, err)
	}
	// ~/.config without XDG_CONFIG_HOME.
	if got := DefaultPath(env(map[string]string{"HOME": "/home/u"})); got != "/home/u/.config/haul/config.toml" {
		t.Errorf("DefaultPath = %s", got)
	}
	// A file named with --config must exist.
	if _, err := Load(Options{Path: filepath.Join(dir, "nope.toml"), Getenv: env(nil), System: &none}); err == nil || !strings.Contains(err.Error(), "nope.toml: no such file") {
		t.Errorf("absent --config: %v", err)
	}
	// A broken file is an error, never skipped.
	if err := os.WriteFile(p, []byte("jobs = [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Options{Getenv: env(map[string]string{"XDG_CONFIG_HOME": dir}), System: &none}); err == nil || !strings.Contains(err.Error(), p+":") {
		t.Errorf("broken default file: %v", err)
	}
	// A broken system file too.
	bad := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(bad, []byte("{\"registry-mirrors\": 3}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Options{Getenv: env(nil), System: &SystemPaths{DaemonJSON: bad}}); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("broken daemon.json: %v", err)
	}
}

func FuzzParseFile(f *testing.F) {
	data, err := os.ReadFile("testdata/haul/config.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte("registries = { \"r.io\" = { mirrors = [\"m:1\"] } }\n[limits]\nmax-size = 10"))
	f.Add([]byte("[registries.a.b.c]\njbos = 1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := ParseFile("config.toml", data, "/home/u")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "config.toml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, r := range file.Registries {
			if r.Name == "" || checkRegistryName(r.Name) != nil || !strings.HasPrefix(r.Origin, "config.toml") {
				t.Fatalf("registry %+v", r)
			}
		}
		if file.Jobs < 0 || file.MaxSize < 0 || file.MaxEntries < 0 || file.IdleTimeout < 0 {
			t.Fatalf("negative setting accepted: %+v", file)
		}
		s := Settings{File: file}
		s.Defaults()
		for _, n := range s.Registries() {
			s.Registry(n)
		}
	})
}
