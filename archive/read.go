package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/internal/ctxio"
	"github.com/haul-dev/haul/layout"
	"github.com/haul-dev/haul/ref"
)

// Limits on what a reader takes from an archive, which is a stranger's as
// much as a registry's answer is.
const (
	maxManifestSize = 4 << 20 // index.json, manifest.json, a manifest or an index: refused before parsing
	maxTarEntries   = 1 << 20 // entries indexed in a tar; an image archive has a few per layer
	maxLinkDepth    = 8       // symlinks followed to a file inside a tar (old docker save links shared layers)
	maxIndexDepth   = 8       // nested indexes followed to an image manifest
)

// MediaTypeDockerLayer is the media type of an uncompressed Docker layer:
// what an old `docker save` archive's layer.tar is, whose blob digest is then
// its diff_id.
const MediaTypeDockerLayer = "application/vnd.docker.image.rootfs.diff.tar"

// Reader reads the images of a local archive or layout: a tar that `haul
// pull`, `docker save` (any version), skopeo or podman wrote (a docker archive,
// an OCI archive, or one that is both), or an OCI image layout directory.
// Nothing in it is trusted: manifests, indexes and configs are bounded in size
// and checked against their descriptors as they are read; layers are handed
// out unread, for rootfs.Open to verify at their end. A Reader is safe for
// concurrent use.
type Reader struct {
	src    string
	files  files
	index  *image.Index  // index.json; nil when absent
	items  []dockerItem  // manifest.json; nil when absent or index.json is there
	listed []Listed      // what Images returns
	paths  pathsByDigest // blobs known by a path rather than blobs/<alg>/<hex>
}

// Listed is one image an archive lists: an index.json entry, or a
// manifest.json entry of an archive without index.json.
type Listed struct {
	// Names are the names it is listed under: the io.containerd.image.name
	// and org.opencontainers.image.ref.name annotations of index.json (Docker
	// writes a bare tag in the second), or manifest.json's RepoTags.
	Names []string
	// Root is the index.json entry: a manifest or an index, with its platform
	// if given. For an old docker save (manifest.json only) it is zero.
	Root image.Descriptor
	item int // manifest.json entry; -1 for an index.json one
}

// Name is the name to show for l: its first, or its root digest.
func (l Listed) Name() string {
	if len(l.Names) > 0 {
		return l.Names[0]
	}
	if l.Root.Digest != "" {
		return l.Root.Digest.String()
	}
	return fmt.Sprintf("image %d of manifest.json", l.item+1)
}

// Stored is one image of an archive, resolved to a platform.
type Stored struct {
	Name string // the name it was chosen by, or listed under; "" for none
	// Descriptor is the image manifest's. For an old docker save, which holds
	// no manifest, it is zero and Manifest is made from manifest.json.
	Descriptor image.Descriptor
	// Manifest has the config and layer descriptors. A layer named by path
	// (an old docker save's <id>/layer.tar) is described by the config's
	// diff_id when it is an uncompressed tar, as it is its own blob then.
	Manifest   image.Manifest
	Config     image.Config
	ConfigBody []byte
}

// Digest is the image manifest's digest or, for an old docker save, the
// image ID (the config's digest): the digest docker itself would name.
func (s *Stored) Digest() digest.Digest {
	if s.Descriptor.Digest != "" {
		return s.Descriptor.Digest
	}
	return s.Manifest.Config.Digest
}

// ErrNotArchive is returned by Open for a source that is neither a tar of an
// image nor a layout.
var ErrNotArchive = errors.New("not an image archive or OCI layout (no index.json or manifest.json)")

// AmbiguousError says that an archive holds several images and none was
// chosen, or that the name given matches none of them.
type AmbiguousError struct {
	Src   string
	Want  string   // the name asked for; "" when none was
	Names []string // what the archive holds
}

