package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/haul-dev/haul/auth"
)

// RetryPolicy bounds the retries of one operation: a request, a manifest or
// page of tags read whole, or a blob's attempts since it last made progress.
// Only idempotent requests (GET, HEAD) are ever tried again, on 408, 429 and
// 5xx, dropped connections and idle responses; a connection that cannot be
// made (refused, no such host, no answer within the dial timeout) is not.
// An attempt that goes idle (under 1 KiB within the idle timeout) may be
// followed by one more: two idle attempts in a row end the operation.
type RetryPolicy struct {
	Max           int           // retries after the first try; 0: 5; < 0: none
	Base          time.Duration // first backoff; 0: 200 ms, doubled each try, with jitter
	MaxBackoff    time.Duration // 0: 10 s
	MaxRetryAfter time.Duration // a longer Retry-After fails at once; 0: 60 s
}

// maxIdleAttempts is how many attempts in a row may go idle without progress
// before an operation ends: a registry or a network that stopped sending.
const maxIdleAttempts = 2

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Max == 0 {
		p.Max = 5
	}
	if p.Max < 0 {
		p.Max = 0
	}
	if p.Base <= 0 {
		p.Base = 200 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 10 * time.Second
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = 60 * time.Second
	}
	return p
}

// backoff is the wait before retry number try (0-based): exponential, full jitter
// in its upper half so that many clients do not retry in step.
func (p RetryPolicy) backoff(try int) time.Duration {
	d := p.MaxBackoff
	if shift := min(try, 20); p.Base <= p.MaxBackoff>>shift {
		d = p.Base << shift
	}
	return d/2 + rand.N(d/2+1)
}

// outcome is how one failed attempt ended, as the policy sees it.
type outcome struct {
	status     int           // the answer's status; 0: no answer (err says why)
	retryAfter time.Duration // the answer's Retry-After; < 0: none
	err        error
}

// errOutcome judges an error an operation's attempt ended with: a registry's
// non-2xx answer, a token realm's, or a failure to exchange at all.
func errOutcome(err error) outcome {
	var re *Error
	var te *auth.TokenError
	switch {
	case errors.As(err, &re):
		o := outcome{status: re.Status, retryAfter: -1}
		if re.RetryAfter > 0 {
			o.retryAfter = re.RetryAfter
		}
		return o
	case errors.As(err, &te) && te.Status != 0 && te.Status/100 != 2:
		return outcome{status: te.Status, retryAfter: -1}
	}
	// A token realm's dropped or stalled answer is judged by its cause.
	return outcome{err: err, retryAfter: -1}
}

// wait is how long to wait before retry number try after o, or false when o
// is not worth another try.
func (p RetryPolicy) wait(try int, o outcome) (time.Duration, bool) {
	switch {
	case o.err != nil:
		return p.backoff(try), retryableError(o.err)
	case retryableStatus(o.status):
		w := p.backoff(try)
		if o.retryAfter >= 0 {
			if o.retryAfter > p.MaxRetryAfter {
				return 0, false // the caller reports the limit and when it resets
			}
			w = max(o.retryAfter, w/4)
		}
		return w, true
	}
	return 0, false
}

// budget is one operation's retries under the policy: at most Max since the
// last progress, and no attempt after the second in a row that went idle.
type budget struct {
	p     RetryPolicy
	tries int // retries since the last progress
	idle  int // attempts since the last progress that went idle
}

// next judges a failed attempt: the wait before the next one, or false to
// stop. An attempt that moved the operation on (a blob's progress) starts
// the budget afresh and counts toward nothing itself.
func (b *budget) next(o outcome, moved bool) (time.Duration, bool) {
	switch {
	case moved:
		b.tries, b.idle = 0, 0
	case o.err != nil && isIdle(o.err):
		b.idle++
	}
	if b.stalled() || b.tries >= b.p.Max {
		return 0, false
	}
	w, ok := b.p.wait(b.tries, o)
	if ok && !moved {
		b.tries++
	}
	return w, ok
}

