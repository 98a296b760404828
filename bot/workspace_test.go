package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/store"
	"github.com/meetingbot/meetingbot/store/claimstore"
)

// click sends a button click and returns the outcome posted for it.
func (h *harness) click(t *testing.T, a slacktest.BlockAction) slacktest.Message {
	t.Helper()
	id, err := h.slack.SendBlockAction(h.ctx(t), a)
	if err != nil {
		t.Fatal(err)
	}
	return h.outcome(t, id)
}

// A channel shared between workspaces has one ID for everyone in it, so
// it has one binding, whichever workspace the person typing belongs to,
// and a button whose payload has an empty team.id still works.
func TestASharedChannelHasOneBindingWhoeverTypes(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.reply(t, "C1", "U1", "grant <@W0GUEST>")

	ctx := h.ctx(t)
	guest := slacktest.SlashCommand{TeamID: "T0OTHER", TeamDomain: "partner", ChannelID: "C1", UserID: "W0GUEST", Text: "lock"}
	id, err := h.slack.SendSlashCommand(ctx, guest)
	if err != nil {
		t.Fatal(err)
	}
	if m := h.outcome(t, id); m.Text != ":lock: Meeting 914083136 locked by <@W0GUEST>." {
		t.Fatalf("a member of another workspace typed lock in the shared channel: %q", m.Text)
	}
	guest.Text = "status"
	id, _ = h.slack.SendSlashCommand(ctx, guest)
	if m := h.outcome(t, id); !strings.Contains(m.Text, "914083136") || strings.Contains(m.Text, "No meeting is bound") {
		t.Fatalf("status for the other workspace's member: %q", m.Text)
	}

	m := h.click(t, slacktest.BlockAction{Team: slacktest.TeamEmptyID, UserTeamID: "T0OTHER", ChannelID: "C1", UserID: "W0GUEST",
		ActionID: commands.ActionUnlock, Value: meetingID})
	if m.Text != ":unlock: Meeting 914083136 unlocked by <@W0GUEST>." {
		t.Fatalf("a click with an empty team.id: %q", m.Text)
	}
	if _, err := h.store.Meeting(t.Context(), store.Channel{Team: "T0OTHER", ID: "C1"}, meetingID); err == nil {
		t.Fatal("the other workspace got a binding of its own")
	}
}

// In an org-wide install, bindings are kept under the org: people from
// any of its workspaces share a channel's binding, and buttons work
// although Slack sends "team": null.
func TestAnOrgWideInstallKeysBindingsByTheOrg(t *testing.T) {
	t.Parallel()
	h := newHarnessWithSlack(t, []slacktest.Option{slacktest.WithEnterprise("E0ORG", "Acme", true)})
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	h.reply(t, "C1", "U1", "grant <@W0SECOND>")
	if _, err := h.store.Meeting(t.Context(), store.Channel{Team: "E0ORG", ID: "C1"}, meetingID); err != nil {
		t.Fatalf("the binding is not kept under the org: %v", err)
	}

	id, err := h.slack.SendSlashCommand(h.ctx(t), slacktest.SlashCommand{TeamID: "T0SECOND", ChannelID: "C1", UserID: "W0SECOND", Text: "lock"})
	if err != nil {
		t.Fatal(err)
	}
	if m := h.outcome(t, id); m.Text != ":lock: Meeting 914083136 locked by <@W0SECOND>." {
		t.Fatalf("lock from the org's second workspace: %q", m.Text)
	}
	m := h.click(t, slacktest.BlockAction{Team: slacktest.TeamNull, UserTeamID: "T0SECOND", ChannelID: "C1", UserID: "W0SECOND",
		ActionID: commands.ActionUnlock, Value: meetingID})
	if m.Text != ":unlock: Meeting 914083136 unlocked by <@W0SECOND>." {
		t.Fatalf("a click with \"team\": null: %q", m.Text)
	}
	if locked, _ := h.meetings.Locked(meetingID); locked {
		t.Fatal("the meeting is still locked")
	}

	// The bind form keys the same way.
	id, _ = h.send(t, "C2", "U1", "bind 914083136")
	waitViews(t, h, 1)
	if _, ack := h.submitBindForm(t, "U1", password); ack.Payload != nil {
		t.Fatalf("form ack = %s", ack.Payload)
	}
	if m := h.outcome(t, id); !strings.Contains(m.Text, "is now bound") {
		t.Fatalf("form outcome = %q", m.Text)
	}
	if _, err := h.store.Meeting(t.Context(), store.Channel{Team: "E0ORG", ID: "C2"}, meetingID); err != nil {
		t.Fatalf("the form's binding is not kept under the org: %v", err)
	}
}

// A workspace that is part of an Enterprise org but installed the app on
// its own keeps its bindings under the workspace, as before: an upgrade
// moves nothing.
func TestAWorkspaceInstallInsideAnOrgKeepsBindingsUnderTheWorkspace(t *testing.T) {
	t.Parallel()
	h := newHarnessWithSlack(t, []slacktest.Option{slacktest.WithEnterprise("E0ORG", "Acme", false)})
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	if _, err := h.store.Meeting(t.Context(), store.Channel{Team: h.slack.TeamID(), ID: "C1"}, meetingID); err != nil {
		t.Fatalf("the binding is not kept under the workspace: %v", err)
	}
	m := h.click(t, slacktest.BlockAction{Team: slacktest.TeamNull, ChannelID: "C1", UserID: "U1", ActionID: commands.ActionLock, Value: meetingID})
	if m.Text != ":lock: Meeting 914083136 locked by <@U1>." {
		t.Fatalf("click = %q", m.Text)
	}
}

// A bot token Slack refuses stops Run at once, with an error that names
// the variable and never the token.
func TestARefusedBotTokenStopsRunWithAClearError(t *testing.T) {
	t.Parallel()
	fake := slacktest.New(slacktest.WithBotToken("xoxb-the-right-one"))
	t.Cleanup(fake.Close)
	st, err := store.Open(t.Context(), t.TempDir()+"/db", mustKey(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	client, err := meetingapi.NewClient(meetingapi.WithBaseURL("http://127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := commands.New(commands.Config{Meetings: client, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "xoxb-a-wrong-secret-token"
	b, err := bot.New(bot.Config{AppToken: fake.AppToken(), BotToken: wrong, APIURL: fake.APIURL(), Service: svc, Claims: claimstore.New(st), Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = b.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "SLACK_BOT_TOKEN") || !strings.Contains(err.Error(), "invalid_auth") || strings.Contains(err.Error(), wrong) {
		t.Fatalf("Run = %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run kept retrying a refused token")
	}
}

func mustKey(t *testing.T) store.Key {
	t.Helper()
	k, err := store.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func waitViews(t *testing.T, h *harness, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(h.slack.Views()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d forms opened, want %d", len(h.slack.Views()), n)
		}
		time.Sleep(time.Millisecond)
	}
}
