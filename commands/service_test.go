package commands_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
)

func TestNewRefusesAnIncompleteConfig(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	client, err := meetingapi.NewClient(meetingapi.WithBaseURL(f.proxy.URL))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := commands.New(commands.Config{Store: f.store}); err == nil {
		t.Fatal("New without Meetings succeeded")
	}
	if _, err := commands.New(commands.Config{Meetings: client}); err == nil {
		t.Fatal("New without a Store succeeded")
	}
	if svc, err := commands.New(commands.Config{Meetings: client, Store: f.store, Admins: []string{"alice smith"}}); err == nil || svc != nil {
		t.Fatal("New accepted an admin that is not a Slack user ID")
	}
	svc, err := commands.New(commands.Config{Meetings: client, Store: f.store, Command: "/mtg"})
	if err != nil || svc.Command() != "/mtg" || f.svc.Command() != "/meeting" {
		t.Fatalf("New = %v; commands %q and %q", err, svc.Command(), f.svc.Command())
	}
	// An unknown verb (or none) is help.
	if r := svc.Execute(t.Context(), commands.Request{Channel: general, UserID: "U1"}); !strings.Contains(r.Text, "*/mtg* controls a Huawei Cloud Meeting") || r.Outcome != commands.OutcomeOK {
		t.Fatalf("the zero command = %q", r.PlainText())
	}
}

func TestBindStoresTheCredentialWithoutEchoingIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.run(t, general, "U1", "bind 914083136 "+password)
	wantOutcome(t, r, commands.OutcomeOK)
	if r.Visibility != commands.Ephemeral || r.PlainText() != ":white_check_mark: Meeting 914083136 is now bound to this channel.\n"+
		"The host password is stored encrypted and is never shown again.\n"+
		"You are one of this channel's controllers: try `/meeting lock`, `/meeting who` or `/meeting status`." {
		t.Fatalf("bind = %v %q", r.Visibility, r.PlainText())
	}
	m, err := f.store.Meeting(t.Context(), general, meetingID)
	if err != nil || !m.Verified || !m.Default || m.BoundBy != "U1" || !m.BoundAt.Equal(start) {
		t.Fatalf("stored %+v, %v", m, err)
	}
	if pw, err := f.store.Password(t.Context(), general, meetingID); err != nil || pw.Reveal() != password {
		t.Fatalf("stored password: %v", err)
	}
	// Without a password, the form is meant: the service asks for it.
	r = f.run(t, general, "U1", "bind 914083136")
	wantOutcome(t, r, commands.OutcomeUsage)
	wantReply(t, r, commands.Ephemeral, "Give the host password too.\nUsage: `/meeting bind ID [PASSWORD]`")
}

func TestAWrongPasswordStoresNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.run(t, general, "U1", "bind 914083136 999999")
	wantOutcome(t, r, commands.OutcomeAPIError)
	if r.Visibility != commands.Ephemeral || r.PlainText() != ":x: The host password for meeting 914083136 was not accepted, so nothing was stored.\n"+
		"The meeting service said: the meeting was not found or the host password is wrong (MMC.111072065, HTTP 400)." {
		t.Fatalf("bind = %v %q", r.Visibility, r.PlainText())
	}
	if _, err := f.store.Meeting(t.Context(), general, meetingID); err == nil {
		t.Fatal("a rejected password was stored")
	}
	if c, _ := f.store.Controllers(t.Context(), general); len(c) != 0 {
		t.Fatalf("a rejected bind made controllers: %v", c)
	}
	// The form's path: the problem is worded for the password field.
	res := f.svc.Bind(t.Context(), general, "U1", meetingID, "999999")
	if res.FieldProblem != "That host password was not accepted. Check it and try again." {
		t.Fatalf("FieldProblem = %q", res.FieldProblem)
	}
}

