package auth

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTokenResponse(t *testing.T) {
	t.Parallel()
	asked := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := asked.Add(2 * time.Second)
	tests := []struct {
		name     string
		body     string
		value    string
		lifetime time.Duration // expires - issued
		issued   time.Time
		err      string
	}{
		{"token", `{"token":"t","expires_in":300}`, "t", 300 * time.Second, now, ""},
		{"access_token", `{"access_token":"a","expires_in":300}`, "a", 300 * time.Second, now, ""},
		{"both: access_token wins", `{"token":"t","access_token":"a"}`, "a", 60 * time.Second, now, ""},
		{"no expires_in: 60 s", `{"token":"t"}`, "t", 60 * time.Second, now, ""},
		{"short expires_in: 60 s", `{"token":"t","expires_in":5}`, "t", 60 * time.Second, now, ""},
		{"huge expires_in: capped", `{"token":"t","expires_in":1e300}`, "t", maxTokenLifetime, now, ""},
		{"issued_at within the exchange", `{"token":"t","issued_at":"2026-01-01T00:00:01Z"}`, "t", 60 * time.Second, asked.Add(time.Second), ""},
		{"issued_at long ago: clamped", `{"token":"t","issued_at":"2020-01-01T00:00:00Z"}`, "t", 60 * time.Second, asked, ""},
		{"issued_at in the future: clamped", `{"token":"t","issued_at":"2030-01-01T00:00:00Z"}`, "t", 60 * time.Second, now, ""},
		{"issued_at garbage: ignored", `{"token":"t","issued_at":12}`, "t", 60 * time.Second, now, ""},
		{"HTML", "<!DOCTYPE html><html>", "", 0, time.Time{}, "HTML"},
		{"not JSON", "token=abc", "", 0, time.Time{}, "not JSON"},
		{"no token", `{"expires_in":60}`, "", 0, time.Time{}, "no token"},
		{"newline in token", `{"token":"a\r\nX-Evil: 1"}`, "", 0, time.Time{}, "not allowed"},
		{"wrong type", `{"token":1}`, "", 0, time.Time{}, "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := parseTokenResponse([]byte(tt.body), asked, now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tok.value != tt.value || !tok.expires.Equal(tt.issued.Add(tt.lifetime)) {
				t.Errorf("got %q expiring %v; want %q expiring %v", tok.value, tok.expires, tt.value, tt.issued.Add(tt.lifetime))
			}
			if !tok.refreshAt.Before(tok.expires) || tok.expires.Sub(tok.refreshAt) < 5*time.Second {
				t.Errorf("refreshAt %v not early enough before %v", tok.refreshAt, tok.expires)
			}
		})
	}
}

func FuzzParseTokenResponse(f *testing.F) {
	for _, s := range []string{
		`{"token":"t","expires_in":300,"issued_at":"2026-01-01T00:00:01Z"}`,
		`{"access_token":"a","refresh_token":"r","expires_in":3600}`,
		`{"token":"t","expires_in":-5}`,
		`{"token":"t","expires_in":1e308}`,
		`<html>`,
		`null`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	asked := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := asked.Add(time.Second)
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := parseTokenResponse(body, asked, now)
		if err != nil {
			if tok != (token{}) {
				t.Fatalf("error %v with a token %+v", err, tok)
			}
			return
		}
		if !validTokenValue(tok.value) {
			t.Fatalf("accepted token %q cannot be sent in a header", tok.value)
		}
		// Issued between asking and answering, and lives at least the minimum.
		life := tok.expires.Sub(asked)
		if life < minTokenLifetime || tok.expires.Sub(now) > maxTokenLifetime {
			t.Fatalf("lifetime %v out of range", life)
		}
		if !tok.refreshAt.Before(tok.expires) || !tok.refreshAt.After(asked) {
			t.Fatalf("refreshAt %v, expires %v", tok.refreshAt, tok.expires)
		}
	})
}

func TestTokenErrorMessage(t *testing.T) {
	t.Parallel()
	inner := errors.New("connection refused")
	e := &TokenError{Realm: "https://auth.docker.io/token", Service: "registry.docker.io",
		Scopes: []string{"repository:library/alpine:pull"}, Status: 401, Body: "nope", Err: inner}
	want := `fetch token from https://auth.docker.io/token (service "registry.docker.io", scope "repository:library/alpine:pull"): 401 Unauthorized: connection refused: "nope"`
	if e.Error() != want {
		t.Errorf("Error() = %s\nwant %s", e, want)
	}
	if !errors.Is(e, inner) {
		t.Error("Unwrap does not reach Err")
	}
}

func TestSanitizeBody(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"  a\n\n b\t\x1b[31mc  ", "a b .[31mc"},
		{strings.Repeat("x", 1000), strings.Repeat("x", maxErrorBody)},
		{"caf\xc3\xa9", "caf.."},
	}
	for _, tt := range tests {
		t.Run(tt.want[:min(len(tt.want), 10)], func(t *testing.T) {
			t.Parallel()
			if got := sanitizeBody([]byte(tt.in)); got != tt.want {
				t.Errorf("sanitizeBody(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
