package auth

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestStatic(t *testing.T) {
	t.Parallel()
	cred := Credential{Username: "u", Password: "p"}
	tests := []struct {
		name, static, registry string
		want                   bool
	}{
		{"same", "ghcr.io", "ghcr.io", true},
		{"hub alias", "index.docker.io", "docker.io", true},
		{"other registry", "ghcr.io", "docker.io", false},
		{"other port", "localhost:5000", "localhost:5001", false},
		{"mirror", "docker.io", "mirror.gcr.io", false},
		{"zero Static", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Static{Registry: tt.static, Cred: cred}.Credential(t.Context(), tt.registry)
			if err != nil || (got == cred) != tt.want || (!tt.want && !got.IsZero()) {
				t.Errorf("got %#v, %v", got, err)
			}
		})
	}
}

type sourceFunc func(context.Context, string) (Credential, error)

func (f sourceFunc) Credential(ctx context.Context, r string) (Credential, error) { return f(ctx, r) }

func TestChain(t *testing.T) {
	t.Parallel()
	a := Credential{Username: "a", Password: "1"}
	b := Credential{Username: "b", Password: "2"}
	boom := errors.New("boom")
	none := sourceFunc(func(context.Context, string) (Credential, error) { return Credential{}, nil })
	fails := sourceFunc(func(context.Context, string) (Credential, error) { return Credential{}, boom })
	unreachable := sourceFunc(func(context.Context, string) (Credential, error) {
		return Credential{}, errors.New("asked after the chain should have stopped")
	})
	tests := []struct {
		name  string
		chain Chain
		want  Credential
		err   error
	}{
		{"first non-zero wins", Chain{none, Static{"r.io", a}, Static{"r.io", b}, unreachable}, a, nil},
		{"an error stops the chain", Chain{none, fails, Static{"r.io", b}}, Credential{}, boom},
		{"all zero: anonymous", Chain{none, nil, Static{}}, Credential{}, nil},
		{"empty", nil, Credential{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.chain.Credential(t.Context(), "r.io")
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("got %#v, %v; want %#v, %v", got, err, tt.want, tt.err)
			}
		})
	}
}

func TestCredentialHidesSecrets(t *testing.T) {
	t.Parallel()
	c := Credential{Username: "u", Password: "hunter2", IdentityToken: "idt-secret", RegistryToken: "rt-secret"}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c)} {
		for _, secret := range []string{"hunter2", "idt-secret", "rt-secret"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows %q", s, secret)
			}
		}
	}
}

func TestNormalizeRegistry(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, key string }{
		{"docker.io", "docker.io", "https://index.docker.io/v1/"},
		{"https://index.docker.io/v1/", "docker.io", "https://index.docker.io/v1/"},
		{"index.docker.io", "docker.io", "https://index.docker.io/v1/"},
		{"registry-1.docker.io", "docker.io", "https://index.docker.io/v1/"},
		{"http://GHCR.io/v2/", "ghcr.io", "ghcr.io"},
		{"localhost:5000", "localhost:5000", "localhost:5000"},
		{"quay.io/ns/repo", "quay.io", "quay.io"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := normalizeRegistry(tt.in); got != tt.want {
				t.Errorf("normalizeRegistry = %q, want %q", got, tt.want)
			}
			if got := dockerKey(tt.in); got != tt.key {
				t.Errorf("dockerKey = %q, want %q", got, tt.key)
			}
		})
	}
}

func TestContainersAuth(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	entry := func(u string) string { return `{"auth":"` + encodeAuth(u, "p") + `"}` }
	writeFile(t, filepath.Join(dir, "explicit.json"), `{"auths":{"r.io":`+entry("explicit")+`}}`)
	writeFile(t, filepath.Join(dir, "run", "containers", "auth.json"), `{"auths":{"r.io":`+entry("runtime")+`,"quay.io/ns/repo":`+entry("namespaced")+`}}`)
	writeFile(t, filepath.Join(dir, "home", ".config", "containers", "auth.json"), `{"auths":{"r.io":`+entry("home")+`,"only-home.io":`+entry("home")+`,"https://index.docker.io/v1/":`+entry("hub")+`}}`)
	full := map[string]string{"XDG_RUNTIME_DIR": filepath.Join(dir, "run"), "HOME": filepath.Join(dir, "home")}
	tests := []struct {
		name     string
		a        ContainersAuth
		registry string
		want     string
	}{
		{"REGISTRY_AUTH_FILE alone", ContainersAuth{Env: envMap(map[string]string{"REGISTRY_AUTH_FILE": filepath.Join(dir, "explicit.json"), "HOME": filepath.Join(dir, "home")})}, "only-home.io", ""},
		{"REGISTRY_AUTH_FILE", ContainersAuth{Env: envMap(map[string]string{"REGISTRY_AUTH_FILE": filepath.Join(dir, "explicit.json")})}, "r.io", "explicit"},
		{"runtime dir first", ContainersAuth{Env: envMap(full)}, "r.io", "runtime"},
		{"then ~/.config", ContainersAuth{Env: envMap(full)}, "only-home.io", "home"},
		{"legacy hub key", ContainersAuth{Env: envMap(full)}, "docker.io", "hub"},
		{"namespaced key is not the registry's", ContainersAuth{Env: envMap(full)}, "quay.io", ""},
		{"Path", ContainersAuth{Path: filepath.Join(dir, "explicit.json"), Env: envMap(full)}, "r.io", "explicit"},
		{"no files", ContainersAuth{Env: envMap(map[string]string{})}, "r.io", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := tt.a.Credential(t.Context(), tt.registry)
			if err != nil || c.Username != tt.want {
				t.Errorf("got %#v, %v; want user %q", c, err, tt.want)
			}
		})
	}
}
