package bot_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
)

// A command that a stopped process acknowledged and claimed, but never
// answered, is run again by a live one when its lease runs out, and
// answered once, through the same response_url.
func TestACommandLeftByAStoppedProcessIsAnsweredByAnother(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withBot(func(c *bot.Config) {
		c.ClaimLease = 3 * time.Second
		c.TakeoverEvery = 100 * time.Millisecond
	}))
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.meetings.ResetCalls()

	// What the dead process left: a claim whose lease has run out, with
	// the command it was running, as bot/claims.go writes it.
	env := h.slack.DeliveredElsewhere()
	payload, err := json.Marshal(map[string]any{
		"kind": "slash", "channel": "C1", "user": "U1", "text": "lock",
		"response_url": env.ResponseURL, "received": time.Now().UnixMilli(),
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := h.store.ClaimEnvelope(t.Context(), store.Claim{EnvelopeID: env.ID, Holder: "a-replica-that-died",
		ClaimedAt: now.Add(-time.Minute), LeaseUntil: now.Add(-time.Second), Payload: payload}); err != nil {
		t.Fatal(err)
	}

	msgs, err := h.slack.WaitMessages(h.ctx(t), env.ID, 1)
	if err != nil {
		t.Fatalf("the command left behind was not answered: %v", err)
	}
	if m := msgs[0]; m.Via != "response_url" || m.ResponseType != "in_channel" || m.Text != ":lock: Meeting 914083136 locked by <@U1>." {
		t.Fatalf("the answer = %+v", m)
	}
	if locked, _ := h.meetings.Locked(meetingID); !locked {
		t.Fatal("the meeting is not locked")
	}
	// It is answered once: the claim is finished, so nobody takes it again.
	h.idle(t)
	taken, err := h.store.TakeExpiredClaims(t.Context(), "someone-else", time.Now().Add(time.Hour), time.Now().Add(2*time.Hour), 10)
	if err != nil || len(taken) != 0 {
		t.Fatalf("the claim was left open: %+v, %v", taken, err)
	}
	if n := len(h.slack.MessagesFor(env.ID)); n != 1 {
		t.Fatalf("%d answers, want 1", n)
	}
	if n := h.meetings.CallCount(meetingapitest.EndpointLock); n != 1 {
		t.Fatalf("%d lock calls, want 1", n)
	}
	if strings.Contains(h.logs.String(), env.ResponseURL) {
		t.Fatal("the response_url reached the log")
	}
}
