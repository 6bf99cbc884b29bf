package registrytest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const acceptAll = MediaTypeDockerManifest + ", " + MediaTypeDockerManifestList + ", " +
	ocispec.MediaTypeImageManifest + ", " + ocispec.MediaTypeImageIndex

type challenge struct{ scheme, realm, service, scope, err string }

var challengeParam = regexp.MustCompile(`(\w+)="([^"]*)"`)

func parseChallenge(t *testing.T, h string) challenge {
	t.Helper()
	scheme, rest, _ := strings.Cut(h, " ")
	c := challenge{scheme: scheme}
	for _, m := range challengeParam.FindAllStringSubmatch(rest, -1) {
		switch m[1] {
		case "realm":
			c.realm = m[2]
		case "service":
			c.service = m[2]
		case "scope":
			c.scope = m[2]
		case "error":
			c.err = m[2]
		}
	}
	return c
}

func send(t *testing.T, method, u, authz string, form url.Values) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(t.Context(), method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", acceptAll)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	// A transport of its own: another parallel test's httptest.Server.Close
	// closes http.DefaultTransport's idle connections, maybe the one picked.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func basic(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header.Get("Authorization")
}

type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// getToken answers a Bearer challenge with a GET to the realm.
func getToken(t *testing.T, c challenge, authz string) (int, tokenResponse) {
	t.Helper()
	q := url.Values{"service": {c.service}}
	if c.scope != "" {
		q["scope"] = strings.Fields(c.scope)
	}
	resp, body := send(t, http.MethodGet, c.realm+"?"+q.Encode(), authz, nil)
	var tr tokenResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(body, &tr); err != nil {
			t.Fatalf("token response %s: %v", body, err)
		}
	}
	return resp.StatusCode, tr
}

// pull does what a client does with plain net/http: try anonymously, answer the
// challenge at the realm (with authz, if any), and retry with the token.
func pull(t *testing.T, reg *Registry, path, authz string) (*http.Response, []byte) {
	t.Helper()
	resp, body := send(t, http.MethodGet, reg.URL()+path, "", nil)
	if resp.StatusCode != http.StatusUnauthorized {
		return resp, body
	}
	c := parseChallenge(t, resp.Header.Get("WWW-Authenticate"))
	if c.scheme == "Basic" {
		if authz == "" {
			return resp, body
		}
		return send(t, http.MethodGet, reg.URL()+path, authz, nil)
	}
	status, tok := getToken(t, c, authz)
	if status != http.StatusOK {
		t.Fatalf("token server: %d", status)
	}
	return send(t, http.MethodGet, reg.URL()+path, "Bearer "+tok.Token, nil)
}

func TestPullAuth(t *testing.T) {
	t.Parallel()
	tok := Config{TokenAuth: true, Private: []string{"private/"}}
	tests := []struct {
		name      string
		cfg       Config
		repo      string
		authz     string
		want      int
		wantError string // error= of the final challenge
	}{
		{"open registry", Config{}, "team/app", "", 200, ""},
		{"anonymous public", tok, "team/app", "", 200, ""},
		{"anonymous private", tok, "private/app", "", 401, "insufficient_scope"},
		{"alice password private", tok, "private/app", basic(Alice, AlicePassword), 200, ""},
		{"alice PAT private", tok, "private/app", basic(Alice, AlicePAT), 200, ""},
		{"alice public", tok, "team/app", basic(Alice, AlicePAT), 200, ""},
		{"basic anonymous", Config{BasicAuth: true}, "team/app", "", 401, ""},
		{"basic alice password", Config{BasicAuth: true}, "team/app", basic(Alice, AlicePassword), 200, ""},
		{"basic alice PAT", Config{BasicAuth: true}, "team/app", basic(Alice, AlicePAT), 200, ""},
		{"basic wrong password", Config{BasicAuth: true}, "team/app", basic(Alice, "nope"), 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := New(t, tt.cfg)
			want := reg.MustPush(t, tt.repo+":1", RandomImage(1, 1, 64))
			resp, body := pull(t, reg, "/v2/"+tt.repo+"/manifests/1", tt.authz)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			if tt.want == 200 && digest.FromBytes(body) != want.Digest {
				t.Errorf("served digest %s, pushed %s", digest.FromBytes(body), want.Digest)
			}
			if tt.want == 401 {
				c := parseChallenge(t, resp.Header.Get("WWW-Authenticate"))
				if c.err != tt.wantError {
					t.Errorf("challenge %q: error %q, want %q", resp.Header.Get("WWW-Authenticate"), c.err, tt.wantError)
				}
			}
		})
	}
}

