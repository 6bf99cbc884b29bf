package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Secrets the request carries; no error text may show them.
const (
	errTestToken = "Bearer tok-3xyzzy"
	errTestSig   = "sig-3xyzzy"
	errTestPass  = "pw-3xyzzy"
	errTestURL   = "https://bob:" + errTestPass + "@r.example/v2/team/app/manifests/1?X-Amz-Signature=" + errTestSig
)

// countingBody is an error body that counts what was read of it and whether it was closed.
type countingBody struct {
	r      io.Reader
	read   int
	closed bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.read += n
	return n, err
}

func (b *countingBody) Close() error { b.closed = true; return nil }

func errorResponse(t testing.TB, status int, header http.Header, body []byte) (*http.Response, *countingBody) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, errTestURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", errTestToken)
	if header == nil {
		header = http.Header{}
	}
	cb := &countingBody{r: bytes.NewReader(body)}
	return &http.Response{StatusCode: status, Status: fmt.Sprint(status), Header: header, Body: cb, Request: req}, cb
}

func TestNewError(t *testing.T) {
	t.Parallel()
	const redacted = "GET https://bob@r.example/v2/team/app/manifests/1?X-Amz-Signature=REDACTED"
	huge := []byte(`{"errors":[{"code":"DENIED","message":"` + strings.Repeat("x", 70<<10) + `"}]}`)
	tests := []struct {
		name      string
		status    int
		header    http.Header
		body      []byte
		want      Error // compared field by field below; Method, URL, Registry, Repository implied
		wantCodes []Code
		wantText  string // Error(), exactly
	}{
		{name: "several spec errors", status: 404,
			body: []byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"1"}},` +
				`{"code":"NAME_UNKNOWN","message":"repository name not known to registry"},{"code":"SOMETHING_NEW"}]}`),
			wantCodes: []Code{ErrManifestUnknown, ErrNameUnknown, "SOMETHING_NEW"},
			wantText: redacted + ": 404 Not Found: MANIFEST_UNKNOWN (manifest unknown)" +
				": NAME_UNKNOWN (repository name not known to registry): SOMETHING_NEW"},
		{name: "empty body", status: 502, wantText: redacted + ": 502 Bad Gateway"},
		{name: "HTML", status: 503, body: []byte("<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"),
			wantText: redacted + ": 503 Service Unavailable"},
		{name: "invalid JSON", status: 500, body: []byte(`{"errors":[{"code":"DENIED"`), wantText: redacted + ": 500 Internal Server Error"},
		{name: "errors not a list", status: 400, body: []byte(`{"errors":"DENIED"}`), wantText: redacted + ": 400 Bad Request"},
		{name: "errors null", status: 400, body: []byte(`{"errors":null}`), wantText: redacted + ": 400 Bad Request"},
		{name: "JSON without errors", status: 400, body: []byte(`{"code":"DENIED","message":"no"}`), wantText: redacted + ": 400 Bad Request"},
		{name: "huge body is cut", status: 403, body: huge, wantText: redacted + ": 403 Forbidden"},
		{name: "401 Bearer challenge", status: 401,
			header: http.Header{"Www-Authenticate": {`Bearer realm="https://auth.example/token",service="registry.example",` +
				`scope="repository:team/app:pull",error="insufficient_scope"`}},
			body:      []byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`),
			want:      Error{Realm: "https://auth.example/token", Service: "registry.example", Scope: "repository:team/app:pull", ChallengeError: "insufficient_scope"},
			wantCodes: []Code{ErrUnauthorized},
			wantText:  redacted + ": 401 Unauthorized: UNAUTHORIZED (authentication required)"},
		{name: "Bearer after Basic", status: 401,
			header:   http.Header{"Www-Authenticate": {`Basic realm="basic-realm"`, `Bearer realm="https://auth.example/token",service="s"`}},
			want:     Error{Realm: "https://auth.example/token", Service: "s"},
			wantText: redacted + ": 401 Unauthorized"},
		{name: "403 Bearer challenge", status: 403,
			header:   http.Header{"Www-Authenticate": {`Bearer realm="https://auth.example/token",scope="repository:team/app:pull"`}},
			want:     Error{Realm: "https://auth.example/token", Scope: "repository:team/app:pull"},
			wantText: redacted + ": 403 Forbidden"},
		{name: "404 challenge ignored", status: 404,
			header:   http.Header{"Www-Authenticate": {`Bearer realm="https://auth.example/token"`}},
			wantText: redacted + ": 404 Not Found"},
		{name: "429 rate limit", status: 429,
			header: http.Header{"Ratelimit-Limit": {"100;w=21600"}, "Ratelimit-Remaining": {"0;w=21600"}, "Retry-After": {"120"}},
			body:   []byte(`{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}`),
			want:   Error{RateLimit: "100;w=21600", RateRemaining: "0;w=21600", RetryAfter: 2 * time.Minute}, wantCodes: []Code{ErrTooManyRequests},
			wantText: redacted + ": 429 Too Many Requests: TOOMANYREQUESTS (You have reached your pull rate limit.)" +
				"; ratelimit-limit 100;w=21600, ratelimit-remaining 0;w=21600; retry after 2m0s"},
		{name: "429 without remaining", status: 429, header: http.Header{"Ratelimit-Limit": {"100"}},
			want:     Error{RateLimit: "100"},
			wantText: redacted + ": 429 Too Many Requests; ratelimit-limit 100, ratelimit-remaining none"},
		{name: "429 bad Retry-After", status: 429, header: http.Header{"Retry-After": {"soon"}},
			wantText: redacted + ": 429 Too Many Requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, body := errorResponse(t, tt.status, tt.header, tt.body)
			e := newError(resp, "r.example", "team/app", time.Now())
			if !body.closed {
				t.Error("the body was not closed")
			}
			if body.read > maxErrorBody {
				t.Errorf("read %d bytes of the body, over the %d cap", body.read, maxErrorBody)
			}
			if e.Method != http.MethodGet || e.Status != tt.status || e.Registry != "r.example" || e.Repository != "team/app" {
				t.Errorf("error %+v does not keep the request's facts", e)
			}
			var codes []Code
			for _, d := range e.Errors {
				codes = append(codes, d.Code)
			}
			if !slices.Equal(codes, tt.wantCodes) {
				t.Errorf("codes %v, want %v", codes, tt.wantCodes)
			}
			got := Error{Realm: e.Realm, Service: e.Service, Scope: e.Scope, ChallengeError: e.ChallengeError,
				RateLimit: e.RateLimit, RateRemaining: e.RateRemaining, RetryAfter: e.RetryAfter}
			if !equalErrorFields(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if e.Error() != tt.wantText {
				t.Errorf("Error() =\n%q, want\n%q", e.Error(), tt.wantText)
			}
			for _, s := range []string{errTestToken, "tok-3xyzzy", errTestSig, errTestPass} {
				if strings.Contains(e.Error(), s) || strings.Contains(e.Hint(), s) {
					t.Errorf("error text shows %q: %s", s, e.Error())
				}
			}
		})
	}
	t.Run("detail kept raw", func(t *testing.T) {
		t.Parallel()
		resp, _ := errorResponse(t, 404, nil, []byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","detail":{"Tag":"1"}}]}`))
		e := newError(resp, "r.example", "team/app", time.Now())
		if len(e.Errors) != 1 || string(e.Errors[0].Detail) != `{"Tag":"1"}` {
			t.Fatalf("Errors %+v, want the detail as sent", e.Errors)
		}
	})
	t.Run("Retry-After date", func(t *testing.T) {
		t.Parallel()
		when := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
		resp, _ := errorResponse(t, 429, http.Header{"Retry-After": {when}}, nil)
		e := newError(resp, "r.example", "team/app", time.Now())
		if e.RetryAfter < 85*time.Second || e.RetryAfter > 91*time.Second {
			t.Fatalf("RetryAfter %v from %q, want about 90s", e.RetryAfter, when)
		}
	})
}

