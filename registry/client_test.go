package registry_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// newClient is a client for reg with cred (zero: anonymous) and fast retries.
func newClient(t testing.TB, reg *registrytest.Registry, cred auth.Credential, mod ...func(*registry.Config)) *registry.Client {
	t.Helper()
	c := registry.Config{
		Registry: reg.Host(),
		Creds:    auth.Static{Registry: reg.Host(), Cred: cred},
		Retry:    registry.RetryPolicy{Base: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
	}
	for _, m := range mod {
		m(&c)
	}
	cl, err := registry.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func mustRef(t testing.TB, s string) ref.Reference {
	t.Helper()
	r, err := ref.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readBlob(t *testing.T, cl *registry.Client, r ref.Reference, d image.Descriptor) ([]byte, error) {
	t.Helper()
	rc, err := cl.Blob(t.Context(), r, d)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// TestAuthFlows runs each way of authenticating against the real registry and
// token server, and checks what the token server was asked.
func TestAuthFlows(t *testing.T) {
	t.Parallel()
	alicePass := auth.Credential{Username: registrytest.Alice, Password: registrytest.AlicePassword}
	alicePAT := auth.Credential{Username: registrytest.Alice, Password: registrytest.AlicePAT}
	tests := []struct {
		name      string
		cfg       registrytest.Config
		repo      string
		cred      func(t *testing.T, reg *registrytest.Registry) auth.Credential
		wantErr   int // HTTP status of the *registry.Error, 0 for success
		wantGrant string
		wantUser  string
	}{
		{name: "anonymous public", cfg: registrytest.Config{TokenAuth: true, Private: []string{"private/"}}, repo: "team/app:1",
			wantGrant: "GET"},
		{name: "anonymous private is refused", cfg: registrytest.Config{TokenAuth: true, Private: []string{"private/"}}, repo: "private/app:1",
			wantErr: http.StatusUnauthorized},
		{name: "password", cfg: registrytest.Config{TokenAuth: true, Private: []string{"private/"}}, repo: "private/app:1",
			cred: func(*testing.T, *registrytest.Registry) auth.Credential { return alicePass }, wantGrant: "GET", wantUser: registrytest.Alice},
		{name: "personal access token", cfg: registrytest.Config{TokenAuth: true, Private: []string{"private/"}}, repo: "private/app:1",
			cred: func(*testing.T, *registrytest.Registry) auth.Credential { return alicePAT }, wantGrant: "GET", wantUser: registrytest.Alice},
		{name: "refresh token via OAuth2 POST", cfg: registrytest.Config{TokenAuth: true, Private: []string{"private/"}}, repo: "private/app:1",
			cred: func(t *testing.T, reg *registrytest.Registry) auth.Credential {
				got, err := registry.Login(t.Context(), registry.Config{Registry: reg.Host()}, alicePass)
				if err != nil || got.IdentityToken == "" || got.Password != "" {
					t.Fatalf("Login = %+v, %v; want an identity token in place of the password", got, err)
				}
				return got
			}, wantGrant: "POST refresh_token", wantUser: registrytest.Alice},
		{name: "wrong password", cfg: registrytest.Config{TokenAuth: true, Private: []string{"private/"}}, repo: "private/app:1",
			cred: func(*testing.T, *registrytest.Registry) auth.Credential {
				return auth.Credential{Username: registrytest.Alice, Password: "nope"}
			}, wantErr: -1},
		{name: "basic auth registry", cfg: registrytest.Config{BasicAuth: true}, repo: "team/app:1",
			cred: func(*testing.T, *registrytest.Registry) auth.Credential { return alicePass }},
		{name: "basic auth registry anonymous", cfg: registrytest.Config{BasicAuth: true}, repo: "team/app:1",
			wantErr: http.StatusUnauthorized},
		{name: "open registry", cfg: registrytest.Config{}, repo: "team/app:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := registrytest.New(t, tt.cfg)
			pushed := reg.MustPush(t, tt.repo, registrytest.RandomImage(1, 2, 1<<10))
			var cred auth.Credential
			if tt.cred != nil {
				cred = tt.cred(t, reg)
			}
			before := len(reg.TokenRequests())
			cl := newClient(t, reg, cred)
			r := mustRef(t, reg.Ref(tt.repo))
			m, err := cl.Manifest(t.Context(), r)
			switch {
			case tt.wantErr > 0:
				var re *registry.Error
				if !errors.As(err, &re) || re.Status != tt.wantErr {
					t.Fatalf("Manifest err = %v, want a %d *registry.Error", err, tt.wantErr)
				}
				if tt.cfg.TokenAuth && (re.Realm != reg.Realm() || re.Scope == "") {
					t.Errorf("error does not name realm and scope: %+v", re)
				}
				if re.Hint() == "" {
					t.Errorf("no hint for %v", err)
				}
				return
			case tt.wantErr < 0:
				var te *auth.TokenError
				if !errors.As(err, &te) || te.Status != http.StatusUnauthorized {
					t.Fatalf("Manifest err = %v, want a 401 *auth.TokenError", err)
				}
				if strings.Contains(err.Error(), "nope") {
					t.Fatalf("error shows the password: %v", err)
				}
				return
			case err != nil:
				t.Fatalf("Manifest: %v", err)
			}
			if m.Descriptor.Digest != pushed.Digest || string(m.Body) != string(pushed.Manifest) {
				t.Fatalf("Manifest digest %s, want %s", m.Descriptor.Digest, pushed.Digest)
			}
			for _, l := range pushed.Layers {
				if _, err := readBlob(t, cl, r, l); err != nil {
					t.Fatalf("Blob %s: %v", l.Digest, err)
				}
			}
			if tt.wantGrant == "" {
				return
			}
			reqs := reg.TokenRequests()[before:]
			if len(reqs) != 1 {
				t.Fatalf("%d token requests for one repository, want 1 (cached): %+v", len(reqs), reqs)
			}
			got := reqs[0].Method
			if reqs[0].GrantType != "" {
				got += " " + reqs[0].GrantType
			}
			if got != tt.wantGrant || reqs[0].User != tt.wantUser || !slices.Contains(reqs[0].Scopes, "repository:"+r.Repository()+":pull") {
				t.Fatalf("token request %+v, want %s by %q with pull scope", reqs[0], tt.wantGrant, tt.wantUser)
			}
			if reqs[0].Method == "POST" && reqs[0].ClientID != "haul" {
				t.Errorf("client_id %q, want haul", reqs[0].ClientID)
			}
		})
	}
}

func TestRefusedPOSTFallsBackToGET(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true, RefusePOST: true, Private: []string{"private/"}})
	reg.MustPush(t, "private/app:1", registrytest.RandomImage(2, 1, 100))
	cred := auth.Credential{Username: registrytest.Alice, Password: registrytest.AlicePassword}
	got, err := registry.Login(t.Context(), registry.Config{Registry: reg.Host()}, cred)
	if err != nil || got != cred {
		// The realm grants refresh tokens only through the POST it refuses:
		// what must be stored is the password.
		t.Fatalf("Login = %+v, %v; want the password credential back", got, err)
	}
	var methods []string
	for _, tr := range reg.TokenRequests() {
		methods = append(methods, tr.Method+" "+http.StatusText(tr.Status))
	}
	if !slices.Equal(methods, []string{"POST Method Not Allowed", "GET OK"}) {
		t.Fatalf("token requests %v, want a refused POST then a GET", methods)
	}
	if _, err := newClient(t, reg, got).Manifest(t.Context(), mustRef(t, reg.Ref("private/app:1"))); err != nil {
		t.Fatal(err)
	}
}

func TestTokenExpiryRefreshes(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true, TokenTTL: 1500 * time.Millisecond})
	pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(3, 1, 100))
	cl := newClient(t, reg, auth.Credential{})
	r := mustRef(t, reg.Ref("team/app:1"))
	if _, err := cl.Manifest(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1600 * time.Millisecond) // past the token's exp: the registry now answers 401
	if _, err := readBlob(t, cl, r, pushed.Layers[0]); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	// One token, then one renewal after it expired (one more if a loaded
	// machine made the first request itself outlive the short TTL).
	if n := len(reg.TokenRequests()); n < 2 || n > 3 {
		t.Fatalf("%d token requests, want 2 (one, then one renewal)", n)
	}
}

