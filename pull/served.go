package pull

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
)

// Served is what one endpoint gave a pull: the blobs whose bytes it sent (a
// blob resumed from a partial download counts for the endpoint that sent the
// rest), and their total size.
type Served struct {
	From   string `json:"from"`   // the endpoint's host; "" for the cache
	Mirror bool   `json:"mirror"` // From is a mirror, not the upstream registry
	Blobs  int    `json:"blobs"`
	Bytes  int64  `json:"bytes"`
}

// servedBy is a blob stream that knows which endpoint served it: a
// mirror.Source's, which may move from a mirror to the upstream.
type servedBy interface {
	ServedBy() (host string, mirror bool)
}

// elsewhere is an error after which the Source may serve the blob again from
// another endpoint: a mirror sent bytes that failed verification, and the
// Source will not ask it again.
type elsewhere interface {
	TryElsewhere() bool
}

// maxElsewhere bounds how often one blob is asked for again after a bad copy.
const maxElsewhere = 8

// again reports whether a failed blob fetch is worth another try elsewhere.
func again(err error, try int) bool {
	var e elsewhere
	return try < maxElsewhere && errors.As(err, &e) && e.TryElsewhere()
}

// withBadCopy is err, the last try's, saying which bad copy came before it.
func withBadCopy(err, bad error) error {
	if bad == nil {
		return err
	}
	return fmt.Errorf("%w; before that, %w", err, bad)
}

// served is where one blob's bytes came from, as its fetcher opened them.
type served struct {
	rc   io.ReadCloser
	host string
}

func (s *served) opened(rc io.ReadCloser, host string) {
	s.rc, s.host = rc, host
}

// from is the endpoint that served the blob, "" if nothing was fetched.
func (s *served) from() (string, bool) {
	if sb, ok := s.rc.(servedBy); ok {
		return sb.ServedBy()
	}
	return s.host, false
}

func urlHost(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}

// addServed counts a blob of size bytes for host (""; the cache).
func (r *Result) addServed(host string, mirror bool, size int64) {
	for i := range r.Served {
		if s := &r.Served[i]; s.From == host && s.Mirror == mirror {
			s.Blobs++
			s.Bytes += size
			return
		}
	}
	r.Served = append(r.Served, Served{From: host, Mirror: mirror, Blobs: 1, Bytes: size})
}

// sortServed orders res.Served as a summary reads it: mirrors, then the
// upstream registries, then the cache.
func sortServed(res *Result) {
	rank := func(s Served) int {
		switch {
		case s.From == "":
			return 2
		case s.Mirror:
			return 0
		}
		return 1
	}
	slices.SortFunc(res.Served, func(a, b Served) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(a.From, b.From))
	})
}
