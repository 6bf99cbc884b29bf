package auth

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/haul-dev/haul/disk"
)

// ContainersAuth reads podman/skopeo/buildah's auth.json (containers-auth.json(5)).
//
// The files, as containers/image searches them: Path if set; else $REGISTRY_AUTH_FILE
// alone if set; else $XDG_RUNTIME_DIR/containers/auth.json, then
// $XDG_CONFIG_HOME/containers/auth.json ($HOME/.config/containers/auth.json; %USERPROFILE% for
// $HOME on Windows). The first
// file with an entry for the registry wins.
//
// Keys are "host[:port]" (legacy "https://host/..." keys are read as their host). Keys
// with a repository path ("quay.io/ns/repo") grant a credential for that namespace only;
// a Source is asked per registry, so those are not used. The file's credHelpers are not
// run yet: docker's config.json, read before this in Default, is where helpers live.
type ContainersAuth struct {
	Path string
	Env  func(string) string // nil: os.Getenv
}

func (a ContainersAuth) getenv(k string) string {
	if a.Env == nil {
		return os.Getenv(k)
	}
	return a.Env(k)
}

func (a ContainersAuth) paths() []string {
	if a.Path != "" {
		return []string{a.Path}
	}
	if p := a.getenv("REGISTRY_AUTH_FILE"); p != "" {
		return []string{p}
	}
	var ps []string
	if d := a.getenv("XDG_RUNTIME_DIR"); d != "" {
		ps = append(ps, filepath.Join(d, "containers", "auth.json"))
	}
	if d := a.getenv("XDG_CONFIG_HOME"); d != "" {
		ps = append(ps, filepath.Join(d, "containers", "auth.json"))
	} else if h := disk.Home(a.getenv); h != "" {
		ps = append(ps, filepath.Join(h, ".config", "containers", "auth.json"))
	}
	return ps
}

// Credential returns the credential auth.json holds for registry; missing files mean
// anonymous.
func (a ContainersAuth) Credential(_ context.Context, registry string) (Credential, error) {
	for _, path := range a.paths() {
		f, err := loadConfigFile(path)
		if err != nil {
			return Credential{}, err
		}
		key := normalizeRegistry(registry)
		if _, ok := f.auths[key]; !ok {
			if key, ok = aliasKey(f.auths, registry, true); !ok {
				continue
			}
		}
		e, _, _ := f.entryAt(key)
		c, err := e.credential()
		if err != nil {
			return Credential{}, fmt.Errorf("read auths[%q] of %s: %w", key, path, err)
		}
		if !c.IsZero() {
			c.From = path
			return c, nil
		}
	}
	return Credential{}, nil
}
