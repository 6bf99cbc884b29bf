package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/haul-dev/haul"
	"github.com/haul-dev/haul/engine"
	"github.com/haul-dev/haul/pull"
)

// errEngineStopped is what a pull still writing gets once the engine's
// load has returned: the load's own error is then the one to report.
var errEngineStopped = errors.New("the engine stopped reading the archive")

// checkLoad refuses flags that make no sense with --load.
func checkLoad(cmd *cobra.Command, f pull.Format) error {
	if cmd.Flags().Changed("output") {
		return usagef("--load sends the images to the engine, -o to a file: choose one (haul pull -o - REF | docker load does both)")
	}
	if f != pull.Docker {
		return usagef("--load takes the docker format, which the engine loads; --format %s is for -o", f)
	}
	return nil
}

// pullLoad pulls refs through cl as pull -o - would, with the tar streamed
// through a pipe into the engine the docker CLI would use, and prints what
// it loaded. The engine is pinged first, so a missing one fails before any
// download; a pull that fails cuts the upload off, so the engine loads
// nothing.
func (e *env) pullLoad(ctx context.Context, cl *haul.Client, refs []string, o haul.PullOptions, pr *pullProgress) error {
	ec, err := engine.FromEnv(e.Getenv)
	if err == nil {
		_, err = ec.Ping(ctx)
	}
	if err != nil {
		pr.done()
		return err
	}
	res, loaded, err := pullInto(ctx, ec, cl, refs, o)
	pr.done()
	if err != nil {
		return err
	}
	res.Output = ec.Host().URL
	if err := e.pullSummary(res); err != nil {
		return err
	}
	if !e.g.quiet {
		for _, m := range loaded.Messages {
			fmt.Fprintln(e.Stderr, m)
		}
	}
	return nil
}

// pullInto runs the pull and the load side by side over a pipe.
func pullInto(ctx context.Context, ec *engine.Client, cl *haul.Client, refs []string, o haul.PullOptions) (*haul.PullResult, *engine.LoadResult, error) {
	pipeR, pipeW := io.Pipe()
	type loadDone struct {
		res *engine.LoadResult
		err error
	}
	done := make(chan loadDone, 1)
	go func() {
		res, err := ec.Load(ctx, pipeR)
		pipeR.CloseWithError(errEngineStopped) // a refusal must not leave the pull blocked in a write
		done <- loadDone{res, err}
	}()
	res, err := cl.PullWith(ctx, refs, haul.Writer(pipeW), o)
	pipeW.CloseWithError(err) // nil: the tar's end; else the upload is cut off
	ld := <-done
	switch {
	case err != nil && ld.err != nil && errors.Is(err, errEngineStopped):
		return nil, nil, ld.err // the engine refused first; the pull only saw the pipe close
	case err != nil:
		return nil, nil, err // the engine got a broken upload and loaded nothing
	case ld.err != nil:
		return nil, nil, ld.err
	}
	return res, ld.res, nil
}