func TestResolveAndDigest(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	amd := registrytest.RandomImage(10, 1, 100)
	arm := registrytest.RandomImage(11, 1, 100)
	arm.Platform.OS, arm.Platform.Architecture, arm.Platform.Variant = "linux", "arm", "v7"
	for _, oci := range []bool{false, true} {
		name := "docker"
		if oci {
			name = "oci"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			idx := reg.MustPushIndex(t, "multi/"+name+":1", registrytest.IndexSpec{Images: []registrytest.Image{amd, arm}, OCI: oci, Attestation: true})
			cl := newClient(t, reg, auth.Credential{})
			r := mustRef(t, reg.Ref("multi/"+name+":1"))
			d, err := cl.Digest(t.Context(), r)
			if err != nil || d != idx.Digest {
				t.Fatalf("Digest = %s, %v; want %s", d, err, idx.Digest)
			}
			for _, tc := range []struct {
				platform string
				want     digest.Digest
			}{{"linux/amd64", idx.Manifests[0].Digest}, {"linux/arm/v7", idx.Manifests[1].Digest}} {
				p, _ := image.ParsePlatform(tc.platform)
				img, err := cl.Image(t.Context(), r, p)
				if err != nil {
					t.Fatalf("Image(%s): %v", tc.platform, err)
				}
				if got := img.Chain[len(img.Chain)-1].Descriptor.Digest; got != tc.want {
					t.Fatalf("Image(%s) resolved to %s, want %s", tc.platform, got, tc.want)
				}
				if img.Config.Architecture != p.Architecture {
					t.Fatalf("config architecture %q, want %q", img.Config.Architecture, p.Architecture)
				}
			}
			_, err = cl.Resolve(t.Context(), r, image.Platform{OS: "linux", Architecture: "s390x"})
			var nm *image.NoMatchError
			if !errors.As(err, &nm) || !strings.Contains(err.Error(), "linux/amd64, linux/arm/v7") {
				t.Fatalf("Resolve(s390x) = %v, want a NoMatchError listing the platforms", err)
			}
			pinned := mustRef(t, reg.Ref("multi/"+name+"@"+idx.Manifests[1].Digest.String()))
			if d, err := cl.Digest(t.Context(), pinned); err != nil || d != idx.Manifests[1].Digest {
				t.Fatalf("Digest(pinned) = %s, %v", d, err)
			}
		})
	}
}

