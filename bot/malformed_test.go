package bot_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/store"
)

// Payloads as Slack sends them, for the tests to break one field at a time.

func slashPayload(h *harness, info slacktest.EnvelopeInfo) map[string]any {
	return map[string]any{
		"token": slacktest.VerificationToken, "team_id": h.slack.TeamID(), "team_domain": h.slack.TeamDomain(),
		"channel_id": "C1", "channel_name": "general", "user_id": "U1", "user_name": "u1",
		"command": "/meeting", "text": "lock", "api_app_id": h.slack.AppID(), "is_enterprise_install": "false",
		"response_url": info.ResponseURL, "trigger_id": info.TriggerID,
	}
}

func buttonPayload(h *harness, info slacktest.EnvelopeInfo) map[string]any {
	return map[string]any{
		"type":         "block_actions",
		"team":         map[string]any{"id": h.slack.TeamID(), "domain": h.slack.TeamDomain()},
		"user":         map[string]any{"id": "U1", "username": "u1", "team_id": h.slack.TeamID()},
		"api_app_id":   h.slack.AppID(),
		"token":        slacktest.VerificationToken,
		"container":    map[string]any{"type": "message", "message_ts": "1700000000.000100", "channel_id": "C1", "is_ephemeral": false},
		"trigger_id":   info.TriggerID,
		"channel":      map[string]any{"id": "C1", "name": "general"},
		"message":      map[string]any{"type": "message", "ts": "1700000000.000100", "text": "earlier confirmation"},
		"response_url": info.ResponseURL,
		"actions": []any{map[string]any{
			"action_id": "meeting_unlock", "block_id": "meeting_actions", "type": "button", "value": meetingID,
			"text": map[string]any{"type": "plain_text", "text": "Unlock"}, "action_ts": "1700000001.000200",
		}},
		"is_enterprise_install": false,
		"enterprise":            nil,
	}
}

func formPayload(h *harness, info slacktest.EnvelopeInfo, metadata map[string]any) map[string]any {
	meta, _ := json.Marshal(metadata)
	return map[string]any{
		"type":       "view_submission",
		"team":       map[string]any{"id": h.slack.TeamID(), "domain": h.slack.TeamDomain()},
		"user":       map[string]any{"id": "U1", "username": "u1", "team_id": h.slack.TeamID()},
		"api_app_id": h.slack.AppID(),
		"token":      slacktest.VerificationToken,
		"trigger_id": info.TriggerID,
		"view": map[string]any{
			"id": "V0FORM", "type": "modal", "callback_id": "meeting_bind", "private_metadata": string(meta),
			"state": map[string]any{"values": map[string]any{
				"password": map[string]any{"password": map[string]any{"type": "plain_text_input", "value": "999999"}},
			}},
		},
		"is_enterprise_install": false,
	}
}

// formMetadata is what the bind form carries, with the "team" that
// earlier versions wrote (and this one ignores).
func formMetadata(info slacktest.EnvelopeInfo) map[string]any {
	return map[string]any{"team": slacktest.DefaultTeamID, "channel": "C2", "conference_id": meetingID, "response_url": info.ResponseURL}
}

