package meetingapi

import (
	"context"
	"time"
)

// Test hooks: exported only to this package's tests.

// WithSleepForTest replaces the backoff wait, so tests neither wait nor
// depend on the wall clock.
func WithSleepForTest(f func(context.Context, time.Duration) error) Option {
	return func(c *Client) error {
		c.sleep = f
		return nil
	}
}

// WithJitterForTest replaces the random draw in [0, max].
func WithJitterForTest(f func(max time.Duration) time.Duration) Option {
	return func(c *Client) error {
		c.jitter = f
		return nil
	}
}

// WithClockForTest sets the clock of the breaker and of token expiry.
func WithClockForTest(now func() time.Time) Option {
	return func(c *Client) error {
		c.now = now
		return nil
	}
}

// Backoff exposes the backoff computation.
func (c *Client) Backoff(n int, err error) time.Duration { return c.backoff(n, err) }

// WithWireFormForTest returns o with another form of the subscribe frame:
// data as a JSON string or an object, confToken as "Basic base64" or raw.
func (o WatchOptions) WithWireFormForTest(dataAsString, basicConfToken bool) WatchOptions {
	o.form = &wireForm{dataAsString: dataAsString, basicConfToken: basicConfToken}
	return o
}
