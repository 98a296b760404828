package replicas_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	meetingsN  = 50
	perChannel = 20 // 50 × 20 = 1,000 commands
)

// TestTwoReplicasActOnEachCommandOnce sends 1,000 lock and unlock commands
// over 50 channels to two replicas: each is answered once, by one replica,
// after one call to the meeting service, and every meeting ends in the
// state of its last command, in the meeting service and in the database.
// Then status and history, asked again and again, give the same answer
// whichever replica answers.
func TestTwoReplicasActOnEachCommandOnce(t *testing.T) {
	c := newCluster(t, meetingsN, 30*time.Second)
	a := c.start("replica-a")
	b := c.start("replica-b")
	d := newDriver(c)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	start := time.Now()
	for _, err := range d.controls(ctx, perChannel, 1) {
		t.Error(err)
	}
	elapsed := time.Since(start)
	f := d.check(ctx, t.Errorf, nil)
	want := meetingsN * perChannel
	if f.commands != want || f.outcomes != want || f.duplicates != 0 || f.vendorCalls != want {
		t.Errorf("want %d commands, outcomes and vendor calls, 0 duplicates; got %v", want, f)
	}
	// The token cache is shared: one fetch per meeting, whichever replica
	// needed it first.
	if f.tokenFetches != meetingsN {
		t.Errorf("%d token fetches for %d meetings", f.tokenFetches, meetingsN)
	}
	handled := c.handledBy(t, d, a, b)
	byA, byB := handled[0], handled[1]
	if byA == 0 || byB == 0 {
		t.Errorf("the fake Slack did not spread the commands: %d to %s, %d to %s", byA, a.name, byB, b.name)
	}
	t.Logf("two replicas, %d meetings: %v; %s handled %d, %s %d; %v (%.0f commands/s)",
		meetingsN, f, a.name, byA, b.name, byB, elapsed.Round(time.Millisecond), float64(f.commands)/elapsed.Seconds())

	d.agree(ctx, t, a, b)
}

// TestAKilledReplicasCommandsAreFinishedByAnother runs the same 1,000
// commands against a slow meeting service (300 ms a call) and kills one
// replica with SIGKILL a third of the way through, while it holds commands
// it has acknowledged and not answered. The other replica finishes each of
// them after the lease, through the same response_url, and takes the rest
// of the stream: every command is answered once. In the first case the
// killed replica's calls never reached the meeting service, so it sees one
// call per command; in the second the meeting service acted on them and the
// replica died before it heard back, so those commands are sent twice (the
// controls are idempotent) and the state is still the last command's.
//
// The kill is placed, not timed: the test holds the meeting service's
// calls or answers (a gate in front of the fake) and new envelopes until
// every command in flight is acknowledged, claimed and waiting at the gate,
// then kills. A kill between a command's ack and its claim, or between its
// answer and marking it answered, would make the outcome a matter of luck;
// see the package comment.
func TestAKilledReplicasCommandsAreFinishedByAnother(t *testing.T) {
	for _, mode := range []holdMode{holdCalls, holdAnswers} {
		t.Run(mode.String(), func(t *testing.T) { killMidStream(t, mode) })
	}
}

