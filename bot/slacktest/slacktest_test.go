package slacktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/meetingbot/meetingbot/bot/slacktest"
)

// ---- helpers -------------------------------------------------------------

func ctxT(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func newServer(t testing.TB, opts ...slacktest.Option) *slacktest.Server {
	t.Helper()
	srv := slacktest.New(opts...)
	t.Cleanup(srv.Close)
	return srv
}

type slashEvt struct {
	req *socketmode.Request
	cmd slack.SlashCommand
}

// bot is a real slack-go Socket Mode client driven by a minimal event loop.
type bot struct {
	api    *slack.Client
	sm     *socketmode.Client
	slash  chan slashEvt
	inter  chan slack.InteractionCallback
	hello  chan *socketmode.Request
	runErr chan error
}

type botConfig struct {
	appToken     string
	pingInterval time.Duration
	// ack decides the ack payload; nil payload acks without one. If nil,
	// commands are acked with no payload.
	ack func(cmd slack.SlashCommand) any
}

func startBot(t testing.TB, srv *slacktest.Server, cfg botConfig) *bot {
	t.Helper()
	if cfg.appToken == "" {
		cfg.appToken = srv.AppToken()
	}
	if cfg.pingInterval == 0 {
		cfg.pingInterval = 5 * time.Second
	}
	api := slack.New(srv.BotToken(), slack.OptionAppLevelToken(cfg.appToken), slack.OptionAPIURL(srv.APIURL()))
	sm := socketmode.New(api, socketmode.OptionPingInterval(cfg.pingInterval))
	b := &bot{
		api:    api,
		sm:     sm,
		slash:  make(chan slashEvt, 2048),
		inter:  make(chan slack.InteractionCallback, 16),
		hello:  make(chan *socketmode.Request, 16),
		runErr: make(chan error, 1),
	}
	ctx, cancel := context.WithCancel(context.Background())
	loopDone := make(chan struct{})
	go func() { b.runErr <- sm.RunContext(ctx) }()
	go func() {
		defer close(loopDone)
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-sm.Events:
				switch evt.Type {
				case socketmode.EventTypeHello:
					select {
					case b.hello <- evt.Request:
					default:
					}
				case socketmode.EventTypeSlashCommand:
					cmd := evt.Data.(slack.SlashCommand)
					var payload any
					if cfg.ack != nil {
						payload = cfg.ack(cmd)
					}
					if payload != nil {
						_ = sm.Ack(*evt.Request, payload)
					} else {
						_ = sm.Ack(*evt.Request)
					}
					select {
					case b.slash <- slashEvt{evt.Request, cmd}:
					default:
					}
				case socketmode.EventTypeInteractive:
					_ = sm.Ack(*evt.Request)
					b.inter <- evt.Data.(slack.InteractionCallback)
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-loopDone
		select {
		case <-b.runErr:
		case <-time.After(10 * time.Second):
			t.Errorf("socketmode client did not stop")
		}
	})
	return b
}

func (b *bot) nextSlash(t testing.TB, ctx context.Context) slashEvt {
	t.Helper()
	select {
	case e := <-b.slash:
		return e
	case <-ctx.Done():
		t.Fatalf("no slash command received: %v", ctx.Err())
	}
	return slashEvt{}
}

func postJSON(t testing.TB, url, bearer, body string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// ---- socket mode with the real slack-go client --------------------------

func TestSlashCommandHelloAndAckWithPayload(t *testing.T) {
	t.Parallel()
	srv := newServer(t, slacktest.WithPingInterval(100*time.Millisecond))
	b := startBot(t, srv, botConfig{ack: func(cmd slack.SlashCommand) any {
		return map[string]any{"response_type": "ephemeral", "text": "locked " + cmd.Text}
	}})
	ctx := ctxT(t, 10*time.Second)

	if err := srv.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case hello := <-b.hello:
		if hello.Type != "hello" || hello.NumConnections != 1 || hello.ConnectionInfo.AppID != slacktest.DefaultAppID ||
			hello.DebugInfo.Host == "" || hello.DebugInfo.ApproximateConnectionTime != 18060 {
			t.Fatalf("bad hello: %+v", hello)
		}
	case <-ctx.Done():
		t.Fatal("no hello")
	}

	id, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "lock 914083136"})
	if err != nil {
		t.Fatal(err)
	}
	got := b.nextSlash(t, ctx)
	cmd := got.cmd
	if got.req.EnvelopeID != id || !got.req.AcceptsResponsePayload {
		t.Errorf("envelope: %+v", got.req)
	}
	want := slack.SlashCommand{
		Token: slacktest.VerificationToken, TeamID: "T0TEST", TeamDomain: "meetingbot-sandbox",
		ChannelID: "C0TEST", ChannelName: "general", UserID: "U0ALICE", UserName: "alice",
		Command: "/meeting", Text: "lock 914083136", ResponseURL: srv.ResponseURL(id),
		TriggerID: srv.TriggerID(id), APIAppID: slacktest.DefaultAppID,
	}
	if cmd != want {
		t.Errorf("slash command\n got %+v\nwant %+v", cmd, want)
	}
	if cmd.TriggerID == "" || !strings.HasPrefix(cmd.ResponseURL, srv.URL()+"/response/") {
		t.Errorf("trigger/response_url not set: %+v", cmd)
	}

	ack, err := srv.WaitAck(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ack.EnvelopeID != id || ack.Latency <= 0 || ack.Dropped || ack.Size <= 0 || ack.At.IsZero() {
		t.Errorf("bad ack %+v", ack)
	}
	var p map[string]string
	if err := json.Unmarshal(ack.Payload, &p); err != nil || p["response_type"] != "ephemeral" || p["text"] != "locked lock 914083136" {
		t.Errorf("ack payload %s (%v)", ack.Payload, err)
	}
	if n := len(srv.Acks()); n != 1 {
		t.Errorf("Acks() has %d entries", n)
	}
}

