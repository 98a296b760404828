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
	kindSlash  = "slash"
	kindButton = "button"
	kindForm   = "form"
	kindOther  = "other"
)

// inbound is one envelope being handled. It remembers whether the envelope
// was acknowledged, so that a handler that fails halfway is still answered
// exactly once.
type inbound struct {
	b    *Bot
	sock *socket
	id   string // "" for frames that are not envelopes (hello, disconnect)
	// received is when the envelope's frame was read: acks and end-to-end
	// times are measured from it.
	received time.Time
	acked    atomic.Bool
}

// ack acknowledges the envelope, once.
func (in *inbound) ack(payload any) {
	if in.id == "" || !in.acked.CompareAndSwap(false, true) {
		return
	}
	if err := in.sock.ack(in.id, payload); err != nil {
		in.b.log.Error().Err(err).Str("envelope", in.id).Msg("ack failed")
	}
	in.b.acked(in.received)
}

// dispatch runs h for one envelope so that nothing in it can take the
// process down: the check-and-ack part on the socket's reading goroutine,
// the rest on a goroutine of its own, where a panic would otherwise end
// the bot for every channel. A recovered panic is logged (never the
// payload, which may hold a password or a response_url), the envelope is
// still acknowledged, the person is told that something went wrong, and
// the bot goes on with the next envelope.
func (b *Bot) dispatch(s *socket, at time.Time, kind string, evt *socketmode.Event, h handler) {
	in := &inbound{b: b, sock: s, received: at}
	if evt.Request != nil {
		in.id = evt.Request.EnvelopeID
	}
	then := func() (then func()) {
		defer func() {
			if v := recover(); v != nil {
				then = nil
				b.recovered(kind, evt, in, v, true)
			}
		}()
		return h(evt, in)
	}()
	if then == nil {
		return
	}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				b.recovered(kind, evt, in, v, false)
			}
		}()
		then()
	}()
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

// recovered answers an envelope whose handler panicked. On the reading
// goroutine (onReader) only the ack is written there; telling the person
// over HTTP happens on a goroutine of its own.
func (b *Bot) recovered(kind string, evt *socketmode.Event, in *inbound, v any, onReader bool) {
	log := b.log.With().Str("handler", kind).Str("envelope", in.id).Logger()
	b.logPanic(log, v)
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
	to := b.replyTargetOf(evt)
	if !to.reachable() {
		return
	}
	tell := func() {
		defer func() {
			if recover() != nil {
				log.Error().Msg("telling the user about the failure failed too")
			}
		}()
		b.deliver(log, to, notice, false)
	}
	if onReader {
		go tell()
		return
	}
	tell()
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

// answerUnreadable acknowledges an envelope that could not be decoded into
// slack-go's types (a field of the wrong type, say), which no handler
// would otherwise answer, and tells the person if the envelope says how.
func (b *Bot) answerUnreadable(sock *socket, bad *socketmode.ErrorBadMessage) (then func()) {
	b.malformed.Add(1)
	var env struct {
		EnvelopeID string          `json:"envelope_id"`
		Type       string          `json:"type"`
		Payload    json.RawMessage `json:"payload"`
	}
	if json.Unmarshal(bad.Message, &env) != nil || env.EnvelopeID == "" || len(env.EnvelopeID) > 128 {
		b.log.Warn().Msg("an unreadable frame from Slack without an envelope ID; ignored")
		return nil
	}
	log := b.log.With().Str("envelope", env.EnvelopeID).Str("type", env.Type).Logger()
	log.Warn().Str("error", unreadableReason(bad.Cause)).Msg("Slack sent an envelope meetingbot could not read; acknowledged, nothing done")
	in := &inbound{b: b, sock: sock, id: env.EnvelopeID, received: time.Now()}
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
		if u := field("response_url"); env.Type == "interactive" && b.trustedResponseURL(u) {
			return func() {
				b.deliver(log, replyTo{responseURL: u}, commands.Reply{Visibility: commands.Ephemeral, Text: unreadable}, false)
			}
		}
	}
	return nil
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
