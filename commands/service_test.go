package commands_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
)

const (
	meetingID = "914083136"
	password  = "123456"
)

var (
	general = store.Channel{Team: "T1", ID: "C1"}
	random  = store.Channel{Team: "T1", ID: "C2"}
)

type fixture struct {
	svc    *commands.Service
	fake   *meetingapitest.Server
	store  *store.SQLite
	dbPath string
}

// newFixture wires the service to a real SQLite file and the fake meeting
// API over HTTP. Admin U0ADMIN controls every channel.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureAt(t, nil)
}

// newFixtureAt is newFixture with a clock shared by the service and the
// fake meeting API (nil: the real clock).
func newFixtureAt(t *testing.T, now func() time.Time) *fixture {
	t.Helper()
	var opts []meetingapitest.Option
	if now != nil {
		opts = append(opts, meetingapitest.WithClock(now))
	}
	fake := meetingapitest.NewServer(opts...)
	t.Cleanup(fake.Close)
	fake.AddMeeting(meetingID, password, meetingapitest.InProgress)
	key, err := store.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(t.TempDir(), "test.db")
	st, err := store.OpenSQLite(t.Context(), dbPath, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	client, err := meetingapi.NewClient(meetingapi.WithBaseURL(fake.URL))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := commands.New(commands.Config{Meetings: client, Store: st, Admins: []string{"U0ADMIN"}, Now: now, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, fake: fake, store: st, dbPath: dbPath}
}

func (f *fixture) run(t *testing.T, ch store.Channel, user, text string) commands.Reply {
	t.Helper()
	cmd, err := commands.Parse(text)
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	return f.svc.Execute(t.Context(), commands.Request{Channel: ch, UserID: user, Command: cmd})
}

func wantReply(t *testing.T, r commands.Reply, vis commands.Visibility, text string) {
	t.Helper()
	if r.Visibility != vis || !strings.Contains(r.PlainText(), text) {
		t.Fatalf("reply = %v %q\nwant %v containing %q", r.Visibility, r.PlainText(), vis, text)
	}
}

func TestBindThenLockConfirmsInTheChannel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.run(t, general, "U1", "bind 914083136 "+password)
	wantReply(t, r, commands.Ephemeral, "Meeting 914083136 is now bound to this channel.")
	if strings.Contains(r.PlainText(), password) {
		t.Fatal("the bind reply echoes the password")
	}
	r = f.run(t, general, "U1", "lock")
	if r.Visibility != commands.InChannel || r.Text != ":lock: Meeting 914083136 locked by <@U1>." {
		t.Fatalf("lock reply = %v %q", r.Visibility, r.Text)
	}
	if locked, _ := f.fake.Locked(meetingID); !locked {
		t.Fatal("the fake meeting is not locked")
	}
	r = f.run(t, general, "U1", "unlock 914-083-136")
	if r.Text != ":unlock: Meeting 914083136 unlocked by <@U1>." {
		t.Fatalf("unlock reply = %q", r.Text)
	}
	if locked, _ := f.fake.Locked(meetingID); locked {
		t.Fatal("the fake meeting is still locked")
	}
	// bind verified the password and cached its token; the locks reused it.
	if n := f.fake.CallCount(meetingapitest.EndpointToken); n != 1 {
		t.Fatalf("token fetched %d times, want 1", n)
	}
	m, err := f.store.Meeting(t.Context(), general, meetingID)
	if err != nil || m.LockState != store.LockUnlocked || m.LockSetBy != "U1" {
		t.Fatalf("recorded lock state = %+v, %v", m, err)
	}
}

func TestLockWithNothingBoundSaysHowToBind(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	wantReply(t, f.run(t, general, "U1", "lock"), commands.Ephemeral, "No meeting is bound to this channel yet.")
	wantReply(t, f.run(t, general, "U1", "lock 914083136"), commands.Ephemeral, "/meeting bind 914083136 PASSWORD")
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("%d meeting-API calls, want none", n)
	}
}

func TestAMeetingBoundInOneChannelCannotBeControlledFromAnother(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.run(t, general, "U1", "bind 914083136 "+password)
	f.fake.ResetCalls()
	wantReply(t, f.run(t, random, "U1", "lock 914083136"), commands.Ephemeral, "Meeting 914083136 is not bound in this channel.")
	wantReply(t, f.run(t, random, "U0ADMIN", "lock"), commands.Ephemeral, "No meeting is bound")
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("%d meeting-API calls, want none", n)
	}
}

