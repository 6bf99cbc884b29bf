package registrytest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
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
