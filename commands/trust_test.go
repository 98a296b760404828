package commands_test

// Issue 8, "trust under pressure": each test here failed on the code before
// the store reshape (commit 9f26faf).

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
)

// Item 1: a controller revoked while their bind waits for the password
// check is not made a controller again, and the channel's default meeting
// does not move.
func TestABindByAControllerRevokedMeanwhileStoresNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	wantReply(t, f.run(t, general, "U1", "grant <@U2>"), commands.InChannel, "<@U2> can now control")

	arrived, release := f.proxy.hold(func(r *http.Request) bool { return is(r, meetingapitest.TokenPath, otherID) })
	done := make(chan commands.Reply, 1)
	go func() { done <- f.run(t, general, "U2", "bind "+otherID+" "+otherPassword) }()
	<-arrived // U2 passed the permission check; the password check is under way
	wantReply(t, f.run(t, general, "U1", "revoke <@U2>"), commands.InChannel, "<@U2> can no longer control")
	release()
	r := <-done

	wantOutcome(t, r, commands.OutcomeRefused)
	if r.Visibility != commands.Ephemeral || r.Text != ":no_entry: You are no longer one of this channel's controllers, so nothing was stored." {
		t.Fatalf("bind reply = %v %q", r.Visibility, r.PlainText())
	}
	ms, err := f.store.Meetings(t.Context(), general)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].ConferenceID != meetingID || !ms[0].Default {
		t.Fatalf("the channel's meetings are now %+v", ms)
	}
	ctrls, err := f.store.Controllers(t.Context(), general)
	if err != nil || len(ctrls) != 1 || ctrls[0].UserID != "U1" {
		t.Fatalf("controllers = %+v, %v", ctrls, err)
	}
	if recs := f.history(t, general); recs[0].UserID != "U2" || recs[0].Action != "bind" || recs[0].Outcome != store.OutcomeRefused {
		t.Fatalf("newest audit record %+v", recs[0])
	}
	// And the default is still the meeting U1 bound.
	wantReply(t, f.run(t, general, "U1", "lock"), commands.InChannel, "Meeting 914083136 locked by <@U1>.")
	wantReply(t, f.run(t, general, "U2", "unlock"), commands.Ephemeral, "Only this channel's controllers can unlock meeting 914083136")
}

// Item 2: the lock state belongs to the meeting, whichever channel set it.
func TestTheLockStateBelongsToTheMeetingNotTheChannel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.bind(t, random, "U2")

	wantReply(t, f.run(t, general, "U1", "lock"), commands.InChannel, "locked by <@U1>")
	f.clock.Advance(time.Minute)
	wantReply(t, f.run(t, random, "U2", "unlock"), commands.InChannel, "unlocked by <@U2>")

	st := f.status(t, general, "U1")
	if !strings.Contains(st, "Lock state: unlocked by <@U2> at 2026-11-26 14:01 UTC (set through meetingbot).") {
		t.Fatalf("#a's status after #b unlocked: %q", st)
	}
	// #a's Lock button (on the unlock outcome posted there earlier, or any
	// other) is sent, not refused as stale.
	f.fake.ResetCalls()
	r := f.click(t, general, "U1", commands.Action{ID: commands.ActionLock, Value: meetingID})
	wantReply(t, r, commands.InChannel, "locked by <@U1>")
	if !f.snapshot(t, meetingID).Locked || f.fake.CallCount(meetingapitest.EndpointLock) != 1 {
		t.Fatal("the Lock button in #a did not lock the meeting")
	}
}

