package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/haul-dev/haul/pull"
)

// pullProgress shows a pull as it goes: bars on a terminal, else a line per
// finished blob and a progress line every few seconds.
type pullProgress struct {
	w       io.Writer
	quiet   bool
	bars    *mpb.Progress
	total   *mpb.Bar
	blobs   map[digest.Digest]*mpb.Bar
	started time.Time
	lastLog time.Time
	size    int64
	done_   int64
	now     func() time.Time
	mirrors bool // name the upstream too, beside the mirrors
	e       *env
}

func newPullProgress(e *env, toStdout bool) *pullProgress {
	p := &pullProgress{w: e.Stderr, quiet: e.g.quiet || e.g.json, blobs: map[digest.Digest]*mpb.Bar{}, now: time.Now, mirrors: e.anyMirrors(), e: e}
	p.started = p.now()
	p.lastLog = p.started
	if !p.quiet && e.StderrIsTerminal != nil && e.StderrIsTerminal() {
		p.bars = mpb.New(mpb.WithOutput(e.Stderr), mpb.WithWidth(32), mpb.WithRefreshRate(150*time.Millisecond))
		e.setAbove(p.bars) // an interrupt's notice goes above the bars, not under their next redraw
	}
	return p
}

func short(dg digest.Digest) string {
	d := dg.String()
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

func (p *pullProgress) event(ev pull.Event) {
	if p.quiet {
		return
	}
	switch ev.Kind {
	case pull.Resolved:
		if p.bars == nil {
			fmt.Fprintf(p.w, "resolved %s to %s\n", ev.Ref.Familiar(), ev.Digest)
		}
	case pull.Planned:
		p.size = ev.Size
		if p.bars != nil {
			p.total = p.bars.New(ev.Size, mpb.BarStyle(), mpb.BarPriority(1<<30),
				mpb.PrependDecorators(decor.Name(fmt.Sprintf("%d blobs", ev.N), decor.WC{C: decor.DindentRight | decor.DextraSpace, W: 20})),
				mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f"), decor.Name(" "), decor.AverageSpeed(decor.SizeB1024(0), "% .1f")))
		}
	case pull.BlobStart:
		if p.bars == nil {
			return
		}
		p.blobs[ev.Digest] = p.bars.New(ev.Size, mpb.BarStyle(), mpb.BarRemoveOnComplete(),
			mpb.PrependDecorators(decor.Name(short(ev.Digest), decor.WC{C: decor.DindentRight | decor.DextraSpace, W: 20})),
			mpb.AppendDecorators(decor.CountersKibiByte("% .1f / % .1f")))
	case pull.BlobBytes:
		p.done_ += ev.N
		if p.bars != nil {
			if b := p.blobs[ev.Digest]; b != nil {
				b.IncrInt64(ev.N)
			}
			if p.total != nil {
				p.total.IncrInt64(ev.N)
			}
			return
		}
		if now := p.now(); now.Sub(p.lastLog) >= 5*time.Second && p.size > 0 {
			p.lastLog = now
			rate := float64(p.done_) / now.Sub(p.started).Seconds()
			fmt.Fprintf(p.w, "%d%% of %s, %s/s\n", p.done_*100/p.size, human(p.size), human(int64(rate)))
		}
	case pull.BlobDone:
		if p.bars != nil {
			if b := p.blobs[ev.Digest]; b != nil {
				b.SetTotal(ev.Size, true)
			}
			return
		}
		note := ""
		if ev.Cached == ev.Size {
			note = " (cached)"
		} else if ev.Cached > 0 {
			note = fmt.Sprintf(" (resumed at %s)", human(ev.Cached))
		}
		if ev.Mirror {
			note += " from mirror " + ev.From
		} else if ev.From != "" && p.mirrors {
			note += " from upstream " + ev.From
		}
		fmt.Fprintf(p.w, "%s %s%s\n", short(ev.Digest), human(ev.Size), note)
	case pull.Writing:
		if p.total != nil {
			p.total.SetTotal(p.size, true)
		}
	}
}

func (p *pullProgress) done() {
	if p.bars != nil {
		p.e.setAbove(nil)
		if p.total != nil {
			p.total.Abort(false)
		}
		for _, b := range p.blobs {
			b.Abort(true)
		}
		p.bars.Wait()
	}
}
