package meetingapi

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy says how often and how patiently a [Client] retries a call
// that failed in a way [Retryable] calls worth retrying: server trouble
// (HTTP 5xx, MMC.111072049), flow control (HTTP 429, 100000429), transport
// failures and attempts that ran out of AttemptTimeout. That is safe for the
// idempotent calls (the package documentation lists them). A call that is not
// idempotent is retried only when it cannot have been applied: after flow
// control, or when no connection could be made. A 401 is never retried
// here: the caller fetches a new token and tries once more (a 401 means the
// call was not applied, whatever the call).
type RetryPolicy struct {
	// MaxAttempts is the number of tries, the first included; at least 1.
	// 1 disables retries.
	MaxAttempts int
	// BaseDelay and MaxDelay bound the backoff before retry n (n = 0, 1,
	// …): a random wait in [0, min(MaxDelay, BaseDelay·2ⁿ)] ("full jitter").
	// A zero BaseDelay retries at once; a zero MaxDelay means no cap below
	// the internal ceiling of one minute.
	BaseDelay, MaxDelay time.Duration
	// AttemptTimeout bounds each try, within the caller's context. Zero
	// leaves only the caller's context and the HTTP client's Timeout.
	AttemptTimeout time.Duration
}

// DefaultRetryPolicy is what [NewClient] uses unless [WithRetry] says
// otherwise: 4 attempts, backoff from 200ms up to 3s, 5s per attempt.
var DefaultRetryPolicy = RetryPolicy{
	MaxAttempts:    4,
	BaseDelay:      200 * time.Millisecond,
	MaxDelay:       3 * time.Second,
	AttemptTimeout: 5 * time.Second,
}

const (
	// maxDelayCeiling keeps BaseDelay·2ⁿ from overflowing when MaxDelay is 0.
	maxDelayCeiling = time.Minute
	// flowControlFactor stretches the backoff after flow control, which
	// asks for more patience than a failing server.
	flowControlFactor = 4
	// maxFlowControlDelay caps a wait after flow control, Retry-After
	// included, unless MaxDelay is larger.
	maxFlowControlDelay = 10 * time.Second
)

// WithRetry sets the retry policy (default [DefaultRetryPolicy]).
// WithRetry(RetryPolicy{MaxAttempts: 1}) disables retries.
func WithRetry(p RetryPolicy) Option {
	return func(c *Client) error {
		switch {
		case p.MaxAttempts < 1:
			return errors.New("meetingapi: retry policy needs MaxAttempts of at least 1")
		case p.BaseDelay < 0 || p.MaxDelay < 0 || p.AttemptTimeout < 0:
			return errors.New("meetingapi: retry policy durations must not be negative")
		case p.MaxDelay > 0 && p.MaxDelay < p.BaseDelay:
			return errors.New("meetingapi: retry policy MaxDelay must be at least BaseDelay")
		}
		c.retry = p
		return nil
	}
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// jitter returns a uniformly random duration in [0, max].
func jitter(max time.Duration) time.Duration {
	if max <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(max) + 1))
}

// backoff is the wait before retry n (0 for the first retry) after err.
func (c *Client) backoff(n int, err error) time.Duration {
	p := c.retry
	ceiling := p.MaxDelay
	if ceiling <= 0 {
		ceiling = maxDelayCeiling
	}
	var ae *APIError
	flow := errors.Is(err, ErrFlowControl)
	if flow {
		ceiling = max(ceiling, maxFlowControlDelay)
	}
	if errors.As(err, &ae) && ae.retryAfter > 0 {
		// The server said how long; trust it, within reason.
		return min(ae.retryAfter, max(ceiling, maxFlowControlDelay))
	}
	base := p.BaseDelay
	if flow {
		base *= flowControlFactor
	}
	d := ceiling
	if base < ceiling && n < 62 && base<<n > 0 && base<<n < ceiling {
		d = base << n
	}
	if flow {
		// Equal jitter: at least half the step, so flow control always
		// gets a real pause.
		return d/2 + c.jitter(d-d/2)
	}
	return c.jitter(d)
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > int64(maxDelayCeiling/time.Second) {
			return maxDelayCeiling
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, maxDelayCeiling)
		}
	}
	return 0
}

