package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/ref"
)

// Code is a distribution-spec error code; it is itself an error, so callers can
// write errors.Is(err, registry.ErrManifestUnknown).
type Code string

func (c Code) Error() string { return string(c) }

// The error codes of the distribution spec, and Docker Hub's rate limit code.
const (
	ErrBlobUnknown         Code = "BLOB_UNKNOWN"
	ErrBlobUploadInvalid   Code = "BLOB_UPLOAD_INVALID"
	ErrBlobUploadUnknown   Code = "BLOB_UPLOAD_UNKNOWN"
	ErrDigestInvalid       Code = "DIGEST_INVALID"
	ErrManifestBlobUnknown Code = "MANIFEST_BLOB_UNKNOWN"
	ErrManifestInvalid     Code = "MANIFEST_INVALID"
	ErrManifestUnknown     Code = "MANIFEST_UNKNOWN"
	ErrNameInvalid         Code = "NAME_INVALID"
	ErrNameUnknown         Code = "NAME_UNKNOWN"
	ErrSizeInvalid         Code = "SIZE_INVALID"
	ErrUnauthorized        Code = "UNAUTHORIZED"
	ErrDenied              Code = "DENIED"
	ErrUnsupported         Code = "UNSUPPORTED"
	ErrTooManyRequests     Code = "TOOMANYREQUESTS"
)

// OtherRegistryError is returned, before any request is sent, by every Client
// method given a reference of another registry than the one the client was
// made for (Config.Registry): a Client talks to one registry, so a program
// holding clients of several picks the one for Ref.Registry(). A mirror's
// client is given the name the mirror serves (mirror.Endpoint.Map), never
// the upstream's. Match it with errors.As.
type OtherRegistryError struct {
	Client string        // the client's registry: "ghcr.io"
	Ref    ref.Reference // the reference refused: "docker.io/library/alpine:3.20"
}

func (e *OtherRegistryError) Error() string {
	return fmt.Sprintf("%s is a reference of registry %s, not of %s, which this client talks to", e.Ref, e.Ref.Registry(), e.Client)
}

// Missing says what a 404 for a manifest lacked, when the client could tell.
type Missing string

// What a manifest 404 can lack.
const (
	MissingTag        Missing = "tag"
	MissingRepository Missing = "repository"
	// MissingRegistry: the server does not speak the distribution API (its
	// /v2/ answers neither 200 nor 401, or answers HTML).
	MissingRegistry Missing = "registry"
)

