package haul_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/internal/registrytest"
)

// The registries the examples and tests read and write, started by
// TestMain: reg with token auth (anonymous may pull, alice may push), open
// without any (anyone may push, for the package functions, which log in to
// nothing).
var reg, open *registrytest.Registry

// goEnv is the environment the test began with, for the go command, which
// finds its cache, module cache and settings (GOPROXY, GOFLAGS) under HOME.
var goEnv []string

// alice logs in to reg.
var alice = auth.Credential{Username: registrytest.Alice, Password: registrytest.AlicePassword}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	home, err := os.MkdirTemp("", "haul-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(home)
	goEnv = os.Environ()
	// The package functions read the user's settings and fill the user's
	// cache: here, an empty home of their own.
	for k, v := range map[string]string{
		"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, "config"), "XDG_CACHE_HOME": filepath.Join(home, "cache"),
		"DOCKER_CONFIG": filepath.Join(home, "docker"), "REGISTRY_AUTH_FILE": filepath.Join(home, "auth.json"),
		"XDG_RUNTIME_DIR": home, "CONTAINERS_REGISTRIES_CONF": filepath.Join(home, "registries.conf"),
	} {
		os.Setenv(k, v)
	}
	if reg, err = registrytest.Start(registrytest.Config{TokenAuth: true}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer reg.Close()
	if open, err = registrytest.Start(registrytest.Config{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer open.Close()
	if err := pushFixtures(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// appImage is team/app:1, and the content of every image the tests push:
// plain tar layers and a generated config, so that its digests are the
// same on every run.
func appImage(arch string) registrytest.Image {
	return registrytest.Image{
		Layers: [][]byte{
			registrytest.Tar(map[string][]byte{"etc/": nil, "etc/motd": []byte("hello from haul\n")}),
			registrytest.Tar(map[string][]byte{"app/": nil, "app/run": []byte("#!/bin/sh\necho " + arch + "\n")}),
		},
		Platform: ocispec.Platform{OS: "linux", Architecture: arch},
		OCI:      true,
	}
}

func pushFixtures(ctx context.Context) error {
	if _, err := reg.Push(ctx, "team/app:1", appImage("amd64")); err != nil {
		return err
	}
	idx := registrytest.IndexSpec{OCI: true, Images: []registrytest.Image{appImage("amd64"), appImage("arm64")}}
	if _, err := reg.PushIndex(ctx, "team/multi:1", idx); err != nil {
		return err
	}
	_, err := reg.Push(ctx, "team/app:2", appImage("arm64"))
	return err
}