func (e *AmbiguousError) Error() string {
	names := strings.Join(e.Names, ", ")
	if e.Want == "" {
		return fmt.Sprintf("%s holds %d images (%s): choose one by name", e.Src, len(e.Names), names)
	}
	if len(e.Names) == 0 {
		return fmt.Sprintf("%s holds no image named %s: it holds no named image", e.Src, e.Want)
	}
	return fmt.Sprintf("%s holds no image named %s; it holds %s", e.Src, e.Want, names)
}

// Open opens src: a directory that is an OCI layout (or an unpacked docker
// save), or a tar file. The Reader must be closed.
func Open(ctx context.Context, src string) (_ *Reader, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("open archive: %w", err)
	}
	r := &Reader{src: src}
	if fi.IsDir() {
		root, err := os.OpenRoot(src)
		if err != nil {
			return nil, fmt.Errorf("open layout %s: %w", src, err)
		}
		r.files = dirFiles{root}
	} else {
		tf, err := openTar(ctx, src)
		if err != nil {
			return nil, fmt.Errorf("open archive %s: %w", src, err)
		}
		r.files = tf
	}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	if err := r.readTOC(); err != nil {
		return nil, fmt.Errorf("open archive %s: %w", src, err)
	}
	return r, nil
}

// Close releases the archive's file.
func (r *Reader) Close() error { return r.files.close() }

// readTOC reads index.json and manifest.json and lists the images.
func (r *Reader) readTOC() error {
	idx, errIdx := readSmall(r.files, "index.json", maxManifestSize)
	mj, errMJ := readSmall(r.files, "manifest.json", maxManifestSize)
	switch {
	case errIdx != nil && !errors.Is(errIdx, fs.ErrNotExist):
		return errIdx
	case errMJ != nil && !errors.Is(errMJ, fs.ErrNotExist):
		return errMJ
	case errIdx != nil && errMJ != nil:
		return ErrNotArchive
	}
	if errIdx == nil {
		// Docker 25+ writes both; index.json has the real manifests.
		index, listed, err := parseIndexJSON(idx)
		if err != nil {
			return fmt.Errorf("index.json: %w", err)
		}
		r.index, r.listed = index, listed
		return nil
	}
	items, err := parseDockerManifest(mj)
	if err != nil {
		return fmt.Errorf("manifest.json: %w", err)
	}
	r.items = items
	for i, it := range items {
		r.listed = append(r.listed, Listed{Names: slices.Clone(it.RepoTags), item: i})
	}
	return nil
}

// parseIndexJSON reads a layout's index.json and lists its entries.
func parseIndexJSON(body []byte) (*image.Index, []Listed, error) {
	p, err := image.Parse("", body)
	if err != nil {
		return nil, nil, err
	}
	if p.Index == nil {
		return nil, nil, fmt.Errorf("is a %s, not an image index", p.MediaType)
	}
	var listed []Listed
	for _, d := range p.Index.Manifests {
		if image.IsAttestation(d) || layout.IsReferrer(d) {
			continue
		}
		l := Listed{Root: d, item: -1}
		for _, k := range []string{layout.AnnotationImageName, layout.AnnotationRefName} {
			if n := d.Annotations[k]; n != "" && !slices.Contains(l.Names, n) {
				l.Names = append(l.Names, n)
			}
		}
		listed = append(listed, l)
	}
	return p.Index, listed, nil
}

// dockerItem is one element of docker's manifest.json, as read.
type dockerItem struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// parseDockerManifest reads manifest.json. Its paths name files in the
// archive; one that is absolute or climbs out with ".." is refused, so no
// later lookup can be steered outside the archive's own names.
func parseDockerManifest(body []byte) ([]dockerItem, error) {
	var items []dockerItem
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if len(items) == 0 {
		return nil, errors.New("lists no image")
	}
	for i, it := range items {
		if err := checkArchivePath(it.Config); err != nil {
			return nil, fmt.Errorf("image %d: Config: %w", i, err)
		}
		for j, l := range it.Layers {
			if err := checkArchivePath(l); err != nil {
				return nil, fmt.Errorf("image %d: layer %d: %w", i, j, err)
			}
		}
		items[i].Config = cleanArchivePath(it.Config)
		for j, l := range it.Layers {
			items[i].Layers[j] = cleanArchivePath(l)
		}
	}
	return items, nil
}

