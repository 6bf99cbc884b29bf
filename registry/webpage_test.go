package registry_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/haul-dev/haul/registry"
)

// TestWebPageIsNoRegistry: a web server that answers every path with a page
// (200, text/html) is said not to be a registry, not blamed on the manifest.
func TestWebPageIsNoRegistry(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!doctype html><title>Welcome</title>"))
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	cl, err := registry.New(registry.Config{Registry: host, PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cl.Manifest(t.Context(), mustRef(t, host+"/team/app:1"))
	if err == nil || !strings.Contains(err.Error(), "answered a web page (text/html), not a manifest") ||
		!strings.Contains(err.Error(), host+" does not look like a container registry") {
		t.Fatalf("Manifest = %v, want it to say the server is no registry", err)
	}
}