// Item 2: a click is refused as stale only when the bot really knows the
// meeting is already in that state: the meeting's own event socket says
// so, live. Otherwise it is sent (lock is idempotent) and the reply says
// it already was.
func TestALockClickIsRefusedAsStaleOnlyWhenTheMeetingServiceSaysSo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		watches bool
		live    bool
		source  string
		stale   bool
	}{
		{"no watch, set by the bot", false, false, store.SourceBot, false},
		{"no watch, reported by the meeting earlier", false, false, store.SourceMeeting, false},
		{"a watch that is not live", true, false, store.SourceMeeting, false},
		// While a watch is live every change is recorded, the meeting's
		// own reports and meetingbot's calls alike: the state is known.
		{"a live watch, and the bot set it", true, true, store.SourceBot, true},
		{"a live watch and the meeting reported it", true, true, store.SourceMeeting, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opts []option
			w := &watchStub{}
			if tt.watches {
				w.setLive(meetingID, tt.live)
				opts = append(opts, withWatches(w))
			}
			f := newFixture(t, opts...)
			f.bind(t, general, "U1")
			wantReply(t, f.run(t, general, "U1", "lock"), commands.InChannel, "locked by <@U1>")
			if tt.source == store.SourceMeeting {
				locked := domain.LockLocked
				if err := f.store.Record(t.Context(), store.AuditRecord{At: start, Channel: general, Action: "event", ConferenceID: meetingID, Outcome: store.OutcomeOK},
					&store.StateChange{ConferenceID: meetingID, At: start, Lock: &locked, LockSource: store.SourceMeeting}); err != nil {
					t.Fatal(err)
				}
			}
			f.fake.ResetCalls()
			r := f.click(t, general, "U1", commands.Action{ID: commands.ActionLock, Value: meetingID})
			calls := f.fake.CallCount(meetingapitest.EndpointLock)
			if tt.stale {
				wantOutcome(t, r, commands.OutcomeRefused)
				want := ":information_source: Nothing to do for meeting 914083136. It already was: the meeting service reported it locked at 14:00 UTC."
				if tt.source == store.SourceBot {
					want = ":information_source: Nothing to do for meeting 914083136. It already was: <@U1> locked it at 14:00 UTC."
				}
				if r.Visibility != commands.Ephemeral || r.Text != want {
					t.Fatalf("stale click = %v %q", r.Visibility, r.PlainText())
				}
				if calls != 0 {
					t.Fatalf("a stale click made %d lock calls", calls)
				}
				// The other button still works.
				wantReply(t, f.click(t, general, "U1", commands.Action{ID: commands.ActionUnlock, Value: meetingID}), commands.InChannel, "unlocked by <@U1>")
				return
			}
			wantOutcome(t, r, commands.OutcomeOK)
			wantReply(t, r, commands.InChannel, "Meeting 914083136 locked by <@U1>.")
			wantReply(t, r, commands.InChannel, "It already was:")
			if calls != 1 {
				t.Fatalf("the click made %d lock calls, want 1", calls)
			}
		})
	}
}

// Item 2: two quick clicks (lock, then unlock) reach the meeting service
// one after the other, and the state recorded is the last one's.
func TestQuickLockThenUnlockAreSentAndRecordedInOrder(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")

	arrived, release := f.proxy.hold(func(r *http.Request) bool { return is(r, meetingapitest.LockPath, meetingID) })
	var wg sync.WaitGroup
	var lock, unlock commands.Reply
	wg.Go(func() { lock = f.click(t, general, "U1", commands.Action{ID: commands.ActionLock, Value: meetingID}) })
	<-arrived
	progress := &commands.Progress{}
	wg.Go(func() {
		cmd, _ := commands.ButtonCommand(commands.ActionUnlock, meetingID)
		unlock = f.svc.Execute(context.Background(), commands.Request{Channel: general, UserID: "U1", Command: cmd, FromButton: true, Progress: progress})
	})
	eventually(t, "the unlock to queue behind the lock", func() bool { return progress.Phase() == commands.PhaseQueued })
	if n := f.fake.CallCount(meetingapitest.EndpointLock); n != 0 {
		t.Fatalf("%d lock calls reached the meeting service while the first was held", n)
	}
	release()
	wg.Wait()

	wantReply(t, lock, commands.InChannel, "Meeting 914083136 locked by <@U1>.")
	wantReply(t, unlock, commands.InChannel, "Meeting 914083136 unlocked by <@U1>.")
	var bodies []string
	for _, c := range f.fake.Calls() {
		if c.Endpoint == meetingapitest.EndpointLock {
			bodies = append(bodies, string(c.Body))
		}
	}
	if strings.Join(bodies, " ") != `{"isLock":1} {"isLock":0}` {
		t.Fatalf("the meeting service got %v", bodies)
	}
	if f.snapshot(t, meetingID).Locked {
		t.Fatal("the meeting ends up locked")
	}
	if st := f.state(t, meetingID); st.Lock != domain.LockUnlocked {
		t.Fatalf("recorded %+v", st)
	}
	if recs := f.history(t, general); recs[0].Action != "unlock" || recs[1].Action != "lock" {
		t.Fatalf("history %+v", recs[:2])
	}
}

