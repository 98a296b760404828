package meetingapi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

// sleepRecorder stands in for the backoff wait: it records what it was
// asked to wait and returns at once.
type sleepRecorder struct {
	mu sync.Mutex
	ds []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.ds...)
}

// option installs the recorder and a jitter that always draws the maximum,
// so the waits are deterministic.
func (s *sleepRecorder) option() meetingapi.Option {
	return func(c *meetingapi.Client) error {
		for _, o := range []meetingapi.Option{
			meetingapi.WithSleepForTest(s.sleep),
			meetingapi.WithJitterForTest(func(max time.Duration) time.Duration { return max }),
		} {
			if err := o(c); err != nil {
				return err
			}
		}
		return nil
	}
}

// fakeClock is a settable clock for the breaker.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestServerTroubleIsRetriedUntilItSucceeds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		ep        meetingapitest.Endpoint
		faults    int
		status    int
		code      string
		call      func(context.Context, *meetingapi.Client, meetingapi.Token) error
		wantCalls int
	}{
		{
			name: "two 503s then success lock the meeting in three calls",
			ep:   meetingapitest.EndpointLock, faults: 2, status: 503, code: "MMC.999999999",
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
				return c.Lock(ctx, testID, tok)
			},
			wantCalls: 3,
		},
		{
			name: "the server timeout code is retried even as a 400",
			ep:   meetingapitest.EndpointLock, faults: 1, status: 400, code: "MMC.111072049",
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
				return c.Unlock(ctx, testID, tok)
			},
			wantCalls: 2,
		},
		{
			name: "three 502s on the token GET still get a token on the fourth try",
			ep:   meetingapitest.EndpointToken, faults: 3, status: 502, code: "MMC.999999999",
			call: func(ctx context.Context, c *meetingapi.Client, _ meetingapi.Token) error {
				_, err := c.ControlToken(ctx, testID, testPassword)
				return err
			},
			wantCalls: 4,
		},
		{
			name: "a keep-alive is retried too",
			ep:   meetingapitest.EndpointToken, faults: 1, status: 500, code: "MMC.999999999",
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
				_, err := c.KeepAlive(ctx, testID, tok)
				return err
			},
			wantCalls: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sl sleepRecorder
			var logs syncBuffer
			c, fake := setup(t, sl.option(), meetingapi.WithLogger(zerolog.New(&logs).Level(zerolog.DebugLevel)))
			tok := token(t, c)
			fake.ResetCalls()
			fake.FailNext(tt.ep, tt.faults, tt.status, tt.code)

			if err := tt.call(t.Context(), c, tok); err != nil {
				t.Fatalf("got %v, want success after %d faults", err, tt.faults)
			}

			calls := fake.Calls()
			if len(calls) != tt.wantCalls {
				t.Fatalf("the fake got %d calls, want %d", len(calls), tt.wantCalls)
			}
			for i, call := range calls {
				if call.Endpoint != tt.ep {
					t.Errorf("call %d went to %q, want %q", i, call.Endpoint, tt.ep)
				}
				if call.Endpoint == meetingapitest.EndpointLock && !bytes.HasPrefix(call.Body, []byte(`{"isLock":`)) {
					t.Errorf("call %d sent body %q; every attempt must send the whole body", i, call.Body)
				}
			}
			// Full jitter drawn at its maximum: 200ms, 400ms, 800ms.
			want := []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}[:tt.faults]
			if got := sl.waits(); !equalDurations(got, want) {
				t.Errorf("waits = %v, want %v", got, want)
			}
			if n := strings.Count(logs.String(), `"message":"meeting API call failed; retrying"`); n != tt.faults {
				t.Errorf("got %d retry log lines, want %d:\n%s", n, tt.faults, logs.String())
			}
			for _, field := range []string{`"attempt":1`, `"delay":200`, `"conference_id":"914083136"`, `"code":"` + tt.code + `"`} {
				if !strings.Contains(logs.String(), field) {
					t.Errorf("the retry log lacks %s:\n%s", field, logs.String())
				}
			}
			if c.BreakerOpen() {
				t.Error("the breaker is open after a success")
			}
		})
	}
}

