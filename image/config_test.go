package image

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestReadConfig(t *testing.T) {
	t.Parallel()
	body := `{"architecture":"arm64","os":"linux"}`
	d := Descriptor{Digest: digest.FromString(body), Size: int64(len(body))}
	tests := []struct {
		name    string
		d       Descriptor
		body    string
		openErr error
		wantErr string
		opened  bool
	}{
		{"a config", d, body, nil, "", true},
		{"over the limit: refused before it is opened", Descriptor{Digest: d.Digest, Size: MaxConfigSize + 1}, body, nil, "over the limit", false},
		{"not JSON", d, "<html>", nil, "decoding config", true},
		{"the open fails", d, body, errors.New("no such blob"), "no such blob", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opened := false
			cfg, err := ReadConfig(tt.d, func() (io.ReadCloser, error) {
				opened = true
				return io.NopCloser(strings.NewReader(tt.body)), tt.openErr
			})
			if opened != tt.opened {
				t.Errorf("opened %v, want %v", opened, tt.opened)
			}
			if tt.wantErr == "" {
				if err != nil || cfg.Architecture != "arm64" {
					t.Fatalf("got %+v, %v", cfg.Platform, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}
