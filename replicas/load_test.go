package replicas_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

// command is one slash command the test sent.
type command struct {
	m        meeting
	user     string
	verb     string
	env      string
	answered time.Time // when its outcome reached the fake Slack
}

// driver sends commands through the fake Slack and waits for their
// outcomes.
type driver struct {
	c *cluster
	// sending is held (read-locked) by each sender from sending an envelope
	// to seeing it acknowledged; pause (write-locking it) waits for those
	// and stops new ones, so no envelope is on its way while the test kills
	// a replica.
	sending sync.RWMutex

	mu       sync.Mutex
	cmds     []*command
	answered atomic.Int64
	running  atomic.Int64 // channels whose commands are not all answered
}

func newDriver(c *cluster) *driver { return &driver{c: c} }

// send sends one command as user in m's channel and waits for its ack.
func (d *driver) send(ctx context.Context, m meeting, user, verb string) (*command, error) {
	d.sending.RLock()
	defer d.sending.RUnlock()
	env, err := d.c.slack.SendSlashCommand(ctx, slacktest.SlashCommand{
		ChannelID: m.channel, ChannelName: strings.ToLower(m.channel), UserID: user, UserName: strings.ToLower(user), Text: verb,
	})
	if err != nil {
		return nil, fmt.Errorf("sending %s in %s: %w", verb, m.channel, err)
	}
	cmd := &command{m: m, user: user, verb: verb, env: env}
	d.mu.Lock()
	d.cmds = append(d.cmds, cmd)
	d.mu.Unlock()
	if _, err := d.c.slack.WaitAck(ctx, env); err != nil {
		return cmd, fmt.Errorf("%s in %s was not acknowledged: %w", verb, m.channel, err)
	}
	return cmd, nil
}

// await waits for the command's outcome: the first post to its response_url
// that is not a "still working" line.
func (d *driver) await(ctx context.Context, cmd *command) (slacktest.Message, error) {
	for n := 1; ; {
		msgs, err := d.c.slack.WaitMessages(ctx, cmd.env, n)
		if err != nil {
			return slacktest.Message{}, fmt.Errorf("no answer to %s by %s in %s: %w", cmd.verb, cmd.user, cmd.m.channel, err)
		}
		for _, m := range msgs {
			if !isProgress(m) {
				d.mu.Lock()
				cmd.answered = m.At
				d.mu.Unlock()
				d.answered.Add(1)
				return m, nil
			}
		}
		n = len(msgs) + 1
	}
}

// pause waits for every envelope on its way to be acknowledged and holds
// new ones until resume.
func (d *driver) pause()  { d.sending.Lock() }
func (d *driver) resume() { d.sending.Unlock() }

// outstanding are the commands sent and not yet answered.
func (d *driver) outstanding() map[string]*command {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[string]*command{}
	for _, c := range d.cmds {
		if c.answered.IsZero() {
			out[c.env] = c
		}
	}
	return out
}

func (d *driver) commands() []*command {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*command(nil), d.cmds...)
}

// isProgress tells a "still working" line from an outcome.
func isProgress(m slacktest.Message) bool {
	return strings.HasPrefix(m.Text, ":hourglass: Still ")
}

