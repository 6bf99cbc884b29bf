//go:build linux

package rootfs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"
	"github.com/opencontainers/go-digest"
	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh." // aufs' own bookkeeping (.wh..wh.plnk, .wh..wh.aufs): never content
	opaqueMarker   = ".wh..wh..opq"
	xattrPrefix    = "SCHILY.xattr."
	// checkEvery is how much content is written, and checkEntries how many
	// entries are made, between two looks at the filesystem's free space.
	checkEvery   = 32 << 20
	checkEntries = 1024
	// minFreeInodes is the inode margin kept on filesystems that count inodes.
	minFreeInodes = 4096
	// maxCachedDirs bounds the directory handles kept open between entries.
	maxCachedDirs = 1024
)

var (
	errEscapes   = errors.New("the path leaves the root (..)")
	errRootType  = errors.New("the root may only be a directory")
	errLinkToDir = errors.New("a hardlink may not point to a directory")
)

// times are a directory's times from its header, set again at the end,
// since every entry made inside it changes its mtime.
type times struct{ atime, mtime time.Time }

// extractor applies layers to the tree under root. Paths it keeps are real
// paths relative to the root, "/"-rooted and cleaned, as the kernel resolved
// them (symlinks followed inside the root), never the names a header gave.
type extractor struct {
	root     *os.File // O_PATH handle of the tree's root
	rootReal string   // its path, as /proc/self/fd reports it
	c        Config
	warn     func(string)
	rootless bool
	uid, gid int
	umask    uint32
	buf      []byte

	dirs     map[string]*os.File // parent handles by real directory path ("/a/b"); never through a symlink
	dirTimes map[string]times    // directories' header times, applied again by finish
	written  map[string]bool     // real paths this layer made: its own whiteouts and opaque markers spare them
	under    map[string]bool     // real directory paths holding something this layer made
	warned   map[string]bool

	stats     *Stats
	sinceFree int64 // bytes written since the last free-space check
	entries   int64 // entries since the last free-space check
	layer     digest.Digest
}

func newExtractor(dir string, c Config, stats *Stats) (*extractor, error) {
	root, err := os.OpenFile(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	real, err := fdPath(root)
	if err != nil {
		root.Close()
		return nil, err
	}
	x := &extractor{
		root:     root,
		rootReal: real,
		c:        c,
		warn:     c.Warn,
		rootless: os.Geteuid() != 0,
		uid:      os.Geteuid(),
		gid:      os.Getegid(),
		umask:    processUmask(),
		buf:      make([]byte, 256<<10),
		dirs:     map[string]*os.File{},
		dirTimes: map[string]times{},
		warned:   map[string]bool{},
		stats:    stats,
	}
	if x.warn == nil {
		x.warn = func(string) {}
	}
	return x, nil
}

// fdPath is the path the kernel knows f by.
func fdPath(f *os.File) (string, error) {
	return os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
}

// processUmask reads the umask without changing it (umask(2) would, for a
// moment, for every thread of the process).
func processUmask() uint32 {
	b, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return uint32(m)
				}
			}
		}
	}
	return 0o777 // unknown: always chmod
}

func (x *extractor) close() {
	for _, d := range x.dirs {
		d.Close()
	}
	x.dirs = nil
	x.root.Close()
}

// apply applies one layer's uncompressed tar.
func (x *extractor) apply(ctx context.Context, layer digest.Digest, r io.Reader) error {
	x.layer = layer
	x.written = map[string]bool{}
	x.under = map[string]bool{}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("layer %s: reading tar: %w", layer, err)
		}
		if err := x.entry(hdr, tr); err != nil {
			var le *LimitError
			if errors.As(err, &le) || ctx.Err() != nil {
				return fmt.Errorf("layer %s: entry %q: %w", layer, hdr.Name, err)
			}
			return &EntryError{Layer: layer, Entry: hdr.Name, Err: err}
		}
	}
}

