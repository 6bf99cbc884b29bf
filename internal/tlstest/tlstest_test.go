package tlstest

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

func TestIssueVerifies(t *testing.T) {
	ca, err := NewCA("haul test CA")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		name    string
		leaf    Leaf
		host    string
		usage   x509.ExtKeyUsage
		wantErr func(error) bool // nil: must verify
	}{
		{"server by IP", Leaf{Names: []string{"127.0.0.1", "localhost"}}, "127.0.0.1", x509.ExtKeyUsageServerAuth, nil},
		{"server by name", Leaf{Names: []string{"127.0.0.1", "localhost"}}, "localhost", x509.ExtKeyUsageServerAuth, nil},
		{"client", Leaf{Names: []string{"haul client"}, Client: true}, "", x509.ExtKeyUsageClientAuth, nil},
		{"wrong name", Leaf{Names: []string{"other.example"}}, "127.0.0.1", x509.ExtKeyUsageServerAuth,
			func(err error) bool { var h x509.HostnameError; return errors.As(err, &h) }},
		{"expired", Leaf{Names: []string{"127.0.0.1"}, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)},
			"127.0.0.1", x509.ExtKeyUsageServerAuth,
			func(err error) bool {
				var c x509.CertificateInvalidError
				return errors.As(err, &c) && c.Reason == x509.Expired
			}},
		{"client cert is no server cert", Leaf{Names: []string{"127.0.0.1"}, Client: true}, "", x509.ExtKeyUsageServerAuth,
			func(err error) bool {
				var c x509.CertificateInvalidError
				return errors.As(err, &c) && c.Reason == x509.IncompatibleUsage
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ca.Issue(tt.leaf)
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.Cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: tt.host, KeyUsages: []x509.ExtKeyUsage{tt.usage}})
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("Verify: %v", err)
			case tt.wantErr != nil && (err == nil || !tt.wantErr(err)):
				t.Fatalf("Verify: got %v, want the other failure", err)
			}
		})
	}
}

func TestIssueNoNames(t *testing.T) {
	ca, err := NewCA("haul test CA")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue(Leaf{}); err == nil {
		t.Fatal("Issue with no names: no error")
	}
}

func TestWriteLoads(t *testing.T) {
	ca, err := NewCA("haul test CA")
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.Issue(Leaf{Names: []string{"haul client"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "client.cert"), filepath.Join(dir, "client.key")
	if err := p.Write(cf, kf); err != nil {
		t.Fatal(err)
	}
	got, err := tls.LoadX509KeyPair(cf, kf)
	if err != nil {
		t.Fatalf("loading what Write wrote: %v", err)
	}
	if len(got.Certificate) != 1 || string(got.Certificate[0]) != string(p.Cert.Raw) {
		t.Fatal("loaded certificate differs from the issued one")
	}
}
