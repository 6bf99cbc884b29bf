package mirror

import (
	"strings"
	"testing"

	"github.com/haul-dev/haul/ref"
)

func TestParseEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Endpoint
		wantErr string
	}{
		{in: "m.local:5000", want: Endpoint{Host: "m.local:5000"}},
		{in: "M.Local:5000/", want: Endpoint{Host: "m.local:5000"}},
		{in: "https://mirror.gcr.io", want: Endpoint{Host: "mirror.gcr.io"}},
		{in: "http://127.0.0.1:5001", want: Endpoint{Host: "127.0.0.1:5001", PlainHTTP: true}},
		{in: "HTTP://localhost/hub/", want: Endpoint{Host: "localhost", Prefix: "hub", PlainHTTP: true}},
		{in: "m.local:5000/hub/docker", want: Endpoint{Host: "m.local:5000", Prefix: "hub/docker"}},
		{in: "[::1]:5000", want: Endpoint{Host: "[::1]:5000"}},
		{in: "", wantErr: "no host"},
		{in: "https://", wantErr: "no host"},
		{in: "/hub", wantErr: "no host"},
		{in: "ftp://m.local", wantErr: "scheme"},
		{in: "mirror", wantErr: "needs a dot or a port"},
		{in: "user:pw@m.local", wantErr: "no query, fragment, user"},
		{in: "m.local/a?b", wantErr: "no query"},
		{in: "m.local/Hub", wantErr: "not a valid host"},
		{in: "m.local//hub", wantErr: "not a valid host"},
		{in: "m.local:port", wantErr: "not a valid host"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseEndpoint(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseEndpoint(%q) = %+v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseEndpoint(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestMap(t *testing.T) {
	t.Parallel()
	const dg = "sha256:0123456789012345678901234567890123456789012345678901234567890123"
	tests := []struct {
		name, mirror, scope, ref string
		want, wantErr            string
	}{
		{"docker hub official image", "m.local:5000", "", "alpine:3", "m.local:5000/library/alpine:3", ""},
		{"under a path", "m.local:5000/hub", "", "alpine", "m.local:5000/hub/library/alpine:latest", ""},
		{"any registry", "m.local:5000", "", "ghcr.io/org/app@" + dg, "m.local:5000/org/app@" + dg, ""},
		{"tag and digest", "127.0.0.1:5001", "", "127.0.0.1:5000/team/app:1@" + dg, "127.0.0.1:5001/team/app:1@" + dg, ""},
		{"scope with a path", "m.local/x", "quay.io/org", "quay.io/org/app:1", "m.local/x/app:1", ""},
		{"scope is the repository", "m.local/x", "quay.io/org/app", "quay.io/org/app:1", "m.local/x:1", ""},
		{"outside the scope", "m.local", "quay.io/org", "quay.io/orgx/app:1", "", "is not under quay.io/org"},
		{"another registry than the scope", "m.local", "docker.io", "ghcr.io/o/a", "", "is not under docker.io"},
		{"no repository left", "m.local", "quay.io/org/app", "quay.io/org/app:1", "", "would name no repository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := ParseEndpoint(tt.mirror)
			if err != nil {
				t.Fatal(err)
			}
			r, err := ref.Parse(tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.Map(tt.scope, r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Map = %s, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("Map = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// FuzzParseEndpoint: an endpoint prints back to itself, and every name it
// maps lands on its host, under its prefix.
func FuzzParseEndpoint(f *testing.F) {
	for _, s := range []string{"m.local:5000", "http://127.0.0.1:5001/hub", "https://[::1]:5000/a/b/", "localhost", "x/Y", "https://", "a.b//c"} {
		f.Add(s)
	}
	alpine, err := ref.Parse("alpine:3")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEndpoint(s)
		if err != nil {
			return
		}
		e2, err := ParseEndpoint(e.String())
		if err != nil || e2 != e {
			t.Fatalf("%q: String() = %q parses to %+v, %v", s, e.String(), e2, err)
		}
		m, err := e.Map("", alpine)
		if err != nil {
			t.Fatalf("%q: Map(alpine:3): %v", s, err)
		}
		if m.Registry() != e.Host || m.Repository() != join(e.Prefix, "library/alpine") || m.Tag() != "3" {
			t.Fatalf("%q: alpine:3 maps to %s", s, m)
		}
	})
}
