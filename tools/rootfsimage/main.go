// Command rootfsimage pushes the deterministic images that test and benchmark
// unpacking to a root filesystem (haul unpack, haul pull --format rootfs,
// haul export) to a plain-HTTP registry, with nothing but net/http. Every
// image has OCI media types (umoci reads nothing else), gzip layers, and a
// config whose rootfs.diff_ids are the digests of the uncompressed tars, for
// linux/amd64. Layers are made as they are uploaded (a streamed PATCH, then a
// PUT with the digest), so none touches this machine's disk.
//
//	go run ./tools/rootfsimage -registry 127.0.0.1:5000 -toolchain "$(go env GOROOT)"
//
// Images (REPO is -repo, "rootfs" by default; every tag is 1):
//
//	REPO/toolchain  one layer: the tree at -toolchain (the scripts pass
//	                $(go env GOROOT)) under go/, as it is on disk: modes, owners,
//	                mtimes to the nanosecond, symlinks, hardlinks; only the
//	                paths named by -toolchain-paths when it is set
//	REPO/layers3    three small layers whose upper two delete files and
//	                directories (.wh.NAME), make directories opaque
//	                (.wh..wh..opq, also after an entry of the same layer, which
//	                it spares), replace a directory by a file and a file by a
//	                directory and back, hardlink within a layer and to a lower
//	                layer's file, and hold symlinks (relative, absolute,
//	                dangling), setuid, setgid and sticky modes, odd mtimes on
//	                directories and files, owners other than 0, and xattrs
//	                (SCHILY.xattr.user.*, and security.capability on bin/ping)
//	REPO/bigfile    one layer holding one file of -bigfile-mib MiB (512) of
//	                seeded ChaCha8 bytes: incompressible
//	REPO/baddiff    layers3's blobs, but the config's second diff_id is wrong
//
// What layers3 must unpack to, entry by entry, is written down beside the
// layers in layers3(); test/e2e-rootfs.sh compares what each tool made.
package main

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/haul-dev/haul/internal/regpush"
)

const (
	mtOCIManifest = "application/vnd.oci.image.manifest.v1+json"
	mtOCIConfig   = "application/vnd.oci.image.config.v1+json"
	mtOCILayerGz  = "application/vnd.oci.image.layer.v1.tar+gzip"
)

type desc struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

type manifest struct {
	SchemaVersion int    `json:"schemaVersion"`
	MediaType     string `json:"mediaType"`
	Config        desc   `json:"config"`
	Layers        []desc `json:"layers"`
}

// pusher uploads blobs and manifests to one registry.
type pusher struct{ *regpush.Pusher }

// layer is one pushed layer: its blob and its diff_id.
type layer struct {
	desc
	diffID string
}

// pushLayer uploads the gzip of the tar that gen writes, hashing both the tar
// (the diff_id) and the gzip (the blob digest) as they are made.
func (p *pusher) pushLayer(repo string, level int, gen func(tw *tar.Writer) error) (layer, error) {
	diff := sha256.New()
	dgst, n, err := p.Stream(repo, func(w io.Writer) error {
		zw, err := gzip.NewWriterLevel(w, level)
		if err != nil {
			return err
		}
		tw := tar.NewWriter(io.MultiWriter(zw, diff))
		if err := gen(tw); err != nil {
			return err
		}
		if err := tw.Close(); err != nil {
			return err
		}
		return zw.Close()
	})
	if err != nil {
		return layer{}, err
	}
	return layer{desc: desc{MediaType: mtOCILayerGz, Digest: dgst, Size: n}, diffID: regpush.Digest(diff)}, nil
}