func TestSlashCommandCustomFieldsAndEmptyAck(t *testing.T) {
	t.Parallel()
	srv := newServer(t, slacktest.WithTeam("T0OTHER", "other"), slacktest.WithPingInterval(100*time.Millisecond))
	b := startBot(t, srv, botConfig{})
	ctx := ctxT(t, 10*time.Second)
	id, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{ChannelID: "D0DM", ChannelName: "directmessage", UserID: "U0BOB", UserName: "bob", Text: "help"})
	if err != nil {
		t.Fatal(err)
	}
	cmd := b.nextSlash(t, ctx).cmd
	if cmd.TeamID != "T0OTHER" || cmd.TeamDomain != "other" || cmd.ChannelID != "D0DM" || cmd.UserName != "bob" || cmd.Text != "help" {
		t.Errorf("got %+v", cmd)
	}
	ack, err := srv.WaitAck(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if ack.Payload != nil {
		t.Errorf("empty ack recorded payload %s", ack.Payload)
	}
}

func TestInteractiveEnvelopeViaSendEnvelopeFunc(t *testing.T) {
	t.Parallel()
	srv := newServer(t, slacktest.WithPingInterval(100*time.Millisecond))
	b := startBot(t, srv, botConfig{})
	ctx := ctxT(t, 10*time.Second)
	id, err := srv.SendEnvelopeFunc(ctx, "interactive", func(e slacktest.EnvelopeInfo) any {
		return map[string]any{
			"type":                  "block_actions",
			"is_enterprise_install": false,
			"trigger_id":            e.TriggerID,
			"response_url":          e.ResponseURL,
			"user":                  map[string]any{"id": "U0ALICE", "name": "alice"},
			"channel":               map[string]any{"id": "C0TEST", "name": "general"},
			"actions":               []any{map[string]any{"action_id": "unlock", "block_id": "b1", "type": "button", "value": "914083136"}},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case cb := <-b.inter:
		if cb.Type != slack.InteractionTypeBlockActions || cb.ResponseURL != srv.ResponseURL(id) || cb.TriggerID != srv.TriggerID(id) ||
			len(cb.ActionCallback.BlockActions) != 1 || cb.ActionCallback.BlockActions[0].Value != "914083136" {
			t.Errorf("callback %+v", cb)
		}
	case <-ctx.Done():
		t.Fatal("no interactive event")
	}
	if _, err := srv.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func TestServerPingsKeepClientConnected(t *testing.T) {
	t.Parallel()
	srv := newServer(t, slacktest.WithPingInterval(100*time.Millisecond))
	b := startBot(t, srv, botConfig{pingInterval: 500 * time.Millisecond})
	ctx := ctxT(t, 10*time.Second)
	if err := srv.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// Watch for 1.6 s (over three client ping intervals): any reconnect fails.
	deadline := time.Now().Add(1600 * time.Millisecond)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for time.Now().Before(deadline) {
		<-tick.C
		if o, c := srv.ConnectionsOpened(), srv.Connections(); o != 1 || c != 1 {
			t.Fatalf("client reconnected: opened=%d live=%d", o, c)
		}
	}
	id, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "lock 1"})
	if err != nil {
		t.Fatal(err)
	}
	b.nextSlash(t, ctx)
	if _, err := srv.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func TestWithoutPingsClientReconnects(t *testing.T) {
	t.Parallel()
	// Control for the test above: with server pings disabled, slack-go's
	// ping timeout fires and it reconnects.
	srv := newServer(t, slacktest.WithPingInterval(0))
	startBot(t, srv, botConfig{pingInterval: 200 * time.Millisecond})
	ctx := ctxT(t, 10*time.Second)
	if err := srv.WaitConnectionsOpened(ctx, 2); err != nil {
		t.Fatalf("expected a ping-timeout reconnect: %v (opened=%d)", err, srv.ConnectionsOpened())
	}
}

func TestWrongAppTokenIsInvalidAuth(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	b := startBot(t, srv, botConfig{appToken: "xapp-1-WRONG"})
	select {
	case err := <-b.runErr:
		if err == nil || err.Error() != "invalid_auth" {
			t.Fatalf("RunContext error = %v, want invalid_auth", err)
		}
		b.runErr <- err // for cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("slack-go kept retrying with a wrong app token")
	}
	if n := srv.ConnectionsOpened(); n != 0 {
		t.Errorf("ConnectionsOpened = %d", n)
	}
	// No Authorization header at all → not_authed; bot token → invalid_auth.
	if r := postJSON(t, srv.APIURL()+"apps.connections.open", "", ""); r["ok"] != false || r["error"] != "not_authed" {
		t.Errorf("no auth: %v", r)
	}
	if r := postJSON(t, srv.APIURL()+"apps.connections.open", srv.BotToken(), ""); r["error"] != "invalid_auth" {
		t.Errorf("bot token: %v", r)
	}
	if r := postJSON(t, srv.APIURL()+"apps.connections.open", srv.AppToken(), ""); r["ok"] != true || !strings.HasPrefix(r["url"].(string), "ws://127.0.0.1:") {
		t.Errorf("good token: %v", r)
	}
}

func TestRefreshRequestedReconnects(t *testing.T) {
	t.Parallel()
	srv := newServer(t, slacktest.WithPingInterval(100*time.Millisecond))
	b := startBot(t, srv, botConfig{pingInterval: 2 * time.Second})
	ctx := ctxT(t, 15*time.Second)
	if err := srv.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}

	srv.SendDisconnect("refresh_requested")
	if err := srv.WaitConnectionsOpened(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if err := srv.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	id, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "lock 914083136"})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.nextSlash(t, ctx); got.req.EnvelopeID != id {
		t.Fatalf("got envelope %s, want %s", got.req.EnvelopeID, id)
	}
	if _, err := srv.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}

	// warning: slack-go also reconnects.
	srv.SendDisconnect("warning")
	if err := srv.WaitConnectionsOpened(ctx, 3); err != nil {
		t.Fatal(err)
	}
	// Abrupt drop: slack-go reconnects too.
	if err := srv.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	srv.DropConnections()
	if err := srv.WaitConnectionsOpened(ctx, 4); err != nil {
		t.Fatal(err)
	}
	id, err = srv.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "after drop"})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.nextSlash(t, ctx); got.cmd.Text != "after drop" {
		t.Fatalf("got %q", got.cmd.Text)
	}
	if _, err := srv.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
}

