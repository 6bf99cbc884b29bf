package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haul-dev/haul/config"
	"github.com/haul-dev/haul/internal/registrytest"
)

// writeFile writes body to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestConfigFile: config.toml's defaults apply and flags override them; its
// mirrors and registries.conf's are read through; a blocked name is refused;
// a broken file stops every command with its line.
func TestConfigFile(t *testing.T) {
	t.Parallel()
	up := registrytest.New(t, registrytest.Config{TokenAuth: true})
	img := registrytest.RandomImage(21, 2, 3000)
	arm := registrytest.RandomImage(22, 1, 100)
	arm.Platform.OS, arm.Platform.Architecture = "linux", "arm64"
	up.MustPushIndex(t, "team/multi:1", registrytest.IndexSpec{Images: []registrytest.Image{img, arm}, OCI: true})
	up.MustPush(t, "team/app:1", img)
	up.MustPush(t, "blocked/app:1", img)
	m := registrytest.New(t, registrytest.Config{})
	m.MustPush(t, "team/app:1", img)
	scoped := registrytest.New(t, registrytest.Config{})
	scoped.MustPush(t, "cache/app:1", img) // serves up's team/ under cache/

	env := homeEnv(t)
	xdg := t.TempDir()
	env["XDG_CONFIG_HOME"] = xdg
	cacheDir := filepath.Join(t.TempDir(), "cache-from-config")
	writeFile(t, xdg, "haul/config.toml", fmt.Sprintf(`
platform = "linux/arm64"
cache-dir = %q

[registries.%q]
mirrors = [%q]
`, cacheDir, up.Host(), m.Host()))
	sysDir := t.TempDir()
	sys := config.SystemPaths{RegistriesConf: writeFile(t, sysDir, "registries.conf", fmt.Sprintf(`
[[registry]]
prefix = "%[1]s/blocked"
blocked = true

[[registry]]
prefix = "%[1]s/team"
[[registry.mirror]]
location = "%[2]s/cache"
`, up.Host(), scoped.Host()))}

	t.Run("platform from the file, --platform wins", func(t *testing.T) {
		for flag, want := range map[string]string{"": "arm64", "linux/amd64": "amd64"} {
			args := []string{"config", up.Ref("team/multi:1")}
			if flag != "" {
				args = append(args, "--platform", flag)
			}
			out, errOut, code := runSystem(t, sys, env, "", args...)
			var cfg struct{ Architecture string }
			if code != 0 || json.Unmarshal([]byte(out), &cfg) != nil || cfg.Architecture != want {
				t.Errorf("%v: exit %d, architecture %q, want %q: %s", args, code, cfg.Architecture, want, errOut)
			}
		}
	})
	t.Run("cache-dir from the file, --cache-dir wins", func(t *testing.T) {
		out, errOut, code := runSystem(t, sys, env, "", "--json", "cache", "ls")
		if code != 0 || !strings.Contains(out, cacheDir) {
			t.Errorf("cache ls: exit %d: %s%s", code, out, errOut)
		}
		other := t.TempDir()
		out, _, code = runSystem(t, sys, env, "", "--json", "cache", "ls", "--cache-dir", other)
		if code != 0 || !strings.Contains(out, other) || strings.Contains(out, cacheDir) {
			t.Errorf("cache ls --cache-dir: exit %d: %s", code, out)
		}
	})
	t.Run("mirrors of the file and of registries.conf", func(t *testing.T) {
		_, errOut, code := runSystem(t, sys, env, "", "pull", "--no-cache", "-o", filepath.Join(t.TempDir(), "o.tar"), up.Ref("team/app:1"))
		if want := "from mirror " + m.Host(); code != 0 || !strings.Contains(errOut, want) {
			t.Fatalf("exit %d, want %q:\n%s", code, want, errOut)
		}
		// Without config.toml's mirror, registries.conf's serves team/ under cache/.
		env := homeEnv(t)
		_, errOut, code = runSystem(t, sys, env, "", "pull", "--no-cache", "-o", filepath.Join(t.TempDir(), "o.tar"), up.Ref("team/app:1"))
		if want := "from mirror " + scoped.Host(); code != 0 || !strings.Contains(errOut, want) {
			t.Fatalf("exit %d, want %q:\n%s", code, want, errOut)
		}
	})
	t.Run("blocked", func(t *testing.T) {
		for _, args := range [][]string{{"digest", up.Ref("blocked/app:1")}, {"pull", "-o", filepath.Join(t.TempDir(), "o.tar"), up.Ref("blocked/app:1")}, {"tags", up.Ref("blocked/app")}} {
			_, errOut, code := runSystem(t, sys, env, "", args...)
			if code != ExitError || !strings.Contains(errOut, "is blocked by "+sys.RegistriesConf+":2") {
				t.Errorf("%v: exit %d: %s", args, code, errOut)
			}
		}
	})
	t.Run("config show", func(t *testing.T) {
		out, errOut, code := runSystem(t, sys, env, "", "--json", "config", "show", "--mirror", "flag.local:5000")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var sc shownConfig
		if err := json.Unmarshal([]byte(out), &sc); err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(xdg, "haul/config.toml")
		got := map[string]string{}
		for _, v := range sc.Settings {
			got[v.Name] = v.Value + " @ " + v.Origin
		}
		for name, want := range map[string]string{
			"platform":  "linux/arm64 @ " + file + ":2",
			"cache-dir": cacheDir + " @ " + file + ":3",
			"jobs":      "8 @ default",
			"mirror":    "flag.local:5000 (every registry of the references) @ flag --mirror",
		} {
			if got[name] != want {
				t.Errorf("setting %s = %q, want %q", name, got[name], want)
			}
		}
		var mirrors []string
		for _, r := range sc.Registries {
			for _, mi := range r.Mirrors {
				mirrors = append(mirrors, r.Name+" > "+mi.Location+" for "+mi.Names+" @ "+mi.Origin)
			}
		}
		want := []string{
			up.Host() + " > " + m.Host() + " for " + up.Host() + " @ " + file + ":6",
			up.Host() + " > " + scoped.Host() + "/cache for " + up.Host() + "/team @ " + sys.RegistriesConf + ":8",
		}
		if strings.Join(mirrors, "\n") != strings.Join(want, "\n") {
			t.Errorf("mirrors:\n%s\nwant\n%s", strings.Join(mirrors, "\n"), strings.Join(want, "\n"))
		}
		if len(sc.Files) != 2 || sc.Files[0] != file || sc.Files[1] != sys.RegistriesConf {
			t.Errorf("files %q", sc.Files)
		}
		// And as a person reads it.
		text, _, code := runSystem(t, sys, env, "", "config", "show")
		if code != 0 || !strings.Contains(text, "# "+file+":2") || !strings.Contains(text, "blocked") {
			t.Errorf("exit %d:\n%s", code, text)
		}
	})
	t.Run("a broken file stops every command", func(t *testing.T) {
		env := homeEnv(t)
		bad := writeFile(t, t.TempDir(), "bad.toml", "jobs = 4\njbos = 5\n")
		for _, args := range [][]string{{"config", "show"}, {"digest", up.Ref("team/app:1")}} {
			_, errOut, code := runSystem(t, sys, env, "", append([]string{"--config", bad}, args...)...)
			if want := bad + `:2:1: unknown key "jbos" (did you mean "jobs"?)`; code != ExitError || !strings.Contains(errOut, want) {
				t.Errorf("%v: exit %d, want %q: %s", args, code, want, errOut)
			}
		}
		if _, errOut, code := runSystem(t, sys, env, "", "--config", filepath.Join(t.TempDir(), "none.toml"), "config", "show"); code != ExitError || !strings.Contains(errOut, "no such file") {
			t.Errorf("absent --config: exit %d: %s", code, errOut)
		}
	})
}