// pushImage uploads the config naming diffIDs and the manifest naming
// layers, tagged 1, and returns the manifest's digest.
func (p *pusher) pushImage(repo string, layers []layer, diffIDs []string) (string, error) {
	cfg, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      time.Unix(1700000000, 0).UTC().Format(time.RFC3339),
		"config":       map[string]any{"Cmd": []string{"/bin/sh"}, "Env": []string{"PATH=/go/bin:/bin"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	if err != nil {
		return "", err
	}
	cd, err := p.Bytes(repo, cfg)
	if err != nil {
		return "", err
	}
	m := manifest{SchemaVersion: 2, MediaType: mtOCIManifest, Config: desc{MediaType: mtOCIConfig, Digest: cd, Size: int64(len(cfg))}}
	for _, l := range layers {
		m.Layers = append(m.Layers, l.desc)
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return p.Manifest(repo, "1", mtOCIManifest, b)
}

func diffIDs(layers []layer) []string {
	var ids []string
	for _, l := range layers {
		ids = append(ids, l.diffID)
	}
	return ids
}

// ---------------------------------------------------------------- toolchain

// meta is what a layer records of a file beyond its fs.FileInfo; metaOf
// reads it where the system can tell.
type meta struct {
	mode     int64 // permission bits with setuid (0o4000), setgid and sticky
	uid, gid int
	mtime    time.Time
	inode    [2]uint64 // device and inode; zero where not known, and then no hardlinks are made
}

// treeLayer writes the tree at dir into tw under prefix, as it is on disk,
// in the sorted order of a walk: a second path to an inode already written
// becomes a hardlink to the first. With only set, just those paths (relative
// to dir) and what is under them go in, with their parents.
func treeLayer(tw *tar.Writer, dir, prefix string, only []string) error {
	seen := map[[2]uint64]string{}
	keep := func(rel string) bool {
		if len(only) == 0 || rel == "." {
			return true
		}
		for _, o := range only {
			if rel == o || strings.HasPrefix(rel, o+"/") || strings.HasPrefix(o, rel+"/") {
				return true
			}
		}
		return false
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel) // keep and the names speak of slashes, on Windows too
		if !keep(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		m, err := metaOf(p, fi)
		if err != nil {
			return err
		}
		name := prefix + rel
		if rel == "." {
			name = prefix
		}
		hdr := &tar.Header{
			Name:    name,
			Mode:    m.mode,
			Uid:     m.uid,
			Gid:     m.gid,
			ModTime: m.mtime,
			Format:  tar.FormatPAX,
		}
		switch {
		case fi.IsDir():
			hdr.Typeflag = tar.TypeDir
			if !strings.HasSuffix(hdr.Name, "/") {
				hdr.Name += "/"
			}
		case fi.Mode()&fs.ModeSymlink != 0:
			hdr.Typeflag = tar.TypeSymlink
			if hdr.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if first, ok := seen[m.inode]; ok && m.inode != ([2]uint64{}) {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			} else {
				seen[m.inode] = hdr.Name
				hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
			}
		default:
			fmt.Fprintf(os.Stderr, "rootfsimage: %s: %s left out\n", p, fi.Mode().Type())
			return nil
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		if n, err := io.Copy(tw, f); err != nil || n != hdr.Size {
			return fmt.Errorf("%s: %d of %d bytes: %v (changed while read?)", p, n, hdr.Size, err)
		}
		return nil
	})
}

// ---------------------------------------------------------------- layers3

// Each entry of layers3 is a header and, for a regular file, its content.
type entry struct {
	hdr  tar.Header
	body []byte
}

func ts(sec int64, nsec int64) time.Time { return time.Unix(sec, nsec) }

var (
	t0 = ts(1700000000, 123456789) // most entries
	t1 = ts(1, 0)                  // 1970-01-01T00:00:01
	t2 = ts(4102444800, 500000000) // 2100-01-01, past 2038 and the octal field's 8 GiB seconds
	t3 = ts(1234567890, 987654321)
)

func dir(name string, mode int64, uid, gid int, mtime time.Time) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode, Uid: uid, Gid: gid, ModTime: mtime}}
}

func file(name string, mode int64, uid, gid int, mtime time.Time, body string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Uid: uid, Gid: gid, ModTime: mtime, Size: int64(len(body))}, body: []byte(body)}
}

func symlink(name, target string, uid, gid int, mtime time.Time) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, Uid: uid, Gid: gid, ModTime: mtime}}
}

func hardlink(name, target string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644, ModTime: t0}}
}

func whiteout(name string) entry {
	return entry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, ModTime: t0}}
}

func withXattr(e entry, kv ...string) entry {
	if e.hdr.PAXRecords == nil {
		e.hdr.PAXRecords = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		e.hdr.PAXRecords["SCHILY.xattr."+kv[i]] = kv[i+1]
	}
	return e
}

// capNetRaw is a security.capability value: VFS_CAP_REVISION_2 with the
// effective flag, CAP_NET_RAW (13) permitted, nothing inheritable.
func capNetRaw() string {
	var b [20]byte
	binary.LittleEndian.PutUint32(b[0:], 0x02000000|1)
	binary.LittleEndian.PutUint32(b[4:], 1<<13)
	return string(b[:])
}

