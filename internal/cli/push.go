package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul/archive"
	"github.com/haul-dev/haul/push"
)

const pushLong = `Push the images of a local archive into a registry: anything haul unpack
reads (haul pull's tars and layouts, docker save of any version, an
oci-archive, an OCI layout directory).

DST is REGISTRY[/PREFIX]: each image goes to PREFIX/<its path>:<its tag>,
the path a mirror of its registry uses, so pulls through that mirror find
it: docker.io/library/alpine:3.20 under reg.lan/mirror is
reg.lan/mirror/library/alpine:3.20. An image pulled by digest is pushed by
digest. Images of two registries that would meet in one repository are
refused; --keep-registry puts each source registry first in the path
(reg.lan/mirror/docker.io/library/alpine:3.20; a port's colon becomes _).
An archive of one image may name its destination whole:
REGISTRY/REPOSITORY:TAG (or @DIGEST). An image the archive names no
repository for needs that, or REGISTRY/REPOSITORY when the archive gives it
a tag (an OCI layout's ref.name).

Manifests and indexes the archive holds go byte for byte, so every digest
is the archive's. An archive that holds none (docker save before Docker 25,
skopeo's docker-archive:) gets a Docker manifest built by haul, which says
so: the config kept (so the image ID stays), the layers as stored, or
gzipped with --compress (the same bytes every time). Blobs are read from the
archive in place; an upload interrupted is resumed by the next push, as
haul copy's (its session is kept in the cache, --cache-dir). The
signatures, SBOMs and attestations of a bundle pulled with --referrers go
with the images they refer to, as haul copy puts them (--no-referrers
leaves them).

Credentials for DST's registry: docker's and podman's stored logins, or
--dest-authfile (docker's config.json format), or -u/--password-stdin.`

// pushFlags are haul push's flags.
type pushFlags struct {
	destAuth, cacheDir                  string
	keepRegistry, compress, noReferrers bool
	jobs                                int
}

func newPushCmd(e *env) *cobra.Command {
	var f pushFlags
	c := &cobra.Command{
		Use:   "push SRC DST",
		Short: "Push the images of a local archive into a registry, keeping their digests",
		Long:  pushLong,
		Example: `  haul push bundle.tar reg.lan/mirror          # docker.io/library/alpine:3.20 → reg.lan/mirror/library/alpine:3.20
  haul push app.tar reg.lan/team/app:1
  haul push --keep-registry bundle.tar reg.lan/mirror
  docker save -o app.tar app:1 && haul push --compress app.tar reg.lan   # → reg.lan/library/app:1`,
		Args: exactArgs(2, "SRC and DST"),
	}
	fl := c.Flags()
	fl.BoolVar(&f.keepRegistry, "keep-registry", false, "put each image's source registry first in its path under DST")
	fl.BoolVar(&f.compress, "compress", false, "gzip the uncompressed layers of images whose manifest haul builds (docker save before Docker 25)")
	fl.BoolVar(&f.noReferrers, "no-referrers", false, "leave out the signatures, SBOMs and attestations the archive holds (haul pull --referrers)")
	fl.IntVarP(&f.jobs, "jobs", "j", push.DefaultJobs, "blobs put at once")
	fl.StringVar(&f.destAuth, "dest-authfile", "", "docker config.json with the credentials for DST's registry (default: docker's and podman's stored logins)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "where upload sessions are kept for a later run to resume (default $XDG_CACHE_HOME/haul)")
	c.RunE = func(cmd *cobra.Command, args []string) error { return e.runPush(cmd.Context(), f, args[0], args[1]) }
	return c
}

func (e *env) runPush(ctx context.Context, f pushFlags, src, dstArg string) error {
	dst, err := push.ParseDest(dstArg)
	if err != nil {
		return usageError{err}
	}
	cfg, err := e.copyConfig(copyFlags{destAuth: f.destAuth, cacheDir: f.cacheDir, jobs: f.jobs}, dst.Registry())
	if err != nil {
		return err
	}
	rd, err := archive.Open(ctx, src)
	if err != nil {
		return err
	}
	defer rd.Close()
	ac := push.ArchiveConfig{Compress: f.compress, NoReferrers: f.noReferrers} // an index held in part: this machine's image
	a, err := push.ReadArchive(ctx, rd, ac)
	if err != nil {
		return fmt.Errorf("push %s: %w", src, err)
	}
	defer a.Close()
	to, err := dst.Map(a.Images, f.keepRegistry)
	if err != nil {
		return fmt.Errorf("push %s: %w", src, err)
	}
	pr, stopped := e.copyProgress(&cfg)
	defer stopped()
	start := time.Now()
	res, err := push.PushArchive(ctx, a, to, cfg)
	pr.done()
	if err != nil {
		return e.uploadsStopped(err, "push")
	}
	return e.pushSummary(res, time.Since(start))
}

// pushJSON is `haul push --json`'s shape (docs/json.md).
type pushJSON struct {
	Pushes  []pushedImage `json:"pushes"`
	Seconds float64       `json:"seconds"`
}

// pushedImage is one image of the archive and where it went.
type pushedImage struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Digest      string `json:"digest"`
	MediaType   string `json:"mediaType"`
	Built       bool   `json:"built"`
	Platform    string `json:"platform,omitempty"`
	putJSON
}

func (e *env) pushSummary(res []push.ArchiveResult, elapsed time.Duration) error {
	if e.g.json {
		v := pushJSON{Pushes: []pushedImage{}, Seconds: elapsed.Seconds()}
		for _, r := range res {
			v.Pushes = append(v.Pushes, pushedImage{
				Source: r.Image.Shown(), Destination: r.Destination.String(), Digest: r.Digest.String(),
				MediaType: r.MediaType, Built: r.Image.Built, Platform: r.Image.Platform, putJSON: newPutJSON(r.Result),
			})
		}
		return e.printJSON(v)
	}
	if e.g.quiet {
		return nil
	}
	for _, r := range res {
		if r.Image.Built {
			fmt.Fprintf(e.Stderr, "%s: built a manifest: %s (the archive held none; the config, %s, is the archive's)\n", r.Image.Shown(), r.Digest, r.Image.Plan.Root().Blobs[0].Descriptor.Digest)
		}
		if r.Image.Platform != "" {
			fmt.Fprintf(e.Stderr, "%s: the archive holds only part of its index: pushed the image for %s, %s, not the index\n", r.Image.Shown(), r.Image.Platform, r.Digest)
		}
		fmt.Fprintln(e.Stderr, pushLine(r))
	}
	return nil
}

// pushLine is the summary of one image: "pushed NAME to DST (sha256:…): N
// blobs pushed (X MiB), M mounted, K skipped, in T".
func pushLine(r push.ArchiveResult) string {
	return fmt.Sprintf("pushed %s to %s (%s): %s", r.Image.Shown(), r.Destination.Familiar(), r.Digest, putCounts(r.Result))
}
