package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
)

// LoadResult is what the engine said it loaded.
type LoadResult struct {
	// Images are the names the engine reports as loaded ("alpine:3.20"), or
	// the IDs of images without a name ("sha256:…"), in its order.
	Images []string
	// Messages are the engine's lines as it sent them, trimmed:
	// "Loaded image: alpine:3.20".
	Messages []string
}

// Load streams r, a docker-load tar, into the engine: POST /images/load under
// the API version its /_ping announced (pinging first if no Ping did). The
// request starts with r's first byte, so an engine is not held open while a
// pull is still downloading, and a source that fails before then leaves the
// engine untouched. A source that fails midway cuts the upload off (no final
// chunk), so the engine sees a broken body and loads nothing; Load then
// returns the source's error. A non-2xx answer, or an error in the 200
// stream, is an *Error; no answer an *UnreachableError. The engine may
// answer before it has read all of r (a refusal): once Load returns, the
// caller stops feeding r (closes its pipe's reader, say).
func (c *Client) Load(ctx context.Context, r io.Reader) (*LoadResult, error) {
	path, err := c.apiPath(ctx, "/images/load")
	if err != nil {
		return nil, err
	}
	what := "POST " + path
	src := &source{r: r}
	body := bufio.NewReaderSize(src, 64<<10)
	if _, err := body.Peek(1); err != nil {
		if err == io.EOF {
			err = errors.New("the archive is empty")
		}
		return nil, fmt.Errorf("engine %s (from %s): %s: reading the archive: %w", c.host.URL, c.host.From, what, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path+"?quiet=1", body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-tar")
	resp, err := c.hc.Do(req)
	if serr := src.failed(); serr != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, fmt.Errorf("engine %s (from %s): %s: upload cut off, the archive failed: %w", c.host.URL, c.host.From, what, serr)
	}
	if err != nil {
		return nil, &UnreachableError{Host: c.host, Request: what, Err: unwrapURL(err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrBody))
		return nil, &Error{Host: c.host, Request: what, Status: resp.StatusCode, Message: message(b)}
	}
	res, err := readStream(resp.Body)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Host, e.Request, e.Status = c.host, what, resp.StatusCode
			return res, e
		}
		return res, fmt.Errorf("engine %s (from %s): %s: reading the answer: %w", c.host.URL, c.host.From, what, err)
	}
	return res, nil
}

// source remembers the first error of the archive's reader, so that Load can
// tell a failed source from a failed engine whatever net/http makes of it.
type source struct {
	r   io.Reader
	mu  sync.Mutex
	err error
}

func (s *source) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF {
		s.mu.Lock()
		if s.err == nil {
			s.err = err
		}
		s.mu.Unlock()
	}
	return n, err
}

func (s *source) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// streamMessage is one object of the engine's answer: newline-delimited JSON,
// {"stream":"Loaded image: alpine:3.20\n"}, or {"errorDetail":{"message":…},"error":…}.
type streamMessage struct {
	Stream      string `json:"stream"`
	Status      string `json:"status"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
}

// readStream reads the answer to a load until its end. An error object is an
// *Error (its Host, Request and Status left for the caller to fill); an
// answer cut off inside an object is io.ErrUnexpectedEOF.
func readStream(r io.Reader) (*LoadResult, error) {
	res := &LoadResult{}
	dec := json.NewDecoder(r)
	for {
		var m streamMessage
		err := dec.Decode(&m)
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		if m.ErrorDetail != nil || m.Error != "" {
			msg := m.Error
			if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
				msg = m.ErrorDetail.Message
			}
			return res, &Error{Message: msg}
		}
		for _, line := range strings.Split(m.Stream+m.Status, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				res.Messages = append(res.Messages, line)
				res.Images = append(res.Images, loaded(line)...)
			}
		}
	}
}

// loaded reads the images named by one of the engine's lines: docker's
// "Loaded image: NAME" and "Loaded image ID: sha256:…"; podman's
// "Loaded image: NAME,NAME" (its compatible API joins them with commas,
// which no image name contains).
func loaded(line string) []string {
	for _, prefix := range []string{"Loaded image ID: ", "Loaded image: ", "Loaded image(s): "} {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			var names []string
			for _, n := range strings.Split(rest, ",") {
				if n = strings.TrimSpace(n); n != "" {
					names = append(names, n)
				}
			}
			return names
		}
	}
	return nil
}