// blob is size bytes of seeded ChaCha8, as text-safe hex, so a diff shows it.
func blob(seed uint64, size int) string {
	b := make([]byte, (size+1)/2)
	io.ReadFull(seeded(seed), b)
	return hex.EncodeToString(b)[:size]
}

// layers3 is the three layers, lowest first. The comment after each upper
// entry says what the unpacked tree must show for it.
func layers3() [][]entry {
	busybox := "#!busybox v1\n" + blob(1, 8<<10)
	l1 := []entry{
		dir("bin", 0o755, 0, 0, t0),
		file("bin/busybox", 0o755, 0, 0, t3, busybox),
		hardlink("bin/ls", "bin/busybox"),
		symlink("bin/sh", "busybox", 0, 0, t0),
		file("bin/su", 0o4755, 0, 0, t0, "setuid\n"),
		file("bin/wall", 0o2755, 0, 5, t0, "setgid, group tty\n"),
		withXattr(file("bin/ping", 0o755, 0, 0, t0, "ping with cap_net_raw+ep\n"), "security.capability", capNetRaw()),
		dir("del", 0o755, 0, 0, t0),
		file("del/gone.txt", 0o644, 0, 0, t0, "deleted by layer 2\n"),
		file("del/keep.txt", 0o644, 0, 0, t0, "kept\n"),
		dir("deldir", 0o755, 0, 0, t0),
		dir("deldir/sub", 0o700, 0, 0, t0),
		file("deldir/sub/x", 0o644, 0, 0, t0, "deleted with its directory by layer 2\n"),
		dir("d2f", 0o755, 0, 0, t0),
		file("d2f/child", 0o644, 0, 0, t0, "removed when d2f becomes a file\n"),
		file("empty", 0o644, 0, 0, t1, ""),
		dir("etc", 0o755, 0, 0, t3),
		symlink("etc/abs", "/etc/passwd", 0, 0, t0),
		symlink("etc/alt", "../bin/su", 0, 0, t0),
		withXattr(file("etc/motd", 0o644, 0, 0, t1, "an xattr, and mtime 1\n"), "user.foo", "bar", "user.bin", "\x00\x01\xff"),
		file("etc/name with space ü", 0o644, 0, 0, t0, "odd name\n"),
		file("etc/passwd", 0o644, 0, 0, t0, "root:x:0:0:root:/root:/bin/sh\n"),
		file("f2d", 0o644, 0, 0, t0, "a file that becomes a directory\n"),
		dir("home", 0o755, 0, 0, t0),
		dir("home/user", 0o700, 1000, 1000, t2),
		file("home/user/notes", 0o600, 1000, 1000, t2, "owned by 1000:1000, mtime in 2100\n"),
		file("home/user/nobody", 0o640, 65534, 65534, t0, "owned by nobody\n"),
		file("home/user/big-ids", 0o644, 200000, 300000, t0, "uid 200000, gid 300000\n"),
		symlink("home/user/link", "notes", 1000, 1000, t3),
		dir("opq", 0o750, 0, 0, t0),
		file("opq/a", 0o644, 0, 0, t0, "hidden by layer 2's opaque marker\n"),
		dir("opq/sub", 0o755, 0, 0, t0),
		file("opq/sub/b", 0o644, 0, 0, t0, "hidden too\n"),
		dir("same", 0o755, 0, 0, t0),
		file("same/old", 0o644, 0, 0, t0, "hidden by layer 3's opaque marker\n"),
		file("same/dup", 0o644, 0, 0, t0, "layer 1's dup\n"),
		dir("tmp", 0o1777, 0, 0, t0),
		dir("var", 0o755, 0, 0, t0),
		dir("var/empty", 0o555, 0, 0, t1),
		dir("var/lib", 0o755, 0, 0, t0),
		dir("var/lib/dpkg", 0o755, 0, 0, t0),
		file("var/lib/dpkg/status", 0o644, 0, 0, t0, "Package: busybox\n"),
		dir("var/mail", 0o2775, 0, 8, t0),
		symlink("var/run", "/run", 0, 0, t0),
	}
	l2 := []entry{
		dir("bin", 0o755, 0, 0, t3),                 // bin: mtime t3 (set again after busybox-link is made in it)
		hardlink("bin/busybox-link", "bin/busybox"), // bin/busybox, bin/ls, bin/busybox-link: one inode
		dir("del", 0o755, 0, 0, t3),
		whiteout("del/.wh.gone.txt"),                        // del/gone.txt gone; del/keep.txt stays
		whiteout(".wh.deldir"),                              // deldir and everything under it gone
		file("d2f", 0o600, 0, 0, t0, "d2f is a file now\n"), // the directory d2f and d2f/child replaced by a file
		dir("etc", 0o755, 0, 0, t1),                         // etc: mtime 1
		file("etc/passwd", 0o640, 0, 42, t3, "root:x:0:0::/:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"), // new content, mode, group, mtime
		dir("f2d", 0o700, 0, 0, t3), // the file f2d replaced by a directory
		file("f2d/inner", 0o644, 0, 0, t0, "inside f2d, the directory\n"),
		dir("opq", 0o755, 0, 0, t3),  // opq: mode 0755 now
		whiteout("opq/.wh..wh..opq"), // opq/a and opq/sub gone
		file("opq/new", 0o644, 0, 0, t0, "layer 2's, under the opaque marker\n"),
		dir("var", 0o755, 0, 0, t0),
		dir("var/lib", 0o711, 0, 0, t3), // metadata only: mode 0711, mtime t3; dpkg/ kept
	}
	l3 := []entry{
		dir("bin", 0o755, 0, 0, t2),
		whiteout("bin/.wh.busybox"),    // bin/ls and bin/busybox-link stay, still one inode (nlink 2)
		dir("d2f", 0o750, 1000, 0, t2), // the file d2f a directory again
		file("d2f/again", 0o644, 0, 0, t0, "d2f is a directory again\n"),
		dir("etc", 0o755, 0, 0, t1),
		withXattr(dir("etc/alt", 0o755, 0, 0, t3), "user.dir", "on a directory"), // the symlink etc/alt replaced by a directory
		hardlink("etc/alt/cap", "bin/ping"),                                      // shares bin/ping's inode, its capability with it
		file("f2d", 0o644, 0, 0, t1, "f2d is a file again\n"),                    // the directory f2d and f2d/inner replaced by a file
		dir("same", 0o755, 0, 0, t0),
		file("same/fresh", 0o644, 0, 0, t0, "written before the opaque marker of its own layer: spared\n"),
		file("same/dup", 0o644, 0, 0, t0, "layer 3's dup, before a whiteout of its own layer: spared\n"),
		whiteout("same/.wh..wh..opq"), // same/old gone; same/fresh and same/dup (layer 3's) stay
		whiteout("same/.wh.dup"),      // applies to lower layers only: layer 3's same/dup stays
		file("tmp/sticky-file", 0o1644, 0, 0, t0, "sticky bit on a file\n"),
	}
	return [][]entry{l1, l2, l3}
}

