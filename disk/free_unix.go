//go:build unix

package disk

import (
	"golang.org/x/sys/unix"
)

// Free returns the bytes free for an unprivileged user on dir's filesystem.
func Free(dir string) (int64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return -1, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil //nolint:unconvert // the fields' types differ by OS
}

func isDiskFull(error) bool { return false }
