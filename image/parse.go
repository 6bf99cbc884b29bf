package image

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"
)

// ErrSchema1 is returned for Docker schema1 manifests, which haul does not read.
var ErrSchema1 = errors.New("schema1 manifests are not supported (the image must be re-pushed with a current docker or buildah)")

// UnsupportedMediaTypeError is a manifest whose media type haul does not know.
type UnsupportedMediaTypeError struct{ MediaType string }

func (e *UnsupportedMediaTypeError) Error() string {
	return fmt.Sprintf("unsupported manifest media type %q", e.MediaType)
}

// Parsed is a manifest or an index read from untrusted bytes: exactly one of
// Manifest and Index is set.
type Parsed struct {
	MediaType string
	Manifest  *Manifest
	Index     *Index
}

// probe holds the fields that tell manifest kinds apart.
type probe struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Config        json.RawMessage `json:"config"`
	Layers        json.RawMessage `json:"layers"`
	Manifests     json.RawMessage `json:"manifests"`
	FSLayers      json.RawMessage `json:"fsLayers"`
}

// Parse decodes a manifest or index. contentType is the response's Content-Type
// ("" when unknown); when both it and the body's mediaType field are present they
// must agree. Every descriptor inside is validated.
func Parse(contentType string, body []byte) (*Parsed, error) {
	ct := ""
	if contentType != "" {
		if t, _, err := mime.ParseMediaType(contentType); err == nil {
			ct = t
		} else {
			ct = strings.TrimSpace(contentType)
		}
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		if ct == "text/html" || bytes.HasPrefix(bytes.ToLower(trimmed), []byte("<")) {
			return nil, errors.New("expected a JSON manifest, got an HTML page (a proxy or captive portal answered instead of the registry?)")
		}
		return nil, fmt.Errorf("expected a JSON manifest, got %d bytes starting %.20q", len(body), trimmed)
	}
	var p probe
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("decoding manifest: %w", err)
	}
	mt := p.MediaType
	if ct != "" && ct != "application/json" && ct != "text/plain" && mt != "" && ct != mt {
		return nil, fmt.Errorf("Content-Type %q disagrees with the manifest's mediaType %q", ct, mt)
	}
	if mt == "" {
		mt = ct
	}
	if mt == "" || mt == "application/json" || mt == "text/plain" {
		// OCI allows mediaType to be absent; tell the kinds apart by shape.
		switch {
		case p.SchemaVersion == 1 || p.FSLayers != nil:
			mt = MediaTypeDockerSchema1
		case p.Manifests != nil:
			mt = MediaTypeOCIIndex
		case p.Config != nil:
			mt = MediaTypeOCIManifest
		default:
			return nil, errors.New("manifest has no mediaType and is neither an image manifest nor an index")
		}
	}
	switch {
	case IsSchema1(mt):
		return nil, ErrSchema1
	case IsIndex(mt):
		if p.Config != nil || p.Layers != nil {
			return nil, fmt.Errorf("manifest of type %s has config or layers", mt)
		}
		var idx Index
		if err := json.Unmarshal(body, &idx); err != nil {
			return nil, fmt.Errorf("decoding index: %w", err)
		}
		for i, d := range idx.Manifests {
			if err := ValidateDescriptor(d); err != nil {
				return nil, fmt.Errorf("index entry %d: %w", i, err)
			}
		}
		return &Parsed{MediaType: mt, Index: &idx}, nil
	case IsManifest(mt):
		if p.Manifests != nil {
			return nil, fmt.Errorf("manifest of type %s has a manifests list", mt)
		}
		var m Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("decoding manifest: %w", err)
		}
		if p.Config == nil {
			return nil, errors.New("image manifest has no config")
		}
		if err := ValidateDescriptor(m.Config); err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		for i, d := range m.Layers {
			if err := ValidateDescriptor(d); err != nil {
				return nil, fmt.Errorf("layer %d: %w", i, err)
			}
		}
		return &Parsed{MediaType: mt, Manifest: &m}, nil
	}
	return nil, &UnsupportedMediaTypeError{MediaType: mt}
}