func TestTagsPaginate(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	img := registrytest.RandomImage(4, 1, 10)
	want := []string{"a", "b", "c", "d", "e"}
	for _, tag := range want {
		reg.MustPush(t, "team/app:"+tag, img)
	}
	pages := 0
	// Ask the real registry for pages of two, so that it sends Link headers.
	reg.Wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, "/tags/list") {
				pages++
				if r.URL.Query().Get("n") == "" {
					q := r.URL.Query()
					q.Set("n", "2")
					r.URL.RawQuery = q.Encode()
				}
			}
			next.ServeHTTP(w, r)
		})
	})
	tags, err := newClient(t, reg, auth.Credential{}).Tags(t.Context(), mustRef(t, reg.Ref("team/app")))
	if err != nil || !slices.Equal(tags, want) {
		t.Fatalf("Tags = %v, %v; want %v", tags, err, want)
	}
	if pages < 3 {
		t.Fatalf("%d page requests, want at least 3", pages)
	}
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true})
	img := registrytest.RandomImage(5, 1, 10)
	for _, tag := range []string{"1.0", "1.1", "2.0", "latest"} {
		reg.MustPush(t, "team/app:"+tag, img)
	}
	cl := newClient(t, reg, auth.Credential{})
	tests := []struct {
		name, ref string
		head      bool
		missing   registry.Missing
		near      []string
	}{
		{name: "tag by GET", ref: "team/app:1.2", missing: registry.MissingTag, near: []string{"1.0", "1.1", "2.0"}},
		{name: "tag by HEAD", ref: "team/app:1.2", head: true, missing: registry.MissingTag, near: []string{"1.0", "1.1", "2.0"}},
		{name: "nothing near", ref: "team/app:zzzzzzzzzzzz", head: true, missing: registry.MissingTag},
		{name: "repository by GET", ref: "team/nothere:1", missing: registry.MissingRepository},
		{name: "repository by HEAD", ref: "team/nothere:1", head: true, missing: registry.MissingRepository},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var err error
			if tt.head {
				_, err = cl.Head(t.Context(), mustRef(t, reg.Ref(tt.ref)))
			} else {
				_, err = cl.Manifest(t.Context(), mustRef(t, reg.Ref(tt.ref)))
			}
			var re *registry.Error
			if !errors.As(err, &re) || re.Status != http.StatusNotFound {
				t.Fatalf("err = %v, want a 404", err)
			}
			if re.Missing != tt.missing || !slices.Equal(re.NearTags, tt.near) {
				t.Fatalf("Missing %q near %v, want %q near %v", re.Missing, re.NearTags, tt.missing, tt.near)
			}
			if re.Hint() == "" {
				t.Fatal("no hint")
			}
		})
	}
	if _, err := cl.Manifest(t.Context(), mustRef(t, reg.Ref("team/app:9"))); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Fatalf("errors.Is(MANIFEST_UNKNOWN) through wrapping: %v", err)
	}
}

func TestBlobFromContextCancel(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	pushed := reg.MustPush(t, "team/app:1", registrytest.RandomImage(6, 1, 1<<20))
	cl := newClient(t, reg, auth.Credential{})
	ctx, cancel := context.WithCancel(t.Context())
	rc, err := cl.Blob(ctx, mustRef(t, reg.Ref("team/app:1")), pushed.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	cancel()
	if _, err := io.ReadAll(rc); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v, want context.Canceled", err)
	}
}

// TestPlainHTTPFallback: a registry named as a non-loopback host that
// speaks plain HTTP is reached when PlainHTTPFallback is set (docker's
// insecure-registries), and refused with a TLS error when it is not.
func TestPlainHTTPFallback(t *testing.T) {
	reg := registrytest.New(t, registrytest.Config{})
	reg.MustPush(t, "team/app:1", registrytest.RandomImage(1, 1, 1<<10))
	// Every name dials the registry: reg.example:5000 is not loopback.
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, reg.Host())
	}
	for _, fallback := range []bool{true, false} {
		cl, err := registry.New(registry.Config{
			Registry:          "reg.example:5000",
			Transport:         &http.Transport{DialContext: dial},
			PlainHTTPFallback: fallback,
			Retry:             registry.RetryPolicy{Max: -1},
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cl.Manifest(t.Context(), mustRef(t, "reg.example:5000/team/app:1"))
		if fallback && err != nil {
			t.Errorf("with PlainHTTPFallback: %v", err)
		}
		if !fallback && err == nil {
			t.Errorf("without PlainHTTPFallback, a plain HTTP registry on a non-loopback name was reached")
		}
	}
}