// Item 5: 200 locks at once from one person make far fewer than 200 calls:
// identical commands in flight are done once, and the rest are told to
// slow down; another channel's meeting is not held up meanwhile.
func TestAFloodFromOnePersonMakesFewVendorCalls(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	wantReply(t, f.run(t, random, "U3", "bind "+otherID+" "+otherPassword), commands.Ephemeral, "is now bound")
	f.fake.ResetCalls()

	arrived, release := f.proxy.hold(func(r *http.Request) bool { return is(r, meetingapitest.LockPath, meetingID) })
	replies := make([]commands.Reply, 200)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Go(func() { replies[i] = f.run(t, general, "U1", "lock") })
	}
	<-arrived
	// While the flood waits on the meeting service, #random's lock works.
	wantReply(t, f.run(t, random, "U3", "lock"), commands.InChannel, "Meeting 555000111 locked by <@U3>.")
	release()
	wg.Wait()

	var done, joined, slow int
	for _, r := range replies {
		switch {
		case r.Visibility == commands.InChannel && strings.Contains(r.Text, "locked by <@U1>"):
			done++
		case r.Visibility == commands.Ephemeral && strings.Contains(r.PlainText(), "asked for the same a moment earlier"):
			joined++
		case r.Visibility == commands.Ephemeral && r.Outcome == commands.OutcomeRefused && strings.HasPrefix(r.Text, ":turtle: Slow down"):
			slow++
		default:
			t.Fatalf("unexpected reply %v %q", r.Visibility, r.PlainText())
		}
	}
	calls := 0
	for _, c := range f.fake.Calls() {
		if c.Endpoint == meetingapitest.EndpointLock && c.Query.Get("conferenceID") == meetingID {
			calls++
		}
	}
	allowed := commands.DefaultLimits.UserBurst - 1 // U1's bind took one
	if done == 0 || done+joined != allowed || slow != 200-allowed || calls != done {
		t.Fatalf("%d done, %d joined, %d told to slow down, %d lock calls", done, joined, slow, calls)
	}
	t.Logf("200 locks: %d vendor calls, %d joined, %d slowed down", calls, joined, slow)
}

// Item 5: a flood of refusals folds into one history line, so a real
// action stays visible.
func TestAFloodOfRefusalsDoesNotBuryTheActions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withLimits(commands.Limits{Off: true}))
	f.bind(t, general, "U1")
	wantReply(t, f.run(t, general, "U1", "lock"), commands.InChannel, "locked by <@U1>")
	for range 300 {
		wantOutcome(t, f.run(t, general, "U2", "lock"), commands.OutcomeRefused)
	}
	if n := f.controlCalls(); n != 1 {
		t.Fatalf("%d control calls, want the one lock", n)
	}
	r := f.run(t, general, "U1", "history")
	want := []string{
		"2026-11-26 14:00 UTC <@U2> lock 914083136: refused ×300 (last at 14:00 UTC) (not a controller)",
		"2026-11-26 14:00 UTC <@U1> lock 914083136: ok",
		"2026-11-26 14:00 UTC <@U1> bind 914083136: ok",
	}
	if r.Text != ":scroll: The last 3 actions in this channel, newest first:" || strings.Join(r.Details, "\n") != strings.Join(want, "\n") {
		t.Fatalf("history = %q", r.PlainText())
	}
}

// busyStore is a database that fails to record: the next `fail` calls of
// Record fail (-1: every one), or block on gate until it is closed.
type busyStore struct {
	*store.Store
	fail  atomic.Int64
	calls atomic.Int64
	gate  chan struct{}
}

var errBusy = errors.New("store: record: database is locked (5) (SQLITE_BUSY)")

func (b *busyStore) Record(ctx context.Context, r store.AuditRecord, c *store.StateChange) error {
	b.calls.Add(1)
	if b.gate != nil {
		<-b.gate
	}
	switch n := b.fail.Load(); {
	case n < 0:
		return errBusy
	case n > 0:
		b.fail.Add(-1)
		return errBusy
	}
	return b.Store.Record(ctx, r, c)
}

// Item 6: a busy database does not lose the record of a lock that
// happened: it is retried.
func TestARecordIsRetriedWhenTheDatabaseIsBusy(t *testing.T) {
	t.Parallel()
	busy := &busyStore{}
	f := newFixture(t, withStore(func(s *store.Store) commands.Store { busy.Store = s; return busy }))
	f.bind(t, general, "U1")
	busy.calls.Store(0)
	busy.fail.Store(2)
	r := f.run(t, general, "U1", "lock")
	if r.Visibility != commands.InChannel || r.PlainText() != ":lock: Meeting 914083136 locked by <@U1>." {
		t.Fatalf("lock reply = %v %q", r.Visibility, r.PlainText())
	}
	if n := busy.calls.Load(); n != 3 {
		t.Fatalf("%d tries to record, want 3", n)
	}
	if st := f.state(t, meetingID); st.Lock != domain.LockLocked || st.LockBy != "U1" {
		t.Fatalf("recorded state %+v", st)
	}
	if recs := f.history(t, general); recs[0].Action != "lock" || recs[0].Outcome != store.OutcomeOK {
		t.Fatalf("newest audit record %+v", recs[0])
	}
}

