package mirror

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/haul-dev/haul/config"
	"github.com/haul-dev/haul/registry"
)

func TestFromSettingsAndOpen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	toml := filepath.Join(dir, "config.toml")
	body := "[registries.\"docker.io\"]\nmirrors = [\"m.local:5000\", \"http://second.local:5000/hub\"]\n"
	if err := os.WriteFile(toml, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	none := config.SystemPaths{}
	s, err := config.Load(config.Options{Path: toml, Getenv: func(string) string { return "" }, System: &none})
	if err != nil {
		t.Fatal(err)
	}
	first, err := ParseEndpoint("m.local:5000")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := FromSettings(s, "docker.io", []Endpoint{first})
	if err != nil {
		t.Fatal(err)
	}
	want := []Spec{{Endpoint: first}, {Endpoint: Endpoint{Host: "second.local:5000", Prefix: "hub", PlainHTTP: true}}}
	if len(specs) != len(want) || specs[0] != want[0] || specs[1] != want[1] {
		t.Fatalf("specs %+v, want %+v (the flag's first, the file's repeat of it dropped)", specs, want)
	}
	if other, err := FromSettings(s, "ghcr.io", nil); err != nil || len(other) != 0 {
		t.Errorf("another registry's mirrors: %v, %v", other, err)
	}

	up, err := registry.New(registry.Config{Registry: "docker.io"})
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	src, err := Open(up, specs, Clients{Base: func(host string) registry.Config {
		hosts = append(hosts, host)
		return registry.Config{Registry: "ignored"}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(hosts) != 2 || hosts[0] != "m.local:5000" || hosts[1] != "second.local:5000" {
		t.Errorf("Base asked for %v", hosts)
	}
	if len(src.mirrors) != 2 || src.mirrors[1].Client.Registry() != "second.local:5000" || src.mirrors[1].Client.BaseURL() != "http://second.local:5000" {
		t.Errorf("mirror clients: %+v", src.mirrors)
	}
	src.CloseIdleConnections()
}