// checkArchivePath accepts a relative path that stays inside the archive.
func checkArchivePath(unsafePath string) error {
	switch {
	case unsafePath == "":
		return errors.New("empty path")
	case strings.IndexByte(unsafePath, 0) >= 0:
		return errors.New("path holds a NUL byte")
	case strings.HasPrefix(unsafePath, "/"):
		return fmt.Errorf("path %q is absolute", unsafePath)
	case slices.Contains(strings.Split(unsafePath, "/"), ".."):
		return fmt.Errorf("path %q holds a .. component", unsafePath)
	}
	if c := path.Clean(unsafePath); c == "." {
		return fmt.Errorf("path %q names the archive itself", unsafePath)
	}
	return nil
}

func cleanArchivePath(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

// Images lists what the archive holds, in its order: the images, not the
// referrers of them (layout.IsReferrer) that `haul pull --referrers` lists
// in index.json too, nor attestations.
func (r *Reader) Images() []Listed { return slices.Clone(r.listed) }

// Referrers lists the index.json entries that are referrers of images in
// the archive (signatures, SBOMs, attestations, as layout.IsReferrer tells
// them), in its order; their blobs are read with Blob like any other.
func (r *Reader) Referrers() []image.Descriptor {
	if r.index == nil {
		return nil
	}
	var out []image.Descriptor
	for _, d := range r.index.Manifests {
		if layout.IsReferrer(d) {
			out = append(out, d)
		}
	}
	return out
}

// names is every listed image's display name, each once.
func (r *Reader) names() []string {
	var names []string
	for _, l := range r.listed {
		if n := l.Name(); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// matches reports whether an archive's name for an image is the name a user
// gave: equal, or equal once both are normalized as references are
// ("alpine" is "docker.io/library/alpine:latest").
func matches(listed, want string) bool {
	if listed == want {
		return true
	}
	a, errA := ref.Parse(listed)
	b, errB := ref.Parse(want)
	return errA == nil && errB == nil && a == b
}

// Image resolves the image called name ("": the only one the archive holds)
// to platform, and reads its manifest and config, verified. An archive that
// lists one name for several platforms (a multi-platform pull) gives the
// platform's.
func (r *Reader) Image(ctx context.Context, name string, platform image.Platform) (*Stored, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var cands []Listed
	for _, l := range r.listed {
		if name == "" || slices.ContainsFunc(l.Names, func(n string) bool { return matches(n, name) }) {
			cands = append(cands, l)
		}
	}
	if len(cands) == 0 {
		if name == "" {
			return nil, fmt.Errorf("%s lists no image", r.src)
		}
		return nil, &AmbiguousError{Src: r.src, Want: name, Names: r.names()}
	}
	l, err := r.choose(cands, name, platform)
	if err != nil {
		return nil, err
	}
	shown := name
	if shown == "" && len(l.Names) > 0 {
		shown = l.Names[0]
	}
	var s *Stored
	if l.item >= 0 {
		s, err = r.dockerImage(ctx, r.items[l.item])
	} else {
		s, err = r.ociImage(ctx, l.Root, platform)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: image %s: %w", r.src, l.Name(), err)
	}
	s.Name = shown
	return s, nil
}

// choose picks one of the candidates: the only one, one of several entries
// for the same content, or, when they are one name's platforms, the
// platform's.
func (r *Reader) choose(cands []Listed, name string, platform image.Platform) (Listed, error) {
	same := func(a, b Listed) bool {
		if a.item >= 0 || b.item >= 0 {
			return a.item == b.item
		}
		return a.Root.Digest == b.Root.Digest
	}
	if !slices.ContainsFunc(cands, func(l Listed) bool { return !same(l, cands[0]) }) {
		return cands[0], nil
	}
	platformed := !slices.ContainsFunc(cands, func(l Listed) bool { return l.item >= 0 || l.Root.Platform == nil })
	oneName := name != "" || !slices.ContainsFunc(cands, func(l Listed) bool { return !slices.Equal(l.Names, cands[0].Names) })
	if !platformed || !oneName {
		var names []string
		for _, l := range cands {
			if n := l.Name(); !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		return Listed{}, &AmbiguousError{Src: r.src, Names: names}
	}
	idx := &image.Index{}
	for _, l := range cands {
		idx.Manifests = append(idx.Manifests, l.Root)
	}
	d, err := image.Select(idx, platform)
	if err != nil {
		return Listed{}, fmt.Errorf("%s: %w", r.src, err)
	}
	for _, l := range cands {
		if l.Root.Digest == d.Digest {
			return l, nil
		}
	}
	panic("unreachable: Select returned an entry it was not given")
}

// ociImage walks from root (a manifest, or an index) to the image manifest
// for platform, and reads its config.
func (r *Reader) ociImage(ctx context.Context, root image.Descriptor, platform image.Platform) (*Stored, error) {
	d := root
	seen := map[digest.Digest]bool{}
	for depth := 0; ; depth++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if depth > maxIndexDepth {
			return nil, fmt.Errorf("indexes nested more than %d deep", maxIndexDepth)
		}
		if seen[d.Digest] {
			return nil, fmt.Errorf("index %s refers back to itself", d.Digest)
		}
		seen[d.Digest] = true
		body, err := r.readBlob(d, maxManifestSize, "manifest")
		if err != nil {
			return nil, err
		}
		p, err := image.Parse(d.MediaType, body)
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
		}
		if p.Index != nil {
			if d, err = image.Select(p.Index, platform); err != nil {
				return nil, err
			}
			continue
		}
		d.MediaType = p.MediaType
		cfgBody, err := r.readBlob(p.Manifest.Config, image.MaxConfigSize, "config")
		if err != nil {
			return nil, err
		}
		s := &Stored{Descriptor: d, Manifest: *p.Manifest, ConfigBody: cfgBody}
		if err := json.Unmarshal(cfgBody, &s.Config); err != nil {
			return nil, fmt.Errorf("decoding config %s: %w", p.Manifest.Config.Digest, err)
		}
		return s, nil
	}
}

// dockerImage reads an image that only manifest.json describes (docker save
// before Docker 25): a config named <id>.json, whose sha256 is the image ID,
// and layers named <id>/layer.tar, uncompressed, whose digests are the
// config's diff_ids. Both are checked: the config against its name when the
// name is a digest, each layer by rootfs.Open against its diff_id.
func (r *Reader) dockerImage(ctx context.Context, it dockerItem) (*Stored, error) {
	cfgBody, err := readSmall(r.files, it.Config, image.MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfgDigest := digest.FromBytes(cfgBody)
	if named, ok := digestOfPath(it.Config); ok && named != cfgDigest {
		return nil, &image.DigestError{What: "config " + it.Config, Want: named, Got: cfgDigest}
	}
	s := &Stored{ConfigBody: cfgBody}
	if err := json.Unmarshal(cfgBody, &s.Config); err != nil {
		return nil, fmt.Errorf("decoding config %s: %w", it.Config, err)
	}
	diffIDs := s.Config.RootFS.DiffIDs
	if len(diffIDs) != len(it.Layers) {
		return nil, fmt.Errorf("manifest.json lists %d layers and the config %d diff_ids", len(it.Layers), len(diffIDs))
	}
	s.Manifest.SchemaVersion = 2
	s.Manifest.MediaType = image.MediaTypeDockerManifest
	s.Manifest.Config = image.Descriptor{MediaType: image.MediaTypeDockerConfig, Digest: cfgDigest, Size: int64(len(cfgBody))}
	s.Manifest.Layers = make([]image.Descriptor, len(it.Layers))
	for i, p := range it.Layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := image.ValidateDigest(diffIDs[i]); err != nil {
			return nil, fmt.Errorf("diff_id %d: %w", i, err)
		}
		d, err := r.describeLayer(ctx, p, diffIDs[i])
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", p, err)
		}
		s.Manifest.Layers[i] = d
		r.paths.add(d.Digest, p)
	}
	return s, nil
}

// describeLayer makes the descriptor of a layer known only by its path.
func (r *Reader) describeLayer(ctx context.Context, p string, diffID digest.Digest) (image.Descriptor, error) {
	f, err := r.files.open(p)
	if err != nil {
		return image.Descriptor{}, err
	}
	defer f.Close()
	magic := make([]byte, 4)
	n, _ := f.ReadAt(magic, 0)
	magic = magic[:n]
	compressed := ""
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		compressed = image.MediaTypeDockerLayerGzip
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		compressed = "application/vnd.docker.image.rootfs.diff.tar.zstd"
	}
	named, isNamed := digestOfPath(p)
	switch {
	case compressed == "" && !isNamed:
		return image.Descriptor{MediaType: MediaTypeDockerLayer, Digest: diffID, Size: f.Size()}, nil
	case compressed == "":
		return image.Descriptor{MediaType: MediaTypeDockerLayer, Digest: named, Size: f.Size()}, nil
	case isNamed:
		return image.Descriptor{MediaType: compressed, Digest: named, Size: f.Size()}, nil
	}
	// A compressed layer under a name that is no digest (some tools write
	// them): its blob digest is known only by hashing it. rootfs.Open checks
	// the diff_id, which is what the config vouches for.
	h := digest.Canonical.Digester()
	if _, err := io.Copy(h.Hash(), ctxio.Reader(ctx, io.NewSectionReader(f, 0, f.Size()))); err != nil {
		return image.Descriptor{}, fmt.Errorf("hashing: %w", err)
	}
	return image.Descriptor{MediaType: compressed, Digest: h.Digest(), Size: f.Size()}, nil
}

