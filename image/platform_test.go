package image

import (
	"errors"

	"github.com/opencontainers/go-digest"
	"strings"
	"testing"
)

func TestParsePlatform(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"linux/amd64", "linux/amd64"},
		{"linux/x86_64", "linux/amd64"},
		{"Linux/ARM64", "linux/arm64"},
		{"linux/arm64/v8", "linux/arm64"},
		{"linux/arm", "linux/arm/v7"},
		{"linux/arm/v6", "linux/arm/v6"},
		{"windows/amd64", "windows/amd64"},
		{"amd64", ""},
		{"linux/", ""},
		{"a/b/c/d", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePlatform(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("ParsePlatform(%q) = %v, want an error", tt.in, p)
				}
				return
			}
			if err != nil || FormatPlatform(p) != tt.want {
				t.Fatalf("ParsePlatform(%q) = %v, %v; want %s", tt.in, FormatPlatform(p), err, tt.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	t.Parallel()
	entry := func(d, os, arch, variant string) Descriptor {
		return Descriptor{MediaType: MediaTypeOCIManifest, Digest: digest.Digest("sha256:" + strings.Repeat(d, 64)), Size: 1, Platform: &Platform{OS: os, Architecture: arch, Variant: variant}}
	}
	att := entry("f", "unknown", "unknown", "")
	att.Annotations = map[string]string{"vnd.docker.reference.type": "attestation-manifest"}
	idx := &Index{Manifests: []Descriptor{
		att,
		entry("a", "linux", "amd64", ""),
		entry("b", "linux", "arm64", "v8"),
		entry("c", "linux", "arm", "v6"),
		entry("d", "linux", "arm", "v7"),
		entry("e", "windows", "amd64", ""),
	}}
	v6only := &Index{Manifests: []Descriptor{entry("c", "linux", "arm", "v6"), entry("a", "linux", "amd64", "")}}
	tests := []struct {
		name  string
		idx   *Index
		want  string
		digit string
	}{
		{"amd64", idx, "linux/amd64", "a"},
		{"arm64 matches v8", idx, "linux/arm64", "b"},
		{"arm64/v8 matches v8", idx, "linux/arm64/v8", "b"},
		{"arm v7 exact", idx, "linux/arm/v7", "d"},
		{"arm v6 exact", idx, "linux/arm/v6", "c"},
		{"v7 runs v6", v6only, "linux/arm/v7", "c"},
		{"v6 does not run v7", &Index{Manifests: []Descriptor{entry("d", "linux", "arm", "v7")}}, "linux/arm/v6", ""},
		{"windows", idx, "windows/amd64", "e"},
		{"no s390x", idx, "linux/s390x", ""},
		{"attestation never chosen", &Index{Manifests: []Descriptor{att}}, "unknown/unknown", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			want, err := ParsePlatform(tt.want)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Select(tt.idx, want)
			if tt.digit == "" {
				var nm *NoMatchError
				if !errors.As(err, &nm) {
					t.Fatalf("Select = %v, %v; want a NoMatchError", d.Digest, err)
				}
				for _, p := range nm.Available {
					if p.OS == "unknown" {
						t.Errorf("error lists an attestation as a platform: %v", err)
					}
				}
				return
			}
			if err != nil || d.Digest.Encoded()[0] != tt.digit[0] {
				t.Fatalf("Select = %v, %v; want entry %s", d.Digest, err, tt.digit)
			}
		})
	}
	_, err := Select(idx, Platform{OS: "linux", Architecture: "riscv64"})
	if err == nil || !strings.Contains(err.Error(), "linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64") {
		t.Errorf("no-match error should list the platforms, got %v", err)
	}
}

func TestHostIsLinux(t *testing.T) {
	t.Parallel()
	if h := Host(); h.OS != "linux" || h.Architecture == "" {
		t.Fatalf("Host() = %+v", h)
	}
}

func TestCheckPlatform(t *testing.T) {
	t.Parallel()
	cfg := func(os, arch, variant string) Config {
		var c Config
		c.OS, c.Architecture, c.Variant = os, arch, variant
		return c
	}
	tests := []struct {
		name string
		want Platform
		cfg  Config
		err  string // "" for a match
	}{
		{name: "same", want: Platform{OS: "linux", Architecture: "amd64"}, cfg: cfg("linux", "amd64", "")},
		{name: "arm64 asked of amd64", want: Platform{OS: "linux", Architecture: "arm64"}, cfg: cfg("linux", "amd64", ""),
			err: "the image is for linux/amd64, not linux/arm64"},
		{name: "arm/v7 runs v6", want: Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, cfg: cfg("linux", "arm", "v6")},
		{name: "arm/v6 does not run v7", want: Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, cfg: cfg("linux", "arm", "v7"),
			err: "linux/arm/v7, not linux/arm/v6"},
		{name: "windows asked of linux", want: Platform{OS: "windows", Architecture: "amd64"}, cfg: cfg("linux", "amd64", ""),
			err: "not windows/amd64"},
		{name: "aarch64 is arm64", want: Platform{OS: "linux", Architecture: "arm64"}, cfg: cfg("linux", "aarch64", "")},
		{name: "config without a platform", want: Platform{OS: "linux", Architecture: "arm64"}, cfg: cfg("", "", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := CheckPlatform(tt.want, tt.cfg)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("CheckPlatform = %v, want a match", err)
				}
				return
			}
			var pe *PlatformError
			if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("CheckPlatform = %v, want a *PlatformError saying %q", err, tt.err)
			}
		})
	}
}
