//go:build linux || darwin

package main

import (
	"io/fs"
	"time"

	"golang.org/x/sys/unix"
)

// metaOf reads what a layer records of p beyond fi: permission bits with
// setuid, setgid and sticky, owners, the mtime to the nanosecond, and the
// inode that tells hardlinks apart.
func metaOf(p string, _ fs.FileInfo) (meta, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return meta{}, &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	return meta{
		mode:  int64(st.Mode & 0o7777),
		uid:   int(st.Uid),
		gid:   int(st.Gid),
		mtime: time.Unix(int64(st.Mtim.Sec), int64(st.Mtim.Nsec)),
		inode: [2]uint64{uint64(st.Dev), st.Ino}, // Dev is an int32 on macOS
	}, nil
}
