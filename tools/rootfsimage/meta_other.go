//go:build !linux && !darwin

package main

import (
	"io/fs"
	"os"
)

// metaOf gives what fi knows: no owners (0), the permission bits Go
// reports, and no inode, so no file of the tree becomes a hardlink.
func metaOf(_ string, fi fs.FileInfo) (meta, error) {
	mode := int64(fi.Mode().Perm())
	if fi.Mode()&os.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if fi.Mode()&os.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if fi.Mode()&os.ModeSticky != 0 {
		mode |= 0o1000
	}
	return meta{mode: mode, mtime: fi.ModTime()}, nil
}
