package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/haul-dev/haul"
	"github.com/haul-dev/haul/auth"
	"github.com/haul-dev/haul/image"
	"github.com/haul-dev/haul/push"
	"github.com/haul-dev/haul/ref"
	"github.com/haul-dev/haul/registry"
)

const copyLong = `Copy an image or index from one registry to another (or to another
repository of the same registry), with every digest kept: blobs stream from
SRC into DST without touching the disk, verified as they pass, and manifests
go exactly as read, children before the index. The whole index is copied,
every platform and attestation; --platform copies one image, whose own
digest DST then names (not the index's).

What refers to the image goes with it, digests kept: signatures, SBOMs and
attestations, found by the source's referrers API or fallback tags, and
cosign's sha256-….sig/.att/.sbom tags. The destination lists them in its
referrers API where it has one; else haul adds them to the index under the
subject's fallback tag (sha256-…), the one manifest whose digest a copy
writes anew, and says so. --no-referrers leaves them. An image already at
the destination is left as it is, its referrers too.

DST without a tag keeps SRC's: haul copy alpine:3.20 reg.lan/mirror/alpine
writes reg.lan/mirror/alpine:3.20. SRC pinned by digest goes by digest, and
is tagged only if DST names a tag. --all-tags copies every tag of the
repository SRC to the same tag under the repository DST.

Each blob is asked for first (HEAD): one the destination has is skipped;
within one registry it is mounted from SRC's repository; else it is
uploaded. A destination whose tag already names SRC's digest costs a HEAD at
each end and nothing more. An upload interrupted (Ctrl-C, a dropped link, a
killed process) is resumed by the next copy from where the registry holds
it: its session is kept in the cache (--cache-dir).

Credentials: SRC's and DST's registries each get their own, from docker's and
podman's stored logins, or from --src-authfile and --dest-authfile (docker's
config.json format); -u/--password-stdin are for DST's registry. certs.d and
config.toml's per-registry TLS apply to both; mirrors only to reading SRC.

The first Ctrl-C stops after the requests in flight are acknowledged, keeping
the upload sessions; the second quits at once.`

// copyFlags are haul copy's flags.
type copyFlags struct {
	platform, srcAuth, destAuth, cacheDir string
	allTags, noReferrers                  bool
	jobs                                  int
}

func newCopyCmd(e *env) *cobra.Command {
	var f copyFlags
	c := &cobra.Command{
		Use:   "copy SRC DST",
		Short: "Copy an image or index between registries, keeping every digest",
		Long:  copyLong,
		Example: `  haul copy alpine:3.20 reg.lan/mirror/alpine           # reg.lan/mirror/alpine:3.20
  haul copy --platform linux/arm64 ghcr.io/org/app:1 reg.lan/app:1-arm64
  haul copy --all-tags reg.lan/team/app reg2.lan/team/app
  haul copy --dest-authfile ci-auth.json alpine@sha256:… reg.lan/alpine`,
		Args: exactArgs(2, "SRC and DST"),
	}
	fl := c.Flags()
	fl.StringVar(&f.platform, "platform", "", "os/arch[/variant]: copy only this image of an index, under its own digest (default: the whole index)")
	fl.BoolVar(&f.allTags, "all-tags", false, "copy every tag of the repository SRC to the same tag under the repository DST")
	fl.BoolVar(&f.noReferrers, "no-referrers", false, "leave out the signatures, SBOMs and attestations that refer to the image (default: they go with it)")
	fl.IntVarP(&f.jobs, "jobs", "j", push.DefaultJobs, "blobs put at once")
	fl.StringVar(&f.srcAuth, "src-authfile", "", "docker config.json with the credentials for SRC's registry (default: docker's and podman's stored logins)")
	fl.StringVar(&f.destAuth, "dest-authfile", "", "docker config.json with the credentials for DST's registry (default: docker's and podman's stored logins)")
	fl.StringVar(&f.cacheDir, "cache-dir", "", "where upload sessions are kept for a later run to resume (default $XDG_CACHE_HOME/haul)")
	c.RunE = func(cmd *cobra.Command, args []string) error { return e.runCopy(cmd.Context(), f, args[0], args[1]) }
	return c
}

