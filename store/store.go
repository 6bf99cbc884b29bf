package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/layout"
)

const (
	ingestDir     = "ingest"
	partialSuffix = ".partial"
	lockSuffix    = ".lock"
	// defaultPartialMaxAge is how long an abandoned partial waits for a pull
	// to resume it: long enough for a weekend, short enough not to hoard.
	defaultPartialMaxAge = 7 * 24 * time.Hour
)

// Config configures a Store. The zero value is a store in the user's cache directory.
type Config struct {
	Dir           string              // "": $XDG_CACHE_HOME/haul, else $HOME/.cache/haul
	Env           func(string) string // nil: os.Getenv
	Now           func() time.Time    // nil: time.Now
	PartialMaxAge time.Duration       // partials older than this are dropped by Open and Prune; 0: 7 days
}

// Store is a blob cache on disk. Its methods may be called from several
// goroutines, and several processes may share one store directory.
type Store struct {
	layout        *layout.Layout
	ingest        string
	now           func() time.Time
	partialMaxAge time.Duration
	boot          string // disk.BootID(): this boot's, for the notes of unsynced blobs
}

// DefaultDir is the cache directory when Config.Dir is "":
// $XDG_CACHE_HOME/haul, else on Windows %LocalAppData%\haul (where
// os.UserCacheDir puts caches; HOME is seldom set there), else
// ~/.cache/haul (disk.Home); "" without any of them.
func DefaultDir(getenv func(string) string) string {
	// The XDG base directory spec says to ignore a relative XDG_CACHE_HOME.
	if x := getenv("XDG_CACHE_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "haul")
	}
	if x := getenv("LocalAppData"); runtime.GOOS == "windows" && x != "" {
		return filepath.Join(x, "haul")
	}
	if h := disk.Home(getenv); h != "" {
		return filepath.Join(h, ".cache", "haul")
	}
	return ""
}

// Open opens the store at c.Dir, creating it if needed (private to the user:
// private images' layers go there). It drops, best effort, the partial
// downloads older than c.PartialMaxAge that no one is resuming, and the
// temporary files that crashed writes left behind.
func Open(c Config) (*Store, error) {
	if c.Env == nil {
		c.Env = os.Getenv
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.PartialMaxAge <= 0 {
		c.PartialMaxAge = defaultPartialMaxAge
	}
	dir := c.Dir
	if dir == "" {
		if dir = DefaultDir(c.Env); dir == "" {
			return nil, errors.New("opening store: no cache directory: neither XDG_CACHE_HOME nor HOME is set")
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, ingestDir), 0o700); err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	l, err := layout.Create(dir)
	if err != nil {
		return nil, fmt.Errorf("opening store: %w", err)
	}
	s := &Store{
		layout:        l,
		ingest:        filepath.Join(dir, ingestDir),
		now:           c.Now,
		partialMaxAge: c.PartialMaxAge,
		boot:          disk.BootID(),
	}
	// Best effort: a store that cannot be tidied still works.
	s.sweepBoots()
	s.prune(func() error { return nil }, false, s.now().Add(-s.partialMaxAge))
	return s, nil
}

// Dir is the store's directory.
func (s *Store) Dir() string { return s.layout.Dir() }

// Layout is the OCI image layout the store's blobs are kept in. The store
// does not write its index.json.
func (s *Store) Layout() *layout.Layout { return s.layout }

// Path returns the path of blob d, and whether it is present with d's size
// (and so was verified when it was written). A blob written before the
// machine last restarted is hashed again at its first use since, and
// removed if a power failure damaged it.
func (s *Store) Path(ctx context.Context, d image.Descriptor) (string, bool) {
	p, err := s.layout.BlobPath(d.Digest)
	if err != nil {
		return "", false
	}
	ok, err := s.layout.Has(d)
	return p, ok && err == nil && s.checkSuspect(ctx, d, p)
}

// Put stores a small blob held in memory, such as a manifest, if it is
// absent. b must be d's content: it is verified before it is kept.
func (s *Store) Put(ctx context.Context, d image.Descriptor, b []byte) error {
	if _, ok := s.Path(ctx, d); ok {
		return nil
	}
	s.markUnsynced(d)
	return s.layout.WriteBlob(ctx, d, bytes.NewReader(b))
}

// partialPath is where blob d's download is kept until it is complete:
// ingest/<alg>-<encoded>.partial. d has been validated.
func (s *Store) partialPath(d image.Descriptor) string {
	return filepath.Join(s.ingest, string(d.Digest.Algorithm())+"-"+d.Digest.Encoded()+partialSuffix)
}