func equalErrorFields(a, b Error) bool {
	return a.Realm == b.Realm && a.Service == b.Service && a.Scope == b.Scope && a.ChallengeError == b.ChallengeError &&
		a.RateLimit == b.RateLimit && a.RateRemaining == b.RateRemaining && a.RetryAfter == b.RetryAfter
}

func TestErrorIs(t *testing.T) {
	t.Parallel()
	resp, _ := errorResponse(t, 404, nil, []byte(`{"errors":[{"code":"NAME_UNKNOWN"},{"code":"MANIFEST_UNKNOWN"}]}`))
	var err error = newError(resp, "r.example", "team/app", time.Now())
	err = fmt.Errorf("pull r.example/team/app:1: %w", fmt.Errorf("fetching manifest: %w", err))
	for _, c := range []Code{ErrManifestUnknown, ErrNameUnknown} {
		if !errors.Is(err, c) {
			t.Errorf("errors.Is(%v, %s) = false", err, c)
		}
	}
	for _, c := range []Code{ErrBlobUnknown, ErrDenied, ""} {
		if errors.Is(err, c) {
			t.Errorf("errors.Is(%v, %q) = true", err, c)
		}
	}
	if errors.Is(err, errIdle) {
		t.Error("errors.Is matched a non-Code target")
	}
	var re *Error
	if !errors.As(err, &re) || re.Status != 404 {
		t.Fatalf("errors.As: %v", err)
	}
	empty := &Error{Status: 404}
	if errors.Is(empty, ErrManifestUnknown) {
		t.Error("an error without codes claims MANIFEST_UNKNOWN")
	}
}

