package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/registry"
)

// uploadsDir holds the sessions of uploads in progress, one JSON file per
// destination and blob: uploads/<registry>/<repository>/<alg>-<hex>.json.
const uploadsDir = "uploads"

// maxSessionFile caps what is read of a session file.
const maxSessionFile = 64 << 10

// Uploads keeps the sessions of blob uploads beside the cache, so that a push
// or copy interrupted in one run is resumed by the next (registry.PushBlob).
// A session is held by one upload at a time, in any process, through a lock
// file beside it, as a Partial is. It is a registry.UploadSessions.
type Uploads struct {
	s *Store
}

// Uploads is the store's upload sessions.
func (s *Store) Uploads() *Uploads { return &Uploads{s: s} }

// path is where key's session lives. A registry name may hold a port
// ("127.0.0.1:5000"); ':' cannot be in a Windows file name, and '+' cannot be
// in a registry name, so it stands for it.
func (u *Uploads) path(key registry.UploadSession) (string, error) {
	if err := image.ValidateDigest(key.Digest); err != nil {
		return "", err
	}
	host := strings.ReplaceAll(key.Registry, ":", "+")
	if host == "" || strings.ContainsAny(host, `/\`) || host == "." || host == ".." {
		return "", fmt.Errorf("upload session: unusable registry name %q", key.Registry)
	}
	for _, c := range strings.Split(key.Repository, "/") {
		if c == "" || c == "." || c == ".." || strings.ContainsAny(c, `\:`) {
			return "", fmt.Errorf("upload session: unusable repository name %q", key.Repository)
		}
	}
	name := key.Digest.Algorithm().String() + "-" + key.Digest.Encoded() + ".json"
	return filepath.Join(u.s.Dir(), uploadsDir, host, filepath.FromSlash(key.Repository), name), nil
}

// Hold locks key's session, waiting while another upload holds it (until ctx
// is done), and returns what was saved for it: a session with URL "" when
// nothing was, or what was saved is unreadable, for another blob, or older
// than the store's PartialMaxAge (registries expire sessions long before).
func (u *Uploads) Hold(ctx context.Context, key registry.UploadSession) (registry.UploadSession, func(), error) {
	name, err := u.path(key)
	if err != nil {
		return registry.UploadSession{}, nil, err
	}
	if err := os.MkdirAll(filepath.Dir(name), 0o700); err != nil {
		return registry.UploadSession{}, nil, fmt.Errorf("holding the upload session of %s: %w", key.Digest, err)
	}
	lock, err := disk.LockPath(ctx, strings.TrimSuffix(name, ".json")+lockSuffix)
	if err != nil {
		return registry.UploadSession{}, nil, fmt.Errorf("waiting for the upload of %s by another process: %w", key.Digest, err)
	}
	release := func() { unlock(lock) }
	saved, ok := readSession(name)
	if !ok || saved.Registry != key.Registry || saved.Repository != key.Repository || saved.Digest != key.Digest ||
		saved.Updated.Before(u.s.now().Add(-u.s.partialMaxAge)) {
		saved = registry.UploadSession{}
	}
	return saved, release, nil
}

func readSession(name string) (registry.UploadSession, bool) {
	f, err := os.Open(name)
	if err != nil {
		return registry.UploadSession{}, false
	}
	defer f.Close()
	var s registry.UploadSession
	if err := json.NewDecoder(io.LimitReader(f, maxSessionFile)).Decode(&s); err != nil {
		return registry.UploadSession{}, false
	}
	return s, true
}

// Save writes s whole (a crash leaves the old session or the new one), not
// fsynced: a session lost to a power failure costs a resumption, no more.
func (u *Uploads) Save(ctx context.Context, s registry.UploadSession) error {
	name, err := u.path(s)
	if err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	err = disk.WriteFile(name, false, false, func(f *os.File) error {
		_, err := f.Write(append(b, '\n'))
		return err
	})
	if err != nil {
		return fmt.Errorf("saving the upload session of %s: %w", s.Digest, err)
	}
	return nil
}

// Remove forgets s's session; a session already gone is no error.
func (u *Uploads) Remove(ctx context.Context, s registry.UploadSession) error {
	name, err := u.path(s)
	if err != nil {
		return err
	}
	if err := disk.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing the upload session of %s: %w", s.Digest, err)
	}
	return nil
}
