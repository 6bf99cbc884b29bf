package layout

import (
	"maps"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
)

func TestEntry(t *testing.T) {
	t.Parallel()
	root := image.Descriptor{MediaType: image.MediaTypeOCIManifest, Digest: digest.FromString("m"), Size: 1,
		Annotations: map[string]string{"a": "b", AnnotationRefName: "stale"}}
	tests := []struct {
		name string
		want map[string]string
	}{
		{"", map[string]string{"a": "b", AnnotationRefName: "stale"}},
		{"docker.io/library/alpine:3.20", map[string]string{"a": "b", AnnotationImageName: "docker.io/library/alpine:3.20", AnnotationRefName: "docker.io/library/alpine:3.20"}},
		{"docker.io/library/alpine@" + digest.FromString("m").String(), map[string]string{"a": "b", AnnotationImageName: "docker.io/library/alpine@" + digest.FromString("m").String()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Entry(root, tt.name)
			if !maps.Equal(got.Annotations, tt.want) {
				t.Errorf("annotations %v, want %v", got.Annotations, tt.want)
			}
			if root.Annotations[AnnotationRefName] != "stale" {
				t.Error("Entry changed its argument's annotations")
			}
		})
	}
}

func TestAddEntry(t *testing.T) {
	t.Parallel()
	amd := &image.Platform{OS: "linux", Architecture: "amd64"}
	arm := &image.Platform{OS: "linux", Architecture: "arm64"}
	d := func(s string, p *image.Platform) image.Descriptor {
		return image.Descriptor{MediaType: image.MediaTypeOCIManifest, Digest: digest.FromString(s), Size: 1, Platform: p}
	}
	const name = "docker.io/library/alpine:3.20"
	tests := []struct {
		name  string
		have  []image.Descriptor
		add   image.Descriptor
		wantN int
		want  digest.Digest // of the last entry
	}{
		{"into an empty index", nil, Entry(d("a", nil), name), 1, digest.FromString("a")},
		{"the tag moved", []image.Descriptor{Entry(d("a", nil), name)}, Entry(d("b", nil), name), 1, digest.FromString("b")},
		{"the same again", []image.Descriptor{Entry(d("a", nil), name)}, Entry(d("a", nil), name), 1, digest.FromString("a")},
		{"another platform of the name", []image.Descriptor{Entry(d("a", amd), name)}, Entry(d("b", arm), name), 2, digest.FromString("b")},
		{"another name", []image.Descriptor{Entry(d("a", nil), name)}, Entry(d("a", nil), "x.io/y:1"), 2, digest.FromString("a")},
		{"unnamed, different", []image.Descriptor{d("a", nil)}, d("b", nil), 2, digest.FromString("b")},
		{"unnamed, same", []image.Descriptor{d("a", nil)}, d("a", nil), 1, digest.FromString("a")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			idx := &image.Index{Manifests: append([]image.Descriptor(nil), tt.have...)}
			AddEntry(idx, tt.add)
			if len(idx.Manifests) != tt.wantN || idx.Manifests[len(idx.Manifests)-1].Digest != tt.want {
				t.Errorf("index %v, want %d entries ending with %s", idx.Manifests, tt.wantN, tt.want)
			}
		})
	}
}
