// Command headerlog is a reverse proxy that logs the headers a registry's
// access log leaves out: test/e2e-mirror.sh puts it in front of the mirror to
// show that haul never sends the mirror the upstream's credentials.
//
//	headerlog -to http://127.0.0.1:5001 -log FILE
//
// It listens on 127.0.0.1 on a free port, prints "listening 127.0.0.1:PORT",
// and writes one line per request to FILE:
//
//	GET /v2/x/manifests/1 user-agent="haul/dev (linux/amd64)" authorization="Basic …"
//
// with the Authorization header in full (or authorization=none): it is for
// tests, whose credentials are no secret. It runs until SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

func main() {
	to := flag.String("to", "", "URL of the server to forward to (required)")
	logPath := flag.String("log", "", "file to append request lines to (required)")
	flag.Parse()
	if err := run(*to, *logPath); err != nil {
		fmt.Fprintln(os.Stderr, "headerlog:", err)
		os.Exit(1)
	}
}

func run(to, logPath string) error {
	if to == "" || logPath == "" {
		return fmt.Errorf("-to URL and -log FILE are required")
	}
	target, err := url.Parse(to)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		if authz == "" {
			authz = "none"
		}
		mu.Lock()
		fmt.Fprintf(f, "%s %s user-agent=%q authorization=%q\n", r.Method, r.URL.RequestURI(), r.UserAgent(), authz)
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	})}
	fmt.Printf("listening %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