func writeEntries(tw *tar.Writer, es []entry) error {
	for _, e := range es {
		h := e.hdr
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		if _, err := tw.Write(e.body); err != nil {
			return err
		}
	}
	return nil
}

// ---------------------------------------------------------------- bigfile

func seeded(seed uint64) io.Reader {
	var s [32]byte
	copy(s[:], fmt.Sprintf("haul-rootfs-%019d", seed))
	return rand.NewChaCha8(s)
}

func bigLayer(tw *tar.Writer, size int64) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "data/", Mode: 0o755, ModTime: t0, Format: tar.FormatPAX}); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "data/big.bin", Mode: 0o644, Size: size, ModTime: t0, Format: tar.FormatPAX}); err != nil {
		return err
	}
	_, err := io.CopyN(tw, seeded(512), size)
	return err
}

// ---------------------------------------------------------------- main

// bearer sends a token minted beforehand with each request, on a copy.
type bearer struct {
	next  http.RoundTripper
	token string
}

func (b bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

func run() error {
	fl := flag.NewFlagSet("rootfsimage", flag.ContinueOnError)
	reg := fl.String("registry", "", "registry host:port (plain HTTP)")
	repo := fl.String("repo", "rootfs", "repository prefix: REPO/toolchain:1 and so on")
	only := fl.String("only", "toolchain,layers3,bigfile,baddiff", "comma list of images to push")
	toolchain := fl.String("toolchain", "", "the tree of the toolchain image: $(go env GOROOT)")
	toolchainPaths := fl.String("toolchain-paths", "", "comma list of paths under -toolchain: only these go in (default all)")
	bigMiB := fl.Int64("bigfile-mib", 512, "size of bigfile's one file, MiB")
	token := fl.String("token", "", "a Bearer token with push scope, sent with every request (a registry with token auth)")
	if err := fl.Parse(os.Args[1:]); err != nil {
		return errUsage
	}
	if *reg == "" {
		fmt.Fprintln(os.Stderr, "rootfsimage: -registry is required")
		return errUsage
	}
	if *toolchain == "" && strings.Contains(","+*only+",", ",toolchain,") {
		fmt.Fprintln(os.Stderr, "rootfsimage: -toolchain is required for the toolchain image (-toolchain \"$(go env GOROOT)\")")
		return errUsage
	}
	var rt http.RoundTripper = http.DefaultTransport
	if *token != "" {
		rt = bearer{next: rt, token: *token}
	}
	p := &pusher{&regpush.Pusher{Registry: *reg, Client: &http.Client{Timeout: 10 * time.Minute, Transport: rt}}}
	want := map[string]bool{}
	for _, s := range strings.Split(*only, ",") {
		want[s] = true
	}
	t := time.Now()
	done := func(name, digest string) {
		fmt.Printf("%s/%s:1 %s\n", *repo, name, digest)
		fmt.Fprintf(os.Stderr, "rootfsimage: %s/%s:1 pushed (%s)\n", *repo, name, time.Since(t).Round(time.Millisecond))
		t = time.Now()
	}
	if want["toolchain"] {
		var paths []string
		if *toolchainPaths != "" {
			paths = strings.Split(*toolchainPaths, ",")
		}
		l, err := p.pushLayer(*repo+"/toolchain", gzip.DefaultCompression, func(tw *tar.Writer) error {
			return treeLayer(tw, *toolchain, "go/", paths)
		})
		if err != nil {
			return fmt.Errorf("toolchain: %w", err)
		}
		d, err := p.pushImage(*repo+"/toolchain", []layer{l}, diffIDs([]layer{l}))
		if err != nil {
			return fmt.Errorf("toolchain: %w", err)
		}
		done("toolchain", d)
	}
	if want["layers3"] || want["baddiff"] {
		var ls []layer
		for i, es := range layers3() {
			l, err := p.pushLayer(*repo+"/layers3", gzip.DefaultCompression, func(tw *tar.Writer) error { return writeEntries(tw, es) })
			if err != nil {
				return fmt.Errorf("layers3: layer %d: %w", i+1, err)
			}
			ls = append(ls, l)
		}
		if want["layers3"] {
			d, err := p.pushImage(*repo+"/layers3", ls, diffIDs(ls))
			if err != nil {
				return fmt.Errorf("layers3: %w", err)
			}
			done("layers3", d)
		}
		if want["baddiff"] {
			// The blobs are layers3's, each matching its own digest; only the
			// config lies about the second layer's uncompressed content.
			for _, l := range ls {
				if err := p.Mount(*repo+"/baddiff", *repo+"/layers3", l.Digest); err != nil {
					return fmt.Errorf("baddiff: %w", err)
				}
			}
			ids := diffIDs(ls)
			sum := sha256.Sum256([]byte("not the second layer"))
			ids[1] = "sha256:" + hex.EncodeToString(sum[:])
			d, err := p.pushImage(*repo+"/baddiff", ls, ids)
			if err != nil {
				return fmt.Errorf("baddiff: %w", err)
			}
			done("baddiff", d)
		}
	}
	if want["bigfile"] {
		l, err := p.pushLayer(*repo+"/bigfile", gzip.BestSpeed, func(tw *tar.Writer) error { return bigLayer(tw, *bigMiB<<20) })
		if err != nil {
			return fmt.Errorf("bigfile: %w", err)
		}
		d, err := p.pushImage(*repo+"/bigfile", []layer{l}, diffIDs([]layer{l}))
		if err != nil {
			return fmt.Errorf("bigfile: %w", err)
		}
		done("bigfile", d)
	}
	return nil
}

var errUsage = errors.New("usage")

func main() {
	if err := run(); err != nil {
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "rootfsimage:", err)
		os.Exit(1)
	}
}