func TestErrorHint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		e    Error
		want []string // substrings; nil: Hint() must be ""
	}{
		{name: "401 anonymous on docker.io",
			e: Error{Status: 401, Registry: "docker.io", Repository: "library/alpine", Realm: "https://auth.docker.io/token",
				Service: "registry.docker.io", Scope: "repository:library/alpine:pull"},
			want: []string{"realm https://auth.docker.io/token", `"registry.docker.io"`, "haul login docker.io", "answer 401, not 404"}},
		{name: "401 insufficient scope with credentials",
			e: Error{Status: 401, Registry: "ghcr.io", Repository: "team/app", Realm: "https://ghcr.io/token", ChallengeError: "insufficient_scope",
				HadCredentials: true},
			want: []string{"does not grant pull on ghcr.io/team/app", "Check the repository name"}},
		{name: "401 without challenge", e: Error{Status: 401, Registry: "quay.io", Repository: "team/app"},
			want: []string{"haul login quay.io"}},
		{name: "403", e: Error{Status: 403, Registry: "docker.io", Repository: "library/alpine", HadCredentials: true},
			want: []string{"does not grant pull on alpine", "Read"}},
		{name: "404 tag with near ones on docker.io",
			e:    Error{Status: 404, Registry: "docker.io", Repository: "library/alpine", Missing: MissingTag, NearTags: []string{"3.20", "3.19"}},
			want: []string{"alpine has no such tag; near ones: 3.20, 3.19 (all: `haul tags alpine`)."}},
		{name: "404 tag elsewhere", e: Error{Status: 404, Registry: "ghcr.io", Repository: "team/app", Missing: MissingTag},
			want: []string{"ghcr.io/team/app exists but has no such tag or digest", "`haul tags ghcr.io/team/app`"}},
		{name: "404 MANIFEST_UNKNOWN", e: Error{Status: 404, Registry: "ghcr.io", Repository: "team/app", Errors: []Detail{{Code: ErrManifestUnknown}}},
			want: []string{"no such tag or digest"}},
		{name: "404 repository", e: Error{Status: 404, Registry: "ghcr.io", Repository: "team/nothere", Missing: MissingRepository},
			want: []string{"the repository ghcr.io/team/nothere does not exist"}},
		{name: "404 NAME_UNKNOWN", e: Error{Status: 404, Registry: "docker.io", Repository: "library/nothere", Errors: []Detail{{Code: ErrNameUnknown}}},
			want: []string{"the repository nothere does not exist"}},
		{name: "404 blob", e: Error{Status: 404, Registry: "ghcr.io", Repository: "team/app", Errors: []Detail{{Code: ErrBlobUnknown}}},
			want: []string{"lacks a blob"}},
		{name: "429 docker.io", e: Error{Status: 429, Registry: "docker.io", Repository: "library/alpine"},
			want: []string{"Docker Hub's pull limit", "HEAD does not"}},
		{name: "429 elsewhere", e: Error{Status: 429, Registry: "ghcr.io", Repository: "team/app"},
			want: []string{"rate limiting", "--jobs"}},
		{name: "401 stored credential refused",
			e: Error{Status: 401, Registry: "ghcr.io", Repository: "team/app", Realm: "https://ghcr.io/token", HadCredentials: true,
				CredentialFrom: "/home/a/.docker/config.json"},
			want: []string{"refused the credential from /home/a/.docker/config.json", "`haul logout ghcr.io`", "`haul login ghcr.io`"}},
		{name: "401 insufficient scope names the credential's source",
			e: Error{Status: 401, Registry: "ghcr.io", Repository: "team/app", ChallengeError: "insufficient_scope", HadCredentials: true,
				CredentialFrom: "credential helper docker-credential-pass"},
			want: []string{"it may not exist", "came from credential helper docker-credential-pass"}},
		{name: "404 MANIFEST_UNKNOWN of a missing repository (registry:2)",
			e: Error{Status: 404, Registry: "localhost:5000", Repository: "nothere", Missing: MissingRepository,
				Errors: []Detail{{Code: ErrManifestUnknown}}},
			want: []string{"the repository localhost:5000/nothere does not exist"}},
		{name: "404 from a server that is no registry",
			e:    Error{Status: 404, Registry: "localhost:8080", Repository: "x", Missing: MissingRegistry, NotRegistry: "404 Not Found, text/html"},
			want: []string{"localhost:8080 does not answer as a container registry (/v2/ gave 404 Not Found, text/html)", "host name and port"}},
		{name: "500", e: Error{Status: 500, Registry: "ghcr.io", Repository: "team/app"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := tt.e.Hint()
			if tt.want == nil {
				if h != "" {
					t.Fatalf("Hint() = %q, want none", h)
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(h, w) {
					t.Errorf("Hint() = %q, want it to contain %q", h, w)
				}
			}
			if strings.Contains(strings.ReplaceAll(h, tt.e.Scope, ""), "library/") {
				t.Errorf("Hint() = %q names the repository with its library/ prefix", h)
			}
		})
	}
}