func killMidStream(t *testing.T, mode holdMode) {
	const lease = 3 * time.Second
	c := newCluster(t, meetingsN, lease)
	c.api.SetLatency(300 * time.Millisecond)
	c.start("replica-a")
	c.start("replica-b")
	d := newDriver(c)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	start := time.Now()
	loadDone := make(chan []error, 1)
	go func() { loadDone <- d.controls(ctx, perChannel, 2) }()
	third := int64(meetingsN * perChannel / 3)
	c.poll(waitTimeout, "a third of the commands to be answered", func() bool { return d.answered.Load() >= third })

	// Hold the meeting service's calls (or answers) until every channel's
	// current command waits at the gate, then hold new envelopes too and
	// check that each command in flight is claimed in the database.
	c.gate.Close(mode)
	c.poll(waitTimeout, "a command of every channel to wait at the gate", func() bool {
		held, forwarding, _ := c.gate.state()
		return forwarding == 0 && int64(held) == d.running.Load()
	})
	d.pause()
	var claims map[string]string
	c.poll(waitTimeout, "every command in flight to be claimed", func() bool {
		held, forwarding, _ := c.gate.state()
		out := d.outstanding()
		var err error
		if claims, err = c.unfinishedClaims(ctx); err != nil {
			t.Fatal(err)
		}
		if forwarding != 0 || held != len(out) || len(claims) != len(out) {
			return false
		}
		for id := range claims {
			if out[id] == nil {
				return false
			}
		}
		return true
	})
	perHolder := map[string][]string{}
	for env, holder := range claims {
		perHolder[holder] = append(perHolder[holder], env)
	}
	victim, survivor := c.replicas[0], c.replicas[1]
	if len(perHolder[survivor.holder]) > len(perHolder[victim.holder]) {
		victim, survivor = survivor, victim
	}
	orphans := map[string]bool{}
	for _, env := range perHolder[victim.holder] {
		orphans[env] = true
	}
	if len(orphans) == 0 {
		t.Fatalf("no replica holds a command in flight: %v", claims)
	}
	answeredBefore := d.answered.Load()
	killedAt := time.Now()
	c.kill(victim)
	c.poll(waitTimeout, "the killed replica's calls to be dropped at the gate", func() bool {
		_, _, dropped := c.gate.state()
		return dropped == len(orphans)
	})
	c.gate.Open()
	d.resume()
	for _, err := range <-loadDone {
		t.Error(err)
	}
	elapsed := time.Since(start)

	calledTwice := map[string]bool{}
	if mode == holdAnswers {
		calledTwice = orphans
	}
	f := d.check(ctx, t.Errorf, calledTwice)
	want := meetingsN * perChannel
	if f.commands != want || f.acked != want || f.outcomes != want || f.duplicates != 0 || f.missing != 0 || f.vendorCalls != want+len(calledTwice) {
		t.Errorf("want %d commands acknowledged and answered once, %d vendor calls; got %v", want, want+len(calledTwice), f)
	}

	// The survivor took over exactly the victim's commands in flight, once
	// each, and nothing is left unfinished.
	var lastOrphan time.Time
	for _, cmd := range d.commands() {
		if orphans[cmd.env] && cmd.answered.After(lastOrphan) {
			lastOrphan = cmd.answered
		}
	}
	if took := survivor.tookOver(); !maps.Equal(took, orphans) {
		t.Errorf("%s took over %v; %s held %v", survivor.name, slices.Sorted(maps.Keys(took)), victim.name, slices.Sorted(maps.Keys(orphans)))
	}
	taken, err := c.takenOver(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for env, n := range taken {
		if !orphans[env] || n != 1 {
			t.Errorf("envelope %s taken over %d times (held by the killed replica: %v)", env, n, orphans[env])
		}
	}
	if len(taken) != len(orphans) {
		t.Errorf("%d envelopes taken over in the database, %d held by the killed replica", len(taken), len(orphans))
	}
	if left, err := c.unfinishedClaims(ctx); err != nil || len(left) != 0 {
		t.Errorf("claims left unfinished: %v (%v)", left, err)
	}
	t.Logf("two replicas, meeting API 300 ms, one killed after %d answers (%v): %v; in flight at the kill %d, taken over %d; the last taken-over command answered %v after the kill (lease %v); %v in all",
		answeredBefore, mode, f, len(claims), len(taken), lastOrphan.Sub(killedAt).Round(time.Millisecond), lease, elapsed.Round(time.Millisecond))
}

// handledBy waits until the replicas' logs account for every command and
// says how many each handled; no command may be handled by both.
func (c *cluster) handledBy(t *testing.T, d *driver, rs ...*replica) (counts []int) {
	t.Helper()
	cmds := d.commands()
	var logs []map[string]string
	c.poll(waitTimeout, "the replicas to log every command", func() bool {
		logs = logs[:0]
		n := 0
		for _, r := range rs {
			h := r.handled()
			logs = append(logs, h)
			n += len(h)
		}
		return n >= len(cmds)
	})
	for _, cmd := range cmds {
		by := 0
		for _, h := range logs {
			if _, ok := h[cmd.env]; ok {
				by++
			}
		}
		if by != 1 {
			t.Errorf("%s by %s in %s was handled by %d replicas", cmd.verb, cmd.user, cmd.m.channel, by)
		}
	}
	for _, h := range logs {
		counts = append(counts, len(h))
	}
	return counts
}

// agree asks status and history in every channel until each replica has
// answered each at least twice, and checks that all the answers for a
// channel are the same. It asks one at a time: the fake Slack hands
// envelopes to the four connections in turn, so four questions in a row
// reach both replicas twice.
func (d *driver) agree(ctx context.Context, t *testing.T, rs ...*replica) {
	const maxAsks = 64
	start := time.Now()
	total := map[*replica]int{}
	defer func() {
		t.Logf("status and history: %d questions in %d channels, answered %d by %s and %d by %s, in %v",
			total[rs[0]]+total[rs[1]], len(d.c.meetings), total[rs[0]], rs[0].name, total[rs[1]], rs[1].name, time.Since(start).Round(time.Millisecond))
	}()
	for _, m := range d.c.meetings {
		for _, verb := range []string{"status", "history"} {
			var first string
			answers := map[*replica]int{}
			for i := 0; i < maxAsks && (answers[rs[0]] < 2 || answers[rs[1]] < 2); i++ {
				cmd, err := d.send(ctx, m, m.users[i%len(m.users)], verb)
				if err != nil {
					t.Fatal(err)
				}
				msg, err := d.await(ctx, cmd)
				if err != nil {
					t.Fatal(err)
				}
				r := d.c.whoHandled(cmd.env, rs)
				if r == nil {
					t.Fatalf("no replica logged %s in %s", verb, m.channel)
				}
				answers[r]++
				total[r]++
				got := msg.Text + "\n" + string(msg.Blocks)
				if first == "" {
					first = got
					d.checkAnswer(t, m, verb, msg.Text)
				} else if got != first {
					t.Errorf("%s in %s: %s answered\n%s\nafter\n%s", verb, m.channel, r.name, got, first)
				}
			}
			if answers[rs[0]] < 2 || answers[rs[1]] < 2 {
				t.Errorf("%s in %s: after %d questions, answers by replica %v", verb, m.channel, maxAsks, answers)
			}
		}
	}
}

// whoHandled waits for a replica to log the envelope.
func (c *cluster) whoHandled(env string, rs []*replica) *replica {
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		for _, r := range rs {
			if _, ok := r.handled()[env]; ok {
				return r
			}
		}
		time.Sleep(pollEvery)
	}
	return nil
}