func TestAnswersThatRetryingCannotFixAreNotRetried(t *testing.T) {
	t.Parallel()
	lock := func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
		return c.Lock(ctx, testID, tok)
	}
	tests := []struct {
		name    string
		arrange func(*meetingapitest.Server)
		call    func(context.Context, *meetingapi.Client, meetingapi.Token) error
		ep      meetingapitest.Endpoint
		is      error
	}{
		{"a meeting that does not exist", func(f *meetingapitest.Server) { f.FailNext(meetingapitest.EndpointLock, 9, 400, "MMC.111070005") },
			lock, meetingapitest.EndpointLock, meetingapi.ErrMeetingNotFound},
		{"an invalid token (401): the caller gets a new one", func(f *meetingapitest.Server) { f.ExpireTokens() },
			lock, meetingapitest.EndpointLock, meetingapi.ErrTokenInvalid},
		{"insufficient permissions (403)", func(f *meetingapitest.Server) { f.FailNext(meetingapitest.EndpointLock, 9, 403, "MMC.111070002") },
			lock, meetingapitest.EndpointLock, meetingapi.ErrForbidden},
		{"a wrong password", nil, func(ctx context.Context, c *meetingapi.Client, _ meetingapi.Token) error {
			_, err := c.ControlToken(ctx, testID, "not-the-password")
			return err
		}, meetingapitest.EndpointToken, meetingapi.ErrWrongPassword},
		{"an unknown vendor code as a 400", func(f *meetingapitest.Server) { f.FailNext(meetingapitest.EndpointLock, 9, 400, "MMC.999999999") },
			lock, meetingapitest.EndpointLock, nil},
		{"a meeting that has ended", func(f *meetingapitest.Server) { f.SetState(string(testID), meetingapitest.Ended) },
			lock, meetingapitest.EndpointLock, meetingapi.ErrMeetingNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sl sleepRecorder
			c, fake := setup(t, sl.option())
			tok := token(t, c)
			fake.ResetCalls()
			if tt.arrange != nil {
				tt.arrange(fake)
			}

			err := tt.call(t.Context(), c, tok)

			var ae *meetingapi.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want an *APIError", err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if n := fake.CallCount(tt.ep); n != 1 {
				t.Errorf("the fake got %d calls, want exactly 1", n)
			}
			if ae.Attempts != 1 || strings.Contains(err.Error(), "attempts") {
				t.Errorf("Attempts = %d, Error() = %q; want 1 attempt, not mentioned", ae.Attempts, err)
			}
			if w := sl.waits(); len(w) != 0 {
				t.Errorf("waited %v before an answer that retrying cannot fix", w)
			}
			if c.BreakerOpen() {
				t.Error("a 4xx opened the breaker")
			}
		})
	}
}

