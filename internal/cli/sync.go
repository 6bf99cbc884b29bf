package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul"
	"github.com/haul-dev/haul/config"
	"github.com/haul-dev/haul/mirror"
	"github.com/haul-dev/haul/push"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

const syncLong = `Keep the images FILE lists at DST = REGISTRY[/PREFIX], each under
PREFIX/<its path>:<tag> as --mirror and registries.conf map names
(docker.io/library/alpine:3.20 -> reg.lan/mirror/library/alpine:3.20), so that
pulls through DST as a mirror find them. FILE is YAML:

  images:
    - docker.io/library/alpine:3.20
    - ref: ghcr.io/org/app
      tags: '^v1\.[0-9]+\.[0-9]+$'     # a regular expression over the repository's tags
      platforms: [linux/amd64]        # one image of an index, as copy --platform
    - ref: docker.io/library/nginx:1.27
      platforms: [linux/amd64, linux/arm64]   # some images of an index, and the index

Each image is copied as haul copy copies it: every digest kept, blobs the
destination has skipped, within one registry mounted, uploads resumed,
signatures, SBOMs and attestations with it (--no-referrers leaves them). An
image already at DST with the same digest costs a HEAD at each end and
nothing more (HEADs do not count against Docker Hub's pull limit).
--keep-registry puts the source registry first in the path
(reg.lan/mirror/docker.io/library/alpine:3.20; a port's colon becomes _),
where two registries' paths would collide.

platforms: with one platform copies that image of an index alone, under the
tag, with its own digest. With several, the index keeps its digest: the
images it has for them (and their attestations) go by digest, then the index
unchanged under the tag, listing images DST does not get. A registry must
accept such an index: distribution 2.8 and 3 refuse it unless configured
with validation.manifests.indexes.platforms: none, and haul then fails that
entry and says so (list one platform, or none for the whole index). A
platform the index lacks is an error naming those it has; an image that is
no index is copied whole if it is built for one of them.

--dry-run prints what would be copied and sends nothing but HEADs (and, for
an entry with several platforms, reads its index to say how many of its
images go). --keep-going copies the others when one fails and reports each
failure; the exit code is 1 if any failed.`

// syncFlags are haul sync's flags: copy's, and sync's own.
type syncFlags struct {
	copyFlags
	dryRun, keepGoing, keepRegistry bool
}

func newSyncCmd(e *env) *cobra.Command {
	var f syncFlags
	c := &cobra.Command{
		Use:   "sync FILE DST",
		Short: "Keep a list of images copied into a registry, as a mirror lays them out",
		Long:  syncLong,
		Example: `  haul sync images.yaml reg.lan/mirror
  haul sync --dry-run images.yaml reg.lan/mirror
  haul sync --keep-going --json images.yaml reg.lan:5000`,
		Args: exactArgs(2, "FILE and DST"),
	}
	fl := c.Flags()
	fl.BoolVar(&f.dryRun, "dry-run", false, "print what would be copied; send nothing but HEADs")
	fl.BoolVar(&f.keepGoing, "keep-going", false, "when an image fails, copy the others, then report each failure")
	fl.BoolVar(&f.keepRegistry, "keep-registry", false, "put the source registry first in each destination path")
	fl.BoolVar(&f.noReferrers, "no-referrers", false, "leave out the signatures, SBOMs and attestations that refer to the images (default: they go with them)")
	fl.IntVarP(&f.jobs, "jobs", "j", push.DefaultJobs, "blobs put at once")
	fl.StringVar(&f.srcAuth, "src-authfile", "", "docker config.json with the credentials for the source registries (default: docker's and podman's stored logins)")
	fl.StringVar(&f.destAuth, "dest-authfile", "", "docker config.json with the credentials for DST's registry (default: docker's and podman's stored logins)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "where upload sessions are kept for a later run to resume (default $XDG_CACHE_HOME/haul)")
	c.RunE = func(cmd *cobra.Command, args []string) error { return e.runSync(cmd.Context(), f, args[0], args[1]) }
	return c
}

// syncPair is one image to keep: where from, where to, and how.
type syncPair struct {
	src, dst ref.Reference
	entry    config.SyncImage
}

// syncedImage is one line of sync's report and of its --json.
type syncedImage struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Digest      string `json:"digest,omitempty"`
	Platform    string `json:"platform,omitempty"`
	// Platforms and IndexImages: the entry's several platforms kept of an
	// index (Digest is the index's), as the index names them, and how many
	// images the index lists.
	Platforms   []string `json:"platforms,omitempty"`
	IndexImages int      `json:"indexImages,omitempty"`
	partial     bool     // the index lists entries that do not go
	// Action: "copied", "up-to-date", "would-copy" (--dry-run), "failed".
	Action string     `json:"action"`
	Pushed push.Count `json:"pushed"`
	Error  string     `json:"error,omitempty"`
}

