package push_test

import (
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/internal/registrytest"
	"github.com/haul-dev/haul/push"
)

// TestCopyProgress: each blob's progress adds up to its size, never goes
// backwards, and comes in steps of about 1 MiB, not one per read.
func TestCopyProgress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		size int
	}{
		{"small, sent whole in the PUT", 3<<20 + 5},
		{"large, sent in a PATCH", 17<<20 + 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// On disk: the in-memory driver copies the blob so far at each write.
			src := registrytest.New(t, registrytest.Config{TokenAuth: true, Dir: t.TempDir()})
			dst := registrytest.New(t, registrytest.Config{TokenAuth: true, Dir: t.TempDir()})
			img := registrytest.RandomImage(71, 1, tt.size)
			img.Layers[0] = randomBytes(tt.size)
			want := src.MustPush(t, "team/app:1", img)
			var mu sync.Mutex
			shown := map[digest.Digest]int64{}
			reports := map[digest.Digest]int{}
			c := config(t, src, dst)
			c.Progress = func(ev push.Event) {
				if ev.Kind != push.BlobBytes {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if ev.N <= 0 {
					t.Errorf("blob %s: a report of %d bytes", ev.Digest, ev.N)
				}
				shown[ev.Digest] += ev.N
				reports[ev.Digest]++
			}
			if _, err := push.Copy(t.Context(), mustRef(t, src.Ref("team/app:1")), mustRef(t, dst.Ref("mirror/app:1")), c); err != nil {
				t.Fatal(err)
			}
			layer := want.Layers[0]
			if shown[layer.Digest] != layer.Size {
				t.Errorf("progress showed %d bytes of the layer's %d", shown[layer.Digest], layer.Size)
			}
			if most := int(layer.Size>>20) + 2; reports[layer.Digest] > most {
				t.Errorf("%d progress reports for %d bytes, want at most %d (one a MiB)", reports[layer.Digest], layer.Size, most)
			}
		})
	}
}
