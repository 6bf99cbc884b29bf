package disk

import (
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TempSuffix ends every temporary name Create gives, so that a sweep of a
// directory can tell a crashed write's leftover from a finished file.
const TempSuffix = ".haul-tmp"

// File is a file being written under a temporary name beside its final path.
// Commit renames it onto the path; Abort removes it. Until Commit, nothing
// is at the path that was not there before. The file is locked (TryLock)
// while it is open, so that RemoveStale, which removes what a killed
// process left, never removes one that a live process is writing.
type File struct {
	*os.File
	path string
}

// Create makes a new temporary file in path's directory (which must exist),
// mode 0o666 less the umask, as os.Create would. Its name starts with a dot
// and ends with TempSuffix (IsTemp), and it is locked until it is closed.
func Create(path string) (*File, error) {
	dir, base := filepath.Split(path)
	for {
		name := filepath.Join(dir, "."+base+"."+strings.ToLower(rand.Text()[:tempRandLen])+TempSuffix)
		f, err := createExcl(name)
		if errors.Is(err, fs.ErrExist) { // 65 random bits: a second try is already unlikely
			continue
		}
		if err != nil {
			return nil, err
		}
		// A RemoveStale may have found the file between the open and the
		// lock, and removed it: then the name is no longer this file's.
		if ok, err := TryLock(f); (ok || err != nil) && isNamed(f, name) {
			return &File{File: f, path: path}, nil
		}
		f.Close()
	}
}

// tempRandLen is how many random characters a temporary name has (base32,
// lower case).
const tempRandLen = 13

// Path is where Commit puts the file.
func (f *File) Path() string { return f.path }

// Commit renames the file onto its path, replacing what is there, and
// closes it. With sync, its bytes reach the disk before the rename does, and the
// rename before Commit returns. With readOnly, the file loses its write
// permissions first (content that never changes, such as a blob). On
// failure the temporary file is removed.
func (f *File) Commit(sync, readOnly bool) error {
	err := f.finish(sync, readOnly)
	if err == nil {
		err = Rename(f.Name(), f.path)
	}
	// Renamed while still locked: closed first, the file could be taken for
	// a dead process's by a RemoveStale.
	err = errors.Join(err, f.Close())
	if err != nil {
		os.Remove(f.Name())
		return err
	}
	if sync {
		SyncDir(filepath.Dir(f.path))
	}
	return nil
}

func (f *File) finish(sync, readOnly bool) error {
	var err error
	if sync {
		err = f.Sync()
	}
	if readOnly && err == nil {
		err = MakeReadOnly(f.File)
	}
	if err == nil {
		_, err = f.Stat() // a file closed already is no file to rename
	}
	return err
}

// Abort closes and removes the temporary file.
func (f *File) Abort() {
	f.Close()
	os.Remove(f.Name())
}

// WriteFile writes path whole: write fills a temporary file beside it, which
// then replaces path by rename (Commit's sync and readOnly). If write fails,
// nothing changes at path. path's directory is created if missing.
func WriteFile(path string, sync, readOnly bool, write func(*os.File) error) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := Create(path)
	if err != nil {
		return err
	}
	if err := write(f.File); err != nil {
		f.Abort()
		return err
	}
	return f.Commit(sync, readOnly)
}

// MakeReadOnly removes f's write permissions: a blob never changes, and an
// output that hardlinks a cache's blob must not be able to edit it in place.
func MakeReadOnly(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return f.Chmod(fi.Mode().Perm() &^ 0o222)
}

// IsTemp reports whether name (a base name) is one Create gives.
func IsTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.HasSuffix(name, TempSuffix)
}

// SyncDir makes a rename in dir durable; best effort, since some filesystems
// (and Windows) refuse to sync a directory.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Empty truncates f to zero bytes, unless it is empty already: on ext4 a
// truncate to zero, even of an empty file, marks the file to have its dirty
// pages written back by whoever closes it (auto_da_alloc, for programs that
// rewrite a file in place), so the writer would submit the writeback of all
// it wrote next itself, instead of leaving it to the kernel.
func Empty(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() == 0 {
		return nil
	}
	return f.Truncate(0)
}
