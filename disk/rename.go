//go:build !windows

package disk

import "os"

// Rename renames oldpath to newpath, replacing newpath.
func Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// Remove removes the file or empty directory at name.
func Remove(name string) error { return os.Remove(name) }

// createExcl creates the file at name, which must not exist, for reading
// and writing, mode 0o666 less the umask.
func createExcl(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
}