// ---- response_url and Web API -------------------------------------------

func TestResponseURL(t *testing.T) {
	t.Parallel()
	srv := newServer(t, slacktest.WithPingInterval(100*time.Millisecond))
	b := startBot(t, srv, botConfig{})
	ctx := ctxT(t, 10*time.Second)
	id, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "lock 914083136"})
	if err != nil {
		t.Fatal(err)
	}
	cmd := b.nextSlash(t, ctx).cmd
	blocks := slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*locked*", false, false), nil, nil))

	// An injected failure is not recorded and does not use up the URL.
	srv.FailResponseURL(1, http.StatusInternalServerError)
	_, _, err = b.api.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(cmd.ResponseURL, slack.ResponseTypeInChannel), slack.MsgOptionText("x", false))
	var sce slack.StatusCodeError
	if !errors.As(err, &sce) || sce.Code != http.StatusInternalServerError {
		t.Fatalf("injected failure: %v", err)
	}

	if _, _, err := b.api.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(cmd.ResponseURL, slack.ResponseTypeInChannel),
		slack.MsgOptionText("Meeting 914083136 locked", false), blocks); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.api.PostMessageContext(ctx, "", slack.MsgOptionReplaceOriginal(cmd.ResponseURL), slack.MsgOptionText("replaced", false)); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := b.api.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(cmd.ResponseURL, slack.ResponseTypeEphemeral), slack.MsgOptionText("more", false)); err != nil {
			t.Fatalf("post %d: %v", i+3, err)
		}
	}
	_, _, err = b.api.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(cmd.ResponseURL, slack.ResponseTypeEphemeral), slack.MsgOptionText("sixth", false))
	if !errors.As(err, &sce) || sce.Code != http.StatusNotFound {
		t.Fatalf("6th post: %v, want 404", err)
	}
	// The body is Slack's plain-text reason.
	resp, err := http.Post(cmd.ResponseURL, "application/json", strings.NewReader(`{"text":"7th"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || string(body) != "used_url" {
		t.Errorf("7th post: %d %q", resp.StatusCode, body)
	}

	msgs, err := srv.WaitMessages(ctx, id, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 5 || len(srv.Messages()) != 5 {
		t.Fatalf("recorded %d (%d total)", len(msgs), len(srv.Messages()))
	}
	m := msgs[0]
	if m.Via != "response_url" || m.EnvelopeID != id || m.ResponseType != "in_channel" || m.Text != "Meeting 914083136 locked" ||
		m.ReplaceOriginal || !strings.Contains(string(m.Blocks), `"section"`) || len(m.Raw) == 0 {
		t.Errorf("first message %+v", m)
	}
	if m := msgs[1]; !m.ReplaceOriginal || m.ResponseType != "" || m.Blocks != nil || m.Text != "replaced" {
		t.Errorf("second message %+v", m)
	}
	if m := msgs[2]; m.ResponseType != "ephemeral" {
		t.Errorf("third message %+v", m)
	}

	// Never-issued URL → 404 expired_url.
	resp, err = http.Post(srv.ResponseURL("no-such-envelope"), "application/json", strings.NewReader(`{"text":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || string(body) != "expired_url" {
		t.Errorf("unknown url: %d %q", resp.StatusCode, body)
	}
}

func TestWebAPIChat(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	api := slack.New(srv.BotToken(), slack.OptionAPIURL(srv.APIURL()))
	ctx := ctxT(t, 10*time.Second)
	sub := srv.Subscribe()
	defer srv.Unsubscribe(sub)

	at, err := api.AuthTestContext(ctx)
	if err != nil || at.UserID != slacktest.BotUserID || at.BotID != slacktest.BotID || at.TeamID != "T0TEST" {
		t.Fatalf("auth.test: %+v %v", at, err)
	}

	blocks := slack.MsgOptionBlocks(slack.NewSectionBlock(slack.NewTextBlockObject(slack.PlainTextType, "hi", false, false), nil, nil))
	ch, ts, err := api.PostMessageContext(ctx, "C0TEST", slack.MsgOptionText("hello", false), blocks)
	if err != nil || ch != "C0TEST" || ts == "" {
		t.Fatalf("postMessage: %q %q %v", ch, ts, err)
	}
	select {
	case <-sub:
	case <-ctx.Done():
		t.Fatal("no subscription notification")
	}
	ets, err := api.PostEphemeralContext(ctx, "C0TEST", "U0ALICE", slack.MsgOptionText("psst", false))
	if err != nil || ets == "" {
		t.Fatalf("postEphemeral: %q %v", ets, err)
	}
	if _, uts, _, err := api.UpdateMessageContext(ctx, "C0TEST", ts, slack.MsgOptionText("edited", false)); err != nil || uts != ts {
		t.Fatalf("update: %q %v", uts, err)
	}
	if err := srv.WaitMessageCount(ctx, 3); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if m := msgs[0]; m.Via != "chat.postMessage" || m.Channel != "C0TEST" || m.Text != "hello" || m.TS != ts || !strings.Contains(string(m.Blocks), `"hi"`) {
		t.Errorf("postMessage recorded %+v", m)
	}
	if m := msgs[1]; m.Via != "chat.postEphemeral" || m.User != "U0ALICE" || m.Text != "psst" {
		t.Errorf("postEphemeral recorded %+v", m)
	}
	if m := msgs[2]; m.Via != "chat.update" || m.TS != ts || m.Text != "edited" {
		t.Errorf("update recorded %+v", m)
	}

	srv.SetNotInChannel("C0PRIVATE")
	if _, _, err := api.PostMessageContext(ctx, "C0PRIVATE", slack.MsgOptionText("x", false)); err == nil || err.Error() != "not_in_channel" {
		t.Errorf("not in channel: %v", err)
	}

	srv.FailWebAPI("chat.postMessage", 1, "ratelimited")
	_, _, err = api.PostMessageContext(ctx, "C0TEST", slack.MsgOptionText("x", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != time.Second {
		t.Errorf("ratelimited: %v", err)
	}
	srv.FailWebAPI("chat.postMessage", 1, "channel_not_found")
	if _, _, err := api.PostMessageContext(ctx, "C0TEST", slack.MsgOptionText("x", false)); err == nil || err.Error() != "channel_not_found" {
		t.Errorf("injected error: %v", err)
	}
	if _, _, err := api.PostMessageContext(ctx, "C0TEST", slack.MsgOptionText("ok again", false)); err != nil {
		t.Errorf("after faults: %v", err)
	}

	bad := slack.New("xoxb-wrong", slack.OptionAPIURL(srv.APIURL()))
	if _, _, err := bad.PostMessageContext(ctx, "C0TEST", slack.MsgOptionText("x", false)); err == nil || err.Error() != "invalid_auth" {
		t.Errorf("wrong bot token: %v", err)
	}
	if r := postJSON(t, srv.APIURL()+"conversations.list", srv.BotToken(), "{}"); r["ok"] != false || r["error"] != "unknown_method" {
		t.Errorf("unknown method: %v", r)
	}
	// JSON body with Bearer works for chat.postMessage too.
	if r := postJSON(t, srv.APIURL()+"chat.postMessage", srv.BotToken(), `{"channel":"C0JSON","text":"json","blocks":[{"type":"divider"}]}`); r["ok"] != true || r["channel"] != "C0JSON" {
		t.Errorf("json post: %v", r)
	}
	if m := srv.Messages()[len(srv.Messages())-1]; m.Channel != "C0JSON" || string(m.Blocks) != `[{"type":"divider"}]` {
		t.Errorf("json post recorded %+v", m)
	}
	if calls := srv.APICalls(); len(calls) == 0 || calls[0].Method != "auth.test" || !calls[0].OK {
		t.Errorf("APICalls: %+v", calls)
	}
}

func TestViewsOpenTrigger(t *testing.T) {
	t.Parallel()
	srv := newServer(t, slacktest.WithPingInterval(100*time.Millisecond))
	b := startBot(t, srv, botConfig{})
	ctx := ctxT(t, 10*time.Second)
	id, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "lock"})
	if err != nil {
		t.Fatal(err)
	}
	cmd := b.nextSlash(t, ctx).cmd
	modal := slack.ModalViewRequest{
		Type:       slack.VTModal,
		Title:      slack.NewTextBlockObject(slack.PlainTextType, "Lock meeting", false, false),
		CallbackID: "lock_modal",
		Blocks:     slack.Blocks{BlockSet: []slack.Block{slack.NewDividerBlock()}},
	}
	if cmd.TriggerID != srv.TriggerID(id) {
		t.Fatal("trigger mismatch")
	}
	resp, err := b.api.OpenViewContext(ctx, cmd.TriggerID, modal)
	if err != nil {
		t.Fatal(err)
	}
	if resp.View.ID == "" || resp.View.CallbackID != "lock_modal" || resp.View.TeamID != "T0TEST" {
		t.Errorf("view response %+v", resp.View)
	}
	views := srv.Views()
	if len(views) != 1 || views[0].TriggerID != cmd.TriggerID || views[0].ViewID != resp.View.ID || !strings.Contains(string(views[0].View), "lock_modal") {
		t.Errorf("Views() = %+v", views)
	}
	if _, err := b.api.OpenViewContext(ctx, cmd.TriggerID, modal); err == nil || err.Error() != "expired_trigger_id" {
		t.Errorf("reused trigger: %v", err)
	}
	if _, err := b.api.OpenViewContext(ctx, "123.456.never-issued", modal); err == nil || err.Error() != "invalid_arguments" {
		t.Errorf("unknown trigger: %v", err)
	}
}

func TestViewsOpenTriggerExpires(t *testing.T) {
	t.Parallel()
	srv := newServer(t, slacktest.WithPingInterval(100*time.Millisecond), slacktest.WithTriggerTTL(time.Nanosecond))
	b := startBot(t, srv, botConfig{})
	ctx := ctxT(t, 10*time.Second)
	if _, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "lock"}); err != nil {
		t.Fatal(err)
	}
	cmd := b.nextSlash(t, ctx).cmd
	modal := slack.ModalViewRequest{Type: slack.VTModal, Title: slack.NewTextBlockObject(slack.PlainTextType, "x", false, false)}
	if _, err := b.api.OpenViewContext(ctx, cmd.TriggerID, modal); err == nil || err.Error() != "expired_trigger_id" {
		t.Errorf("expired trigger: %v", err)
	}
}

