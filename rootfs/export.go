package rootfs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/haul-dev/haul/image"
)

// Layers pairs the layers of manifest m with the diff_ids of its config c, in
// order, and checks that rootfs can apply each.
func Layers(m *image.Manifest, c *image.Config) ([]Layer, error) {
	if len(m.Layers) != len(c.RootFS.DiffIDs) {
		return nil, fmt.Errorf("the manifest has %d layers and the config %d diff_ids", len(m.Layers), len(c.RootFS.DiffIDs))
	}
	ls := make([]Layer, len(m.Layers))
	for i, d := range m.Layers {
		if !IsLayer(d.MediaType) {
			return nil, fmt.Errorf("layer %d (%s): media type %q is not a filesystem layer: the image is no container image haul can unpack", i, d.Digest, d.MediaType)
		}
		ls[i] = Layer{Descriptor: d, DiffID: c.RootFS.DiffIDs[i]}
	}
	return ls, nil
}

// The whiteout names of the OCI image spec (and aufs before it). Unpacking
// knows them too; export has its own copy, as it runs where unpacking cannot.
const (
	exportWhiteout       = ".wh."
	exportWhiteoutMeta   = ".wh..wh."
	exportOpaque         = ".wh..wh..opq"
	exportMaxLinkTargets = 1 << 20 // hardlinks waiting for a target's content
)

// Export writes to w, as one tar stream, the filesystem that layers (bottom
// first, as a manifest lists them) make when applied in order: what `crane
// export` gives, for `tar -x` or a scanner. open returns a layer's blob bytes
// as stored (compressed); it may be called twice for a layer (see below).
//
// Layers are read top down, each through Open, and each entry is written
// once, as the uppermost layer has it: an entry that an upper layer replaced,
// whited out (.wh.NAME) or hid in an opaque directory (.wh..wh..opq) is
// skipped, and whiteouts themselves are never written. As when unpacking, a
// layer's whiteouts hide only what the layers below it made. Names come out
// clean and relative (directories end in "/"); an entry whose name climbs out
// of the root with ".." is refused (*EntryError), as Apply refuses it; the
// root entry itself is not written.
//
// A hardlink whose target comes out as the same file is written as a
// hardlink: after its target when the target is in the same layer, at the end
// of the stream when the target is in a layer below. One whose target was
// replaced or removed above it gets the target's content as it was when the
// link was made, as a regular file (and the other links to that content link
// to it); when that content was in the link's own layer, already passed, the
// layer is read a second time.
//
// An entry named twice in one layer is written as its first occurrence is,
// as crane does; unpacking keeps the last.
//
// Every layer is read to its end, so its blob digest and diff_id are
// verified; the first failure stops the export. The tar streams as it is
// made: a failure leaves a truncated tar, without its end-of-archive marker,
// on w, ended by a block that is no tar header, so that tar readers fail on
// it too. A caller writing a file writes it under a temporary name and
// renames it on success; one writing to a pipe must exit with a failure.
func Export(ctx context.Context, w io.Writer, layers []Layer, open func(ctx context.Context, l Layer) (io.ReadCloser, error)) error {
	x := &exporter{
		tw:      tar.NewWriter(w),
		layers:  layers,
		open:    open,
		emitted: map[string]emitted{},
		hidden:  map[string]bool{},
		opaque:  map[string]bool{},
		wanted:  map[string][]string{},
	}
	err := func() error {
		for i := len(layers) - 1; i >= 0; i-- {
			if err := x.layer(ctx, i); err != nil {
				return err
			}
		}
		return x.finish()
	}()
	if err != nil {
		x.spoil(w, err)
		return err
	}
	return x.tw.Close()
}

// spoil ends a failed export's stream so that no tar reader takes it for a
// whole one. A stream cut inside an entry's data already fails to read; one
// cut between entries would read as complete (archive/tar and GNU tar accept
// a missing end-of-archive marker), so a block that is no header follows.
func (x *exporter) spoil(w io.Writer, err error) {
	if x.inData {
		return
	}
	if x.tw.Flush() != nil { // the padding of the last entry
		return
	}
	block := make([]byte, 512)
	copy(block, "haul export failed: "+err.Error()) // its checksum field is text: no valid header
	w.Write(block)
}