// cleanName turns an archive path into a "/"-rooted clean path, or refuses it.
// A leading "/" is dropped, as tar does; a ".." that would climb out of the
// root is refused, as docker does, rather than quietly clamped.
func cleanName(unsafeName string) (string, error) {
	if strings.IndexByte(unsafeName, 0) >= 0 {
		return "", errors.New("the path holds a NUL byte")
	}
	rel := path.Clean(strings.TrimLeft(unsafeName, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", errEscapes
	}
	if rel == "." {
		return "/", nil
	}
	return "/" + rel, nil
}

func (x *extractor) entry(hdr *tar.Header, tr io.Reader) error {
	x.stats.Entries++
	x.entries++
	if x.c.MaxEntries > 0 && x.stats.Entries > x.c.MaxEntries {
		return &LimitError{What: "entries", Limit: x.c.MaxEntries, Hint: "--max-entries"}
	}
	if x.entries >= checkEntries {
		if err := x.checkFree(); err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader:
		return nil // archive/tar has applied it
	case tar.TypeGNUSparse:
		hdr.Typeflag = tar.TypeReg // archive/tar expands the holes as it reads
	}
	p, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if p == "/" {
		if hdr.Typeflag != tar.TypeDir {
			return errRootType
		}
		return x.rootEntry(hdr)
	}
	dir, base := path.Split(p)
	dir = path.Clean(dir)
	if len(x.dirs) > maxCachedDirs {
		// Between entries no handle is in use: start the cache afresh.
		for _, d := range x.dirs {
			d.Close()
		}
		clear(x.dirs)
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		return x.whiteout(dir, base)
	}
	parent, realDir, err := x.parent(dir, true)
	if err != nil {
		return err
	}
	defer x.release(parent, realDir)
	real := path.Join(realDir, base)

	x.made(real)
	err = x.create(parent, base, real, hdr, tr)
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	// Something is there. A directory entry merges with a directory; anything
	// else goes, with everything under it: a later layer replaces a directory
	// by a file, a file by a link.
	var st unix.Stat_t
	if err := unix.Fstatat(fd(parent), base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if isDir && hdr.Typeflag == tar.TypeDir {
		return x.mkdir(parent, base, real, hdr, true)
	}
	if err := removeAt(fd(parent), base, isDir); err != nil {
		return fmt.Errorf("replacing %s: %w", real, err)
	}
	x.forget(real)
	x.made(real)
	return x.create(parent, base, real, hdr, tr)
}

// create makes the entry base in parent; an error wrapping EEXIST says
// that something is in the way, and that nothing was done.
func (x *extractor) create(parent *os.File, base, real string, hdr *tar.Header, tr io.Reader) error {
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.mkdir(parent, base, real, hdr, false)
	case tar.TypeReg:
		return x.file(parent, base, hdr, tr)
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, fd(parent), base); err != nil {
			return fmt.Errorf("symlink: %w", err)
		}
		return x.meta(parent, base, hdr, true)
	case tar.TypeLink:
		return x.hardlink(parent, base, hdr)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return x.node(parent, base, real, hdr)
	}
	return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
}

// rootEntry gives the root the header's metadata; its type never changes.
func (x *extractor) rootEntry(hdr *tar.Header) error {
	d, err := openDirAt(fd(x.root), ".")
	if err != nil {
		return err
	}
	defer unix.Close(d)
	if err := x.fileMeta(d, hdr, true, true); err != nil {
		return err
	}
	x.dirTimes["/"] = headerTimes(hdr)
	return nil
}

