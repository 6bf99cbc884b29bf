package image

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const goodDigest = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

func TestParse(t *testing.T) {
	t.Parallel()
	manifest := `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifest + `","config":{"mediaType":"` + MediaTypeDockerConfig + `","size":2,"digest":"` + goodDigest + `"},"layers":[{"mediaType":"x","size":2,"digest":"` + goodDigest + `"}]}`
	ociNoType := `{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.empty.v1+json","size":2,"digest":"` + goodDigest + `"},"layers":[]}`
	index := `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIIndex + `","manifests":[{"mediaType":"` + MediaTypeOCIManifest + `","size":2,"digest":"` + goodDigest + `","platform":{"os":"linux","architecture":"amd64"}}]}`
	tests := []struct {
		name, ct, body string
		wantType       string
		wantErr        string
	}{
		{name: "docker manifest", ct: MediaTypeDockerManifest, body: manifest, wantType: MediaTypeDockerManifest},
		{name: "no content type", body: manifest, wantType: MediaTypeDockerManifest},
		{name: "charset param", ct: MediaTypeDockerManifest + "; charset=utf-8", body: manifest, wantType: MediaTypeDockerManifest},
		{name: "oci without mediaType", ct: MediaTypeOCIManifest, body: ociNoType, wantType: MediaTypeOCIManifest},
		{name: "oci without either", body: ociNoType, wantType: MediaTypeOCIManifest},
		{name: "index", ct: MediaTypeOCIIndex, body: index, wantType: MediaTypeOCIIndex},
		{name: "content type disagrees", ct: MediaTypeOCIIndex, body: manifest, wantErr: "disagrees"},
		{name: "html", ct: "text/html", body: "<html><body>Login</body></html>", wantErr: "HTML"},
		{name: "not json", body: "hello", wantErr: "expected a JSON manifest"},
		{name: "schema1", ct: MediaTypeDockerSchema1Signed, body: `{"schemaVersion":1,"fsLayers":[]}`, wantErr: "schema1"},
		{name: "schema1 by shape", body: `{"schemaVersion":1,"name":"x","fsLayers":[]}`, wantErr: "schema1"},
		{name: "unknown type", body: `{"schemaVersion":2,"mediaType":"application/vnd.foo+json","config":{}}`, wantErr: "unsupported manifest media type"},
		{name: "bad digest", body: strings.Replace(manifest, goodDigest, "sha256:../../etc/passwd", 1), wantErr: "invalid descriptor"},
		{name: "unknown algorithm", body: strings.Replace(manifest, goodDigest, "md5:d41d8cd98f00b204e9800998ecf8427e", 1), wantErr: "invalid descriptor"},
		{name: "negative size", body: strings.Replace(manifest, `"size":2`, `"size":-1`, 1), wantErr: "negative size"},
		{name: "index with layers", body: strings.Replace(index, `"manifests"`, `"layers":[],"manifests"`, 1), wantErr: "has config or layers"},
		{name: "manifest without config", body: `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","layers":[]}`, wantErr: "no config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Parse(tt.ct, []byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if p.MediaType != tt.wantType || (p.Manifest == nil) == (p.Index == nil) {
				t.Fatalf("Parse = %+v, want type %s and exactly one of manifest/index", p, tt.wantType)
			}
		})
	}
	if _, err := Parse("", []byte(`{"schemaVersion":1,"fsLayers":[]}`)); !errors.Is(err, ErrSchema1) {
		t.Errorf("schema1: err = %v, want ErrSchema1", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(MediaTypeOCIIndex, `{"schemaVersion":2,"manifests":[{"mediaType":"a","size":1,"digest":"`+goodDigest+`"}]}`)
	f.Add("", `{"schemaVersion":2,"config":{"size":1,"digest":"`+goodDigest+`"},"layers":[{"size":-1,"digest":"sha256:x"}]}`)
	f.Add("text/html", "<html>")
	f.Fuzz(func(t *testing.T, ct, body string) {
		p, err := Parse(ct, []byte(body))
		if err != nil {
			return
		}
		if (p.Manifest == nil) == (p.Index == nil) {
			t.Fatalf("Parse(%q) returned neither or both of manifest and index", body)
		}
		var ds []Descriptor
		if p.Manifest != nil {
			if !IsManifest(p.MediaType) {
				t.Fatalf("manifest with media type %q", p.MediaType)
			}
			ds = append(ds, p.Manifest.Config)
			ds = append(ds, p.Manifest.Layers...)
		} else {
			if !IsIndex(p.MediaType) {
				t.Fatalf("index with media type %q", p.MediaType)
			}
			ds = p.Index.Manifests
		}
		for _, d := range ds {
			if ValidateDescriptor(d) != nil || strings.ContainsAny(d.Digest.Encoded(), "/.\\") {
				t.Fatalf("Parse accepted an invalid descriptor %+v", d)
			}
		}
		if _, err := json.Marshal(p); err != nil {
			t.Fatal(err)
		}
	})
}