// exporter is the state of an export, between layers.
type exporter struct {
	tw     *tar.Writer
	layers []Layer
	open   func(ctx context.Context, l Layer) (io.ReadCloser, error)

	// emitted holds each name written (or reserved for content to come),
	// with its type and layer: below a directory, lower layers' entries stay
	// visible.
	emitted map[string]emitted
	hidden  map[string]bool // whited out by a layer above: the name and all below it
	opaque  map[string]bool // opaque in a layer above: all below the name ("" is the root)

	// endLinks are hardlinks to targets from a layer below, which are the
	// same file in the result: written after everything else.
	endLinks []link
	// wanted holds, by target name, the links that need the content the
	// target had in a layer below the one that linked to it.
	wanted   map[string][]string
	nwaiting int
	inData   bool // an entry's content is being written
}

type link struct{ name, target string }

type emitted struct {
	kind  byte // a tar type flag
	layer int
}

// layerState is what one layer's pass keeps: its own names, for hardlinks
// between its entries, and what it will hide from the layers below.
type layerState struct {
	i int
	// local maps each name this layer made, written or not, to the file it
	// is: a regular file (or other non-directory) of this layer, named by
	// its first name in the layer, or a name below (below).
	local map[string]localFile
	// alias names, for a file of this layer, where its content went in the
	// output: its own name, or a link's that needed it.
	alias    map[string]string
	hides    []string
	opaques  []string
	deferred []link // links to a name below: end links or wanted, once the layer is done
	// reread holds, by file, links that need content of this layer that
	// passed before it was known to be needed; reread[file] lists their names.
	reread map[string][]string
}

type localFile struct {
	file  string
	below bool
}

func (x *exporter) layer(ctx context.Context, i int) error {
	s := &layerState{i: i, local: map[string]localFile{}, alias: map[string]string{}, reread: map[string][]string{}}
	if err := x.read(ctx, i, func(hdr *tar.Header, tr *tar.Reader) error {
		return x.entry(s, hdr, tr)
	}); err != nil {
		return err
	}
	if len(s.reread) > 0 {
		if err := x.read(ctx, i, func(hdr *tar.Header, tr *tar.Reader) error {
			return x.rereadEntry(s, hdr, tr)
		}); err != nil {
			return err
		}
		if len(s.reread) > 0 {
			return fmt.Errorf("layer %s: the second read did not give what the first did", x.layers[i].Descriptor.Digest)
		}
	}
	// What this layer hides, it hides from the layers below only.
	for _, p := range s.hides {
		x.hidden[p] = true
	}
	for _, p := range s.opaques {
		x.opaque[p] = true
	}
	for _, l := range s.deferred {
		if x.visible(l.target, i) {
			x.endLinks = append(x.endLinks, l) // the target below is what the result has at its name
		} else if err := x.want(l.target, l.name); err != nil {
			return err
		}
	}
	return nil
}

// read opens layer i, gives each entry to fn and reads the layer to its end,
// trailing bytes included, so that its digests are checked.
func (x *exporter) read(ctx context.Context, i int, fn func(*tar.Header, *tar.Reader) error) error {
	l := x.layers[i]
	rc, err := x.open(ctx, l)
	if err != nil {
		return fmt.Errorf("layer %s: %w", l.Descriptor.Digest, err)
	}
	defer rc.Close()
	r, err := Open(ctx, rc, l)
	if err != nil {
		return err
	}
	defer r.Close()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("layer %s: reading tar: %w", l.Descriptor.Digest, err)
		}
		switch hdr.Typeflag {
		case tar.TypeXGlobalHeader:
			continue
		case tar.TypeGNUSparse:
			hdr.Typeflag = tar.TypeReg // archive/tar expands the holes as it reads
		}
		if err := fn(hdr, tr); err != nil {
			var ee *EntryError
			if errors.As(err, &ee) || ctx.Err() != nil {
				return err
			}
			return fmt.Errorf("layer %s: entry %q: %w", l.Descriptor.Digest, hdr.Name, err)
		}
	}
	n, err := io.Copy(io.Discard, io.LimitReader(r, maxTrailing+1))
	if err != nil {
		return err
	}
	if n > maxTrailing {
		return fmt.Errorf("layer %s: more than %d bytes after the tar's end", l.Descriptor.Digest, maxTrailing)
	}
	return nil
}

// exportName cleans an archive path to a relative one ("" for the root), or
// refuses one that climbs out of the root.
func exportName(unsafeName string) (string, error) {
	if strings.IndexByte(unsafeName, 0) >= 0 {
		return "", errors.New("the path holds a NUL byte")
	}
	rel := path.Clean(strings.TrimLeft(unsafeName, "/"))
	switch {
	case rel == ".." || strings.HasPrefix(rel, "../"):
		return "", errors.New("the path leaves the root (..)")
	case rel == ".":
		return "", nil
	}
	return rel, nil
}