func TestOnlyControllersMayRebindAChannel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.fake.ResetCalls()
	ok, refusal := f.svc.MayBind(t.Context(), commands.Request{Channel: general, UserID: "U2", Command: commands.Command{Verb: commands.VerbBind, ConferenceID: otherID}})
	if ok || !strings.Contains(refusal.Text, "Only this channel's controllers can bind meetings here: <@U1>.") {
		t.Fatalf("MayBind = %v %q", ok, refusal.Text)
	}
	wantReply(t, f.run(t, general, "U2", "bind "+otherID+" "+otherPassword), commands.Ephemeral, "Only this channel's controllers can bind meetings here")
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("a refused bind made %d meeting-API calls", n)
	}
	// Admins and controllers may; anyone may in a channel with none.
	for _, u := range []string{admin, "U1"} {
		if ok, _ := f.svc.MayBind(t.Context(), commands.Request{Channel: general, UserID: u}); !ok {
			t.Fatalf("MayBind(%s) = false", u)
		}
	}
	if ok, _ := f.svc.MayBind(t.Context(), commands.Request{Channel: random, UserID: "U2"}); !ok {
		t.Fatal("MayBind in a channel without controllers = false")
	}
	// An admin's bind works and makes them a controller too.
	wantReply(t, f.run(t, general, admin, "bind "+otherID+" "+otherPassword), commands.Ephemeral, "Meeting 555000111 is now bound")
}

func TestUnbindForgetsTheCredentialAndTheNextMeetingBecomesTheDefault(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.clock.Advance(time.Minute)
	wantReply(t, f.run(t, general, "U1", "bind "+otherID+" "+otherPassword), commands.Ephemeral, "now bound")
	s := f.status(t, general, "U2")
	if !strings.Contains(s, "Meeting 555000111 was bound") || !strings.Contains(s, "Also bound here: 914083136.") {
		t.Fatalf("status with two meetings: %q", s)
	}
	wantReply(t, f.run(t, general, "U2", "unbind"), commands.Ephemeral, "Only this channel's controllers can unbind meeting 555000111")
	r := f.run(t, general, "U1", "unbind")
	if r.Visibility != commands.Ephemeral || r.Text != ":wastebasket: Meeting 555000111 is no longer bound to this channel, and its stored host password and token were deleted." {
		t.Fatalf("unbind = %q", r.PlainText())
	}
	if _, err := f.store.Password(t.Context(), general, otherID); err == nil {
		t.Fatal("the password survived unbind")
	}
	wantReply(t, f.run(t, general, "U1", "lock"), commands.InChannel, "Meeting 914083136 locked")
	wantReply(t, f.run(t, general, "U1", "unbind 914083136"), commands.Ephemeral, "no longer bound")
	wantReply(t, f.run(t, general, "U1", "lock"), commands.Ephemeral, "No meeting is bound")
	// Controllers stay: the channel cannot be taken over by a bind.
	wantReply(t, f.run(t, general, "U2", "bind "+otherID+" "+otherPassword), commands.Ephemeral, "Only this channel's controllers can bind")
}

func TestAMeetingBoundInOneChannelCannotBeControlledFromAnother(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.fake.ResetCalls()
	wantReply(t, f.run(t, random, "U1", "lock 914083136"), commands.Ephemeral, "Meeting 914083136 is not bound in this channel.")
	wantReply(t, f.run(t, random, admin, "lock"), commands.Ephemeral, "No meeting is bound")
	wantReply(t, f.run(t, random, "U1", "status 914083136"), commands.Ephemeral, "is not bound in this channel")
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("%d meeting-API calls, want none", n)
	}
	// A forged button for it from the other channel does nothing either.
	r := f.click(t, random, "U1", commands.Action{ID: commands.ActionEnd, Value: meetingID})
	wantReply(t, r, commands.Ephemeral, "is not bound in this channel")
	if s := f.snapshot(t, meetingID); s.State != meetingapitest.InProgress {
		t.Fatal("a button from another channel ended the meeting")
	}
}

