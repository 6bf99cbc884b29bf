package registry_test

import (
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/registry"
)

// TestTLS puts the real registry behind a TLS listener on loopback: https is
// tried first there, and the certificate decides.
func TestTLS(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(20, 1, 100))
	target, _ := url.Parse(reg.URL())
	srv := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "https://")
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mod     func(*registry.Config)
		wantTLS bool
	}{
		{name: "unknown authority", mod: func(*registry.Config) {}, wantTLS: true},
		{name: "CA file", mod: func(c *registry.Config) { c.CAFile = caFile }},
		{name: "insecure", mod: func(c *registry.Config) { c.Insecure = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := registry.Config{Registry: host, Creds: auth.Static{}}
			tt.mod(&c)
			cl, err := registry.New(c)
			if err != nil {
				t.Fatal(err)
			}
			d, err := cl.Digest(t.Context(), mustRef(t, host+"/team/app:1"))
			var te *registry.TLSError
			if tt.wantTLS {
				if !errors.As(err, &te) || !strings.Contains(err.Error(), "--ca-file") {
					t.Fatalf("err = %v, want a *TLSError suggesting --ca-file", err)
				}
				return
			}
			if err != nil || d != pushed.Digest {
				t.Fatalf("Digest = %s, %v; want %s", d, err, pushed.Digest)
			}
			if cl.BaseURL() != "https://"+host {
				t.Fatalf("BaseURL %s, want https", cl.BaseURL())
			}
		})
	}
	if _, err := registry.New(registry.Config{Registry: host, CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil {
		t.Fatal("a missing CA file should fail New")
	}
}
