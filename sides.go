package haul

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/push"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

// sides are the registry clients one copy or push reads and writes with:
// the Client's own, or, for a side given its own credentials
// (CopyOptions), clients made for the call and closed after it.
type sides struct {
	cl       *Client
	src, dst auth.Source // nil: the Client's clients

	mu      sync.Mutex
	readers map[string]reader
	made    map[string]*registry.Client // by side and registry
}

func (cl *Client) sides(o CopyOptions) *sides {
	return &sides{cl: cl, src: o.SourceCredentials, dst: o.DestCredentials,
		readers: map[string]reader{}, made: map[string]*registry.Client{}}
}

// source reads the registry name, through its mirrors.
func (s *sides) source(name string) (push.Reader, error) {
	if s.src == nil {
		return s.cl.reader(name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if rd, ok := s.readers[name]; ok {
		return rd, nil
	}
	up, err := s.makeLocked("src", name, s.src)
	if err != nil {
		return nil, err
	}
	rd, err := s.cl.throughMirrors(up, name)
	if err != nil {
		return nil, err
	}
	s.readers[name] = rd
	return rd, nil
}

// own is the source registry's own client, never a mirror: what lists its
// tags.
func (s *sides) own(name string) (*registry.Client, error) {
	if s.src == nil {
		return s.cl.client(name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.makeLocked("src", name, s.src)
}

// dest is the client that writes to the registry name: never a mirror.
func (s *sides) dest(name string) (*registry.Client, error) {
	if s.dst == nil {
		return s.cl.client(name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.makeLocked("dst", name, s.dst)
}

// makeLocked is the client of one side for the registry name, made once.
func (s *sides) makeLocked(side, name string, creds auth.Source) (*registry.Client, error) {
	if c, ok := s.made[side+" "+name]; ok {
		return c, nil
	}
	if err := s.cl.open(); err != nil {
		return nil, err
	}
	rc := s.cl.registryConfig(name)
	rc.Creds = creds
	c, err := registry.New(rc)
	if err != nil {
		return nil, err
	}
	s.made[side+" "+name] = c
	return c, nil
}

// close closes the connections of the clients made for the call.
func (s *sides) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rd := range s.readers {
		rd.CloseIdleConnections()
	}
	for _, c := range s.made {
		c.CloseIdleConnections()
	}
}

// names reports whether the destination to already names want (HEAD); a
// reference it does not know is no error.
func (s *sides) names(ctx context.Context, to ref.Reference, want digest.Digest) (bool, error) {
	dcl, err := s.dest(to.Registry())
	if err != nil {
		return false, err
	}
	have, err := dcl.Digest(ctx, to)
	var re *registry.Error
	if errors.As(err, &re) && re.Status == http.StatusNotFound {
		return false, nil
	}
	return err == nil && have == want, err
}
