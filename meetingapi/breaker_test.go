package meetingapi_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

// breakerSetup starts the fake with a client whose breaker opens after
// threshold failures for a minute, on a clock the test moves.
func breakerSetup(t *testing.T, threshold int, opts ...meetingapi.Option) (*meetingapi.Client, *meetingapitest.Server, *fakeClock, meetingapi.Token) {
	t.Helper()
	clock := &fakeClock{t: fixedNow}
	c, fake := setup(t, append([]meetingapi.Option{
		noRetry, meetingapi.WithBreaker(threshold, time.Minute), meetingapi.WithClockForTest(clock.now),
	}, opts...)...)
	tok := token(t, c)
	fake.ResetCalls()
	return c, fake, clock, tok
}

func TestTheBreakerOpensAfterConsecutiveFailuresAndFailsFast(t *testing.T) {
	t.Parallel()
	c, fake, clock, tok := breakerSetup(t, 3)
	fake.FailNext(meetingapitest.EndpointLock, 3, 503, "MMC.999999999")
	for i := range 3 {
		if err := c.Lock(t.Context(), testID, tok); !errors.Is(err, meetingapi.ErrServerTrouble) {
			t.Fatalf("call %d: err = %v, want ErrServerTrouble", i, err)
		}
	}
	if !c.BreakerOpen() {
		t.Fatal("the breaker is closed after 3 failures")
	}

	err := c.Lock(t.Context(), testID, tok)

	if !errors.Is(err, meetingapi.ErrCircuitOpen) {
		t.Fatalf("err = %v, want ErrCircuitOpen", err)
	}
	if n := fake.CallCount(meetingapitest.EndpointLock); n != 3 {
		t.Errorf("the fake got %d lock calls, want 3: an open circuit makes no call", n)
	}
	if meetingapi.Retryable(err) {
		t.Error("ErrCircuitOpen is retryable")
	}
	for _, s := range allSentinels {
		if errors.Is(err, s) {
			t.Errorf("ErrCircuitOpen also matches %v", s)
		}
	}
	want := "meetingapi: lock 914083136: the meeting service has been failing (3 times in a row); not calling it again before 10:12:12 UTC"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err, want)
	}
	if got := meetingapi.HintFor(err); got != "the meeting service has been failing; meetingbot will try again shortly." {
		t.Errorf("HintFor = %q", got)
	}
	var coe *meetingapi.CircuitOpenError
	if !errors.As(err, &coe) || !coe.Until.Equal(fixedNow.Add(time.Minute)) {
		t.Errorf("err = %#v, want a CircuitOpenError until %v", err, fixedNow.Add(time.Minute))
	}
	_, err = c.ControlToken(t.Context(), testID, testPassword)
	if !errors.Is(err, meetingapi.ErrCircuitOpen) || fake.CallCount(meetingapitest.EndpointToken) != 0 {
		t.Errorf("err = %v; the token GET shares the circuit, it is the same host", err)
	}

	clock.advance(59 * time.Second)
	if err := c.Lock(t.Context(), testID, tok); !errors.Is(err, meetingapi.ErrCircuitOpen) {
		t.Errorf("err = %v before the cooldown ends, want ErrCircuitOpen", err)
	}

	clock.advance(time.Second)
	if err := c.Lock(t.Context(), testID, tok); err != nil {
		t.Fatalf("the trial call after the cooldown: %v", err)
	}
	if n := fake.CallCount(meetingapitest.EndpointLock); n != 4 {
		t.Errorf("the fake got %d lock calls, want 4 (the trial went through)", n)
	}
	if c.BreakerOpen() {
		t.Error("a successful trial did not close the breaker")
	}
	if err := c.Unlock(t.Context(), testID, tok); err != nil {
		t.Errorf("after closing: %v", err)
	}
}