// Every control refuses someone who is not a controller before calling
// the meeting service, names who may act and nobody in the meeting, offers
// no button, and is audited.
func TestEveryControlRefusesSomeoneWhoIsNotAController(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withWatches(&watchStub{}))
	f.bind(t, general, "U1")
	pid := f.join(t, meetingapitest.Person{Name: "Bob Stranger", Phone: strangerPhone})
	before := f.snapshot(t, meetingID)
	f.fake.ResetCalls()

	typed := []string{"lock", "unlock", "mute", "unmute", "restrict invited", "end", "extend 30", "who", "remove Bob",
		"unbind", "watch", "unwatch", "grant <@U3>", "revoke <@U1>"}
	var replies []commands.Reply
	for _, text := range typed {
		replies = append(replies, f.run(t, general, "U2", text))
	}
	for _, a := range []commands.Action{
		{ID: commands.ActionEnd, Value: meetingID},
		{ID: commands.ActionRemove, Value: meetingID + "/" + pid},
		{ID: commands.ActionMuteOne, Value: meetingID + "/" + pid},
		{ID: commands.ActionWaitingRoom, Value: meetingID + "/" + pid},
		{ID: commands.ActionLock, Value: meetingID},
		{ID: commands.ActionAlertRestrict, Value: meetingID},
	} {
		typed = append(typed, a.ID)
		replies = append(replies, f.click(t, general, "U2", a))
	}
	for i, r := range replies {
		wantOutcome(t, r, commands.OutcomeRefused)
		if r.Visibility != commands.Ephemeral || !strings.HasPrefix(r.Text, ":no_entry: Only this channel's controllers can ") ||
			!strings.HasSuffix(r.Text, ": <@U1>.") || !strings.Contains(r.PlainText(), "<@U0ADMIN>") {
			t.Errorf("%s: %v %q", typed[i], r.Visibility, r.PlainText())
		}
		if len(r.Actions) > 0 || len(r.Rows) > 0 || strings.Contains(r.PlainText(), "Bob") || r.StateChange {
			t.Errorf("%s: the refusal offers buttons or names someone in the meeting: %q", typed[i], r.PlainText())
		}
	}
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("refusals made %d meeting-API calls", n)
	}
	after := f.snapshot(t, meetingID)
	if after.Locked != before.Locked || after.State != before.State || len(after.Participants) != 1 || after.Restriction != before.Restriction {
		t.Fatal("a refused command changed the meeting")
	}
	refused := map[string]bool{}
	for _, rec := range f.history(t, general) {
		if rec.UserID == "U2" && rec.Outcome == store.OutcomeRefused {
			refused[rec.Action] = true
		}
	}
	for _, v := range []string{"lock", "unlock", "mute", "unmute", "restrict", "end", "extend", "who", "remove", "unbind", "watch", "unwatch", "grant", "revoke", "mute-one", "waiting-room"} {
		if !refused[v] {
			t.Errorf("the refused %s is not in the audit: %v", v, refused)
		}
	}
	// An admin may.
	wantReply(t, f.run(t, general, admin, "lock"), commands.InChannel, "locked by <@U0ADMIN>")
}

