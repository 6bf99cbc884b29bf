package config

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
)

// MaxSyncFileSize caps a sync file read into memory.
const MaxSyncFileSize = 4 << 20

// SyncFile is the list of images `haul sync FILE DST` keeps at a destination:
//
//	images:
//	  - docker.io/library/alpine:3.20
//	  - ref: ghcr.io/org/app
//	    tags: '^v1\.[0-9]+\.[0-9]+$'     # a regular expression over the repository's tags
//	    platforms: [linux/amd64, linux/arm64]
type SyncFile struct {
	Images []SyncImage
}

// SyncImage is one entry of a sync file.
type SyncImage struct {
	// Ref is the image or repository; with Tags it names a repository only.
	Ref ref.Reference
	// Tags, when set, selects the repository's tags it matches (Go's RE2
	// syntax, unanchored unless written with ^ and $).
	Tags *regexp.Regexp
	// Platforms, when set, are the platforms to keep from an index: one
	// is that image alone (its own digest, as copy --platform); several
	// keep the index's digest, with only their images (push.Config.Platforms).
	Platforms []image.Platform
	// Line is where the entry starts in the file, for errors.
	Line int
}

// syncEntry is an entry as YAML gives it: a string, or a mapping.
type syncEntry struct {
	Ref       string   `yaml:"ref"`
	Tags      string   `yaml:"tags"`
	Platforms []string `yaml:"platforms"`
}

// ParseSyncFile reads a sync file. name is the file's name for errors. Every
// entry is checked: a reference that does not parse, a tag pattern that does
// not compile, a platform that is malformed, an unknown key or a duplicate
// entry is an error naming the line.
func ParseSyncFile(name string, b []byte) (*SyncFile, error) {
	if len(b) > MaxSyncFileSize {
		return nil, fmt.Errorf("%s: over %d bytes", name, MaxSyncFileSize)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: want a mapping with the key images", name, root.Line)
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "images" {
			return nil, fmt.Errorf("%s:%d: unknown key %q (the file holds images:)", name, k.Line, k.Value)
		}
		list = v
	}
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: want images: followed by a list of references", name)
	}
	f := &SyncFile{}
	seen := map[string]int{}
	for _, n := range list.Content {
		img, err := parseSyncEntry(n)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n.Line, err)
		}
		key := img.Ref.String() + "\x00" + pattern(img.Tags)
		if first, ok := seen[key]; ok {
			return nil, fmt.Errorf("%s:%d: %s is listed already, on line %d", name, n.Line, img.Ref, first)
		}
		seen[key] = n.Line
		f.Images = append(f.Images, img)
	}
	return f, nil
}

func pattern(re *regexp.Regexp) string {
	if re == nil {
		return ""
	}
	return re.String()
}

// parseSyncEntry reads one entry of images:.
func parseSyncEntry(n *yaml.Node) (SyncImage, error) {
	var e syncEntry
	switch n.Kind {
	case yaml.ScalarNode:
		e.Ref = n.Value
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch k := n.Content[i].Value; k {
			case "ref", "tags", "platforms":
			default:
				return SyncImage{}, fmt.Errorf("unknown key %q (an entry has ref, tags and platforms)", k)
			}
		}
		if err := n.Decode(&e); err != nil {
			return SyncImage{}, err
		}
	default:
		return SyncImage{}, errors.New("an entry is a reference, or a mapping with ref, tags and platforms")
	}
	img := SyncImage{Line: n.Line}
	name := strings.TrimSpace(e.Ref)
	if name == "" {
		return SyncImage{}, errors.New("an entry without ref")
	}
	var err error
	if e.Tags == "" {
		img.Ref, err = ref.Parse(name)
	} else if img.Ref, err = ref.ParseRepository(name); err == nil {
		img.Tags, err = regexp.Compile(e.Tags)
		if err != nil {
			err = fmt.Errorf("tags: %w", err)
		}
	}
	if err != nil {
		return SyncImage{}, err
	}
	for _, s := range e.Platforms {
		p, err := image.ParsePlatform(s)
		if err != nil {
			return SyncImage{}, fmt.Errorf("platforms: %w", err)
		}
		img.Platforms = append(img.Platforms, p)
	}
	return img, nil
}