// Item 6: when the record cannot be written, the reply still says the
// meeting was locked, and says what is missing.
func TestARecordThatCannotBeWrittenIsSaidAndTheLockStillReported(t *testing.T) {
	t.Parallel()
	busy := &busyStore{}
	f := newFixture(t, withStore(func(s *store.Store) commands.Store { busy.Store = s; return busy }))
	f.bind(t, general, "U1")
	busy.calls.Store(0)
	busy.fail.Store(-1)
	r := f.run(t, general, "U1", "lock")
	wantOutcome(t, r, commands.OutcomeOK)
	if r.Visibility != commands.InChannel || r.Text != ":lock: Meeting 914083136 locked by <@U1>." || len(r.Details) != 1 ||
		r.Details[0] != ":warning: meetingbot's database did not answer, so this is missing from `history` and `status` may be out of date." {
		t.Fatalf("lock reply = %v %q", r.Visibility, r.PlainText())
	}
	if n := busy.calls.Load(); n < 2 {
		t.Fatalf("recorded with %d tries; want retries", n)
	}
	if !f.snapshot(t, meetingID).Locked {
		t.Fatal("the meeting is not locked")
	}
}

// Item 6: while the record is being written, the still-trying line names
// the database, not the meeting service.
func TestWhileRecordingTheSlowPartIsTheDatabase(t *testing.T) {
	t.Parallel()
	busy := &busyStore{}
	f := newFixture(t, withStore(func(s *store.Store) commands.Store { busy.Store = s; return busy }))
	f.bind(t, general, "U1")
	busy.calls.Store(0)
	busy.gate = make(chan struct{})
	progress := &commands.Progress{}
	done := make(chan commands.Reply, 1)
	go func() {
		cmd, _ := commands.Parse("lock")
		done <- f.svc.Execute(context.Background(), commands.Request{Channel: general, UserID: "U1", Command: cmd, Progress: progress})
	}()
	eventually(t, "the meeting to be locked", func() bool { return f.snapshot(t, meetingID).Locked })
	eventually(t, "the record to be written", func() bool { return busy.calls.Load() > 0 })
	if ph := progress.Phase(); ph != commands.PhaseDatabase || !strings.Contains(commands.StillTrying(ph), "database") {
		t.Fatalf("phase while recording: %q (%q)", ph, commands.StillTrying(ph))
	}
	close(busy.gate)
	wantReply(t, <-done, commands.InChannel, "locked by <@U1>")
}

// Item 7: text from the meeting service (its code, message and request ID)
// is escaped before it goes into mrkdwn, so it cannot ping the channel.
func TestVendorTextIsEscapedEverywhere(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.proxy.answer(func(r *http.Request) bool { return is(r, meetingapitest.LockPath, "") }, http.StatusBadRequest,
		"<!channel>", func(*http.Request) string { return "ask <@U999> or <!here> & co" }, "<!everyone>")
	r := f.run(t, general, "U1", "lock")
	wantOutcome(t, r, commands.OutcomeAPIError)
	if r.Visibility != commands.InChannel || r.Text != ":warning: Could not lock meeting 914083136: ask &lt;@U999&gt; or &lt;!here&gt; &amp; co (&lt;!channel&gt;, HTTP 400)." {
		t.Fatalf("API error = %v %q", r.Visibility, r.PlainText())
	}
	f.proxy.setHook(nil)
	h := f.run(t, general, "U1", "history")
	if !strings.Contains(h.PlainText(), "<@U1> lock 914083136: error &lt;!channel&gt; (request &lt;!everyone&gt;)") {
		t.Fatalf("history = %q", h.PlainText())
	}
	// A bind whose check fails the same way.
	f.proxy.answer(func(r *http.Request) bool { return is(r, meetingapitest.TokenPath, "") }, http.StatusBadRequest,
		"<!channel>", func(*http.Request) string { return "ask <@U999>" }, "<!everyone>")
	b := f.run(t, random, "U1", "bind "+otherID+" "+otherPassword)
	for _, rep := range []commands.Reply{r, h, b} {
		all := replyJSON(t, rep)
		for _, raw := range []string{"<!channel>", "<!here>", "<!everyone>", "<@U999>"} {
			if strings.Contains(all, raw) {
				t.Fatalf("%q reaches Slack unescaped: %s", raw, all)
			}
		}
	}
	if !strings.Contains(b.Text, "&lt;!channel&gt;") {
		t.Fatalf("bind reply = %q", b.Text)
	}
}