func TestChallengeAndTokenServer(t *testing.T) {
	t.Parallel()
	reg := New(t, Config{TokenAuth: true, Private: []string{"private/"}, TokenTTL: 42 * time.Second})
	if reg.Host() == reg.TokenHost() || !strings.HasPrefix(reg.Realm(), "http://"+reg.TokenHost()+"/") {
		t.Fatalf("registry %s and realm %s must be different hosts", reg.Host(), reg.Realm())
	}
	resp, _ := send(t, http.MethodGet, reg.URL()+"/v2/team/app/manifests/latest", "", nil)
	got := resp.Header.Get("WWW-Authenticate")
	want := `Bearer realm="` + reg.Realm() + `",service="` + reg.Service() + `",scope="repository:team/app:pull"`
	if resp.StatusCode != 401 || got != want {
		t.Fatalf("%d %q, want 401 %q", resp.StatusCode, got, want)
	}

	tests := []struct {
		name        string
		authz       string
		scopes      []string
		want        int
		wantUser    string
		wantGranted []string
	}{
		{"anonymous", "", []string{"repository:team/app:pull,push", "repository:private/x:pull"}, 200, "", []string{"repository:team/app:pull"}},
		{"alice", basic(Alice, AlicePassword), []string{"repository:private/x:pull,push"}, 200, Alice, []string{"repository:private/x:pull,push"}},
		{"alice PAT, space-joined scopes", basic(Alice, AlicePAT), []string{"repository:a:pull repository:b:push"}, 200, Alice, []string{"repository:a:pull", "repository:b:push"}},
		{"wrong password", basic(Alice, "wrong"), []string{"repository:a:pull"}, 401, "", nil},
		{"unknown user", basic("mallory", AlicePassword), []string{"repository:a:pull"}, 401, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"service": {reg.Service()}, "scope": tt.scopes, "client_id": {tt.name}}
			resp, body := send(t, http.MethodGet, reg.Realm()+"?"+q.Encode(), tt.authz, nil)
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.want, body)
			}
			if tt.want != 200 {
				var e map[string]string
				if err := json.Unmarshal(body, &e); err != nil || e["error"] == "" {
					t.Errorf("error body %s is not a JSON error", body)
				}
			} else {
				var tr tokenResponse
				if err := json.Unmarshal(body, &tr); err != nil {
					t.Fatal(err)
				}
				if tr.Token == "" || tr.Token != tr.AccessToken || tr.ExpiresIn != 42 {
					t.Errorf("token response %s", body)
				}
				if _, err := time.Parse(time.RFC3339, tr.IssuedAt); err != nil {
					t.Errorf("issued_at: %v", err)
				}
			}
			i := slices.IndexFunc(reg.TokenRequests(), func(r TokenRequest) bool { return r.ClientID == tt.name })
			if i < 0 {
				t.Fatal("request not logged")
			}
			lr := reg.TokenRequests()[i]
			if lr.Method != "GET" || lr.User != tt.wantUser || lr.Status != tt.want || lr.Service != reg.Service() ||
				!slices.Equal(lr.Scopes, tt.scopes) || !slices.Equal(lr.Granted, tt.wantGranted) {
				t.Errorf("logged %+v", lr)
			}
		})
	}
}

