package registry_test

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/internal/tlstest"
	"github.com/haul-dev/haul/registry"
)

// tlsFixture is a CA, a second CA nobody trusts, and certificates they sign.
type tlsFixture struct {
	ca, other              *tlstest.CA
	server, wrongName, old *tlstest.Pair // for 127.0.0.1; for other.example; expired
	client, otherClient    *tlstest.Pair // signed by ca; by other
}

func newTLSFixture(t *testing.T) tlsFixture {
	t.Helper()
	var f tlsFixture
	var err error
	must := func(p *tlstest.Pair, err error) *tlstest.Pair {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if f.ca, err = tlstest.NewCA("haul test CA"); err != nil {
		t.Fatal(err)
	}
	if f.other, err = tlstest.NewCA("untrusted CA"); err != nil {
		t.Fatal(err)
	}
	f.server = must(f.ca.Issue(tlstest.Leaf{Names: []string{"127.0.0.1", "localhost"}}))
	f.wrongName = must(f.ca.Issue(tlstest.Leaf{Names: []string{"other.example", "10.9.9.9"}}))
	f.old = must(f.ca.Issue(tlstest.Leaf{Names: []string{"127.0.0.1"}, NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)}))
	f.client = must(f.ca.Issue(tlstest.Leaf{Names: []string{"haul client"}, Client: true}))
	f.otherClient = must(f.other.Issue(tlstest.Leaf{Names: []string{"stranger"}, Client: true}))
	return f
}

// certsDir writes files (name -> content) into a new root/host/ and
// returns root.
func certsDir(t *testing.T, host string, files map[string][]byte) string {
	t.Helper()
	root := t.TempDir()
	writeCerts(t, root, host, files)
	return root
}