// ---- throughput ----------------------------------------------------------

func TestBurstAllAcked(t *testing.T) {
	t.Parallel()
	srv := newServer(t, slacktest.WithPingInterval(100*time.Millisecond))
	startBot(t, srv, botConfig{ack: func(slack.SlashCommand) any { return map[string]string{"text": "ok"} }})
	ctx := ctxT(t, 30*time.Second)
	const n, workers = 1000, 64
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				id, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "lock 914083136"})
				if err != nil {
					t.Error(err)
					return
				}
				ids <- id
			}
		}()
	}
	wg.Wait()
	close(ids)
	for id := range ids {
		a, err := srv.WaitAck(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if a.Latency <= 0 || a.Dropped {
			t.Fatalf("ack %+v", a)
		}
	}
	if got := len(srv.Acks()); got != n {
		t.Errorf("%d acks, want %d", got, n)
	}
}

func BenchmarkAckLatency(b *testing.B) {
	for _, inflight := range []int{1, 64} {
		b.Run(map[int]string{1: "inflight=1", 64: "inflight=64"}[inflight], func(b *testing.B) {
			srv := newServer(b, slacktest.WithPingInterval(time.Second))
			startBot(b, srv, botConfig{})
			ctx := context.Background()
			sem := make(chan struct{}, inflight)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				sem <- struct{}{}
				wg.Add(1)
				go func() {
					defer func() { <-sem; wg.Done() }()
					id, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "lock 914083136"})
					if err != nil {
						b.Error(err)
						return
					}
					a, err := srv.WaitAck(ctx, id)
					if err != nil {
						b.Error(err)
						return
					}
					mu.Lock()
					total += a.Latency
					mu.Unlock()
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "ack-µs/op")
		})
	}
}