func TestAFailedTrialOpensTheBreakerAgain(t *testing.T) {
	t.Parallel()
	c, fake, clock, tok := breakerSetup(t, 2)
	fake.FailNext(meetingapitest.EndpointLock, 3, 500, "MMC.999999999")
	c.Lock(t.Context(), testID, tok)
	c.Lock(t.Context(), testID, tok)
	clock.advance(time.Minute)

	err := c.Lock(t.Context(), testID, tok)

	if !errors.Is(err, meetingapi.ErrServerTrouble) {
		t.Fatalf("the trial: err = %v, want the server's error", err)
	}
	if !c.BreakerOpen() {
		t.Fatal("a failed trial left the breaker closed")
	}
	if err := c.Lock(t.Context(), testID, tok); !errors.Is(err, meetingapi.ErrCircuitOpen) {
		t.Errorf("err = %v after a failed trial, want ErrCircuitOpen", err)
	}
	if n := fake.CallCount(meetingapitest.EndpointLock); n != 3 {
		t.Errorf("the fake got %d lock calls, want 3", n)
	}
	clock.advance(time.Minute)
	if err := c.Lock(t.Context(), testID, tok); err != nil || c.BreakerOpen() {
		t.Errorf("the second trial: err = %v, open = %v; want success and closed", err, c.BreakerOpen())
	}
}

func TestAnswersShowingTheServiceIsUpDoNotTripTheBreaker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		status int
		code   string
	}{
		{"a meeting that does not exist", 400, "MMC.111070005"},
		{"a wrong password", 400, "MMC.111072065"},
		{"an invalid token", 401, "MMC.111070004"},
		{"insufficient permissions", 403, "MMC.111070002"},
		{"flow control", 429, "100000429"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, fake, _, tok := breakerSetup(t, 2)
			fake.FailNext(meetingapitest.EndpointLock, 10, tt.status, tt.code)
			for i := range 10 {
				err := c.Lock(t.Context(), testID, tok)
				if errors.Is(err, meetingapi.ErrCircuitOpen) {
					t.Fatalf("call %d: the breaker opened on HTTP %d %s", i, tt.status, tt.code)
				}
			}
			if n := fake.CallCount(meetingapitest.EndpointLock); n != 10 {
				t.Errorf("the fake got %d calls, want 10", n)
			}
		})
	}
	t.Run("an answer from a working service resets the count", func(t *testing.T) {
		t.Parallel()
		c, fake, _, tok := breakerSetup(t, 2)
		for range 5 {
			fake.FailNext(meetingapitest.EndpointLock, 1, 503, "MMC.999999999")
			c.Lock(t.Context(), testID, tok)
			fake.FailNext(meetingapitest.EndpointLock, 1, 400, "MMC.111070005")
			c.Lock(t.Context(), testID, tok)
		}
		if c.BreakerOpen() {
			t.Error("failures that were not consecutive opened the breaker")
		}
	})
	t.Run("a zero threshold disables the breaker", func(t *testing.T) {
		t.Parallel()
		c, fake, _, tok := breakerSetup(t, 0)
		fake.FailNext(meetingapitest.EndpointLock, 20, 503, "MMC.999999999")
		for range 20 {
			if err := c.Lock(t.Context(), testID, tok); !errors.Is(err, meetingapi.ErrServerTrouble) {
				t.Fatalf("err = %v, want ErrServerTrouble", err)
			}
		}
		if c.BreakerOpen() {
			t.Error("BreakerOpen = true with the breaker disabled")
		}
	})
}

func TestTheBreakerStopsRetriesMidCall(t *testing.T) {
	t.Parallel()
	var sl sleepRecorder
	c, fake := setup(t, sl.option()) // default policy: 4 attempts, breaker after 5
	tok := token(t, c)
	fake.ResetCalls()
	fake.FailNext(meetingapitest.EndpointLock, 100, 503, "MMC.999999999")

	first := c.Lock(t.Context(), testID, tok)
	second := c.Lock(t.Context(), testID, tok)
	third := c.Lock(t.Context(), testID, tok)

	var ae *meetingapi.APIError
	if !errors.As(first, &ae) || ae.Attempts != 4 {
		t.Errorf("first = %v, want 4 attempts", first)
	}
	if !errors.As(second, &ae) || ae.Attempts != 1 || !errors.Is(second, meetingapi.ErrServerTrouble) {
		t.Errorf("second = %v, want the server's error after the 1 attempt that opened the circuit", second)
	}
	if !errors.Is(third, meetingapi.ErrCircuitOpen) {
		t.Errorf("third = %v, want ErrCircuitOpen", third)
	}
	if n := fake.CallCount(meetingapitest.EndpointLock); n != 5 {
		t.Errorf("the fake got %d calls, want 5", n)
	}
	if got := len(sl.waits()); got != 3 {
		t.Errorf("waited %d times, want 3: no wait once the circuit is open", got)
	}
}

