package registry

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/haul-dev/haul/internal/tlstest"
)

func TestLoadCertsDirs(t *testing.T) {
	ca, err := tlstest.NewCA("certs.d CA")
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Issue(tlstest.Leaf{Names: []string{"haul client"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	const host = "127.0.0.1:5000"
	tests := []struct {
		name             string
		files            map[string][]byte // under ROOT/host/
		wantCAs, wantCli int
		wantErr          string // substring; "" for none
	}{
		{"missing dir", nil, 0, 0, ""},
		{"ca only", map[string][]byte{"ca.crt": ca.CertPEM}, 1, 0, ""},
		{"ca and pair", map[string][]byte{"ca.crt": ca.CertPEM, "client.cert": cli.CertPEM, "client.key": cli.KeyPEM}, 1, 1, ""},
		{"other files ignored", map[string][]byte{"README": []byte("x")}, 0, 0, ""},
		{"cert without key", map[string][]byte{"client.cert": cli.CertPEM}, 0, 0, "client.cert has no key"},
		{"key without cert", map[string][]byte{"client.key": cli.KeyPEM}, 0, 0, "client.key has no certificate"},
		{"invalid ca", map[string][]byte{"ca.crt": []byte("not pem")}, 0, 0, "ca.crt holds no valid PEM"},
		{"mismatched pair", map[string][]byte{"client.cert": cli.CertPEM, "client.key": mustKey(t, ca)}, 0, 0, "loading client pair"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if tt.files != nil {
				dir := filepath.Join(root, host)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for n, b := range tt.files {
					if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			hc, err := LoadCertsDirs([]string{filepath.Join(root, "absent"), root}, host)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(hc.CAs) != tt.wantCAs || len(hc.Clients) != tt.wantCli {
				t.Fatalf("got %d CAs, %d client pairs; want %d, %d", len(hc.CAs), len(hc.Clients), tt.wantCAs, tt.wantCli)
			}
		})
	}
}

func mustKey(t *testing.T, ca *tlstest.CA) []byte {
	other, err := ca.Issue(tlstest.Leaf{Names: []string{"other"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	return other.KeyPEM
}
