package commands_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

// Concurrent commands for one meeting share one token fetch: they are
// serialised on the meeting, and each finds the token the first one cached.
func TestConcurrentCommandsShareOneTokenFetch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.join(t, meetingapitest.Person{Name: "Alice"})
	if err := f.store.DropToken(t.Context(), general, meetingID); err != nil {
		t.Fatal(err)
	}
	f.fake.ResetCalls()
	f.fake.SetLatency(20 * time.Millisecond)
	texts := []string{"lock", "unlock", "who", "mute", "unmute", "restrict invited", "restrict everyone", "extend 5", "remove nobody-here"}
	replies := make([]commands.Reply, len(texts))
	var wg sync.WaitGroup
	for i, text := range texts {
		wg.Go(func() { replies[i] = f.run(t, general, "U1", text) })
	}
	wg.Wait()
	for i, r := range replies {
		if r.Outcome != commands.OutcomeOK {
			t.Errorf("%q: %q %q", texts[i], r.Outcome, r.PlainText())
		}
	}
	if n := f.fake.CallCount(meetingapitest.EndpointToken); n != 1 {
		t.Fatalf("%d token fetches for %d concurrent commands, want 1", n, len(texts))
	}
}

// Commands queued on a meeting whose token has expired: the first fetches
// a fresh one, and the others use it rather than fetching their own.
func TestQueuedCommandsShareTheTokenFetchedAfterAnExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	wantReply(t, f.run(t, general, "U1", "lock"), commands.InChannel, "locked") // the token is cached
	f.fake.ExpireTokens()
	f.fake.ResetCalls()
	arrived, release := f.proxy.hold(func(r *http.Request) bool { return is(r, meetingapitest.LockPath, meetingID) })
	texts := []string{"unlock", "mute", "unmute", "extend 5"}
	replies := make([]commands.Reply, len(texts))
	progress := make([]*commands.Progress, len(texts))
	for i := range progress {
		progress[i] = &commands.Progress{}
	}
	var wg sync.WaitGroup
	run := func(i int) {
		cmd, err := commands.Parse(texts[i])
		if err != nil {
			t.Error(err)
			return
		}
		replies[i] = f.svc.Execute(context.Background(), commands.Request{Channel: general, UserID: "U1", Command: cmd, Progress: progress[i]})
	}
	wg.Go(func() { run(0) })
	<-arrived // the unlock holds the meeting, with the expired token
	for i := 1; i < len(texts); i++ {
		wg.Go(func() { run(i) })
	}
	eventually(t, "the others to queue", func() bool {
		for _, p := range progress[1:] {
			if p.Phase() != commands.PhaseQueued {
				return false
			}
		}
		return true
	})
	release()
	wg.Wait()
	for i, r := range replies {
		if r.Outcome != commands.OutcomeOK {
			t.Errorf("%q: %q %q", texts[i], r.Outcome, r.PlainText())
		}
	}
	if n := f.fake.CallCount(meetingapitest.EndpointToken); n != 1 {
		t.Fatalf("%d token fetches after one expiry, want 1", n)
	}
}

func TestAnExpiredTokenIsRefetchedOnceAndTheCallSucceeds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.fake.ExpireTokens()
	f.fake.ResetCalls()
	wantReply(t, f.run(t, general, "U1", "lock"), commands.InChannel, "locked by <@U1>")
	if tok, lock := f.fake.CallCount(meetingapitest.EndpointToken), f.fake.CallCount(meetingapitest.EndpointLock); tok != 1 || lock != 2 {
		t.Fatalf("calls: %d token, %d lock; want 1 and 2 (a 401, then the retry)", tok, lock)
	}
	calls := f.fake.Calls()
	if calls[1].Endpoint != meetingapitest.EndpointToken || calls[1].Header.Get("X-Password") != password {
		t.Fatalf("the refetch is %+v", calls[1])
	}
	// The fresh token was cached: the next command fetches none.
	f.fake.ResetCalls()
	wantReply(t, f.run(t, general, "U1", "unlock"), commands.InChannel, "unlocked by <@U1>")
	if n := f.fake.CallCount(meetingapitest.EndpointToken); n != 0 {
		t.Fatalf("%d token fetches after the refetch", n)
	}
}

func TestATokenThatKeepsFailingIsNotRetriedForever(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.fake.ResetCalls()
	f.fake.FailNext(meetingapitest.EndpointLock, 5, 401, "MMC.111070004")
	r := f.run(t, general, "U1", "lock")
	wantOutcome(t, r, commands.OutcomeAPIError)
	wantReply(t, r, commands.InChannel, "(MMC.111070004, HTTP 401).")
	if lock, tok := f.fake.CallCount(meetingapitest.EndpointLock), f.fake.CallCount(meetingapitest.EndpointToken); lock != 2 || tok != 1 {
		t.Fatalf("%d lock calls and %d token fetches, want 2 and 1", lock, tok)
	}
	if f.snapshot(t, meetingID).Locked {
		t.Fatal("locked although every call failed")
	}
}