// digestOfPath reads the digest a content-addressed name gives: blobs/<alg>/<hex>,
// or old docker save's config, <hex>.json. Its layer directories are named by
// v1 ids, which are no digests of anything in the archive.
func digestOfPath(p string) (digest.Digest, bool) {
	parts := strings.Split(p, "/")
	var d digest.Digest
	switch {
	case len(parts) == 3 && parts[0] == "blobs":
		d = digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[2])
	case len(parts) == 1 && strings.HasSuffix(p, ".json"):
		d = digest.NewDigestFromEncoded(digest.SHA256, strings.TrimSuffix(p, ".json"))
	default:
		return "", false
	}
	return d, image.ValidateDigest(d) == nil
}

// Blob returns the bytes of blob d as the archive stores them, for a caller
// that verifies them (rootfs.Open does, at their end). A file of another size
// than d's is refused here.
func (r *Reader) Blob(d image.Descriptor) (io.ReadCloser, error) {
	f, err := r.openBlob(d)
	if err != nil {
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{io.NewSectionReader(f, 0, f.Size()), f}, nil
}

func (r *Reader) openBlob(d image.Descriptor) (file, error) {
	if err := image.ValidateDescriptor(d); err != nil {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	p, ok := r.paths.get(d.Digest)
	if !ok {
		p = blobPath(d.Digest)
	}
	f, err := r.files.open(p)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	if f.Size() != d.Size {
		f.Close()
		return nil, &image.SizeError{What: "blob " + d.Digest.String() + " (" + p + ")", Want: d.Size, Got: f.Size()}
	}
	return f, nil
}

// readBlob reads a small blob whole and checks it against d.
func (r *Reader) readBlob(d image.Descriptor, limit int64, what string) ([]byte, error) {
	if d.Size > limit {
		return nil, fmt.Errorf("%s %s is %d bytes, over the limit of %d", what, d.Digest, d.Size, limit)
	}
	f, err := r.openBlob(d)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	body, err := io.ReadAll(image.VerifyReader(io.NewSectionReader(f, 0, f.Size()), d, what+" "+d.Digest.String()))
	if err != nil {
		return nil, err
	}
	return body, nil
}

// readSmall reads the file name of fs, if it is at most limit bytes.
func readSmall(fs files, name string, limit int64) ([]byte, error) {
	f, err := fs.open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, over the limit of %d", name, f.Size(), limit)
	}
	b := make([]byte, f.Size())
	if n, err := f.ReadAt(b, 0); n < len(b) {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return b, nil
}

// pathsByDigest maps a blob named by path to that path; written while an
// image is resolved, read by Blob, from any goroutine.
type pathsByDigest struct {
	mu sync.Mutex
	m  map[digest.Digest]string
}

func (p *pathsByDigest) add(d digest.Digest, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[digest.Digest]string{}
	}
	p.m[d] = name
}

func (p *pathsByDigest) get(d digest.Digest) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	name, ok := p.m[d]
	return name, ok
}

