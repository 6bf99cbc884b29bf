package image

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestVerifyReader(t *testing.T) {
	t.Parallel()
	content := "hello, world"
	d := Descriptor{Digest: digest.FromString(content), Size: int64(len(content))}
	tests := []struct {
		name     string
		body     string
		d        Descriptor
		wantSize bool
		wantDig  bool
	}{
		{name: "exact", body: content, d: d},
		{name: "short", body: content[:5], d: d, wantSize: true},
		{name: "long", body: content + "!!!", d: d, wantSize: true},
		{name: "wrong bytes", body: strings.ToUpper(content), d: d, wantDig: true},
		{name: "sha512", body: content, d: Descriptor{Digest: digest.SHA512.FromString(content), Size: int64(len(content))}},
		{name: "empty", body: "", d: Descriptor{Digest: digest.FromString(""), Size: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := io.ReadAll(VerifyReader(strings.NewReader(tt.body), tt.d, "blob"))
			var se *SizeError
			var de *DigestError
			switch {
			case tt.wantSize:
				if !errors.As(err, &se) {
					t.Fatalf("err = %v, want SizeError", err)
				}
			case tt.wantDig:
				if !errors.As(err, &de) || de.Want != tt.d.Digest || de.Got != digest.FromString(tt.body) {
					t.Fatalf("err = %v, want DigestError naming both digests", err)
				}
			default:
				if err != nil || string(got) != tt.body {
					t.Fatalf("ReadAll = %q, %v", got, err)
				}
			}
			if int64(len(got)) > tt.d.Size {
				t.Fatalf("reader returned %d bytes, more than the descriptor's %d", len(got), tt.d.Size)
			}
		})
	}
}
