package registrytest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Helpers for the middleware given to Wrap: run the real handler, then bend
// its answer.

// Record runs the real registry handler next on r and returns its answer,
// for a fault to bend before it is sent.
func Record(next http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	next.ServeHTTP(rec, r)
	return rec
}

// CopyHeader copies a recorded answer's headers to w.
func CopyHeader(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
}

// IsBlobGET tells the requests a blob fault applies to.
func IsBlobGET(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/blobs/sha256:")
}

// CountingWriter counts the body bytes a handler writes into N, and can flush.
type CountingWriter struct {
	http.ResponseWriter
	N *atomic.Int64
}

func (c *CountingWriter) Write(p []byte) (int, error) {
	c.N.Add(int64(len(p)))
	return c.ResponseWriter.Write(p)
}

// Flush sends what was written so far, so a fault can cut the body after it.
func (c *CountingWriter) Flush() { c.ResponseWriter.(http.Flusher).Flush() }

// CDN stands in for the blob storage a registry redirects to (S3, a CDN): it
// serves what Redirect stored, and fails the test if a request to it carries
// an Authorization header, since the registry's credentials must never leave it.
type CDN struct {
	t     testing.TB
	srv   *httptest.Server
	blobs sync.Map
	hits  atomic.Int32
}

// NewCDN starts a CDN on another port of 127.0.0.1; it is closed by t.Cleanup.
func NewCDN(t testing.TB) *CDN {
	c := &CDN{t: t}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		if h := r.Header.Get("Authorization"); h != "" {
			t.Errorf("the CDN received Authorization %q", h)
		}
		b, ok := c.blobs.Load(r.URL.Path)
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b.([]byte))
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// Redirect answers a blob GET as a registry behind a CDN does: the real
// handler's answer, if not a 200, is relayed; a 200's body goes to the CDN
// and the client is redirected there, with a signed-looking query.
func (c *CDN) Redirect(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rec := Record(next, r)
	if rec.Code != http.StatusOK {
		CopyHeader(w, rec)
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return
	}
	c.blobs.Store("/cdn"+r.URL.Path, rec.Body.Bytes())
	http.Redirect(w, r, c.srv.URL+"/cdn"+r.URL.Path+"?X-Amz-Signature=secret", http.StatusTemporaryRedirect)
}

// Hits is how many requests the CDN received.
func (c *CDN) Hits() int32 { return c.hits.Load() }