func TestKeepAliveRefreshesTokensOfMeetingsInUse(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.run(t, general, "U1", "lock")
	if n := f.svc.KeepTokensAlive(t.Context(), 5*time.Minute); n != 0 {
		t.Fatalf("refreshed %d tokens that are 30 minutes from expiry", n)
	}

	f.clock.Advance(27 * time.Minute)
	f.fake.ResetCalls()
	if n := f.svc.KeepTokensAlive(t.Context(), 5*time.Minute); n != 1 {
		t.Fatalf("refreshed %d tokens, want 1", n)
	}
	calls := f.fake.Calls()
	if len(calls) != 1 || calls[0].Header.Get("X-Conference-Authorization") == "" || calls[0].Header.Get("X-Password") != "" {
		t.Fatalf("keep-alive calls = %+v", calls)
	}
	if _, exp, err := f.store.Token(t.Context(), general, meetingID); err != nil || exp.Sub(f.clock.Now()) < 29*time.Minute {
		t.Fatalf("the refreshed token expires at %v (now %v), %v", exp, f.clock.Now(), err)
	}

	// The next command uses the refreshed token: no fetch with the password.
	f.clock.Advance(10 * time.Minute)
	f.fake.ResetCalls()
	wantReply(t, f.run(t, general, "U1", "unlock"), commands.InChannel, "unlocked by <@U1>")
	if n := f.fake.CallCount(meetingapitest.EndpointToken); n != 0 {
		t.Fatalf("%d token fetches after a keep-alive", n)
	}

	// A meeting nobody has controlled for 30 minutes is left alone.
	f.clock.Advance(31 * time.Minute)
	f.fake.ResetCalls()
	if n := f.svc.KeepTokensAlive(t.Context(), time.Hour); n != 0 || len(f.fake.Calls()) != 0 {
		t.Fatalf("kept an idle meeting's token alive (%d, %d calls)", n, len(f.fake.Calls()))
	}
}

func TestKeepAliveDropsATokenTheAPIRejects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.run(t, general, "U1", "lock")
	f.clock.Advance(28 * time.Minute)
	f.fake.ExpireTokens()
	if n := f.svc.KeepTokensAlive(t.Context(), 5*time.Minute); n != 0 {
		t.Fatalf("refreshed %d", n)
	}
	if _, _, err := f.store.Token(t.Context(), general, meetingID); err == nil {
		t.Fatal("a rejected token is still cached")
	}
	f.fake.ResetCalls()
	wantReply(t, f.run(t, general, "U1", "unlock"), commands.InChannel, "unlocked by <@U1>")
	if n := f.fake.CallCount(meetingapitest.EndpointToken); n != 1 {
		t.Fatalf("%d token fetches after the drop, want 1", n)
	}
}

// WatchToken hands the join-alert watch a token with the address of the
// meeting's event socket: the cached one kept alive, or a new one.
func TestWatchTokenComesWithTheEventSocketAddress(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	wsURL := "ws://" + strings.TrimPrefix(f.fake.URL, "http://")

	f.fake.ResetCalls()
	ct, err := f.svc.WatchToken(t.Context(), general, meetingID, "")
	if err != nil {
		t.Fatal(err)
	}
	if ct.WSURL != wsURL || ct.Token == "" || !ct.ExpiresAt.After(f.clock.Now()) {
		t.Fatalf("WatchToken = %+v, want the socket at %s", ct, wsURL)
	}
	calls := f.fake.Calls()
	if len(calls) != 1 || calls[0].Header.Get("X-Conference-Authorization") == "" || calls[0].Header.Get("X-Password") != "" {
		t.Fatalf("WatchToken with a cached token did %+v; want one keep-alive", calls)
	}
	if cached, _, err := f.store.Token(t.Context(), general, meetingID); err != nil || cached != ct.Token {
		t.Fatal("the kept-alive token was not cached")
	}

	// A token the socket rejected is never handed out again: a new one is
	// fetched with the password.
	f.fake.ResetCalls()
	again, err := f.svc.WatchToken(t.Context(), general, meetingID, ct.Token)
	if err != nil {
		t.Fatal(err)
	}
	if again.Token == ct.Token || again.WSURL != wsURL {
		t.Fatalf("WatchToken after a rejection = %+v", again)
	}
	if calls := f.fake.Calls(); len(calls) != 1 || calls[0].Header.Get("X-Password") != password {
		t.Fatalf("WatchToken after a rejection did %+v; want a fetch with the password", calls)
	}

	// The meeting service no longer accepts the cached token: a fresh one.
	f.fake.ExpireTokens()
	fresh, err := f.svc.WatchToken(t.Context(), general, meetingID, "")
	if err != nil || fresh.Token == again.Token || fresh.WSURL != wsURL {
		t.Fatalf("WatchToken after expiry = %+v, %v", fresh, err)
	}
	// A meeting that is not bound here has no token to give.
	if _, err := f.svc.WatchToken(t.Context(), random, meetingID, ""); err == nil {
		t.Fatal("WatchToken for a channel where the meeting is not bound succeeded")
	}
}