// stalled reports whether attempts went idle too often in a row.
func (b *budget) stalled() bool { return b.idle >= maxIdleAttempts }

// isIdle tells an attempt that received too little for too long: an idle
// body, an answer whose headers never came (idleRT says which), or a TLS
// handshake that never finished (a port that accepts connections and then
// says nothing). net/http's error for the last is unexported; its text is
// all there is.
func isIdle(err error) bool {
	return errors.Is(err, errIdle) || strings.Contains(err.Error(), "TLS handshake timeout")
}

// ownedKey marks a context whose operation retries its requests itself.
type ownedKey struct{}

// owned marks ctx: its requests belong to an operation that owns their
// retries (a manifest or page of tags read whole, a blob's attempts), so
// retryRT sends each of them once. Token requests made for them inherit the
// mark, and count against the same budget.
func owned(ctx context.Context) context.Context { return context.WithValue(ctx, ownedKey{}, true) }

func isOwned(ctx context.Context) bool { return ctx.Value(ownedKey{}) != nil }

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retrying runs attempt until it succeeds or the policy says stop: one
// operation, one budget. The requests attempt makes are not retried by the
// transport as well.
func (c *Client) retrying(ctx context.Context, what string, attempt func(ctx context.Context) error) error {
	ctx = owned(ctx)
	b := budget{p: c.retry}
	for {
		err := attempt(ctx)
		if err == nil || ctx.Err() != nil {
			return err
		}
		wait, ok := b.next(errOutcome(err), false)
		if !ok {
			return err
		}
		c.log.Debug("asking again", "what", what, "wait", wait, "err", err)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// doRetrying sends req, which has no body, as an operation of its own: it,
// and the token requests it needs (a dropped token answer too), are asked
// again as the policy allows, with one budget.
func (c *Client) doRetrying(req *http.Request, repo string) (*http.Response, error) {
	var resp *http.Response
	err := c.retrying(req.Context(), req.Method+" "+req.URL.Path, func(ctx context.Context) error {
		var err error
		resp, err = c.do(req.WithContext(ctx), repo)
		return err
	})
	return resp, err
}

// retryRT retries idempotent requests on 408, 429, 500, 502, 503, 504, on
// dropped connections and on idle answers, honouring Retry-After. Requests of
// an operation that owns its retries (owned), and every request that is not
// GET or HEAD, pass through once: an upload replayed by the transport could
// append twice or lose its session.
type retryRT struct {
	next   http.RoundTripper
	policy RetryPolicy
	now    func() time.Time
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

func (t *retryRT) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if req.Method != http.MethodGet && req.Method != http.MethodHead || isOwned(ctx) {
		return t.next.RoundTrip(req)
	}
	b := budget{p: t.policy}
	for {
		resp, err := t.next.RoundTrip(req)
		if ctx.Err() != nil {
			return resp, err
		}
		o := outcome{err: err, retryAfter: -1}
		if err == nil {
			if !retryableStatus(resp.StatusCode) {
				return resp, nil
			}
			o.status = resp.StatusCode
			if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), t.now()); ok {
				o.retryAfter = ra
			}
		}
		wait, ok := b.next(o, false)
		if !ok {
			return resp, err
		}
		if resp != nil {
			io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, err
		}
	}
}

// retryableError tells a dropped connection or a stalled response (worth
// another try) from a connection that could not be made, a TLS failure or a
// URL error (not worth one).
func retryableError(err error) bool {
	// *url.Error has Timeout and Temporary methods, so it passes for a net.Error
	// whatever it wraps: judge what it wraps (a refused redirect is not worth a retry).
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var rec tls.RecordHeaderError
	if _, ok := dialFailure(err); ok {
		return false // refused, no such host, or no answer: asking again soon changes nothing
	}
	switch {
	case isTLSError(err), errors.As(err, &rec):
		return false
	case errors.Is(err, errIdle), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), isReset(err):
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}
