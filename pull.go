package haul

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/rootfs"
)

// Destination is where Pull writes: DockerArchive, OCILayout, OCIArchive,
// RootFS or Writer.
type Destination struct {
	format pull.Format
	path   string    // "-" for w
	w      io.Writer // Writer's
}

// DockerArchive is one tar at path that is at once an OCI image layout and a
// docker-load archive (docker load, podman load, skopeo, ctr import read it).
func DockerArchive(path string) Destination { return Destination{format: pull.Docker, path: path} }

// OCILayout is an OCI image layout directory; pulling into an existing one
// adds the images beside those already there.
func OCILayout(dir string) Destination { return Destination{format: pull.OCI, path: dir} }

// OCIArchive is an OCI image layout as one tar at path.
func OCIArchive(path string) Destination { return Destination{format: pull.OCIArchive, path: path} }

// RootFS applies one image's layers in order into dir, which must be absent
// or empty, never writing outside it.
func RootFS(dir string) Destination { return Destination{format: pull.RootFS, path: dir} }

// Writer streams the docker archive to w (DockerArchive's tar, written in
// order): a failure leaves it cut short.
func Writer(w io.Writer) Destination { return Destination{format: pull.Docker, path: "-", w: w} }

// Output is the destination of format at path, as haul pull's --format
// and -o name it; path "-" streams the tar to stdout (pull.Docker and
// pull.OCIArchive only), as Writer does.
func Output(format pull.Format, path string, stdout io.Writer) Destination {
	return Destination{format: format, path: path, w: stdout}
}

// PullOptions are what one Pull may do beyond what the Client's Config
// says. The zero value is what Pull does.
type PullOptions struct {
	// Referrers adds what refers to each image kept (signatures, SBOMs,
	// attestations, found by the referrers API, the fallback tag and
	// cosign's tags), and what refers to those, to the archive or layout:
	// in its index.json without a name, so docker load still loads the
	// images alone. Not with RootFS.
	Referrers bool
	// CacheAll, when set, says whether a tar pull keeps every layer in the
	// cache too (a second write of each where the filesystem cannot share
	// extents); nil: config.toml's cache-all, else only small blobs.
	CacheAll *bool
	// Unpack, when set, bounds what a RootFS pull's layers may write, lets
	// it apply them onto a directory that is not empty (Force) and hears its
	// warnings; nil: config.toml's limits.
	Unpack *rootfs.Config
}

// PullResult is what Pull wrote, and `haul pull --json`'s shape
// (docs/json.md).
type PullResult struct {
	Output string      `json:"output"` // the path; "-" for a Writer
	Format pull.Format `json:"format"`
	Images []Pulled    `json:"images"`
	Blobs  int         `json:"blobs"` // distinct blobs in the output
	Bytes  int64       `json:"bytes"` // their size
	// Fetched bytes crossed the network; Cached came from the cache.
	Fetched int64   `json:"fetched"`
	Cached  int64   `json:"cached"`
	Seconds float64 `json:"seconds"`
	// Served says which mirrors, registries and the cache gave the blobs.
	Served   []pull.Served `json:"served"`
	Unpacked *rootfs.Stats `json:"unpacked,omitempty"` // RootFS only
}

// Pulled is one reference as pulled.
type Pulled struct {
	Reference string        `json:"reference"`
	Digest    digest.Digest `json:"digest"` // what the reference points to: a manifest or an index
	MediaType string        `json:"mediaType"`
	Platforms []string      `json:"platforms,omitempty"`
	// Platform, Manifest and Config are those of the one image kept; with
	// several, Manifests alone lists them.
	Platform  string        `json:"platform,omitempty"`
	Manifest  digest.Digest `json:"manifest,omitempty"`
	Config    digest.Digest `json:"config,omitempty"`
	Manifests []pull.Kept   `json:"manifests"` // one per platform kept
	// Referrers is how many were kept, when they were asked for.
	Referrers *int `json:"referrers,omitempty"`
}

// NewPullResult is res as a PullResult, for a pull to output in format
// (referrers: whether they were asked for).
func NewPullResult(output string, format pull.Format, referrers bool, res *pull.Result) *PullResult {
	v := &PullResult{
		Output: output, Format: format, Images: []Pulled{}, Blobs: res.Blobs, Bytes: res.Bytes,
		Fetched: res.Fetched, Cached: res.Cached, Seconds: res.Elapsed.Seconds(), Served: res.Served, Unpacked: res.Unpacked,
	}
	if v.Served == nil {
		v.Served = []pull.Served{}
	}
	for _, p := range res.Images {
		img := Pulled{Reference: p.Ref.String(), Digest: p.Digest, MediaType: p.MediaType,
			Platforms: nonEmpty(p.Platforms), Manifests: p.Manifests}
		if img.Manifests == nil {
			img.Manifests = []pull.Kept{}
		}
		if referrers {
			img.Referrers = &p.Referrers
		}
		if len(p.Manifests) == 1 {
			k := p.Manifests[0]
			img.Platform, img.Manifest, img.Config = k.Platform, k.Manifest, k.Config
		}
		v.Images = append(v.Images, img)
	}
	return v
}

