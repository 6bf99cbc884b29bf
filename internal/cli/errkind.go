package cli

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/engine"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/rootfs"
)

// The kinds of failure a --json error names (docs/json.md). They are API: a
// script branches on them, so a kind is never renamed or given a new meaning;
// a new kind may be added, and a script treats one it does not know as other.
const (
	kindUsage          = "usage"           // haul was called wrongly (exit 2)
	kindCanceled       = "canceled"        // interrupted (SIGINT, SIGTERM)
	kindNotFound       = "not_found"       // no such repository, tag, digest or blob
	kindNoPlatform     = "no_platform"     // no image for the platform asked for: not in the index, or the one image is for another
	kindUnauthorized   = "unauthorized"    // the registry or its token service refused (401, 403)
	kindRateLimited    = "rate_limited"    // 429, Docker Hub's pull limit among others
	kindServer         = "server_error"    // the registry answered 5xx
	kindRegistry       = "registry_error"  // another non-2xx answer
	kindTLS            = "tls"             // a certificate could not be verified, or a client certificate was refused
	kindUnreachable    = "unreachable"     // no connection: refused, no such host, no route
	kindTimeout        = "timeout"         // a connection or a response took too long
	kindNoSpace        = "no_space"        // the disk is full, or the output does not fit
	kindDigestMismatch = "digest_mismatch" // content is not what its digest or size says
	kindLimit          = "limit"           // an unpack went past --max-size or --max-entries
	kindEngine         = "engine_error"    // the container engine (--load) refused, or its address is one haul cannot use
	kindOther          = "other"           // anything else: read the message
)

// errorKind classifies err by the library's exported error types, never by
// its text. The order matters where one error wraps another: an interrupt
// first (a canceled request also wraps a network error), TLS before the
// network errors it wraps, the registry's answer before the token service's.
func errorKind(err error) string {
	var (
		ue     usageError
		tlsErr *registry.TLSError
		se     *disk.SpaceError
		de     *image.DigestError
		ze     *image.SizeError
		re     *registry.Error
		te     *auth.TokenError
		nm     *image.NoMatchError
		pe     *image.PlatformError
		eu     *engine.UnreachableError
		ee     *engine.Error
		es     *engine.UnsupportedError
		le     *rootfs.LimitError
		ce     *registry.ConnError
		stall  *registry.StallError
		ustall *registry.StalledUploadError
		dnsErr *net.DNSError
		opErr  *net.OpError
		netErr net.Error
	)
	switch {
	case errors.As(err, &ue):
		return kindUsage
	case errors.Is(err, context.Canceled):
		return kindCanceled
	case errors.As(err, &tlsErr):
		return kindTLS
	case errors.As(err, &se), disk.IsSpace(err):
		return kindNoSpace
	case errors.As(err, &de), errors.As(err, &ze):
		return kindDigestMismatch
	case errors.As(err, &re):
		return statusKind(re.Status, re)
	case errors.As(err, &te) && te.Status != 0:
		return statusKind(te.Status, nil)
	case errors.As(err, &nm), errors.As(err, &pe):
		return kindNoPlatform
	case errors.As(err, &le):
		return kindLimit
	case errors.As(err, &eu):
		return kindUnreachable
	case errors.As(err, &ee), errors.As(err, &es):
		return kindEngine
	// The registry's connection error (a dial refused, a name that does not
	// resolve, a dial nobody answers) and its stalled blob, before the
	// standard library's types they wrap.
	case errors.As(err, &ce):
		if ce.Kind == registry.ConnTimeout {
			return kindTimeout
		}
		return kindUnreachable
	case errors.As(err, &stall), errors.As(err, &ustall):
		return kindTimeout
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return kindTimeout
		}
		return kindUnreachable
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return kindTimeout
	case errors.As(err, &opErr):
		return kindUnreachable
	}
	return kindOther
}

// statusKind classifies a registry's or token service's HTTP answer; re,
// when set, gives its error codes too.
func statusKind(status int, re *registry.Error) string {
	switch {
	case status == http.StatusTooManyRequests || re != nil && errors.Is(re, registry.ErrTooManyRequests):
		return kindRateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return kindUnauthorized
	case status == http.StatusNotFound:
		return kindNotFound
	case status >= 500:
		return kindServer
	}
	return kindRegistry
}
