//go:build linux || darwin || freebsd || dragonfly

package disk

import (
	"io/fs"
	"math"

	"golang.org/x/sys/unix"
)

// Free returns the bytes free for an unprivileged user on dir's filesystem
// (statfs's f_bavail: root may use a reserve beyond it).
func Free(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1, &fs.PathError{Op: "statfs", Path: dir, Err: err}
	}
	unit := blockUnit(&st)
	if unit <= 0 || uint64(st.Bavail) > uint64(math.MaxInt64/unit) { // a FUSE filesystem may say anything
		return math.MaxInt64, nil
	}
	return int64(st.Bavail) * unit, nil
}

func isDiskFull(error) bool { return false } // a full disk's write fails with ENOSPC
