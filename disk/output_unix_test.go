//go:build unix

package disk_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/internal/loopfs"
)

// TestCheckFileNotRegular: a named pipe is no file a tar can replace (Commit
// would rename over it): CheckFile refuses it, as docker save refuses a
// device.
func TestCheckFileNotRegular(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(path, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	checkRefusal(t, disk.CheckFile(path), path, disk.ErrNotRegular)
}

// TestCheckReadOnlyMount: a directory on a read-only mount takes no file,
// whatever its mode bits say to root. CheckFile and CheckDir find it out by
// trying, and say EROFS with the path given.
func TestCheckReadOnlyMount(t *testing.T) {
	t.Parallel()
	mnt := loopfs.Mount(t, "tmpfs") // skips without Linux and root
	if err := os.Mkdir(filepath.Join(mnt, "sub"), 0o777); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
		t.Skipf("mount -o remount,ro: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("mount", "-o", "remount,rw", mnt).Run() })
	for _, path := range []string{filepath.Join(mnt, "x.tar"), filepath.Join(mnt, "sub", "x.tar")} {
		checkRefusal(t, disk.CheckFile(path), path, syscall.EROFS)
	}
	checkRefusal(t, disk.CheckDir(filepath.Join(mnt, "sub")), filepath.Join(mnt, "sub"), syscall.EROFS)
	checkRefusal(t, disk.CheckDir(filepath.Join(mnt, "new")), filepath.Join(mnt, "new"), syscall.EROFS)
}