func (e *env) runCopy(ctx context.Context, f copyFlags, srcArg, dstArg string) error {
	_, dst, err := copyRefs(srcArg, dstArg, f.allTags)
	if err != nil {
		return err
	}
	o, err := e.copyOptions(f, dst.Registry())
	if err != nil {
		return err
	}
	o.AllTags = f.allTags
	cl, pr, stopped, err := e.copyClient(f, dst.Registry(), &o)
	if err != nil {
		return err
	}
	defer cl.Close()
	defer stopped()
	res, err := cl.CopyWith(ctx, srcArg, dstArg, o)
	pr.done()
	if err != nil {
		return e.uploadsStopped(err, "copy")
	}
	return e.copySummary(res)
}

// copyRefs parses SRC and DST (push.ParseRefs); a malformed one is a usage
// error.
func copyRefs(srcArg, dstArg string, allTags bool) (ref.Reference, ref.Reference, error) {
	src, dst, err := push.ParseRefs(srcArg, dstArg, allTags)
	switch {
	case err != nil && allTags:
		return src, dst, usagef("--all-tags: %v", err)
	case err != nil:
		return src, dst, usageError{err}
	}
	return src, dst, nil
}

// copyOptions are the haul.CopyOptions of copy's flags, push's and
// sync's: --platform, --no-referrers, and each side's credentials when an
// authfile gives them (else the Client's: see copyClient).
func (e *env) copyOptions(f copyFlags, dstRegistry string) (haul.CopyOptions, error) {
	o := haul.CopyOptions{NoReferrers: f.noReferrers}
	if f.jobs < 1 {
		return o, usagef("--jobs %d: want 1 or more", f.jobs)
	}
	if f.platform != "" {
		p, err := image.ParsePlatform(f.platform)
		if err != nil {
			return o, usageError{err}
		}
		o.Platforms = []image.Platform{p}
	}
	var err error
	if f.srcAuth != "" {
		if o.SourceCredentials, err = e.copyCreds(f.srcAuth, dstRegistry); err != nil {
			return o, err
		}
	}
	if f.destAuth != "" {
		o.DestCredentials, err = e.copyCreds(f.destAuth, dstRegistry)
	}
	return o, err
}

// copyClient is the haul.Client of copy, push and sync: reads through the
// mirrors, -u/--password-stdin for dstRegistry alone (and the source's,
// if the same), upload sessions in the cache for a later run to resume,
// its progress shown by pr, and the first interrupt closing o.Stop until
// stopped is called.
func (e *env) copyClient(f copyFlags, dstRegistry string, o *haul.CopyOptions) (cl *haul.Client, pr *copyProgress, stopped func(), err error) {
	c, err := e.haulConfig(true)
	if err != nil {
		return nil, nil, nil, err
	}
	creds, err := e.copyCreds("", dstRegistry)
	if err != nil {
		return nil, nil, nil, err
	}
	c.Credentials, c.Jobs, c.CacheDir, c.NoCache = creds, f.jobs, f.cacheDir, false
	pr = newCopyProgress(e)
	c.CopyProgress = pr.event
	if cl, err = haul.New(c); err != nil {
		pr.done()
		return nil, nil, nil, err
	}
	stop := make(chan struct{})
	o.Stop = stop
	e.setStop(stop)
	return cl, pr, func() { e.setStop(nil) }, nil
}

// copyCreds are the credentials for one side of a copy: -u/--password-stdin
// for the destination's registry (and the source's, if the same), then the
// authfile, else docker's and podman's stored logins.
func (e *env) copyCreds(authfile, dstRegistry string) (auth.Source, error) {
	explicit, err := e.explicitCredential(dstRegistry)
	if err != nil {
		return nil, err
	}
	if authfile != "" {
		return auth.Chain{explicit, auth.DockerConfig{Path: authfile, Env: e.Getenv}}, nil
	}
	return auth.Default(explicit, e.Getenv), nil
}

