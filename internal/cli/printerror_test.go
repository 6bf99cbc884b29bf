package cli

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/registry"
)

// TestPrintErrorTLS: a TLS failure is one message that says what to do; a
// token realm's TLS failure gets no token hint on top, while a realm that
// cannot be reached for another reason still does.
func TestPrintErrorTLS(t *testing.T) {
	unknown := x509.UnknownAuthorityError{}
	realmTLS := &auth.TokenError{Realm: "https://auth.example/token", Err: unknown}
	tests := []struct {
		name string
		err  error
		hint string // "": no hint line
	}{
		{name: "registry", err: fmt.Errorf("pulling: %w", &registry.TLSError{Host: "reg.example", Err: unknown})},
		{name: "token realm", err: fmt.Errorf("pulling: %w", &registry.TLSError{Host: "auth.example", Err: realmTLS})},
		{name: "realm unreachable", err: fmt.Errorf("pulling: %w", &auth.TokenError{Realm: "https://auth.example/token", Err: errors.New("connection refused")}),
			hint: "hint: the token service https://auth.example/token could not be reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printError(&b, tt.err)
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