// syncJSON is `haul sync --json`'s shape (docs/json.md).
type syncJSON struct {
	Images  []syncedImage `json:"images"`
	Failed  int           `json:"failed"`
	Seconds float64       `json:"seconds"`
}

func (e *env) runSync(ctx context.Context, f syncFlags, file, dstArg string) error {
	list, err := readSyncFile(file)
	if err != nil {
		return err
	}
	ep, err := mirror.ParseEndpoint(dstArg)
	if err != nil {
		return usagef("DST is REGISTRY[/PREFIX]: %v", err)
	}
	o, err := e.copyOptions(f.copyFlags, ep.Host)
	if err != nil {
		return err
	}
	start := time.Now()
	pairs, err := e.syncPairs(ctx, f, list, ep)
	if err != nil {
		return err
	}
	cl, pr, stopped, err := e.copyClient(f.copyFlags, ep.Host, &o)
	if err != nil {
		return err
	}
	defer cl.Close()
	defer stopped()
	var report []syncedImage
	for _, p := range pairs {
		line, err := syncOne(ctx, f, cl, o, p)
		report = append(report, line)
		if errors.Is(err, registry.ErrUploadStopped) {
			pr.done()
			e.syncReport(report, time.Since(start))
			return e.uploadsStopped(err, "sync")
		}
		if err != nil && !f.keepGoing {
			pr.done()
			e.syncReport(report[:len(report)-1], time.Since(start)) // what was done; the error says the rest
			return err
		}
	}
	pr.done()
	return e.syncReport(report, time.Since(start))
}

// readSyncFile reads and parses FILE ("-": stdin is not taken: a file is a record).
func readSyncFile(name string) (*config.SyncFile, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("reading the sync file: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, config.MaxSyncFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading the sync file %s: %w", name, err)
	}
	list, err := config.ParseSyncFile(name, b)
	if err != nil {
		return nil, usageError{err}
	}
	return list, nil
}

// syncPairs expands the file's entries (a tag pattern into the tags it
// matches) and maps each source to its place under DST.
func (e *env) syncPairs(ctx context.Context, f syncFlags, list *config.SyncFile, ep mirror.Endpoint) ([]syncPair, error) {
	var pairs []syncPair
	seen := map[string]string{} // destination -> source
	for _, img := range list.Images {
		if err := e.allowed(img.Ref); err != nil {
			return nil, err
		}
		srcs := []ref.Reference{img.Ref}
		if img.Tags != nil {
			tags, err := e.syncTags(ctx, f, img)
			if err != nil {
				return nil, err
			}
			srcs = srcs[:0]
			for _, t := range tags {
				srcs = append(srcs, img.Ref.WithTag(t))
			}
		}
		to := ep
		if f.keepRegistry {
			// A port's colon may not be in a path: reg.lan:5000 goes as reg.lan_5000.
			to.Prefix = joinPath(ep.Prefix, strings.ReplaceAll(img.Ref.Registry(), ":", "_"))
		}
		for _, src := range srcs {
			dst, err := to.Map("", src)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", img.Line, err)
			}
			if other, ok := seen[dst.String()]; ok && other != src.String() {
				return nil, usagef("%s and %s would both go to %s: use --keep-registry to put each source registry in the path", other, src, dst)
			}
			seen[dst.String()] = src.String()
			pairs = append(pairs, syncPair{src: src, dst: dst, entry: img})
		}
	}
	return pairs, nil
}

