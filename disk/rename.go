//go:build !windows

package disk

import "os"

// Rename renames oldpath to newpath, replacing newpath.
func Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }
