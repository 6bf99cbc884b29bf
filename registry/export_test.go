package registry

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// SendForTest sends method to the registry's path with body, through the
// client's whole stack, as an upload would.
func SendForTest(ctx context.Context, c *Client, method, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, c.url(path).String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := c.do(req, "")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}
