package commands_test

import (
	"sync"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestKeepAliveRefreshesTokensOfMeetingsInUse(t *testing.T) {
	t.Parallel()
	clock := &manualClock{t: time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)}
	f := newFixtureAt(t, clock.Now)
	svc, fake, st := f.svc, f.fake, f.store

	f.run(t, general, "U1", "bind 914083136 "+password)
	f.run(t, general, "U1", "lock")
	if n := svc.KeepTokensAlive(t.Context(), 5*time.Minute); n != 0 {
		t.Fatalf("refreshed %d tokens that are 30 minutes from expiry", n)
	}

	clock.Advance(27 * time.Minute)
	fake.ResetCalls()
	if n := svc.KeepTokensAlive(t.Context(), 5*time.Minute); n != 1 {
		t.Fatalf("refreshed %d tokens, want 1", n)
	}
	calls := fake.Calls()
	if len(calls) != 1 || calls[0].Header.Get("X-Conference-Authorization") == "" || calls[0].Header.Get("X-Password") != "" {
		t.Fatalf("keep-alive calls = %+v", calls)
	}
	if _, exp, err := st.Token(t.Context(), general, meetingID); err != nil || exp.Sub(clock.Now()) < 29*time.Minute {
		t.Fatalf("the refreshed token expires at %v (now %v), %v", exp, clock.Now(), err)
	}

	// The next command uses the refreshed token: no fetch with the password.
	clock.Advance(10 * time.Minute)
	fake.ResetCalls()
	wantReply(t, f.run(t, general, "U1", "unlock"), commands.InChannel, "unlocked by <@U1>")
	if n := fake.CallCount(meetingapitest.EndpointToken); n != 0 {
		t.Fatalf("%d token fetches after a keep-alive", n)
	}

	// A meeting nobody has controlled for 30 minutes is left alone.
	clock.Advance(31 * time.Minute)
	fake.ResetCalls()
	if n := svc.KeepTokensAlive(t.Context(), time.Hour); n != 0 || len(fake.Calls()) != 0 {
		t.Fatalf("kept an idle meeting's token alive (%d, %d calls)", n, len(fake.Calls()))
	}
}

func TestKeepAliveDropsATokenTheAPIRejects(t *testing.T) {
	t.Parallel()
	clock := &manualClock{t: time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)}
	f := newFixtureAt(t, clock.Now)
	svc, fake, st := f.svc, f.fake, f.store
	f.run(t, general, "U1", "bind 914083136 "+password)
	f.run(t, general, "U1", "lock")
	clock.Advance(28 * time.Minute)
	fake.ExpireTokens()
	if n := svc.KeepTokensAlive(t.Context(), 5*time.Minute); n != 0 {
		t.Fatalf("refreshed %d", n)
	}
	if _, _, err := st.Token(t.Context(), general, meetingID); err == nil {
		t.Fatal("a rejected token is still cached")
	}
	wantReply(t, f.run(t, general, "U1", "unlock"), commands.InChannel, "unlocked by <@U1>")
}
