package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/layout"
)

// Image is one image (or one whole index) to put in an archive.
type Image struct {
	// Name is the full normalized reference, "docker.io/library/alpine:3.20", or
	// "…@sha256:…" for a pull by digest; "" for none. index.json names Root by it.
	Name string
	// RepoTag is docker's familiar name:tag for manifest.json and repositories
	// ("alpine:3.20", "ghcr.io/o/x:1"); "" when pulled by digest. Only the
	// docker format uses it, and only when Manifest is set.
	RepoTag string
	// Root is what index.json lists: the index or the manifest pulled
	// (mediaType, digest, size; platform if any).
	Root image.Descriptor
	// Manifest is the image manifest that manifest.json describes (the host
	// platform's); nil leaves the image out of manifest.json (an artifact, say).
	Manifest *image.Descriptor
	Config   image.Descriptor   // of Manifest (ignored when Manifest is nil)
	Layers   []image.Descriptor // of Manifest, in order
	// Blobs is every blob the image needs in the archive: Root, child manifests,
	// configs, layers, in any order, duplicates allowed. Root, Manifest, Config
	// and Layers are added when missing.
	Blobs []image.Descriptor
}

const (
	blockSize = 512
	// alignSize is the filesystem block a blob's data starts on, when it is at
	// least alignMin long, so a reflink copy can share its extents.
	alignSize = 4 << 10
	alignMin  = 1 << 20
)

// Plan is the layout of a tar, computed from descriptors before any blob byte
// exists: names, sizes and offsets are known, so blob data can be written
// concurrently at its final offset, and files can be copied in the kernel.
// A Plan is immutable and safe for concurrent use.
type Plan struct {
	docker  bool
	entries []entry
	blobs   []image.Descriptor // in tar order
	offsets map[digest.Digest]int64
	index   map[digest.Digest]int // in blobs
	size    int64
	id      [sha256.Size]byte // of every header and small file: equal Plans have equal ids
}

// entry is one tar member: its header blocks at off, then size bytes of data
// (held in data for a small file, or a blob's, written by someone else), then
// zeros to the next block.
type entry struct {
	name   string
	dir    bool
	header []byte
	off    int64
	size   int64
	data   []byte // the content of a small file; nil for a directory or a blob
	blob   bool   // the data is desc's, written by a Source or the caller
	desc   image.Descriptor
}

func (e *entry) dataOff() int64 { return e.off + int64(len(e.header)) }

// end is where the next entry's header starts.
func (e *entry) end() int64 { return e.dataOff() + e.size + padding(e.size) }

func padding(n int64) int64 { return -n & (blockSize - 1) }

// manifestItem is one element of docker's manifest.json.
type manifestItem struct {
	Config   string
	RepoTags []string // null when untagged, as docker writes it
	Layers   []string
}

// NewPlan lays out a tar of images: an OCI image layout as a tar (skopeo's
// oci-archive:), and with docker, the docker format: manifest.json and
// repositories beside the layout, as Docker 25+ `docker save` writes it, which
// docker load (before and after 25), podman load, ctr import and skopeo's
// docker-archive: all read. Images may share blobs: each blob is stored once.
// Images with the same Manifest make one manifest.json entry, with their
// RepoTags merged.
func NewPlan(images []Image, docker bool) (*Plan, error) {
	return newPlan(images, docker, alignMin)
}

func newPlan(images []Image, docker bool, alignFrom int64) (*Plan, error) {
	if len(images) == 0 {
		return nil, errors.New("archive: no images")
	}
	b := builder{docker: docker, blobIndex: map[digest.Digest]int{}, byName: map[string]digest.Digest{},
		byManifest: map[digest.Digest]int{}, byRepoTag: map[string]digest.Digest{}, repos: map[string]map[string]string{}}
	for i := range images {
		if err := b.add(&images[i]); err != nil {
			what := images[i].Name
			if what == "" {
				what = string(images[i].Root.Digest)
			}
			return nil, fmt.Errorf("archive image %d (%s): %w", i, what, err)
		}
	}
	if docker && len(b.items) == 0 {
		return nil, errors.New("docker archive: no image has a manifest for manifest.json; use the oci-archive format for artifacts")
	}
	return b.plan(alignFrom)
}

