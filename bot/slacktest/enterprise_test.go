package slacktest_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/bot/slacktest"
)

// Slack names no delay between refresh_requested and closing the socket,
// and a client still reading what came before the frame must get the
// chance to: the fake keeps a refreshed socket open for acks well past
// the 50 ms it used to allow.
func TestARefreshedSocketStaysOpenForASlowClient(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := ctxT(t, 10*time.Second)
	c := rawConnect(t, srv)
	c.next(t, ctx) // hello
	if err := srv.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	id, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "lock"})
	if err != nil {
		t.Fatal(err)
	}
	if env := c.next(t, ctx); env["envelope_id"] != id {
		t.Fatalf("envelope %v", env)
	}
	srv.SendDisconnect("refresh_requested")
	if d := c.next(t, ctx); d["type"] != "disconnect" {
		t.Fatalf("frame %v, want the disconnect", d)
	}
	time.Sleep(time.Second) // a client slow to get to its ack
	c.send(t, `{"envelope_id":"`+id+`"}`)
	if _, err := srv.WaitAck(ctx, id); err != nil {
		t.Fatalf("an ack a second after refresh_requested was lost: %v", err)
	}
}

func TestEnterprisePayloadsAndAuthTest(t *testing.T) {
	t.Parallel()
	srv := newServer(t, slacktest.WithEnterprise("E0ORG", "Acme", true))
	r := postJSON(t, srv.APIURL()+"auth.test", srv.BotToken(), "")
	if r["ok"] != true || r["enterprise_id"] != "E0ORG" || r["is_enterprise_install"] != true || r["team_id"] != srv.TeamID() {
		t.Fatalf("auth.test = %v", r)
	}
	ctx := ctxT(t, 10*time.Second)
	c := rawConnect(t, srv)
	c.next(t, ctx) // hello
	if err := srv.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}

	if _, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{TeamID: "T0SECOND", Text: "lock"}); err != nil {
		t.Fatal(err)
	}
	p := c.next(t, ctx)["payload"].(map[string]any)
	if p["enterprise_id"] != "E0ORG" || p["enterprise_name"] != "Acme" || p["is_enterprise_install"] != "true" || p["team_id"] != "T0SECOND" {
		t.Errorf("slash payload %v", p)
	}

	for _, tc := range []struct {
		team slacktest.Team
		want string
	}{{slacktest.TeamNull, "<nil>"}, {slacktest.TeamEmptyID, ""}, {slacktest.TeamDefault, srv.TeamID()}} {
		if _, err := srv.SendBlockAction(ctx, slacktest.BlockAction{Team: tc.team, UserTeamID: "T0SECOND", ActionID: "meeting_lock", Value: "914083136"}); err != nil {
			t.Fatal(err)
		}
		env := c.next(t, ctx)
		p := env["payload"].(map[string]any)
		team := "<nil>"
		if m, ok := p["team"].(map[string]any); ok {
			team = m["id"].(string)
		}
		ent, _ := p["enterprise"].(map[string]any)
		user, _ := p["user"].(map[string]any)
		if env["type"] != "interactive" || p["type"] != "block_actions" || team != tc.want || ent["id"] != "E0ORG" ||
			p["is_enterprise_install"] != true || user["team_id"] != "T0SECOND" || !strings.HasPrefix(p["response_url"].(string), srv.URL()+"/response/") {
			t.Errorf("block_actions payload %v", p)
		}
	}

	if _, err := srv.SendViewSubmission(ctx, slacktest.ViewSubmission{Team: slacktest.TeamNull, CallbackID: "meeting_bind",
		PrivateMetadata: "{}", Values: map[string]map[string]string{"password": {"password": "123456"}}}); err != nil {
		t.Fatal(err)
	}
	p = c.next(t, ctx)["payload"].(map[string]any)
	view := p["view"].(map[string]any)
	state := view["state"].(map[string]any)["values"].(map[string]any)["password"].(map[string]any)["password"].(map[string]any)
	if p["type"] != "view_submission" || p["team"] != nil || view["callback_id"] != "meeting_bind" || state["value"] != "123456" {
		t.Errorf("view_submission payload %v", p)
	}
}

func TestAHangingResponseURLAnswersNothingUntilTheClientGivesUp(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := ctxT(t, 10*time.Second)
	c := rawConnect(t, srv)
	c.next(t, ctx)
	if err := srv.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	id, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "lock"})
	if err != nil {
		t.Fatal(err)
	}
	srv.HangResponseURL(1)
	post := func(timeout time.Duration) (*http.Response, error) {
		pctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		req, _ := http.NewRequestWithContext(pctx, http.MethodPost, srv.ResponseURL(id), strings.NewReader(`{"text":"hi"}`))
		req.Header.Set("Content-Type", "application/json")
		return http.DefaultClient.Do(req)
	}
	if resp, err := post(200 * time.Millisecond); err == nil {
		resp.Body.Close()
		t.Fatalf("a hanging response_url answered %s", resp.Status)
	}
	resp, err := post(5 * time.Second)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("the next post: %v %v", resp, err)
	}
	resp.Body.Close()
	if msgs := srv.MessagesFor(id); len(msgs) != 1 || msgs[0].Text != "hi" {
		t.Fatalf("recorded %+v, want only the post that was answered", msgs)
	}
}
