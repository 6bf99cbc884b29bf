package config

import (
	"os"
	"path/filepath"
	"testing"
)

// checkSystem asserts what every accepted file must give: entries with a
// prefix, mirrors with a location under their entry's prefix, and For that
// answers for any name.
func checkSystem(t *testing.T, s System) {
	for _, r := range s.Registries {
		if r.Prefix == "" || r.Origin == "" {
			t.Fatalf("entry without prefix or origin: %+v", r)
		}
		for _, m := range r.Mirrors {
			if m.Location == "" || m.Prefix != r.Prefix || m.Origin == "" {
				t.Fatalf("mirror %+v of %s", m, r.Prefix)
			}
		}
	}
	for _, name := range []string{"docker.io/library/alpine", "quay.io/a/b", "10.0.0.1:5000/x", "a.b.c/d"} {
		got := s.For(name)
		if got.Prefix != "" && matchLen(got.Prefix, name) < 0 && !got.Insecure && len(got.Mirrors) == 0 {
			t.Fatalf("For(%s) = %+v, an entry that does not cover it", name, got)
		}
	}
}

func FuzzReadRegistriesConf(f *testing.F) {
	for _, p := range []string{"etc/containers/registries.conf", "etc/containers/registries.conf.d/10-hub.conf", "home/containers/registries.conf.d/20-ghcr.conf"} {
		data, err := os.ReadFile(filepath.Join("testdata/system", p))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("registry = [{prefix = 'a.io', mirror = [{location = 'm'}]}]"))
	f.Add([]byte("[registries.insecure]\nregistries = ['r:5000']"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s System
		if err := s.readRegistriesConf("registries.conf", data); err != nil {
			return
		}
		checkSystem(t, s)
	})
}

func FuzzReadDaemonJSON(f *testing.F) {
	data, err := os.ReadFile("testdata/system/etc/docker/daemon.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"insecure-registries": ["::1/128", "[::1]:5000"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s System
		if err := s.readDaemonJSON("daemon.json", data); err != nil {
			return
		}
		checkSystem(t, s)
	})
}
