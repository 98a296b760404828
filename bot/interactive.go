package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/domain"
)

// The bind modal's IDs.
const (
	bindCallbackID   = "meeting_bind"
	passwordBlockID  = "password"
	passwordActionID = "password"
)

// bindVerifyTimeout bounds the password check behind a modal submit. The
// check's result must travel in the view_submission ack (a wrong password
// keeps the form open), so this is the one ack that waits on the meeting
// API; Slack allows 3 s.
const bindVerifyTimeout = 2 * time.Second

// bindMetadata travels in the modal's private_metadata: where the form was
// opened and for which meeting. Never a secret. The response_url is a
// short-lived capability to post to that conversation, used to confirm.
// The conversation's binding is keyed as for any command (channelKey);
// forms opened by earlier versions also carry a "team", which is ignored.
type bindMetadata struct {
	Channel      string `json:"channel"`
	ConferenceID string `json:"conference_id"`
	ResponseURL  string `json:"response_url,omitempty"`
}

// BindModal is the form that asks for a host password.
func BindModal(command string, id domain.ConferenceID, metadata string) slack.ModalViewRequest {
	input := slack.NewPlainTextInputBlockElement(slack.NewTextBlockObject(slack.PlainTextType, "Host password", false, false), passwordActionID)
	input.MaxLength = commands.MaxPasswordLen
	block := slack.NewInputBlock(passwordBlockID,
		slack.NewTextBlockObject(slack.PlainTextType, "Host password", false, false),
		slack.NewTextBlockObject(slack.PlainTextType, "Stored encrypted and never shown again. Slack cannot mask this field, so check who can see your screen.", false, false),
		input)
	return slack.ModalViewRequest{
		Type:       slack.VTModal,
		CallbackID: bindCallbackID,
		Title:      slack.NewTextBlockObject(slack.PlainTextType, "Bind a meeting", false, false),
		Submit:     slack.NewTextBlockObject(slack.PlainTextType, "Bind", false, false),
		Close:      slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			section(fmt.Sprintf("Meeting *%s* will be bound to this channel. Its controllers can then lock and unlock it with `%s lock`.", id, command)),
			block,
		}},
		PrivateMetadata: metadata,
	}
}

// openBindModal answers `bind ID` without a password: it opens the form
// with the command's trigger_id, which Slack honours for 3 s.
func (b *Bot) openBindModal(ctx context.Context, sc slack.SlashCommand, req commands.Request) commands.Reply {
	if ok, refusal := b.svc.MayBind(ctx, req); !ok {
		return refusal
	}
	id := req.Command.ConferenceID
	if !validTriggerID(sc.TriggerID) {
		b.malformed.Add(1)
		return commands.Reply{Visibility: commands.Ephemeral,
			Text:    ":x: Slack sent this command without a usable trigger, so the password form cannot open.",
			Details: []string{fmt.Sprintf("Give the password inline instead: `%s bind %s PASSWORD`.", b.command, id)}}
	}
	meta, _ := json.Marshal(bindMetadata{Channel: sc.ChannelID, ConferenceID: string(id), ResponseURL: sc.ResponseURL})
	_, err := b.api.OpenViewContext(ctx, sc.TriggerID, BindModal(b.command, id, string(meta)))
	if err == nil {
		return commands.Reply{}
	}
	b.log.Warn().Str("error", withoutURL(err)).Msg("views.open failed")
	var se slack.SlackErrorResponse
	expired := errors.As(err, &se) && (se.Err == "expired_trigger_id" || se.Err == "invalid_arguments") ||
		strings.Contains(err.Error(), "expired_trigger_id")
	if expired {
		return commands.Reply{Visibility: commands.Ephemeral,
			Text:    ":hourglass: The password form could not open in time: Slack lets a form open only within 3 seconds of the command.",
			Details: []string{fmt.Sprintf("Run `%s bind %s` again, or give the password inline: `%s bind %s PASSWORD`.", b.command, id, b.command, id)}}
	}
	return commands.Reply{Visibility: commands.Ephemeral,
		Text:    ":x: Slack would not open the password form.",
		Details: []string{fmt.Sprintf("Give the password inline instead: `%s bind %s PASSWORD`.", b.command, id)}}
}

// onViewSubmission handles the bind form. Its answer travels in the ack:
// an error on the password field keeps the form open. Checking the
// password takes a call to the meeting service, so all of it runs off the
// socket's reading goroutine.
func (b *Bot) onViewSubmission(evt *socketmode.Event, in *inbound) (then func()) {
	if in.id == "" {
		return nil
	}
	return func() { b.submitBindForm(evt, in) }
}

