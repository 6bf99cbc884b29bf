//go:build !windows

package disk

import "os"

// Rename renames oldpath to newpath, replacing newpath.
func Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove removes the file or empty directory at name.
func Remove(name string) error { return os.Remove(name) }

// renameOpen says that a file may be renamed while open, so Commit renames
// its temporary file before closing it: the lock is held until it has its
// final name.
const renameOpen = true
