//go:build windows

package disk

import (
	"os"
	"path/filepath"
)

// dirLockFile is the file in a MkdirTemp directory whose lock stands for
// the directory's: Windows locks no directory handle.
const dirLockFile = ".haul-tempdir-lock"

// lockDir locks dir's lock file, made if missing: it reports false when
// someone else holds it, or when dir is gone.
func lockDir(dir string) (*os.File, bool, error) {
	name := filepath.Join(dir, dirLockFile)
	f, err := openLock(name)
	if err != nil {
		return nil, false, err
	}
	ok, err := TryLock(f)
	if err != nil || !ok || !isNamed(f, name) {
		f.Close()
		return nil, false, err
	}
	return f, true, nil
}

// removeLocked is false: the lock is a file inside the directory, which
// must be closed before the directory can be removed. A MkdirTemp of the
// same name cannot come between (its names are random), but one that made
// the directory and has not locked it yet can: a window of one system call.
const removeLocked = false