// syncTags lists the tags of an entry's repository that its pattern matches.
func (e *env) syncTags(ctx context.Context, f syncFlags, img config.SyncImage) ([]string, error) {
	cl, err := e.copySourceClient(img.Ref.Registry(), f.srcAuth, "")
	if err != nil {
		return nil, err
	}
	all, err := cl.Tags(ctx, img.Ref)
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", img.Line, err)
	}
	var tags []string
	for _, t := range all {
		if img.Tags.MatchString(t) {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	return tags, nil
}

// syncOne copies one pair through cl, or with --dry-run says whether it
// would.
func syncOne(ctx context.Context, f syncFlags, cl *haul.Client, o haul.CopyOptions, p syncPair) (syncedImage, error) {
	line := syncedImage{Source: p.src.String(), Destination: p.dst.String()}
	o.Platforms = p.entry.Platforms
	var err error
	if f.dryRun {
		var chk *haul.CopyCheck
		if chk, err = cl.CheckCopy(ctx, line.Source, line.Destination, o); chk != nil {
			line.Digest, line.Action = chk.Digest.String(), "would-copy"
			line.subset(chk.Subset)
			if chk.UpToDate {
				line.Action = "up-to-date"
			}
		}
	} else {
		var res *haul.CopyResult
		if res, err = cl.CopyWith(ctx, line.Source, line.Destination, o); res != nil { // also for an index refused after its images went
			c := res.Copies[0]
			line.Digest, line.Platform, line.Pushed = c.Digest.String(), c.Platform, c.Pushed
			line.subset(c.Subset)
			line.Action = "copied"
			if c.UpToDate {
				line.Action = "up-to-date"
			}
		}
	}
	if err != nil {
		line.Action, line.Error = "failed", err.Error()
	}
	return line, err
}

// subset notes what of an index goes when only some platforms do; nil:
// the entry's image goes whole.
func (l *syncedImage) subset(sub *push.Subset) {
	if sub == nil {
		return
	}
	l.Platforms, l.IndexImages, l.partial = sub.Platforms, sub.Images, !sub.Whole()
}

// syncReport prints what sync did, and fails if any image did.
func (e *env) syncReport(report []syncedImage, elapsed time.Duration) error {
	failed := 0
	for _, l := range report {
		if l.Action == "failed" {
			failed++
		}
	}
	if e.g.json {
		if report == nil {
			report = []syncedImage{}
		}
		if err := e.printJSON(syncJSON{Images: report, Failed: failed, Seconds: elapsed.Seconds()}); err != nil {
			return err
		}
	} else if !e.g.quiet || failed > 0 {
		for _, l := range report {
			switch l.Action {
			case "failed":
				fmt.Fprintf(e.Stderr, "FAILED %s -> %s: %s\n", l.Source, l.Destination, l.Error)
			case "copied":
				fmt.Fprintf(e.Stderr, "copied %s -> %s (%s): %d blobs pushed (%s)%s\n", l.Source, l.Destination, l.Digest, l.Pushed.Blobs, human(l.Pushed.Bytes), l.imagesNote())
			default:
				fmt.Fprintf(e.Stderr, "%s %s -> %s (%s)%s\n", l.Action, l.Source, l.Destination, l.Digest, l.imagesNote())
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("sync: %d of %d images failed", failed, len(report))
	}
	return nil
}

// imagesNote says, for an index of which only some images go, how many,
// and for --dry-run what that asks of the destination; "" otherwise.
func (l syncedImage) imagesNote() string {
	if !l.partial {
		return ""
	}
	images := fmt.Sprintf("%d of the index's %d images (%s)", len(l.Platforms), l.IndexImages, strings.Join(l.Platforms, ", "))
	if l.Action == "would-copy" {
		return "; only " + images + " go: the registry must accept an index whose other images it lacks (distribution 2.8 and 3 refuse it unless validation.manifests.indexes.platforms is none)"
	}
	return "; " + images + " copied"
}

// joinPath joins repository path parts, leaving out empty ones.
func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "/" + b
}
