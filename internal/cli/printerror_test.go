package cli

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/registry"
)

// TestPrintError: a TLS failure is one message that says what to do; a
// token realm's TLS failure gets no token hint on top, while a realm that
// cannot be reached for another reason still does. A full disk says what
// to free or where else to write.
func TestPrintError(t *testing.T) {
	unknown := x509.UnknownAuthorityError{}
	realmTLS := &auth.TokenError{Realm: "https://auth.example/token", Err: unknown}
	tests := []struct {
		name string
		err  error
		hint string // "": no hint line
	}{
		{name: "registry", err: fmt.Errorf("pulling: %w", &registry.TLSError{Host: "reg.example", Err: unknown})},
		{name: "token realm", err: fmt.Errorf("pulling: %w", &registry.TLSError{Host: "auth.example", Err: realmTLS})},
		{name: "archive too large", err: fmt.Errorf("write archive a.tar: %w", &disk.SpaceError{Need: 3 << 30, Free: 1 << 30}),
			hint: "hint: the output takes 3.0 GiB, and its disk has 1.0 GiB free: free some space, or write it to another disk with -o."},
		{name: "disk full", err: fmt.Errorf("fetching blob: write x: %w", syscall.ENOSPC),
			hint: "hint: the disk is full: free some space"},
		{name: "realm unreachable", err: fmt.Errorf("pulling: %w", &auth.TokenError{Realm: "https://auth.example/token", Err: errors.New("connection refused")}),
			hint: "hint: the token service https://auth.example/token could not be reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printError(&b, tt.err, nil)
			lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
			if lines[0] != "haul: "+tt.err.Error() {
				t.Fatalf("first line %q, want the error", lines[0])
			}
			switch {
			case tt.hint == "" && len(lines) != 1:
				t.Fatalf("printed %q, want the message alone", b.String())
			case tt.hint != "" && (len(lines) != 2 || !strings.HasPrefix(lines[1], tt.hint)):
				t.Fatalf("printed %q, want a line starting %q", b.String(), tt.hint)
			}
		})
	}
}
