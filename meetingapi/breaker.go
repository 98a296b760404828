package meetingapi

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// ErrCircuitOpen: the meeting service failed too often in a row, so the
// client is not calling it for a while (see [WithBreaker]). The call was not
// sent. It is not [Retryable]: wait for the cooldown instead.
var ErrCircuitOpen = errors.New("meetingapi: circuit open")

// Breaker defaults: see [WithBreaker].
const (
	DefaultBreakerThreshold = 5
	DefaultBreakerCooldown  = 30 * time.Second
)

// WithBreaker sets the circuit breaker: after threshold consecutive
// attempts that failed with server trouble or a transport failure (across
// all meetings: the API host is shared), calls fail fast with
// [ErrCircuitOpen] for cooldown; then one trial call goes through, and its
// success closes the circuit while its failure opens it again. Answers that
// show the service is up (4xx, including 401, 403 and a wrong password)
// reset the count; flow control (429) neither counts nor resets. A threshold
// of 0 disables the breaker. Default: 5 failures, 30 seconds.
func WithBreaker(threshold int, cooldown time.Duration) Option {
	return func(c *Client) error {
		switch {
		case threshold < 0:
			return errors.New("meetingapi: breaker threshold must not be negative")
		case threshold == 0:
			c.breaker = nil
			return nil
		case cooldown <= 0:
			return errors.New("meetingapi: breaker cooldown must be positive")
		}
		c.breaker = &breaker{threshold: threshold, cooldown: cooldown}
		return nil
	}
}

// BreakerOpen reports whether the circuit breaker is refusing calls: open,
// or waiting for the outcome of its trial call. It is false when the breaker
// is disabled.
func (c *Client) BreakerOpen() bool { return c.breaker.isOpen() }

type breakerState int

const (
	closed breakerState = iota
	open
	halfOpen
)

type outcome int

const (
	neutral outcome = iota // says nothing about the service (caller gave up, flow control)
	success                // the service answered
	failure                // server trouble or transport failure
)

// breaker is a consecutive-failure circuit breaker. A nil *breaker allows
// everything.
type breaker struct {
	threshold int
	cooldown  time.Duration
	now       func() time.Time
	log       zerolog.Logger

	mu       sync.Mutex
	state    breakerState
	failures int       // consecutive failures while closed
	until    time.Time // while open: when a trial may go
	trial    bool      // while half-open: a trial call is in flight
}

// allow says whether an attempt may go. When it may not, it returns the
// error to give; trial is true for the one attempt let through half-open.
func (b *breaker) allow() (trial bool, refused *CircuitOpenError) {
	if b == nil {
		return false, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch b.state {
	case open:
		if b.now().Before(b.until) {
			return false, &CircuitOpenError{Until: b.until, Failures: b.failures}
		}
		b.state = halfOpen
		b.trial = true
		return true, nil
	case halfOpen:
		if b.trial {
			return false, &CircuitOpenError{Until: b.until, Failures: b.failures, trialUnderWay: true}
		}
		b.trial = true
		return true, nil
	}
	return false, nil
}

// record feeds one attempt's outcome to the breaker.
func (b *breaker) record(trial bool, o outcome) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch o {
	case success:
		if b.state != closed {
			b.log.Info().Msg("meeting API answers again; circuit closed")
		}
		b.state, b.failures, b.trial = closed, 0, false
	case failure:
		switch {
		case b.state == closed:
			b.failures++
			if b.failures >= b.threshold {
				b.openLocked()
			}
		case b.state == halfOpen && trial:
			b.failures++
			b.openLocked()
		}
	case neutral:
		if trial && b.state == halfOpen {
			b.trial = false // let the next call be the trial
		}
	}
}

func (b *breaker) openLocked() {
	b.state, b.trial = open, false
	b.until = b.now().Add(b.cooldown)
	b.log.Warn().Int("failures", b.failures).Dur("cooldown", b.cooldown).
		Msg("meeting API keeps failing; circuit open")
}

func (b *breaker) isOpen() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state != closed
}

// CircuitOpenError is the error of a call refused by the circuit breaker;
// it matches [ErrCircuitOpen]. No request was sent.
type CircuitOpenError struct {
	Op           string       // as in [APIError].Op
	ConferenceID ConferenceID // the meeting the call was about
	Until        time.Time    // when a trial call will be let through (already past while a trial is under way)
	Failures     int          // consecutive failures that opened the circuit

	trialUnderWay bool
}

// Error reads like "meetingapi: lock 914083136: the meeting service has been
// failing (5 times in a row); not calling it again before 10:11:42 UTC".
func (e *CircuitOpenError) Error() string {
	s := "meetingapi: " + e.Op
	if e.ConferenceID != "" {
		s += " " + string(e.ConferenceID)
	}
	s += ": the meeting service has been failing"
	if e.Failures > 0 {
		s += " (" + strconv.Itoa(e.Failures) + " times in a row)"
	}
	if e.trialUnderWay || e.Until.IsZero() {
		return s + "; a trial call is under way, try again in a moment"
	}
	return s + "; not calling it again before " + e.Until.UTC().Format("15:04:05 MST")
}

// Is matches [ErrCircuitOpen].
func (e *CircuitOpenError) Is(target error) bool { return target == ErrCircuitOpen }
