package layout

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/disk"
	"github.com/haul-dev/haul/image"
)

func desc(content string) image.Descriptor {
	return image.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString(content), Size: int64(len(content))}
}

// names lists dir's entries, so a test can see that no temporary file is left.
func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

func TestCreateOpen(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		existing  string // oci-layout content written before; "" for none
		noDir     bool   // the directory does not exist yet
		createErr bool
		openErr   bool // Open after Create (or instead of it, when Create fails)
	}{
		{name: "new directory", noDir: true},
		{name: "empty directory"},
		{name: "existing layout", existing: `{"imageLayoutVersion":"1.0.0"}`},
		{name: "garbage oci-layout", existing: "not json", createErr: true, openErr: true},
		{name: "other version", existing: `{"imageLayoutVersion":"2.0.0"}`, createErr: true, openErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "a", "b")
			if !tt.noDir {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if _, err := Open(dir); err == nil {
					t.Fatal("Open of a directory without oci-layout succeeded")
				}
			}
			if tt.existing != "" {
				if err := os.WriteFile(filepath.Join(dir, LayoutFile), []byte(tt.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			l, err := Create(dir)
			if tt.createErr {
				if err == nil {
					t.Fatal("Create succeeded")
				}
				if b, _ := os.ReadFile(filepath.Join(dir, LayoutFile)); string(b) != tt.existing {
					t.Fatalf("Create changed oci-layout to %q", b)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				if l.Dir() != dir {
					t.Fatalf("Dir() = %q, want %q", l.Dir(), dir)
				}
				var v struct{ ImageLayoutVersion string }
				b, _ := os.ReadFile(filepath.Join(dir, LayoutFile))
				if err := json.Unmarshal(b, &v); err != nil || v.ImageLayoutVersion != "1.0.0" {
					t.Fatalf("oci-layout = %q", b)
				}
				if fi, err := os.Stat(filepath.Join(dir, "blobs")); err != nil || !fi.IsDir() {
					t.Fatalf("no blobs directory: %v", err)
				}
				for _, n := range names(t, dir) {
					if disk.IsTemp(n) {
						t.Fatalf("temporary file %s left behind", n)
					}
				}
			}
			if _, err := Open(dir); (err != nil) != tt.openErr {
				t.Fatalf("Open: err = %v, want error %v", err, tt.openErr)
			}
		})
	}
}

func TestBlobPath(t *testing.T) {
	t.Parallel()
	l := newLayout("/layout")
	hex := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		d    digest.Digest
		want string // "" for an error
	}{
		{name: "sha256", d: digest.Digest("sha256:" + hex), want: "/layout/blobs/sha256/" + hex},
		{name: "sha512", d: digest.SHA512.FromString("x"), want: "/layout/blobs/sha512/" + digest.SHA512.FromString("x").Encoded()},
		{name: "dot dot", d: "sha256:../../x"},
		{name: "dot dot padded", d: digest.Digest("sha256:../../../../" + hex[:52])},
		{name: "slash", d: digest.Digest("sha256:" + hex[:32] + "/" + hex[:31])},
		{name: "md5", d: "md5:d41d8cd98f00b204e9800998ecf8427e"},
		{name: "unknown algorithm", d: digest.Digest("../..:" + hex)},
		{name: "upper case", d: digest.Digest("sha256:" + strings.ToUpper(hex))},
		{name: "short", d: digest.Digest("sha256:" + hex[:63])},
		{name: "empty", d: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := l.BlobPath(tt.d)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("BlobPath(%q) = %q, want an error", tt.d, got)
				}
				return
			}
			if err != nil || got != filepath.FromSlash(tt.want) {
				t.Fatalf("BlobPath(%q) = %q, %v; want %q", tt.d, got, err, tt.want)
			}
		})
	}
}

// failReader fails the test if anything reads it.
type failReader struct{ t *testing.T }

func (r failReader) Read([]byte) (int, error) {
	r.t.Error("an existing blob's reader was read")
	return 0, io.EOF
}

