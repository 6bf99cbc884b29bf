package disk

import (
	"os"
	"path/filepath"
	"strings"
)

// RemoveStale removes the temporary files that Create made for path (named
// .BASE.<random>.haul-tmp beside it) and that no process holds locked: what
// a write killed before its Commit or Abort left. A live writer holds its
// file's lock until the file has its final name, so it never loses it here.
// Best effort: it returns how many it removed.
func RemoveStale(path string) int {
	dir, base := filepath.Dir(path), filepath.Base(path)
	return removeStale(dir, func(name string) bool { return isTempOf(name, base) })
}

// RemoveStaleIn is RemoveStale for every temporary file of Create in dir,
// whatever path it was for.
func RemoveStaleIn(dir string) int {
	return removeStale(dir, func(name string) bool {
		rest, ok := strings.CutSuffix(name, TempSuffix)
		i := strings.LastIndexByte(rest, '.')
		return ok && i > 0 && name[0] == '.' && isTempRand(rest[i+1:])
	})
}

func removeStale(dir string, match func(string) bool) int {
	es, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range es {
		if e.Type().IsRegular() && match(e.Name()) && removeUnlocked(filepath.Join(dir, e.Name())) {
			n++
		}
	}
	return n
}

// isTempOf reports whether name is one that Create gives for base.
func isTempOf(name, base string) bool {
	rest, ok := strings.CutPrefix(name, "."+base+".")
	if !ok {
		return false
	}
	rest, ok = strings.CutSuffix(rest, TempSuffix)
	return ok && isTempRand(rest)
}

// isTempRand reports whether s is Create's random part: lower-case base32.
func isTempRand(s string) bool {
	if len(s) != tempRandLen {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// removeUnlocked removes the file at name if no process holds a lock on it,
// and reports whether it did. It removes it while holding the lock itself:
// a Create that opened the name just before locks it only after, and then
// finds it gone (isNamed) and takes another.
func removeUnlocked(name string) bool {
	f, err := openExisting(name)
	if err != nil {
		return false
	}
	defer f.Close()
	ok, err := TryLock(f)
	return ok && err == nil && os.Remove(name) == nil
}

// TempDir is a directory that MkdirTemp made, locked while it is held, so
// that RemoveStaleDirs never removes it while its process lives.
type TempDir struct {
	Name string
	lock *os.File
}

// MkdirTemp makes a new directory in parent named prefix and random digits,
// as os.MkdirTemp(parent, prefix+"*") does, mode 0o700, and locks it. The
// caller renames or removes it, then calls Release; or calls RemoveAll.
func MkdirTemp(parent, prefix string) (*TempDir, error) {
	for {
		name, err := os.MkdirTemp(parent, prefix+"*")
		if err != nil {
			return nil, err
		}
		f, ok, err := lockDir(name)
		if _, serr := os.Stat(name); (ok || err != nil) && serr == nil {
			// With err, there is no lock here (TryLock unsupported), and no sweep either.
			return &TempDir{Name: name, lock: f}, nil
		}
		// A RemoveStaleDirs took it between the mkdir and the lock.
		if f != nil {
			f.Close()
		}
	}
}

// Release lets go of the directory's lock.
func (d *TempDir) Release() {
	if d.lock != nil {
		d.lock.Close()
		d.lock = nil
	}
}

// RemoveAll releases the directory and removes it with all it holds.
func (d *TempDir) RemoveAll() error {
	d.Release()
	return os.RemoveAll(d.Name)
}

// RemoveStaleDirs removes the directories in parent that MkdirTemp made
// with prefix and that no process holds: what an unpack or a pull killed
// before it renamed or removed them left. Best effort: it returns how many
// it removed.
func RemoveStaleDirs(parent, prefix string) int {
	es, err := os.ReadDir(parent)
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range es {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.IsDir() || rest == "" || strings.Trim(rest, "0123456789") != "" {
			continue
		}
		name := filepath.Join(parent, e.Name())
		f, ok, err := lockDir(name)
		if !ok || err != nil {
			continue
		}
		// Removed under the lock, as removeUnlocked removes a file, where
		// the lock is the directory's own; on Windows it is a file inside,
		// which must be closed for the directory to go.
		if !removeLocked {
			f.Close()
		}
		if os.RemoveAll(name) == nil {
			n++
		}
		f.Close()
	}
	return n
}