// checkAnswer checks the first answer of status or history in m's channel
// against the commands sent there: the state and who set it, the last ten
// actions newest first.
func (d *driver) checkAnswer(t *testing.T, m meeting, verb, text string) {
	var controls []*command
	for _, c := range d.commands() {
		if c.m.id == m.id && (c.verb == "lock" || c.verb == "unlock") {
			controls = append(controls, c)
		}
	}
	if len(controls) == 0 {
		t.Errorf("no lock or unlock was sent in %s", m.channel)
		return
	}
	last := controls[len(controls)-1]
	var want []string
	switch verb {
	case "status":
		want = []string{
			fmt.Sprintf(":information_source: Meeting %s was bound to this channel by <@%s> on ", m.id, m.users[0]),
			fmt.Sprintf("\nLock state: %sed by <@%s> at ", last.verb, last.user),
		}
	case "history":
		want = []string{":scroll: The last 10 actions in this channel, newest first:\n"}
		for i := len(controls) - 1; i >= len(controls)-10 && i >= 0; i-- {
			want = append(want, fmt.Sprintf(" UTC <@%s> %s %s: ok\n", controls[i].user, controls[i].verb, m.id))
		}
	}
	rest := text + "\n" // the last line ends the text
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Errorf("%s in %s lacks %q (in this order):\n%s", verb, m.channel, w, text)
			return
		}
		rest = rest[i+len(w):]
	}
}