// call runs one API call with retries and the circuit breaker. build makes
// a fresh request for each attempt (bodies are re-sent), bound to the
// attempt's context. It returns the body of a 2xx answer when wantBody, or
// the last attempt's error with the number of attempts recorded. A call
// that is not idempotent (r.once) is retried only while its failures show
// it cannot have been applied; [Retryable] says which.
func (c *Client) call(ctx context.Context, r *request, wantBody bool,
	build func(context.Context) (*http.Request, error)) ([]byte, error) {
	var last error
	for attempt := 1; ; attempt++ {
		trial, open := c.breaker.allow()
		if open != nil {
			if last != nil {
				// The circuit opened while we were retrying: the real
				// failure says more than "circuit open".
				return nil, withAttempts(last, attempt-1)
			}
			open.Op, open.ConferenceID = opText(r.op), r.id
			return nil, open
		}
		body, err := c.attempt(ctx, r, wantBody, attempt, build)
		c.breaker.record(trial, c.outcome(ctx, err))
		if err == nil {
			return body, nil
		}
		last = err
		if attempt >= c.retry.MaxAttempts || !Retryable(err) {
			return nil, withAttempts(err, attempt)
		}
		if ctx.Err() != nil {
			return nil, stopped(ctx, err, attempt)
		}
		if c.breaker.isOpen() {
			return nil, withAttempts(err, attempt)
		}
		delay := c.backoff(attempt-1, err)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= delay {
			// The caller's deadline would pass before the next attempt
			// could start: say what went wrong rather than "deadline".
			return nil, withAttempts(err, attempt)
		}
		ev := c.log.Debug().Str("op", r.op).Str("conference_id", string(r.id)).
			Int("attempt", attempt).Dur("delay", delay)
		var ae *APIError
		if errors.As(err, &ae) {
			ev = ev.Int("status", ae.StatusCode).Str("code", ae.Code)
		} else {
			ev = ev.Str("error", "transport")
		}
		ev.Msg("meeting API call failed; retrying")
		if c.sleep(ctx, delay) != nil {
			return nil, stopped(ctx, err, attempt)
		}
	}
}

// attempt makes one try within AttemptTimeout. A call that is not
// idempotent gets the caller's whole deadline instead: abandoning a slow
// attempt could leave it applied with no retry to follow, and the caller
// told it failed.
func (c *Client) attempt(ctx context.Context, r *request, wantBody bool, n int,
	build func(context.Context) (*http.Request, error)) ([]byte, error) {
	actx := ctx
	if t := c.retry.AttemptTimeout; t > 0 && !r.once {
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	req, err := build(actx)
	if err != nil {
		return nil, fmt.Errorf("meetingapi: %s %s: %w", opText(r.op), r.id, err)
	}
	return c.roundTrip(req, r, wantBody, n)
}

// outcome classifies an attempt for the breaker. Only trouble on the
// service's side counts against it; the caller giving up does not, and any
// answer that is not server trouble shows the service is up.
func (c *Client) outcome(ctx context.Context, err error) outcome {
	switch {
	case err == nil:
		return success
	case ctx.Err() != nil || errors.Is(err, ErrFlowControl):
		return neutral
	case errors.Is(err, ErrServerTrouble):
		return failure
	}
	var ae *APIError
	if errors.As(err, &ae) || errors.Is(err, ErrUnexpectedResponse) {
		return success
	}
	if Retryable(err) {
		return failure // transport failure or attempt timeout
	}
	return neutral
}

// withAttempts records n on err's *APIError or transport error.
func withAttempts(err error, n int) error {
	var ae *APIError
	var te *transportError
	switch {
	case errors.As(err, &ae):
		ae.Attempts = n
	case errors.As(err, &te):
		te.attempts = n
	}
	return err
}

// stopped is the error when the caller's context ends between attempts. A
// deadline returns the last failure as it is (it says more than "deadline
// exceeded"); a cancellation is added to it so that Retryable is false.
func stopped(ctx context.Context, last error, n int) error {
	last = withAttempts(last, n)
	cerr := ctx.Err()
	if cerr == nil || errors.Is(cerr, context.DeadlineExceeded) || errors.Is(last, cerr) {
		return last
	}
	return &stoppedError{last: last, cause: cerr}
}

// stoppedError is a failure the caller stopped retrying by cancelling.
type stoppedError struct {
	last, cause error
}

func (e *stoppedError) Error() string   { return e.last.Error() + "; gave up: " + e.cause.Error() }
func (e *stoppedError) Unwrap() []error { return []error{e.last, e.cause} }
