package bot_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
)

// clickButton sends a block_actions envelope as Slack does when user
// clicks a button with actionID and value on a message in channel.
func (h *harness) clickButton(t *testing.T, channel, user, actionID, value string) string {
	t.Helper()
	id, err := h.slack.SendEnvelopeFunc(h.ctx(t), "interactive", func(info slacktest.EnvelopeInfo) any {
		return map[string]any{
			"type":         "block_actions",
			"team":         map[string]any{"id": h.slack.TeamID(), "domain": h.slack.TeamDomain()},
			"user":         map[string]any{"id": user, "username": strings.ToLower(user), "team_id": h.slack.TeamID()},
			"api_app_id":   h.slack.AppID(),
			"token":        slacktest.VerificationToken,
			"container":    map[string]any{"type": "message", "message_ts": "1700000000.000100", "channel_id": channel, "is_ephemeral": false},
			"trigger_id":   info.TriggerID,
			"channel":      map[string]any{"id": channel, "name": "general"},
			"message":      map[string]any{"type": "message", "ts": "1700000000.000100", "text": "earlier confirmation"},
			"response_url": info.ResponseURL,
			"actions": []any{map[string]any{
				"action_id": actionID, "block_id": "meeting_actions", "type": "button", "value": value,
				"text": map[string]any{"type": "plain_text", "text": "button"}, "action_ts": "1700000001.000200",
			}},
			"is_enterprise_install": false,
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// submitBindForm sends a view_submission for the bind form that views.open
// opened, with the given password.
func (h *harness) submitBindForm(t *testing.T, user, password string) (string, slacktest.Ack) {
	t.Helper()
	views := h.slack.Views()
	if len(views) == 0 {
		t.Fatal("no form was opened")
	}
	var view struct {
		CallbackID      string `json:"callback_id"`
		PrivateMetadata string `json:"private_metadata"`
	}
	if err := json.Unmarshal(views[len(views)-1].View, &view); err != nil {
		t.Fatal(err)
	}
	ctx := h.ctx(t)
	id, err := h.slack.SendEnvelopeFunc(ctx, "interactive", func(info slacktest.EnvelopeInfo) any {
		return map[string]any{
			"type":       "view_submission",
			"team":       map[string]any{"id": h.slack.TeamID(), "domain": h.slack.TeamDomain()},
			"user":       map[string]any{"id": user, "username": strings.ToLower(user), "team_id": h.slack.TeamID()},
			"api_app_id": h.slack.AppID(),
			"token":      slacktest.VerificationToken,
			"trigger_id": info.TriggerID,
			"view": map[string]any{
				"id": "V0FORM", "type": "modal", "callback_id": view.CallbackID, "private_metadata": view.PrivateMetadata,
				"state": map[string]any{"values": map[string]any{
					"password": map[string]any{"password": map[string]any{"type": "plain_text_input", "value": password}},
				}},
			},
			"is_enterprise_install": false,
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := h.slack.WaitAck(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	return id, ack
}

func TestBindThroughTheForm(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	id, ack := h.send(t, "C1", "U1", "bind 914-083-136")
	if ack.Payload != nil {
		t.Fatalf("bind without a password acked with %s, want a bare ack (a form opens)", ack.Payload)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(h.slack.Views()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	views := h.slack.Views()
	if len(views) != 1 || views[0].TriggerID != h.slack.TriggerID(id) {
		t.Fatalf("views.open calls: %+v", views)
	}
	if !strings.Contains(string(views[0].View), `"callback_id":"meeting_bind"`) || !strings.Contains(string(views[0].View), `914083136`) {
		t.Fatalf("the form: %s", views[0].View)
	}

	// A wrong password keeps the form open with the error on the field.
	_, ack = h.submitBindForm(t, "U1", "999999")
	var resp struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
	}
	if err := json.Unmarshal(ack.Payload, &resp); err != nil || resp.ResponseAction != "errors" || !strings.Contains(resp.Errors["password"], "not accepted") {
		t.Fatalf("wrong password ack = %s", ack.Payload)
	}
	if _, err := h.store.Meeting(t.Context(), store.Channel{Team: h.slack.TeamID(), ID: "C1"}, meetingID); err == nil {
		t.Fatal("a rejected password was stored")
	}

	// An empty one is caught without calling the API.
	calls := len(h.meetings.Calls())
	_, ack = h.submitBindForm(t, "U1", "  ")
	if !strings.Contains(string(ack.Payload), `"response_action":"errors"`) || len(h.meetings.Calls()) != calls {
		t.Fatalf("empty password ack = %s", ack.Payload)
	}

	// The right one closes the form and confirms to the person, ephemerally.
	_, ack = h.submitBindForm(t, "U1", password)
	if ack.Payload != nil {
		t.Fatalf("right password ack = %s, want a bare ack that closes the form", ack.Payload)
	}
	msgs, err := h.slack.WaitMessages(h.ctx(t), id, 1)
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].ResponseType != "ephemeral" || !strings.Contains(msgs[0].Text, "Meeting 914083136 is now bound") {
		t.Fatalf("confirmation = %+v", msgs[0])
	}
	if m := h.reply(t, "C1", "U1", "lock"); !strings.Contains(m.Text, "locked by <@U1>") {
		t.Fatalf("lock after the form: %q", m.Text)
	}
	for _, v := range h.slack.Views() {
		if strings.Contains(string(v.View), password) {
			t.Fatal("the form carries the password")
		}
	}
}

func TestAnExpiredTriggerIsExplained(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.slack.Close()
	h.slack = slacktest.New(slacktest.WithTriggerTTL(time.Nanosecond))
	t.Cleanup(h.slack.Close)
	h.stop(t)
	h.start(t)
	m := h.reply(t, "C1", "U1", "bind 914083136")
	if m.ResponseType != "ephemeral" || !strings.Contains(m.Text, "could not open in time") || !strings.Contains(m.Text, "/meeting bind 914083136 PASSWORD") {
		t.Fatalf("reply = %+v", m)
	}
}

func TestTheFormIsRefusedToANonController(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	m := h.reply(t, "C1", "U2", "bind 914083136")
	if !strings.Contains(m.Text, "Only this channel's controllers can bind meetings here") {
		t.Fatalf("reply = %q", m.Text)
	}
	if n := len(h.slack.Views()); n != 0 {
		t.Fatalf("%d forms opened for a non-controller", n)
	}
}

func TestAButtonClickReplacesTheConfirmation(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	m := h.reply(t, "C1", "U1", "lock")
	if !strings.Contains(string(m.Blocks), `"action_id":"meeting_unlock"`) || !strings.Contains(string(m.Blocks), `"style":"danger"`) || !strings.Contains(string(m.Blocks), `"confirm"`) {
		t.Fatalf("the lock confirmation has no Unlock button with a confirm dialog: %s", m.Blocks)
	}
	h.reply(t, "C1", "U1", "grant <@U2|bob>")

	id := h.clickButton(t, "C1", "U2", "meeting_unlock", meetingID)
	msgs, err := h.slack.WaitMessages(h.ctx(t), id, 1)
	if err != nil {
		t.Fatal(err)
	}
	got := msgs[0]
	if !got.ReplaceOriginal || got.ResponseType != "in_channel" || got.Text != ":unlock: Meeting 914083136 unlocked by <@U2>." {
		t.Fatalf("click reply = %+v", got)
	}
	if !strings.Contains(string(got.Blocks), `"action_id":"meeting_lock"`) {
		t.Fatalf("the unlock confirmation has no Lock button: %s", got.Blocks)
	}
	if locked, _ := h.meetings.Locked(meetingID); locked {
		t.Fatal("the click did not unlock")
	}
}

func TestClicksAreAuthorizedAndForgedButtonsRefused(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.reply(t, "C1", "U1", "lock")
	h.meetings.ResetCalls()

	tests := []struct {
		name, user, action, want string
	}{
		{"a non-controller's click is refused", "U2", "meeting_unlock", "Only this channel's controllers can unlock meeting 914083136: <@U1>."},
		{"a button with a forged value is refused", "U1", "meeting_unlock", "That button is not valid any more"},
	}
	for _, tt := range tests {
		value := meetingID
		if strings.Contains(tt.name, "forged") {
			value = "<@U1>"
		}
		id := h.clickButton(t, "C1", tt.user, tt.action, value)
		msgs, err := h.slack.WaitMessages(h.ctx(t), id, 1)
		if err != nil {
			t.Fatal(err)
		}
		if msgs[0].ReplaceOriginal || msgs[0].ResponseType != "ephemeral" || !strings.Contains(msgs[0].Text, tt.want) {
			t.Fatalf("%s: reply = %+v", tt.name, msgs[0])
		}
	}
	if n := len(h.meetings.Calls()); n != 0 {
		t.Fatalf("refused clicks made %d meeting-API calls", n)
	}

	// Without a watch the bot cannot know that nobody unlocked the meeting
	// in the meeting itself, so a Lock click on a meeting it locked is sent
	// (locking is idempotent) and says it already was.
	id := h.clickButton(t, "C1", "U1", "meeting_lock", meetingID)
	msgs, err := h.slack.WaitMessages(h.ctx(t), id, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !msgs[0].ReplaceOriginal || msgs[0].ResponseType != "in_channel" || !strings.Contains(msgs[0].Text, "locked by <@U1>") ||
		!strings.Contains(msgs[0].Text, "It already was: <@U1> locked it at") {
		t.Fatalf("a Lock click on a meeting the bot locked: %+v", msgs[0])
	}
	if n := h.meetings.CallCount(meetingapitest.EndpointLock); n != 1 {
		t.Fatalf("%d lock calls, want 1", n)
	}

	h.reply(t, "C1", "U1", "unbind")
	id = h.clickButton(t, "C1", "U1", "meeting_unlock", meetingID)
	msgs, err = h.slack.WaitMessages(h.ctx(t), id, 1)
	if err != nil || !strings.Contains(msgs[0].Text, "Meeting 914083136 is not bound in this channel.") {
		t.Fatalf("a click after unbind: %v %+v", err, msgs)
	}
}

func TestGrantRevokeAndHistoryOverSocketMode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	if m := h.reply(t, "C1", "U1", "grant <@U2|bob>"); m.ResponseType != "in_channel" || !strings.Contains(m.Text, "<@U2> can now control this channel's meetings") {
		t.Fatalf("grant = %+v", m)
	}
	if m := h.reply(t, "C1", "U2", "lock"); !strings.Contains(m.Text, "locked by <@U2>") {
		t.Fatalf("lock by the grantee = %q", m.Text)
	}
	h.reply(t, "C1", "U1", "revoke <@U2>")
	if m := h.reply(t, "C1", "U2", "unlock"); !strings.Contains(m.Text, "Only this channel's controllers") {
		t.Fatalf("unlock after revoke = %q", m.Text)
	}
	h.meetings.SetState(meetingID, meetingapitest.Ended)
	h.reply(t, "C1", "U1", "unlock")
	m := h.reply(t, "C1", "U3", "history")
	if m.ResponseType != "ephemeral" {
		t.Fatal("history must be ephemeral")
	}
	for _, want := range []string{"<@U1> unlock 914083136: error MMC.111072006 (request ", "<@U2> unlock 914083136: refused", "<@U1> revoke <@U2>: ok", "<@U2> lock 914083136: ok", "<@U1> grant <@U2>: ok", "<@U1> bind 914083136: ok"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("history lacks %q:\n%s", want, m.Text)
		}
	}
}