type builder struct {
	docker     bool // manifest.json and repositories too
	blobs      []image.Descriptor
	blobIndex  map[digest.Digest]int
	index      []image.Descriptor
	byName     map[string]digest.Digest // index.json names, to refuse one name for two roots
	items      []manifestItem
	byManifest map[digest.Digest]int    // manifest digest -> items index
	byRepoTag  map[string]digest.Digest // to refuse one RepoTag for two manifests
	repos      map[string]map[string]string
}

func (b *builder) addBlob(d image.Descriptor) error {
	if err := image.ValidateDescriptor(d); err != nil {
		return err
	}
	if i, ok := b.blobIndex[d.Digest]; ok {
		if b.blobs[i].Size != d.Size {
			return fmt.Errorf("blob %s has two sizes, %d and %d", d.Digest, b.blobs[i].Size, d.Size)
		}
		return nil
	}
	b.blobIndex[d.Digest] = len(b.blobs)
	b.blobs = append(b.blobs, image.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size})
	return nil
}

func (b *builder) add(img *Image) error {
	if err := b.addBlob(img.Root); err != nil {
		return fmt.Errorf("root: %w", err)
	}
	for _, d := range img.Blobs {
		if err := b.addBlob(d); err != nil {
			return err
		}
	}
	b.addIndexEntry(img)
	// One name may stand for one image per platform (a pull of several
	// platforms of an index), never for two images of one platform.
	key := img.Name + "\x00" + platformKey(img.Root.Platform)
	if prev, ok := b.byName[key]; ok && img.Name != "" && prev != img.Root.Digest {
		return fmt.Errorf("name %s given to both %s and %s", img.Name, prev, img.Root.Digest)
	}
	b.byName[key] = img.Root.Digest

	if img.Manifest == nil {
		return nil
	}
	m := *img.Manifest
	if image.IsIndex(m.MediaType) {
		return fmt.Errorf("manifest %s is an index (%s), not an image manifest", m.Digest, m.MediaType)
	}
	for _, d := range append([]image.Descriptor{m, img.Config}, img.Layers...) {
		if err := b.addBlob(d); err != nil {
			return err
		}
	}
	if !b.docker {
		return nil
	}
	item := manifestItem{Config: blobPath(img.Config.Digest), Layers: make([]string, 0, len(img.Layers))}
	for _, l := range img.Layers {
		item.Layers = append(item.Layers, blobPath(l.Digest))
	}
	i, ok := b.byManifest[m.Digest]
	if !ok {
		i = len(b.items)
		b.byManifest[m.Digest] = i
		b.items = append(b.items, item)
	} else if b.items[i].Config != item.Config || !slices.Equal(b.items[i].Layers, item.Layers) {
		return fmt.Errorf("manifest %s given with two different configs or layer lists", m.Digest)
	}
	if img.RepoTag == "" {
		return nil
	}
	repo, tag, err := splitRepoTag(img.RepoTag)
	if err != nil {
		return err
	}
	if prev, ok := b.byRepoTag[img.RepoTag]; ok {
		if prev != m.Digest {
			return fmt.Errorf("RepoTag %s given to both %s and %s", img.RepoTag, prev, m.Digest)
		}
		return nil
	}
	b.byRepoTag[img.RepoTag] = m.Digest
	b.items[i].RepoTags = append(b.items[i].RepoTags, img.RepoTag)
	// Docker's repositories maps a tag to the "v1 id" of the image's top layer:
	// since Docker 25, the hex of that layer's digest, the same name as the last
	// of Layers. Only the legacy (pre-1.10) loader reads it; an image without
	// layers has no such id and is left out, as docker save refuses it.
	if len(img.Layers) > 0 {
		if b.repos[repo] == nil {
			b.repos[repo] = map[string]string{}
		}
		b.repos[repo][tag] = img.Layers[len(img.Layers)-1].Digest.Encoded()
	}
	return nil
}

