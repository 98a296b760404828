package bot_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/bot/slacktest"
)

// streamThroughFaults sends total lock commands from 8 senders while fault
// is applied to one connection at a time (waiting for the bot to be back
// to two connections between faults), and reports how many commands got
// no reply, how many got more than one, and how many faults were applied.
func streamThroughFaults(t *testing.T, h *harness, total int, faults ...func() bool) (lost, duplicated, applied int) {
	t.Helper()
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	// Each sender alternates lock and unlock, and the meeting service takes
	// a few milliseconds, so commands are neither folded into one another
	// (identical commands in flight are) nor over before faults happen.
	h.meetings.SetLatency(3 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := h.slack.WaitConnections(ctx, 2); err != nil {
		t.Fatalf("the bot did not open two connections: %v", err)
	}

	var sent atomic.Int64
	var mu sync.Mutex
	var ids []string
	var wg sync.WaitGroup
	for sender := range 8 {
		wg.Go(func() {
			for n := sender; sent.Add(1) <= int64(total); n++ {
				text := "lock"
				if n%2 == 1 {
					text = "unlock"
				}
				id, err := h.slack.SendSlashCommand(ctx, slacktest.SlashCommand{ChannelID: "C1", UserID: "U1", Text: text})
				if err != nil {
					t.Errorf("send: %v", err)
					return
				}
				mu.Lock()
				ids = append(ids, id)
				mu.Unlock()
				if _, err := h.slack.WaitMessages(ctx, id, 1); err != nil {
					return // counted as lost below
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for stop := false; !stop; {
		select {
		case <-done:
			stop = true
		case <-time.After(40 * time.Millisecond):
			if h.slack.Connections() == 2 && faults[applied%len(faults)]() {
				applied++
			}
		}
	}
	h.idle(t)
	perEnvelope := map[string]int{}
	for _, m := range h.slack.Messages() {
		perEnvelope[m.EnvelopeID]++
	}
	for _, id := range ids {
		switch n := perEnvelope[id]; {
		case n == 0:
			lost++
		case n > 1:
			duplicated++
		}
	}
	if len(ids) != total {
		t.Fatalf("sent %d of %d", len(ids), total)
	}
	return lost, duplicated, applied
}

// Slack refreshes connections routinely. It stops routing to a connection
// before it asks it to go away, so with two connections a refresh loses
// nothing, even though slack-go closes the old socket before opening the new.
func TestRoutineRefreshesDuringAStreamLoseNothing(t *testing.T) {
	t.Parallel()
	h := newHarness(t, withoutRateLimits())
	lost, dup, applied := streamThroughFaults(t, h, 500, func() bool { return h.slack.SendDisconnectOne("refresh_requested") })
	if applied < 3 {
		t.Fatalf("only %d refreshes happened during the stream; the test proved little", applied)
	}
	if lost != 0 || dup != 0 {
		t.Fatalf("%d lost, %d duplicated of 500 across %d refreshes", lost, dup, applied)
	}
	t.Logf("500 commands, %d refreshes: 0 lost, 0 duplicated", applied)
}

// Abrupt closes and early warnings can cut a socket with an envelope on it.
// Slack then redelivers what was not acked (as it does for events), maybe on
// the other connection, and maybe after the bot had already acted: each
// command is still acted on exactly once.
func TestAbruptClosesAndWarningsWithRedeliveryLoseAndDuplicateNothing(t *testing.T) {
	t.Parallel()
	h := newHarnessWithSlack(t, []slacktest.Option{slacktest.WithRedeliverUnacked()}, withoutRateLimits())
	lost, dup, applied := streamThroughFaults(t, h, 500,
		h.slack.DropOneConnection,
		func() bool { return h.slack.SendDisconnectOne("warning") },
		func() bool { return h.slack.SendDisconnectOne("refresh_requested") },
	)
	if applied < 3 {
		t.Fatalf("only %d faults happened during the stream; the test proved little", applied)
	}
	if lost != 0 || dup != 0 {
		t.Fatalf("%d lost, %d duplicated of 500 across %d connection faults", lost, dup, applied)
	}
	t.Logf("500 commands, %d connection faults: 0 lost, 0 duplicated", applied)
}
