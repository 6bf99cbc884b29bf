// Package loopfs mounts a small filesystem of a chosen type for a test: a
// sparse image in the test's temporary directory on a loop device, made by
// that filesystem's mkfs, so that a test can see what XFS or Btrfs do (shared
// extents) that the machine's own filesystem does not. It needs Linux and
// root; without them, or without the mkfs, or where the kernel cannot mount
// the type, the test is skipped with a message saying which.
package loopfs

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// imageSize is the size of the sparse image: mkfs.xfs refuses less than
// 300 MB. Only what the filesystem and the test write takes disk space.
const imageSize = 512 << 20

// mkfs is the command that makes a filesystem of type fstype, reflinks on
// for XFS; nil for a type it does not know.
func mkfs(fstype string) []string {
	switch fstype {
	case "xfs":
		return []string{"mkfs.xfs", "-q", "-f", "-m", "reflink=1"}
	case "btrfs":
		return []string{"mkfs.btrfs", "-q", "-f"}
	case "ext4":
		return []string{"mkfs.ext4", "-q", "-F"}
	}
	return nil
}

// Mount returns the root of a fresh filesystem of type fstype ("xfs",
// "btrfs", "ext4" on a loop device; "tmpfs" in memory), unmounted and its loop
// device detached when t ends. It skips t where that cannot be done.
func Mount(t testing.TB, fstype string) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("loopfs: mounting %s needs Linux", fstype)
	}
	if os.Geteuid() != 0 {
		t.Skipf("loopfs: mounting %s needs root", fstype)
	}
	work := t.TempDir()
	dir := filepath.Join(work, "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if fstype == "tmpfs" {
		if out, err := run(t, "mount", "-t", "tmpfs", "-o", "size=64m", "loopfs", dir); err != nil {
			t.Skipf("loopfs: mount -t tmpfs: %v: %s", err, out)
		}
		t.Cleanup(func() { unmount(t, dir) })
		return dir
	}
	cmd := mkfs(fstype)
	if cmd == nil {
		t.Fatalf("loopfs: no mkfs known for %q", fstype)
	}
	if _, err := exec.LookPath(cmd[0]); err != nil {
		t.Skipf("loopfs: %s not found (Debian's xfsprogs, btrfs-progs, e2fsprogs)", cmd[0])
	}
	img := filepath.Join(work, fstype+".img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, imageSize); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, cmd[0], append(cmd[1:], img)...); err != nil {
		t.Fatalf("loopfs: %s: %v: %s", strings.Join(cmd, " "), err, out)
	}
	out, err := run(t, "losetup", "--find", "--show", img)
	if err != nil {
		t.Skipf("loopfs: no loop device: losetup: %v: %s", err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := run(t, "losetup", "-d", dev); err != nil {
			t.Errorf("loopfs: losetup -d %s: %v: %s", dev, err, out)
		}
	})
	if out, err := run(t, "mount", "-t", fstype, dev, dir); err != nil {
		t.Skipf("loopfs: the kernel cannot mount %s: %v: %s", fstype, err, out)
	}
	t.Cleanup(func() { unmount(t, dir) }) // before the detach: cleanups run last first
	return dir
}

// unmount unmounts dir, trying again for a few seconds while it is busy
// (a file the test closed may still be in use for a moment).
func unmount(t testing.TB, dir string) {
	t.Helper()
	var out []byte
	var err error
	for range 50 {
		if out, err = run(t, "umount", dir); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("loopfs: umount %s: %v: %s", dir, err, out)
}

// run runs a command, bounded by a minute, and returns its combined output.
// Its context is not t's: cleanups, which unmount and detach, run after t's
// context is done.
func run(t testing.TB, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}