func TestFlowControlWaitsLongerThanServerTrouble(t *testing.T) {
	t.Parallel()
	t.Run("a 429 with Retry-After: 1 waits one second, then retries", func(t *testing.T) {
		t.Parallel()
		var sl sleepRecorder
		c, fake := setup(t, sl.option())
		tok := token(t, c)
		fake.ResetCalls()
		fake.FailNext(meetingapitest.EndpointLock, 1, 429, "100000429") // the fake adds Retry-After: 1

		if err := c.Lock(t.Context(), testID, tok); err != nil {
			t.Fatalf("Lock: %v", err)
		}
		if n := fake.CallCount(meetingapitest.EndpointLock); n != 2 {
			t.Errorf("the fake got %d lock calls, want 2", n)
		}
		if got := sl.waits(); !equalDurations(got, []time.Duration{time.Second}) {
			t.Errorf("waits = %v, want [1s] as Retry-After asked", got)
		}
	})
	t.Run("the flow-control code without Retry-After backs off four times longer", func(t *testing.T) {
		t.Parallel()
		var sl sleepRecorder
		c, fake := setup(t, sl.option())
		tok := token(t, c)
		fake.FailNext(meetingapitest.EndpointLock, 2, 400, "100000429")

		if err := c.Lock(t.Context(), testID, tok); err != nil {
			t.Fatalf("Lock: %v", err)
		}
		if got, want := sl.waits(), []time.Duration{800 * time.Millisecond, 1600 * time.Millisecond}; !equalDurations(got, want) {
			t.Errorf("waits = %v, want %v", got, want)
		}
	})
	t.Run("a huge Retry-After is capped at ten seconds", func(t *testing.T) {
		t.Parallel()
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				w.Header().Set("Retry-After", "3600")
				w.WriteHeader(http.StatusTooManyRequests)
			}
		}))
		t.Cleanup(srv.Close)
		var sl sleepRecorder
		c, err := meetingapi.NewClient(meetingapi.WithBaseURL(srv.URL), sl.option())
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Lock(t.Context(), testID, "0123456789abcdef0123456789abcdef"); err != nil {
			t.Fatalf("Lock: %v", err)
		}
		if got := sl.waits(); !equalDurations(got, []time.Duration{10 * time.Second}) {
			t.Errorf("waits = %v, want [10s]", got)
		}
	})
	t.Run("flow control never opens the breaker", func(t *testing.T) {
		t.Parallel()
		c, fake := setup(t, noRetry, meetingapi.WithBreaker(2, time.Minute))
		tok := token(t, c)
		fake.FailNext(meetingapitest.EndpointLock, 10, 429, "100000429")
		for range 10 {
			if err := c.Lock(t.Context(), testID, tok); !errors.Is(err, meetingapi.ErrFlowControl) {
				t.Fatalf("err = %v, want ErrFlowControl", err)
			}
		}
		if c.BreakerOpen() {
			t.Error("flow control opened the breaker")
		}
	})
}

func TestBackoffGrowsExponentiallyUpToMaxDelay(t *testing.T) {
	t.Parallel()
	c, err := meetingapi.NewClient(
		meetingapi.WithRetry(meetingapi.RetryPolicy{MaxAttempts: 8, BaseDelay: time.Second, MaxDelay: 3 * time.Second}),
		meetingapi.WithJitterForTest(func(max time.Duration) time.Duration { return max }),
	)
	if err != nil {
		t.Fatal(err)
	}
	trouble := &meetingapi.APIError{StatusCode: 503}
	want := []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second, 3 * time.Second}
	for n, w := range want {
		if got := c.Backoff(n, trouble); got != w {
			t.Errorf("backoff before retry %d = %v, want %v", n, got, w)
		}
	}
	if got := c.Backoff(200, trouble); got != 3*time.Second {
		t.Errorf("a huge retry number gives %v, want the 3s cap", got)
	}

	random, _ := meetingapi.NewClient() // the real jitter stays within [0, cap]
	for n := range 10 {
		if got := random.Backoff(n, trouble); got < 0 || got > 3*time.Second {
			t.Errorf("backoff %d = %v, outside [0, 3s]", n, got)
		}
	}
}