// addIndexEntry lists img.Root in index.json, once per name, as every
// layout haul writes lists it (layout.Entry).
func (b *builder) addIndexEntry(img *Image) {
	idx := image.Index{Manifests: b.index}
	layout.AddEntry(&idx, layout.Entry(img.Root, img.Name))
	b.index = idx.Manifests
}

// splitRepoTag splits docker's familiar "name:tag"; the tag is required, as
// docker load would otherwise tag the image "latest" on its own.
func splitRepoTag(rt string) (repo, tag string, _ error) {
	i := strings.LastIndexByte(rt, ':')
	if i <= 0 || i < strings.LastIndexByte(rt, '/') || i == len(rt)-1 || strings.Contains(rt, "@") {
		return "", "", fmt.Errorf("RepoTag %q: want name:tag", rt)
	}
	return rt[:i], rt[i+1:], nil
}

func blobPath(d digest.Digest) string { return layout.BlobName(d) }

// marshalLine encodes v as docker does with json.Encoder: HTML escaped, one line, a newline.
func marshalLine(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (b *builder) plan(alignFrom int64) (*Plan, error) {
	var entries []entry
	file := func(name string, data []byte) {
		entries = append(entries, entry{name: name, size: int64(len(data)), data: data})
	}
	dirs := map[string]bool{"blobs/": true}
	for _, d := range b.blobs {
		dirs["blobs/"+d.Digest.Algorithm().String()+"/"] = true
		entries = append(entries, entry{name: blobPath(d.Digest), size: d.Size, blob: true, desc: d})
	}
	for name := range dirs {
		entries = append(entries, entry{name: name, dir: true})
	}
	idx, err := json.Marshal(image.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: image.MediaTypeOCIIndex, Manifests: b.index})
	if err != nil {
		return nil, fmt.Errorf("encode index.json: %w", err)
	}
	file(layout.IndexFile, idx)
	file(layout.LayoutFile, []byte(layout.LayoutFileContent))
	if b.docker {
		mj, err := marshalLine(b.items)
		if err != nil {
			return nil, fmt.Errorf("encode manifest.json: %w", err)
		}
		file("manifest.json", mj)
		if len(b.repos) > 0 {
			rj, err := marshalLine(b.repos)
			if err != nil {
				return nil, fmt.Errorf("encode repositories: %w", err)
			}
			file("repositories", rj)
		}
	}
	// Byte order of names is what docker save (a directory walk) and
	// containerd's exporter (a sort) both give.
	slices.SortFunc(entries, func(x, y entry) int { return strings.Compare(x.name, y.name) })

	p := &Plan{docker: b.docker, offsets: make(map[digest.Digest]int64, len(b.blobs)), index: make(map[digest.Digest]int, len(b.blobs))}
	h := sha256.New()
	var off int64
	for i := range entries {
		e := &entries[i]
		e.off = off
		if e.header, err = header(e.name, e.dir, e.size, off, e.blob && e.size >= alignFrom); err != nil {
			return nil, fmt.Errorf("tar header for %s: %w", e.name, err)
		}
		if e.blob {
			p.index[e.desc.Digest] = len(p.blobs)
			p.blobs = append(p.blobs, e.desc)
			p.offsets[e.desc.Digest] = e.dataOff()
		}
		h.Write(e.header)
		h.Write(e.data)
		off = e.end()
	}
	p.entries = entries
	p.size = off + 2*blockSize
	h.Sum(p.id[:0])
	return p, nil
}

// Docker reports whether the tar is in the docker format: docker's
// manifest.json and repositories beside the OCI layout.
func (p *Plan) Docker() bool { return p.docker }

// Size is the length of the whole tar, the two zero blocks that end it included.
func (p *Plan) Size() int64 { return p.size }

// Blobs is every blob in the tar, each once, in tar order.
func (p *Plan) Blobs() []image.Descriptor { return slices.Clone(p.blobs) }

// Offset is where the data of blob d starts in the tar.
func (p *Plan) Offset(d digest.Digest) (int64, bool) {
	off, ok := p.offsets[d]
	return off, ok
}

func platformKey(p *image.Platform) string {
	if p == nil {
		return ""
	}
	return image.FormatPlatform(image.Normalize(*p))
}
