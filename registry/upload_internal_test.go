package registry

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestIdleRTUploadBody: idleRT lets a request body take longer than the idle
// timeout as long as the server keeps taking bytes, and ends the exchange
// with errIdle when it stops.
func TestIdleRTUploadBody(t *testing.T) {
	t.Parallel()
	const timeout = 400 * time.Millisecond
	tests := []struct {
		name    string
		gap     time.Duration // between the server's reads of the body
		wantErr bool
	}{
		{name: "steady, longer than the timeout in all", gap: timeout / 10},
		{name: "the server stops reading", gap: time.Minute, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			next := rtFunc(func(r *http.Request) (*http.Response, error) {
				buf := make([]byte, 1<<10)
				for {
					select {
					case <-r.Context().Done():
						return nil, r.Context().Err()
					case <-time.After(tt.gap):
					}
					if _, err := r.Body.Read(buf); err == io.EOF {
						break
					}
				}
				return &http.Response{StatusCode: http.StatusAccepted, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
			})
			body := bytes.NewReader(make([]byte, 25<<10)) // 25 reads: 2.5 times the timeout when steady
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, "http://registry.test/v2/a/blobs/uploads/u", body)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			resp, err := idleRT{next: next, timeout: timeout}.RoundTrip(req)
			if tt.wantErr {
				if !errors.Is(err, errIdle) {
					t.Fatalf("error %v, want errIdle", err)
				}
				if d := time.Since(start); d > 20*timeout {
					t.Errorf("the stalled body was given up after %s, with an idle timeout of %s", d, timeout)
				}
				return
			}
			if err != nil {
				t.Fatalf("a steady upload of %s failed: %v", time.Since(start), err)
			}
			resp.Body.Close()
		})
	}
}