func TestHalfOpenLetsOneTrialThroughAtATime(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := hits.Add(1); {
		case n <= 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		case n == 3: // the trial: hold it until the test says so
			entered <- struct{}{}
			<-release
		default:
			t.Errorf("request %d reached the server while the trial was in flight", n)
		}
	}))
	t.Cleanup(srv.Close)
	clock := &fakeClock{t: fixedNow}
	c, err := meetingapi.NewClient(meetingapi.WithBaseURL(srv.URL), noRetry,
		meetingapi.WithBreaker(2, time.Minute), meetingapi.WithClockForTest(clock.now))
	if err != nil {
		t.Fatal(err)
	}
	const tok = meetingapi.Token("0123456789abcdef0123456789abcdef")
	c.Lock(t.Context(), testID, tok)
	c.Lock(t.Context(), testID, tok)
	clock.advance(time.Minute)

	trial := make(chan error, 1)
	go func() { trial <- c.Lock(t.Context(), testID, tok) }()
	<-entered
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			err := c.Lock(t.Context(), testID, tok)
			if !errors.Is(err, meetingapi.ErrCircuitOpen) || !strings.Contains(err.Error(), "trial call is under way") {
				t.Errorf("err = %v during the trial, want ErrCircuitOpen", err)
			}
		})
	}
	wg.Wait()
	close(release)

	if err := <-trial; err != nil {
		t.Fatalf("the trial: %v", err)
	}
	if c.BreakerOpen() {
		t.Error("the breaker is still open after a successful trial")
	}
}

func TestATrialTheCallerAbandonsLetsTheNextCallTry(t *testing.T) {
	t.Parallel()
	c, fake, clock, tok := breakerSetup(t, 1)
	fake.FailNext(meetingapitest.EndpointLock, 1, 503, "MMC.999999999")
	c.Lock(t.Context(), testID, tok)
	clock.advance(time.Minute)
	fake.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()

	if err := c.Lock(ctx, testID, tok); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the abandoned trial: err = %v", err)
	}
	fake.SetLatency(0)
	if err := c.Lock(t.Context(), testID, tok); err != nil {
		t.Errorf("the next call should be the trial: %v", err)
	}
	if c.BreakerOpen() {
		t.Error("the breaker is still open")
	}
}

func TestTheBreakerIsSafeUnderConcurrency(t *testing.T) {
	t.Parallel()
	const threshold, workers = 5, 32
	c, fake, clock, tok := breakerSetup(t, threshold, instant)
	fake.FailNext(meetingapitest.EndpointLock, 1000, 503, "MMC.999999999")

	var wg sync.WaitGroup
	var open, trouble atomic.Int32
	for range workers {
		wg.Go(func() {
			for range 10 {
				err := c.Lock(t.Context(), testID, tok)
				switch {
				case errors.Is(err, meetingapi.ErrCircuitOpen):
					open.Add(1)
				case errors.Is(err, meetingapi.ErrServerTrouble):
					trouble.Add(1)
				default:
					t.Errorf("err = %v", err)
				}
				_ = c.BreakerOpen()
			}
		})
	}
	wg.Wait()

	if !c.BreakerOpen() {
		t.Error("the breaker is closed after a storm of failures")
	}
	// Only calls already in flight when it opened can pass the threshold.
	if n := fake.CallCount(meetingapitest.EndpointLock); n < threshold || n > threshold+workers-1 {
		t.Errorf("the fake got %d calls, want between %d and %d", n, threshold, threshold+workers-1)
	}
	if int(open.Load()+trouble.Load()) != workers*10 || open.Load() == 0 {
		t.Errorf("open %d, trouble %d", open.Load(), trouble.Load())
	}

	fake.FailNext(meetingapitest.EndpointLock, 0, 0, "")
	clock.advance(time.Minute)
	for range workers {
		wg.Go(func() { c.Lock(t.Context(), testID, tok) })
	}
	wg.Wait()
	if c.BreakerOpen() {
		t.Error("the breaker did not close after the service recovered")
	}
}
