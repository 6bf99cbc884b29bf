// Command mkcerts writes a throwaway CA and the certificates it signs, for
// the e2e scripts that run a registry behind TLS and mutual TLS:
//
//	mkcerts -dir DIR [-names 127.0.0.1,localhost]
//
// DIR gets ca.crt, server.crt and server.key (for the names), client.cert
// and client.key (a client certificate the CA signed, in certs.d's naming),
// stranger.cert and stranger.key (one signed by a CA nobody trusts), and two
// server certificates the CA signed that no client should accept:
// expired.crt/.key (for the names, expired a day ago) and
// wrongname.crt/.key (for other.example only).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/haul-dev/haul/internal/tlstest"
)

func main() {
	dir := flag.String("dir", "", "directory to write into (created)")
	names := flag.String("names", "127.0.0.1,localhost", "comma-separated names of the server certificate")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "usage: mkcerts -dir DIR [-names 127.0.0.1,localhost]")
		os.Exit(2)
	}
	if err := run(*dir, strings.Split(*names, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "mkcerts:", err)
		os.Exit(1)
	}
}

func run(dir string, names []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ca, err := tlstest.NewCA("haul e2e CA")
	if err != nil {
		return err
	}
	other, err := tlstest.NewCA("untrusted e2e CA")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), ca.CertPEM, 0o644); err != nil {
		return err
	}
	now := time.Now()
	for _, c := range []struct {
		ca        *tlstest.CA
		leaf      tlstest.Leaf
		cert, key string
	}{
		{ca, tlstest.Leaf{Names: names}, "server.crt", "server.key"},
		{ca, tlstest.Leaf{Names: []string{"haul e2e client"}, Client: true}, "client.cert", "client.key"},
		{other, tlstest.Leaf{Names: []string{"stranger"}, Client: true}, "stranger.cert", "stranger.key"},
		{ca, tlstest.Leaf{Names: names, NotBefore: now.Add(-48 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}, "expired.crt", "expired.key"},
		{ca, tlstest.Leaf{Names: []string{"other.example"}}, "wrongname.crt", "wrongname.key"},
	} {
		p, err := c.ca.Issue(c.leaf)
		if err != nil {
			return err
		}
		if err := p.Write(filepath.Join(dir, c.cert), filepath.Join(dir, c.key)); err != nil {
			return err
		}
	}
	return nil
}