// copySourceClient is a source registry's own client, with the
// credentials of the source side of a copy: what lists sync's tags.
func (e *env) copySourceClient(name, authfile, dstRegistry string) (*registry.Client, error) {
	creds, err := e.copyCreds(authfile, dstRegistry)
	if err != nil {
		return nil, err
	}
	c := e.baseConfig(name)
	c.Creds = creds
	return registry.New(c)
}

func (e *env) copySummary(res *haul.CopyResult) error {
	if e.g.json {
		return e.printJSON(res)
	}
	if e.g.quiet {
		return nil
	}
	for _, c := range res.Copies {
		fmt.Fprintln(e.Stderr, copyLine(c))
	}
	return nil
}

// copyLine is the summary of one copy: "copied SRC to DST (sha256:…): N
// blobs pushed (X MiB), M mounted, K skipped, in T".
func copyLine(c haul.CopiedImage) string {
	var b strings.Builder
	if c.Platform != "" {
		fmt.Fprintf(&b, "%s for %s is the image %s: %s names it, not the index\n", familiar(c.Source), c.Platform, c.Digest, familiar(c.Destination))
	}
	fmt.Fprintf(&b, "copied %s to %s (%s): %s", familiar(c.Source), familiar(c.Destination), c.Digest, putCounts(c.Transfer))
	return b.String()
}

// familiar is the reference s as docker prints it: "alpine:3.20" for
// docker.io/library/alpine:3.20; s itself if it is no reference.
func familiar(s string) string {
	r, err := ref.Parse(s)
	if err != nil {
		return s
	}
	return r.Familiar()
}

// putCounts says what putting one image did: "N blobs pushed (X MiB), M
// mounted, K skipped, R referrers (if any), in T", and each fallback index
// written.
func putCounts(t haul.Transfer) string {
	elapsed := time.Duration(t.Seconds * float64(time.Second)).Round(time.Millisecond)
	if t.UpToDate {
		return fmt.Sprintf("already there, nothing sent, in %s", elapsed)
	}
	s := fmt.Sprintf("%d blobs pushed (%s), %d mounted, %d skipped, ", t.Pushed.Blobs, human(t.Pushed.Bytes), t.Mounted.Blobs, t.Skipped.Blobs)
	if t.Referrers > 0 {
		s += fmt.Sprintf("%d referrers, ", t.Referrers)
	}
	s += "in " + elapsed.String()
	if t.Resumed > 0 {
		s += fmt.Sprintf("; resumed uploads the registry held %s of", human(t.Resumed))
	}
	for _, fi := range t.FallbackIndexes {
		s += fmt.Sprintf("\n%s is a new index of referrers, %s (%d added): the registry has no referrers API, so they are listed under this tag, the one manifest a copy writes anew", familiar(fi.Ref), fi.Digest, fi.Added)
	}
	return s
}

// copyProgress shows a copy as it goes: bars on a terminal, as a pull's,
// else a line per blob put.
type copyProgress struct {
	w     io.Writer
	quiet bool
	bars  *mpb.Progress
	total *mpb.Bar
	blobs map[digest.Digest]*mpb.Bar
	shown map[digest.Digest]int64
	e     *env
}

func newCopyProgress(e *env) *copyProgress {
	p := &copyProgress{w: e.Stderr, quiet: e.g.quiet || e.g.json, blobs: map[digest.Digest]*mpb.Bar{}, shown: map[digest.Digest]int64{}, e: e}
	if !p.quiet && e.StderrIsTerminal != nil && e.StderrIsTerminal() {
		p.bars = mpb.New(mpb.WithOutput(e.Stderr), mpb.WithWidth(32), mpb.WithRefreshRate(150*time.Millisecond))
		e.setAbove(p.bars)
	}
	return p
}

