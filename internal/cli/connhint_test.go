package cli

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/registry"
)

// TestConnHint: a connection that could not be made gets a hint that says
// why and what to check, by the library's ConnError kind, through any
// wrapping: a token service's too, rather than the token hint. A stalled
// blob says that a new pull goes on where it stopped.
func TestConnHint(t *testing.T) {
	t.Parallel()
	refused := &registry.ConnError{Host: "127.0.0.1:5099", Kind: registry.ConnRefused,
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	tests := []struct {
		name string
		err  error
		hint []string // each in the hint line
	}{
		{name: "refused", err: fmt.Errorf("fetching manifest of 127.0.0.1:5099/x:1: GET https://127.0.0.1:5099/v2/x/manifests/1: %w", refused),
			hint: []string{"nothing accepts connections at 127.0.0.1:5099", "is the registry running", "name and port", "HTTPS_PROXY"}},
		{name: "no such host", err: fmt.Errorf("checking manifest: %w", &registry.ConnError{Host: "nosuch.invalid:443", Kind: registry.ConnNoSuchHost,
			Err: &net.DNSError{Err: "no such host", Name: "nosuch.invalid", IsNotFound: true}}),
			hint: []string{"the name nosuch.invalid does not resolve", "spelled right", "HTTPS_PROXY"}},
		{name: "timeout", err: &registry.ConnError{Host: "192.0.2.1:443", Kind: registry.ConnTimeout, Err: fmt.Errorf("dial tcp 192.0.2.1:443: no answer within 10s")},
			hint: []string{"nobody answered at 192.0.2.1:443", "firewall", "HTTPS_PROXY"}},
		{name: "proxy", err: &registry.ConnError{Host: "proxy.example:3128", Kind: registry.ConnRefused, Proxy: true, Err: refused.Err},
			hint: []string{"the proxy proxy.example:3128", "could not be reached"}},
		{name: "stall", err: fmt.Errorf("pull x: fetching blob sha256:ab of x: %w", &registry.StallError{Offset: 1024, Size: 5 << 20}),
			hint: []string{"stopped moving", "run the command again", "--idle-timeout"}},
		{name: "token service refused", err: fmt.Errorf("pulling: %w", &auth.TokenError{Realm: "https://auth.example/token", Err: refused}),
			hint: []string{"nothing accepts connections at 127.0.0.1:5099"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			printError(&b, tt.err, nil)
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if len(lines) != 2 || lines[0] != "haul: "+tt.err.Error() || !strings.HasPrefix(lines[1], "hint: ") {
				t.Fatalf("printed %q, want the error and one hint line", b.String())
			}
			for _, h := range tt.hint {
				if !strings.Contains(lines[1], h) {
					t.Errorf("hint %q lacks %q", lines[1], h)
				}
			}
		})
	}
}

// TestConnErrorKind: --json's kind for the registry's connection errors and
// stalls, as the library wraps them.
func TestConnErrorKind(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("pull x: fetching manifest of x: GET https://x/v2/: %w", err) }
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"refused", wrap(&registry.ConnError{Host: "127.0.0.1:5099", Kind: registry.ConnRefused,
			Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}), kindUnreachable},
		{"no such host", wrap(&registry.ConnError{Host: "nosuch.invalid:443", Kind: registry.ConnNoSuchHost,
			Err: &net.DNSError{Err: "no such host", Name: "nosuch.invalid", IsNotFound: true}}), kindUnreachable},
		{"no answer", wrap(&registry.ConnError{Host: "192.0.2.1:443", Kind: registry.ConnTimeout, Err: errors.New("dial tcp 192.0.2.1:443: no answer within 10s")}), kindTimeout},
		{"stall", wrap(&registry.StallError{Offset: 1024, Size: 5 << 20, Err: errors.New("under 1 KiB received in 30s")}), kindTimeout},
		{"stalled upload", wrap(&registry.StalledUploadError{Err: errors.New("no data for the idle timeout")}), kindTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := errorKind(tt.err); got != tt.want {
				t.Errorf("errorKind(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}