// Detail is one entry of a registry's JSON error body.
type Detail struct {
	Code    Code            `json:"code"`
	Message string          `json:"message"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// Error is a registry's non-2xx answer, which every Client method that got
// one returns, wrapped in what it was doing (after the retries RetryPolicy
// allows). Match it with errors.As and read Status:
//
//   - 404, not found: Missing says, for a manifest, whether the tag, the
//     repository or the registry itself is missing. errors.Is(err,
//     ErrManifestUnknown), ErrNameUnknown or ErrBlobUnknown match the spec's
//     codes when the registry sent them, as registries do not all do.
//   - 401 or 403, unauthorized: Realm, Service and Scope say which token was
//     asked for, HadCredentials whether a credential was sent. A token
//     service that refuses the credential itself is an *auth.TokenError.
//   - 429, rate limited: RateReset says when to try again (zero if the
//     registry did not say); Docker Hub also counts RateLimit and
//     RateRemaining. errors.Is(err, ErrTooManyRequests) matches the code.
//
// Hint turns any of them into advice for a person.
type Error struct {
	Method     string
	URL        string // query secrets redacted
	Status     int
	Errors     []Detail
	Registry   string // "docker.io"
	Repository string // "" for requests not about one repository

	// From a 401/403's Bearer challenge: what a token was asked for.
	Realm, Service, Scope, ChallengeError string
	HadCredentials                        bool
	CredentialFrom                        string // where the credential sent was found, if known

	// From a 404 of a manifest: what is missing, and tags near the one asked
	// for; for MissingRegistry, what /v2/ answered ("404 Not Found, text/html").
	Missing     Missing
	NearTags    []string
	NotRegistry string

	// From a 429: Docker Hub's pull-limit headers, and how long to wait.
	RateLimit, RateRemaining string
	RetryAfter               time.Duration
	// RateReset is when a 429's limit resets: the answer's time plus
	// RetryAfter, else as the RateLimit-Reset header says (Docker Hub's, and
	// the IETF draft's: seconds from now, or a Unix time); zero when the
	// registry said neither.
	RateReset time.Time
}

func (e *Error) Error() string {
	return printable(e.message())
}

// printable keeps a registry's words from reaching a terminal as control
// sequences or broken UTF-8.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || (r < 0x20 && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return '?'
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

func (e *Error) message() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	for _, d := range e.Errors {
		fmt.Fprintf(&b, ": %s", d.Code)
		if d.Message != "" {
			fmt.Fprintf(&b, " (%s)", d.Message)
		}
	}
	if e.Status == http.StatusTooManyRequests {
		if e.RateLimit != "" {
			fmt.Fprintf(&b, "; ratelimit-limit %s, ratelimit-remaining %s", e.RateLimit, orNone(e.RateRemaining))
		}
		if e.RetryAfter > 0 {
			fmt.Fprintf(&b, "; retry after %s", e.RetryAfter.Round(time.Second))
		} else if !e.RateReset.IsZero() {
			fmt.Fprintf(&b, "; the limit resets at %s", e.RateReset.UTC().Format(time.RFC3339))
		}
	}
	return b.String()
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// Is lets errors.Is(err, ErrManifestUnknown) see through wrapping.
func (e *Error) Is(target error) bool {
	c, ok := target.(Code)
	if !ok {
		return false
	}
	return slices.ContainsFunc(e.Errors, func(d Detail) bool { return d.Code == c })
}

// Hint is advice for a person: what was asked, and the likely fix.
func (e *Error) Hint() string {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		var b strings.Builder
		if e.Realm != "" {
			fmt.Fprintf(&b, "A token was asked of realm %s for service %q and scope %q. ", e.Realm, e.Service, e.Scope)
		}
		if e.ChallengeError == "insufficient_scope" || e.Status == http.StatusForbidden {
			fmt.Fprintf(&b, "It does not grant %s on %s. ", e.action(), e.repoRef())
		}
		switch {
		case e.action() == "push" && !e.HadCredentials:
			fmt.Fprintf(&b, "Pushing needs an account allowed to write to %s: log in with `haul login %s`.", e.repoRef(), e.Registry)
		case e.action() == "push" && (e.ChallengeError == "insufficient_scope" || e.Status == http.StatusForbidden):
			fmt.Fprintf(&b, "Check that this account can write to %s and that an access token has write scope (a Docker Hub PAT needs Read & Write); "+
				"log in as another user with `haul login %s`. The credential came %s.", e.repoRef(), e.Registry, e.credentialSource())
		case !e.HadCredentials:
			b.WriteString("The repository may be private: log in with `haul login " + e.Registry + "`, or pass -u USER --password-stdin. " +
				"Or it may not exist: registries such as Docker Hub answer 401, not 404, for a missing repository.")
		case e.Status == http.StatusUnauthorized && e.ChallengeError != "insufficient_scope":
			fmt.Fprintf(&b, "The registry refused the credential %s: log in again with `haul login %s`, or remove it with `haul logout %s`.",
				e.credentialSource(), e.Registry, e.Registry)
		default:
			fmt.Fprintf(&b, "Check the repository name (it may not exist: some registries answer a missing repository as they do a private one), "+
				"that this account can read it, and that an access token has read scope (a Docker Hub PAT needs Read). The credential came %s.",
				e.credentialSource())
		}
		return b.String()
	case http.StatusNotFound:
		// What the client found out (Missing) comes before the codes: a
		// registry:2 answers a missing repository with MANIFEST_UNKNOWN.
		switch {
		case e.Missing == MissingRegistry:
			return fmt.Sprintf("%s does not answer as a container registry (/v2/ gave %s): check the host name and port.", e.Registry, e.NotRegistry)
		case e.Missing == MissingRepository:
			return fmt.Sprintf("the repository %s does not exist on this registry (or is private and hides itself): check its name.", e.repoRef())
		case e.Missing == MissingTag && len(e.NearTags) > 0:
			return fmt.Sprintf("%s has no such tag; near ones: %s (all: `haul tags %s`).", e.repoRef(), strings.Join(e.NearTags, ", "), e.repoRef())
		case e.Missing == MissingTag:
			return fmt.Sprintf("%s exists but has no such tag or digest: list its tags with `haul tags %s`.", e.repoRef(), e.repoRef())
		case e.Is(ErrNameUnknown):
			return fmt.Sprintf("the repository %s does not exist on this registry (or is private and hides itself): check its name.", e.repoRef())
		case e.Is(ErrManifestUnknown):
			return fmt.Sprintf("%s has no such tag or digest: list its tags with `haul tags %s`.", e.repoRef(), e.repoRef())
		case e.Is(ErrBlobUnknown):
			return "the registry lacks a blob that the manifest names."
		}
	case http.StatusTooManyRequests:
		if e.Registry == "docker.io" {
			return "Docker Hub's pull limit is reached (each manifest GET counts; HEAD does not). Log in to raise it, or wait for the window to reset."
		}
		return "the registry is rate limiting; try again later or with fewer --jobs."
	}
	return ""
}

// action is what the request needed of the repository: "pull" to read it,
// "push" for an upload, a manifest put or a delete.
func (e *Error) action() string {
	if e.Method == "" || e.Method == http.MethodGet || e.Method == http.MethodHead {
		return "pull"
	}
	return "push"
}

// credentialSource says where the credential came from, for a hint.
func (e *Error) credentialSource() string {
	if e.CredentialFrom == "" {
		return "from -u/--password-stdin or a stored login"
	}
	return "from " + e.CredentialFrom
}

func (e *Error) repoRef() string {
	if e.Registry == "docker.io" {
		return strings.TrimPrefix(e.Repository, "library/")
	}
	return e.Registry + "/" + e.Repository
}

// maxErrorBody caps what is read of an error response.
const maxErrorBody = 64 << 10

// newError reads and closes resp's body and describes the answer.
func newError(resp *http.Response, registry, repo string, now time.Time) *Error {
	defer resp.Body.Close()
	e := &Error{
		Method:     resp.Request.Method,
		URL:        redactURL(resp.Request.URL),
		Status:     resp.StatusCode,
		Registry:   registry,
		Repository: repo,
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var parsed struct {
		Errors []Detail `json:"errors"`
	}
	if json.Unmarshal(body, &parsed) == nil {
		e.Errors = parsed.Errors
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		for _, c := range auth.ParseChallenges(resp.Header.Values("Www-Authenticate")) {
			if c.Scheme == "bearer" {
				e.Realm, e.Service, e.Scope, e.ChallengeError = c.Params["realm"], c.Params["service"], c.Params["scope"], c.Params["error"]
				break
			}
		}
	}
	e.RateLimit = resp.Header.Get("Ratelimit-Limit")
	e.RateRemaining = resp.Header.Get("Ratelimit-Remaining")
	e.RetryAfter, _ = parseRetryAfter(resp.Header.Get("Retry-After"), now)
	if resp.StatusCode == http.StatusTooManyRequests {
		e.RateReset = rateReset(resp.Header, now)
	}
	return e
}

// rateReset is when a 429's limit resets: Retry-After, else RateLimit-Reset,
// which the IETF's RateLimit draft gives as seconds from now ("21600", or
// with parameters: "21600;w=21600") and some registries as a Unix time; a
// number past 2001 in seconds can only be the latter.
func rateReset(h http.Header, now time.Time) time.Time {
	if d, ok := parseRetryAfter(h.Get("Retry-After"), now); ok {
		return now.Add(d)
	}
	v, _, _ := strings.Cut(h.Get("Ratelimit-Reset"), ";")
	s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	switch {
	case err != nil || s < 0:
		return time.Time{}
	case s >= 1e9:
		return time.Unix(s, 0)
	}
	return now.Add(time.Duration(min(s, 1<<31)) * time.Second)
}

// parseRetryAfter reads Retry-After as delay-seconds or as an HTTP-date (RFC 9110 10.2.3).
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		if s > 1<<31 {
			s = 1 << 31
		}
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// errIdle is returned when a response stalls for longer than the idle timeout.
var errIdle = errors.New("no data for the idle timeout")
