//go:build windows

package layout

import (
	"os"
	"testing"

	"golang.org/x/sys/windows"
)

// inode returns the NTFS file index of the file at name, which changes when
// a new file is renamed onto name.
func inode(t *testing.T, name string) uint64 {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(windows.Handle(f.Fd()), &info); err != nil {
		t.Fatal(err)
	}
	return uint64(info.FileIndexHigh)<<32 | uint64(info.FileIndexLow)
}