func nonEmpty(s []string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// pullConfig is the pull.Config of every pull and export.
func (cl *Client) pullConfig() (pull.Config, error) {
	c := pull.Config{
		Jobs: cl.c.Jobs, Progress: cl.c.Progress, Prefer: cl.prefer, Platforms: cl.platforms, AllPlatforms: cl.all,
		Source: func(name string) (pull.Source, error) { return cl.reader(name) },
	}
	f := cl.settings.File
	c.CacheAll = f.CacheAll
	c.Unpack = rootfs.Config{MaxSize: f.MaxSize, MaxEntries: f.MaxEntries}
	st, err := cl.cache()
	c.Store = st
	return c, err
}

// Pull fetches the images refs name, resolved to Config.Platform, and
// writes them to dest: several make one bundle, each shared blob once. On
// failure nothing is left at dest; what was fetched stays in the cache (a
// tar's beside it) for the same pull to continue.
func (cl *Client) Pull(ctx context.Context, refs []string, dest Destination) (*PullResult, error) {
	return cl.PullWith(ctx, refs, dest, PullOptions{})
}

// PullWith is Pull with options.
func (cl *Client) PullWith(ctx context.Context, refs []string, dest Destination, o PullOptions) (*PullResult, error) {
	rs := make([]ref.Reference, 0, len(refs))
	for _, s := range refs {
		r, err := cl.parse(s)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	c, err := cl.pullConfig()
	if err != nil {
		return nil, err
	}
	c.Format, c.Output, c.Stdout, c.Referrers = dest.format, dest.path, dest.w, o.Referrers
	if o.CacheAll != nil {
		c.CacheAll = *o.CacheAll
	}
	if o.Unpack != nil {
		c.Unpack = *o.Unpack
	}
	res, err := pull.Pull(ctx, rs, c)
	if err != nil {
		return nil, err
	}
	return NewPullResult(dest.path, dest.format, o.Referrers, res), nil
}

// ExportOptions are what one Export may do beyond what the Client's
// Config says. The zero value is what Export does.
type ExportOptions struct {
	// Image chooses the image of a local archive that holds several: a
	// reference or a name as the archive has it (an *archive.AmbiguousError
	// when it is needed and missing). "": the archive's one image.
	Image string
}

// Exported is what Export wrote.
type Exported struct {
	// Image is the image exported: the reference, or for a local archive
	// its name there ("" when the archive gives it none).
	Image  string
	Digest digest.Digest // what Image points to: a manifest or an index
	// Fetched bytes crossed the network, Cached came from the cache, and
	// Served says which mirrors, registries and the cache gave the blobs;
	// none for a local archive.
	Fetched, Cached int64
	Served          []pull.Served
}

// Export writes the filesystem the layers of src make, flattened, as one
// tar to w, as `haul export` does: src is a local archive or OCI layout
// when that path exists, else a reference, resolved to Config.Platform and
// fetched through the cache. A failure once the tar has started leaves it
// cut short.
func (cl *Client) Export(ctx context.Context, src string, w io.Writer) (*Exported, error) {
	return cl.ExportWith(ctx, src, w, ExportOptions{})
}

// ExportWith is Export with options.
func (cl *Client) ExportWith(ctx context.Context, src string, w io.Writer, o ExportOptions) (*Exported, error) {
	if _, err := os.Stat(src); err == nil {
		l, err := pull.OpenLocal(ctx, src, o.Image, cl.prefer)
		if err != nil {
			return nil, err
		}
		defer l.Close()
		if err := l.Export(ctx, w); err != nil {
			return nil, err
		}
		return &Exported{Image: l.Image.Name, Digest: l.Image.Digest()}, nil
	}
	if o.Image != "" {
		return nil, fmt.Errorf("haul: ExportOptions.Image chooses among the images of a local archive; %s is no file or directory", src)
	}
	r, err := cl.parse(src)
	if err != nil {
		return nil, err
	}
	c, err := cl.pullConfig()
	if err != nil {
		return nil, err
	}
	res, err := pull.Export(ctx, r, w, c)
	if err != nil {
		return nil, err
	}
	return &Exported{Image: r.String(), Digest: res.Images[0].Digest, Fetched: res.Fetched, Cached: res.Cached, Served: res.Served}, nil
}