func TestGrantRevokeAndControllers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	wantReply(t, f.run(t, general, "U1", "controllers"), commands.Ephemeral,
		":busts_in_silhouette: Controllers of this channel's meetings: none yet (and meetingbot admins: <@U0ADMIN>).\nThe first person to bind a meeting here becomes its first controller.")
	f.bind(t, general, "U1")
	wantReply(t, f.run(t, general, "U1", "grant <@U2|bob>"), commands.InChannel, ":key: <@U2> can now control this channel's meetings (granted by <@U1>).")
	wantReply(t, f.run(t, general, "U1", "grant <@U2>"), commands.Ephemeral, "<@U2> is already a controller here.")
	wantReply(t, f.run(t, general, "U2", "lock"), commands.InChannel, "locked by <@U2>")
	wantReply(t, f.run(t, general, "U3", "controllers"), commands.Ephemeral, "Controllers of this channel's meetings: <@U1>, <@U2> (and meetingbot admins: <@U0ADMIN>).")
	wantReply(t, f.run(t, general, "U2", "revoke <@U1>"), commands.InChannel, "<@U1> can no longer control")
	wantReply(t, f.run(t, general, "U1", "unlock"), commands.Ephemeral, "Only this channel's controllers can unlock meeting 914083136: <@U2>.")
	wantReply(t, f.run(t, general, "U2", "revoke <@U9>"), commands.Ephemeral, "<@U9> is not a controller here, so there is nothing to revoke.")
	r := f.run(t, general, "U2", "revoke <@U2>")
	wantOutcome(t, r, commands.OutcomeRefused)
	wantReply(t, r, commands.Ephemeral, ":no_entry: <@U2> is this channel's only controller, and a channel without controllers would let anyone re-bind it. Grant someone else first.")
	// An admin may grant in any channel, even one without a binding.
	wantReply(t, f.run(t, random, admin, "grant <@U5>"), commands.InChannel, "<@U5> can now control")
}

func TestStatusShowsTheBindingTheTokenAndWhatIsKnown(t *testing.T) {
	t.Parallel()
	w := &watchStub{}
	f := newFixture(t, withWatches(w))
	wantReply(t, f.run(t, general, "U2", "status"), commands.Ephemeral, "No meeting is bound")
	f.bind(t, general, "U1")
	r := f.run(t, general, "U2", "status")
	want := ":information_source: Meeting 914083136 was bound to this channel by <@U1> on 2026-11-26 14:00 UTC.\n" +
		"Control token: valid until 14:30 UTC.\n" +
		"Lock state: unknown; meetingbot has not locked or unlocked it yet.\n" +
		"Controllers: <@U1> (and meetingbot admins: <@U0ADMIN>).\n" + commands.StatusNote
	if r.Visibility != commands.Ephemeral || r.PlainText() != want {
		t.Fatalf("status = %q\nwant %q", r.PlainText(), want)
	}
	f.run(t, general, "U1", "lock")
	if s := f.status(t, general, "U2"); !strings.Contains(s, "Lock state: locked by <@U1> at 2026-11-26 14:00 UTC (set through meetingbot).") {
		t.Fatalf("status after lock = %q", s)
	}
	// The token expires.
	f.clock.Advance(31 * time.Minute)
	if s := f.status(t, general, "U2"); !strings.Contains(s, "Control token: expired at 14:30 UTC; a new one is fetched with the next command.") {
		t.Fatalf("status with an expired token = %q", s)
	}
	if err := f.store.DropToken(t.Context(), general, meetingID); err != nil {
		t.Fatal(err)
	}
	if s := f.status(t, general, "U2"); !strings.Contains(s, "Control token: none cached; one is fetched with the next command.") {
		t.Fatalf("status without a token = %q", s)
	}
	// The meeting's own events report the state, and the watch is live.
	unlocked := domain.LockUnlocked
	end := start.Add(2 * time.Hour)
	if err := f.store.Record(t.Context(), store.AuditRecord{Channel: general, Action: "event", ConferenceID: meetingID, Outcome: store.OutcomeOK},
		&store.StateChange{ConferenceID: meetingID, At: f.clock.Now(), Lock: &unlocked, LockSource: store.SourceMeeting, ScheduledEnd: &end}); err != nil {
		t.Fatal(err)
	}
	r = f.run(t, general, "U2", "status")
	if !strings.Contains(r.PlainText(), "Lock state: unlocked, as the meeting service last reported (at 2026-11-26 14:31 UTC).") ||
		!strings.Contains(r.PlainText(), "Scheduled end: 2026-11-26 16:00 UTC (reported by the meeting service).") || r.Note != commands.StatusNote {
		t.Fatalf("status with a reported state = %q", r.PlainText())
	}
	w.setLive(meetingID, true)
	r = f.run(t, general, "U2", "status")
	if !strings.Contains(r.PlainText(), "Lock state: unlocked, as the meeting service reports (at 2026-11-26 14:31 UTC).") ||
		!strings.Contains(r.PlainText(), "Join alerts: on; meetingbot follows the meeting's events.") ||
		r.Note != "Join alerts are on, so meetingbot follows the meeting's own reports: the lock state is the meeting's, whoever changed it." {
		t.Fatalf("status with a live watch = %q", r.PlainText())
	}
}

