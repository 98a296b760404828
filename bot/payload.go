package bot

import (
	"cmp"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/slack-go/slack"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/domain"
)

// What meetingbot accepts from a payload, field by field. Anything else is
// refused before it is used: nothing is done, and the person is told
// through a route that passed these same checks (the ack, a trusted
// response_url, or chat.postEphemeral to a valid channel and user).
//
//   - IDs that are used (the conversation, the person): a Slack ID, that
//     is non-empty, at most 64 bytes, no spaces, control characters or
//     mrkdwn markup (domain.ValidSlackID).
//   - IDs that are not used (team_id, team.id, user.team_id, enterprise):
//     empty or a Slack ID. They describe the person and the client, not
//     the conversation (see channelKey), and Slack leaves some of them
//     empty or null in shared channels and org-wide installs.
//   - response_url: empty (replies then go through the Web API), or an
//     absolute https URL on Slack's hooks hosts (hooks.slack.com,
//     hooks.slack-gov.com), at most 1,024 bytes, without user info or a
//     fragment. The host of the configured Web API base (SLACK_API_URL) is
//     accepted too, with its scheme, so a fake Slack or a proxy in front of
//     Slack works. A response_url pointing anywhere else is never posted to.
//   - trigger_id: up to 256 printable ASCII characters without spaces.
//   - buttons: exactly one action, a known action_id, and the value
//     meetingbot put there (commands.ButtonCommand).
//   - the bind form: private_metadata of at most 3,000 characters (Slack's
//     limit) in the form meetingbot wrote, and a state with the password.

var slackHooksHosts = map[string]bool{"hooks.slack.com": true, "hooks.slack-gov.com": true}

const (
	maxResponseURLLen = 1024
	maxTriggerIDLen   = 256
	maxMetadataLen    = 3000
)

// trustedResponseURL reports whether a reply may be posted to u.
func (b *Bot) trustedResponseURL(u string) bool {
	if u == "" || len(u) > maxResponseURLLen {
		return false
	}
	p, err := url.Parse(u)
	if err != nil || p.Opaque != "" || p.User != nil || p.Fragment != "" || p.Host == "" {
		return false
	}
	if p.Scheme == "https" && slackHooksHosts[p.Host] {
		return true
	}
	return p.Scheme == b.apiBase.Scheme && p.Host == b.apiBase.Host
}

