package cli

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul"
	"github.com/haul-dev/haul/pull"
	"github.com/haul-dev/haul/ref"
)

const pullLong = `Pull one or more images and write them as one file or directory:

  docker       (default) one tar that is both an OCI image layout and a
               docker-load archive: docker load, podman load, ctr import and
               skopeo all read it
  oci          an OCI image layout directory; pulling into an existing one adds
               the image beside those already there
  oci-archive  the OCI layout as a tar
  rootfs       one image's layers applied in order into directory PATH (see
               haul unpack): layers are applied as they arrive, the next one
               streamed from the network while later ones still download;
               PATH must be absent or empty (--force), and --max-size and
               --max-entries bound what the layers may write

An index is resolved to linux and this machine's architecture; --platform picks
another (linux/arm64, linux/arm/v7), a comma list picks several, and
--platform all keeps the whole index and fetches every child, attestations
included. On Docker Hub each platform fetched counts as a pull.

Blobs are fetched concurrently, verified against their digests, and written
once, to where they belong. A cache ($XDG_CACHE_HOME/haul, --cache-dir) means a
second pull downloads only what is missing: oci and rootfs pulls keep every
blob there; a tar pull keeps small blobs, and large layers only where the
filesystem shares extents (XFS, Btrfs) or with --cache-all. A pull that is
interrupted keeps what it fetched (a tar's in a hidden .PATH.*.haul-partial
beside it), and pulling again continues it. Nothing is left at PATH unless the
pull succeeded: an existing file there is replaced only then. PATH is checked
before anything is fetched (its directory exists and takes a file; a tar is
no directory; an oci layout goes into an empty directory or a layout).

Several REFs make one bundle (-o required): every image with its tags, each
shared blob once, restored by one docker load.

--mirror HOST[/PATH] (repeatable) reads manifests and blobs from those
pull-through caches first, in order, then from the registry when a mirror
fails or lacks them; everything is verified all the same, and -u or
--password-stdin go to the registry only. The summary says which mirror or
registry served the blobs.

--referrers adds what refers to each image kept (signatures, SBOMs,
attestations: the registry's referrers API, else the sha256-<hex> fallback
tag, and cosign's .sig, .att and .sbom tags), and what refers to those, to the
archive or layout: in its index.json without a name, so docker load and podman
load still load the images alone.

--load streams the docker tar into the engine the docker CLI would use, with
no file in between: DOCKER_HOST (unix://, or tcp:// with DOCKER_TLS_VERIFY and
DOCKER_CERT_PATH), else the current docker context, else
/var/run/docker.sock; podman system service's socket too. ssh:// is refused:
haul pull -o - REF | ssh HOST docker load does that.`

