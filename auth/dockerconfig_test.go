package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

func envMap(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDockerConfigCredential(t *testing.T) {
	t.Parallel()
	userPass := encodeAuth("user", "pass")
	tests := []struct {
		name     string
		config   string
		registry string
		want     Credential
		err      string
	}{
		{"host key", `{"auths":{"ghcr.io":{"auth":"` + userPass + `"}}}`, "ghcr.io", Credential{Username: "user", Password: "pass"}, ""},
		{"other registry", `{"auths":{"ghcr.io":{"auth":"` + userPass + `"}}}`, "quay.io", Credential{}, ""},
		{"port matters", `{"auths":{"localhost:5000":{"auth":"` + userPass + `"}}}`, "localhost:5001", Credential{}, ""},
		{"legacy scheme key", `{"auths":{"https://ghcr.io/v1/":{"auth":"` + userPass + `"}}}`, "ghcr.io", Credential{Username: "user", Password: "pass"}, ""},
		{"hub v1 key", `{"auths":{"https://index.docker.io/v1/":{"auth":"` + userPass + `"}}}`, "docker.io", Credential{Username: "user", Password: "pass"}, ""},
		{"hub index key", `{"auths":{"index.docker.io":{"auth":"` + userPass + `"}}}`, "docker.io", Credential{Username: "user", Password: "pass"}, ""},
		{"hub registry-1 key", `{"auths":{"registry-1.docker.io":{"auth":"` + userPass + `"}}}`, "docker.io", Credential{Username: "user", Password: "pass"}, ""},
		{"exact key before alias", `{"auths":{"index.docker.io":{"auth":"` + encodeAuth("old", "x") + `"},"https://index.docker.io/v1/":{"auth":"` + userPass + `"}}}`,
			"docker.io", Credential{Username: "user", Password: "pass"}, ""},
		{"identity token", `{"auths":{"r.io":{"auth":"` + encodeAuth("user", "") + `","identitytoken":"idt"}}}`, "r.io", Credential{Username: "user", IdentityToken: "idt"}, ""},
		{"registry token", `{"auths":{"r.io":{"registrytoken":"rt"}}}`, "r.io", Credential{RegistryToken: "rt"}, ""},
		{"username and password fields", `{"auths":{"r.io":{"username":"u","password":"p"}}}`, "r.io", Credential{Username: "u", Password: "p"}, ""},
		{"password with a colon", `{"auths":{"r.io":{"auth":"` + encodeAuth("u", "a:b") + `"}}}`, "r.io", Credential{Username: "u", Password: "a:b"}, ""},
		{"empty entry", `{"auths":{"r.io":{}}}`, "r.io", Credential{}, ""},
		{"empty file", ``, "r.io", Credential{}, ""},
		{"bad base64", `{"auths":{"r.io":{"auth":"!!"}}}`, "r.io", Credential{}, "decode auth"},
		{"no colon", `{"auths":{"r.io":{"auth":"` + "dXNlcg==" + `"}}}`, "r.io", Credential{}, "username:password"},
		{"bad entry elsewhere is ignored", `{"auths":{"x.io":{"auth":"!!"},"r.io":{"auth":"` + userPass + `"}}}`, "r.io", Credential{Username: "user", Password: "pass"}, ""},
		{"malformed JSON", `{"auths":`, "r.io", Credential{}, "parse"},
		{"auths of the wrong type", `{"auths":[]}`, "r.io", Credential{}, "auths"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "config.json")
			writeFile(t, path, tt.config)
			got, err := DockerConfig{Path: path}.Credential(t.Context(), tt.registry)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if secretsOf(got) != tt.want {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			if !got.IsZero() && got.From != path {
				t.Errorf("From = %q, want the file's path %q", got.From, path)
			}
		})
	}
}