// controls sends perChannel lock or unlock commands in every channel, at
// once across channels and one after the other within each: a channel's
// next command goes when the previous one is answered, so no two commands
// for one meeting are ever in flight together and none is folded into
// another. Each channel's four controllers take turns, so nobody comes near
// the per-person limit (20 at once) and no channel near its own (40 at
// once). The verbs are random (seeded), so the final state differs from
// channel to channel.
func (d *driver) controls(ctx context.Context, perChannel int, seed uint64) []error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for i, m := range d.c.meetings {
		wg.Add(1)
		d.running.Add(1)
		go func() {
			defer wg.Done()
			defer d.running.Add(-1)
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			for k := range perChannel {
				verb := "lock"
				if rng.IntN(2) == 1 {
					verb = "unlock"
				}
				cmd, err := d.send(ctx, m, m.users[k%len(m.users)], verb)
				if err == nil {
					_, err = d.await(ctx, cmd)
				}
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return errs
}

// figures are what a run of controls did, as the fakes and the database saw
// it.
type figures struct {
	commands, acked, outcomes, duplicates, missing, wrong int
	strayPosts                                            int // posts for no command of the test, or not through response_url
	vendorCalls, tokenFetches                             int
	stateMismatches                                       int
}

func (f figures) String() string {
	return fmt.Sprintf("commands %d, acknowledged %d, outcomes %d, duplicates %d, missing %d, wrong %d, stray posts %d, vendor lock/unlock calls %d, token fetches %d, state mismatches %d",
		f.commands, f.acked, f.outcomes, f.duplicates, f.missing, f.wrong, f.strayPosts, f.vendorCalls, f.tokenFetches, f.stateMismatches)
}

// check compares what the fakes and the database recorded with the
// commands sent, and reports every difference through errorf. The meeting
// service must have seen one call per command, in each meeting's order,
// and two for the commands in calledTwice (run again after a replica died
// before it could record them).
func (d *driver) check(ctx context.Context, errorf func(string, ...any), calledTwice map[string]bool) figures {
	c := d.c
	var f figures
	cmds := d.commands()
	f.commands = len(cmds)
	sent := map[string]bool{}
	byMeeting := map[string][]*command{}
	for _, cmd := range cmds {
		sent[cmd.env] = true
		if cmd.verb == "lock" || cmd.verb == "unlock" {
			byMeeting[cmd.m.id] = append(byMeeting[cmd.m.id], cmd)
		}
		switch acks := c.slack.AcksFor(cmd.env); len(acks) {
		case 1:
			f.acked++
		default:
			errorf("%s by %s in %s was acknowledged %d times", cmd.verb, cmd.user, cmd.m.channel, len(acks))
		}
		var outcomes []slacktest.Message
		for _, m := range c.slack.MessagesFor(cmd.env) {
			if !isProgress(m) {
				outcomes = append(outcomes, m)
			}
		}
		f.outcomes += len(outcomes)
		switch {
		case len(outcomes) == 0:
			f.missing++
			errorf("%s by %s in %s (envelope %s) has no outcome", cmd.verb, cmd.user, cmd.m.channel, cmd.env)
			continue
		case len(outcomes) > 1:
			f.duplicates += len(outcomes) - 1
			errorf("%s by %s in %s (envelope %s) was answered %d times: %q", cmd.verb, cmd.user, cmd.m.channel, cmd.env, len(outcomes), texts(outcomes))
		}
		if problem := d.wrongOutcome(cmd, outcomes[0]); problem != "" {
			f.wrong++
			errorf("%s by %s in %s: %s", cmd.verb, cmd.user, cmd.m.channel, problem)
		}
	}
	for _, m := range c.slack.Messages() {
		if m.Via != "response_url" || !sent[m.EnvelopeID] {
			f.strayPosts++
			errorf("a post the test did not ask for: %s %q", m.Via, m.Text)
		}
	}

	// The meeting service saw one call per command, in each meeting's order.
	calls := map[string][]int{}
	for _, call := range c.api.Calls() {
		id := call.Query.Get("conferenceID")
		switch call.Endpoint {
		case meetingapitest.EndpointLock:
			var body struct{ IsLock int }
			_ = json.Unmarshal(call.Body, &body)
			calls[id] = append(calls[id], body.IsLock)
			f.vendorCalls++
		case meetingapitest.EndpointToken:
			f.tokenFetches++
		}
	}
	for _, m := range c.meetings {
		want := byMeeting[m.id]
		var wantCalls []int
		for _, cmd := range want {
			isLock := 0
			if cmd.verb == "lock" {
				isLock = 1
			}
			wantCalls = append(wantCalls, isLock)
			if calledTwice[cmd.env] {
				wantCalls = append(wantCalls, isLock)
			}
		}
		if got := calls[m.id]; !slices.Equal(got, wantCalls) {
			errorf("meeting %s: the meeting service saw isLock %v, want %v for commands %v", m.id, got, wantCalls, verbs(want))
		}
		if len(want) == 0 {
			continue
		}
		// The state the bot recorded is the meeting's real state, which is
		// the last command's.
		locked, _ := c.api.Locked(m.id)
		st, err := c.st.MeetingState(ctx, domain.ConferenceID(m.id))
		if err != nil {
			errorf("meeting %s: reading its state: %v", m.id, err)
			continue
		}
		lastCmd := want[len(want)-1]
		if locked != (lastCmd.verb == "lock") || st.Lock != domain.LockStateOf(locked) || st.LockBy != lastCmd.user {
			f.stateMismatches++
			errorf("meeting %s: last command %s by %s; the meeting service says locked=%v, the bot recorded %v by %s",
				m.id, lastCmd.verb, lastCmd.user, locked, st.Lock, st.LockBy)
		}
	}
	return f
}

// wrongOutcome says what is wrong with a lock or unlock's answer. It must
// confirm the command in the channel and, when the meeting's previous
// command (which the other replica may have run) set the same state, say
// who did: so it also checks that each replica reads the state the other
// wrote.
func (d *driver) wrongOutcome(cmd *command, m slacktest.Message) string {
	if cmd.verb != "lock" && cmd.verb != "unlock" {
		return ""
	}
	want := fmt.Sprintf(":%s: Meeting %s %sed by <@%s>.", cmd.verb, cmd.m.id, cmd.verb, cmd.user)
	var prev *command
	for _, c := range d.commands() {
		if c == cmd {
			break
		}
		if c.m.id == cmd.m.id && (c.verb == "lock" || c.verb == "unlock") {
			prev = c
		}
	}
	ok := m.ResponseType == "in_channel"
	if prev != nil && prev.verb == cmd.verb {
		already := fmt.Sprintf("\nIt already was: <@%s> %sed it at ", prev.user, prev.verb)
		ok = ok && strings.HasPrefix(m.Text, want+already) && strings.HasSuffix(m.Text, " UTC.") &&
			len(m.Text) == len(want+already+"15:04 UTC.")
		want += already + "HH:MM UTC."
	} else {
		ok = ok && m.Text == want
	}
	if ok {
		return ""
	}
	return fmt.Sprintf("answer %s %q, want in_channel %q", m.ResponseType, m.Text, want)
}

func texts(ms []slacktest.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Text)
	}
	return out
}

func verbs(cmds []*command) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, c.verb)
	}
	return out
}
