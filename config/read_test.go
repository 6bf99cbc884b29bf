package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fixture are the paths of testdata/system; user adds the home directory's
// files.
func fixture(user bool) SystemPaths {
	root := filepath.Join("testdata", "system")
	p := SystemPaths{
		DaemonJSON:      filepath.Join(root, "etc/docker/daemon.json"),
		RegistriesConf:  filepath.Join(root, "etc/containers/registries.conf"),
		RegistriesConfD: filepath.Join(root, "etc/containers/registries.conf.d"),
	}
	if user {
		p.UserRegistriesConf = filepath.Join(root, "home/containers/registries.conf")
		p.UserRegistriesConfD = filepath.Join(root, "home/containers/registries.conf.d")
	}
	return p
}

// summary is a SystemRegistry's fields as one comparable line.
func summary(r SystemRegistry) string {
	var b strings.Builder
	b.WriteString(r.Prefix)
	if r.Insecure {
		b.WriteString(" insecure")
	}
	if r.Blocked {
		b.WriteString(" blocked")
	}
	for _, m := range r.Mirrors {
		b.WriteString(" > " + m.Location)
		if m.Insecure {
			b.WriteString(" (insecure)")
		}
		if m.DigestOnly {
			b.WriteString(" (digest-only)")
		}
		if m.Prefix != r.Prefix && !r.daemon {
			b.WriteString(" [prefix " + m.Prefix + "]")
		}
	}
	b.WriteString(" @ " + strings.TrimPrefix(r.Origin, "testdata/system/"))
	return b.String()
}

