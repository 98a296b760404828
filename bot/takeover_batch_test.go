package bot_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/store"
)

// TestOneTakeoverFinishesEveryCommandAStoppedReplicaLeft: a replica that
// died holding many commands leaves them all to the next look for expired
// claims, not 16 at a time, one look every TakeoverEvery.
func TestOneTakeoverFinishesEveryCommandAStoppedReplicaLeft(t *testing.T) {
	rarely := withBot(func(c *bot.Config) { c.TakeoverEvery = time.Hour })
	h := newHarness(t, rarely)
	const left = 40
	past := time.Now().Add(-time.Minute)
	for i := range left {
		payload, _ := json.Marshal(map[string]any{"kind": "slash", "channel": "C1", "user": "U1", "text": "status", "received": past.UnixMilli()})
		first, err := h.store.ClaimEnvelope(context.Background(), store.Claim{EnvelopeID: fmt.Sprint("left-", i),
			Holder: "stopped-replica", ClaimedAt: past, LeaseUntil: past, Payload: payload})
		if err != nil || !first {
			t.Fatalf("claim %d: %v %v", i, first, err)
		}
	}
	// A restarted bot looks once at start; the next look is an hour away.
	h.stop(t)
	h.start(t, rarely)
	deadline := time.Now().Add(20 * time.Second)
	for {
		answered := 0
		for _, m := range h.slack.Messages() {
			if m.Via == "chat.postEphemeral" && strings.Contains(m.Text, "No meeting is bound") {
				answered++
			}
		}
		if answered == left {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the %d commands left by a stopped replica were answered", answered, left)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := strings.Count(h.logs.String(), "finishing a command that a stopped replica acknowledged"); n != left {
		t.Errorf("%d takeovers logged, want %d", n, left)
	}
}
