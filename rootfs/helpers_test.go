package rootfs

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
)

// ent is one entry of a crafted layer.
type ent struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
	mtime            time.Time
	xattrs           map[string]string
}

func file(name, body string) ent { return ent{name: name, body: body, typ: tar.TypeReg, mode: 0o644} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) ent {
	return ent{name: name, link: to, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, to string) ent {
	return ent{name: name, link: to, typ: tar.TypeLink, mode: 0o644}
}
func whiteout(name string) ent { return file(name, "") }

var epoch = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// tarOf writes the entries as a tar.
func tarOf(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Size: int64(len(e.body)), ModTime: e.mtime, Format: tar.FormatPAX}
		if h.ModTime.IsZero() {
			h.ModTime = epoch
		}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if len(e.xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			io.WriteString(tw, e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// blob is a layer's bytes and its Layer, as a manifest and config name them.
type blob struct {
	b []byte
	l Layer
}

// compression is how layerOf compresses a tar.
type compression int

const (
	Uncompressed compression = iota
	Gzip
	Zstd
)

func layerOf(t testing.TB, comp compression, raw []byte) blob {
	t.Helper()
	var b bytes.Buffer
	mt := "application/vnd.oci.image.layer.v1.tar"
	switch comp {
	case Gzip:
		zw := gzip.NewWriter(&b)
		zw.Write(raw)
		zw.Close()
		mt += "+gzip"
	case Zstd:
		zw, _ := zstd.NewWriter(&b)
		zw.Write(raw)
		zw.Close()
		mt += "+zstd"
	default:
		b.Write(raw)
	}
	return blob{b: b.Bytes(), l: Layer{
		Descriptor: image.Descriptor{MediaType: mt, Digest: digest.FromBytes(b.Bytes()), Size: int64(b.Len())},
		DiffID:     digest.FromBytes(raw),
	}}
}

// l1 is a gzip layer of the entries.
func l1(t *testing.T, ents ...ent) blob { return layerOf(t, Gzip, tarOf(t, ents...)) }