// Item 8: a vendor message that echoes the host password is never shown,
// whatever the password's length, in a reply, the audit or the log.
func TestAHostPasswordEchoedByTheMeetingServiceNeverShows(t *testing.T) {
	t.Parallel()
	for i, pw := range []string{"^", "^~", "^~^", "^~^~^~^~"} {
		t.Run(fmt.Sprintf("%d characters", len(pw)), func(t *testing.T) {
			t.Parallel()
			var logs syncBuffer
			f := newFixture(t, withLogger(&logs))
			id := fmt.Sprintf("70000000%d", i)
			f.fake.AddMeeting(id, pw, meetingapitest.InProgress)
			echo := func(r *http.Request) string {
				return "conference password " + r.Header.Get("X-Password") + " is not right"
			}
			f.proxy.answer(func(r *http.Request) bool {
				return is(r, meetingapitest.TokenPath, id) && r.Header.Get("X-Password") != ""
			},
				http.StatusBadRequest, "MMC.123456789", echo, "req-1")

			// The bind's check.
			b := f.run(t, general, "U1", "bind "+id+" "+pw)
			if !strings.Contains(b.Text, "its host password could not be checked") {
				t.Fatalf("bind reply = %q", b.PlainText())
			}
			// A lock that must fetch a token with the password.
			l := f.run(t, general, "U1", "lock")
			wantReply(t, l, commands.InChannel, "Could not lock meeting "+id+": ")
			wantReply(t, l, commands.InChannel, "(MMC.123456789, HTTP 400).")
			h := f.run(t, general, "U1", "history")

			for _, rep := range []commands.Reply{b, l, h} {
				if all := replyJSON(t, rep); strings.Contains(all, pw) {
					t.Fatalf("the password reaches Slack: %s", all)
				}
			}
			// A short password cannot be cut out of the message without
			// giving it away, so the whole message is withheld.
			for _, rep := range []commands.Reply{b, l} {
				shown := strings.Contains(rep.Text, "conference password [redacted] is not right")
				if withheld := strings.Contains(rep.Text, "[message withheld: it may contain a secret]"); withheld != (len(pw) < 8) || shown != (len(pw) >= 8) {
					t.Fatalf("reply %q", rep.Text)
				}
			}
			for _, rec := range f.history(t, general) {
				if s := fmt.Sprintf("%+v", rec); strings.Contains(s, pw) {
					t.Fatalf("an audit record holds the password: %s", s)
				}
			}
			if strings.Contains(logs.String(), pw) {
				t.Fatalf("the log holds the password: %s", logs.String())
			}
		})
	}
}

// Item 10: a meeting the API says does not exist is not stored.
func TestBindingAMeetingThatDoesNotExistStoresNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.run(t, general, "U1", "bind 914083137 123456")
	wantOutcome(t, r, commands.OutcomeAPIError)
	if r.Visibility != commands.Ephemeral || r.Text != ":x: The meeting service says meeting 914083137 does not exist, so nothing was stored: the meeting does not exist or has ended (MMC.111070005, HTTP 400)." {
		t.Fatalf("bind reply = %v %q", r.Visibility, r.PlainText())
	}
	if ms, _ := f.store.Meetings(t.Context(), general); len(ms) != 0 {
		t.Fatalf("stored %+v", ms)
	}
	if c, _ := f.store.Controllers(t.Context(), general); len(c) != 0 {
		t.Fatalf("a failed bind made controllers: %+v", c)
	}
	// With a meeting bound, a mistyped bind leaves the default alone.
	f.bind(t, general, "U1")
	f.run(t, general, "U1", "bind 914083137 123456")
	wantReply(t, f.run(t, general, "U1", "lock"), commands.InChannel, "Meeting 914083136 locked by <@U1>.")
}

