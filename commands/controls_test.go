package commands_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
)

func TestLockAndUnlockChangeTheMeetingAndSayWhoDidIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")

	r := f.run(t, general, "U1", "lock")
	wantOutcome(t, r, commands.OutcomeOK)
	if r.Visibility != commands.InChannel || r.Text != ":lock: Meeting 914083136 locked by <@U1>." || !r.StateChange || len(r.Details) != 0 {
		t.Fatalf("lock reply = %v %q", r.Visibility, r.PlainText())
	}
	undo := action(t, r, commands.ActionUnlock)
	if undo.Value != meetingID || !undo.Danger || undo.Confirm == nil {
		t.Fatalf("the undo button is %+v", undo)
	}
	if !f.snapshot(t, meetingID).Locked {
		t.Fatal("the meeting is not locked")
	}
	if st := f.state(t, meetingID); st.Lock != domain.LockLocked || st.LockBy != "U1" || st.LockSource != store.SourceBot || !st.LockAt.Equal(start) {
		t.Fatalf("recorded state = %+v", st)
	}
	// Locked, the meeting keeps out a guest but lets an invited person in.
	if _, err := f.fake.AddParticipant(meetingID, meetingapitest.Person{Name: "Guest"}); err == nil {
		t.Fatal("a guest joined a locked meeting")
	}

	r = f.run(t, general, "U1", "unlock 914-083-136")
	if r.Visibility != commands.InChannel || r.Text != ":unlock: Meeting 914083136 unlocked by <@U1>." {
		t.Fatalf("unlock reply = %v %q", r.Visibility, r.PlainText())
	}
	if a := action(t, r, commands.ActionLock); a.Value != meetingID || a.Danger {
		t.Fatalf("the lock button is %+v", a)
	}
	if f.snapshot(t, meetingID).Locked {
		t.Fatal("the meeting is still locked")
	}
	if st := f.state(t, meetingID); st.Lock != domain.LockUnlocked || st.LockBy != "U1" {
		t.Fatalf("recorded state = %+v", st)
	}
	// bind checked the password and cached its token; both calls reused it.
	if n := f.fake.CallCount(meetingapitest.EndpointToken); n != 1 {
		t.Fatalf("token fetched %d times, want 1", n)
	}
	// The buttons undo each other.
	r = f.click(t, general, "U1", action(t, r, commands.ActionLock))
	wantReply(t, r, commands.InChannel, "locked by <@U1>")
	if !f.snapshot(t, meetingID).Locked {
		t.Fatal("the Lock button did not lock the meeting")
	}
}

func TestMuteAndUnmuteEveryone(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.join(t, meetingapitest.Person{Name: "Hana Host", Role: meetingapitest.RoleHost})
	f.join(t, meetingapitest.Person{Name: "Alice"})
	f.join(t, meetingapitest.Person{Name: "Bob"})

	r := f.run(t, general, "U1", "mute")
	if r.Visibility != commands.InChannel || r.Text != ":mute: Everyone but the host in meeting 914083136 was muted by <@U1>, and cannot unmute themselves." {
		t.Fatalf("mute reply = %v %q", r.Visibility, r.PlainText())
	}
	s := f.snapshot(t, meetingID)
	if !s.MutedAll || s.CanUnmute {
		t.Fatalf("after mute: muted all %v, can unmute %v", s.MutedAll, s.CanUnmute)
	}
	for _, p := range s.Participants {
		if p.Muted != (p.Person.Role != meetingapitest.RoleHost) {
			t.Fatalf("after mute, %s muted = %v", p.Person.Name, p.Muted)
		}
	}

	r = f.click(t, general, "U1", action(t, r, commands.ActionUnmuteAll))
	if r.Visibility != commands.InChannel || r.Text != ":speaker: Everyone in meeting 914083136 was unmuted by <@U1>, and may unmute themselves again." {
		t.Fatalf("unmute reply = %v %q", r.Visibility, r.PlainText())
	}
	action(t, r, commands.ActionMuteAll)
	s = f.snapshot(t, meetingID)
	if s.MutedAll || !s.CanUnmute {
		t.Fatalf("after unmute: muted all %v, can unmute %v", s.MutedAll, s.CanUnmute)
	}
	for _, p := range s.Participants {
		if p.Muted {
			t.Fatalf("after unmute, %s is muted", p.Person.Name)
		}
	}
	wantReply(t, f.run(t, general, "U1", "unmute 914083136"), commands.InChannel, "unmuted by <@U1>")
	if n := len(f.history(t, general)); n != 4 {
		t.Fatalf("%d audit records, want 4 (bind, mute, unmute, unmute)", n)
	}
}