// parent returns a handle of the directory at unsafeDir, resolved inside the
// root as a chroot would, and its real path. With create, missing directories
// are made (0755, as docker and umoci make them). A handle reached through no
// symlink is cached; one reached through a symlink is not, since removing its
// real path would leave the cache pointing at an unlinked directory under
// another name.
func (x *extractor) parent(unsafeDir string, create bool) (*os.File, string, error) {
	if unsafeDir == "/" {
		return x.root, "/", nil
	}
	if d, ok := x.dirs[unsafeDir]; ok {
		return d, unsafeDir, nil
	}
	var d *os.File
	var err error
	if create {
		d, err = pathrs.MkdirAllHandle(x.root, unsafeDir, 0o755)
	} else {
		d, err = pathrs.OpenatInRoot(x.root, unsafeDir)
	}
	if err != nil {
		return nil, "", err
	}
	real, err := fdPath(d)
	if err != nil {
		d.Close()
		return nil, "", err
	}
	rel, ok := strings.CutPrefix(real, x.rootReal)
	if !ok || (rel != "" && rel[0] != '/') {
		d.Close()
		return nil, "", fmt.Errorf("%s resolved outside the root", unsafeDir) // cannot happen with RESOLVE_IN_ROOT
	}
	if rel == "" {
		d.Close()
		return x.root, "/", nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd(d), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		d.Close()
		return nil, "", fmt.Errorf("%s: %w", unsafeDir, unix.ENOTDIR)
	}
	if rel == unsafeDir {
		x.dirs[rel] = d
	}
	return d, rel, nil
}

// release closes a handle parent returned that is not cached.
func (x *extractor) release(d *os.File, real string) {
	if d != x.root && x.dirs[real] != d {
		d.Close()
	}
}

// forget drops what is known of real and everything under it, which has
// just been removed or replaced.
func (x *extractor) forget(real string) {
	prefix := real + "/"
	for k, d := range x.dirs {
		if k == real || strings.HasPrefix(k, prefix) {
			d.Close()
			delete(x.dirs, k)
		}
	}
	for k := range x.dirTimes {
		if k == real || strings.HasPrefix(k, prefix) {
			delete(x.dirTimes, k)
		}
	}
	for k := range x.written {
		if strings.HasPrefix(k, prefix) {
			delete(x.written, k)
		}
	}
}

// made records that this layer made real, for its own whiteouts to spare.
func (x *extractor) made(real string) {
	x.written[real] = true
	for d := path.Dir(real); ; d = path.Dir(d) {
		if x.under[d] {
			break
		}
		x.under[d] = true
		if d == "/" {
			break
		}
	}
}

// whiteout applies .wh.NAME (remove NAME from the layers below) or the opaque
// marker (hide everything the layers below put in dir). What this layer made
// itself stays, whatever the order of entries: the spec only asks that
// whiteouts come first, and umoci spares them too.
func (x *extractor) whiteout(dir, base string) error {
	if base == opaqueMarker {
		parent, realDir, err := x.parent(dir, true)
		if err != nil {
			return err
		}
		defer x.release(parent, realDir)
		x.made(realDir)
		return x.opaque(parent, realDir)
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return fmt.Errorf("whiteout of %q", name)
	}
	parent, realDir, err := x.parent(dir, false)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
		return nil // nothing below to hide
	}
	if err != nil {
		return err
	}
	defer x.release(parent, realDir)
	real := path.Join(realDir, name)
	if x.written[real] {
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstatat(fd(parent), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil // absent: nothing to hide
	}
	if x.under[real] {
		// This layer made things inside it: hide the rest.
		return x.opaqueAt(parent, name, real)
	}
	if err := removeAt(fd(parent), name, st.Mode&unix.S_IFMT == unix.S_IFDIR); err != nil {
		return fmt.Errorf("whiteout of %s: %w", real, err)
	}
	x.forget(real)
	return nil
}

func (x *extractor) opaqueAt(parent *os.File, name, real string) error {
	d, err := openDir(fd(parent), name)
	if err != nil {
		return err
	}
	defer d.Close()
	return x.opaque(d, real)
}