// writeCerts writes files (name -> content) into root/host/.
func writeCerts(t *testing.T, root, host string, files map[string][]byte) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, host, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTLS runs the real registry over TLS, then over mutual TLS, and checks
// each way haul can be set up to trust it or fail to, with the message that
// says what to do. The registries are on 127.0.0.1, so requests go through
// the loopback fallback (https, then http if it answers so): a TLS failure
// must come out as itself, not as a failed plain-HTTP retry.
func TestTLS(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	servers := map[string]*registrytest.Registry{}
	for name, c := range map[string]*tls.Config{
		"tls":       {Certificates: []tls.Certificate{f.server.TLS}},
		"mtls":      {Certificates: []tls.Certificate{f.server.TLS}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: f.ca.Pool()},
		"wrongname": {Certificates: []tls.Certificate{f.wrongName.TLS}},
		"expired":   {Certificates: []tls.Certificate{f.old.TLS}},
	} {
		reg := registrytest.New(t, registrytest.Config{TokenAuth: true, TLS: c, TLSClient: &tls.Config{RootCAs: f.ca.Pool(), Certificates: []tls.Certificate{f.client.TLS}, InsecureSkipVerify: name != "tls" && name != "mtls"}})
		reg.MustPush(t, "team/app:1", registrytest.RandomImage(20, 1, 100))
		servers[name] = reg
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, f.ca.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	pair := func(p *tlstest.Pair) map[string][]byte {
		return map[string][]byte{"ca.crt": f.ca.CertPEM, "client.cert": p.CertPEM, "client.key": p.KeyPEM}
	}
	tests := []struct {
		name   string
		server string
		dirs   func(host string) []string
		mod    func(*registry.Config)
		want   []string // parts of the error; none: success
	}{
		{name: "unknown authority", server: "tls",
			dirs: func(string) []string { return []string{"/user/certs.d", "/etc/docker/certs.d"} },
			want: []string{"certificate signed by unknown authority (issuer CN=haul test CA,O=haul tests)",
				"put the registry's CA certificate in /user/certs.d/HOST/ca.crt (or /etc/docker/certs.d/HOST/ca.crt), pass --ca-file FILE, or skip verification with --insecure"}},
		{name: "CA in certs.d", server: "tls",
			dirs: func(h string) []string { return []string{certsDir(t, h, map[string][]byte{"ca.crt": f.ca.CertPEM})} }},
		{name: "CA in the second root", server: "tls",
			dirs: func(h string) []string {
				return []string{t.TempDir(), certsDir(t, h, map[string][]byte{"corp.crt": f.ca.CertPEM})}
			}},
		{name: "CA of another host", server: "tls",
			dirs: func(string) []string {
				return []string{certsDir(t, "127.0.0.1:1", map[string][]byte{"ca.crt": f.ca.CertPEM})}
			},
			want: []string{"unknown authority"}},
		{name: "CA file", server: "tls", mod: func(c *registry.Config) { c.CAFile = caFile }},
		{name: "insecure", server: "tls", mod: func(c *registry.Config) { c.Insecure = true }},
		{name: "wrong name", server: "wrongname", mod: func(c *registry.Config) { c.CAFile = caFile },
			want: []string{"the certificate is valid for other.example, 10.9.9.9, not 127.0.0.1"}},
		{name: "expired", server: "expired", mod: func(c *registry.Config) { c.CAFile = caFile },
			want: []string{"the certificate of CN=127.0.0.1 expired on " + f.old.Cert.NotAfter.UTC().Format(time.DateTime), "renew it"}},
		{name: "mTLS without a client certificate", server: "mtls",
			dirs: func(h string) []string { return []string{certsDir(t, h, map[string][]byte{"ca.crt": f.ca.CertPEM})} },
			want: []string{"the registry asks for a client certificate (tls: ", "put NAME.cert and NAME.key in "}},
		{name: "mTLS with the pair in certs.d", server: "mtls",
			dirs: func(h string) []string { return []string{certsDir(t, h, pair(f.client))} }},
		{name: "mTLS with a pair it does not trust", server: "mtls",
			dirs: func(h string) []string { return []string{certsDir(t, h, pair(f.otherClient))} },
			want: []string{"the registry refused haul's client certificate (tls: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := servers[tt.server]
			c := registry.Config{Registry: reg.Host(), Creds: auth.Static{}, Retry: registry.RetryPolicy{Max: -1}}
			if tt.dirs != nil {
				c.CertsDirs = tt.dirs(reg.Host())
			}
			if tt.mod != nil {
				tt.mod(&c)
			}
			cl, err := registry.New(c)
			if err != nil {
				t.Fatal(err)
			}
			d, err := cl.Digest(t.Context(), mustRef(t, reg.Ref("team/app:1")))
			if len(tt.want) == 0 {
				if err != nil || d == "" {
					t.Fatalf("Digest = %s, %v", d, err)
				}
				if cl.BaseURL() != "https://"+reg.Host() {
					t.Fatalf("BaseURL %s, want https", cl.BaseURL())
				}
				return
			}
			var te *registry.TLSError
			if !errors.As(err, &te) {
				t.Fatalf("err = %v, want a *TLSError", err)
			}
			for _, w := range tt.want {
				if w = strings.ReplaceAll(w, "HOST", reg.Host()); !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

// TestCertsDirsBroken: a half pair or a bad CA file fails New, naming it.
func TestCertsDirsBroken(t *testing.T) {
	f := newTLSFixture(t)
	for name, files := range map[string]map[string][]byte{
		"client.cert": {"client.cert": f.client.CertPEM},
		"ca.crt":      {"ca.crt": []byte("not PEM")},
	} {
		root := certsDir(t, "reg.example:5000", files)
		_, err := registry.New(registry.Config{Registry: "reg.example:5000", CertsDirs: []string{root}})
		if want := filepath.Join(root, "reg.example:5000", name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: New error %v, want one naming %s", name, err, want)
		}
	}
}

// TestTLSOtherHosts: the token realm and the CDN a blob redirects to are
// other TLS hosts. Each is dialed with its own certs.d directory: its CAs
// and its own client pair, never the registry's, and a TLS failure there
// names that host and its directory, not the registry's.
func TestTLSOtherHosts(t *testing.T) {
	t.Parallel()
	f := newTLSFixture(t)
	must := func(p *tlstest.Pair, err error) *tlstest.Pair {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	realmClient := must(f.ca.Issue(tlstest.Leaf{Names: []string{"realm client"}, Client: true}))
	cdnClient := must(f.ca.Issue(tlstest.Leaf{Names: []string{"cdn client"}, Client: true}))
	pair := func(p *tlstest.Pair) map[string][]byte {
		return map[string][]byte{"ca.crt": f.ca.CertPEM, "client.cert": p.CertPEM, "client.key": p.KeyPEM}
	}
	caOnly := map[string][]byte{"ca.crt": f.ca.CertPEM}
	blob := []byte("layer bytes")
	dg := digest.FromBytes(blob)
	tests := []struct {
		name       string
		realm, cdn map[string][]byte // their certs.d files; nil: no directory
		sent       map[string]string // server -> CN of the client certificate it saw ("" none)
		failed     string            // "realm" or "cdn": the TLS error names that host
	}{
		{name: "the registry's pair stays with the registry", realm: caOnly, cdn: caOnly,
			sent: map[string]string{"registry": "haul client", "realm": "", "cdn": ""}},
		{name: "each host is offered its own pair", realm: pair(realmClient), cdn: pair(cdnClient),
			sent: map[string]string{"registry": "haul client", "realm": "realm client", "cdn": "cdn client"}},
		{name: "the realm's CA is unknown", cdn: caOnly, failed: "realm"},
		{name: "the CDN's CA is unknown", realm: caOnly, failed: "cdn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			sent := map[string]string{}
			start := func(name string, h http.HandlerFunc) string {
				s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					mu.Lock()
					if pc := r.TLS.PeerCertificates; len(pc) > 0 {
						sent[name] = pc[0].Subject.CommonName
					} else if _, ok := sent[name]; !ok {
						sent[name] = ""
					}
					mu.Unlock()
					h(w, r)
				}))
				s.TLS = &tls.Config{Certificates: []tls.Certificate{f.server.TLS}, ClientAuth: tls.RequestClientCert}
				s.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
				s.StartTLS()
				t.Cleanup(s.Close)
				return strings.TrimPrefix(s.URL, "https://")
			}
			cdnHost := start("cdn", func(w http.ResponseWriter, r *http.Request) { w.Write(blob) })
			realmHost := start("realm", func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"token":"t"}`)
			})
			regHost := start("registry", func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer t" {
					w.Header().Set("WWW-Authenticate", `Bearer realm="https://`+realmHost+`/token",service="reg"`)
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				http.Redirect(w, r, "https://"+cdnHost+"/blob", http.StatusTemporaryRedirect)
			})
			root := certsDir(t, regHost, pair(f.client))
			writeCerts(t, root, realmHost, tt.realm)
			writeCerts(t, root, cdnHost, tt.cdn)
			cl, err := registry.New(registry.Config{Registry: regHost, Creds: auth.Static{}, CertsDirs: []string{root}, Retry: registry.RetryPolicy{Max: -1}})
			if err != nil {
				t.Fatal(err)
			}
			rc, err := cl.Blob(t.Context(), mustRef(t, regHost+"/team/app@"+dg.String()), image.Descriptor{MediaType: image.MediaTypeDockerLayerGzip, Digest: dg, Size: int64(len(blob))})
			if tt.failed != "" {
				host := map[string]string{"realm": realmHost, "cdn": cdnHost}[tt.failed]
				var te *registry.TLSError
				if !errors.As(err, &te) || te.Host != host {
					t.Fatalf("err = %v, want a *TLSError with %s (%s)", err, tt.failed, host)
				}
				if want := "put the registry's CA certificate in " + filepath.Join(root, host, "ca.crt"); !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q\nlacks %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || string(got) != string(blob) {
				t.Fatalf("blob %q, %v", got, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if !maps.Equal(sent, tt.sent) {
				t.Errorf("client certificates seen (server: CN) %v, want %v", sent, tt.sent)
			}
		})
	}
}
