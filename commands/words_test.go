package commands_test

// Issue 9, items 6 to 10: what people type and read. (Items 6 and 8 are
// also covered in grammar_test.go: usage lines, did-you-mean, help VERB,
// no progress line for a command that may be refused.)

import (
	"strings"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

// Item 6: through the service too, a malformed command changes nothing.
func TestAMalformedCommandIsAnsweredWithItsUsageAndCallsNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	f.fake.ResetCalls()
	for text, want := range map[string]string{
		"lock 914083136 now": ":grey_question: `lock` takes at most one argument, the conference ID; `now` is one too many.\nUsage: `/meeting lock [ID]`",
		"lokc":               ":grey_question: I don't know the command `lokc`. Did you mean `lock`?\nUsage: `/meeting lock [ID]`",
	} {
		_, err := commands.Parse(text)
		if got := commands.UsageReply(f.svc.Command(), err).PlainText(); got != want {
			t.Errorf("%q: %q, want %q", text, got, want)
		}
	}
	r := f.run(t, general, "U2", "help lock")
	if r.Visibility != commands.Ephemeral || !strings.HasPrefix(r.Text, "`/meeting lock [ID]` - Lock the meeting") {
		t.Fatalf("help lock = %q", r.PlainText())
	}
	if n := len(f.fake.Calls()); n != 0 {
		t.Fatalf("%d meeting-API calls", n)
	}
}

// Item 7: hints lead somewhere.
func TestHintsLeadSomewhere(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	// Nothing bound: naming a meeting cannot help, so the hint is to bind.
	for _, text := range []string{"lock", "unlock", "who", "status", "end", "extend", "mute", "remove Bob"} {
		r := f.run(t, general, "U1", text)
		wantOutcome(t, r, commands.OutcomeRefused)
		if r.Text != ":information_source: No meeting is bound to this channel yet." || !strings.Contains(r.PlainText(), "`/meeting bind ID`") ||
			strings.Contains(r.PlainText(), "lock ID") || strings.Contains(r.PlainText(), "controller") {
			t.Fatalf("%s with nothing bound: %q", text, r.PlainText())
		}
	}
	r := f.run(t, general, "U1", "lock 914083136")
	if !strings.Contains(r.PlainText(), "Anyone here can bind it (and becomes this channel's first controller) with `/meeting bind 914083136`.") {
		t.Fatalf("lock ID in an empty channel: %q", r.PlainText())
	}

	// A refusal in a channel without controllers asks nobody.
	r = f.run(t, general, "U2", "grant <@U3>")
	wantOutcome(t, r, commands.OutcomeRefused)
	if r.Text != ":no_entry: Only this channel's controllers can grant control, and it has none yet." ||
		!strings.Contains(r.PlainText(), "Bind a meeting here with `/meeting bind ID` to become its first controller.") ||
		strings.Contains(r.PlainText(), "Ask") || strings.Contains(r.PlainText(), "ask a controller") {
		t.Fatalf("refusal without controllers: %q", r.PlainText())
	}

	// With controllers, the refusal names them (and the admins).
	f.bind(t, general, "U1")
	r = f.run(t, general, "U2", "lock")
	if r.Text != ":no_entry: Only this channel's controllers can lock meeting 914083136: <@U1>." ||
		strings.Join(r.Details, "\n") != "Ask one of them to run `/meeting grant @you`.\nmeetingbot admins can too, and can grant you: <@U0ADMIN>." {
		t.Fatalf("refusal with controllers: %q", r.PlainText())
	}
	// A meeting bound elsewhere: a controller here can bind it.
	r = f.run(t, general, "U2", "lock "+otherID)
	wantReply(t, r, commands.Ephemeral, "Meeting 555000111 is not bound in this channel.\nCredentials are kept per channel. A controller here can bind it with `/meeting bind 555000111`.")
}

func TestARefusalWithoutAdminsNamesOnlyTheControllers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, withoutAdmins())
	f.bind(t, general, "U1")
	r := f.run(t, general, "U2", "who")
	if r.PlainText() != ":no_entry: Only this channel's controllers can see who is in meeting 914083136: <@U1>.\nAsk one of them to run `/meeting grant @you`." {
		t.Fatalf("refusal = %q", r.PlainText())
	}
	if s := f.status(t, general, "U2"); !strings.Contains(s, "Controllers: <@U1>.") {
		t.Fatalf("status = %q", s)
	}
}

// Item 9: the second lock says it already was.
func TestTheSecondLockSaysItAlreadyWas(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	wantReply(t, f.run(t, general, "U1", "lock"), commands.InChannel, "locked by <@U1>")
	f.clock.Advance(3 * time.Minute)
	r := f.run(t, general, "U2x", "status") // anyone may read status
	wantReply(t, r, commands.Ephemeral, "Lock state: locked by <@U1> at 2026-11-26 14:00 UTC (set through meetingbot).")
	wantReply(t, f.run(t, general, "U1", "grant <@U2>"), commands.InChannel, "can now control")
	r = f.run(t, general, "U2", "lock")
	if r.Visibility != commands.InChannel || r.PlainText() != ":lock: Meeting 914083136 locked by <@U2>.\nIt already was: <@U1> locked it at 14:00 UTC." {
		t.Fatalf("second lock = %v %q", r.Visibility, r.PlainText())
	}
	if n := f.fake.CallCount(meetingapitest.EndpointLock); n != 2 {
		t.Fatalf("%d lock calls: the second lock must still be sent", n)
	}
}

