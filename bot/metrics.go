package bot

import (
	"time"

	"github.com/meetingbot/meetingbot/commands"
)

// Metrics receives what the bot observes. Package metrics implements it;
// with Config.Metrics nil nothing is recorded. Live connections and
// commands in flight are read, not pushed: see ConnectedCount and InFlight.
type Metrics interface {
	// Acked observes the time from receiving an envelope to acking it.
	Acked(d time.Duration)
	// CommandDone counts a finished command or button press by verb and
	// outcome (one of the outcome values below) and observes its
	// end-to-end time.
	CommandDone(verb, outcome string, e2e time.Duration)
	// Delivered counts one attempt to post a reply through a path.
	Delivered(path string, ok bool)
	// Undelivered counts a reply that no path could deliver.
	Undelivered()
}

// Delivery paths (Metrics.Delivered).
const (
	pathResponseURL   = "response_url"
	pathFallback      = "fallback" // chat.postMessage / chat.postEphemeral
	pathDirectMessage = "direct_message"
)

// Outcomes (Metrics.CommandDone) the bot decides itself; the others are
// the commands' own (commands.Outcome).
const (
	outcomeOK    = string(commands.OutcomeOK)
	outcomeUsage = string(commands.OutcomeUsage)
)

type noMetrics struct{}

func (noMetrics) Acked(time.Duration)                       {}
func (noMetrics) CommandDone(string, string, time.Duration) {}
func (noMetrics) Delivered(string, bool)                    {}
func (noMetrics) Undelivered()                              {}

func (b *Bot) metrics() Metrics {
	if b.cfg.Metrics == nil {
		return noMetrics{}
	}
	return b.cfg.Metrics
}

// acked records an ack of an envelope received at received.
func (b *Bot) acked(received time.Time) { b.metrics().Acked(time.Since(received)) }

// commandDone records a command's outcome and end-to-end time.
func (b *Bot) commandDone(verb commands.Verb, r commands.Reply, received time.Time) {
	b.metrics().CommandDone(verbLabel(verb), outcome(r), time.Since(received))
}

// verbLabel is a verb for a metric label. A command that did not parse has
// no verb.
func verbLabel(v commands.Verb) string {
	if v == "" {
		return "none"
	}
	return string(v)
}

// outcome is a reply's outcome as a metric label.
func outcome(r commands.Reply) string {
	if r.Outcome == "" {
		return outcomeOK
	}
	return string(r.Outcome)
}

// answeredInAck records a command answered by its acknowledgement alone
// (help, usage errors).
func (b *Bot) answeredInAck(verb commands.Verb, outcome string, received time.Time) {
	b.metrics().CommandDone(verbLabel(verb), outcome, time.Since(received))
}
