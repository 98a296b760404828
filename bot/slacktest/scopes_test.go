package slacktest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/slack-go/slack"

	"github.com/meetingbot/meetingbot/bot/slacktest"
)

// post calls a Web API method with token as a Bearer token and returns the
// X-OAuth-Scopes header and the answer's ok, error and needed fields.
func post(t *testing.T, srv *slacktest.Server, method, token string) (scopes string, ok bool, code, needed string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.APIURL()+method, strings.NewReader("channel=C1&text=hi"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct {
		OK     bool   `json:"ok"`
		Error  string `json:"error"`
		Needed string `json:"needed"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return resp.Header.Get("X-OAuth-Scopes"), a.OK, a.Error, a.Needed
}

func TestAuthTestListsTheBotTokensScopesInItsHeader(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	scopes, ok, code, _ := post(t, srv, "auth.test", srv.BotToken())
	if !ok || scopes != "commands,chat:write" {
		t.Fatalf("auth.test: ok=%v error=%q scopes=%q", ok, code, scopes)
	}
	if scopes, ok, code, _ := post(t, srv, "auth.test", "xoxb-wrong"); ok || code != "invalid_auth" || scopes != "" {
		t.Fatalf("a wrong token: ok=%v error=%q scopes=%q (a refused token has no scopes)", ok, code, scopes)
	}
}

func TestChatMethodsNeedChatWrite(t *testing.T) {
	t.Parallel()
	srv := newServer(t, slacktest.WithBotScopes("commands"))
	scopes, ok, code, needed := post(t, srv, "chat.postMessage", srv.BotToken())
	if ok || code != "missing_scope" || needed != "chat:write" || scopes != "commands" {
		t.Fatalf("chat.postMessage without chat:write: ok=%v error=%q needed=%q scopes=%q", ok, code, needed, scopes)
	}
	api := slack.New(srv.BotToken(), slack.OptionAPIURL(srv.APIURL()))
	if _, err := api.AuthTestContext(t.Context()); err != nil {
		t.Fatalf("auth.test needs no scope: %v", err)
	}
}

func TestAnAppTokenWithoutConnectionsWriteIsMissingScope(t *testing.T) {
	t.Parallel()
	srv := newServer(t, slacktest.WithAppScopes("authorizations:read"))
	_, ok, code, needed := post(t, srv, "apps.connections.open", srv.AppToken())
	if ok || code != "missing_scope" || needed != "connections:write" {
		t.Fatalf("apps.connections.open: ok=%v error=%q needed=%q", ok, code, needed)
	}
	api := slack.New(srv.BotToken(), slack.OptionAppLevelToken(srv.AppToken()), slack.OptionAPIURL(srv.APIURL()))
	if _, _, err := api.StartSocketModeContext(t.Context()); err == nil || err.Error() != "missing_scope" {
		t.Fatalf("slack-go sees %v, want missing_scope", err)
	}
}