func TestSomeoneElseIsRefusedWithTheNamesOfWhoMayAct(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.run(t, general, "U1", "bind 914083136 "+password)
	f.fake.ResetCalls()
	for _, text := range []string{"lock", "unlock", "unbind", "bind 914083136 654321", "grant <@U3>", "revoke <@U1>"} {
		r := f.run(t, general, "U2", text)
		wantReply(t, r, commands.Ephemeral, "Only this channel's controllers can")
		if !strings.Contains(r.PlainText(), "<@U1>") || !strings.Contains(r.PlainText(), "<@U0ADMIN>") {
			t.Fatalf("%q: the refusal does not name who may act: %q", text, r.PlainText())
		}
	}
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("%d meeting-API calls, want none", n)
	}
	if locked, known := f.fake.Locked(meetingID); locked || !known {
		t.Fatal("a refused lock changed the meeting")
	}
	wantReply(t, f.run(t, general, "U0ADMIN", "lock"), commands.InChannel, "locked by <@U0ADMIN>")
}

func TestWrongPasswordStoresNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r := f.run(t, general, "U1", "bind 914083136 999999")
	wantReply(t, r, commands.Ephemeral, "was not accepted, so nothing was stored")
	wantReply(t, r, commands.Ephemeral, "MMC.111072065 (HTTP 400)")
	if _, err := f.store.Meeting(t.Context(), general, meetingID); err == nil {
		t.Fatal("a rejected password was stored")
	}
	if c, _ := f.store.Controllers(t.Context(), general); len(c) != 0 {
		t.Fatalf("a rejected bind made controllers: %v", c)
	}
}

func TestAnAPIErrorShowsItsCodeAndHintInTheChannel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.run(t, general, "U1", "bind 914083136 "+password)
	f.fake.SetState(meetingID, meetingapitest.Ended)
	r := f.run(t, general, "U1", "lock")
	if r.Visibility != commands.InChannel {
		t.Fatal("an API error must be shown in the channel")
	}
	want := ":warning: Could not lock meeting 914083136: MMC.111072006 (HTTP 400) - " + meetingapi.Hint("MMC.111072006")
	if r.Text != want {
		t.Fatalf("text = %q\nwant %q", r.Text, want)
	}
}

func TestAnUnknownCodeStillShowsTheCodeAndTheVendorsMessage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.run(t, general, "U1", "bind 914083136 "+password)
	f.fake.FailNext(meetingapitest.EndpointLock, 1, 400, "MMC.999999999")
	r := f.run(t, general, "U1", "lock")
	wantReply(t, r, commands.InChannel, "Could not lock meeting 914083136: MMC.999999999 (HTTP 400) - injected fault")
}

func TestAnExpiredTokenIsRefetchedOnceAndTheLockSucceeds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.run(t, general, "U1", "bind 914083136 "+password)
	f.fake.ExpireTokens()
	f.fake.ResetCalls()
	wantReply(t, f.run(t, general, "U1", "lock"), commands.InChannel, "locked by <@U1>")
	if tok, lock := f.fake.CallCount(meetingapitest.EndpointToken), f.fake.CallCount(meetingapitest.EndpointLock); tok != 1 || lock != 2 {
		t.Fatalf("calls: %d token, %d lock; want 1 and 2 (a 401, then the retry)", tok, lock)
	}
}

func TestATokenThatKeepsFailingIsNotRetriedForever(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.run(t, general, "U1", "bind 914083136 "+password)
	f.fake.ResetCalls()
	f.fake.FailNext(meetingapitest.EndpointLock, 5, 401, "MMC.111070004")
	wantReply(t, f.run(t, general, "U1", "lock"), commands.InChannel, "MMC.111070004 (HTTP 401)")
	if n := f.fake.CallCount(meetingapitest.EndpointLock); n != 2 {
		t.Fatalf("%d lock calls, want 2", n)
	}
}

func TestConcurrentCommandsShareOneTokenFetch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.run(t, general, "U1", "bind 914083136 "+password)
	if err := f.store.DropToken(t.Context(), general, meetingID); err != nil {
		t.Fatal(err)
	}
	f.fake.ResetCalls()
	f.fake.SetLatency(20 * time.Millisecond)
	var wg sync.WaitGroup
	replies := make([]commands.Reply, 16)
	for i := range replies {
		wg.Go(func() { replies[i] = f.run(t, general, "U1", "lock") })
	}
	wg.Wait()
	for _, r := range replies {
		wantReply(t, r, commands.InChannel, "locked by <@U1>")
	}
	if n := f.fake.CallCount(meetingapitest.EndpointToken); n != 1 {
		t.Fatalf("%d token fetches for 16 concurrent locks, want 1", n)
	}
}

func TestBindingAMeetingThatHasNotStartedStoresItUnverified(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.fake.AddMeeting("555000111", "777777", meetingapitest.NotStarted)
	r := f.run(t, general, "U1", "bind 555000111 777777")
	wantReply(t, r, commands.Ephemeral, "could not be checked yet")
	if _, err := f.store.Password(t.Context(), general, "555000111"); err != nil {
		t.Fatalf("an unverified bind was not stored: %v", err)
	}
}