func TestWatchAndUnwatch(t *testing.T) {
	t.Parallel()
	// Without a Watches, join alerts are not available.
	f := newFixture(t)
	f.bind(t, general, "U1")
	for _, text := range []string{"watch", "unwatch"} {
		r := f.run(t, general, "U1", text)
		if r.Visibility != commands.Ephemeral || r.Text != ":information_source: Join alerts are not available in this meetingbot." {
			t.Fatalf("%s without watches = %q", text, r.PlainText())
		}
	}

	w := &watchStub{}
	f = newFixture(t, withWatches(w))
	f.bind(t, general, "U1")
	r := f.run(t, general, "U1", "watch")
	// The watch posts its own first line in the channel (that is how it
	// learns the bot may post there); the command confirms to the person.
	wantReply(t, r, commands.Ephemeral, ":white_check_mark: Join alerts are on for meeting 914083136.")
	if len(w.started) != 1 || w.started[0] != (commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}) {
		t.Fatalf("started %+v", w.started)
	}
	wantReply(t, f.run(t, general, "U1", "unwatch"), commands.InChannel, ":see_no_evil: <@U1> turned off join alerts for meeting 914083136.")
	f.run(t, general, "U1", "unbind")
	if len(w.stopped) != 2 {
		t.Fatalf("stopped %v; unwatch and unbind each stop the watch", w.stopped)
	}
	recs := f.history(t, general)
	if recs[1].Action != "unwatch" || recs[2].Action != "watch" {
		t.Fatalf("history %+v", recs)
	}
}

// A watch that cannot start explains why, in its own words.
func TestAWatchErrorIsShownAsItsReply(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withWatches(&failingWatches{}))
	f.bind(t, general, "U1")
	r := f.run(t, general, "U1", "watch")
	if r.Text != ":warning: I am not a member of this channel." {
		t.Fatalf("watch = %q", r.PlainText())
	}
	if recs := f.history(t, general); recs[0].Action == "watch" {
		t.Fatal("a watch that did not start is audited as done")
	}
}

type failingWatches struct{ watchStub }

func (*failingWatches) Start(context.Context, commands.WatchRequest) error {
	return &commands.WatchError{Reply: commands.Reply{Visibility: commands.Ephemeral, Outcome: commands.OutcomeError, Text: ":warning: I am not a member of this channel."}}
}

func TestExecuteHonoursCancellation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")

	// Waiting on the meeting service.
	arrived, release := f.proxy.hold(func(r *http.Request) bool { return is(r, meetingapitest.LockPath, meetingID) })
	defer release()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan commands.Reply, 1)
	cmd, _ := commands.Parse("lock")
	go func() { done <- f.svc.Execute(ctx, commands.Request{Channel: general, UserID: "U1", Command: cmd}) }()
	<-arrived
	cancel()
	r := <-done
	if r.Outcome != commands.OutcomeError || !strings.HasPrefix(r.Text, ":warning: Could not lock meeting 914083136: ") {
		t.Fatalf("a cancelled lock says %q %q", r.Outcome, r.PlainText())
	}
	if f.snapshot(t, meetingID).Locked {
		t.Fatal("a cancelled lock locked the meeting")
	}

	// Waiting behind another command for the same meeting.
	f.proxy.setHook(nil)
	arrived, release2 := f.proxy.hold(func(r *http.Request) bool { return is(r, meetingapitest.MuteAllPath, meetingID) })
	first := make(chan commands.Reply, 1)
	go func() { first <- f.run(t, general, "U1", "mute") }()
	<-arrived
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	queued := &commands.Progress{}
	go func() { // its time runs out while it waits
		for deadline := time.Now().Add(20 * time.Second); queued.Phase() != commands.PhaseQueued && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	r = f.svc.Execute(ctx, commands.Request{Channel: general, UserID: "U1", Command: cmd, Progress: queued})
	if r.Text != ":hourglass: Other commands for meeting 914083136 took all the time, so nothing was sent. Try again." {
		t.Fatalf("a lock that timed out in the queue says %q", r.PlainText())
	}
	release2()
	wantReply(t, <-first, commands.InChannel, "muted by <@U1>")
	if n := f.fake.CallCount(meetingapitest.EndpointLock); n != 0 {
		t.Fatalf("%d lock calls reached the meeting service", n)
	}
}

