package bot

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/meetingbot/meetingbot/commands"
)

// Handler kinds, as logged and as named by test hooks.
const (
	kindSlash      = "slash"
	kindButton     = "button"
	kindForm       = "form"
	kindOther      = "other"
	kindConnection = "connection"
)

// inbound is one envelope being handled. It remembers whether the envelope
// was acknowledged, so that a handler that fails halfway is still answered
// exactly once.
type inbound struct {
	b      *Bot
	client *socketmode.Client
	id     string // "" for frames that are not envelopes (hello, disconnect)
	acked  atomic.Bool
	// received is when the handler got the envelope: acks and end-to-end
	// times are measured from it.
	received time.Time
}

// ack acknowledges the envelope, once.
func (in *inbound) ack(payload any) {
	if in.id == "" || !in.acked.CompareAndSwap(false, true) {
		return
	}
	in.b.ack(in.client, in.id, payload)
	in.b.acked(in.received)
}

// guard runs h for one envelope so that nothing in it can take the
// process down: slack-go runs every handler in its own goroutine, where a
// panic would end the bot for every channel. A recovered panic is logged
// (never the payload, which may hold a password or a response_url), the
// envelope is still acknowledged, the person is told that something went
// wrong, and the bot goes on with the next envelope.
func (b *Bot) guard(kind string, h func(*socketmode.Event, *inbound)) socketmode.SocketmodeHandlerFunc {
	return func(evt *socketmode.Event, client *socketmode.Client) {
		in := &inbound{b: b, client: client, received: time.Now()}
		if evt.Request != nil {
			in.id = evt.Request.EnvelopeID
		}
		defer func() {
			if v := recover(); v != nil {
				b.recovered(kind, evt, in, v)
			}
		}()
		h(evt, in)
	}
}

// logPanic records a recovered panic. A runtime error names no data
// ("index out of range [3] with length 2"); any other panic value might,
// so only its type is logged. A stack trace shows arguments as machine
// words, never the bytes of a string.
func (b *Bot) logPanic(log zerolog.Logger, v any) {
	b.panics.Add(1)
	what := fmt.Sprintf("panic of type %T", v)
	if err, ok := v.(runtime.Error); ok {
		what = err.Error()
	}
	log.Error().Str("panic", what).Str("stack", string(debug.Stack())).Msg("a handler failed; answering the envelope and carrying on")
}

func (b *Bot) recovered(kind string, evt *socketmode.Event, in *inbound, v any) {
	log := b.log.With().Str("handler", kind).Str("envelope", in.id).Logger()
	b.logPanic(log, v)
	if kind == kindConnection {
		return
	}
	defer func() {
		if recover() != nil {
			log.Error().Msg("telling the user about the failure failed too")
		}
	}()
	notice := commands.Reply{Visibility: commands.Ephemeral,
		Text:    ":warning: Something went wrong inside meetingbot while handling this, so it may not have finished.",
		Details: []string{fmt.Sprintf("Check with `%s status` before trying again.", b.command)}}
	if !in.acked.Load() {
		switch kind {
		case kindSlash:
			in.ack(ackPayload(notice))
			return
		case kindForm:
			in.ack(formError("Something went wrong inside meetingbot. Check with " + b.command + " status, then submit again."))
			return
		}
		in.ack(nil)
	}
	if kind == kindForm || kind == kindOther {
		return // a form was answered in its ack; other envelopes have nobody to tell
	}
	if to := b.replyTargetOf(evt); to.reachable() {
		b.deliver(log, to, notice, false)
	}
}

// replyTargetOf finds where a notice about evt may go, using only fields
// that pass the same checks as everywhere else.
func (b *Bot) replyTargetOf(evt *socketmode.Event) replyTo {
	switch d := evt.Data.(type) {
	case slack.SlashCommand:
		return b.checkedTarget(d.ResponseURL, d.ChannelID, d.UserID)
	case slack.InteractionCallback:
		return b.replyTargetOfInteraction(d)
	}
	return replyTo{}
}

// answerUnreadable acknowledges an envelope that slack-go could not decode
// (a field of the wrong type, say), which no handler would otherwise
// answer, and tells the person if the envelope says how.
func (b *Bot) answerUnreadable(client *socketmode.Client, bad *socketmode.ErrorBadMessage) {
	b.malformed.Add(1)
	var env struct {
		EnvelopeID string          `json:"envelope_id"`
		Type       string          `json:"type"`
		Payload    json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(bad.Message, &env) != nil || env.EnvelopeID == "" || len(env.EnvelopeID) > 128 {
		b.log.Warn().Msg("an unreadable frame from Slack without an envelope ID; ignored")
		return
	}
	log := b.log.With().Str("envelope", env.EnvelopeID).Str("type", env.Type).Logger()
	log.Warn().Str("error", unreadableReason(bad.Cause)).Msg("Slack sent an envelope meetingbot could not read; acknowledged, nothing done")
	in := &inbound{b: b, client: client, id: env.EnvelopeID}
	fields := map[string]json.RawMessage{}
	_ = json.Unmarshal(env.Payload, &fields) // whatever can be read of it
	field := func(name string) string {
		var s string
		if json.Unmarshal(fields[name], &s) != nil {
			return ""
		}
		return s
	}
	const unreadable = ":x: meetingbot could not read what Slack sent for this, so nothing was done. Try again; if it keeps happening, tell your Slack admin."
	switch {
	case env.Type == "slash_commands":
		in.ack(ackPayload(commands.Reply{Text: unreadable}))
	case env.Type == "interactive" && field("type") == string(slack.InteractionTypeViewSubmission):
		in.ack(formError("meetingbot could not read this form as Slack sent it. Close it and run the command again."))
	default:
		in.ack(nil)
		if env.Type == "interactive" && b.trustedResponseURL(field("response_url")) {
			b.deliver(log, replyTo{responseURL: field("response_url")}, commands.Reply{Visibility: commands.Ephemeral, Text: unreadable}, false)
		}
	}
}

// unreadableReason describes a decoding error by where it happened and
// what kind of value was there, never by the value itself.
func unreadableReason(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case err == nil:
		return "unknown"
	case errors.As(err, &te):
		return fmt.Sprintf("field %q holds a %s", te.Field, te.Value)
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d", se.Offset)
	}
	return fmt.Sprintf("%T", err)
}

// testPoint lets a test make a handler fail at a named point.
func (b *Bot) testPoint(point string) {
	if f := b.testHook.Load(); f != nil {
		(*f)(point)
	}
}