// TestBaseConfigFromFiles: what the files say about a registry reaches its
// client's configuration, and the flags still win.
func TestBaseConfigFromFiles(t *testing.T) {
	dir := t.TempDir()
	sys := config.SystemPaths{DaemonJSON: writeFile(t, dir, "daemon.json", `{"insecure-registries": ["reg.lan:5000", "10.9.0.0/16"]}`)}
	file := writeFile(t, dir, "config.toml", `
[registries."ca.lan"]
ca-file = "/etc/haul/ca.pem"
[registries."p.lan:5000"]
plain-http = true
[registries."reg.lan:5000"]
ca-file = "/etc/haul/lan.pem"
`)
	s, err := config.Load(config.Options{Path: file, Getenv: func(string) string { return "" }, System: &sys})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, flagCA                            string
		wantCA                                  string
		insecure, fallback, plain, flagInsecure bool
	}{
		{name: "ca.lan", wantCA: "/etc/haul/ca.pem"},
		{name: "ca.lan", flagCA: "/tmp/flag.pem", wantCA: "/tmp/flag.pem"},
		{name: "p.lan:5000", plain: true},
		{name: "reg.lan:5000", wantCA: "/etc/haul/lan.pem", insecure: true, fallback: true},
		{name: "10.9.1.1:5000", insecure: true, fallback: true},
		{name: "other.lan"},
		{name: "other.lan", flagInsecure: true, insecure: true},
	} {
		e := &env{IO: IO{Stderr: &strings.Builder{}, Getenv: func(string) string { return "" }}, g: &globals{caFile: tc.flagCA, insecure: tc.flagInsecure, quiet: true}, settings: s}
		c := e.baseConfig(tc.name)
		if c.CAFile != tc.wantCA || c.Insecure != tc.insecure || c.PlainHTTPFallback != tc.fallback || c.PlainHTTP != tc.plain {
			t.Errorf("%s (flag ca %q): CAFile %q Insecure %v PlainHTTPFallback %v PlainHTTP %v", tc.name, tc.flagCA, c.CAFile, c.Insecure, c.PlainHTTPFallback, c.PlainHTTP)
		}
	}
}

// TestMirrorsOnce: a mirror given with --mirror and again in config.toml is
// asked once, in the place --mirror gives it.
func TestMirrorsOnce(t *testing.T) {
	file := writeFile(t, t.TempDir(), "config.toml", `
[registries."docker.io"]
mirrors = ["m.local:5000", "second.local:5000", "m.local:5000"]
`)
	none := config.SystemPaths{}
	s, err := config.Load(config.Options{Path: file, Getenv: func(string) string { return "" }, System: &none})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{IO: IO{Getenv: func(string) string { return "" }}, g: &globals{mirrors: []string{"m.local:5000"}}, settings: s}
	specs, err := e.mirrors("docker.io")
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, sp := range specs {
		hosts = append(hosts, sp.Endpoint.Host)
	}
	if strings.Join(hosts, " ") != "m.local:5000 second.local:5000" {
		t.Errorf("mirrors %q, want m.local:5000 then second.local:5000, once each", hosts)
	}
}