func (b *Bot) submitBindForm(evt *socketmode.Event, in *inbound) {
	b.testPoint(kindForm)
	cb, ok := evt.Data.(slack.InteractionCallback)
	if !ok {
		in.ack(nil)
		return
	}
	form, field, message := b.readBindForm(cb)
	if message != "" {
		if field != "" {
			b.malformed.Add(1)
			b.log.Warn().Str("envelope", in.id).Str("field", field).Msg("bind form with a missing or invalid field; nothing stored")
		}
		in.ack(formError(message))
		return
	}
	if b.seen.add(in.id, time.Now()) {
		in.ack(nil)
		return
	}
	if !b.track() {
		in.ack(formError("meetingbot is restarting; submit again in a few seconds."))
		return
	}
	defer b.untrack()
	log := b.log.With().Str("envelope", in.id).Str("verb", "bind").Str("channel", form.channel).Str("user", form.user).Logger()
	channel := b.channelKey(form.channel)
	req := commands.Request{Channel: channel, UserID: form.user,
		Command: commands.Command{Verb: commands.VerbBind, ConferenceID: form.id}}

	ctx, cancel := context.WithTimeout(b.work, bindVerifyTimeout)
	defer cancel()
	if ok, refusal := b.svc.MayBind(ctx, req); !ok {
		in.ack(nil)
		b.deliver(log, form.to, refusal, false)
		return
	}
	res := b.svc.Bind(ctx, channel, form.user, form.id, domain.Password(form.password))
	if res.FieldProblem != "" {
		in.ack(formError(res.FieldProblem))
		return
	}
	in.ack(nil) // closes the form
	b.deliver(log, form.to, res.Reply, false)
	log.Info().Msg("bind form handled")
}

func passwordProblem(pw string) string {
	switch {
	case strings.TrimSpace(pw) == "":
		return "Enter the meeting's host password."
	case utf8.RuneCountInString(pw) > commands.MaxPasswordLen:
		return fmt.Sprintf("That is longer than %d characters.", commands.MaxPasswordLen)
	case strings.ContainsFunc(pw, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }):
		return "A host password has no spaces or control characters."
	}
	return ""
}

// onBlockAction handles every button: the command it stands for, under
// the clicker's own identity and authorization.
func (b *Bot) onBlockAction(evt *socketmode.Event, in *inbound) (then func()) {
	b.testPoint(kindButton)
	if in.id == "" {
		return nil
	}
	in.ack(nil)
	cb, ok := evt.Data.(slack.InteractionCallback)
	if !ok || b.seen.add(in.id, time.Now()) || !b.track() {
		return nil
	}
	defer b.untrackUnlessHandedOn(&then)
	return func() {
		defer b.untrack()
		b.click(in, cb)
	}
}

// click runs a button click after its ack.
func (b *Bot) click(in *inbound, cb slack.InteractionCallback) {
	to := b.replyTargetOfInteraction(cb)
	c, problem := b.readClick(cb)
	if problem != "" {
		b.malformed.Add(1)
		log := b.log.With().Str("envelope", in.id).Str("channel", to.channel).Str("user", to.user).Str("via", "button").Logger()
		log.Warn().Str("field", problem).Msg("button click with a missing or invalid field; nothing done")
		if !to.reachable() {
			return // nobody Slack named can be told
		}
		b.deliver(log, to, commands.Reply{Visibility: commands.Ephemeral,
			Text: ":x: That button is not valid any more, so nothing was done. Use `" + b.command + " status`."}, false)
		return
	}
	b.runClick(in.id, c, to, in.received, false)
}

// runClick runs a checked click: claim it, run it, answer (replacing the
// message that held the button when the answer is the meeting's new state),
// and mark it answered.
func (b *Bot) runClick(envID string, c click, to replyTo, received time.Time, replay bool) {
	verb := c.cmd.Verb
	log := b.log.With().Str("envelope", envID).Str("verb", string(verb)).Str("channel", c.channel).Str("user", c.user).Str("via", "button").Logger()
	ctx, cancel := context.WithTimeout(b.work, b.cfg.CommandTimeout)
	defer cancel()
	if !replay && !b.claim(ctx, log, envID, work{Kind: workButton, Channel: c.channel, User: c.user, ActionID: c.actionID, Value: c.value,
		ResponseURL: to.responseURL, Received: received.UnixMilli()}) {
		return
	}
	defer b.finish(log, envID)
	progress := &commands.Progress{}
	note := b.progressLater(log, to, progress)
	reply := b.svc.Execute(ctx, commands.Request{
		Channel:    b.channelKey(c.channel),
		UserID:     c.user,
		Command:    c.cmd,
		FromButton: true,
		Progress:   progress,
	})
	// A new state replaces the message whose button was clicked, so the
	// channel shows the meeting as it is, and who set it; a button on an
	// ephemeral message (a list of people) answers in the channel instead.
	replace := reply.StateChange && reply.Visibility == commands.InChannel && commands.ReplacesMessage(c.actionID)
	note.finish(func() { b.deliver(log, to, reply, replace) })
	b.commandDone(verb, reply, received)
	log.Info().Str("visibility", reply.Visibility.String()).Msg("button handled")
}