func (p *copyProgress) event(ev push.Event) {
	if p.quiet {
		return
	}
	switch ev.Kind {
	case push.Planned:
		if p.bars != nil {
			if p.total != nil {
				p.total.Abort(false) // --all-tags: the next image's total
			}
			p.total = p.bars.New(ev.Size, mpb.BarStyle(), mpb.BarPriority(1<<30),
				mpb.PrependDecorators(decor.Name(fmt.Sprintf("%d blobs", ev.N), decor.WC{C: decor.DindentRight | decor.DextraSpace, W: 20})),
				mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f"), decor.Name(" "), decor.AverageSpeed(decor.SizeB1024(0), "% .1f")))
		}
	case push.BlobStart:
		if p.bars != nil {
			p.blobs[ev.Digest] = p.bars.New(ev.Size, mpb.BarStyle(), mpb.BarRemoveOnComplete(),
				mpb.PrependDecorators(decor.Name(short(ev.Digest), decor.WC{C: decor.DindentRight | decor.DextraSpace, W: 20})),
				mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f")))
		}
	case push.BlobBytes:
		p.advance(ev.Digest, ev.N)
	case push.BlobDone:
		p.advance(ev.Digest, ev.Size-p.shown[ev.Digest])
		if b := p.blobs[ev.Digest]; b != nil {
			b.SetTotal(ev.Size, true)
		}
		if p.bars == nil {
			note := ev.How
			if ev.Resumed > 0 {
				note += fmt.Sprintf(" (resumed at %s)", human(ev.Resumed))
			}
			fmt.Fprintf(p.w, "%s %s %s\n", short(ev.Digest), human(ev.Size), note)
		}
	case push.Restarted:
		p.e.notice(fmt.Sprintf("haul: the registry refused the saved upload of %s (%s): sending it again from byte 0", short(ev.Digest), refusal(ev.Err)))
	}
}

// refusal says briefly why a registry refused an upload session: its status
// and error codes (the session's URL, long and of no use to a person, is left
// out), else the error.
func refusal(err error) string {
	var re *registry.Error
	if !errors.As(err, &re) {
		return err.Error()
	}
	s := fmt.Sprintf("%d %s", re.Status, http.StatusText(re.Status))
	for _, d := range re.Errors {
		s += ": " + string(d.Code)
	}
	return s
}

// advance moves a blob's bar and the total by n bytes.
func (p *copyProgress) advance(d digest.Digest, n int64) {
	if n <= 0 {
		return
	}
	p.shown[d] += n
	if b := p.blobs[d]; b != nil {
		b.IncrInt64(n)
	}
	if p.total != nil {
		p.total.IncrInt64(n)
	}
}

func (p *copyProgress) done() {
	if p.bars == nil {
		return
	}
	p.e.setAbove(nil)
	if p.total != nil {
		p.total.Abort(false)
	}
	for _, b := range p.blobs {
		b.Abort(true)
	}
	p.bars.Wait()
}

// setStop sets (nil: unsets) the channel the first interrupt closes instead
// of cancelling the command: a copy then ends after the requests in flight
// are acknowledged, and its upload sessions say where a later run resumes.
func (e *env) setStop(c chan struct{}) {
	e.aboveMu.Lock()
	e.stop = c
	e.aboveMu.Unlock()
}

// closeStop closes the stop channel, if one is set, and reports whether it did.
func (e *env) closeStop() bool {
	e.aboveMu.Lock()
	defer e.aboveMu.Unlock()
	if e.stop == nil {
		return false
	}
	close(e.stop)
	e.stop = nil
	return true
}

// uploadsStopped is err, or for an interrupt that stopped the uploads
// (registry.ErrUploadStopped) a stoppedError, said to a person: the same
// command (verb) run again resumes them.
func (e *env) uploadsStopped(err error, verb string) error {
	if !errors.Is(err, registry.ErrUploadStopped) {
		return err
	}
	if !e.g.json && !e.g.quiet {
		fmt.Fprintf(e.Stderr, "haul: stopped; the uploads begun are kept, and the same %s run again resumes them\n", verb)
	}
	return stoppedError{err}
}

// stoppedError is a copy stopped by an interrupt: for --json's kind, it is
// canceled, as any interrupted command is.
type stoppedError struct{ error }

func (e stoppedError) Unwrap() error { return e.error }

func (e stoppedError) Is(target error) bool { return target == context.Canceled }