// Item 9: once the meeting service says the meeting has ended, status no
// longer says locked; errors lead with plain words, then the code.
func TestAfterTheMeetingHasEndedStatusNoLongerSaysLocked(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	wantReply(t, f.run(t, general, "U1", "lock"), commands.InChannel, "locked by <@U1>")
	f.fake.SetState(meetingID, meetingapitest.Ended)
	f.clock.Advance(5 * time.Minute)
	r := f.run(t, general, "U1", "unlock")
	wantOutcome(t, r, commands.OutcomeAPIError)
	if r.Visibility != commands.InChannel || r.PlainText() != ":warning: Could not unlock meeting 914083136: the meeting has ended (MMC.111072006, HTTP 400)." {
		t.Fatalf("unlock of an ended meeting = %v %q", r.Visibility, r.PlainText())
	}
	s := f.status(t, general, "U1")
	if !strings.Contains(s, "Lock state: unknown; the meeting service said the meeting was over at 2026-11-26 14:05 UTC.") || strings.Contains(s, "locked by") {
		t.Fatalf("status = %q", s)
	}
}

func TestErrorsLeadWithPlainWordsThenTheCodeVerbatim(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.bind(t, general, "U1")
	tests := []struct {
		status int
		code   string
		want   string
	}{
		{400, "MMC.999999999", ":warning: Could not lock meeting 914083136: injected fault (MMC.999999999, HTTP 400)."},
		{403, "MMC.111070002", ":warning: Could not lock meeting 914083136: the host account does not have permission to do that (MMC.111070002, HTTP 403)."},
		{400, "MMC.111072050", ":warning: Could not lock meeting 914083136: the meeting is locked (MMC.111072050, HTTP 400)."},
		{429, "100000429", ":warning: Could not lock meeting 914083136: the meeting service is limiting requests; wait a moment and try again (100000429, HTTP 429)."},
	}
	for _, tt := range tests {
		// The client retries flow control; fail every try.
		f.fake.FailNext(meetingapitest.EndpointLock, 10, tt.status, tt.code)
		r := f.run(t, general, "U1", "lock")
		f.fake.FailNext(meetingapitest.EndpointLock, 0, 0, "")
		wantOutcome(t, r, commands.OutcomeAPIError)
		if r.Visibility != commands.InChannel || r.Text != tt.want {
			t.Errorf("%s: %v %q\nwant %q", tt.code, r.Visibility, r.Text, tt.want)
		}
	}
	// A wrong stored password (the host changed it) leads to a re-bind.
	f.fake.SetPassword(meetingID, "changed")
	f.fake.ExpireTokens()
	r := f.run(t, general, "U1", "lock")
	if r.PlainText() != ":warning: Could not lock meeting 914083136: the meeting was not found or the host password is wrong (MMC.111072065, HTTP 400).\n"+
		"If the host password changed, a controller can bind it again: `/meeting bind 914083136`." {
		t.Fatalf("wrong stored password: %q", r.PlainText())
	}
}

// Item 10: history's words.
func TestHistorySaysWhatHappenedInPlainWords(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	wantReply(t, f.run(t, general, "U1", "history"), commands.Ephemeral, ":scroll: Nothing has happened in this channel yet.")
	f.bind(t, general, "U1")
	r := f.run(t, general, "U1", "history")
	if r.PlainText() != ":scroll: The last action in this channel:\n2026-11-26 14:00 UTC <@U1> bind 914083136: ok" {
		t.Fatalf("history of one = %q", r.PlainText())
	}

	// A refused grant says whom; the refused revoke of the last controller
	// is there too.
	wantOutcome(t, f.run(t, general, "U2", "grant <@U3>"), commands.OutcomeRefused)
	r = f.run(t, general, "U1", "revoke <@U1>")
	wantOutcome(t, r, commands.OutcomeRefused)
	wantReply(t, r, commands.Ephemeral, "<@U1> is this channel's only controller")
	wantReply(t, f.run(t, general, "U1", "grant <@U2>"), commands.InChannel, "<@U2> can now control this channel's meetings (granted by <@U1>).")
	wantReply(t, f.run(t, general, "U1", "revoke <@U2>"), commands.InChannel, "<@U2> can no longer control this channel's meetings (revoked by <@U1>).")
	r = f.run(t, general, "U1", "history 4")
	want := []string{
		"2026-11-26 14:00 UTC <@U1> revoke <@U2>: ok",
		"2026-11-26 14:00 UTC <@U1> grant <@U2>: ok",
		"2026-11-26 14:00 UTC <@U1> revoke <@U1>: refused",
		"2026-11-26 14:00 UTC <@U2> grant <@U3>: refused",
	}
	if r.Text != ":scroll: The last 4 actions in this channel, newest first:" || strings.Join(r.Details, "\n") != strings.Join(want, "\n") {
		t.Fatalf("history = %q", r.PlainText())
	}
	// Anyone may read it, and nothing in it is a secret.
	for _, rec := range f.history(t, general) {
		if strings.Contains(rec.Detail+rec.ErrorCode+rec.RequestID, password) {
			t.Fatalf("an audit record holds the password: %+v", rec)
		}
	}
}
