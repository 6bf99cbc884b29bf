package ref

import (
	"strings"
	"testing"
)

var hex64 = strings.Repeat("a", 64)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, familiar, registry, repo, id string
	}{
		{"alpine", "docker.io/library/alpine:latest", "alpine:latest", "docker.io", "library/alpine", "latest"},
		{"alpine:3.20", "docker.io/library/alpine:3.20", "alpine:3.20", "docker.io", "library/alpine", "3.20"},
		{"library/alpine", "docker.io/library/alpine:latest", "alpine:latest", "docker.io", "library/alpine", "latest"},
		{"docker.io/alpine", "docker.io/library/alpine:latest", "alpine:latest", "docker.io", "library/alpine", "latest"},
		{"index.docker.io/library/alpine", "docker.io/library/alpine:latest", "alpine:latest", "docker.io", "library/alpine", "latest"},
		{"user/app:1", "docker.io/user/app:1", "user/app:1", "docker.io", "user/app", "1"},
		{"localhost/x", "localhost/x:latest", "localhost/x:latest", "localhost", "x", "latest"},
		{"localhost:5000/x", "localhost:5000/x:latest", "localhost:5000/x:latest", "localhost:5000", "x", "latest"},
		{"host:5000/a/b:t", "host:5000/a/b:t", "host:5000/a/b:t", "host:5000", "a/b", "t"},
		{"ghcr.io/o/r", "ghcr.io/o/r:latest", "ghcr.io/o/r:latest", "ghcr.io", "o/r", "latest"},
		{"[::1]:5000/a:t", "[::1]:5000/a:t", "[::1]:5000/a:t", "[::1]:5000", "a", "t"},
		{"alpine@sha256:" + hex64, "docker.io/library/alpine@sha256:" + hex64, "alpine@sha256:" + hex64, "docker.io", "library/alpine", "sha256:" + hex64},
		{"alpine:3@sha256:" + hex64, "docker.io/library/alpine:3@sha256:" + hex64, "alpine:3@sha256:" + hex64, "docker.io", "library/alpine", "sha256:" + hex64},
		{"docker.io/library/a/b", "docker.io/library/a/b:latest", "library/a/b:latest", "docker.io", "library/a/b", "latest"},
		// Found by FuzzParse: a Docker Hub namespace that reads as a registry keeps docker.io/.
		{"docker.io/0.0/0", "docker.io/0.0/0:latest", "docker.io/0.0/0:latest", "docker.io", "0.0/0", "latest"},
		{"docker.io/localhost/x", "docker.io/localhost/x:latest", "docker.io/localhost/x:latest", "docker.io", "localhost/x", "latest"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			r, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got := r.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
			if got := r.Familiar(); got != tt.familiar {
				t.Errorf("Familiar() = %q, want %q", got, tt.familiar)
			}
			if r.Registry() != tt.registry || r.Repository() != tt.repo || r.Identifier() != tt.id {
				t.Errorf("got %q %q %q, want %q %q %q", r.Registry(), r.Repository(), r.Identifier(), tt.registry, tt.repo, tt.id)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "Alpine", "https://ghcr.io/o/r", "a:b:c", "alpine@sha256:abc", hex64, "a//b", "a:" + strings.Repeat("t", 129)} {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			if r, err := Parse(in); err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", in, r)
			}
		})
	}
}

func TestParseRepository(t *testing.T) {
	t.Parallel()
	r, err := ParseRepository("alpine")
	if err != nil || r.Name() != "docker.io/library/alpine" || r.Tag() != "" {
		t.Fatalf("ParseRepository(alpine) = %v, %v", r, err)
	}
	if _, err := ParseRepository("alpine:3"); err == nil {
		t.Fatal("ParseRepository(alpine:3): want an error for a tag")
	}
}

func TestAPIHostAndLoopback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		registry, host string
		loopback       bool
	}{
		{"docker.io", "registry-1.docker.io", false},
		{"ghcr.io", "ghcr.io", false},
		{"localhost", "localhost", true},
		{"localhost:5000", "localhost:5000", true},
		{"127.0.0.1:5000", "127.0.0.1:5000", true},
		{"127.1.2.3", "127.1.2.3", true},
		{"[::1]:5000", "[::1]:5000", true},
		{"localhost.example.com:5000", "localhost.example.com:5000", false},
		{"10.0.0.1:5000", "10.0.0.1:5000", false},
	}
	for _, tt := range tests {
		t.Run(tt.registry, func(t *testing.T) {
			t.Parallel()
			if got := APIHost(tt.registry); got != tt.host {
				t.Errorf("APIHost = %q, want %q", got, tt.host)
			}
			if got := IsLoopback(tt.registry); got != tt.loopback {
				t.Errorf("IsLoopback = %v, want %v", got, tt.loopback)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"alpine", "[::1]:5000/a/b:t@sha256:" + hex64, "localhost:5000/x", "index.docker.io/library/alpine:3", "a/b/c/d:e", "A", "x@sha512:" + strings.Repeat("b", 128)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		r2, err := Parse(r.String())
		if err != nil || r2 != r {
			t.Fatalf("%q: String() = %q does not parse back to itself (%v, %v)", s, r.String(), r2, err)
		}
		r3, err := Parse(r.Familiar())
		if err != nil || r3 != r {
			t.Fatalf("%q: Familiar() = %q does not parse back to itself", s, r.Familiar())
		}
		if strings.Contains(r.Identifier(), "/") || r.Repository() == "" {
			t.Fatalf("%q: unsafe identifier %q or empty repository", s, r.Identifier())
		}
	})
}
