package registry

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// HostCerts is what docker's certs.d convention holds for one host: CA
// certificates (every ROOT/HOST/*.crt) and client pairs (NAME.cert with
// NAME.key).
type HostCerts struct {
	CAs     []*x509.Certificate
	Clients []tls.Certificate
}

// LoadCertsDirs reads ROOT/host/ under each root in order, as docker reads
// /etc/docker/certs.d/HOST[:PORT]/. host is the host[:port] dialed. A
// missing directory holds nothing; an unreadable or invalid file, or a .cert
// without its .key (or the reverse), is an error naming the file.
func LoadCertsDirs(roots []string, host string) (HostCerts, error) {
	var hc HostCerts
	for _, root := range roots {
		dir := filepath.Join(root, host)
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return hc, fmt.Errorf("reading certs.d directory %s: %w", dir, err)
		}
		names := make([]string, 0, len(ents))
		for _, e := range ents {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		have := map[string]bool{}
		for _, n := range names {
			have[n] = true
		}
		for _, n := range names {
			p := filepath.Join(dir, n)
			switch {
			case strings.HasSuffix(n, ".crt"):
				b, err := os.ReadFile(p)
				if err != nil {
					return hc, fmt.Errorf("reading CA file %s: %w", p, err)
				}
				certs, err := parseCerts(b)
				if err != nil || len(certs) == 0 {
					return hc, fmt.Errorf("CA file %s holds no valid PEM certificate: %v", p, err)
				}
				hc.CAs = append(hc.CAs, certs...)
			case strings.HasSuffix(n, ".cert"):
				key := strings.TrimSuffix(n, ".cert") + ".key"
				if !have[key] {
					return hc, fmt.Errorf("client certificate %s has no key %s: put the key beside it or remove the certificate", p, filepath.Join(dir, key))
				}
				pair, err := tls.LoadX509KeyPair(p, filepath.Join(dir, key))
				if err != nil {
					return hc, fmt.Errorf("loading client pair %s, %s: %w", p, filepath.Join(dir, key), err)
				}
				hc.Clients = append(hc.Clients, pair)
			case strings.HasSuffix(n, ".key"):
				cert := strings.TrimSuffix(n, ".key") + ".cert"
				if !have[cert] {
					return hc, fmt.Errorf("client key %s has no certificate %s: put the certificate beside it or remove the key", p, filepath.Join(dir, cert))
				}
			}
		}
	}
	return hc, nil
}

func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := b; ; {
		var der []byte
		der, rest = nextPEMCert(rest)
		if der == nil {
			return out, nil
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
}

func nextPEMCert(b []byte) ([]byte, []byte) {
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, nil
		}
		if blk.Type == "CERTIFICATE" {
			return blk.Bytes, b
		}
	}
}