func TestExhaustedRetriesReturnTheLastAPIError(t *testing.T) {
	t.Parallel()
	var sl sleepRecorder
	c, fake := setup(t, sl.option())
	tok := token(t, c)
	fake.ResetCalls()
	fake.FailNext(meetingapitest.EndpointLock, 100, 503, "MMC.111072049")

	err := c.Lock(t.Context(), testID, tok)

	var ae *meetingapi.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an *APIError", err)
	}
	if ae.Attempts != 4 || ae.StatusCode != 503 || ae.Code != "MMC.111072049" || ae.RequestID == "" {
		t.Errorf("APIError = %+v, want 4 attempts, 503, MMC.111072049 and a request ID", ae)
	}
	if !errors.Is(err, meetingapi.ErrServerTrouble) || !meetingapi.Retryable(err) {
		t.Error("the final error should still be retryable server trouble")
	}
	if !strings.HasSuffix(err.Error(), " (after 4 attempts)") {
		t.Errorf("Error() = %q, want it to end with the attempts", err)
	}
	if got := meetingapi.HintFor(err); got != meetingapi.Hint("MMC.111072049") {
		t.Errorf("HintFor = %q", got)
	}
	if n := fake.CallCount(meetingapitest.EndpointLock); n != 4 {
		t.Errorf("the fake got %d lock calls, want 4", n)
	}
	if got := len(sl.waits()); got != 3 {
		t.Errorf("waited %d times, want 3 (between 4 attempts)", got)
	}
}

func TestTransportErrorsAreRetriedAndStayRetryable(t *testing.T) {
	t.Parallel()
	hangUp, accepted := hangingUpServer(t)
	closedPort := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		u := "http://" + l.Addr().String()
		l.Close()
		return u
	}()
	tests := []struct {
		name  string
		base  string
		count func() int
	}{
		{"a server that hangs up on every connection", hangUp, func() int { return int(accepted.Load()) }},
		{"a closed port on 127.0.0.1", closedPort, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sl sleepRecorder
			c, err := meetingapi.NewClient(meetingapi.WithBaseURL(tt.base), sl.option(), noBreaker)
			if err != nil {
				t.Fatal(err)
			}

			err = c.Lock(t.Context(), testID, "0123456789abcdef0123456789abcdef")

			if err == nil {
				t.Fatal("got no error")
			}
			if !meetingapi.Retryable(err) {
				t.Errorf("Retryable(%v) = false, want true", err)
			}
			var ae *meetingapi.APIError
			if errors.As(err, &ae) {
				t.Error("a transport error is not an APIError")
			}
			if !strings.HasPrefix(err.Error(), "meetingapi: lock 914083136: ") || !strings.HasSuffix(err.Error(), " (after 4 attempts)") {
				t.Errorf("Error() = %q", err)
			}
			if got := len(sl.waits()); got != 3 {
				t.Errorf("waited %d times, want 3", got)
			}
			if tt.count != nil {
				if n := tt.count(); n != 4 {
					t.Errorf("the server accepted %d connections, want 4", n)
				}
			}
		})
	}
}

// hangingUpServer accepts connections and closes them at once.
func hangingUpServer(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int32
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			conn.Close()
		}
	}()
	return "http://" + l.Addr().String(), &n
}

func TestASlowAttemptIsAbandonedAndRetried(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so the server notices the client hanging up
		if calls.Add(1) == 1 {
			select { // hang until the client gives up on this attempt
			case <-r.Context().Done():
			case <-stop:
			}
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stop) }) // runs first
	c, err := meetingapi.NewClient(meetingapi.WithBaseURL(srv.URL), instant,
		// The first attempt hangs until this timeout; the second must finish
		// within it, on a loaded machine too.
		meetingapi.WithRetry(meetingapi.RetryPolicy{MaxAttempts: 2, AttemptTimeout: time.Second}))
	if err != nil {
		t.Fatal(err)
	}

	if err := c.Lock(t.Context(), testID, "0123456789abcdef0123456789abcdef"); err != nil {
		t.Fatalf("Lock: %v", err)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("the server got %d calls, want 2", n)
	}
}

