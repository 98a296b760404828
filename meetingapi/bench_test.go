package meetingapi_test

import (
	"testing"

	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

// BenchmarkLockUnlock measures one lock or unlock through the client against
// the fake over loopback, connection reused: with the defaults (retries with
// a per-attempt timeout, circuit breaker) and with both off, to show what
// they cost on the happy path.
func BenchmarkLockUnlock(b *testing.B) {
	b.Run("defaults", func(b *testing.B) { benchLockUnlock(b) })
	b.Run("no retry or breaker", func(b *testing.B) {
		benchLockUnlock(b, meetingapi.WithRetry(meetingapi.RetryPolicy{MaxAttempts: 1}), meetingapi.WithBreaker(0, 0))
	})
}

func benchLockUnlock(b *testing.B, opts ...meetingapi.Option) {
	fake := meetingapitest.NewServer(meetingapitest.WithBasePath(basePath))
	defer fake.Close()
	fake.AddMeeting(string(testID), testPassword.Reveal(), meetingapitest.InProgress)
	c, err := meetingapi.NewClient(append([]meetingapi.Option{meetingapi.WithBaseURL(fake.URL)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	ct, err := c.ControlToken(b.Context(), testID, testPassword)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := c.SetLock(b.Context(), testID, ct.Token, i%2 == 0); err != nil {
			b.Fatal(err)
		}
		i++
		if i%10000 == 0 {
			fake.ResetCalls() // keep the fake's call log from growing without bound
		}
	}
}