func TestTokenPOST(t *testing.T) {
	t.Parallel()
	reg := New(t, Config{TokenAuth: true, Private: []string{"private/"}})
	pushed := reg.MustPush(t, "private/app:1", RandomImage(2, 1, 32))
	scope := "repository:private/app:pull"

	post := func(t *testing.T, r *Registry, form url.Values) (int, tokenResponse) {
		t.Helper()
		resp, body := send(t, http.MethodPost, r.Realm(), "", form)
		var tr tokenResponse
		if resp.StatusCode == 200 {
			if err := json.Unmarshal(body, &tr); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, tr
	}
	pwForm := url.Values{"grant_type": {"password"}, "username": {Alice}, "password": {AlicePAT},
		"client_id": {"haul"}, "access_type": {"offline"}, "service": {reg.Service()}, "scope": {scope}}

	status, first := post(t, reg, pwForm)
	if status != 200 || first.RefreshToken == "" || first.AccessToken == "" || first.Scope != scope {
		t.Fatalf("password grant: %d %+v", status, first)
	}

	tests := []struct {
		name string
		form url.Values
		want int
	}{
		{"refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "client_id": {"haul"}, "service": {reg.Service()}, "scope": {scope}}, 200},
		{"password without offline", url.Values{"grant_type": {"password"}, "username": {Alice}, "password": {AlicePassword}, "client_id": {"haul"}, "scope": {scope}}, 200},
		{"missing client_id", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first.RefreshToken}, "scope": {scope}}, 400},
		{"bad refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt_nope"}, "client_id": {"haul"}, "scope": {scope}}, 401},
		{"wrong password", url.Values{"grant_type": {"password"}, "username": {Alice}, "password": {"x"}, "client_id": {"haul"}, "scope": {scope}}, 401},
		{"unknown grant", url.Values{"grant_type": {"magic"}, "client_id": {"haul"}}, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, tr := post(t, reg, tt.form)
			if status != tt.want {
				t.Fatalf("status %d, want %d", status, tt.want)
			}
			if status != 200 {
				return
			}
			if tt.form.Get("access_type") == "" && tr.RefreshToken != "" {
				t.Error("refresh_token without access_type=offline")
			}
			resp, body := send(t, http.MethodGet, reg.URL()+"/v2/private/app/manifests/1", "Bearer "+tr.AccessToken, nil)
			if resp.StatusCode != 200 || digest.FromBytes(body) != pushed.Digest {
				t.Errorf("pull with token: %d", resp.StatusCode)
			}
		})
	}

	t.Run("RefusePOST", func(t *testing.T) {
		t.Parallel()
		reg := New(t, Config{TokenAuth: true, RefusePOST: true})
		if status, _ := post(t, reg, pwForm); status != http.StatusMethodNotAllowed {
			t.Errorf("POST: %d, want 405", status)
		}
		c := challenge{realm: reg.Realm(), service: reg.Service(), scope: "repository:a:pull"}
		if status, _ := getToken(t, c, basic(Alice, AlicePassword)); status != 200 {
			t.Errorf("GET: %d, want 200", status)
		}
		log := reg.TokenRequests()
		if len(log) != 2 || log[0].Method != "POST" || log[0].Status != 405 || log[0].GrantType != "" {
			t.Errorf("log %+v", log)
		}
	})
}

