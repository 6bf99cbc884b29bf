//go:build linux

package rootfs

import "golang.org/x/sys/unix"

// supported says that Create unpacks here.
const supported = true

// renameDir renames the built tree onto the target: rename(2) replaces an
// empty directory, which os.Rename refuses.
func renameDir(from, to string) error { return unix.Rename(from, to) }