func FuzzNewError(f *testing.F) {
	statuses := []int{400, 401, 403, 404, 408, 429, 500, 502, 503}
	f.Add(uint8(3), []byte(`{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"1"}}]}`), "")
	f.Add(uint8(1), []byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":[{"Type":"repository","Name":"a","Action":"pull"}]}]}`),
		`Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a:pull",error="insufficient_scope"`)
	f.Add(uint8(2), []byte(`{"errors":[{"code":"DENIED"}]}`), `Basic realm="x", Bearer realm=https://a/token,service=s`)
	f.Add(uint8(5), []byte(`{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}`), "")
	f.Add(uint8(6), []byte("<html>oops</html>"), "")
	f.Add(uint8(0), []byte(`{"ERRORS":[{"CODE":"\u0044ENIED","message":"\u0000\u001b[31m"}]}`), `Bearer realm="a\"b", realm=second`)
	f.Add(uint8(1), []byte(`{"errors":[{"code":5}]}`), `Bearer ,,, =, realm`)
	f.Add(uint8(4), []byte(`[]`), `Newauth abc==`)
	f.Add(uint8(1), []byte(`{"errors":[{"code":"A"},{"code":"B"}],"errors":[]}`), "Bearer error=\"x\xff\"")
	f.Fuzz(func(t *testing.T, sel uint8, body []byte, challenge string) {
		status := statuses[int(sel)%len(statuses)]
		header := http.Header{"Www-Authenticate": {challenge}, "Retry-After": {challenge}, "Ratelimit-Limit": {challenge}, "Ratelimit-Reset": {challenge}}
		resp, cb := errorResponse(t, status, header, body)
		e := newError(resp, "r.example", "team/app", time.Now())
		if !cb.closed || cb.read > maxErrorBody {
			t.Fatalf("body closed %v, %d bytes read", cb.closed, cb.read)
		}
		if e.Status != status || e.Method != http.MethodGet {
			t.Fatalf("status %d %s, want %d GET", e.Status, e.Method, status)
		}
		// Codes come from the body's "errors" list and nowhere else.
		seen := body[:min(len(body), maxErrorBody)]
		var top map[string]json.RawMessage
		hasErrors := json.Unmarshal(seen, &top) == nil && slices.ContainsFunc(mapKeys(top), func(k string) bool { return strings.EqualFold(k, "errors") })
		if !hasErrors && len(e.Errors) != 0 {
			t.Fatalf("body %q has no errors list, yet Errors = %+v", seen, e.Errors)
		}
		for _, d := range e.Errors {
			// JSON unescapes \uXXXX and turns invalid UTF-8 into U+FFFD:
			// then the code need not stand in the body as it was sent.
			if d.Code != "" && !bytes.Contains(seen, []byte(d.Code)) && !bytes.Contains(seen, []byte(`\`)) && utf8.Valid(seen) {
				t.Fatalf("code %q is not in the body %q", d.Code, seen)
			}
		}
		if status != 401 && status != 403 && (e.Realm != "" || e.Service != "" || e.Scope != "" || e.ChallengeError != "") {
			t.Fatalf("a %d took a challenge: %+v", status, e)
		}
		if !strings.Contains(strings.ToLower(challenge), "realm") && e.Realm != "" {
			t.Fatalf("realm %q from a challenge without one: %q", e.Realm, challenge)
		}
		if e.RetryAfter < 0 {
			t.Fatalf("negative RetryAfter %v from %q", e.RetryAfter, challenge)
		}
		msg := e.Error()
		// Header values reach Error() as sent; what comes from the body is decoded JSON.
		if utf8.ValidString(challenge) && !utf8.ValidString(msg) {
			t.Fatalf("Error() is not valid UTF-8: %q", msg)
		}
		if prefix := fmt.Sprintf("GET https://bob@r.example/v2/team/app/manifests/1?X-Amz-Signature=REDACTED: %d ", status); !strings.HasPrefix(msg, prefix) {
			t.Fatalf("Error() = %q, want prefix %q", msg, prefix)
		}
		for _, s := range []string{"tok-3xyzzy", errTestSig, errTestPass} {
			if strings.Contains(msg, s) && !bytes.Contains(body, []byte(s)) && !strings.Contains(challenge, s) {
				t.Fatalf("Error() shows the request's secret %q: %q", s, msg)
			}
		}
		if h := e.Hint(); (status == 401 || status == 403 || status == 429) && h == "" {
			t.Fatalf("no hint for a %d", status)
		}
	})
}

func mapKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

func TestNearTags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		want string
		tags []string
		near []string
	}{
		{name: "versions", want: "1.2", tags: []string{"1.0", "1.1", "2.0", "latest"}, near: []string{"1.0", "1.1", "2.0"}},
		{name: "closest first, ties in registry order", want: "3.20", tags: []string{"3.20.1", "edge", "3.20.2", "3.19", "3.2"},
			near: []string{"3.2", "3.20.1", "3.20.2", "3.19"}},
		{name: "prefix however far", want: "v1", tags: []string{"v1.0.0-alpine-with-a-long-suffix", "zz-unrelated-tag"},
			near: []string{"v1.0.0-alpine-with-a-long-suffix"}},
		{name: "one letter has no prefix rule", want: "v", tags: []string{"v1.0.0"}, near: []string{}},
		{name: "typo", want: "lates", tags: []string{"latest", "stable", "edge"}, near: []string{"latest"}},
		{name: "at most five", want: "1.0", tags: []string{"1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.0.1", "2.0"},
			near: []string{"1.1", "1.2", "1.3", "1.4", "1.5"}},
		{name: "nothing near", want: "zzzzzzzzzzzz", tags: []string{"1.0", "latest"}, near: []string{}},
		{name: "no tags", want: "1.0", tags: nil, near: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tags := slices.Clone(tt.tags)
			got := nearTags(tt.want, tags)
			if !slices.Equal(got, tt.near) {
				t.Fatalf("nearTags(%q, %v) = %q, want %q", tt.want, tt.tags, got, tt.near)
			}
			if !slices.Equal(tags, tt.tags) {
				t.Errorf("nearTags reordered its input: %v", tags)
			}
		})
	}
}

// TestRateReset: a 429 says when its limit resets, from Retry-After first,
// else from RateLimit-Reset as seconds or as a Unix time, and says so in
// its text when Retry-After did not.
func TestRateReset(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const prefix = "GET https://bob@r.example/v2/team/app/manifests/1?X-Amz-Signature=REDACTED: 429 Too Many Requests"
	tests := []struct {
		name     string
		status   int
		header   http.Header
		want     time.Time
		wantText string
	}{
		{"Retry-After seconds", 429, http.Header{"Retry-After": {"120"}, "Ratelimit-Reset": {"3600"}}, now.Add(2 * time.Minute), prefix + "; retry after 2m0s"},
		{"Retry-After date", 429, http.Header{"Retry-After": {now.Add(time.Hour).Format(http.TimeFormat)}}, now.Add(time.Hour), prefix + "; retry after 1h0m0s"},
		{"RateLimit-Reset seconds", 429, http.Header{"Ratelimit-Reset": {"21600"}}, now.Add(6 * time.Hour), prefix + "; the limit resets at 2026-03-01T18:00:00Z"},
		{"RateLimit-Reset with parameters", 429, http.Header{"Ratelimit-Reset": {" 60;w=21600"}}, now.Add(time.Minute), prefix + "; the limit resets at 2026-03-01T12:01:00Z"},
		{"RateLimit-Reset Unix time", 429, http.Header{"Ratelimit-Reset": {"1772373600"}}, time.Unix(1772373600, 0), prefix + "; the limit resets at 2026-03-01T14:00:00Z"},
		{"RateLimit-Reset malformed", 429, http.Header{"Ratelimit-Reset": {"soon"}}, time.Time{}, prefix},
		{"RateLimit-Reset negative", 429, http.Header{"Ratelimit-Reset": {"-5"}}, time.Time{}, prefix},
		{"neither", 429, nil, time.Time{}, prefix},
		{"not a 429", 503, http.Header{"Retry-After": {"120"}, "Ratelimit-Reset": {"60"}}, time.Time{},
			"GET https://bob@r.example/v2/team/app/manifests/1?X-Amz-Signature=REDACTED: 503 Service Unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, _ := errorResponse(t, tt.status, tt.header, nil)
			e := newError(resp, "r.example", "team/app", now)
			if !e.RateReset.Equal(tt.want) {
				t.Errorf("RateReset = %v, want %v", e.RateReset, tt.want)
			}
			if e.Error() != tt.wantText {
				t.Errorf("Error() =\n%q, want\n%q", e.Error(), tt.wantText)
			}
		})
	}
}
