//go:build linux

package pull_test

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/internal/loopfs"
	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/store"
)

// TestPullSharesExtents: on XFS (with reflink) and Btrfs, a tar pull keeps
// its large layer in the cache at no cost, the cache's file sharing the
// tar's extents, and a second tar pull takes it from the cache, sharing them
// again. On ext4 the layer is written once, into the tar, and the cache
// keeps only the small blobs. Root only: the filesystems are made on loop
// devices.
func TestPullSharesExtents(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t, registrytest.Config{})
	pushed := reg.MustPush(t, "team/app:1", plainImage(31, 1, 4<<20+321))
	layer := pushed.Layers[0]
	cl := newClient(t, reg, auth.Credential{})
	for _, fs := range []string{"xfs", "btrfs", "ext4"} {
		t.Run(fs, func(t *testing.T) {
			t.Parallel()
			root := loopfs.Mount(t, fs)
			st, err := store.Open(store.Config{Dir: filepath.Join(root, "cache")})
			if err != nil {
				t.Fatal(err)
			}
			shares := fs != "ext4"
			if got := st.SharesExtents(t.Context()); got != shares {
				t.Errorf("SharesExtents = %v, want %v", got, shares)
			}
			var tars []string
			for i, name := range []string{"a.tar", "b.tar"} {
				c := config(t, cl, st)
				c.Output = filepath.Join(root, name)
				res, err := pull.Pull(t.Context(), []ref.Reference{mustRef(t, reg.Ref("team/app:1"))}, c)
				if err != nil {
					t.Fatal(err)
				}
				readTarFile(t, c.Output).has(t, imageBlobs(pushed)...)
				if fromCache := res.Cached >= layer.Size; fromCache != (shares && i == 1) {
					t.Errorf("pull %d: Cached = %d of a %d-byte layer", i, res.Cached, layer.Size)
				}
				tars = append(tars, c.Output)
			}
			path, cached := st.Path(t.Context(), layer)
			if cached != shares {
				t.Fatalf("the cache holds the layer: %v, want %v", cached, shares)
			}
			if _, ok := st.Path(t.Context(), pushed.Config); !ok {
				t.Error("the cache lacks the config")
			}
			if !shares {
				return
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			bulk := layer.Size &^ (4<<10 - 1)
			if u := loopfs.Unshared(t, f, 0, bulk); u != 0 {
				t.Errorf("the cache's layer has %d of %d bytes unshared", u, bulk)
			}
			for _, tarPath := range tars {
				tf, err := os.Open(tarPath)
				if err != nil {
					t.Fatal(err)
				}
				off := tarOffset(t, tarPath, layer.Digest)
				if u := loopfs.Unshared(t, tf, off, bulk); u != 0 {
					t.Errorf("%s: %d of %d bytes of the layer unshared", filepath.Base(tarPath), u, bulk)
				}
				tf.Close()
			}
		})
	}
}

// tarOffset is where the data of blob dg starts in the tar at path.
func tarOffset(t *testing.T, path string, dg digest.Digest) int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cr := &countingReader{r: f}
	tr := tar.NewReader(cr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s has no %s: %v", path, dg, err)
		}
		if h.Name == blobName(dg) {
			return cr.n // archive/tar reads the header blocks and no further
		}
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
