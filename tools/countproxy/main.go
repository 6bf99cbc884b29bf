// Command countproxy is a TCP proxy that counts the bytes clients send
// through it to one server: bench/resume.sh puts it in front of a registry so
// that what a resumed upload costs is counted as the registry receives it,
// not as the client reports it.
//
//	countproxy -listen 127.0.0.1:0 -to 127.0.0.1:5000 -out FILE
//
// It prints "listening 127.0.0.1:PORT" once it accepts connections, and on
// SIGINT or SIGTERM closes every connection and writes to FILE, as one
// decimal line, the bytes it wrote to the server (client to server only,
// headers and bodies alike: everything on the wire above TCP), and the
// number of connections, as "BYTES CONNECTIONS". A second countproxy may
// then listen on the same address, so that a client that keeps state per
// registry address (haul's upload sessions) sees the same registry.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	to := flag.String("to", "", "host:port of the server to forward to (required)")
	out := flag.String("out", "", "file to write the count to at exit (required)")
	flag.Parse()
	if err := run(*listen, *to, *out); err != nil {
		fmt.Fprintln(os.Stderr, "countproxy:", err)
		os.Exit(1)
	}
}

func run(listen, to, out string) error {
	if to == "" || out == "" {
		return errors.New("-to HOST:PORT and -out FILE are required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	p := &proxy{to: to, conns: map[net.Conn]bool{}}
	fmt.Printf("listening %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			break // closed at the signal
		}
		go p.serve(ctx, c)
	}
	p.closeAll()
	return writeCount(out, p.sent.Load(), p.accepted.Load())
}

// proxy forwards each connection to one server and counts what it writes
// there.
type proxy struct {
	to       string
	sent     atomic.Int64 // bytes written to the server
	accepted atomic.Int64 // connections accepted
	mu       sync.Mutex
	conns    map[net.Conn]bool
	wg       sync.WaitGroup
}

func (p *proxy) serve(ctx context.Context, client net.Conn) {
	p.accepted.Add(1)
	var d net.Dialer
	server, err := d.DialContext(ctx, "tcp", p.to)
	if err != nil {
		fmt.Fprintln(os.Stderr, "countproxy:", err)
		client.Close()
		return
	}
	if !p.track(client, server) {
		return
	}
	var both sync.WaitGroup
	both.Add(2)
	go func() { // client to server, counted
		defer both.Done()
		io.Copy(counter{server, &p.sent}, client)
		closeWrite(server)
	}()
	go func() {
		defer both.Done()
		io.Copy(client, server)
		closeWrite(client)
	}()
	both.Wait()
	p.untrack(client, server)
}

// track registers a pair of connections, or closes them if the proxy is
// closing.
func (p *proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	p.wg.Add(1)
	for _, c := range conns {
		p.conns[c] = true
	}
	return true
}

func (p *proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	for _, c := range conns {
		c.Close()
		delete(p.conns, c)
	}
	p.mu.Unlock()
	p.wg.Done()
}

// closeAll closes every connection and waits until each copy has counted
// its last write.
func (p *proxy) closeAll() {
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

// counter adds what it writes to n.
type counter struct {
	w io.Writer
	n *atomic.Int64
}

func (c counter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// writeCount writes "BYTES CONNECTIONS" to name, whole or not at all.
func writeCount(name string, sent, conns int64) error {
	tmp, err := os.CreateTemp(filepath.Dir(name), ".countproxy-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := fmt.Fprintf(tmp, "%d %d\n", sent, conns); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), name)
}