func TestReadSystem(t *testing.T) {
	for _, tc := range []struct {
		name  string
		user  bool
		want  []string
		files []string
		notes []string
	}{{
		name: "system files",
		want: []string{
			"docker.io > hub-cache.corp:5000 > hub-cache-2.corp:5000 (digest-only) @ etc/containers/registries.conf.d/10-hub.conf:2",
			"docker.io/library > lib-cache.corp/dockerhub/library (digest-only) @ etc/containers/registries.conf:16",
			"quay.io blocked @ etc/containers/registries.conf:24",
			"*.internal.corp insecure @ etc/containers/registries.conf:28",
			"ghcr.io/acme > ghcr-cache.corp/acme @ etc/containers/registries.conf.d/20-ghcr.conf:1",
			"docker.io > https://mirror.gcr.io > http://10.1.2.3:5000 @ etc/docker/daemon.json registry-mirrors",
			"reg.lan:5000 insecure @ etc/docker/daemon.json insecure-registries[0]",
		},
		files: []string{
			"etc/containers/registries.conf",
			"etc/containers/registries.conf.d/10-hub.conf",
			"etc/containers/registries.conf.d/20-ghcr.conf",
			"etc/docker/daemon.json",
		},
		notes: []string{
			"etc/containers/registries.conf: unqualified-search-registries not used: haul completes short names with docker.io, as docker does",
		},
	}, {
		name: "the user's registries.conf replaces the system's, a user drop-in the system's of its name",
		user: true,
		want: []string{
			"docker.io > hub-cache.corp:5000 > hub-cache-2.corp:5000 (digest-only) @ etc/containers/registries.conf.d/10-hub.conf:2",
			"ghcr.io/acme blocked @ home/containers/registries.conf.d/20-ghcr.conf:2",
			"docker.io > https://mirror.gcr.io > http://10.1.2.3:5000 @ etc/docker/daemon.json registry-mirrors",
			"reg.lan:5000 insecure @ etc/docker/daemon.json insecure-registries[0]",
		},
		files: []string{
			"home/containers/registries.conf",
			"etc/containers/registries.conf.d/10-hub.conf",
			"home/containers/registries.conf.d/20-ghcr.conf",
			"etc/docker/daemon.json",
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ReadSystem(fixture(tc.user))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range s.Registries {
				got = append(got, summary(r))
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("registries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			var files []string
			for _, f := range s.Files {
				files = append(files, strings.TrimPrefix(f, "testdata/system/"))
			}
			if !reflect.DeepEqual(files, tc.files) {
				t.Errorf("files %q, want %q", files, tc.files)
			}
			var notes []string
			for _, n := range s.Notes {
				notes = append(notes, strings.TrimPrefix(n, "testdata/system/"))
			}
			if !reflect.DeepEqual(notes, tc.notes) {
				t.Errorf("notes %q, want %q", notes, tc.notes)
			}
			if len(s.InsecureNets) != 1 || s.InsecureNets[0].Net.String() != "10.1.0.0/16" {
				t.Errorf("insecure networks %v, want 10.1.0.0/16", s.InsecureNets)
			}
		})
	}
}

func TestFor(t *testing.T) {
	s, err := ReadSystem(fixture(false))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, want string }{
		{"docker.io/library/alpine", "docker.io/library > lib-cache.corp/dockerhub/library (digest-only) > https://mirror.gcr.io [prefix docker.io] > http://10.1.2.3:5000 [prefix docker.io] @ etc/containers/registries.conf:16"},
		{"docker.io/grafana/grafana", "docker.io > hub-cache.corp:5000 > hub-cache-2.corp:5000 (digest-only) > https://mirror.gcr.io > http://10.1.2.3:5000 @ etc/containers/registries.conf.d/10-hub.conf:2"},
		{"docker.io/libraryx/y", "docker.io > hub-cache.corp:5000 > hub-cache-2.corp:5000 (digest-only) > https://mirror.gcr.io > http://10.1.2.3:5000 @ etc/containers/registries.conf.d/10-hub.conf:2"},
		{"quay.io/coreos/etcd", "quay.io blocked @ etc/containers/registries.conf:24"},
		{"quay.iox/a", " @ "},
		{"git.internal.corp/team/app", "*.internal.corp insecure @ etc/containers/registries.conf:28"},
		{"git.internal.corp:5000/app", "*.internal.corp insecure @ etc/containers/registries.conf:28"},
		{"internal.corp/app", " @ "},
		{"ghcr.io/acme/tool", "ghcr.io/acme > ghcr-cache.corp/acme @ etc/containers/registries.conf.d/20-ghcr.conf:1"},
		{"ghcr.io/other/tool", " @ "},
		{"reg.lan:5000/app", "reg.lan:5000 insecure @ etc/docker/daemon.json insecure-registries[0]"},
		{"reg.lan/app", " @ "},
		{"10.1.9.9:5000/app", "10.1.9.9:5000 insecure @ etc/docker/daemon.json insecure-registries[1]"},
		{"10.2.0.1/app", " @ "},
	} {
		if got := summary(s.For(tc.name)); got != tc.want {
			t.Errorf("For(%s)\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

func TestReadSystemBroken(t *testing.T) {
	for _, tc := range []struct {
		name, daemon, conf, want string
	}{
		{name: "json syntax", daemon: "{\n  \"registry-mirrors\": [\"https://m\",]\n}", want: "daemon.json:2:36: invalid character ']'"},
		{name: "json type", daemon: "{\n\n  \"registry-mirrors\": \"https://m\"\n}", want: "daemon.json:3:33: \"registry-mirrors\" must be a list of strings, not string"},
		{name: "json truncated", daemon: "{\"registry-mirrors\": [", want: "daemon.json:1:22: unexpected end of JSON input"},
		{name: "mirror without scheme", daemon: `{"registry-mirrors": ["mirror.gcr.io"]}`, want: `daemon.json registry-mirrors[0]: mirror "mirror.gcr.io": a mirror is an http:// or https:// URL`},
		{name: "mirror with password", daemon: `{"registry-mirrors": ["https://u:secret@m.local"]}`, want: "mirror https://m.local: credentials do not belong in the URL"},
		{name: "insecure with scheme", daemon: `{"insecure-registries": ["http://r.local"]}`, want: `insecure-registries[0]: "http://r.local": an insecure registry is host[:port] or a CIDR, without a scheme`},
		{name: "toml syntax", conf: "[[registry]]\nprefix = \"docker.io\"\n[[registry.mirror]\nlocation = \"m\"\n", want: "registries.conf:3:"},
		{name: "toml type", conf: "\n[[registry]]\nprefix = \"docker.io\"\ninsecure = \"yes\"\n", want: "registries.conf:4:12:"},
		{name: "no prefix", conf: "[[registry]]\ninsecure = true\n", want: "registries.conf:1: a [[registry]] needs a prefix or a location"},
		{name: "mirror without location", conf: "[[registry]]\nprefix = \"docker.io\"\n[[registry.mirror]]\ninsecure = true\n", want: "registries.conf:1: [[registry.mirror]] 1 of docker.io has no location"},
		{name: "bad pull-from-mirror", conf: "[[registry]]\nprefix = \"docker.io\"\n[[registry.mirror]]\nlocation = \"m\"\npull-from-mirror = \"some\"\n", want: `pull-from-mirror is "some"`},
		{name: "wildcard in the middle", conf: "[[registry]]\nprefix = \"a.*.corp\"\n", want: "a wildcard goes only at the start"},
		{name: "wildcard with path", conf: "[[registry]]\nprefix = \"*.corp/x\"\n", want: "a wildcard prefix is *.domain"},
		{name: "scheme in prefix", conf: "[[registry]]\nprefix = \"https://r.corp\"\n", want: "a prefix has no scheme"},
		{name: "v1 and v2", conf: "[registries.search]\nregistries = [\"quay.io\"]\n[[registry]]\nprefix = \"r\"\n", want: "mixes the v1 format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := SystemPaths{DaemonJSON: filepath.Join(dir, "daemon.json"), RegistriesConf: filepath.Join(dir, "registries.conf")}
			if tc.daemon != "" {
				write(t, p.DaemonJSON, tc.daemon)
			}
			if tc.conf != "" {
				write(t, p.RegistriesConf, tc.conf)
			}
			_, err := ReadSystem(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), dir) {
				t.Errorf("error %v does not name the file", err)
			}
		})
	}
}

func TestReadSystemV1(t *testing.T) {
	dir := t.TempDir()
	p := SystemPaths{RegistriesConf: filepath.Join(dir, "registries.conf")}
	write(t, p.RegistriesConf, "[registries.search]\nregistries = ['docker.io']\n[registries.insecure]\nregistries = ['r.lan:5000']\n[registries.block]\nregistries = ['evil.io']\n")
	s, err := ReadSystem(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(s.For("r.lan:5000/x")); !strings.HasPrefix(got, "r.lan:5000 insecure @ ") {
		t.Errorf("For(r.lan:5000/x) = %s", got)
	}
	if got := s.For("evil.io/x"); !got.Blocked {
		t.Errorf("evil.io is not blocked: %+v", got)
	}
	if len(s.Notes) != 1 || !strings.Contains(s.Notes[0], "[registries.search] not used") {
		t.Errorf("notes %q", s.Notes)
	}
}

func TestReadSystemAbsent(t *testing.T) {
	dir := t.TempDir()
	s, err := ReadSystem(SystemPaths{
		DaemonJSON: filepath.Join(dir, "no/daemon.json"), RegistriesConf: filepath.Join(dir, "no.conf"),
		RegistriesConfD: filepath.Join(dir, "no.d"), UserRegistriesConf: filepath.Join(dir, "user.conf"),
	})
	if err != nil || len(s.Registries)+len(s.Files)+len(s.Notes) != 0 {
		t.Fatalf("ReadSystem of absent files = %+v, %v; want nothing", s, err)
	}
	if got := s.For("docker.io/library/alpine"); got.Prefix != "" || len(got.Mirrors) != 0 {
		t.Errorf("For with nothing configured = %+v", got)
	}
}

func TestDefaultSystemPaths(t *testing.T) {
	etcCerts := []string{"/etc/docker/certs.d", "/etc/containers/certs.d"}
	for _, tc := range []struct {
		env  map[string]string
		want SystemPaths
	}{
		{map[string]string{"HOME": "/home/u"}, SystemPaths{
			"/etc/docker/daemon.json", "/etc/containers/registries.conf", "/etc/containers/registries.conf.d",
			"/home/u/.config/containers/registries.conf", "/home/u/.config/containers/registries.conf.d",
			append([]string{"/home/u/.config/haul/certs.d"}, etcCerts...),
		}},
		{map[string]string{"HOME": "/home/u", "XDG_CONFIG_HOME": "/x"}, SystemPaths{
			"/etc/docker/daemon.json", "/etc/containers/registries.conf", "/etc/containers/registries.conf.d",
			"/x/containers/registries.conf", "/x/containers/registries.conf.d",
			append([]string{"/x/haul/certs.d"}, etcCerts...),
		}},
		{map[string]string{"HOME": "/home/u", "CONTAINERS_REGISTRIES_CONF": "/tmp/r.conf"}, SystemPaths{
			DaemonJSON: "/etc/docker/daemon.json", RegistriesConf: "/tmp/r.conf",
			CertsDirs: append([]string{"/home/u/.config/haul/certs.d"}, etcCerts...),
		}},
		{nil, SystemPaths{DaemonJSON: "/etc/docker/daemon.json", RegistriesConf: "/etc/containers/registries.conf", RegistriesConfD: "/etc/containers/registries.conf.d",
			CertsDirs: etcCerts}},
	} {
		if got := DefaultSystemPaths(func(k string) string { return tc.env[k] }); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("DefaultSystemPaths(%v) = %+v, want %+v", tc.env, got, tc.want)
		}
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
