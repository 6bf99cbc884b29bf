package archive

import (
	"encoding/json"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/layout"
)

// FuzzParseDockerManifest: whatever manifest.json says, every path accepted
// stays inside the archive, and what is accepted encodes back to the same items.
func FuzzParseDockerManifest(f *testing.F) {
	f.Add(`[{"Config":"abc.json","RepoTags":["a:1"],"Layers":["x/layer.tar","blobs/sha256/00"]}]`)
	f.Add(`[{"Config":"./c.json","Layers":["a//b/./layer.tar"]}]`)
	f.Add(`[{"Config":"c.json","Layers":["../../etc/passwd"]}]`)
	f.Add(`[{"Config":"/abs","Layers":[]}]`)
	f.Add(`[{"Config":"a/..","Layers":["x/../../y"]}]`)
	f.Fuzz(func(t *testing.T, body string) {
		items, err := parseDockerManifest([]byte(body))
		if err != nil {
			return
		}
		for _, it := range items {
			for _, p := range append([]string{it.Config}, it.Layers...) {
				if p == "" || p == "." || strings.HasPrefix(p, "/") || p == ".." || strings.HasPrefix(p, "../") || path.Clean(p) != p || strings.IndexByte(p, 0) >= 0 {
					t.Fatalf("accepted path %q from %q", p, body)
				}
			}
		}
		b, err := json.Marshal(items)
		if err != nil {
			t.Fatal(err)
		}
		again, err := parseDockerManifest(b)
		if err != nil || !reflect.DeepEqual(again, items) {
			t.Fatalf("items %+v encode to %s, which parses to %+v, %v", items, b, again, err)
		}
	})
}

// FuzzParseIndexJSON: every image listed from an index.json has a valid
// descriptor, so no digest of a stranger's can become a path, and names are
// the annotations', each once.
func FuzzParseIndexJSON(f *testing.F) {
	d := `"digest":"sha256:` + strings.Repeat("a", 64) + `","size":10`
	f.Add(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",` + d + `,"annotations":{"io.containerd.image.name":"docker.io/library/a:1","org.opencontainers.image.ref.name":"1"}}]}`)
	f.Add(`{"schemaVersion":2,"manifests":[{"mediaType":"x",` + d + `,"annotations":{"vnd.docker.reference.type":"attestation-manifest"}}]}`)
	f.Add(`{"schemaVersion":2,"manifests":[{"digest":"sha256:../../etc/passwd","size":1}]}`)
	f.Add(`{"schemaVersion":2,"config":{},"layers":[]}`)
	f.Fuzz(func(t *testing.T, body string) {
		idx, listed, err := parseIndexJSON([]byte(body))
		if err != nil {
			return
		}
		if len(listed) > len(idx.Manifests) {
			t.Fatalf("%d images listed from %d entries", len(listed), len(idx.Manifests))
		}
		for _, l := range listed {
			if err := image.ValidateDescriptor(l.Root); err != nil {
				t.Fatalf("listed %+v: %v", l.Root, err)
			}
			seen := map[string]bool{}
			for _, n := range l.Names {
				if n == "" || seen[n] || (n != l.Root.Annotations[layout.AnnotationImageName] && n != l.Root.Annotations[layout.AnnotationRefName]) {
					t.Fatalf("names %q of %+v", l.Names, l.Root.Annotations)
				}
				seen[n] = true
			}
			if p := blobPath(l.Root.Digest); strings.Contains(p, "..") || strings.Count(p, "/") != 2 {
				t.Fatalf("blob path %q", p)
			}
		}
	})
}