func validTriggerID(id string) bool {
	if id == "" || len(id) > maxTriggerIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// optionalID accepts an ID that meetingbot does not use: empty or valid.
func optionalID(id string) bool { return id == "" || domain.ValidSlackID(id) }

// replyTo says where a reply may go: the response_url Slack gave, else
// the conversation and the person through the Web API. Every field has
// been checked; an unchecked one is left empty.
type replyTo struct {
	responseURL string
	channel     string
	user        string
}

func (t replyTo) reachable() bool { return t.responseURL != "" || (t.channel != "" && t.user != "") }

// checkedTarget keeps the parts of a reply target that pass the checks.
func (b *Bot) checkedTarget(responseURL, channel, user string) replyTo {
	var t replyTo
	if b.trustedResponseURL(responseURL) {
		t.responseURL = responseURL
	}
	if domain.ValidSlackID(channel) && domain.ValidSlackID(user) {
		t.channel, t.user = channel, user
	}
	return t
}

func (b *Bot) replyTargetOfInteraction(cb slack.InteractionCallback) replyTo {
	return b.checkedTarget(cb.ResponseURL, cmp.Or(cb.Channel.ID, cb.Container.ChannelID), cb.User.ID)
}

// slashProblem names the first field of a slash command that fails the
// checks, or returns "".
func (b *Bot) slashProblem(sc slack.SlashCommand) string {
	switch {
	case !domain.ValidSlackID(sc.ChannelID):
		return "channel_id"
	case !domain.ValidSlackID(sc.UserID):
		return "user_id"
	case !optionalID(sc.TeamID):
		return "team_id"
	case !optionalID(sc.EnterpriseID):
		return "enterprise_id"
	case sc.ResponseURL != "" && !b.trustedResponseURL(sc.ResponseURL):
		return "response_url"
	}
	return ""
}

// click is a button click that passed the checks.
type click struct {
	cmd      commands.Command
	actionID string
	value    string
	channel  string
	user     string
}

// readClick checks a block_actions payload and names the first field
// that fails, if one does. What the button does is read by
// commands.ButtonCommand, the one place that knows the buttons' values.
func (b *Bot) readClick(cb slack.InteractionCallback) (click, string) {
	channel := cmp.Or(cb.Channel.ID, cb.Container.ChannelID)
	switch {
	case len(cb.ActionCallback.BlockActions) != 1 || cb.ActionCallback.BlockActions[0] == nil:
		return click{}, "actions"
	case cb.Container.ChannelID != "" && cb.Container.ChannelID != channel:
		return click{}, "container.channel_id"
	case !domain.ValidSlackID(channel):
		return click{}, "channel.id"
	case !domain.ValidSlackID(cb.User.ID):
		return click{}, "user.id"
	case !optionalID(cb.User.TeamID):
		return click{}, "user.team_id"
	case !optionalID(cb.Team.ID) || !optionalID(cb.Team.EnterpriseID):
		return click{}, "team"
	case !optionalID(cb.Enterprise.ID):
		return click{}, "enterprise.id"
	case cb.ResponseURL != "" && !b.trustedResponseURL(cb.ResponseURL):
		return click{}, "response_url"
	}
	a := cb.ActionCallback.BlockActions[0]
	cmd, ok := commands.ButtonCommand(a.ActionID, a.Value)
	if !ok {
		return click{}, "actions[0]"
	}
	return click{cmd: cmd, actionID: a.ActionID, value: a.Value, channel: channel, user: cb.User.ID}, ""
}

// bindForm is a bind form submission that passed the checks.
type bindForm struct {
	channel  string
	user     string
	id       domain.ConferenceID
	password string
	to       replyTo
}

// readBindForm checks a view_submission of the bind form. On a problem it
// names the field (for the log) and says what to show on the form.
func (b *Bot) readBindForm(cb slack.InteractionCallback) (f bindForm, field, message string) {
	stale := "This form is not valid any more. Close it and run `" + b.command + " bind ID` again."
	var meta bindMetadata
	switch {
	case !domain.ValidSlackID(cb.User.ID):
		return f, "user.id", "Slack sent this form without a valid user, so nothing was stored. Close it and try again."
	case !optionalID(cb.User.TeamID) || !optionalID(cb.Team.ID) || !optionalID(cb.Enterprise.ID):
		return f, "team", "Slack sent this form with an invalid team, so nothing was stored. Close it and try again."
	case len(cb.View.PrivateMetadata) > maxMetadataLen || json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta) != nil:
		return f, "view.private_metadata", stale
	case !domain.ValidSlackID(meta.Channel):
		return f, "view.private_metadata.channel", stale
	case meta.ResponseURL != "" && !b.trustedResponseURL(meta.ResponseURL):
		return f, "view.private_metadata.response_url", stale
	}
	id, err := domain.ParseConferenceID(meta.ConferenceID)
	if err != nil {
		return f, "view.private_metadata.conference_id", stale
	}
	if cb.View.State == nil {
		return f, "view.state", "Slack sent this form without its contents. Submit it again."
	}
	input, ok := cb.View.State.Values[passwordBlockID][passwordActionID]
	if !ok {
		return f, "view.state.values", "Slack sent this form without its contents. Submit it again."
	}
	if problem := passwordProblem(input.Value); problem != "" {
		return f, "", problem
	}
	return bindForm{
		channel:  meta.Channel,
		user:     cb.User.ID,
		id:       id,
		password: input.Value,
		to:       replyTo{responseURL: meta.ResponseURL, channel: meta.Channel, user: cb.User.ID},
	}, "", ""
}

// formError is a view_submission ack that keeps the form open with msg on
// the password field.
func formError(msg string) *slack.ViewSubmissionResponse {
	return slack.NewErrorsViewSubmissionResponse(map[string]string{passwordBlockID: msg})
}

// escapeText escapes what Slack's mrkdwn treats as markup (&, <, >), for
// text that came from outside.
func escapeText(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
