package bot_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

func payloadOf(t *testing.T, raw json.RawMessage) (responseType, text string) {
	t.Helper()
	var p struct {
		ResponseType string `json:"response_type"`
		Text         string `json:"text"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("ack payload %s: %v", raw, err)
	}
	return p.ResponseType, p.Text
}

func TestBindLockAndConfirmOverSocketMode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)

	_, ack := h.send(t, "C1", "U1", "bind 914083136 "+password)
	if rt, text := payloadOf(t, ack.Payload); rt != "ephemeral" || !strings.Contains(text, "Checking the host password for meeting 914083136") {
		t.Fatalf("bind ack = %s %q", rt, text)
	}
	m := h.reply(t, "C1", "U1", "bind 914083136 "+password)
	if m.Via != "response_url" || m.ResponseType != "ephemeral" || !strings.Contains(m.Text, "is now bound") {
		t.Fatalf("bind reply = %+v", m)
	}

	// The ack of a control says nothing: it cannot know yet whether U1 may
	// lock, and nothing should suggest an action that may not happen.
	id, ack := h.send(t, "C1", "U1", "lock")
	if len(ack.Payload) != 0 {
		t.Fatalf("lock ack carries %s, want no payload", ack.Payload)
	}
	msgs, err := h.slack.WaitMessages(h.ctx(t), id, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := msgs[0]; got.Via != "response_url" || got.ResponseType != "in_channel" || got.Text != ":lock: Meeting 914083136 locked by <@U1>." {
		t.Fatalf("lock reply = %+v", got)
	}
	var blocks []struct{ Text struct{ Text string } }
	if err := json.Unmarshal(msgs[0].Blocks, &blocks); err != nil || len(blocks) == 0 || blocks[0].Text.Text != ":lock: Meeting 914083136 locked by <@U1>." {
		t.Fatalf("blocks do not carry the words: %s", msgs[0].Blocks)
	}
	if locked, _ := h.meetings.Locked(meetingID); !locked {
		t.Fatal("the meeting is not locked")
	}
}

func TestUnlockByExplicitID(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.reply(t, "C1", "U1", "lock")
	m := h.reply(t, "C1", "U1", "unlock 914-083-136")
	if m.ResponseType != "in_channel" || m.Text != ":unlock: Meeting 914083136 unlocked by <@U1>." {
		t.Fatalf("unlock reply = %+v", m)
	}
	if locked, _ := h.meetings.Locked(meetingID); locked {
		t.Fatal("the meeting is still locked")
	}
}

func TestAnAPIErrorCodeIsShownWithItsHint(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	// The meeting ends after it was bound: the lock fails with the
	// vendor's code, plain words first.
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.meetings.SetState(meetingID, meetingapitest.Ended)
	h.meetings.ExpireTokens()
	m := h.reply(t, "C1", "U1", "lock")
	want := ":warning: Could not lock meeting 914083136: the meeting has ended (MMC.111072006, HTTP 400)."
	if m.ResponseType != "in_channel" || m.Text != want {
		t.Fatalf("reply = %s %q\nwant in_channel %q", m.ResponseType, m.Text, want)
	}
}

func TestAWrongPasswordIsRefusedAndNothingIsStored(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := h.reply(t, "C1", "U1", "bind 914083136 000000")
	if m.ResponseType != "ephemeral" || !strings.Contains(m.Text, "was not accepted, so nothing was stored") || strings.Contains(m.Text, "000000") {
		t.Fatalf("reply = %+v", m)
	}
	m = h.reply(t, "C1", "U1", "lock")
	if !strings.Contains(m.Text, "No meeting is bound") {
		t.Fatalf("after a rejected bind, lock says %q", m.Text)
	}
}

func TestLockWithNoIDAndNothingBound(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	m := h.reply(t, "C1", "U1", "lock")
	if m.ResponseType != "ephemeral" || !strings.Contains(m.Text, "No meeting is bound to this channel yet.") || !strings.Contains(m.Text, "/meeting bind ID") ||
		strings.Contains(m.Text, "lock ID") {
		t.Fatalf("reply = %+v", m)
	}
	if n := len(h.meetings.Calls()); n != 0 {
		t.Fatalf("%d meeting-API calls", n)
	}
}

func TestAnUnauthorizedUserIsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.meetings.ResetCalls()
	id, ack := h.send(t, "C1", "U2", "lock")
	// Nothing suggests an action that will not happen: no "Locking…" in
	// the ack, and the refusal is the only message.
	if len(ack.Payload) != 0 {
		t.Fatalf("the ack of a command that will be refused says %s", ack.Payload)
	}
	m := h.outcome(t, id)
	if m.ResponseType != "ephemeral" || !strings.Contains(m.Text, "Only this channel's controllers can lock meeting 914083136: <@U1>.") {
		t.Fatalf("reply = %+v", m)
	}
	h.idle(t)
	if msgs := h.slack.MessagesFor(id); len(msgs) != 1 {
		t.Fatalf("a refused command got %d messages, want only the refusal: %+v", len(msgs), msgs)
	}
	if n := len(h.meetings.Calls()); n != 0 {
		t.Fatalf("a refused command made %d meeting-API calls", n)
	}
	if m := h.reply(t, "C1", admin, "lock"); !strings.Contains(m.Text, "locked by <@U0ADMIN>") {
		t.Fatalf("an admin's lock = %q", m.Text)
	}
}

func TestChannelScoping(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	m := h.reply(t, "C2", "U1", "lock 914083136")
	if !strings.Contains(m.Text, "Meeting 914083136 is not bound in this channel.") {
		t.Fatalf("reply = %q", m.Text)
	}
	if locked, _ := h.meetings.Locked(meetingID); locked {
		t.Fatal("a meeting bound in C1 was locked from C2")
	}
}

func TestARestartKeepsBindings(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.restart(t)
	if m := h.reply(t, "C1", "U1", "lock"); m.Text != ":lock: Meeting 914083136 locked by <@U1>." {
		t.Fatalf("after a restart, lock says %q", m.Text)
	}
}

func TestUsageErrorsAreAnsweredInTheAckAndCallNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for _, text := range []string{"", "help", "explode", "lock 12", "lock ９１４０８３１３６", "lock 914083136 123456789", strings.Repeat("x", 3000), "lock \u202e914083136"} {
		id, ack := h.send(t, "C1", "U1", text)
		rt, got := payloadOf(t, ack.Payload)
		if rt != "ephemeral" || !strings.Contains(got, "/meeting") {
			t.Fatalf("%q: ack = %s %q", text, rt, got)
		}
		if ack.Dropped {
			t.Fatalf("%q: the ack was too big for Slack (%d bytes)", text, ack.Size)
		}
		h.idle(t)
		if n := len(h.slack.MessagesFor(id)); n != 0 {
			t.Fatalf("%q: %d further messages", text, n)
		}
	}
	if n := len(h.meetings.Calls()); n != 0 {
		t.Fatalf("bad input made %d meeting-API calls", n)
	}
}

// A redelivered envelope, on the same process or after a restart (when only
// the store's record of it is left), is acked again and acted on once.
func TestARedeliveredEnvelopeIsActedOnOnce(t *testing.T) {
	t.Parallel()
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.reply(t, "C1", "U1", "bind 914083136 "+password)
			h.meetings.ResetCalls()
			id, _ := h.send(t, "C1", "U1", "lock")
			if _, err := h.slack.WaitMessages(h.ctx(t), id, 1); err != nil {
				t.Fatal(err)
			}
			if restart {
				h.restart(t)
			}
			if err := h.slack.Redeliver(h.ctx(t), id); err != nil {
				t.Fatal(err)
			}
			h.waitAcks(t, id, 2)
			if n := len(h.slack.AcksFor(id)); n != 2 {
				t.Fatalf("%d acks, want both deliveries acked", n)
			}
			h.idle(t)
			if n := len(h.slack.MessagesFor(id)); n != 1 {
				t.Fatalf("%d replies to one envelope delivered twice", n)
			}
			if n := h.meetings.CallCount(meetingapitest.EndpointLock); n != 1 {
				t.Fatalf("%d lock calls for one envelope delivered twice", n)
			}
		})
	}
}

func TestAFailedResponseURLFallsBackToTheWebAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.slack.FailResponseURL(1, 500)
	id, _ := h.send(t, "C1", "U1", "lock")
	h.idle(t)
	var posted bool
	for _, m := range h.slack.Messages() {
		if m.Via == "chat.postMessage" && m.Channel == "C1" && m.Text == ":lock: Meeting 914083136 locked by <@U1>." {
			posted = true
		}
	}
	if !posted {
		t.Fatalf("no chat.postMessage fallback; messages for the envelope: %+v", h.slack.MessagesFor(id))
	}
}

func TestShutdownLetsAnInFlightCommandFinish(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.idle(t) // the bind's reply is posted just before it stops counting
	h.meetings.SetLatency(300 * time.Millisecond)
	id, _ := h.send(t, "C1", "U1", "lock")
	if h.bot.InFlight() != 1 {
		t.Fatalf("in flight = %d after the ack, want 1", h.bot.InFlight())
	}
	h.stop(t) // returns only after the drain
	msgs := h.slack.MessagesFor(id)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "locked by <@U1>") {
		t.Fatalf("the in-flight lock was not finished before shutdown: %+v", msgs)
	}
}

func TestTheDrainIsBounded(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withBot(func(c *bot.Config) { c.DrainTimeout = 100 * time.Millisecond }))
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.meetings.SetLatency(time.Minute)
	h.send(t, "C1", "U1", "lock")
	start := time.Now()
	h.stop(t)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("shutdown took %v with a 100ms drain bound", took)
	}
}

func TestSecretsNeverReachLogsMessagesOrTheDatabase(t *testing.T) {
	t.Parallel()
	const secretPassword = "Zq8#secret-host-pw"
	h := newHarness(t)
	h.meetings.AddMeeting("777888999", secretPassword, meetingapitest.InProgress)
	h.reply(t, "C1", "U1", "bind 777888999 wrong-"+secretPassword)
	h.reply(t, "C1", "U1", "bind 777888999 "+secretPassword)
	h.reply(t, "C1", "U1", "lock")
	h.meetings.ExpireTokens()
	h.reply(t, "C1", "U1", "unlock")
	h.reply(t, "C1", "U1", "status")
	h.meetings.SetState("777888999", meetingapitest.Ended)
	h.reply(t, "C1", "U1", "lock")
	// The form path: bind in another channel through the modal.
	h.meetings.SetState("777888999", meetingapitest.InProgress)
	id, _ := h.send(t, "C2", "U1", "bind 777888999")
	deadline := time.Now().Add(10 * time.Second)
	for len(h.slack.Views()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	h.submitBindForm(t, "U1", "wrong-"+secretPassword)
	h.submitBindForm(t, "U1", secretPassword)
	if _, err := h.slack.WaitMessages(h.ctx(t), id, 1); err != nil {
		t.Fatal(err)
	}
	h.reply(t, "C2", "U1", "lock")
	h.restart(t)
	h.reply(t, "C1", "U1", "lock")
	h.stop(t)

	secrets := []string{secretPassword, h.key.Encode()}
	for _, c := range h.meetings.Calls() {
		if tok := c.Header.Get("X-Conference-Authorization"); tok != "" {
			secrets = append(secrets, tok)
		}
	}
	if len(secrets) < 4 {
		t.Fatalf("expected several control tokens to check, got %d secrets", len(secrets))
	}
	var haystack strings.Builder
	haystack.WriteString(h.logs.String())
	for _, m := range h.slack.Messages() {
		haystack.Write(m.Raw)
	}
	for _, a := range h.slack.Acks() {
		haystack.Write(a.Payload)
	}
	for _, v := range h.slack.Views() {
		haystack.Write(v.View)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if b, err := os.ReadFile(h.dbPath + suffix); err == nil {
			haystack.Write(b)
		}
	}
	if !strings.Contains(h.logs.String(), "command handled") {
		t.Fatal("the debug log is empty; the check would prove nothing")
	}
	// A response_url is a capability to post in the channel: it may travel
	// in the form's private_metadata, but never into a log or the database.
	var logsAndDB strings.Builder
	logsAndDB.WriteString(h.logs.String())
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if b, err := os.ReadFile(h.dbPath + suffix); err == nil {
			logsAndDB.Write(b)
		}
	}
	if strings.Contains(logsAndDB.String(), h.slack.URL()+"/response/") {
		t.Fatal("a response_url appears in a log line or the database")
	}
	for _, s := range secrets {
		if strings.Contains(haystack.String(), s) {
			t.Fatalf("a secret (%d chars) appears in a log line, a Slack message or the database", len(s))
		}
	}
}

func TestASlashCommandForAnotherNameIsAckedAndExplained(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	ctx := h.ctx(t)
	id, err := h.slack.SendSlashCommand(ctx, slackCommand("/other", "lock"))
	if err != nil {
		t.Fatal(err)
	}
	ack, err := h.slack.WaitAck(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if _, text := payloadOf(t, ack.Payload); !strings.Contains(text, "meetingbot answers /meeting, not /other") {
		t.Fatalf("ack = %q", text)
	}
}

func TestASlowMeetingAPIGetsAStillTryingLineThenTheOutcome(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withBot(func(c *bot.Config) { c.ProgressAfter = 50 * time.Millisecond }))
	// On a loaded machine the bind itself can take longer than 50 ms and
	// get a progress line first: wait for its outcome, not that line, or
	// the lock below runs before anything is bound.
	if m := h.reply(t, "C1", "U1", "bind 914083136 "+password); !strings.Contains(m.Text, "is now bound") {
		t.Fatalf("bind = %q", m.Text)
	}
	// A wide gap between the progress timer and the answer, so a loaded
	// machine cannot reorder them.
	h.meetings.SetLatency(2 * time.Second)
	id, _ := h.send(t, "C1", "U1", "lock")
	msgs, err := h.slack.WaitMessages(h.ctx(t), id, 2)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].ResponseType == "in_channel" || !strings.Contains(msgs[0].Text, "Still trying") {
		t.Fatalf("first message = %+v, want an ephemeral progress line", msgs[0])
	}
	if msgs[1].ResponseType != "in_channel" || !strings.Contains(msgs[1].Text, "locked by <@U1>") {
		t.Fatalf("second message = %+v, want the outcome", msgs[1])
	}
}

func TestAFastCommandGetsNoProgressLine(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withBot(func(c *bot.Config) { c.ProgressAfter = 5 * time.Second }))
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	id, _ := h.send(t, "C1", "U1", "lock")
	h.idle(t)
	if n := len(h.slack.MessagesFor(id)); n != 1 {
		t.Fatalf("%d messages for a fast lock, want 1", n)
	}
}

func TestMeetingAPIOutagesAreRetriedThenReportedWithTheLastCode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)

	// Two 503s, then success: the user sees only the success.
	h.meetings.ResetCalls()
	h.meetings.FailNext(meetingapitest.EndpointLock, 2, 503, "MMC.111072049")
	if m := h.reply(t, "C1", "U1", "lock"); !strings.Contains(m.Text, "locked by <@U1>") {
		t.Fatalf("after two 503s: %q", m.Text)
	}
	if n := h.meetings.CallCount(meetingapitest.EndpointLock); n != 3 {
		t.Fatalf("%d lock calls, want 3", n)
	}

	// A longer outage ends in a clear message with the last code.
	h.meetings.FailNext(meetingapitest.EndpointLock, 10, 503, "MMC.111072049")
	m := h.reply(t, "C1", "U1", "unlock")
	if m.ResponseType != "in_channel" || !strings.HasPrefix(m.Text, ":warning: Could not unlock meeting 914083136: the meeting service") ||
		!strings.HasSuffix(m.Text, "(MMC.111072049, HTTP 503).") {
		t.Fatalf("after an outage: %q", m.Text)
	}
}

func TestWhenNothingCanPostInTheChannelTheUserIsToldDirectly(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.slack.SetNotInChannel("C1")
	h.slack.FailResponseURL(1, 404)
	h.send(t, "C1", "U1", "lock")
	h.idle(t)
	var dm *slacktest.Message
	for _, m := range h.slack.Messages() {
		if m.Via == "chat.postMessage" && m.Channel == "U1" {
			dm = &m
		}
	}
	if dm == nil || !strings.Contains(dm.Text, "I could not post in <#C1>") || !strings.Contains(dm.Text, "locked by <@U1>") {
		t.Fatalf("no explanation reached the user: %+v", h.slack.Messages())
	}
}

func TestACommandThatRunsOutOfTimeStillReportsItsOutcome(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withBot(func(c *bot.Config) { c.CommandTimeout = time.Second }))
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.meetings.SetLatency(3 * time.Second)
	m := h.reply(t, "C1", "U1", "lock")
	if m.ResponseType != "in_channel" || !strings.Contains(m.Text, "Could not lock meeting 914083136") {
		t.Fatalf("reply = %+v, want the outcome in the channel", m)
	}
	if s := h.bot.Stats(); s.DeliveryFailures != 0 {
		t.Fatalf("%d delivery failures", s.DeliveryFailures)
	}
}

func TestAWebAPIRateLimitIsWaitedOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.slack.FailResponseURL(1, 500)
	h.slack.FailWebAPI("chat.postMessage", 1, "ratelimited") // HTTP 429, Retry-After: 1
	start := time.Now()
	h.send(t, "C1", "U1", "lock")
	h.idle(t)
	var calls []string
	for _, c := range h.slack.APICalls() {
		if c.Method == "chat.postMessage" {
			calls = append(calls, fmt.Sprintf("ok=%v err=%s", c.OK, c.Error))
		}
	}
	if len(calls) != 2 || calls[0] != "ok=false err=ratelimited" || calls[1] != "ok=true err=" {
		t.Fatalf("chat.postMessage calls: %v", calls)
	}
	if waited := time.Since(start); waited < time.Second {
		t.Fatalf("retried after %v, before Retry-After", waited)
	}
	if s := h.bot.Stats(); s.DeliveryFailures != 0 {
		t.Fatalf("%d delivery failures", s.DeliveryFailures)
	}
}
