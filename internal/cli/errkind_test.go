package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/engine"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/rootfs"
)

// TestErrorKind injects each error type the library exports, wrapped as
// the library wraps them, and checks the kind a --json error names.
func TestErrorKind(t *testing.T) {
	t.Parallel()
	wrap := func(err error) error { return fmt.Errorf("pull docker.io/library/alpine:3: fetch layer: %w", err) }
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"usage", usagef("digest takes one REF"), kindUsage},
		{"canceled", wrap(context.Canceled), kindCanceled},
		{"canceled while dialing", wrap(fmt.Errorf("%w: %w", context.Canceled, refused)), kindCanceled},
		{"manifest unknown", wrap(&registry.Error{Status: 404, Errors: []registry.Detail{{Code: registry.ErrManifestUnknown}}}), kindNotFound},
		{"repository unknown", wrap(&registry.Error{Status: 404, Missing: registry.MissingRepository}), kindNotFound},
		{"blob unknown", wrap(&registry.Error{Status: 404, Errors: []registry.Detail{{Code: registry.ErrBlobUnknown}}}), kindNotFound},
		{"401", wrap(&registry.Error{Status: 401, Errors: []registry.Detail{{Code: registry.ErrUnauthorized}}}), kindUnauthorized},
		{"403 denied", wrap(&registry.Error{Status: 403, Errors: []registry.Detail{{Code: registry.ErrDenied}}}), kindUnauthorized},
		{"429", wrap(&registry.Error{Status: 429}), kindRateLimited},
		{"TOOMANYREQUESTS in a 403", wrap(&registry.Error{Status: 403, Errors: []registry.Detail{{Code: registry.ErrTooManyRequests}}}), kindRateLimited},
		{"503", wrap(&registry.Error{Status: 503}), kindServer},
		{"400", wrap(&registry.Error{Status: 400, Errors: []registry.Detail{{Code: registry.ErrManifestInvalid}}}), kindRegistry},
		{"token refused", wrap(&auth.TokenError{Realm: "https://auth.example/token", Status: 401}), kindUnauthorized},
		{"token realm down", wrap(&auth.TokenError{Realm: "https://auth.example/token", Err: refused}), kindUnreachable},
		{"token realm garbage", wrap(&auth.TokenError{Realm: "https://auth.example/token", Err: errors.New("no token in the answer")}), kindOther},
		{"tls", wrap(&registry.TLSError{Host: "reg.example", Err: x509.UnknownAuthorityError{}}), kindTLS},
		{"tls of the token realm", wrap(&registry.TLSError{Host: "auth.example", Err: &auth.TokenError{Err: x509.UnknownAuthorityError{}}}), kindTLS},
		{"does not fit", wrap(&disk.SpaceError{Path: "/x", Need: 3 << 30, Free: 1 << 30}), kindNoSpace},
		{"ENOSPC", wrap(&os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}), kindNoSpace},
		{"digest mismatch", wrap(&image.DigestError{What: "blob", Want: "sha256:a", Got: "sha256:b"}), kindDigestMismatch},
		{"size mismatch", wrap(&image.SizeError{What: "blob", Want: 10, Got: 11}), kindDigestMismatch},
		{"no platform", wrap(&image.NoMatchError{Want: image.Platform{OS: "linux", Architecture: "s390x"}}), kindNoPlatform},
		{"platform of a single image", wrap(&image.PlatformError{Want: image.Platform{OS: "linux", Architecture: "arm64"}, Have: image.Platform{OS: "linux", Architecture: "amd64"}}), kindNoPlatform},
		{"engine not answering", wrap(&engine.UnreachableError{Request: "GET /_ping", Err: refused}), kindUnreachable},
		{"engine refusing", wrap(&engine.Error{Request: "POST /images/load", Status: 500, Message: "no space"}), kindEngine},
		{"engine address unsupported", &engine.UnsupportedError{Reason: "ssh:// is not supported"}, kindEngine},
		{"unpack limit", wrap(&rootfs.LimitError{What: "size", Limit: 10}), kindLimit},
		{"refused", wrap(refused), kindUnreachable},
		{"no such host", wrap(&net.DNSError{Err: "no such host", Name: "nosuch.invalid", IsNotFound: true}), kindUnreachable},
		{"DNS timeout", wrap(&net.DNSError{Err: "i/o timeout", Name: "slow.example", IsTimeout: true}), kindTimeout},
		{"deadline", wrap(context.DeadlineExceeded), kindTimeout},
		{"dial timeout", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}), kindTimeout},
		{"plain", errors.New("something else"), kindOther},
		{"EOF", wrap(io.ErrUnexpectedEOF), kindOther},
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

// TestJSONErrors runs failing commands with --json: stderr is one line of
// JSON with the error, its kind and the hint, and the exit code is as
// without --json.
func TestJSONErrors(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{TokenAuth: true, Private: []string{"private/"}})
	reg.MustPush(t, "team/app:1", registrytest.RandomImage(60, 1, 10))
	reg.MustPushIndex(t, "team/multi:1", registrytest.IndexSpec{Images: []registrytest.Image{registrytest.RandomImage(63, 1, 10)}, OCI: true})
	reg.MustPush(t, "private/app:1", registrytest.RandomImage(61, 1, 10))
	broken := registrytest.New(t, registrytest.Config{})
	broken.MustPush(t, "team/app:1", registrytest.RandomImage(62, 1, 10))
	broken.Wrap(func(http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) })
	})
	env := homeEnv(t)
	tests := []struct {
		name string
		args []string
		code int
		kind string
		hint string // a part of it; "" for none
	}{
		{"missing tag", []string{"--json", "digest", reg.Ref("team/app:2")}, ExitError, kindNotFound, "haul tags"},
		{"private", []string{"digest", "--json", reg.Ref("private/app:1")}, ExitError, kindUnauthorized, "haul login " + reg.Host()},
		{"rate limited", []string{"--json", "manifest", broken.Ref("team/app:1")}, ExitError, kindRateLimited, "rate limiting"},
		{"unknown flag", []string{"--json", "--no-such-flag", "digest", "x"}, ExitUsage, kindUsage, ""},
		{"bad reference", []string{"--json", "digest", "Alpine"}, ExitUsage, kindUsage, ""},
		{"no platform", []string{"--json", "digest", "--platform", "linux/s390x", reg.Ref("team/multi:1")}, ExitError, kindNoPlatform, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			out, errOut, code := run(t, env, "", tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.HasSuffix(errOut, "\n") {
				t.Fatalf("stderr is not one line: %q", errOut)
			}
			var v map[string]any
			if err := json.Unmarshal([]byte(errOut), &v); err != nil {
				t.Fatalf("stderr is no JSON: %v: %q", err, errOut)
			}
			if len(v) != 4 || v["jsonVersion"] != float64(JSONVersion) || v["kind"] != tt.kind || v["error"] == "" {
				t.Errorf("got %v, want kind %q", v, tt.kind)
			}
			if hint, _ := v["hint"].(string); (tt.hint == "") != (hint == "") || !strings.Contains(hint, tt.hint) {
				t.Errorf("hint %q, want one with %q", hint, tt.hint)
			}
		})
	}
}