func TestDockerConfigPath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "dc", "config.json"), `{"auths":{"r.io":{"auth":"`+encodeAuth("fromdc", "p")+`"}}}`)
	writeFile(t, filepath.Join(dir, "home", ".docker", "config.json"), `{"auths":{"r.io":{"auth":"`+encodeAuth("fromhome", "p")+`"}}}`)
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"DOCKER_CONFIG first", map[string]string{"DOCKER_CONFIG": filepath.Join(dir, "dc"), "HOME": filepath.Join(dir, "home")}, "fromdc"},
		{"then HOME", map[string]string{"HOME": filepath.Join(dir, "home")}, "fromhome"},
		{"neither: anonymous", map[string]string{}, ""},
		{"missing file: anonymous", map[string]string{"HOME": filepath.Join(dir, "nobody")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := DockerConfig{Env: envMap(tt.env)}.Credential(t.Context(), "r.io")
			if err != nil || c.Username != tt.want {
				t.Errorf("got %#v, %v; want user %q", c, err, tt.want)
			}
		})
	}
}

func TestDockerConfigStoreErase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		registry string
		cred     Credential
		key      string
		entry    string
	}{
		{"password", "ghcr.io", Credential{Username: "u", Password: "p"}, "ghcr.io", `{"auth":"dTpw"}`},
		{"hub", "docker.io", Credential{Username: "u", Password: "p"}, "https://index.docker.io/v1/", `{"auth":"dTpw"}`},
		{"identity token", "r.io:5000", Credential{Username: "u", IdentityToken: "idt"}, "r.io:5000", `{"auth":"dTo=","identitytoken":"idt"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "new", ".docker") // created by Store
			path := filepath.Join(dir, "config.json")
			d := DockerConfig{Path: path}
			if err := d.Store(t.Context(), tt.registry, tt.cred); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("config file: %v, %v", fi, err)
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Fatalf("config dir: %v, %v", fi, err)
			}
			var file struct{ Auths map[string]json.RawMessage }
			data, _ := os.ReadFile(path)
			if err := json.Unmarshal(data, &file); err != nil {
				t.Fatal(err)
			}
			if got := file.Auths[tt.key]; !jsonEqual(got, []byte(tt.entry)) {
				t.Errorf("auths[%q] = %s, want %s", tt.key, got, tt.entry)
			}
			if got, err := d.Credential(t.Context(), tt.registry); err != nil || secretsOf(got) != tt.cred {
				t.Errorf("read back %#v, %v", got, err)
			}
			if err := d.Erase(t.Context(), tt.registry); err != nil {
				t.Fatal(err)
			}
			if got, err := d.Credential(t.Context(), tt.registry); err != nil || !got.IsZero() {
				t.Errorf("after Erase: %#v, %v", got, err)
			}
			if err := d.Erase(t.Context(), tt.registry); !errors.Is(err, ErrNotLoggedIn) || !strings.Contains(err.Error(), "not logged in to "+normalizeRegistry(tt.registry)) {
				t.Errorf("second Erase: %v", err)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Errorf("temporary files left behind: %v", entries)
			}
		})
	}
}

func TestDockerConfigStoreKeepsUnknownKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "dotfiles", "config.json")
	writeFile(t, target, `{
	"auths": {"quay.io": {"auth": "`+encodeAuth("q", "x")+`", "email": "q@example.com"}, "index.docker.io": {"auth": "`+encodeAuth("old", "x")+`"}},
	"psFormat": "table {{.ID}}",
	"proxies": {"default": {"httpProxy": "http://proxy:3128"}},
	"plugins": {"x": {"y": [1, 2.5, true, null]}}
}`)
	link := filepath.Join(dir, "config.json")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	d := DockerConfig{Path: link}
	if err := d.Store(t.Context(), "ghcr.io", Credential{Username: "u", Password: "p"}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the symlink was replaced: %v %v", fi, err)
	}
	var got map[string]any
	data, _ := os.ReadFile(target)
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"psFormat", "proxies", "plugins"} {
		if got[k] == nil {
			t.Errorf("key %q lost", k)
		}
	}
	auths := got["auths"].(map[string]any)
	if auths["quay.io"].(map[string]any)["email"] != "q@example.com" || auths["ghcr.io"] == nil {
		t.Errorf("auths = %v", auths)
	}
	if !bytes.Contains(data, []byte("\n\t\"auths\"")) {
		t.Errorf("not tab-indented like docker's:\n%s", data)
	}
	// Logout from Docker Hub removes every alias of it.
	if err := d.Erase(t.Context(), "docker.io"); err != nil {
		t.Fatal(err)
	}
	if c, _ := d.Credential(t.Context(), "docker.io"); !c.IsZero() {
		t.Errorf("docker.io still has %#v", c)
	}
}

func TestStoreRefusesEmpty(t *testing.T) {
	t.Parallel()
	if err := (DockerConfig{Path: filepath.Join(t.TempDir(), "c.json")}).Store(t.Context(), "r.io", Credential{}); err == nil {
		t.Error("stored an empty credential")
	}
}

func FuzzConfigFile(f *testing.F) {
	f.Add([]byte(`{"auths":{"example.com":{"auth":"dTpw"}},"credsStore":"desktop","x":[1,{"y":null}]}`), "u", "p")
	f.Add([]byte(`{"auths":{"https://index.docker.io/v1/":{"identitytoken":"t"}},"credHelpers":{"gcr.io":"gcloud"}}`), "user", "")
	f.Add([]byte(``), "", "pass")
	f.Add([]byte(`null`), "a", "b:c")
	f.Add([]byte(`{"auths":{"example.com":"x"}}`), "a", "b")
	f.Fuzz(func(t *testing.T, data []byte, user, pass string) {
		cf, err := parseConfigFile(data)
		if err != nil {
			return
		}
		cf.helperFor("example.com")
		if e, _, ok := cf.entry("example.com"); ok {
			e.credential() // may fail, must not panic
		}
		// Storing a credential and reading the file back gives that credential, and
		// every other top-level key as it was.
		want := Credential{Username: user, Password: pass, IdentityToken: "idt"}
		wantOK := user != "" && !strings.Contains(user, ":") && strings.Trim(pass, "\x00") == pass
		cf.setEntry(dockerKey("example.com"), newAuthEntry(want))
		out, err := cf.marshal()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		again, err := parseConfigFile(out)
		if err != nil {
			t.Fatalf("reparse %s: %v", out, err)
		}
		e, _, ok := again.entry("example.com")
		if !ok {
			t.Fatalf("entry lost in %s", out)
		}
		got, err := e.credential()
		if wantOK && (err != nil || got != want) {
			t.Fatalf("stored %#v, read back %#v, %v", want, got, err)
		}
		for k, v := range cf.raw {
			if k == "auths" {
				continue
			}
			if !jsonEqual(v, again.raw[k]) {
				t.Fatalf("key %q changed: %s -> %s", k, v, again.raw[k])
			}
		}
	})
}

func jsonEqual(a, b []byte) bool {
	var x, y bytes.Buffer
	return json.Compact(&x, a) == nil && json.Compact(&y, b) == nil && bytes.Equal(x.Bytes(), y.Bytes())
}

func FuzzDecodeAuth(f *testing.F) {
	f.Add("user", "pass")
	f.Add("u", "")
	f.Add("user", "a:b:c")
	f.Add("", "x")
	f.Fuzz(func(t *testing.T, user, pass string) {
		u, p, err := decodeAuth(encodeAuth(user, pass))
		valid := user != "" && !strings.Contains(user, ":") && strings.Trim(pass, "\x00") == pass
		if valid && (err != nil || u != user || p != pass) {
			t.Fatalf("(%q, %q) -> (%q, %q, %v)", user, pass, u, p, err)
		}
		if err == nil && u == "" {
			t.Fatalf("(%q, %q): accepted an empty username", user, pass)
		}
		decodeAuth(user) // arbitrary input: an error at worst
	})
}

// secretsOf is c without where it came from, to compare with a literal.
func secretsOf(c Credential) Credential {
	c.From = ""
	return c
}
