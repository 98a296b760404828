package bot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/bot/slacktest"
)

// A response_url that accepts the connection and never answers must not
// use up the time of the fallback: the reply still reaches the channel
// through chat.postMessage, after the response_url's own bound (4 s).
func TestAHangingResponseURLStillGetsTheReplyThroughTheWebAPI(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.slack.HangResponseURL(1)
	before := len(h.slack.Messages())
	h.send(t, "C1", "U1", "lock")
	m := h.waitMessage(t, before, func(m slacktest.Message) bool { return m.Via == "chat.postMessage" })
	if m.Channel != "C1" || m.Text != ":lock: Meeting 914083136 locked by <@U1>." {
		t.Fatalf("fallback message = %+v", m)
	}
	h.idle(t)
	if s := h.bot.Stats(); s.DeliveryFailures != 0 {
		t.Fatalf("%d delivery failures", s.DeliveryFailures)
	}
}

// SIGTERM while a reply hangs: Run still returns within the documented
// bound, DrainTimeout + ShutdownGrace (3 s by default) + 1 s, measured
// from the moment its context ends.
func TestShutdownIsBoundedWhileAReplyHangs(t *testing.T) {
	t.Parallel()
	const drain = time.Second
	h := newHarness(t, withBot(func(c *bot.Config) { c.DrainTimeout = drain }))
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.idle(t)
	h.slack.HangResponseURL(10)
	h.meetings.SetLatency(200 * time.Millisecond)
	h.send(t, "C1", "U1", "lock")
	if n := h.bot.InFlight(); n != 1 {
		t.Fatalf("in flight = %d after the ack, want 1", n)
	}
	bound := drain + 3*time.Second + time.Second
	const margin = 2 * time.Second // a loaded machine
	took := h.stopWithin(t, bound+margin)
	t.Logf("Run returned %v after its context ended (bound %v)", took.Round(time.Millisecond), bound)
}

// The same with a meeting service that does not answer either: the command
// is cancelled when the drain ends, and its outcome still goes out within
// the grace, through the Web API since the response_url hangs.
func TestShutdownCancelsAStuckCommandAndStillReportsIt(t *testing.T) {
	t.Parallel()
	const drain = time.Second
	h := newHarness(t, withBot(func(c *bot.Config) {
		c.DrainTimeout = drain
		c.ShutdownGrace = 8 * time.Second
		c.Delivery.ResponseURL = 500 * time.Millisecond
	}))
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.idle(t)
	h.slack.HangResponseURL(10)
	h.meetings.SetLatency(time.Minute)
	h.send(t, "C1", "U1", "lock")
	took := h.stopWithin(t, drain+8*time.Second+time.Second+2*time.Second)
	var reported bool
	for _, m := range h.slack.Messages() {
		if m.Via == "chat.postMessage" && m.Channel == "C1" && strings.Contains(m.Text, "Could not lock meeting 914083136") {
			reported = true
		}
	}
	if !reported {
		t.Fatalf("the cancelled lock was not reported; messages: %+v", h.slack.Messages())
	}
	t.Logf("Run returned %v after its context ended", took.Round(time.Millisecond))
}

// stopWithin ends Run's context as SIGTERM would and fails the test unless
// Run returns within limit. It returns how long Run took.
func (h *harness) stopWithin(t testing.TB, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	h.cancel()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-timer.C:
		t.Fatalf("Run did not return within %v of its context ending", limit)
	}
	took := time.Since(start)
	h.store.Close()
	h.cancel = nil
	return took
}
