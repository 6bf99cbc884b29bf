//go:build unix

package layout

import (
	"os"
	"syscall"
	"testing"
)

// inode returns the number of the file at name, which changes when a new
// file is renamed onto name.
func inode(t *testing.T, name string) uint64 {
	t.Helper()
	fi, err := os.Stat(name)
	if err != nil {
		t.Fatal(err)
	}
	return uint64(fi.Sys().(*syscall.Stat_t).Ino) // a uint32 on some BSDs
}
