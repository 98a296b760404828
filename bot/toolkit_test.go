package bot_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

// rowButton is one button of a reply, with the text of the section above it
// (a participant's row in a `who` list).
type rowButton struct {
	row, actionID, value string
}

// buttonsOf reads the buttons of a posted message from its blocks.
func buttonsOf(t *testing.T, m slacktest.Message) []rowButton {
	t.Helper()
	var blocks []struct {
		Type string `json:"type"`
		Text struct {
			Text string `json:"text"`
		} `json:"text"`
		Elements []struct {
			Type     string `json:"type"`
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(m.Blocks, &blocks); err != nil {
		t.Fatalf("the blocks of %q: %v", m.Text, err)
	}
	var out []rowButton
	row := ""
	for _, b := range blocks {
		switch b.Type {
		case "section":
			row = b.Text.Text
		case "actions":
			for _, e := range b.Elements {
				if e.Type == "button" {
					out = append(out, rowButton{row: row, actionID: e.ActionID, value: e.Value})
				}
			}
		}
	}
	return out
}

// button finds the button with actionID on the row that mentions name.
func button(t *testing.T, buttons []rowButton, name, actionID string) string {
	t.Helper()
	for _, b := range buttons {
		if strings.Contains(b.row, name) && b.actionID == actionID {
			return b.value
		}
	}
	t.Fatalf("no %s button on %q's row in %+v", actionID, name, buttons)
	return ""
}

// participant finds name in the fake meeting's current state.
func participant(t *testing.T, h *harness, name string) meetingapitest.ParticipantInfo {
	t.Helper()
	snap, ok := h.meetings.Snapshot(meetingID)
	if !ok {
		t.Fatal("the meeting is gone")
	}
	for _, p := range append(snap.Participants, snap.Waiting...) {
		if p.Person.Name == name {
			return p
		}
	}
	t.Fatalf("%s is not in the meeting: %+v", name, snap)
	return meetingapitest.ParticipantInfo{}
}

// press presses a button as user and returns the reply it gets.
func (h *harness) press(t *testing.T, user, actionID, value string) slacktest.Message {
	t.Helper()
	return h.outcome(t, h.clickButton(t, "C1", user, actionID, value))
}

// TestTheIncidentToolkitOverSocketMode drives the controls a moderator
// reaches for after a lock through the fake Slack: the buttons of a `who`
// list and of the outcomes, as a controller and as someone who is not.
func TestTheIncidentToolkitOverSocketMode(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.meetings.AddMeeting(meetingID, password, meetingapitest.InProgress, meetingapitest.WithWaitingRoom())
	for _, p := range []meetingapitest.Person{
		{Name: "Hana Host", Role: meetingapitest.RoleHost},
		{Name: "Bob Martin"},
		{Name: "mallory", Anonymous: true},
	} {
		if _, err := h.meetings.AddParticipant(meetingID, p); err != nil {
			t.Fatal(err)
		}
	}
	h.reply(t, "C1", "U1", "bind 914083136 "+password)

	who := h.reply(t, "C1", "U1", "who")
	if who.ResponseType != "ephemeral" {
		t.Fatalf("a participant list must be ephemeral: %+v", who)
	}
	buttons := buttonsOf(t, who)
	muteBob := button(t, buttons, "Bob Martin", "meeting_mute_one")
	mallorysWaitingRoom := button(t, buttons, "mallory", "meeting_waiting_room")

	// Someone who is not a controller is refused, by button and by command,
	// and nothing reaches the meeting service.
	h.meetings.ResetCalls()
	refusals := []slacktest.Message{
		h.press(t, "U2", "meeting_mute_one", muteBob),
		h.press(t, "U2", "meeting_waiting_room", mallorysWaitingRoom),
		h.reply(t, "C1", "U2", "remove mallory"),
		h.reply(t, "C1", "U2", "mute"),
		h.reply(t, "C1", "U2", "restrict invited"),
	}
	for _, m := range refusals {
		if m.ResponseType != "ephemeral" || !strings.Contains(m.Text, "Only this channel's controllers can") {
			t.Errorf("a non-controller got %+v", m)
		}
	}
	if n := len(h.meetings.Calls()); n != 0 {
		t.Fatalf("refused controls made %d meeting-API calls: %+v", n, h.meetings.Calls())
	}
	if p := participant(t, h, "Bob Martin"); p.Muted {
		t.Fatal("a refused Mute click muted Bob")
	}

	// A controller's clicks act on the person of that row.
	if m := h.press(t, "U1", "meeting_mute_one", muteBob); m.ResponseType != "in_channel" || !strings.Contains(m.Text, "<@U1> muted *Bob Martin* in meeting 914083136.") {
		t.Fatalf("Mute = %+v", m)
	}
	if p := participant(t, h, "Bob Martin"); !p.Muted {
		t.Fatal("Bob is not muted after the Mute click")
	}
	if m := h.press(t, "U1", "meeting_waiting_room", mallorysWaitingRoom); m.ResponseType != "in_channel" || !strings.Contains(m.Text, "<@U1> moved *mallory* to the waiting room of meeting 914083136.") {
		t.Fatalf("Waiting room = %+v", m)
	}
	if p := participant(t, h, "mallory"); !p.Waiting {
		t.Fatal("mallory is not in the waiting room after the click")
	}

	// The buttons on the outcomes of mute and restrict undo them.
	muted := h.reply(t, "C1", "U1", "mute")
	if snap, _ := h.meetings.Snapshot(meetingID); !snap.MutedAll || snap.CanUnmute {
		t.Fatalf("after mute: %+v", snap)
	}
	if m := h.press(t, "U1", "meeting_unmute", button(t, buttonsOf(t, muted), "", "meeting_unmute")); !strings.Contains(m.Text, "unmuted by <@U1>") {
		t.Fatalf("Unmute everyone = %+v", m)
	}
	if snap, _ := h.meetings.Snapshot(meetingID); snap.MutedAll || !snap.CanUnmute {
		t.Fatalf("after the Unmute click: %+v", snap)
	}
	restricted := h.reply(t, "C1", "U1", "restrict invited")
	if snap, _ := h.meetings.Snapshot(meetingID); snap.Restriction != 3 {
		t.Fatalf("after restrict invited: %+v", snap)
	}
	if m := h.press(t, "U1", "meeting_restrict_everyone", button(t, buttonsOf(t, restricted), "", "meeting_restrict_everyone")); !strings.Contains(m.Text, "Anyone with the meeting ID may join meeting 914083136 again (set by <@U1>).") {
		t.Fatalf("Let everyone join = %+v", m)
	}
	if snap, _ := h.meetings.Snapshot(meetingID); snap.Restriction != 0 {
		t.Fatalf("after the click: %+v", snap)
	}

	history := h.reply(t, "C1", "U1", "history")
	for _, want := range []string{"<@U2> mute 914083136: refused", "<@U1> mute 914083136: ok", "<@U1> unmute 914083136: ok", "<@U1> restrict 914083136"} {
		if !strings.Contains(history.Text, want) {
			t.Errorf("history lacks %q:\n%s", want, history.Text)
		}
	}
}