func TestACredentialThatCannotBeDecryptedIsNeverSent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.bind(t, random, "U1")
	// Copy the credential sealed for another channel over this channel's:
	// it is bound to that channel, so it must not open here.
	b := f.store.Backend()
	ct, err := b.PasswordCT(t.Context(), random, meetingID)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Bind(t.Context(), store.BindRow{Channel: general, ConferenceID: meetingID, PasswordCT: ct, By: store.Actor{UserID: "U1"}, At: start, Verified: true}); err != nil {
		t.Fatal(err)
	}
	f.fake.ResetCalls()
	for _, text := range []string{"lock", "who"} {
		r := f.run(t, general, "U1", text)
		wantOutcome(t, r, commands.OutcomeError)
		if r.Visibility != commands.Ephemeral || r.PlainText() != ":x: The stored host password for meeting 914083136 cannot be decrypted, so nothing was sent to the meeting.\n"+
			"MEETINGBOT_SECRET_KEY is not the key it was stored with.\nA controller can bind it again: `/meeting bind 914083136`." {
			t.Fatalf("%s = %q", text, r.PlainText())
		}
	}
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("%d meeting-API calls with a credential that does not decrypt", n)
	}
	wantReply(t, f.run(t, random, "U1", "lock"), commands.InChannel, "locked by <@U1>")
}

func TestRateLimitsSaySlowDownAndRecover(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withLimits(commands.Limits{UserBurst: 2, UserPerMinute: 6, ChannelBurst: 100, ChannelPerMinute: 100}))
	f.bind(t, general, "U1") // takes one
	wantReply(t, f.run(t, general, "U1", "lock"), commands.InChannel, "locked")
	f.fake.ResetCalls()
	r := f.run(t, general, "U1", "unlock")
	wantOutcome(t, r, commands.OutcomeRefused)
	if r.Visibility != commands.Ephemeral || r.Text != ":turtle: Slow down: that is a lot of commands in a short time. Nothing was done; try again in 10 s." {
		t.Fatalf("rate limited = %q", r.PlainText())
	}
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("a rate-limited command made %d calls", n)
	}
	// Reading is not limited.
	wantReply(t, f.run(t, general, "U1", "status"), commands.Ephemeral, "Lock state: locked")
	f.clock.Advance(10 * time.Second)
	wantReply(t, f.run(t, general, "U1", "unlock"), commands.InChannel, "unlocked")
	// Someone else is not held up by U1.
	wantReply(t, f.run(t, general, admin, "lock"), commands.InChannel, "locked by <@U0ADMIN>")
}

