//go:build darwin || freebsd || dragonfly

package disk

import "golang.org/x/sys/unix"

// blockUnit is the unit of statfs's block counts: f_bsize, the fundamental
// block size (macOS's f_iosize is the one for transfers).
func blockUnit(st *unix.Statfs_t) int64 { return int64(st.Bsize) }