func TestTheCallersContextBoundsTheRetries(t *testing.T) {
	t.Parallel()
	slow := meetingapi.WithRetry(meetingapi.RetryPolicy{MaxAttempts: 4, BaseDelay: 10 * time.Second, MaxDelay: 10 * time.Second, AttemptTimeout: 5 * time.Second})
	alwaysMax := meetingapi.WithJitterForTest(func(max time.Duration) time.Duration { return max })
	t.Run("a deadline shorter than the backoff returns the vendor's error at once", func(t *testing.T) {
		t.Parallel()
		c, fake := setup(t, slow, alwaysMax) // the real sleep
		tok := token(t, c)
		fake.FailNext(meetingapitest.EndpointLock, 100, 503, "MMC.111072049")
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()

		start := time.Now()
		err := c.Lock(ctx, testID, tok)

		if d := time.Since(start); d > time.Second {
			t.Errorf("the call took %v; it should not wait for a backoff past the deadline", d)
		}
		var ae *meetingapi.APIError
		if !errors.As(err, &ae) || ae.Code != "MMC.111072049" || ae.Attempts != 1 {
			t.Fatalf("err = %v, want the vendor's MMC.111072049 after 1 attempt", err)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v; the vendor's error, not the deadline, should show", err)
		}
	})
	t.Run("a cancellation during the backoff returns promptly and is not retryable", func(t *testing.T) {
		t.Parallel()
		c, fake := setup(t, slow, alwaysMax)
		tok := token(t, c)
		fake.FailNext(meetingapitest.EndpointLock, 100, 503, "MMC.111072049")
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)

		start := time.Now()
		err := c.Lock(ctx, testID, tok)

		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("the call took %v after cancellation", d)
		}
		if !errors.Is(err, context.Canceled) || meetingapi.Retryable(err) {
			t.Errorf("err = %v, want a non-retryable cancellation", err)
		}
		var ae *meetingapi.APIError
		if !errors.As(err, &ae) || ae.Code != "MMC.111072049" {
			t.Errorf("err = %v, want the last vendor error kept", err)
		}
		if c.BreakerOpen() {
			t.Error("the breaker opened")
		}
	})
	t.Run("a deadline during a slow answer still reads as a timeout", func(t *testing.T) {
		t.Parallel()
		c, fake := setup(t)
		tok := token(t, c)
		fake.SetLatency(time.Minute)
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()

		err := c.Lock(ctx, testID, tok)

		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want a deadline error", err)
		}
		if n := fake.CallCount(meetingapitest.EndpointLock); n != 1 {
			t.Errorf("the fake got %d lock calls, want 1", n)
		}
	})
}

func TestNoWaitOnTheHappyPath(t *testing.T) {
	t.Parallel()
	var sl sleepRecorder
	c, _ := setup(t, sl.option())
	tok := token(t, c)
	for i := range 20 {
		if err := c.SetLock(t.Context(), testID, tok, i%2 == 0); err != nil {
			t.Fatal(err)
		}
	}
	if w := sl.waits(); len(w) != 0 {
		t.Errorf("waited %v on success", w)
	}
}

func TestRetryAndBreakerOptionsAreChecked(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opt  meetingapi.Option
		ok   bool
	}{
		{"one attempt disables retries", meetingapi.WithRetry(meetingapi.RetryPolicy{MaxAttempts: 1}), true},
		{"zero attempts", meetingapi.WithRetry(meetingapi.RetryPolicy{}), false},
		{"a negative base delay", meetingapi.WithRetry(meetingapi.RetryPolicy{MaxAttempts: 2, BaseDelay: -1}), false},
		{"a negative attempt timeout", meetingapi.WithRetry(meetingapi.RetryPolicy{MaxAttempts: 2, AttemptTimeout: -1}), false},
		{"a max delay below the base", meetingapi.WithRetry(meetingapi.RetryPolicy{MaxAttempts: 2, BaseDelay: time.Second, MaxDelay: time.Millisecond}), false},
		{"a zero threshold disables the breaker", meetingapi.WithBreaker(0, 0), true},
		{"a negative threshold", meetingapi.WithBreaker(-1, time.Second), false},
		{"a breaker without cooldown", meetingapi.WithBreaker(3, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := meetingapi.NewClient(tt.opt)
			if (err == nil) != tt.ok {
				t.Errorf("NewClient err = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// syncBuffer is a bytes.Buffer safe for a logger and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