func TestRestrictWhoMayJoin(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	tests := []struct {
		text        string
		vendor      int
		want        domain.JoinRestriction
		reply       string
		letEveryone bool
	}{
		{"restrict invited", 3, domain.RestrictionInvited, ":closed_lock_with_key: Only invited people may join meeting 914083136 now (set by <@U1>).", true},
		{"restrict company 914083136", 2, domain.RestrictionCompany, ":office: Only people of the host's organisation may join meeting 914083136 now (set by <@U1>).", true},
		{"restrict everyone", 0, domain.RestrictionEveryone, ":door: Anyone with the meeting ID may join meeting 914083136 again (set by <@U1>).", false},
	}
	for _, tt := range tests {
		r := f.run(t, general, "U1", tt.text)
		if r.Visibility != commands.InChannel || r.Text != tt.reply || !r.StateChange {
			t.Fatalf("%s: reply = %v %q", tt.text, r.Visibility, r.PlainText())
		}
		if got := len(r.Actions) == 1 && r.Actions[0].ID == commands.ActionRestrictEveryone; got != tt.letEveryone {
			t.Fatalf("%s: actions %+v", tt.text, r.Actions)
		}
		if got := f.snapshot(t, meetingID).Restriction; got != tt.vendor {
			t.Fatalf("%s: the meeting's callInRestriction is %d, want %d", tt.text, got, tt.vendor)
		}
		if st := f.state(t, meetingID); st.Restriction != tt.want || st.RestrictionBy != "U1" {
			t.Fatalf("%s: recorded %+v", tt.text, st)
		}
	}

	// Invited only: a stranger is kept out, and status says so.
	r := f.run(t, general, "U1", "restrict invited")
	if _, err := f.fake.AddParticipant(meetingID, meetingapitest.Person{Name: "Stranger", Anonymous: true}); err == nil {
		t.Fatal("a stranger joined a meeting for invited people only")
	}
	wantReply(t, f.run(t, general, "U2", "status"), commands.Ephemeral, "Who may join: invited people only (set by <@U1> at 2026-11-26 14:00 UTC).")
	// The second time says it already was.
	r = f.run(t, general, "U1", "restrict invited")
	wantReply(t, r, commands.InChannel, "It already was: <@U1> set it at 14:00 UTC.")
	// The button lets everyone in again.
	r = f.click(t, general, "U1", action(t, r, commands.ActionRestrictEveryone))
	wantReply(t, r, commands.InChannel, "Anyone with the meeting ID may join meeting 914083136 again")
	if got := f.snapshot(t, meetingID).Restriction; got != 0 {
		t.Fatalf("callInRestriction %d after the button", got)
	}
	if recs := f.history(t, general); recs[0].Action != "restrict" || recs[0].Detail != "everyone" || recs[0].Outcome != store.OutcomeOK {
		t.Fatalf("newest audit record: %+v", recs[0])
	}
}

