//go:build linux || darwin

// Command treedump prints a canonical listing of a directory tree, one line
// per path in byte order, so that two unpacks of an image can be compared: two
// trees are equal when their listings are.
//
//	treedump DIR              # the listing
//	treedump DIR1 DIR2        # exit 0 if equal; else the first differences, exit 1
//	treedump LISTING DIR      # the same, against a listing treedump printed before
//
// A line is the path ("." for the root; quoted as Go does when it holds
// anything but printable characters), then space-separated fields:
//
//	dir|file|symlink|fifo|char|block|socket   the type
//	mode=4755       permission bits with setuid (4000), setgid (2000), sticky (1000)
//	uid=0 gid=0
//	size=N sha256=HEX          regular files
//	target=T                   symlinks: the link's text, quoted
//	mtime=SEC.NSEC             (or SEC with -mtime s, nothing with -mtime none)
//	hardlink=PATH              when other paths in the tree share the inode:
//	                           PATH is the first of them in byte order
//	xattr:NAME=HEX             every extended attribute but security.selinux
//	dev=MAJ,MIN                devices
//
// A directory's size (its filesystem's business) is not listed; neither is
// the root's mtime, unless -root-mtime, since an unpack's root is made by the
// tool, not by a layer. -exclude drops paths (and everything under them).
//
// It runs on Linux and macOS (owners, devices and xattrs are Unix's).
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

type options struct {
	mtime     string // ns, s, none
	dirMtime  bool
	rootMtime bool
	xattrs    bool
	exclude   []string
	max       int
}

type line struct {
	path, text string
}

func dump(root string, o options) ([]line, error) {
	type node struct {
		path string
		st   *unix.Stat_t
		fi   fs.FileInfo
	}
	var nodes []node
	inodes := map[[2]uint64][]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		for _, x := range o.exclude {
			if rel == x {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := new(unix.Stat_t)
		if err := unix.Lstat(p, st); err != nil {
			return &fs.PathError{Op: "lstat", Path: p, Err: err}
		}
		nodes = append(nodes, node{rel, st, fi})
		if !fi.IsDir() {
			k := [2]uint64{uint64(st.Dev), st.Ino} // Dev is an int32 on macOS
			inodes[k] = append(inodes[k], rel)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].path < nodes[j].path })
	var out []line
	for _, n := range nodes {
		var b strings.Builder
		full := filepath.Join(root, filepath.FromSlash(n.path))
		st := n.st
		typ := typeName(uint32(st.Mode)) // a uint16 on macOS
		fmt.Fprintf(&b, "%s mode=%04o uid=%d gid=%d", typ, st.Mode&0o7777, st.Uid, st.Gid)
		switch typ {
		case "file":
			sum, err := hashFile(full)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, " size=%d sha256=%s", st.Size, sum)
		case "symlink":
			t, err := os.Readlink(full)
			if err != nil {
				return nil, err
			}
			fmt.Fprintf(&b, " target=%s", strconv.Quote(t))
		case "char", "block":
			fmt.Fprintf(&b, " dev=%d,%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)))
		}
		if mt := mtime(st, o); mt != "" && (n.path != "." || o.rootMtime) && (typ != "dir" || o.dirMtime) {
			b.WriteString(" mtime=" + mt)
		}
		if ps := inodes[[2]uint64{uint64(st.Dev), st.Ino}]; len(ps) > 1 {
			b.WriteString(" hardlink=" + quote(slices.Min(ps)))
		}
		if o.xattrs {
			xs, err := xattrs(full)
			if err != nil {
				return nil, err
			}
			for _, x := range xs {
				b.WriteString(" " + x)
			}
		}
		out = append(out, line{n.path, b.String()})
	}
	return out, nil
}

func typeName(m uint32) string {
	switch m & unix.S_IFMT {
	case unix.S_IFDIR:
		return "dir"
	case unix.S_IFREG:
		return "file"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFCHR:
		return "char"
	case unix.S_IFBLK:
		return "block"
	case unix.S_IFSOCK:
		return "socket"
	}
	return "unknown"
}

func mtime(st *unix.Stat_t, o options) string {
	switch o.mtime {
	case "none":
		return ""
	case "s":
		return strconv.FormatInt(int64(st.Mtim.Sec), 10)
	}
	return fmt.Sprintf("%d.%09d", int64(st.Mtim.Sec), int64(st.Mtim.Nsec))
}

func hashFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// xattrs lists p's extended attributes, not following a symlink, sorted,
// as xattr:NAME=HEX.
func xattrs(p string) ([]string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Llistxattr(p, buf)
	if errors.Is(err, unix.ERANGE) {
		if n, err = unix.Llistxattr(p, nil); err == nil {
			buf = make([]byte, n)
			n, err = unix.Llistxattr(p, buf)
		}
	}
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("llistxattr %s: %w", p, err)
	}
	var out []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if name == "" || name == "security.selinux" {
			continue
		}
		v := make([]byte, 256)
		m, err := unix.Lgetxattr(p, name, v)
		if errors.Is(err, unix.ERANGE) {
			if m, err = unix.Lgetxattr(p, name, nil); err == nil {
				v = make([]byte, m)
				m, err = unix.Lgetxattr(p, name, v)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("lgetxattr %s %s: %w", p, name, err)
		}
		out = append(out, "xattr:"+name+"="+hex.EncodeToString(v[:m]))
	}
	sort.Strings(out)
	return out, nil
}