// visible reports whether name, from layer i, is not replaced nor hidden by
// a layer above it (nor by an earlier entry of its own layer).
func (x *exporter) visible(name string, i int) bool {
	if _, ok := x.emitted[name]; ok || x.hidden[name] || x.opaque[""] {
		return false
	}
	for j := 0; j < len(name); j++ {
		if name[j] != '/' {
			continue
		}
		a := name[:j]
		if x.hidden[a] || x.opaque[a] {
			return false
		}
		// A file above replaced the directory, and what it held. A symlink
		// of the same layer is no replacement: the entry goes through it,
		// as tar -x and unpacking take it.
		if e, ok := x.emitted[a]; ok && e.kind != tar.TypeDir && (e.kind != tar.TypeSymlink || e.layer != i) {
			return false
		}
	}
	return true
}

func (x *exporter) entry(s *layerState, hdr *tar.Header, tr *tar.Reader) error {
	l := x.layers[s.i]
	name, err := exportName(hdr.Name)
	if err != nil {
		return &EntryError{Layer: l.Descriptor.Digest, Entry: hdr.Name, Err: err}
	}
	if name == "" {
		if hdr.Typeflag != tar.TypeDir {
			return &EntryError{Layer: l.Descriptor.Digest, Entry: hdr.Name, Err: errors.New("the root may only be a directory")}
		}
		return nil
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if strings.HasPrefix(base, exportWhiteout) {
		switch {
		case base == exportOpaque:
			s.opaques = append(s.opaques, dir)
		case strings.HasPrefix(base, exportWhiteoutMeta):
		default:
			hid := strings.TrimPrefix(base, exportWhiteout)
			if hid == "" || hid == "." || hid == ".." {
				return &EntryError{Layer: l.Descriptor.Digest, Entry: hdr.Name, Err: fmt.Errorf("whiteout of %q", hid)}
			}
			s.hides = append(s.hides, path.Join(dir, hid))
		}
		return nil
	}
	// Served first: an entry below that links wanted may be hidden itself.
	if names, ok := x.wanted[name]; ok && hdr.Typeflag != tar.TypeDir {
		delete(x.wanted, name)
		x.nwaiting -= len(names)
		if err := x.serve(s, name, names, hdr, tr); err != nil {
			return err
		}
	}
	show := x.visible(name, s.i)
	if hdr.Typeflag != tar.TypeDir {
		// Unpacking replaces whatever the layers below had here, with all
		// under it: seen or not, a non-directory hides them as a whiteout does.
		s.hides = append(s.hides, name)
	}
	if _, seen := s.local[name]; !seen && hdr.Typeflag != tar.TypeDir && hdr.Typeflag != tar.TypeLink {
		s.local[name] = localFile{file: name}
	}
	if hdr.Typeflag == tar.TypeLink {
		return x.hardlink(s, name, hdr, show)
	}
	if !show {
		return nil
	}
	x.emitted[name] = emitted{kind: hdr.Typeflag, layer: s.i}
	if hdr.Typeflag != tar.TypeDir {
		if _, ok := s.alias[name]; !ok {
			s.alias[name] = name
		}
	}
	return x.write(hdr, name, "", tr)
}

// hardlink handles the link name -> hdr.Linkname of the layer being read.
func (x *exporter) hardlink(s *layerState, name string, hdr *tar.Header, show bool) error {
	l := x.layers[s.i]
	target, err := exportName(hdr.Linkname)
	if err != nil {
		return &EntryError{Layer: l.Descriptor.Digest, Entry: hdr.Name, Err: fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)}
	}
	if target == "" {
		return &EntryError{Layer: l.Descriptor.Digest, Entry: hdr.Name, Err: errors.New("a hardlink may not point to a directory")}
	}
	f, ok := s.local[target]
	if !ok {
		f = localFile{file: target, below: true}
	}
	if _, seen := s.local[name]; !seen {
		s.local[name] = f
	}
	if !show {
		return nil
	}
	x.emitted[name] = emitted{kind: tar.TypeLink, layer: s.i}
	switch {
	case f.below:
		s.deferred = append(s.deferred, link{name: name, target: f.file})
		return nil
	case s.alias[f.file] != "":
		return x.write(hdr, name, s.alias[f.file], nil)
	}
	// The file's content passed unwritten, as the file was shadowed.
	s.reread[f.file] = append(s.reread[f.file], name)
	return nil
}

// want notes that the link name needs the content target had below.
func (x *exporter) want(target, name string) error {
	if x.nwaiting >= exportMaxLinkTargets {
		return fmt.Errorf("more than %d hardlinks waiting for their targets", exportMaxLinkTargets)
	}
	x.wanted[target] = append(x.wanted[target], name)
	x.nwaiting++
	return nil
}

