package bot_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
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

// renewals counts the claim renewals that name an envelope.
type renewals struct {
	bot.Claims
	mu  sync.Mutex
	ids map[string]int
}

func (r *renewals) Renew(ctx context.Context, holder string, ids []string, until time.Time) error {
	r.mu.Lock()
	for _, id := range ids {
		r.ids[id]++
	}
	r.mu.Unlock()
	return r.Claims.Renew(ctx, holder, ids, until)
}

func (r *renewals) of(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[id]
}

// A command still running at shutdown keeps its claim's lease through the
// drain; were it let go, another replica would take it over and the
// command would be answered twice.
func TestACommandRunningAtShutdownKeepsItsLeaseThroughTheDrain(t *testing.T) {
	t.Parallel()
	var r *renewals
	h := newHarness(t, withBot(func(c *bot.Config) {
		r = &renewals{Claims: c.Claims, ids: map[string]int{}}
		c.Claims = r
		c.ClaimLease = 600 * time.Millisecond // renewed every 200 ms
	}))
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.idle(t)
	h.meetings.SetLatency(3 * time.Second)
	id, _ := h.send(t, "C1", "U1", "lock")
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		h.stop(t) // returns after the drain
	}()
	// Renewals counted from here on come after the stop began.
	waitUntil(t, "the drain to begin", func() bool { return strings.Contains(h.logs.String(), "draining in-flight commands") })
	before := r.of(id)
	waitUntil(t, "a renewal during the drain", func() bool { return r.of(id) > before })
	<-stopped
	if msgs := h.slack.MessagesFor(id); len(msgs) != 1 || !strings.Contains(msgs[0].Text, "locked by <@U1>") {
		t.Fatalf("the command running at shutdown was answered %d times: %+v", len(msgs), msgs)
	}
}

// lateRenewals never renews, as if every renewal came too late.
type lateRenewals struct{ bot.Claims }

func (lateRenewals) Renew(context.Context, string, []string, time.Time) error { return nil }

// When a command's own lease runs out while this process still runs it,
// the process's takeover finds it expired too; it must not run it a second
// time.
func TestAProcessNeverTakesOverACommandItIsStillRunning(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withBot(func(c *bot.Config) {
		c.Claims = lateRenewals{c.Claims}
		c.ClaimLease = 500 * time.Millisecond
		c.TakeoverEvery = 50 * time.Millisecond
	}))
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.idle(t)
	h.meetings.ResetCalls()
	h.meetings.SetLatency(2 * time.Second) // four leases and forty looks
	id, _ := h.send(t, "C1", "U1", "lock")
	if _, err := h.slack.WaitMessages(h.ctx(t), id, 1); err != nil {
		t.Fatal(err)
	}
	h.idle(t)
	if n := len(h.slack.MessagesFor(id)); n != 1 {
		t.Fatalf("%d answers, want 1", n)
	}
	if n := h.meetings.CallCount(meetingapitest.EndpointLock); n != 1 {
		t.Fatalf("%d lock calls, want 1", n)
	}
}