func TestEndAsksFirstThenStopsTheMeeting(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.join(t, meetingapitest.Person{Name: "Alice"})
	f.run(t, general, "U1", "lock")
	f.fake.ResetCalls()

	q := f.run(t, general, "U1", "end")
	wantOutcome(t, q, commands.OutcomeOK)
	if q.Visibility != commands.Ephemeral || q.Text != ":warning: End meeting 914083136 for everyone?" || q.StateChange {
		t.Fatalf("end question = %v %q", q.Visibility, q.PlainText())
	}
	if !strings.Contains(q.PlainText(), "ending it does not keep a stranger out") || !strings.Contains(q.PlainText(), "`/meeting lock`") {
		t.Fatalf("the question does not suggest lock first: %q", q.PlainText())
	}
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("asking made %d meeting-API calls", n)
	}
	if s := f.snapshot(t, meetingID); s.State != meetingapitest.InProgress {
		t.Fatal("asking ended the meeting")
	}
	btn := action(t, q, commands.ActionEnd)
	if !btn.Danger || btn.Confirm == nil || btn.Confirm.Yes != "End meeting" || btn.Value != meetingID {
		t.Fatalf("the end button is %+v", btn)
	}
	cmd, ok := commands.ButtonCommand(btn.ID, btn.Value)
	if !ok || cmd.Verb != commands.VerbEnd || !cmd.Confirmed || cmd.ConferenceID != meetingID {
		t.Fatalf("ButtonCommand reads the end button back as %+v, %v", cmd, ok)
	}

	r := f.click(t, general, "U1", btn)
	if r.Visibility != commands.InChannel || r.Text != ":stop_sign: Meeting 914083136 was ended by <@U1>." || !strings.Contains(r.PlainText(), "People can rejoin it until its scheduled end") {
		t.Fatalf("end reply = %v %q", r.Visibility, r.PlainText())
	}
	s := f.snapshot(t, meetingID)
	if s.State != meetingapitest.Ended || len(s.Participants) != 0 {
		t.Fatalf("after end: %v with %d people", s.State, len(s.Participants))
	}
	if n := f.fake.CallCount(meetingapitest.EndpointStop); n != 1 {
		t.Fatalf("%d stop calls", n)
	}
	st := f.status(t, general, "U1")
	if !strings.Contains(st, "Lock state: unknown; the meeting service said the meeting was over at 2026-11-26 14:00 UTC.") || strings.Contains(st, "locked by") {
		t.Fatalf("status after end: %q", st)
	}
}

func TestExtendProlongsTheMeetingAndStatusSaysByHowMuch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	end0 := f.snapshot(t, meetingID).ScheduledEnd
	steps := []struct {
		text  string
		added time.Duration
		reply string
	}{
		{"extend", 15 * time.Minute, ":hourglass_flowing_sand: Meeting 914083136 was extended by 15 minutes by <@U1>."},
		{"extend 1", 16 * time.Minute, "extended by 1 minute by <@U1>."},
		{"extend 240 914083136", 256 * time.Minute, "extended by 240 minutes by <@U1>."},
		{"extend 914-083-136", 271 * time.Minute, "extended by 15 minutes by <@U1>."},
	}
	for _, s := range steps {
		r := f.run(t, general, "U1", s.text)
		wantReply(t, r, commands.InChannel, s.reply)
		if got := f.snapshot(t, meetingID).ScheduledEnd.Sub(end0); got != s.added {
			t.Fatalf("after %q the meeting ends %v later, want %v", s.text, got, s.added)
		}
	}
	if st := f.state(t, meetingID); st.Extended != 271*time.Minute || st.ExtendedBy != "U1" {
		t.Fatalf("recorded %+v", st)
	}
	wantReply(t, f.run(t, general, "U2", "status"), commands.Ephemeral, "Extended by meetingbot: 271 minutes in all, last by <@U1> at 2026-11-26 14:00 UTC.")

	// Two identical extends at once are two extensions, not one: the
	// second waits for the first instead of joining it.
	arrived, release := f.proxy.hold(func(r *http.Request) bool { return is(r, meetingapitest.ProlongPath, meetingID) })
	var wg sync.WaitGroup
	replies := make([]commands.Reply, 2)
	wg.Go(func() { replies[0] = f.run(t, general, "U1", "extend 10") })
	<-arrived
	second := &commands.Progress{}
	wg.Go(func() {
		cmd, _ := commands.Parse("extend 10")
		replies[1] = f.svc.Execute(context.Background(), commands.Request{Channel: general, UserID: "U1", Command: cmd, Progress: second})
	})
	eventually(t, "the second extend to queue", func() bool { return second.Phase() == commands.PhaseQueued })
	release()
	wg.Wait()
	for _, r := range replies {
		wantReply(t, r, commands.InChannel, "extended by 10 minutes by <@U1>.")
		if strings.Contains(r.PlainText(), "once for both") {
			t.Fatalf("two extends were folded into one: %q", r.PlainText())
		}
	}
	if got := f.snapshot(t, meetingID).ScheduledEnd.Sub(end0); got != 291*time.Minute {
		t.Fatalf("after two more extends of 10 the meeting ends %v later, want 291m", got)
	}
}