// Every field of a payload is checked before use. A payload that is
// missing something, has the wrong types, is huge or points elsewhere is
// acknowledged, changes nothing, is explained where Slack gave a trusted
// way to say so, and the bot goes on answering the next command.
func TestMalformedPayloadsChangeNothingAndTheBotKeepsServing(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	if m := h.reply(t, "C1", "U1", "lock"); !strings.Contains(m.Text, "locked by <@U1>") {
		t.Fatalf("lock = %q", m.Text)
	}

	// Somewhere that is not Slack, for forged response_urls.
	var elsewhere atomic.Int64
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(evil.Close)
	forged := evil.URL + "/response/stolen"
	h.meetings.ResetCalls()

	type expect struct {
		ack  string // a substring of the ack's payload; "" for a bare ack
		told string // a substring of the message the person gets; "" for none
		via  string // how that message goes: "response_url" (default) or "chat.postEphemeral"
	}
	edit := func(p map[string]any, f func(map[string]any)) map[string]any { f(p); return p }
	tests := []struct {
		name  string
		typ   string
		build func(slacktest.EnvelopeInfo) any
		want  expect
	}{
		{"a bind form without state", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(formPayload(h, i, formMetadata(i)), func(p map[string]any) { delete(p["view"].(map[string]any), "state") })
		}, expect{ack: "without its contents"}},
		{"a bind form without the password input", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(formPayload(h, i, formMetadata(i)), func(p map[string]any) {
				p["view"].(map[string]any)["state"] = map[string]any{"values": map[string]any{}}
			})
		}, expect{ack: "without its contents"}},
		{"a bind form without a user", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(formPayload(h, i, formMetadata(i)), func(p map[string]any) { delete(p, "user") })
		}, expect{ack: "without a valid user"}},
		{"a bind form whose metadata is not ours", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(formPayload(h, i, nil), func(p map[string]any) { p["view"].(map[string]any)["private_metadata"] = "{not json" })
		}, expect{ack: "not valid any more"}},
		{"a bind form whose metadata is huge", "interactive", func(i slacktest.EnvelopeInfo) any {
			m := formMetadata(i)
			m["pad"] = strings.Repeat("x", 4000)
			return formPayload(h, i, m)
		}, expect{ack: "not valid any more"}},
		{"a bind form whose metadata names no channel", "interactive", func(i slacktest.EnvelopeInfo) any {
			m := formMetadata(i)
			delete(m, "channel")
			return formPayload(h, i, m)
		}, expect{ack: "not valid any more"}},
		{"a bind form whose response_url points elsewhere", "interactive", func(i slacktest.EnvelopeInfo) any {
			m := formMetadata(i)
			m["response_url"] = forged
			return formPayload(h, i, m)
		}, expect{ack: "not valid any more"}},
		{"a bind form whose state has the wrong type", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(formPayload(h, i, formMetadata(i)), func(p map[string]any) { p["view"].(map[string]any)["state"] = "open sesame" })
		}, expect{ack: "could not read this form"}},

		{"a click without a user", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(buttonPayload(h, i), func(p map[string]any) { delete(p, "user") })
		}, expect{told: "That button is not valid any more"}},
		{"a click without a channel", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(buttonPayload(h, i), func(p map[string]any) { delete(p, "channel"); delete(p, "container") })
		}, expect{told: "That button is not valid any more"}},
		{"a click whose channel and container disagree", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(buttonPayload(h, i), func(p map[string]any) { p["channel"] = map[string]any{"id": "C2"} })
		}, expect{told: "That button is not valid any more"}},
		{"a click whose response_url points elsewhere", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(buttonPayload(h, i), func(p map[string]any) { p["response_url"] = forged })
		}, expect{told: "That button is not valid any more", via: "chat.postEphemeral"}},
		{"a click whose response_url is not https", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(buttonPayload(h, i), func(p map[string]any) { p["response_url"] = "ftp://hooks.slack.com/actions/T1/1/x" })
		}, expect{told: "That button is not valid any more", via: "chat.postEphemeral"}},
		{"a click with a huge value", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(buttonPayload(h, i), func(p map[string]any) {
				p["actions"].([]any)[0].(map[string]any)["value"] = strings.Repeat("9", 200_000)
			})
		}, expect{told: "That button is not valid any more"}},
		{"a click on two buttons at once", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(buttonPayload(h, i), func(p map[string]any) {
				a := p["actions"].([]any)
				lock := maps.Clone(a[0].(map[string]any))
				lock["action_id"] = "meeting_lock"
				p["actions"] = append(a, lock)
			})
		}, expect{told: "That button is not valid any more"}},
		{"a click with a team that is markup", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(buttonPayload(h, i), func(p map[string]any) { p["team"] = map[string]any{"id": "<!channel>"} })
		}, expect{told: "That button is not valid any more"}},
		{"a click on an unknown action", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(buttonPayload(h, i), func(p map[string]any) {
				p["actions"].([]any)[0].(map[string]any)["action_id"] = "meeting_explode"
			})
		}, expect{told: "not one this version of meetingbot knows"}},
		{"a click with no action at all", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(buttonPayload(h, i), func(p map[string]any) { p["actions"] = []any{} })
		}, expect{told: "not one this version of meetingbot knows"}},
		{"a click whose user is a string", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(buttonPayload(h, i), func(p map[string]any) { p["user"] = "U1" })
		}, expect{told: "could not read what Slack sent"}},
		{"an interactive payload of a kind the bot does not use", "interactive", func(i slacktest.EnvelopeInfo) any {
			return edit(buttonPayload(h, i), func(p map[string]any) { p["type"] = "block_suggestion" })
		}, expect{}},

		{"a command without a user", "slash_commands", func(i slacktest.EnvelopeInfo) any {
			return edit(slashPayload(h, i), func(p map[string]any) { delete(p, "user_id") })
		}, expect{ack: "missing or invalid user_id"}},
		{"a command without a channel", "slash_commands", func(i slacktest.EnvelopeInfo) any {
			return edit(slashPayload(h, i), func(p map[string]any) { delete(p, "channel_id") })
		}, expect{ack: "missing or invalid channel_id"}},
		{"a command whose response_url points elsewhere", "slash_commands", func(i slacktest.EnvelopeInfo) any {
			return edit(slashPayload(h, i), func(p map[string]any) { p["response_url"] = forged })
		}, expect{ack: "missing or invalid response_url"}},
		{"a command whose response_url has user info", "slash_commands", func(i slacktest.EnvelopeInfo) any {
			return edit(slashPayload(h, i), func(p map[string]any) {
				p["response_url"] = strings.Replace(i.ResponseURL, "://", "://user:pw@", 1)
			})
		}, expect{ack: "missing or invalid response_url"}},
		{"a command whose text is a number", "slash_commands", func(i slacktest.EnvelopeInfo) any {
			return edit(slashPayload(h, i), func(p map[string]any) { p["text"] = 42 })
		}, expect{ack: "could not read what Slack sent"}},
		{"a command with a huge user ID", "slash_commands", func(i slacktest.EnvelopeInfo) any {
			return edit(slashPayload(h, i), func(p map[string]any) { p["user_id"] = "U" + strings.Repeat("1", 100_000) })
		}, expect{ack: "missing or invalid user_id"}},
		{"an envelope of a type Slack does not send", "mystery", func(i slacktest.EnvelopeInfo) any {
			return map[string]any{"anything": true}
		}, expect{}},
	}
	for _, tt := range tests {
		ctx := h.ctx(t)
		before := len(h.slack.Messages())
		id, err := h.slack.SendEnvelopeFunc(ctx, tt.typ, tt.build)
		if err != nil {
			t.Fatal(err)
		}
		ack, err := h.slack.WaitAck(ctx, id)
		if err != nil {
			t.Fatalf("%s: no ack: %v", tt.name, err)
		}
		switch {
		case tt.want.ack == "" && ack.Payload != nil:
			t.Errorf("%s: ack = %s, want a bare ack", tt.name, ack.Payload)
		case tt.want.ack != "" && !strings.Contains(string(ack.Payload), tt.want.ack):
			t.Errorf("%s: ack = %s, want %q in it", tt.name, ack.Payload, tt.want.ack)
		}
		if tt.want.told != "" {
			m := h.waitMessage(t, before, func(m slacktest.Message) bool {
				if tt.want.via == "chat.postEphemeral" {
					return m.Via == "chat.postEphemeral" && m.Channel == "C1" && m.User == "U1"
				}
				return m.EnvelopeID == id
			})
			if !strings.Contains(m.Text, tt.want.told) || m.ResponseType == "in_channel" {
				t.Errorf("%s: the person was told %+v, want an ephemeral %q", tt.name, m, tt.want.told)
			}
		}
	}
	h.idle(t)
	if n := len(h.meetings.Calls()); n != 0 {
		t.Errorf("malformed payloads made %d meeting-API calls", n)
	}
	if n := elsewhere.Load(); n != 0 {
		t.Errorf("%d posts went to a forged response_url", n)
	}
	if _, err := h.store.Meeting(t.Context(), store.Channel{Team: h.slack.TeamID(), ID: "C2"}, meetingID); err == nil {
		t.Error("a malformed form bound a meeting")
	}
	if s := h.bot.Stats(); s.Malformed < 20 || s.Panics != 0 {
		t.Errorf("stats = %+v, want the malformed payloads counted and no panic", s)
	}
	// The bot is still here and serving.
	if m := h.reply(t, "C1", "U1", "unlock"); m.Text != ":unlock: Meeting 914083136 unlocked by <@U1>." {
		t.Fatalf("after the malformed payloads, unlock = %q", m.Text)
	}
}

// waitMessage waits for a message that matches, among those recorded
// after the first from.
func (h *harness) waitMessage(t testing.TB, from int, match func(slacktest.Message) bool) slacktest.Message {
	t.Helper()
	sub := h.slack.Subscribe()
	defer h.slack.Unsubscribe(sub)
	ctx := h.ctx(t)
	for {
		for _, m := range h.slack.Messages()[from:] {
			if match(m) {
				return m
			}
		}
		select {
		case <-sub:
		case <-ctx.Done():
			t.Fatalf("no such message; messages: %+v", h.slack.Messages())
		}
	}
}