// serve writes, for the links names that wanted it, entry target of the
// layer being read: its content under the first name, links to that for the
// others.
func (x *exporter) serve(s *layerState, target string, names []string, hdr *tar.Header, tr *tar.Reader) error {
	if hdr.Typeflag == tar.TypeLink {
		// The content is another entry's: of this layer (written, or to be
		// read again) or of one further down.
		lt, err := exportName(hdr.Linkname)
		if err != nil || lt == "" {
			return nil // refused as the entry itself is handled
		}
		f, ok := s.local[lt]
		switch {
		case !ok || f.below:
			if !ok {
				f.file = lt
			}
			for _, n := range names {
				s.deferred = append(s.deferred, link{name: n, target: f.file})
			}
		case s.alias[f.file] != "":
			for _, n := range names {
				if err := x.write(hdr, n, s.alias[f.file], nil); err != nil {
					return err
				}
			}
		default:
			s.reread[f.file] = append(s.reread[f.file], names...)
		}
		return nil
	}
	// A target wanted is hidden from here down (or it would have been
	// linked to at the end), so its content goes out under a link's name.
	if err := x.write(hdr, names[0], "", tr); err != nil {
		return err
	}
	s.alias[target] = names[0]
	for _, n := range names[1:] {
		if err := x.write(hdr, n, names[0], nil); err != nil {
			return err
		}
	}
	return nil
}

// rereadEntry is the second pass over a layer, for the links whose content
// passed in the first before it was known to be needed.
func (x *exporter) rereadEntry(s *layerState, hdr *tar.Header, tr *tar.Reader) error {
	name, err := exportName(hdr.Name)
	if err != nil || hdr.Typeflag == tar.TypeLink || hdr.Typeflag == tar.TypeDir {
		return nil
	}
	names, ok := s.reread[name]
	if !ok {
		return nil
	}
	delete(s.reread, name)
	if err := x.write(hdr, names[0], "", tr); err != nil {
		return err
	}
	for _, n := range names[1:] {
		if err := x.write(hdr, n, names[0], nil); err != nil {
			return err
		}
	}
	return nil
}

// finish writes the links to targets below, and fails on links whose
// targets never came.
func (x *exporter) finish() error {
	for t, names := range x.wanted {
		return fmt.Errorf("hardlink %s: its target %s is in no layer below it", names[0], t)
	}
	for _, l := range x.endLinks {
		if e, ok := x.emitted[l.target]; !ok || e.kind == tar.TypeDir {
			return fmt.Errorf("hardlink %s: its target %s is not a file of the image", l.name, l.target)
		}
		hdr := &tar.Header{Typeflag: tar.TypeLink, Name: l.name, Linkname: l.target, Mode: 0o644}
		if err := x.write(hdr, l.name, l.target, nil); err != nil {
			return err
		}
	}
	return nil
}

// paxKeys are the PAX records that restate a header's own fields: dropped,
// since the fields are rewritten.
var paxKeys = []string{"path", "linkpath", "size", "uid", "gid", "uname", "gname", "mtime", "atime", "ctime"}

// write writes hdr under name: as a hardlink to linkTo when it is set, else
// as itself, with its content from tr for a regular file.
func (x *exporter) write(hdr *tar.Header, name, linkTo string, tr io.Reader) error {
	h := *hdr
	h.Name = name
	// PAX, so that sub-second times survive: with no format, archive/tar
	// rounds them to the second. Headers that need nothing more stay USTAR.
	h.Format = tar.FormatPAX
	if h.PAXRecords != nil {
		h.PAXRecords = make(map[string]string, len(hdr.PAXRecords))
		for k, v := range hdr.PAXRecords {
			if !strings.HasPrefix(k, "GNU.sparse.") && !contains(paxKeys, k) {
				h.PAXRecords[k] = v
			}
		}
	}
	switch {
	case linkTo != "":
		h.Typeflag, h.Linkname, h.Size = tar.TypeLink, linkTo, 0
	case h.Typeflag == tar.TypeDir:
		h.Name += "/"
		h.Size = 0
	case h.Typeflag != tar.TypeReg:
		h.Size = 0
	}
	if h.Typeflag != tar.TypeLink && h.Typeflag != tar.TypeSymlink {
		h.Linkname = ""
	}
	if err := x.tw.WriteHeader(&h); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if h.Typeflag == tar.TypeReg && h.Size > 0 {
		x.inData = true
		if _, err := io.Copy(x.tw, tr); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
		x.inData = false
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