// opaque removes from the directory d (at real) everything the layers below
// made, keeping what this layer made.
func (x *extractor) opaque(d *os.File, real string) error {
	rd, err := openDir(fd(d), ".")
	if err != nil {
		return err
	}
	defer rd.Close()
	names, err := rd.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, n := range names {
		child := path.Join(real, n)
		switch {
		case x.written[child] && !x.under[child]:
		case x.under[child]:
			var st unix.Stat_t
			if err := unix.Fstatat(fd(rd), n, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
				if err := x.opaqueAt(rd, n, child); err != nil {
					return err
				}
			}
		default:
			var st unix.Stat_t
			if err := unix.Fstatat(fd(rd), n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
			if err := removeAt(fd(rd), n, st.Mode&unix.S_IFMT == unix.S_IFDIR); err != nil {
				return fmt.Errorf("opaque %s: %w", real, err)
			}
			x.forget(child)
		}
	}
	return nil
}

func (x *extractor) mkdir(parent *os.File, base, real string, hdr *tar.Header, exists bool) error {
	if !exists {
		if err := unix.Mkdirat(fd(parent), base, 0o700); err != nil {
			return fmt.Errorf("mkdir: %w", err)
		}
	}
	d, err := openDirAt(fd(parent), base)
	if err != nil {
		return err
	}
	if err := x.fileMeta(d, hdr, true, true); err != nil {
		unix.Close(d)
		return err
	}
	x.dirTimes[real] = headerTimes(hdr)
	// Its children come next: keep the handle. It was opened from its real
	// parent without following a symlink, so real is its path.
	if _, ok := x.dirs[real]; !ok {
		x.dirs[real] = os.NewFile(uintptr(d), real)
		return nil
	}
	return unix.Close(d)
}

func (x *extractor) file(parent *os.File, base string, hdr *tar.Header, tr io.Reader) error {
	perm := x.perm(hdr, false)
	// When nothing would change the mode later (no chown, which clears
	// setuid; a umask that keeps every bit; no setgid, which the kernel may
	// drop at creation), it is set at creation, saving a chmod per file.
	direct := perm&x.umask == 0 && perm&0o7000 == 0 && !x.chowns(hdr)
	mode := uint32(0o600)
	if direct {
		mode = perm
	}
	nfd, err := unix.Openat(fd(parent), base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return fmt.Errorf("create: %w", err)
	}
	err = x.fill(nfd, hdr, tr, !direct)
	if cerr := unix.Close(nfd); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	return err
}

func (x *extractor) fill(f int, hdr *tar.Header, tr io.Reader, chmod bool) error {
	if hdr.Size > 0 {
		if err := x.content(f, tr, hdr.Size); err != nil {
			return err
		}
	}
	x.stats.Files++
	return x.fileMeta(f, hdr, false, chmod)
}

// content copies size bytes of an entry to f, within the limits.
func (x *extractor) content(f int, tr io.Reader, size int64) error {
	if x.c.MaxSize > 0 && x.stats.Bytes+size > x.c.MaxSize {
		return &LimitError{What: "size", Limit: x.c.MaxSize, Hint: "--max-size"}
	}
	for left := size; left > 0; {
		n := min(left, int64(len(x.buf)))
		k, err := io.ReadFull(tr, x.buf[:n])
		if werr := writeAll(f, x.buf[:k]); werr != nil {
			return fmt.Errorf("write: %w", werr)
		}
		x.stats.Bytes += int64(k)
		x.sinceFree += int64(k)
		left -= int64(k)
		if err != nil {
			return err
		}
		if x.sinceFree >= checkEvery {
			if err := x.checkFree(); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkFree stops the unpack before the target's filesystem runs out of
// space or inodes: a small layer can expand to anything.
func (x *extractor) checkFree() error {
	x.sinceFree, x.entries = 0, 0
	if x.c.MinFree < 0 {
		return nil
	}
	minFree := x.c.MinFree
	if minFree == 0 {
		minFree = DefaultMinFree
	}
	var s unix.Statfs_t
	if err := unix.Fstatfs(fd(x.root), &s); err != nil {
		return nil // no figures: nothing to judge by
	}
	if free := int64(s.Bavail) * s.Bsize; free < minFree {
		return &LimitError{What: "free space", Limit: minFree, Hint: fmt.Sprintf("the target filesystem has %d bytes left; free some, or unpack elsewhere", free)}
	}
	if s.Files > 0 && s.Ffree < minFreeInodes {
		return &LimitError{What: "free inodes", Limit: minFreeInodes, Hint: fmt.Sprintf("the target filesystem has %d inodes left", s.Ffree)}
	}
	return nil
}

func (x *extractor) hardlink(parent *os.File, base string, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	if target == "/" {
		return errLinkToDir
	}
	tdir, tbase := path.Split(target)
	tparent, treal, err := x.parent(path.Clean(tdir), false)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	defer x.release(tparent, treal)
	var st unix.Stat_t
	if err := unix.Fstatat(fd(tparent), tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return errLinkToDir
	}
	// No AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself, as
	// tar means it, and is never followed out of the root.
	if err := unix.Linkat(fd(tparent), tbase, fd(parent), base, 0); err != nil {
		return fmt.Errorf("hardlink to %q: %w", hdr.Linkname, err)
	}
	return nil
}

func (x *extractor) node(parent *os.File, base, real string, hdr *tar.Header) error {
	mode := uint32(unix.S_IFIFO)
	switch hdr.Typeflag {
	case tar.TypeChar:
		mode = unix.S_IFCHR
	case tar.TypeBlock:
		mode = unix.S_IFBLK
	}
	if mode != unix.S_IFIFO && x.rootless {
		x.warn(fmt.Sprintf("layer %s: skipped device %s (only root can make device nodes)", x.layer, real))
		delete(x.written, real)
		return nil
	}
	dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
	if err := unix.Mknodat(fd(parent), base, mode|0o600, int(dev)); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	return x.meta(parent, base, hdr, false)
}

// chowns reports whether hdr's owner must be set.
func (x *extractor) chowns(hdr *tar.Header) bool {
	return !x.rootless && (hdr.Uid != x.uid || hdr.Gid != x.gid)
}

// perm is the mode an entry gets: the header's permission, setuid, setgid
// and sticky bits; when not root, the owner may always read (and, for a
// directory, enter and change) what it unpacked.
func (x *extractor) perm(hdr *tar.Header, dir bool) uint32 {
	m := uint32(hdr.Mode) & 0o7777
	if x.rootless {
		if dir {
			m |= 0o700
		} else {
			m |= 0o400
		}
	}
	return m
}

// fileMeta sets owner, xattrs, mode (with chmod: else it was set at
// creation) and times on an open file or directory, in that order: chown
// clears setuid bits and file capabilities.
func (x *extractor) fileMeta(f int, hdr *tar.Header, dir, chmod bool) error {
	if x.chowns(hdr) {
		if err := unix.Fchown(f, hdr.Uid, hdr.Gid); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	} else if x.rootless && (hdr.Uid != x.uid || hdr.Gid != x.gid) {
		x.warnOnce("owner", "owners are not kept when not unpacking as root")
	}
	if err := x.xattrs(hdr, func(k, v string) error { return unix.Fsetxattr(f, k, []byte(v), 0) }); err != nil {
		return err
	}
	if chmod {
		if err := unix.Fchmod(f, x.perm(hdr, dir)); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if dir {
		return nil // finish sets directories' times, once nothing more is made in them
	}
	t := headerTimes(hdr)
	ts := []unix.Timespec{unix.NsecToTimespec(t.atime.UnixNano()), unix.NsecToTimespec(t.mtime.UnixNano())}
	if err := unix.UtimesNanoAt(f, "", ts, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("times: %w", err)
	}
	return nil
}

// meta sets owner, xattrs, mode and times on base in parent without
// following it (a symlink, a device, a fifo). A symlink has no mode of its own.
func (x *extractor) meta(parent *os.File, base string, hdr *tar.Header, symlink bool) error {
	if x.chowns(hdr) {
		if err := unix.Fchownat(fd(parent), base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
	}
	// lsetxattr through the parent's handle: the last component is not followed.
	at := "/proc/self/fd/" + strconv.Itoa(fd(parent)) + "/" + base
	err := x.xattrs(hdr, func(k, v string) error {
		err := unix.Lsetxattr(at, k, []byte(v), 0)
		if errors.Is(err, unix.EPERM) && strings.HasPrefix(k, "user.") {
			return unix.ENOTSUP // the kernel keeps user.* to files and directories, whoever asks
		}
		return err
	})
	if err != nil {
		return err
	}
	if !symlink {
		if err := unix.Fchmodat(fd(parent), base, x.perm(hdr, false), 0); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	t := headerTimes(hdr)
	ts := []unix.Timespec{unix.NsecToTimespec(t.atime.UnixNano()), unix.NsecToTimespec(t.mtime.UnixNano())}
	if err := unix.UtimesNanoAt(fd(parent), base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("times: %w", err)
	}
	return nil
}

// xattrs sets each SCHILY.xattr record of hdr with set. When not root, one
// the kernel refuses is skipped with a warning (security.capability needs
// CAP_SETFCAP); as root, a refusal fails the entry.
func (x *extractor) xattrs(hdr *tar.Header, set func(k, v string) error) error {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, xattrPrefix)
		if !ok {
			continue
		}
		if err := set(name, v); err != nil {
			if x.rootless || errors.Is(err, unix.ENOTSUP) {
				x.warnOnce("xattr "+name, fmt.Sprintf("xattr %s not kept: %v", name, err))
				continue
			}
			return fmt.Errorf("xattr %s: %w", name, err)
		}
	}
	return nil
}

func (x *extractor) warnOnce(key, msg string) {
	if !x.warned[key] {
		x.warned[key] = true
		x.warn(msg)
	}
}

// finish sets every directory's times from its header, now that nothing more
// will be made inside.
func (x *extractor) finish() error {
	for real, t := range x.dirTimes {
		ts := []unix.Timespec{unix.NsecToTimespec(t.atime.UnixNano()), unix.NsecToTimespec(t.mtime.UnixNano())}
		if real == "/" {
			if err := unix.UtimesNanoAt(fd(x.root), "", ts, unix.AT_EMPTY_PATH); err != nil {
				return fmt.Errorf("setting times of the root: %w", err)
			}
			continue
		}
		dir, base := path.Split(real)
		parent, realDir, err := x.parent(path.Clean(dir), false)
		if err != nil {
			return fmt.Errorf("setting times of %s: %w", real, err)
		}
		err = unix.UtimesNanoAt(fd(parent), base, ts, unix.AT_SYMLINK_NOFOLLOW)
		x.release(parent, realDir)
		if err != nil {
			return fmt.Errorf("setting times of %s: %w", real, err)
		}
	}
	return nil
}

func headerTimes(hdr *tar.Header) times {
	t := times{atime: hdr.AccessTime, mtime: hdr.ModTime}
	if t.atime.IsZero() {
		t.atime = t.mtime
	}
	return t
}

func fd(f *os.File) int { return int(f.Fd()) }

// openDirAt opens the directory name in dirfd for reading, without following
// a symlink.
func openDirAt(dirfd int, name string) (int, error) {
	return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// openDir is openDirAt as an *os.File, to list it.
func openDir(dirfd int, name string) (*os.File, error) {
	nfd, err := openDirAt(dirfd, name)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(nfd), name), nil
}

// removeAt removes name from dirfd, and with dir, everything under it first;
// it never follows a symlink.
func removeAt(dirfd int, name string, dir bool) error {
	if !dir {
		return unix.Unlinkat(dirfd, name, 0)
	}
	d, err := openDir(dirfd, name)
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	if err == nil {
		for _, n := range names {
			var st unix.Stat_t
			if err = unix.Fstatat(fd(d), n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				break
			}
			if err = removeAt(fd(d), n, st.Mode&unix.S_IFMT == unix.S_IFDIR); err != nil {
				break
			}
		}
	}
	d.Close()
	if err != nil {
		return err
	}
	return unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}

func writeAll(f int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(f, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