// files is what a Reader reads from: a tar's entries or a directory's files.
type files interface {
	open(name string) (file, error) // name is clean and relative
	close() error
}

// file is one regular file of the archive.
type file interface {
	io.ReaderAt
	io.Closer
	Size() int64
}

// dirFiles reads a layout directory through an os.Root: no name, symlink
// included, resolves outside it.
type dirFiles struct{ root *os.Root }

func (d dirFiles) open(name string) (file, error) {
	f, err := d.root.Open(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	return sizedFile{f, fi.Size()}, nil
}

func (d dirFiles) close() error { return d.root.Close() }

type sizedFile struct {
	*os.File
	size int64
}

func (f sizedFile) Size() int64 { return f.size }

// tarFiles is a tar indexed once: each regular file's data offset and size,
// each link's target. Files are read in place, never extracted.
type tarFiles struct {
	f       *os.File
	entries map[string]tarEntry
}

type tarEntry struct {
	off, size int64
	link      string // a symlink's or hardlink's target, as an archive path; "" for a file
}

func openTar(ctx context.Context, name string) (_ *tarFiles, err error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	magic := make([]byte, 4)
	n, _ := f.ReadAt(magic, 0)
	if bytes.HasPrefix(magic[:n], []byte{0x1f, 0x8b}) || bytes.HasPrefix(magic[:n], []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		return nil, errors.New("the tar is compressed: decompress it first (gunzip, zstd -d)")
	}
	t := &tarFiles{f: f, entries: map[string]tarEntry{}}
	// archive/tar reads headers straight from f and seeks over data, so after
	// Next the file's offset is where the entry's data starts.
	tr := tar.NewReader(f)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("reading tar: %w", err)
		}
		if len(t.entries) >= maxTarEntries {
			return nil, fmt.Errorf("more than %d entries: not an image archive", maxTarEntries)
		}
		if checkArchivePath(strings.TrimPrefix(hdr.Name, "./")) != nil {
			continue // never looked up: every name asked for is checked the same way
		}
		name := cleanArchivePath(hdr.Name)
		var e tarEntry
		switch hdr.Typeflag {
		case tar.TypeReg:
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, fmt.Errorf("reading tar: %w", err)
			}
			e = tarEntry{off: off, size: hdr.Size}
		case tar.TypeSymlink:
			target := hdr.Linkname
			if !strings.HasPrefix(target, "/") {
				target = path.Join(path.Dir(name), target)
			}
			e = tarEntry{link: cleanArchivePath(target)}
		case tar.TypeLink:
			e = tarEntry{link: cleanArchivePath(hdr.Linkname)}
		default:
			continue
		}
		if _, dup := t.entries[name]; dup {
			return nil, fmt.Errorf("the tar holds %s twice", name)
		}
		t.entries[name] = e
	}
	return t, nil
}

func (t *tarFiles) open(name string) (file, error) {
	want := name
	for range maxLinkDepth + 1 {
		e, ok := t.entries[name]
		if !ok {
			return nil, fmt.Errorf("%s: %w", want, fs.ErrNotExist)
		}
		if e.link == "" {
			return tarFile{io.NewSectionReader(t.f, e.off, e.size)}, nil
		}
		name = e.link
	}
	return nil, fmt.Errorf("%s: more than %d links", want, maxLinkDepth)
}

func (t *tarFiles) close() error { return t.f.Close() }

// tarFile is an entry's data; closing it leaves the tar open.
type tarFile struct{ *io.SectionReader }

func (tarFile) Close() error { return nil }