// Item 10: a meeting that exists but has not started is stored, and the
// first line says its password is not checked.
func TestBindingAMeetingThatHasNotStartedStoresItUnchecked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.fake.AddMeeting("777000111", "777777", meetingapitest.NotStarted)
	r := f.run(t, general, "U1", "bind 777000111 777777")
	wantOutcome(t, r, commands.OutcomeOK)
	if r.Visibility != commands.Ephemeral || strings.HasPrefix(r.Text, ":white_check_mark:") || !strings.Contains(r.Text, "Meeting 777000111 is bound to this channel, but it is not running") {
		t.Fatalf("bind reply = %v %q", r.Visibility, r.PlainText())
	}
	m, err := f.store.Meeting(t.Context(), general, "777000111")
	if err != nil || m.Verified || !m.Default {
		t.Fatalf("stored %+v, %v", m, err)
	}
	wantReply(t, f.run(t, general, "U1", "status"), commands.Ephemeral, "Host password: not checked yet (the meeting was not running when it was bound).")
	if recs := f.history(t, general); recs[0].Outcome != store.OutcomeUnverified {
		t.Fatalf("audit %+v", recs[0])
	}
}

// People who may not act are refused before the channel's allowance is
// touched, so they cannot get the channel's controllers told to slow down.
func TestPeopleWhoMayNotActCannotUseUpTheChannelsLimit(t *testing.T) {
	t.Parallel()
	f := newFixture(t) // the default limits: 20 a person, 40 a channel
	f.bind(t, general, "U1")
	f.fake.ResetCalls()
	for _, user := range []string{"U7", "U8"} {
		for range commands.DefaultLimits.UserBurst {
			r := f.run(t, general, user, "lock")
			if r.Outcome != commands.OutcomeRefused || !strings.HasPrefix(r.Text, ":no_entry: ") {
				t.Fatalf("%s's lock: %q, want a refusal", user, r.PlainText())
			}
		}
	}
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("refused commands made %d meeting-API calls", n)
	}
	wantReply(t, f.run(t, general, "U1", "lock"), commands.InChannel, "locked by <@U1>")
}

// The bind form stays open after a wrong password; it is limited like the
// command, so it cannot be used to guess a host password at speed.
func TestBindsFromTheFormAreRateLimitedBeforeTheMeetingServiceIsAsked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for i := range commands.DefaultLimits.UserBurst {
		res := f.svc.Bind(t.Context(), general, "U1", meetingID, domain.Password(fmt.Sprintf("guess%02d", i)))
		if !strings.Contains(res.FieldProblem, "not accepted") {
			t.Fatalf("guess %d: %q", i, res.FieldProblem)
		}
	}
	f.fake.ResetCalls()
	res := f.svc.Bind(t.Context(), general, "U1", meetingID, "guess-too-many")
	if !strings.HasPrefix(res.FieldProblem, "Slow down: ") || res.Reply.Outcome != commands.OutcomeRefused {
		t.Fatalf("bind past the limit: %q / %q", res.FieldProblem, res.Reply.PlainText())
	}
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("a rate-limited bind made %d meeting-API calls", n)
	}
}

// The same lock typed in two channels bound to one meeting is not joined
// across them: each channel sees its own outcome in the channel and keeps
// its own record.
func TestTheSameLockInTwoChannelsIsAnsweredInEach(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.bind(t, random, "U3")
	arrived, release := f.proxy.hold(func(r *http.Request) bool { return is(r, meetingapitest.LockPath, meetingID) })
	var a, b commands.Reply
	var wg sync.WaitGroup
	wg.Go(func() { a = f.run(t, general, "U1", "lock") })
	<-arrived
	progress := &commands.Progress{}
	wg.Go(func() {
		cmd, _ := commands.Parse("lock")
		b = f.svc.Execute(context.Background(), commands.Request{Channel: random, UserID: "U3", Command: cmd, Progress: progress})
	})
	// Past the point where it could have been joined to #general's lock.
	eventually(t, "#random's lock to queue", func() bool { return progress.Phase() == commands.PhaseQueued })
	release()
	wg.Wait()
	wantReply(t, a, commands.InChannel, "Meeting 914083136 locked by <@U1>.")
	wantReply(t, b, commands.InChannel, "Meeting 914083136 locked by <@U3>.")
	for ch, user := range map[store.Channel]string{general: "U1", random: "U3"} {
		found := false
		for _, rec := range f.history(t, ch) {
			found = found || rec.Action == "lock" && rec.UserID == user && rec.Outcome == store.OutcomeOK
		}
		if !found {
			t.Errorf("%s's history has no lock by %s", ch.ID, user)
		}
	}
}
