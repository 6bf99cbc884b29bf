// Command tokenserver runs registrytest's token server alone, for a registry
// that runs elsewhere: test/e2e-mirror.sh puts Debian's docker-registry
// (distribution 2.8) behind it with token auth.
//
//	go run ./tools/tokenserver -cert DIR/token.pem -private private/
//
// It writes the signing key's certificate (the registry's rootcertbundle) to
// -cert, prints "realm URL", "service NAME", "issuer NAME", then "ready", and
// runs until SIGINT or SIGTERM. Alice (registrytest.Alice,
// registrytest.AlicePassword) may pull and push anything; anonymous may pull
// what is not under a -private prefix. Each token request is logged to
// stderr as "token user=U scopes=S status=N".
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/haul-dev/haul/internal/registrytest"
)

func main() {
	addr := flag.String("addr", "", "listen address (default: 127.0.0.1 on a free port)")
	cert := flag.String("cert", "", "file to write the signing certificate to (required)")
	private := flag.String("private", "", "comma-separated repository prefixes only Alice may pull")
	flag.Parse()
	if err := run(*addr, *cert, *private); err != nil {
		fmt.Fprintln(os.Stderr, "tokenserver:", err)
		os.Exit(1)
	}
}

func run(addr, cert, private string) error {
	if cert == "" {
		return fmt.Errorf("-cert FILE is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c := registrytest.Config{Addr: addr}
	if private != "" {
		c.Private = strings.Split(private, ",")
	}
	ts, pem, err := registrytest.StartTokenServer(c)
	if err != nil {
		return err
	}
	defer ts.Close()
	if err := os.WriteFile(cert, pem, 0o644); err != nil {
		return err
	}
	fmt.Printf("realm %s\nservice %s\nissuer %s\nready\n", ts.Realm(), ts.Service(), ts.Issuer())
	<-ctx.Done()
	for _, tr := range ts.TokenRequests() {
		fmt.Fprintf(os.Stderr, "token user=%q scopes=%q status=%d\n", tr.User, tr.Scopes, tr.Status)
	}
	return nil
}
