package bot_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/bot/slacktest"
)

// A handler that fails unexpectedly, wherever it fails, is answered
// (the ack, or a note to the person), logged without the payload, and the
// bot serves the next command.
func TestAHandlerThatPanicsIsAnsweredAndTheBotKeepsServing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	const leaky = "panic-value-with-a-secret"
	var failAt atomic.Pointer[string]
	bot.SetTestHook(h.bot, func(point string) {
		if p := failAt.Load(); p != nil && *p == point && failAt.CompareAndSwap(p, nil) {
			if point == "button" {
				var m map[string]int
				m["boom"]++ // a runtime error: it names no data, so it is logged
			}
			panic(leaky + " " + password)
		}
	})
	fail := func(point string) { failAt.Store(&point) }
	ctx := h.ctx(t)

	// Before the ack: the ack says so.
	fail("slash")
	_, ack := h.send(t, "C1", "U1", "lock")
	if !strings.Contains(string(ack.Payload), "Something went wrong inside meetingbot") {
		t.Errorf("slash command ack = %s", ack.Payload)
	}
	// After the ack: the person is told through the response_url.
	fail("slash-after-ack")
	if m := h.reply(t, "C1", "U1", "lock"); !strings.Contains(m.Text, "Something went wrong inside meetingbot") || m.ResponseType != "ephemeral" {
		t.Errorf("slash command after the ack: %+v", m)
	}
	fail("button")
	id, err := h.slack.SendBlockAction(ctx, slacktest.BlockAction{ChannelID: "C1", UserID: "U1", ActionID: "meeting_unlock", Value: meetingID})
	if err != nil {
		t.Fatal(err)
	}
	if m := h.outcome(t, id); !strings.Contains(m.Text, "Something went wrong inside meetingbot") {
		t.Errorf("button: %+v", m)
	}
	fail("form")
	id, err = h.slack.SendViewSubmission(ctx, slacktest.ViewSubmission{UserID: "U1", CallbackID: "meeting_bind",
		PrivateMetadata: `{"channel":"C2","conference_id":"914083136"}`,
		Values:          map[string]map[string]string{"password": {"password": password}}})
	if err != nil {
		t.Fatal(err)
	}
	if ack, err := h.slack.WaitAck(ctx, id); err != nil || !strings.Contains(string(ack.Payload), `"response_action":"errors"`) ||
		!strings.Contains(string(ack.Payload), "Something went wrong inside meetingbot") {
		t.Errorf("form ack = %s, %v", ack.Payload, err)
	}
	fail("other")
	id, err = h.slack.SendSlashCommand(ctx, slackCommand("/other", "lock"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.slack.WaitAck(ctx, id); err != nil {
		t.Errorf("an envelope for the default handler was not acked: %v", err)
	}

	h.idle(t)
	if s := h.bot.Stats(); s.Panics != 5 {
		t.Errorf("%d panics counted, want 5", s.Panics)
	}
	if locked, _ := h.meetings.Locked(meetingID); locked {
		t.Error("a command that failed before running locked the meeting")
	}
	if m := h.reply(t, "C1", "U1", "lock"); m.Text != ":lock: Meeting 914083136 locked by <@U1>." {
		t.Fatalf("after five failures, lock = %q", m.Text)
	}
	logs := h.logs.String()
	if !strings.Contains(logs, "assignment to entry in nil map") || strings.Count(logs, "a handler failed") != 5 {
		t.Errorf("the failures are not all logged:\n%s", logs)
	}
	for _, secret := range []string{leaky, h.slack.URL() + "/response/"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log holds %q", secret)
		}
	}
}
