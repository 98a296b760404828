package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
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
type bindMetadata struct {
	Team         string `json:"team"`
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
	meta, _ := json.Marshal(bindMetadata{Team: sc.TeamID, Channel: sc.ChannelID, ConferenceID: string(req.Command.ConferenceID), ResponseURL: sc.ResponseURL})
	_, err := b.api.OpenViewContext(ctx, sc.TriggerID, BindModal(b.command, req.Command.ConferenceID, string(meta)))
	if err == nil {
		return commands.Reply{}
	}
	b.log.Warn().Err(err).Msg("views.open failed")
	var se slack.SlackErrorResponse
	expired := errors.As(err, &se) && (se.Err == "expired_trigger_id" || se.Err == "invalid_arguments") ||
		strings.Contains(err.Error(), "expired_trigger_id")
	id := req.Command.ConferenceID
	if expired {
		return commands.Reply{Visibility: commands.Ephemeral,
			Text:    ":hourglass: The password form could not open in time: Slack lets a form open only within 3 seconds of the command.",
			Details: []string{fmt.Sprintf("Run `%s bind %s` again, or give the password inline: `%s bind %s PASSWORD`.", b.command, id, b.command, id)}}
	}
	return commands.Reply{Visibility: commands.Ephemeral,
		Text:    ":x: Slack would not open the password form.",
		Details: []string{fmt.Sprintf("Give the password inline instead: `%s bind %s PASSWORD`.", b.command, id)}}
}

// onViewSubmission handles the bind form.
func (b *Bot) onViewSubmission(evt *socketmode.Event, client *socketmode.Client) {
	if evt.Request == nil {
		return
	}
	envID := evt.Request.EnvelopeID
	cb, ok := evt.Data.(slack.InteractionCallback)
	var meta bindMetadata
	if !ok || json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta) != nil {
		b.ack(client, envID, nil)
		b.log.Warn().Str("envelope", envID).Msg("bind form with unreadable metadata")
		return
	}
	id, err := domain.ParseConferenceID(meta.ConferenceID)
	if err != nil || !commands.ValidSlackID(meta.Team) || !commands.ValidSlackID(meta.Channel) || !commands.ValidSlackID(cb.User.ID) ||
		(cb.Team.ID != "" && cb.Team.ID != meta.Team) {
		b.ack(client, envID, nil)
		b.log.Warn().Str("envelope", envID).Msg("bind form with invalid metadata")
		return
	}
	if b.seen.add(envID, time.Now()) {
		b.ack(client, envID, nil)
		return
	}
	pw := cb.View.State.Values[passwordBlockID][passwordActionID].Value
	if problem := passwordProblem(pw); problem != "" {
		b.ack(client, envID, slack.NewErrorsViewSubmissionResponse(map[string]string{passwordBlockID: problem}))
		return
	}
	if !b.track() {
		b.ack(client, envID, slack.NewErrorsViewSubmissionResponse(map[string]string{passwordBlockID: "meetingbot is restarting; submit again in a few seconds."}))
		return
	}
	defer b.untrack()
	log := b.log.With().Str("envelope", envID).Str("verb", "bind").Str("channel", meta.Channel).Str("user", cb.User.ID).Logger()
	req := commands.Request{Channel: domain.Channel{Team: meta.Team, ID: meta.Channel}, UserID: cb.User.ID,
		Command: commands.Command{Verb: commands.VerbBind, ConferenceID: id}}

	ctx, cancel := context.WithTimeout(b.work, bindVerifyTimeout)
	defer cancel()
	if ok, refusal := b.svc.MayBind(ctx, req); !ok {
		b.ack(client, envID, nil)
		b.deliver(ctx, log, meta.ResponseURL, meta.Channel, cb.User.ID, refusal, false)
		return
	}
	reply, rejected := b.svc.Bind(ctx, req.Channel, req.UserID, id, domain.Password(pw))
	if rejected {
		b.ack(client, envID, slack.NewErrorsViewSubmissionResponse(map[string]string{
			passwordBlockID: "That host password was not accepted. Check it and try again.",
		}))
		return
	}
	b.ack(client, envID, nil) // closes the form
	b.deliver(ctx, log, meta.ResponseURL, meta.Channel, cb.User.ID, reply, false)
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

// onBlockAction handles the Lock and Unlock buttons: the same use case,
// under the clicker's own identity and authorization.
func (b *Bot) onBlockAction(evt *socketmode.Event, client *socketmode.Client) {
	received := time.Now()
	if evt.Request == nil {
		return
	}
	envID := evt.Request.EnvelopeID
	b.ack(client, envID, nil)
	b.acked(received)
	cb, ok := evt.Data.(slack.InteractionCallback)
	if !ok || b.seen.add(envID, time.Now()) || !b.track() {
		return
	}
	defer b.untrack()
	runtime.Gosched() // let the ack go out first, as for slash commands
	ctx, cancel := context.WithTimeout(b.work, b.cfg.CommandTimeout)
	defer cancel()
	for _, a := range cb.ActionCallback.BlockActions {
		verb := commands.VerbLock
		switch a.ActionID {
		case commands.ActionLock:
		case commands.ActionUnlock:
			verb = commands.VerbUnlock
		default:
			continue
		}
		log := b.log.With().Str("envelope", envID).Str("verb", string(verb)).Str("channel", cb.Channel.ID).Str("user", cb.User.ID).Str("via", "button").Logger()
		id, err := domain.ParseConferenceID(a.Value)
		if err != nil || !commands.ValidSlackID(cb.Team.ID) || !commands.ValidSlackID(cb.Channel.ID) || !commands.ValidSlackID(cb.User.ID) {
			b.deliver(ctx, log, cb.ResponseURL, cb.Channel.ID, cb.User.ID, commands.Reply{Text: ":x: That button is not valid any more. Use `" + b.command + " status`."}, false)
			continue
		}
		reply := b.svc.Execute(ctx, commands.Request{
			Channel:    domain.Channel{Team: cb.Team.ID, ID: cb.Channel.ID},
			UserID:     cb.User.ID,
			Command:    commands.Command{Verb: verb, ConferenceID: id},
			FromButton: true,
		})
		b.deliver(ctx, log, cb.ResponseURL, cb.Channel.ID, cb.User.ID, reply, reply.StateChange)
		b.commandDone(verb, reply, received)
		log.Info().Str("visibility", reply.Visibility.String()).Msg("button handled")
	}
}
