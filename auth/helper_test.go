package auth

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeHelper is docker-credential-test: it keeps each credential as a file named by the
// hex of its server URL, answers "credentials not found in native keychain" for a
// missing one, and logs every call. docker-credential-broken always fails.
const fakeHelper = `#!/bin/sh
dir="$(dirname "$0")"
input="$(cat)"
echo "$1 $input" >> "$dir/calls"
case "$1" in
get)
	f="$dir/store/$(printf '%s' "$input" | od -An -v -tx1 | tr -d ' \n')"
	if [ -f "$f" ]; then cat "$f"; exit 0; fi
	echo "credentials not found in native keychain"; exit 1 ;;
store)
	url="$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p')"
	mkdir -p "$dir/store"
	printf '%s' "$input" > "$dir/store/$(printf '%s' "$url" | od -An -v -tx1 | tr -d ' \n')" ;;
erase)
	rm "$dir/store/$(printf '%s' "$input" | od -An -v -tx1 | tr -d ' \n')" || exit 1 ;;
*)
	exit 1 ;;
esac
`

// installHelpers puts docker-credential-test and -broken first on PATH. It uses
// t.Setenv, so its callers cannot run in parallel.
func installHelpers(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, script := range map[string]string{
		"docker-credential-test":   fakeHelper,
		"docker-credential-broken": "#!/bin/sh\necho 'the keyring is locked'\nexit 3\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return dir
}

func helperHas(t *testing.T, dir, serverURL, username, secret string) {
	t.Helper()
	data, _ := json.Marshal(map[string]string{"ServerURL": serverURL, "Username": username, "Secret": secret})
	if err := os.MkdirAll(filepath.Join(dir, "store"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "store", hex.EncodeToString([]byte(serverURL))), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDockerConfigHelpers(t *testing.T) {
	helpers := installHelpers(t)
	helperHas(t, helpers, "ghcr.io", "gh-user", "gh-pass")
	helperHas(t, helpers, "https://index.docker.io/v1/", "hub-user", "hub-pass")
	helperHas(t, helpers, "acr.io", "<token>", "refresh")
	fileCred := `{"auth":"` + encodeAuth("file-user", "file-pass") + `"}`

	tests := []struct {
		name     string
		config   string
		registry string
		want     Credential
		err      []string // all of these in the error
	}{
		{"credHelpers", `{"credHelpers":{"ghcr.io":"test"},"auths":{"ghcr.io":` + fileCred + `}}`, "ghcr.io", Credential{Username: "gh-user", Password: "gh-pass"}, nil},
		{"credHelpers before credsStore", `{"credHelpers":{"ghcr.io":"test"},"credsStore":"broken"}`, "ghcr.io", Credential{Username: "gh-user", Password: "gh-pass"}, nil},
		{"credsStore", `{"credsStore":"test"}`, "ghcr.io", Credential{Username: "gh-user", Password: "gh-pass"}, nil},
		{"hub through its v1 URL", `{"credsStore":"test"}`, "docker.io", Credential{Username: "hub-user", Password: "hub-pass"}, nil},
		{"<token> is an identity token", `{"credsStore":"test"}`, "acr.io", Credential{IdentityToken: "refresh"}, nil},
		{"not found is final: no fallback to auths", `{"credsStore":"test","auths":{"quay.io":` + fileCred + `}}`, "quay.io", Credential{}, nil},
		{"credHelper not found is final", `{"credHelpers":{"quay.io":"test"},"auths":{"quay.io":` + fileCred + `}}`, "quay.io", Credential{}, nil},
		{"registrytoken survives from the file", `{"credsStore":"test","auths":{"ghcr.io":{"registrytoken":"rt"}}}`, "ghcr.io", Credential{Username: "gh-user", Password: "gh-pass", RegistryToken: "rt"}, nil},
		{"helper for another registry", `{"credHelpers":{"gcr.io":"broken"},"auths":{"ghcr.io":` + fileCred + `}}`, "ghcr.io", Credential{Username: "file-user", Password: "file-pass"}, nil},
		{"failing helper", `{"credHelpers":{"ghcr.io":"broken"},"auths":{"ghcr.io":` + fileCred + `}}`, "ghcr.io", Credential{}, []string{"docker-credential-broken", "ghcr.io", "keyring is locked"}},
		{"missing helper", `{"credsStore":"nosuch"}`, "ghcr.io", Credential{}, []string{"docker-credential-nosuch", "ghcr.io"}},
		{"helper name with a path", `{"credsStore":"../../bin/sh"}`, "ghcr.io", Credential{}, []string{"invalid helper name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.json")
			writeFile(t, path, tt.config)
			got, err := DockerConfig{Path: path}.Credential(t.Context(), tt.registry)
			if tt.err != nil {
				if err == nil {
					t.Fatalf("no error; got %#v", got)
				}
				for _, s := range tt.err {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not say %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if secretsOf(got) != tt.want {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
			if !got.IsZero() && got.From == "" {
				t.Error("From is empty: a refused credential could not be traced to its helper or file")
			}
		})
	}
}

func TestDockerConfigHelperStoreErase(t *testing.T) {
	helpers := installHelpers(t)
	tests := []struct {
		name      string
		config    string
		registry  string
		cred      Credential
		serverURL string
		readBack  Credential
	}{
		{"credsStore", `{"credsStore":"test","other":1}`, "ghcr.io", Credential{Username: "u", Password: "p"}, "ghcr.io", Credential{Username: "u", Password: "p"}},
		{"credHelpers, hub", `{"credHelpers":{"https://index.docker.io/v1/":"test"}}`, "docker.io", Credential{Username: "u", Password: "p"}, "https://index.docker.io/v1/", Credential{Username: "u", Password: "p"}},
		{"identity token", `{"credsStore":"test"}`, "r.io", Credential{Username: "u", IdentityToken: "idt"}, "r.io", Credential{IdentityToken: "idt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "config.json")
			writeFile(t, path, tt.config)
			d := DockerConfig{Path: path}
			if err := d.Store(t.Context(), tt.registry, tt.cred); err != nil {
				t.Fatal(err)
			}
			if got, err := d.Credential(t.Context(), tt.registry); err != nil || secretsOf(got) != tt.readBack {
				t.Errorf("read back %#v, %v; want %#v", got, err, tt.readBack)
			}
			// The secret is in the helper; the file holds an empty entry, as docker's.
			data, _ := os.ReadFile(path)
			var file struct{ Auths map[string]json.RawMessage }
			json.Unmarshal(data, &file)
			if e := string(file.Auths[tt.serverURL]); e != "{}" {
				t.Errorf("file entry %q = %q, want {}", tt.serverURL, e)
			}
			if strings.Contains(string(data), "idt") || strings.Contains(string(data), `"p"`) {
				t.Errorf("secret written to the file:\n%s", data)
			}
			if err := d.Erase(t.Context(), tt.registry); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(helpers, "store", hex.EncodeToString([]byte(tt.serverURL)))); !os.IsNotExist(err) {
				t.Errorf("helper still holds the credential: %v", err)
			}
			if err := d.Erase(t.Context(), tt.registry); err == nil || !strings.Contains(err.Error(), "not logged in") {
				t.Errorf("second Erase: %v", err)
			}
		})
	}
	calls, _ := os.ReadFile(filepath.Join(helpers, "calls"))
	if !strings.Contains(string(calls), "store {") || !strings.Contains(string(calls), "erase ghcr.io") {
		t.Errorf("helper calls:\n%s", calls)
	}
}

func TestDefaultOrder(t *testing.T) {
	installHelpers(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "home", ".docker", "config.json"), `{"auths":{"r.io":{"auth":"`+encodeAuth("docker", "p")+`"}},"credHelpers":{"bad.io":"broken"}}`)
	writeFile(t, filepath.Join(dir, "run", "containers", "auth.json"), `{"auths":{"r.io":{"auth":"`+encodeAuth("podman", "p")+`"},"p.io":{"auth":"`+encodeAuth("podman", "p")+`"},"bad.io":{"auth":"`+encodeAuth("podman", "p")+`"}}}`)
	env := envMap(map[string]string{"HOME": filepath.Join(dir, "home"), "XDG_RUNTIME_DIR": filepath.Join(dir, "run")})
	tests := []struct {
		name     string
		explicit Static
		registry string
		want     string
		err      bool
	}{
		{"explicit first", Static{Registry: "r.io", Cred: Credential{Username: "flag", Password: "p"}}, "r.io", "flag", false},
		{"explicit for another registry", Static{Registry: "other.io", Cred: Credential{Username: "flag", Password: "p"}}, "r.io", "docker", false},
		{"docker before podman", Static{}, "r.io", "docker", false},
		{"then podman", Static{}, "p.io", "podman", false},
		{"a failing helper stops the chain", Static{}, "bad.io", "", true},
		{"nothing", Static{}, "n.io", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Default(tt.explicit, env).Credential(t.Context(), tt.registry)
			if (err != nil) != tt.err || c.Username != tt.want {
				t.Errorf("got %#v, %v; want user %q, error %v", c, err, tt.want, tt.err)
			}
		})
	}
}
