package pull

import (
	"context"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
	"github.com/haul-dev/haul/rootfs"
	"github.com/haul-dev/haul/store"
)

// Source is what pull needs of a registry; *registry.Client satisfies it.
type Source interface {
	Manifest(ctx context.Context, r ref.Reference) (*registry.Manifest, error)
	ManifestByDescriptor(ctx context.Context, r ref.Reference, d image.Descriptor) (*registry.Manifest, error)
	BlobAt(ctx context.Context, r ref.Reference, d image.Descriptor, offset int64, v *image.Verifier) (io.ReadCloser, error)
	BlobFromURL(ctx context.Context, r ref.Reference, d image.Descriptor, url string, offset int64, v *image.Verifier) (io.ReadCloser, error)
}

// Format is what a pull writes.
type Format string

// The formats: docker is a tar that is both an OCI layout and a docker-load
// archive; oci an OCI layout directory; oci-archive that layout as a tar;
// rootfs the image's layers applied, in order, into a directory.
const (
	Docker     Format = "docker"
	OCI        Format = "oci"
	OCIArchive Format = "oci-archive"
	RootFS     Format = "rootfs"
)

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, bool) {
	switch f := Format(s); f {
	case Docker, OCI, OCIArchive, RootFS:
		return f, true
	}
	return "", false
}

// Config configures a pull. Zero values are the documented defaults.
type Config struct {
	// Source returns the client for a registry name ("docker.io"). Required.
	Source func(registry string) (Source, error)
	// Platforms asked for: those kept from an index; an image that is no
	// index must be built for them (*image.PlatformError). nil: Prefer.
	// Ignored with AllPlatforms.
	Platforms []image.Platform
	// Prefer is the platform kept from an index when Platforms is nil (a
	// default, as config.toml's platform is); an image that is no index is
	// taken whatever it is built for. Zero: image.Host().
	Prefer image.Platform
	// AllPlatforms keeps a whole index and fetches every child, attestations included.
	AllPlatforms bool
	// Referrers adds what refers to each manifest and index kept
	// (signatures, SBOMs, attestations), and what refers to those, as
	// registry.Referrers finds them with its default bounds; every Source
	// must then be a ReferrerSource. They go in the layout (blobs/, and
	// index.json entries without a name, annotated with their subject:
	// layout.IsReferrer), never in docker's manifest.json. Not for RootFS.
	// false: none, and not one request to look for them.
	Referrers bool
	// Format of the output; "": Docker.
	Format Format
	// Output is a file (docker, oci-archive) or directory (oci, rootfs) path,
	// or "-" for Stdout (not for oci or rootfs). Required. The directory it
	// goes in must exist: Pull checks it before the first request.
	Output string
	// Stdout receives the tar when Output is "-".
	Stdout io.Writer
	// Store is the blob cache; nil: no cache (blobs go straight into the output,
	// or through a temporary store that is removed afterwards).
	Store *store.Store
	// CacheAll makes a tar pull keep every blob it downloads in Store. By
	// default it keeps those under 1 MiB (manifests, configs, small layers)
	// and those the filesystem can share with the tar (XFS, Btrfs): a large
	// layer is written to disk once, into the tar. The other formats always
	// fill the cache (a layout hardlinks it, an unpack reads it).
	CacheAll bool
	// Jobs is how many blobs are fetched at once; <= 0: DefaultJobs.
	Jobs int
	// Progress, when set, receives events; calls are serialized.
	Progress func(Event)
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Unpack configures the rootfs format: MaxSize and MaxEntries (zero: no
	// limit), MinFree (zero: rootfs.DefaultMinFree), Force (zero: Output must
	// be absent or an empty directory), Warn (nil: discard). Ignored by the
	// other formats.
	Unpack rootfs.Config
}

// DefaultJobs is how many blobs are fetched at once by default: the transfer is
// network- and disk-bound, not CPU-bound, and registries serve a few parallel
// streams per client well.
const DefaultJobs = 8

// EventKind tells what an Event reports.
type EventKind int

// The events of a pull, in the order they happen for each blob.
const (
	Resolved  EventKind = iota // an image was resolved: Ref, Digest
	Planned                    // every image is resolved: N blobs to fetch, Size bytes in all
	BlobStart                  // a blob is wanted: Digest, Size, Cached (bytes already held)
	BlobBytes                  // N more bytes of it arrived
	BlobDone                   // it is verified and stored: From, Mirror say who sent it
	Writing                    // the output is being written
)

// Event is one step of a pull, for progress display.
type Event struct {
	Kind   EventKind
	Ref    ref.Reference
	Digest digest.Digest
	Media  string
	Size   int64
	Cached int64
	N      int64
	// From is the host that sent a blob's bytes (BlobDone); "" when the
	// cache held it whole. Mirror says From is a mirror.
	From   string
	Mirror bool
}

// Result summarizes a pull.
type Result struct {
	Images  []Pulled
	Blobs   int   // distinct blobs in the output
	Bytes   int64 // their total size
	Fetched int64 // bytes that crossed the network
	Cached  int64 // bytes that came from the cache
	Elapsed time.Duration
	// Served says which endpoints (mirrors, upstream registries, the cache)
	// gave which blobs: mirrors first, then registries, then the cache.
	Served []Served
	// Unpacked is what the rootfs format applied; nil for the other formats.
	Unpacked *rootfs.Stats
}

// Pulled is one reference as pulled.
type Pulled struct {
	Ref       ref.Reference
	Digest    digest.Digest // of the manifest or index the reference points to
	MediaType string        // of that manifest or index
	Platforms []string      // of the images kept
	// Manifests are the image manifests kept, one per platform, in the
	// order of Platforms (attestations left out).
	Manifests []Kept
	// Referrers is how many referrers of what was kept the output holds
	// (Config.Referrers); 0 without.
	Referrers int
}

// Kept is one image manifest a pull kept, and the names a container
// engine knows the image by once the output is loaded.
type Kept struct {
	// Platform is the image's os/arch[/variant], as the index names it, or
	// for a manifest without an index, as its config says when the config
	// is in the Store after the pull; "" if neither could say.
	Platform string `json:"platform,omitempty"`
	// Manifest is the image manifest's digest: the image's ID in docker's
	// containerd image store, and what ctr lists.
	Manifest digest.Digest `json:"manifest"`
	// Config is the config's digest: the image's ID in docker's classic
	// store (docker images) and in podman.
	Config digest.Digest `json:"config"`

	config image.Descriptor // to read the platform from, when the index named none
}