func newPullCmd(e *env) *cobra.Command {
	var (
		out, format, platform, cacheDir string
		jobs                            int
		noCache, cacheAll, load         bool
		referrers                       bool
		uf                              unpackFlags
	)
	c := &cobra.Command{
		Use:   "pull REF... [-o PATH]",
		Short: "Pull images into a docker or OCI archive, an OCI layout, or a root filesystem",
		Long:  pullLong,
		Example: `  haul pull alpine:3.20                      # writes alpine_3.20.tar
  haul pull alpine nginx -o bundle.tar       # one bundle for an air gap
  haul pull --format oci -o layout/ ghcr.io/org/app:1
  haul pull --platform linux/arm64 alpine -o - | ssh host docker load
  haul pull --load alpine:3.20               # straight into the engine (DOCKER_HOST, docker context)
  haul pull --format rootfs -o rootfs/ alpine:3.20`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("pull takes one or more REF (see haul pull --help)")
			}
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&out, "output", "o", "", "file or directory to write; - for stdout (default NAME_TAG.tar)")
	f.StringVar(&format, "format", "docker", "docker, oci, oci-archive or rootfs")
	f.StringVar(&platform, "platform", "", "os/arch[/variant], a comma list, or all (default: linux and this machine's architecture)")
	f.IntVar(&jobs, "jobs", pull.DefaultJobs, "blobs fetched at once")
	f.StringVar(&cacheDir, "cache-dir", "", "blob cache directory (default $XDG_CACHE_HOME/haul)")
	f.BoolVar(&noCache, "no-cache", false, "use no cache: blobs go straight into the output")
	f.BoolVar(&load, "load", false, "stream the docker tar into the engine the docker CLI would use (DOCKER_HOST, the docker context, else /var/run/docker.sock), with no file")
	f.BoolVar(&referrers, "referrers", false, "add the signatures, SBOMs and attestations that refer to the images (not with --format rootfs)")
	f.BoolVar(&cacheAll, "cache-all", false, "a tar pull keeps every layer in the cache too (a second write of each where the filesystem cannot share extents)")
	uf.add(c)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		refs := make([]ref.Reference, 0, len(args))
		for _, a := range args {
			r, err := parseRef(a)
			if err != nil {
				return err
			}
			if err := e.allowed(r); err != nil {
				return err
			}
			refs = append(refs, r)
		}
		f, ok := pull.ParseFormat(format)
		if !ok {
			return usagef("--format %q: want docker, oci, oci-archive or rootfs", format)
		}
		o := haul.PullOptions{Referrers: referrers}
		if err := checkPullFormat(cmd, f, o.Referrers, len(refs), uf); err != nil {
			return err
		}
		if f == pull.RootFS {
			u := uf.config(e)
			o.Unpack = &u
		}
		var pc pull.Config
		if err := pc.ParsePlatforms(platform); err != nil {
			return usageError{err}
		}
		if !cmd.Flags().Changed("platform") && len(pc.Platforms) == 1 {
			platform = "" // config.toml's platform: the Client's default to pick from an index, not a demand
		}
		output, err := e.pullOutput(cmd, refs, out, f, load)
		if err != nil {
			return err
		}
		if noCache && cmd.Flags().Changed("cache-all") {
			return usagef("--cache-all and --no-cache: choose one")
		}
		cacheAll = cacheAll && !noCache
		o.CacheAll = &cacheAll
		cl, pr, err := e.pullClient(platform, fetchFlags{jobs, cacheDir, noCache}, output == "-")
		if err != nil {
			return err
		}
		defer cl.Close()
		if load {
			return e.pullLoad(cmd.Context(), cl, args, o, pr)
		}
		res, err := cl.PullWith(cmd.Context(), args, haul.Output(f, output, e.Stdout), o)
		pr.done()
		if err != nil {
			return err
		}
		return e.pullSummary(res)
	}
	return c
}

// fetchFlags are the flags of pull and export that say how blobs are
// fetched: how many at once, and into which cache.
type fetchFlags struct {
	jobs     int
	cacheDir string
	noCache  bool
}

// pullClient is the haul.Client of pull and export: the global flags,
// through the mirrors, with -u/--password-stdin for the registries of the
// references, platform ("": the default), f, and a progress shown on
// stderr (toStdout: the output is there).
func (e *env) pullClient(platform string, f fetchFlags, toStdout bool) (*haul.Client, *pullProgress, error) {
	c, err := e.haulConfig(true)
	if err != nil {
		return nil, nil, err
	}
	if c.Login, err = e.login(); err != nil {
		return nil, nil, err
	}
	c.Platform, c.Jobs, c.CacheDir, c.NoCache = platform, f.jobs, f.cacheDir, f.noCache
	pr := newPullProgress(e, toStdout)
	c.Progress = pr.event
	cl, err := haul.New(c)
	if err != nil {
		pr.done()
		return nil, nil, err
	}
	return cl, pr, nil
}

// checkPullFormat refuses what format f cannot take: referrers, several
// images or a bad --max-entries for a rootfs, rootfs flags for the others.
func checkPullFormat(cmd *cobra.Command, f pull.Format, referrers bool, refs int, uf unpackFlags) error {
	if referrers && f == pull.RootFS {
		return usagef("--referrers: a rootfs has no place for them; use --format docker, oci or oci-archive")
	}
	if f == pull.RootFS {
		if refs > 1 {
			return usagef("--format rootfs unpacks one image; %d were given", refs)
		}
		if uf.maxEntries < 0 {
			return usagef("--max-entries %d: want a count", uf.maxEntries)
		}
		return nil
	}
	for _, fl := range []string{"force", "max-size", "max-entries"} {
		if cmd.Flags().Changed(fl) {
			return usagef("--%s is for --format rootfs", fl)
		}
	}
	return nil
}