func TestWriteBlob(t *testing.T) {
	t.Parallel()
	const content = "some layer bytes"
	d := desc(content)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name    string
		body    string
		ctx     context.Context
		bytes   bool  // WriteBlobBytes instead of WriteBlob
		wantErr any   // pointer to the error type expected, or nil
		wantIs  error // or the error expected
	}{
		{name: "ok", body: content},
		{name: "ok bytes", body: content, bytes: true},
		{name: "wrong bytes", body: strings.ToUpper(content), wantErr: new(*image.DigestError)},
		{name: "wrong bytes in memory", body: strings.ToUpper(content), bytes: true, wantErr: new(*image.DigestError)},
		{name: "short", body: content[:4], wantErr: new(*image.SizeError)},
		{name: "long", body: content + "!", wantErr: new(*image.SizeError)},
		{name: "long in memory", body: content + "!", bytes: true, wantErr: new(*image.SizeError)},
		{name: "cancelled", body: content, ctx: cancelled, wantIs: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := Create(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx
			}
			if tt.bytes {
				err = l.WriteBlobBytes(d, []byte(tt.body))
			} else {
				err = l.WriteBlob(ctx, d, strings.NewReader(tt.body))
			}
			blobDir := filepath.Join(l.Dir(), "blobs", "sha256")
			if tt.wantErr != nil || tt.wantIs != nil {
				if tt.wantIs != nil {
					if !errors.Is(err, tt.wantIs) {
						t.Fatalf("err = %v, want %v", err, tt.wantIs)
					}
				} else if !errors.As(err, tt.wantErr) {
					t.Fatalf("err = %v, want %T", err, tt.wantErr)
				}
				if n := names(t, blobDir); len(n) != 0 {
					t.Fatalf("a failed write left %v", n)
				}
				if ok, err := l.Has(d); ok || err != nil {
					t.Fatalf("Has = %v, %v after a failed write", ok, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := names(t, blobDir); len(n) != 1 || n[0] != d.Digest.Encoded() {
				t.Fatalf("blob directory holds %v, want only the blob", n)
			}
			p, _ := l.BlobPath(d.Digest)
			if b, err := os.ReadFile(p); err != nil || string(b) != content {
				t.Fatalf("blob = %q, %v", b, err)
			}
			if fi, _ := os.Stat(p); fi.Mode().Perm()&0o222 != 0 {
				t.Fatalf("blob mode %v is writable", fi.Mode())
			}
			if ok, err := l.Has(d); !ok || err != nil {
				t.Fatalf("Has = %v, %v", ok, err)
			}
			if ok, _ := l.Has(image.Descriptor{Digest: d.Digest, Size: d.Size + 1}); ok {
				t.Fatal("Has accepted a descriptor of another size")
			}
			// Present: the reader is not touched.
			if err := l.WriteBlob(t.Context(), d, failReader{t}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestLinkBlob(t *testing.T) {
	t.Parallel()
	const content = "a blob from the store"
	d := desc(content)
	exdev := func(oldname, newname string) error {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EXDEV}
	}
	// swept is a link that another process's RemoveStale takes before the
	// rename, the first time.
	var sweeps atomic.Int32
	swept := func(oldname, newname string) error {
		err := os.Link(oldname, newname)
		if err == nil && sweeps.Add(1) == 1 {
			os.Remove(newname)
		}
		return err
	}
	tests := []struct {
		name     string
		src      string // content of the source file
		d        image.Descriptor
		link     func(oldname, newname string) error
		cancel   bool
		wantSame bool // hardlinked
		wantErr  bool
	}{
		{name: "same filesystem", src: content, d: d, wantSame: true},
		{name: "across filesystems", src: content, d: d, link: exdev},
		{name: "link swept before its rename", src: content, d: d, link: swept, wantSame: true},
		{name: "wrong size", src: content + "!", d: d, wantErr: true},
		{name: "wrong size across filesystems", src: content + "!", d: d, link: exdev, wantErr: true},
		{name: "cancelled copy", src: content, d: d, link: exdev, cancel: true, wantErr: true},
		{name: "bad digest", src: content, d: image.Descriptor{Digest: "sha256:../../x", Size: d.Size}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			src := filepath.Join(tmp, "src")
			if err := os.WriteFile(src, []byte(tt.src), 0o444); err != nil {
				t.Fatal(err)
			}
			l, err := Create(filepath.Join(tmp, "layout"))
			if err != nil {
				t.Fatal(err)
			}
			if tt.link != nil {
				l.link = tt.link
			}
			ctx, cancel := context.WithCancel(t.Context())
			if tt.cancel {
				cancel()
			}
			defer cancel()
			err = l.LinkBlob(ctx, tt.d, src)
			blobDir := filepath.Join(l.Dir(), "blobs", "sha256")
			if tt.wantErr {
				if err == nil {
					t.Fatal("LinkBlob succeeded")
				}
				if n := names(t, blobDir); len(n) != 0 {
					t.Fatalf("a failed link left %v", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := names(t, blobDir); len(n) != 1 {
				t.Fatalf("blob directory holds %v, want only the blob", n)
			}
			p, _ := l.BlobPath(d.Digest)
			if b, err := os.ReadFile(p); err != nil || string(b) != content {
				t.Fatalf("blob = %q, %v", b, err)
			}
			fs, _ := os.Stat(src)
			fb, _ := os.Stat(p)
			if os.SameFile(fs, fb) != tt.wantSame {
				t.Fatalf("SameFile = %v, want %v", !tt.wantSame, tt.wantSame)
			}
			// Present now: linking again is a no-op, even from a missing source.
			if err := l.LinkBlob(t.Context(), d, filepath.Join(tmp, "missing")); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestReadIndexEmpty(t *testing.T) {
	t.Parallel()
	l, err := Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	idx, err := l.ReadIndex()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(idx)
	want := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`
	if string(b) != want {
		t.Fatalf("empty index = %s, want %s", b, want)
	}
}

func TestUpdateIndex(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := Create(dir); err != nil {
		t.Fatal(err)
	}
	const writers = 10
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			l, err := Open(dir) // as another process would
			if err != nil {
				t.Error(err)
				return
			}
			err = l.UpdateIndex(t.Context(), func(idx *image.Index) error {
				idx.Manifests = append(idx.Manifests, desc(fmt.Sprint("manifest ", i)))
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	l, _ := Open(dir)
	idx, err := l.ReadIndex()
	if err != nil {
		t.Fatal(err)
	}
	got := map[digest.Digest]bool{}
	for _, m := range idx.Manifests {
		got[m.Digest] = true
	}
	for i := range writers {
		if !got[desc(fmt.Sprint("manifest ", i)).Digest] {
			t.Errorf("manifest %d is missing from the index", i)
		}
	}
	if len(idx.Manifests) != writers {
		t.Errorf("index has %d manifests, want %d", len(idx.Manifests), writers)
	}
	for _, n := range names(t, dir) {
		if disk.IsTemp(n) {
			t.Errorf("temporary file %s left behind", n)
		}
	}
}

func TestUpdateIndexFails(t *testing.T) {
	t.Parallel()
	l, err := Create(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	err = l.UpdateIndex(t.Context(), func(idx *image.Index) error {
		idx.Manifests = append(idx.Manifests, desc("one"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(l.Dir(), IndexFile))
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	tests := []struct {
		name string
		ctx  func(t *testing.T) context.Context
		fn   func(*image.Index) error
		want error
	}{
		{
			name: "fn fails",
			ctx:  (*testing.T).Context,
			fn: func(idx *image.Index) error {
				idx.Manifests = nil
				return boom
			},
			want: boom,
		},
		{
			name: "lock held until ctx is done",
			ctx: func(t *testing.T) context.Context {
				lf, err := os.OpenFile(filepath.Join(l.Dir(), lockFile), os.O_RDWR, 0)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { lf.Close() })
				if err := disk.Lock(t.Context(), lf); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			},
			fn: func(*image.Index) error {
				t.Error("fn called without the lock")
				return nil
			},
			want: context.DeadlineExceeded,
		},
	}
	for _, tt := range tests { // not parallel: they share one layout
		t.Run(tt.name, func(t *testing.T) {
			if err := l.UpdateIndex(tt.ctx(t), tt.fn); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			after, err := os.ReadFile(filepath.Join(l.Dir(), IndexFile))
			if err != nil || !bytes.Equal(after, before) {
				t.Fatalf("index.json changed to %s (%v)", after, err)
			}
		})
	}
}

// TestUpdateIndexUnchanged: an update that changes nothing leaves index.json
// as it was (the same file, not a rewrite), and one that changes it replaces it.
func TestUpdateIndexUnchanged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	l, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	add := func(idx *image.Index) error {
		if len(idx.Manifests) == 0 {
			idx.Manifests = append(idx.Manifests, desc("one"))
		}
		return nil
	}
	ino := func() uint64 { return inode(t, filepath.Join(dir, IndexFile)) }
	if err := l.UpdateIndex(t.Context(), add); err != nil {
		t.Fatal(err)
	}
	first := ino()
	if err := l.UpdateIndex(t.Context(), add); err != nil {
		t.Fatal(err)
	}
	if ino() != first {
		t.Error("an update that changed nothing rewrote index.json")
	}
	err = l.UpdateIndex(t.Context(), func(idx *image.Index) error {
		idx.Manifests = append(idx.Manifests, desc("two"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ino() == first {
		t.Error("an update that changed the index left index.json as it was")
	}
}
