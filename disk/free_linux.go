//go:build linux

package disk

import "golang.org/x/sys/unix"

// blockUnit is the unit of statfs's block counts: f_frsize, as statvfs(3)
// has it, which Linux sets to f_bsize where a filesystem leaves it unset.
func blockUnit(st *unix.Statfs_t) int64 {
	if st.Frsize > 0 {
		return int64(st.Frsize)
	}
	return int64(st.Bsize)
}
