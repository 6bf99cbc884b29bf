package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// defaultDialTimeout bounds one dial: a host that answers nothing (a firewall
// dropping packets, a wrong address) fails this soon, and is not dialed again.
const defaultDialTimeout = 10 * time.Second

// ConnKind says why a connection could not be made.
type ConnKind string

// The ways a connection fails before any request is sent.
const (
	ConnRefused     ConnKind = "refused"      // nothing listens at the host and port (ECONNREFUSED)
	ConnNoSuchHost  ConnKind = "no-such-host" // the name does not resolve (NXDOMAIN)
	ConnLookup      ConnKind = "lookup"       // the name could not be looked up: no DNS server answered
	ConnTimeout     ConnKind = "timeout"      // nobody answered within the dial timeout
	ConnUnreachable ConnKind = "unreachable"  // no route to the network or the host
	ConnOther       ConnKind = "other"
)

// ConnError says that no connection could be made to Host: the registry's,
// its token service's, a host a blob redirected to, or the proxy's. No request
// was sent, and none is retried: asking again a moment later meets the same
// closed port or missing name, so a refused mirror is passed over at once.
// Match it with errors.As; Kind says why.
type ConnError struct {
	Host  string // host:port dialed
	Kind  ConnKind
	Proxy bool  // Host is a proxy (HTTPS_PROXY, HTTP_PROXY), not the server
	Err   error // the dialer's error
}

func (e *ConnError) Error() string {
	if e.Proxy {
		return fmt.Sprintf("connecting to proxy %s: %v", e.Host, e.Err)
	}
	return e.Err.Error()
}

func (e *ConnError) Unwrap() error { return e.Err }

// dialTimeoutError is a dial that nobody answered in time.
type dialTimeoutError struct {
	network, addr string
	after         time.Duration
}

func (e *dialTimeoutError) Error() string {
	return fmt.Sprintf("dial %s %s: no answer within %s", e.network, e.addr, e.after)
}

func (e *dialTimeoutError) Timeout() bool   { return true }
func (e *dialTimeoutError) Temporary() bool { return false }

// dialer bounds each dial by timeout and reports every failure as a
// *ConnError.
type dialer struct {
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout time.Duration
}

func newDialer(c Config) dialer {
	d := dialer{dial: c.Dial, timeout: c.DialTimeout}
	if d.dial == nil {
		d.dial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	if d.timeout <= 0 {
		d.timeout = defaultDialTimeout
	}
	return d
}

func (d dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	dctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	conn, err := d.dial(dctx, network, addr)
	switch {
	case err == nil:
		return conn, nil
	case ctx.Err() != nil:
		return nil, err // the caller gave up, not the dial
	case dctx.Err() != nil:
		err = &dialTimeoutError{network: network, addr: addr, after: d.timeout}
	}
	return nil, &ConnError{Host: addr, Kind: connKind(err), Err: err}
}

// connKind classifies a dial's error.
func connKind(err error) ConnKind {
	var dns *net.DNSError
	var ne net.Error
	switch {
	case errors.As(err, &dns) && dns.IsNotFound:
		return ConnNoSuchHost
	case errors.As(err, &dns):
		return ConnLookup
	case isRefused(err):
		return ConnRefused
	case isUnreachable(err):
		return ConnUnreachable
	case errors.As(err, &ne) && ne.Timeout():
		return ConnTimeout
	}
	return ConnOther
}

// dialFailure is err as a *ConnError when it is a failure to connect: one
// from this package's dialer, or a dial or lookup error from a transport of
// the caller's (Config.Transport). A failure to reach a proxy says so.
func dialFailure(err error) (*ConnError, bool) {
	var ce *ConnError
	var oe *net.OpError
	var dns *net.DNSError
	proxy := errors.As(err, &oe) && oe.Op == "proxyconnect"
	switch {
	case errors.As(err, &ce):
		if proxy && !ce.Proxy {
			c := *ce
			c.Proxy = true
			return &c, true
		}
		return ce, true
	case errors.As(err, &oe) && (oe.Op == "dial" || proxy):
		host := ""
		switch {
		case oe.Addr != nil:
			host = oe.Addr.String()
		case errors.As(err, &dns):
			host = dns.Name // a lookup fails before there is an address
		}
		return &ConnError{Host: host, Kind: connKind(err), Proxy: proxy, Err: oe}, true
	case errors.As(err, &dns):
		return &ConnError{Host: dns.Name, Kind: connKind(err), Err: dns}, true
	}
	return nil, false
}

// connRT sits just above the bottom of the stack, so that every layer above
// (retries, mirrors, error messages) sees a failure to connect as a
// *ConnError, whatever transport made it.
type connRT struct{ next http.RoundTripper }

func (t connRT) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		if ce, ok := dialFailure(err); ok {
			return nil, ce
		}
	}
	return resp, err
}