func TestUnbindForgetsTheCredential(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.run(t, general, "U1", "bind 914083136 "+password)
	wantReply(t, f.run(t, general, "U1", "unbind"), commands.Ephemeral, "no longer bound")
	if _, err := f.store.Password(t.Context(), general, meetingID); err == nil {
		t.Fatal("the password survived unbind")
	}
	wantReply(t, f.run(t, general, "U1", "lock"), commands.Ephemeral, "No meeting is bound")
}

func TestGrantAndRevokeManageControllers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.run(t, general, "U1", "bind 914083136 "+password)
	wantReply(t, f.run(t, general, "U1", "grant <@U2|bob>"), commands.InChannel, "<@U2> can now lock and unlock")
	wantReply(t, f.run(t, general, "U2", "lock"), commands.InChannel, "locked by <@U2>")
	wantReply(t, f.run(t, general, "U2", "controllers"), commands.Ephemeral, "<@U1>, <@U2>")
	wantReply(t, f.run(t, general, "U1", "revoke <@U2>"), commands.InChannel, "can no longer control")
	wantReply(t, f.run(t, general, "U2", "unlock"), commands.Ephemeral, "Only this channel's controllers")
	wantReply(t, f.run(t, general, "U1", "revoke <@U1>"), commands.Ephemeral, "only controller")
	wantReply(t, f.run(t, general, "U1", "revoke <@U9>"), commands.Ephemeral, "not a controller here")
}

func TestStatusShowsBindingTokenLockStateAndItsSource(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	wantReply(t, f.run(t, general, "U2", "status"), commands.Ephemeral, "No meeting is bound")
	f.run(t, general, "U1", "bind 914083136 "+password)
	r := f.run(t, general, "U2", "status")
	wantReply(t, r, commands.Ephemeral, "Meeting 914083136 was bound to this channel by <@U1>")
	wantReply(t, r, commands.Ephemeral, "Control token: valid until")
	wantReply(t, r, commands.Ephemeral, "Lock state: unknown")
	f.run(t, general, "U1", "lock")
	r = f.run(t, general, "U2", "status")
	wantReply(t, r, commands.Ephemeral, "Lock state: locked by <@U1>")
	if r.Note != commands.StatusNote {
		t.Fatalf("status does not say where the lock state comes from: %q", r.Note)
	}
}

func TestHistoryRecordsActionsRefusalsAndErrorsWithoutSecrets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.run(t, general, "U1", "bind 914083136 "+password)
	f.run(t, general, "U1", "lock")
	f.run(t, general, "U2", "unlock")
	f.fake.SetState(meetingID, meetingapitest.Ended)
	f.run(t, general, "U1", "unlock")
	r := f.run(t, general, "U2", "history 3")
	wantReply(t, r, commands.Ephemeral, "The last 3 actions")
	lines := r.Details
	if len(lines) != 3 ||
		!strings.Contains(lines[0], "<@U1> unlock 914083136: error MMC.111072006 (request ") ||
		!strings.Contains(lines[1], "<@U2> unlock 914083136: refused") ||
		!strings.Contains(lines[2], "<@U1> lock 914083136: ok") {
		t.Fatalf("history = %q", lines)
	}
	all, err := f.store.History(t.Context(), general, 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range all {
		if strings.Contains(rec.Detail+rec.ErrorCode+rec.RequestID, password) {
			t.Fatalf("an audit record holds the password: %+v", rec)
		}
	}
}

func TestExecuteHonoursCancellation(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.run(t, general, "U1", "bind 914083136 "+password)
	f.fake.SetLatency(time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	cmd, _ := commands.Parse("lock")
	r := f.svc.Execute(ctx, commands.Request{Channel: general, UserID: "U1", Command: cmd})
	wantReply(t, r, commands.InChannel, "did not answer in time")
}

func TestACredentialThatCannotBeDecryptedIsNeverSent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.run(t, general, "U1", "bind 914083136 "+password)
	f.run(t, random, "U1", "bind 914083136 "+password)
	// Copy the credential stored for another channel over this channel's:
	// the associated data no longer matches, so it must not decrypt.
	raw, err := sql.Open("sqlite", f.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.ExecContext(t.Context(), `UPDATE meetings SET password_ct = (SELECT password_ct FROM meetings WHERE channel = ?), token_ct = NULL, token_expires_at = NULL WHERE channel = ?`, random.ID, general.ID); err != nil {
		t.Fatal(err)
	}
	f.fake.ResetCalls()
	r := f.run(t, general, "U1", "lock")
	wantReply(t, r, commands.Ephemeral, "cannot be decrypted, so nothing was sent to the meeting")
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("%d meeting-API calls with a credential that does not decrypt", n)
	}
	wantReply(t, f.run(t, random, "U1", "lock"), commands.InChannel, "locked by <@U1>")
}
