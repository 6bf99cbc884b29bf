package registry_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// TestOtherRegistryRefused gives every method that takes a reference one of
// another registry: each returns an *OtherRegistryError naming it, and no
// request reaches the client's registry. The same call with the registry's
// own name is not refused, so the check is the only thing that differs.
func TestOtherRegistryRefused(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	img := reg.MustPush(t, "team/app:1", registrytest.RandomImage(30, 1, 100))
	var sent atomic.Int64
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sent.Add(1)
			next.ServeHTTP(w, r)
		})
	})
	cl := newClient(t, reg, alice)
	own := mustRef(t, reg.Ref("team/app:1"))
	layer := img.Layers[0]
	manifest := image.Descriptor{MediaType: img.MediaType, Digest: img.Digest, Size: img.Size}
	read := func(rc io.ReadCloser, err error) error {
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(io.Discard, rc)
		return err
	}
	tests := []struct {
		name string
		call func(ctx context.Context, r ref.Reference) error
	}{
		{"Manifest", func(ctx context.Context, r ref.Reference) error { _, err := cl.Manifest(ctx, r); return err }},
		{"ManifestByDescriptor", func(ctx context.Context, r ref.Reference) error {
			_, err := cl.ManifestByDescriptor(ctx, r, manifest)
			return err
		}},
		{"Head", func(ctx context.Context, r ref.Reference) error { _, err := cl.Head(ctx, r); return err }},
		{"Digest", func(ctx context.Context, r ref.Reference) error { _, err := cl.Digest(ctx, r); return err }},
		{"Resolve", func(ctx context.Context, r ref.Reference) error {
			_, err := cl.Resolve(ctx, r, image.Host())
			return err
		}},
		{"Image", func(ctx context.Context, r ref.Reference) error { _, err := cl.Image(ctx, r, image.Host()); return err }},
		{"ManifestExists", func(ctx context.Context, r ref.Reference) error { _, _, err := cl.ManifestExists(ctx, r); return err }},
		{"Tags", func(ctx context.Context, r ref.Reference) error { _, err := cl.Tags(ctx, r); return err }},
		{"Referrers", func(ctx context.Context, r ref.Reference) error {
			_, err := cl.Referrers(ctx, r, manifest, registry.ReferrersOptions{})
			return err
		}},
		{"Blob", func(ctx context.Context, r ref.Reference) error { return read(cl.Blob(ctx, r, layer)) }},
		{"BlobAt", func(ctx context.Context, r ref.Reference) error { return read(cl.BlobAt(ctx, r, layer, 0, nil)) }},
		{"BlobFromURL", func(ctx context.Context, r ref.Reference) error {
			return read(cl.BlobFromURL(ctx, r, layer, "https://"+reg.Host()+"/v2/team/app/blobs/"+layer.Digest.String(), 0, nil))
		}},
		{"BlobDescriptor", func(ctx context.Context, r ref.Reference) error {
			_, err := cl.BlobDescriptor(ctx, r, layer.Digest)
			return err
		}},
		{"BlobBytes", func(ctx context.Context, r ref.Reference) error {
			_, err := cl.BlobBytes(ctx, r, layer, 1<<20)
			return err
		}},
		{"BlobExists", func(ctx context.Context, r ref.Reference) error { _, err := cl.BlobExists(ctx, r, layer); return err }},
		{"MountBlob into", func(ctx context.Context, r ref.Reference) error {
			_, err := cl.MountBlob(ctx, r.WithTag("2"), layer, own)
			return err
		}},
		{"MountBlob from", func(ctx context.Context, r ref.Reference) error {
			_, err := cl.MountBlob(ctx, mustRef(t, reg.Ref("team/copy:1")), layer, r)
			return err
		}},
		{"PushManifest", func(ctx context.Context, r ref.Reference) error {
			_, err := cl.PushManifest(ctx, r, img.Manifest, img.MediaType)
			return err
		}},
		{"PushReferrer", func(ctx context.Context, r ref.Reference) error {
			_, _, err := cl.PushReferrer(ctx, r, img.Manifest, img.MediaType)
			return err
		}},
		{"AddReferrers", func(ctx context.Context, r ref.Reference) error {
			_, err := cl.AddReferrers(ctx, r, img.Digest, nil)
			return err
		}},
		{"PushBlob", func(ctx context.Context, r ref.Reference) error {
			return cl.PushBlob(ctx, r, layer, cl.BlobSource(own, layer), registry.PushOptions{})
		}},
		{"BlobSource", func(ctx context.Context, r ref.Reference) error { return read(cl.BlobSource(r, layer).Open(ctx, 0)) }},
		{"BlobSource at an offset", func(ctx context.Context, r ref.Reference) error {
			return read(cl.BlobSource(r, layer).Open(ctx, 1))
		}},
	}
	for _, other := range []string{"ghcr.io/team/app:1", "alpine:1", reg.Host() + "0/team/app:1"} {
		o := mustRef(t, other)
		for _, tt := range tests {
			t.Run(tt.name+" "+other, func(t *testing.T) {
				before := sent.Load()
				err := tt.call(t.Context(), o)
				var oe *registry.OtherRegistryError
				if !errors.As(err, &oe) || oe.Ref.Registry() != o.Registry() || oe.Client != reg.Host() {
					t.Fatalf("error = %v, want an *OtherRegistryError for %s", err, o)
				}
				if n := sent.Load() - before; n != 0 {
					t.Errorf("%d requests reached %s", n, reg.Host())
				}
				if err := tt.call(t.Context(), own); errors.As(err, &oe) {
					t.Errorf("with %s, the registry's own name: %v", own, err)
				}
			})
		}
	}
}

// hostRT answers every request with an error naming the host it was sent to.
type hostRT struct{}

type sentTo string

func (s sentTo) Error() string { return "sent to " + string(s) }

func (hostRT) RoundTrip(req *http.Request) (*http.Response, error) { return nil, sentTo(req.URL.Host) }

// TestOtherRegistryNames: the names of one API host are one registry
// (docker.io, index.docker.io, registry-1.docker.io), and host names are
// compared without regard to case; nothing else passes.
func TestOtherRegistryNames(t *testing.T) {
	t.Parallel()
	tests := []struct {
		client, ref string
		sent        string // the host the request went to; "": refused
	}{
		{"docker.io", "alpine", "registry-1.docker.io"},
		{"index.docker.io", "docker.io/library/alpine", "registry-1.docker.io"},
		{"docker.io", "registry-1.docker.io/library/alpine", "registry-1.docker.io"},
		{"Registry.Example:5000", "registry.example:5000/a/b", "Registry.Example:5000"},
		{"registry.example:5000", "registry.example/a/b", ""},
		{"registry.example", "registry.example.evil/a/b", ""},
		{"ghcr.io", "alpine", ""},
		{"docker.io", "ghcr.io/library/alpine", ""},
		{"localhost:5000", "localhost:5001/a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.client+" "+tt.ref, func(t *testing.T) {
			t.Parallel()
			cl, err := registry.New(registry.Config{Registry: tt.client, Transport: hostRT{}, Retry: registry.RetryPolicy{Max: -1}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = cl.Head(t.Context(), mustRef(t, tt.ref))
			var oe *registry.OtherRegistryError
			var to sentTo
			switch {
			case tt.sent == "" && !errors.As(err, &oe):
				t.Errorf("Head = %v, want an *OtherRegistryError", err)
			case tt.sent != "" && (!errors.As(err, &to) || string(to) != tt.sent):
				t.Errorf("Head = %v, want it sent to %s", err, tt.sent)
			}
		})
	}
}