func quote(p string) string {
	if p == "" {
		return `""`
	}
	for _, r := range p {
		if r == utf8.RuneError || r == ' ' || r == '"' || r == '\\' || !unicode.IsGraphic(r) {
			return strconv.Quote(p)
		}
	}
	return p
}

// read parses a listing that print wrote, as it was: the listing's options
// must be those of the tree it is compared with.
func read(name string) ([]line, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var out []line
	for i, s := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		p, rest, ok := strings.Cut(s, " ")
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err == nil {
				p, err = strconv.Unquote(q)
			}
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %v", name, i+1, err)
			}
			rest, ok = strings.CutPrefix(s[len(q):], " ")
		}
		if !ok || p == "" {
			return nil, fmt.Errorf("%s:%d: not a listing line", name, i+1)
		}
		out = append(out, line{p, rest})
	}
	if !sort.SliceIsSorted(out, func(i, j int) bool { return out[i].path < out[j].path }) {
		return nil, fmt.Errorf("%s: not sorted", name)
	}
	return out, nil
}

func print(w io.Writer, ls []line) error {
	bw := bufio.NewWriter(w)
	for _, l := range ls {
		fmt.Fprintf(bw, "%s %s\n", quote(l.path), l.text)
	}
	return bw.Flush()
}

// compare prints, for each path whose line differs, "- " and the first
// tree's line, then "+ " and the second's; at most o.max paths, then a count.
func compare(w io.Writer, nameA, nameB string, a, b []line, o options) int {
	diffs, headed := 0, false
	show := func(sign string, l line) {
		if !headed {
			fmt.Fprintf(w, "--- %s\n+++ %s\n", nameA, nameB)
			headed = true
		}
		if diffs <= o.max {
			fmt.Fprintf(w, "%s %s %s\n", sign, quote(l.path), l.text)
		}
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j >= len(b) || (i < len(a) && a[i].path < b[j].path):
			diffs++
			show("-", a[i])
			i++
		case i >= len(a) || b[j].path < a[i].path:
			diffs++
			show("+", b[j])
			j++
		default:
			if a[i].text != b[j].text {
				diffs++
				show("-", a[i])
				show("+", b[j])
			}
			i++
			j++
		}
	}
	if diffs > o.max {
		fmt.Fprintf(w, "... %d paths differ in all (%d shown)\n", diffs, o.max)
	}
	return diffs
}

func main() {
	var o options
	var exclude string
	fl := flag.NewFlagSet("treedump", flag.ContinueOnError)
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), "usage: treedump [flags] DIR [DIR2]\n\nWith one DIR, print its listing; with two, compare them (exit 1 if they differ).")
		fl.PrintDefaults()
	}
	fl.StringVar(&o.mtime, "mtime", "ns", "mtimes: ns (seconds and nanoseconds), s (seconds), none")
	fl.BoolVar(&o.dirMtime, "dir-mtime", true, "list directories' mtimes")
	fl.BoolVar(&o.rootMtime, "root-mtime", false, "list the root's mtime too")
	fl.BoolVar(&o.xattrs, "xattrs", true, "list extended attributes")
	fl.StringVar(&exclude, "exclude", "", "comma list of paths (relative, as listed) to leave out, with what is under them")
	fl.IntVar(&o.max, "max", 20, "most differing paths printed")
	if err := fl.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if o.mtime != "ns" && o.mtime != "s" && o.mtime != "none" {
		fmt.Fprintln(os.Stderr, "treedump: -mtime is ns, s or none")
		os.Exit(2)
	}
	if exclude != "" {
		o.exclude = strings.Split(exclude, ",")
	}
	dirs := fl.Args()
	if len(dirs) != 1 && len(dirs) != 2 {
		fl.Usage()
		os.Exit(2)
	}
	var ls [][]line
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err != nil {
			fmt.Fprintln(os.Stderr, "treedump:", err)
			os.Exit(2)
		}
		var l []line
		if fi.Mode().IsRegular() && len(dirs) == 2 {
			l, err = read(d)
		} else if fi.IsDir() {
			l, err = dump(d, o)
		} else {
			err = fmt.Errorf("%s is not a directory", d)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "treedump:", err)
			os.Exit(2)
		}
		ls = append(ls, l)
	}
	if len(ls) == 1 {
		if err := print(os.Stdout, ls[0]); err != nil {
			fmt.Fprintln(os.Stderr, "treedump:", err)
			os.Exit(2)
		}
		return
	}
	if n := compare(os.Stdout, dirs[0], dirs[1], ls[0], ls[1], o); n > 0 {
		fmt.Fprintf(os.Stdout, "treedump: %s and %s differ in %d paths\n", dirs[0], dirs[1], n)
		os.Exit(1)
	}
}
