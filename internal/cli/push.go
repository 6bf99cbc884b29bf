package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul"
	"github.com/haul-dev/haul/image"
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
	if missing(src) {
		return usagef("%s: no such file or directory: SRC is an archive (haul pull's tar, docker save, an oci-archive) or an OCI layout directory", src)
	}
	dst, err := push.ParseDest(dstArg)
	if err != nil {
		return usageError{err}
	}
	cf := copyFlags{destAuth: f.destAuth, cacheDir: f.cacheDir, jobs: f.jobs, noReferrers: f.noReferrers}
	o, err := e.copyOptions(cf, dst.Registry())
	if err != nil {
		return err
	}
	// An index the archive holds in part: this machine's image, whatever
	// config.toml prefers for pulls.
	o.Platforms = []image.Platform{image.Host()}
	o.KeepRegistry, o.Compress = f.keepRegistry, f.compress
	cl, pr, stopped, err := e.copyClient(cf, dst.Registry(), &o)
	if err != nil {
		return err
	}
	defer cl.Close()
	defer stopped()
	res, err := cl.PushWith(ctx, src, dstArg, o)
	pr.done()
	if err != nil {
		return e.uploadsStopped(err, "push")
	}
	return e.pushSummary(res)
}

func (e *env) pushSummary(res *haul.PushResult) error {
	if e.g.json {
		return e.printJSON(res)
	}
	if e.g.quiet {
		return nil
	}
	for _, p := range res.Pushes {
		if p.Built {
			fmt.Fprintf(e.Stderr, "%s: built a manifest: %s (the archive held none; the config, %s, is the archive's)\n", p.Source, p.Digest, p.Config)
		}
		if p.Platform != "" {
			fmt.Fprintf(e.Stderr, "%s: the archive holds only part of its index: pushed the image for %s, %s, not the index\n", p.Source, p.Platform, p.Digest)
		}
		fmt.Fprintln(e.Stderr, pushLine(p))
	}
	return nil
}

// pushLine is the summary of one image: "pushed NAME to DST (sha256:…): N
// blobs pushed (X MiB), M mounted, K skipped, in T".
func pushLine(p haul.PushedImage) string {
	return fmt.Sprintf("pushed %s to %s (%s): %s", p.Source, familiar(p.Destination), p.Digest, putCounts(p.Transfer))
}
