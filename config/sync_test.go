package config

import (
	"strings"
	"testing"
)

func TestParseSyncFile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string // per image: ref, then tags pattern and platforms if any
		err  string
	}{
		{name: "the issue's example", in: `images:
  - docker.io/library/alpine:3.20
  - ref: ghcr.io/org/app
    tags: '^v1\.[0-9]+\.[0-9]+$'     # a regex over the repository's tags
    platforms: [linux/amd64, linux/arm64]
`, want: []string{"docker.io/library/alpine:3.20", `ghcr.io/org/app ^v1\.[0-9]+\.[0-9]+$ linux/amd64 linux/arm64`}},
		{name: "familiar names", in: "images: [alpine, 'nginx@sha256:" + strings.Repeat("a", 64) + "']",
			want: []string{"docker.io/library/alpine:latest", "docker.io/library/nginx@sha256:" + strings.Repeat("a", 64)}},
		{name: "a mapping without tags is one image", in: "images:\n  - ref: alpine:3.19\n    platforms: [linux/arm/v7]\n",
			want: []string{"docker.io/library/alpine:3.19 linux/arm/v7"}},
		{name: "empty list", in: "images: []\n", want: nil},
		{name: "not a mapping", in: "- alpine\n", err: "want a mapping with the key images"},
		{name: "unknown top key", in: "imagez:\n  - alpine\n", err: `:1: unknown key "imagez"`},
		{name: "no list", in: "images: alpine\n", err: "a list of references"},
		{name: "unknown entry key", in: "images:\n  - ref: alpine\n    tag: '3'\n", err: `:2: unknown key "tag"`},
		{name: "bad reference", in: "images:\n  - alpine\n  - Not/Valid:ref:x\n", err: ":3: invalid reference"},
		{name: "tags with a tagged ref", in: "images:\n  - ref: ghcr.io/org/app:1\n    tags: '^v'\n", err: "a repository takes no tag or digest"},
		{name: "bad pattern", in: "images:\n  - ref: ghcr.io/org/app\n    tags: '(['\n", err: "tags: error parsing regexp"},
		{name: "bad platform", in: "images:\n  - ref: alpine\n    platforms: [linux]\n", err: "platforms:"},
		{name: "duplicate", in: "images:\n  - alpine\n  - docker.io/library/alpine:latest\n", err: ":3: docker.io/library/alpine:latest is listed already, on line 2"},
		{name: "entry without ref", in: "images:\n  - platforms: [linux/amd64]\n", err: "without ref"},
		{name: "a number", in: "images:\n  - [1]\n", err: "an entry is a reference"},
		{name: "not yaml", in: "images: [\n", err: "sync.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := ParseSyncFile("sync.yaml", []byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, img := range f.Images {
				parts := []string{img.Ref.String()}
				if img.Tags != nil {
					parts = append(parts, img.Tags.String())
				}
				for _, p := range img.Platforms {
					parts = append(parts, p.OS+"/"+p.Architecture+strings.TrimSuffix("/"+p.Variant, "/"))
				}
				got = append(got, strings.Join(parts, " "))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestParseSyncFileTooBig(t *testing.T) {
	t.Parallel()
	if _, err := ParseSyncFile("big.yaml", make([]byte, MaxSyncFileSize+1)); err == nil || !strings.Contains(err.Error(), "over") {
		t.Fatalf("err = %v, want a size refusal", err)
	}
}

func FuzzParseSyncFile(f *testing.F) {
	f.Add([]byte("images:\n  - alpine\n  - ref: ghcr.io/org/app\n    tags: '^v1'\n    platforms: [linux/amd64]\n"))
	f.Add([]byte("images: [a, b, c]"))
	f.Add([]byte("images:\n  - &a alpine\n  - *a\n"))
	f.Add([]byte("{images: [{ref: x, tags: '.*'}]}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		sf, err := ParseSyncFile("fuzz.yaml", b)
		if err != nil {
			return
		}
		for _, img := range sf.Images {
			if img.Ref.IsZero() {
				t.Fatal("an image without a reference")
			}
			if img.Tags != nil && (img.Ref.Tag() != "" || img.Ref.Digest() != "") {
				t.Fatal("a tag pattern on a tagged reference")
			}
		}
	})
}