// pullOutput is where a pull writes: -o, "-" for --load (a pipe to the
// engine: see pullLoad), else a name made from the one image's.
func (e *env) pullOutput(cmd *cobra.Command, refs []ref.Reference, out string, f pull.Format, load bool) (string, error) {
	if load {
		if err := checkLoad(cmd, f); err != nil {
			return "", err
		}
		out = "-"
	} else if out == "" {
		if len(refs) > 1 {
			return "", usagef("several images go into one bundle: name it with -o FILE")
		}
		out = defaultOutput(refs[0], f)
	}
	switch {
	case out == "-" && f == pull.OCI:
		return "", usagef("an oci layout is a directory: use --format docker or oci-archive with -o -")
	case out == "-" && f == pull.RootFS:
		return "", usagef("a rootfs is a directory: for a tar of it on stdout, use haul export REF -o -")
	case out == "-" && !load && e.stdoutTerminal():
		return "", usagef("cowardly refusing to write a tar to a terminal: redirect it, e.g. haul pull REF -o - > x.tar, or pipe it into docker load")
	}
	return out, nil
}

// defaultOutput names the output after the image's last path component and
// tag, safe as a path: alpine_3.20.tar, app_1.tar.
func defaultOutput(r ref.Reference, f pull.Format) string {
	name := path.Base(r.Repository())
	if r.Tag() != "" && r.Digest() == "" {
		name += "_" + r.Tag()
	} else if r.Digest() != "" {
		name += "_" + r.Digest().Encoded()[:12]
	}
	name = strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
			return c
		}
		return '_'
	}, name)
	name = strings.TrimLeft(name, ".")
	if f == pull.OCI || f == pull.RootFS {
		return filepath.Clean(name)
	}
	return name + ".tar"
}

func (e *env) pullSummary(res *haul.PullResult) error {
	if e.g.json {
		return e.printJSON(res)
	}
	if e.g.quiet {
		return nil
	}
	w := e.Stderr
	for _, p := range res.Images {
		plat := strings.Join(p.Platforms, ", ")
		if plat != "" {
			plat = " (" + plat + ")"
		}
		if p.Referrers != nil {
			plat += fmt.Sprintf(", %d referrers", *p.Referrers)
		}
		fmt.Fprintf(w, "%s: %s%s\n", familiar(p.Reference), p.Digest, plat)
	}
	secs := res.Seconds
	rate := ""
	if secs > 0 && res.Fetched > 0 {
		rate = fmt.Sprintf(", %s/s", human(int64(float64(res.Fetched)/secs)))
	}
	dest := res.Output
	if dest == "-" {
		dest = "stdout"
	}
	elapsed := time.Duration(secs * float64(time.Second)).Round(time.Millisecond)
	fmt.Fprintf(w, "wrote %s (%s): %d blobs, %s; fetched %s, %s from cache, in %s%s\n",
		dest, res.Format, res.Blobs, human(res.Bytes), human(res.Fetched), human(res.Cached), elapsed, rate)
	if e.anyMirrors() {
		fmt.Fprintln(w, servedLine(res.Served))
	}
	if u := res.Unpacked; u != nil {
		fmt.Fprintf(w, "unpacked %d layers: %d entries, %d files, %s\n", u.Layers, u.Entries, u.Files, human(u.Bytes))
	}
	return nil
}

// servedLine says where a pull's blobs came from, for a pull through
// mirrors: "config and layers, 3 blobs, 2.1 MiB: 2 from mirror 127.0.0.1:5001, 1 from upstream
// 127.0.0.1:5000, 0 from cache".
func servedLine(served []pull.Served) string {
	var parts []string
	var n int
	var size int64
	cache := 0
	for _, s := range served {
		n += s.Blobs
		size += s.Bytes
		switch {
		case s.From == "":
			cache = s.Blobs
		case s.Mirror:
			parts = append(parts, fmt.Sprintf("%d from mirror %s", s.Blobs, s.From))
		default:
			parts = append(parts, fmt.Sprintf("%d from upstream %s", s.Blobs, s.From))
		}
	}
	parts = append(parts, fmt.Sprintf("%d from cache", cache))
	return fmt.Sprintf("config and layers, %d blobs, %s: %s", n, human(size), strings.Join(parts, ", "))
}
