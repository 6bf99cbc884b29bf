//go:build !windows

package disk

import "os"

// lockDir locks the directory dir itself (flock on its descriptor): it
// reports false when someone else holds it, or when dir is no longer the
// directory that name (a RemoveStaleDirs removed it meanwhile). Where
// TryLock is not implemented, it returns its error.
func lockDir(dir string) (*os.File, bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, false, err
	}
	ok, err := TryLock(f)
	if err != nil || !ok || !isNamed(f, dir) {
		f.Close()
		return nil, false, err
	}
	return f, true, nil
}

// removeLocked says that RemoveStaleDirs removes a directory while it holds
// its lock, so that no MkdirTemp can take it up in between.
const removeLocked = true
