package pull_test

import (
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/store"
)

// TestNonDistributableLayer pulls an image whose layer names urls: the
// registry does not serve it, so it comes from the https URL, without the
// registry's credentials, verified; when no URL serves it, the pull fails
// naming the blob.
func TestNonDistributableLayer(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	img := registrytest.RandomImage(77, 1, 5000)
	pushed := reg.MustPush(t, "team/base:1", img)
	layer := pushed.Layers[0]
	layerBytes := img.Layers[0]

	var hits atomic.Int32
	var serve atomic.Bool
	serve.Store(true)
	foreign := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if h := r.Header.Get("Authorization"); h != "" {
			t.Errorf("the foreign URL received Authorization %q", h)
		}
		if !serve.Load() {
			http.NotFound(w, r)
			return
		}
		w.Write(layerBytes)
	}))
	t.Cleanup(foreign.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: foreign.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	// The same image, its layer now naming where else it lives.
	var m image.Manifest
	if err := json.Unmarshal(pushed.Manifest, &m); err != nil {
		t.Fatal(err)
	}
	m.Layers[0].URLs = []string{"http://insecure.invalid/layer", foreign.URL + "/layer.tar.gz"}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.PushManifest(t.Context(), "team/base", "foreign", pushed.MediaType, body); err != nil {
		t.Skipf("the registry refuses manifests with urls: %v", err)
	}
	// The registry keeps the layer to itself, as for a Windows base layer.
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/blobs/"+layer.Digest.String()) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusNotFound)
				w.Write([]byte(`{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	cl, err := registry.New(registry.Config{Registry: reg.Host(), CAFile: caFile,
		Creds: auth.Static{Registry: reg.Host(), Cred: auth.Credential{Username: registrytest.Alice, Password: registrytest.AlicePassword}}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := ref.Parse(reg.Ref("team/base:foreign"))
	if err != nil {
		t.Fatal(err)
	}
	run := func() error {
		st, err := store.Open(store.Config{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		_, err = pull.Pull(t.Context(), []ref.Reference{r}, pull.Config{
			Source: func(string) (pull.Source, error) { return cl, nil },
			Store:  st, Output: filepath.Join(t.TempDir(), "out.tar"),
		})
		return err
	}
	if err := run(); err != nil {
		t.Fatalf("pull with a foreign layer: %v", err)
	}
	if hits.Load() == 0 {
		t.Fatal("the foreign URL was never asked")
	}
	serve.Store(false)
	err = run()
	var re *registry.Error
	if err == nil || !strings.Contains(err.Error(), layer.Digest.String()) || !errors.As(err, &re) {
		t.Fatalf("no URL serves the layer: err = %v, want one naming the blob", err)
	}
}
