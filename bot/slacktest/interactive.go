package slacktest

import (
	"context"
	"strings"
)

// Team selects the "team" object of an interactive payload.
type Team int

const (
	// TeamDefault sends {"id":<the fake's team>,"domain":…} (with the
	// enterprise's id and name inside an Enterprise org).
	TeamDefault Team = iota
	// TeamNull sends "team": null, as Slack does for org-wide installs.
	TeamNull
	// TeamEmptyID sends {"id":"","domain":""}, as seen on buttons clicked
	// in channels shared between workspaces.
	TeamEmptyID
)

// BlockAction describes a click on a button in a message the bot posted.
// Empty fields get defaults: channel "C0TEST", user "U0ALICE", user.team_id
// the fake's team.
type BlockAction struct {
	Team       Team
	UserID     string
	UserTeamID string // the clicker's home workspace (user.team_id)
	ChannelID  string
	ActionID   string
	Value      string
}

// SendBlockAction delivers an interactive envelope with a block_actions
// payload for one button click, with Slack's fields: its response_url is
// the fake's for this envelope.
func (s *Server) SendBlockAction(ctx context.Context, a BlockAction) (string, error) {
	def(&a.ChannelID, "C0TEST")
	def(&a.UserID, "U0ALICE")
	def(&a.UserTeamID, s.teamID)
	return s.SendEnvelopeFunc(ctx, "interactive", func(info EnvelopeInfo) any {
		p := s.interactiveBase("block_actions", a.Team, a.UserID, a.UserTeamID)
		p["trigger_id"] = info.TriggerID
		p["response_url"] = info.ResponseURL
		p["container"] = map[string]any{"type": "message", "message_ts": "1700000000.000100", "channel_id": a.ChannelID, "is_ephemeral": false}
		p["channel"] = map[string]any{"id": a.ChannelID, "name": "general"}
		p["message"] = map[string]any{"type": "message", "ts": "1700000000.000100", "text": "an earlier reply", "bot_id": BotID}
		p["state"] = map[string]any{"values": map[string]any{}}
		p["actions"] = []any{map[string]any{
			"action_id": a.ActionID, "block_id": "meeting_actions", "type": "button", "value": a.Value,
			"text": map[string]any{"type": "plain_text", "text": "button"}, "action_ts": "1700000001.000200",
		}}
		return p
	})
}

// ViewSubmission describes a modal being submitted. Empty fields get the
// same defaults as BlockAction.
type ViewSubmission struct {
	Team            Team
	UserID          string
	UserTeamID      string
	CallbackID      string
	PrivateMetadata string
	// Values are the inputs' values by block ID and action ID, sent as
	// plain_text_input elements in view.state.values.
	Values map[string]map[string]string
}

// SendViewSubmission delivers an interactive envelope with a
// view_submission payload. Its ack is where Slack reads the answer
// (response_action), so WaitAck returns what the submitter would see.
func (s *Server) SendViewSubmission(ctx context.Context, v ViewSubmission) (string, error) {
	def(&v.UserID, "U0ALICE")
	def(&v.UserTeamID, s.teamID)
	values := map[string]any{}
	for block, actions := range v.Values {
		m := map[string]any{}
		for action, value := range actions {
			m[action] = map[string]any{"type": "plain_text_input", "value": value}
		}
		values[block] = m
	}
	return s.SendEnvelopeFunc(ctx, "interactive", func(info EnvelopeInfo) any {
		p := s.interactiveBase("view_submission", v.Team, v.UserID, v.UserTeamID)
		p["trigger_id"] = info.TriggerID
		p["view"] = map[string]any{
			"id": "V0FORM", "team_id": s.teamID, "type": "modal", "callback_id": v.CallbackID,
			"private_metadata": v.PrivateMetadata, "state": map[string]any{"values": values},
			"hash": "1700000000.fake", "app_id": s.appID, "bot_id": BotID, "external_id": "",
			"app_installed_team_id": s.teamID,
		}
		p["response_urls"] = []any{}
		return p
	})
}

// interactiveBase holds the fields every interactive payload has.
func (s *Server) interactiveBase(typ string, team Team, user, userTeam string) map[string]any {
	p := map[string]any{
		"type":                  typ,
		"user":                  map[string]any{"id": user, "username": strings.ToLower(user), "name": strings.ToLower(user), "team_id": userTeam},
		"api_app_id":            s.appID,
		"token":                 VerificationToken,
		"is_enterprise_install": s.orgWide,
		"enterprise":            nil,
	}
	t := map[string]any{"id": s.teamID, "domain": s.teamDomain}
	if s.enterpriseID != "" {
		p["enterprise"] = map[string]any{"id": s.enterpriseID, "name": s.enterpriseName}
		t["enterprise_id"], t["enterprise_name"] = s.enterpriseID, s.enterpriseName
	}
	switch team {
	case TeamNull:
		p["team"] = nil
	case TeamEmptyID:
		p["team"] = map[string]any{"id": "", "domain": ""}
	default:
		p["team"] = t
	}
	return p
}

func def(v *string, d string) {
	if *v == "" {
		*v = d
	}
}
