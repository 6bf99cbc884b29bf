package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"testing"
)

// TestRealEngine loads into the engine HAUL_TEST_ENGINE names (a DOCKER_HOST
// value; test/e2e-engine.sh runs it against the dockerd and the podman
// service it starts): a load cut off halfway leaves no image, a whole one
// leaves it under its name.
func TestRealEngine(t *testing.T) {
	addr := os.Getenv("HAUL_TEST_ENGINE")
	if addr == "" {
		t.Skip("HAUL_TEST_ENGINE is not set: test/e2e-engine.sh runs this against dockerd and podman")
	}
	c, err := New(Host{URL: addr, From: "HAUL_TEST_ENGINE"})
	if err != nil {
		t.Fatal(err)
	}
	name := "example.test/haul-e2e/abort:1"
	archive := dockerArchive(t, name)
	t.Cleanup(func() { c.remove(context.Background(), t, name) }) // t.Context() is over by then
	c.remove(t.Context(), t, name)

	boom := errors.New("the pull failed halfway")
	_, err = c.Load(t.Context(), &cutSource{r: bytes.NewReader(archive), n: len(archive) / 2, err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("a load cut off halfway: error %v, want the source's", err)
	}
	if c.has(t, name) {
		t.Fatal("the engine kept an image from a load cut off halfway")
	}
	res, err := c.Load(t.Context(), bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(res.Images, name) || !c.has(t, name) {
		t.Fatalf("loaded %q (%q); want %s, and the engine to have it", res.Images, res.Messages, name)
	}
}

// cutSource reads r until n bytes were given, then fails with err.
type cutSource struct {
	r   *bytes.Reader
	n   int
	err error
}

func (s *cutSource) Read(p []byte) (int, error) {
	if s.n <= 0 {
		return 0, s.err
	}
	n, err := s.r.Read(p[:min(len(p), s.n)])
	s.n -= n
	return n, err
}

// dockerArchive is a docker-load tar of one image: a layer of 1 MiB of
// random bytes, so that half of the archive ends inside it.
func dockerArchive(t *testing.T, name string) []byte {
	t.Helper()
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	data := make([]byte, 1<<20)
	rand.Read(data)
	lw.WriteHeader(&tar.Header{Name: "data.bin", Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
	lw.Write(data)
	lw.Close()
	layerSum := sha256.Sum256(layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux", "config": map[string]any{},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(layerSum[:])}},
	})
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	layerName := hex.EncodeToString(layerSum[:]) + "/layer.tar"
	manifest, _ := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{name}, "Layers": []string{layerName}}})
	var out bytes.Buffer
	w := tar.NewWriter(&out)
	for _, f := range []struct {
		name string
		body []byte
	}{{configName, config}, {layerName, layer.Bytes()}, {"manifest.json", manifest}} {
		if err := w.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		w.Write(f.body)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// has asks the engine for an image by name.
func (c *Client) has(t *testing.T, name string) bool {
	t.Helper()
	resp := c.do(t.Context(), t, http.MethodGet, "/images/"+name+"/json")
	switch resp {
	case http.StatusOK:
		return true
	case http.StatusNotFound:
		return false
	}
	t.Fatalf("GET /images/%s/json: %d", name, resp)
	return false
}

func (c *Client) remove(ctx context.Context, t *testing.T, name string) {
	c.do(ctx, t, http.MethodDelete, "/images/"+name+"?force=1")
}

func (c *Client) do(ctx context.Context, t *testing.T, method, path string) int {
	t.Helper()
	p, err := c.apiPath(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+p, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(fmt.Errorf("%s %s: %w", method, path, err))
	}
	resp.Body.Close()
	return resp.StatusCode
}