func TestExpiredToken(t *testing.T) {
	t.Parallel()
	reg := New(t, Config{TokenAuth: true, TokenTTL: 200 * time.Millisecond})
	reg.MustPush(t, "team/app:1", RandomImage(3, 1, 32))
	path := reg.URL() + "/v2/team/app/manifests/1"
	scope := "repository:team/app:pull"

	expired, err := reg.MintToken("", -time.Second, scope)
	if err != nil {
		t.Fatal(err)
	}
	c := challenge{realm: reg.Realm(), service: reg.Service(), scope: scope}
	_, short := getToken(t, c, "")
	if short.ExpiresIn != 1 {
		t.Errorf("expires_in %d, want 1 (rounded up)", short.ExpiresIn)
	}
	if resp, _ := send(t, http.MethodGet, path, "Bearer "+short.Token, nil); resp.StatusCode != 200 {
		t.Fatalf("fresh token: %d", resp.StatusCode)
	}
	time.Sleep(250 * time.Millisecond)

	for name, tok := range map[string]string{"minted expired": expired, "TokenTTL passed": short.Token} {
		t.Run(name, func(t *testing.T) {
			resp, _ := send(t, http.MethodGet, path, "Bearer "+tok, nil)
			ch := parseChallenge(t, resp.Header.Get("WWW-Authenticate"))
			if resp.StatusCode != 401 || ch.err != "invalid_token" || ch.realm != reg.Realm() {
				t.Errorf("%d %q, want 401 invalid_token", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// checkServed fetches p's manifest and blobs and compares them with what was pushed.
func checkServed(t *testing.T, reg *Registry, repo string, ref string, p Pushed) {
	t.Helper()
	resp, body := pull(t, reg, "/v2/"+repo+"/manifests/"+ref, basic(Alice, AlicePassword))
	if resp.StatusCode != 200 {
		t.Fatalf("GET manifest %s: %d %s", ref, resp.StatusCode, body)
	}
	if got := digest.FromBytes(body); got != p.Digest || !bytes.Equal(body, p.Manifest) || int64(len(body)) != p.Size {
		t.Errorf("manifest %s: served sha256 %s, pushed %s", ref, got, p.Digest)
	}
	if ct := resp.Header.Get("Content-Type"); ct != p.MediaType {
		t.Errorf("Content-Type %q, want %q", ct, p.MediaType)
	}
	if dcd := resp.Header.Get("Docker-Content-Digest"); dcd != p.Digest.String() {
		t.Errorf("Docker-Content-Digest %q, want %s", dcd, p.Digest)
	}
	for _, d := range append([]ocispec.Descriptor{p.Config}, p.Layers...) {
		if d.Digest == "" {
			continue
		}
		resp, blob := pull(t, reg, "/v2/"+repo+"/blobs/"+d.Digest.String(), basic(Alice, AlicePassword))
		if resp.StatusCode != 200 || digest.FromBytes(blob) != d.Digest || int64(len(blob)) != d.Size {
			t.Errorf("blob %s: %d, %d bytes", d.Digest, resp.StatusCode, len(blob))
		}
	}
}

func TestPush(t *testing.T) {
	t.Parallel()
	reg := New(t, Config{TokenAuth: true})
	zstdImage := Image{Layers: [][]byte{Zstd(Tar(map[string][]byte{"z": []byte("zstd")}))}, OCI: true}
	tarImage := Image{Layers: [][]byte{Tar(map[string][]byte{"dir/": nil, "dir/t": []byte("plain")})}}
	ociImage := RandomImage(4, 2, 100)
	ociImage.OCI = true
	ociImage.Annotations = map[string]string{"org.opencontainers.image.title": "x"}
	tests := []struct {
		name      string
		img       Image
		wantMT    string
		wantLayer string
	}{
		{"docker", RandomImage(4, 2, 100), MediaTypeDockerManifest, MediaTypeDockerLayerGzip},
		{"oci", ociImage, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageLayerGzip},
		{"oci zstd", zstdImage, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageLayerZstd},
		{"docker tar", tarImage, MediaTypeDockerManifest, MediaTypeDockerLayer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			repo := "push/" + strings.ReplaceAll(tt.name, " ", "-")
			p := reg.MustPush(t, repo+":v1", tt.img)
			if p.MediaType != tt.wantMT || p.Layers[0].MediaType != tt.wantLayer {
				t.Errorf("media types %s, %s", p.MediaType, p.Layers[0].MediaType)
			}
			checkServed(t, reg, repo, "v1", p)
			checkServed(t, reg, repo, p.Digest.String(), p)

			var cfg ocispec.Image
			if err := json.Unmarshal(p.RawConfig, &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.OS != "linux" || cfg.Architecture != "amd64" || len(cfg.RootFS.DiffIDs) != len(tt.img.Layers) {
				t.Errorf("config %s", p.RawConfig)
			}
			for i, l := range tt.img.Layers {
				_, raw, err := layerInfo(l, true)
				if err != nil || cfg.RootFS.DiffIDs[i] != digest.FromBytes(raw) {
					t.Errorf("diff_id %d: %v", i, err)
				}
			}
		})
	}
}

func TestPushIndex(t *testing.T) {
	t.Parallel()
	reg := New(t, Config{TokenAuth: true})
	platforms := []ocispec.Platform{
		{OS: "linux", Architecture: "amd64"},
		{OS: "linux", Architecture: "arm64"},
		{OS: "linux", Architecture: "arm", Variant: "v7"},
	}
	for _, oci := range []bool{true, false} {
		for _, att := range []bool{true, false} {
			name := map[bool]string{true: "oci", false: "docker"}[oci] + map[bool]string{true: "+attestation", false: ""}[att]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				spec := IndexSpec{OCI: oci, Attestation: att}
				for i, pl := range platforms {
					img := RandomImage(int64(10+i), 1, 64)
					img.Platform = pl
					spec.Images = append(spec.Images, img)
				}
				repo := "index/" + strings.ReplaceAll(name, "+", "-")
				p := reg.MustPushIndex(t, repo+":multi", spec)
				checkServed(t, reg, repo, "multi", p)

				var idx ocispec.Index
				if err := json.Unmarshal(p.Manifest, &idx); err != nil {
					t.Fatal(err)
				}
				wantN := len(platforms)
				if att {
					wantN *= 2
				}
				if len(idx.Manifests) != wantN || len(p.Manifests) != wantN {
					t.Fatalf("%d manifests, want %d", len(idx.Manifests), wantN)
				}
				for i, d := range idx.Manifests {
					child := p.Manifests[i]
					checkServed(t, reg, repo, d.Digest.String(), child)
					if i < len(platforms) {
						if d.Platform == nil || platformString(*d.Platform) != platformString(platforms[i]) {
							t.Errorf("manifest %d platform %+v", i, d.Platform)
						}
						continue
					}
					if d.Platform == nil || d.Platform.OS != "unknown" || d.Platform.Architecture != "unknown" ||
						d.Annotations[AnnotationReferenceType] != "attestation-manifest" ||
						d.Annotations[AnnotationReferenceDigest] != idx.Manifests[i-len(platforms)].Digest.String() ||
						d.MediaType != ocispec.MediaTypeImageManifest {
						t.Errorf("attestation %d: %+v", i, d)
					}
				}
			})
		}
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	reg := New(t, Config{TokenAuth: true})
	unavailable := func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		})
	}
	reg.Wrap(unavailable)
	reg.WrapRealm(unavailable)
	p := reg.MustPush(t, "team/app:1", RandomImage(5, 1, 16)) // the helper bypasses faults

	if resp, _ := send(t, http.MethodGet, reg.URL()+"/v2/", "", nil); resp.StatusCode != 429 {
		t.Errorf("wrapped registry: %d", resp.StatusCode)
	}
	if resp, _ := send(t, http.MethodGet, reg.Realm(), "", nil); resp.StatusCode != 429 {
		t.Errorf("wrapped realm: %d", resp.StatusCode)
	}
	reg.Wrap(nil)
	reg.WrapRealm(nil)
	if resp, body := pull(t, reg, "/v2/team/app/manifests/1", ""); resp.StatusCode != 200 || digest.FromBytes(body) != p.Digest {
		t.Errorf("unwrapped: %d", resp.StatusCode)
	}
}

func TestDeterministicContent(t *testing.T) {
	t.Parallel()
	a, b, c := RandomImage(7, 2, 50), RandomImage(7, 2, 50), RandomImage(8, 2, 50)
	ba, _ := buildImage(a)
	bb, _ := buildImage(b)
	bc, _ := buildImage(c)
	if ba.Digest != bb.Digest || ba.Digest == bc.Digest {
		t.Errorf("digests %s %s %s", ba.Digest, bb.Digest, bc.Digest)
	}
	files := map[string][]byte{"b": []byte("2"), "a/": nil, "a/x": []byte("1")}
	if !bytes.Equal(Layer(files), Layer(files)) {
		t.Error("Layer is not deterministic")
	}
}

func TestConfigConflict(t *testing.T) {
	t.Parallel()
	if r, err := Start(Config{TokenAuth: true, BasicAuth: true}); err == nil {
		r.Close()
		t.Error("TokenAuth with BasicAuth accepted")
	}
}