func TestButtonCommandReadsOnlyWhatTheBotWrote(t *testing.T) {
	t.Parallel()
	good := []struct {
		action, value string
		want          commands.Command
	}{
		{commands.ActionLock, "914083136", commands.Command{Verb: commands.VerbLock, ConferenceID: "914083136"}},
		{commands.ActionUnlock, "914083136", commands.Command{Verb: commands.VerbUnlock, ConferenceID: "914083136"}},
		{commands.ActionMuteAll, "914083136", commands.Command{Verb: commands.VerbMute, ConferenceID: "914083136"}},
		{commands.ActionUnmuteAll, "914083136", commands.Command{Verb: commands.VerbUnmute, ConferenceID: "914083136"}},
		{commands.ActionRestrictEveryone, "914083136", commands.Command{Verb: commands.VerbRestrict, ConferenceID: "914083136", Restriction: domain.RestrictionEveryone}},
		{commands.ActionEnd, "914083136", commands.Command{Verb: commands.VerbEnd, ConferenceID: "914083136", Confirmed: true}},
		{commands.ActionRemove, "914083136/abc123", commands.Command{Verb: commands.VerbRemove, ConferenceID: "914083136", PID: "abc123"}},
		{commands.ActionMuteOne, "914083136/abc123", commands.Command{Verb: commands.VerbMuteOne, ConferenceID: "914083136", PID: "abc123"}},
		{commands.ActionWaitingRoom, "914083136/abc123", commands.Command{Verb: commands.VerbWaitingRoom, ConferenceID: "914083136", PID: "abc123"}},
		{commands.ActionAlertLock, "914083136", commands.Command{Verb: commands.VerbLock, ConferenceID: "914083136"}},
		{commands.ActionAlertRestrict, "914083136", commands.Command{Verb: commands.VerbRestrict, ConferenceID: "914083136", Restriction: domain.RestrictionInvited}},
	}
	for _, tt := range good {
		got, ok := commands.ButtonCommand(tt.action, tt.value)
		if !ok || got != tt.want {
			t.Errorf("ButtonCommand(%q, %q) = %+v, %v; want %+v", tt.action, tt.value, got, ok, tt.want)
		}
	}
	if len(commands.ActionIDs) != len(good) {
		t.Fatalf("ActionIDs lists %d actions; the table tests %d", len(commands.ActionIDs), len(good))
	}
	bad := []struct{ action, value string }{
		{"meeting_explode", "914083136"},
		{"", "914083136"},
		{commands.ActionLock, ""},
		{commands.ActionLock, "914-083-136"},
		{commands.ActionLock, " 914083136"},
		{commands.ActionLock, "12345"},
		{commands.ActionLock, "914083136/abc"},
		{commands.ActionEnd, "abc"},
		{commands.ActionRemove, "914083136"},
		{commands.ActionRemove, "914083136/"},
		{commands.ActionRemove, "914083136/a b"},
		{commands.ActionRemove, "914083136/a/b"},
		{commands.ActionRemove, "914083136/é"},
		{commands.ActionRemove, "914083136/a\x00"},
		{commands.ActionRemove, "914083136/" + strings.Repeat("a", 129)},
		{commands.ActionMuteOne, "abc/abc"},
		{commands.ActionWaitingRoom, "/abc"},
	}
	for _, tt := range bad {
		if got, ok := commands.ButtonCommand(tt.action, tt.value); ok {
			t.Errorf("ButtonCommand(%q, %q) = %+v; want refused", tt.action, tt.value, got)
		}
	}
}

// A meeting that is not running cannot be followed: watch says so at once
// instead of turning alerts on and off again.
func TestWatchingAMeetingThatIsNotRunningSaysSo(t *testing.T) {
	t.Parallel()
	w := &watchStub{}
	f := newFixture(t, withWatches(w))
	f.bind(t, general, "U1")
	f.fake.SetState(meetingID, meetingapitest.Ended)
	f.fake.ExpireTokens()
	r := f.run(t, general, "U1", "watch")
	if r.Visibility != commands.Ephemeral || !strings.HasPrefix(r.Text, ":warning: Could not turn on join alerts for meeting 914083136: the meeting has ended") {
		t.Fatalf("watch of an ended meeting = %v %q", r.Visibility, r.PlainText())
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.started) != 0 {
		t.Fatalf("a watch was started: %+v", w.started)
	}
}
