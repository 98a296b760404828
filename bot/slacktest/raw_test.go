package slacktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/meetingbot/meetingbot/bot/slacktest"
)

// rawConn is a bare gorilla client, for frames slack-go refuses to send.
type rawConn struct {
	ws     *websocket.Conn
	frames chan []byte
}

func openURL(t testing.TB, srv *slacktest.Server) string {
	t.Helper()
	r := postJSON(t, srv.APIURL()+"apps.connections.open", srv.AppToken(), "")
	u, _ := r["url"].(string)
	if r["ok"] != true || u == "" {
		t.Fatalf("apps.connections.open: %v", r)
	}
	return u
}

func rawConnect(t testing.TB, srv *slacktest.Server) *rawConn {
	t.Helper()
	h := http.Header{"Origin": {"https://api.slack.com"}}
	ws, _, err := websocket.DefaultDialer.Dial(openURL(t, srv), h)
	if err != nil {
		t.Fatal(err)
	}
	c := &rawConn{ws: ws, frames: make(chan []byte, 64)}
	go func() { // reading also answers the server's pings
		defer close(c.frames)
		for {
			_, data, err := ws.ReadMessage()
			if err != nil {
				return
			}
			c.frames <- data
		}
	}()
	t.Cleanup(func() { ws.Close() })
	return c
}

func (c *rawConn) next(t testing.TB, ctx context.Context) map[string]any {
	t.Helper()
	raw := c.nextRaw(t, ctx)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (c *rawConn) nextRaw(t testing.TB, ctx context.Context) []byte {
	t.Helper()
	select {
	case f, ok := <-c.frames:
		if !ok {
			t.Fatal("socket closed")
		}
		return f
	case <-ctx.Done():
		t.Fatal("no frame")
	}
	return nil
}

func (c *rawConn) send(t testing.TB, s string) {
	t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

// ackOfSize builds an ack frame of exactly size bytes.
func ackOfSize(t testing.TB, id string, size int) string {
	t.Helper()
	prefix, suffix := `{"envelope_id":"`+id+`","payload":{"text":"`, `"}}`
	pad := size - len(prefix) - len(suffix)
	if pad < 0 {
		t.Fatal("size too small")
	}
	return prefix + strings.Repeat("x", pad) + suffix
}

func TestRawHelloEnvelopeShapeAndAckSizes(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := ctxT(t, 10*time.Second)
	c := rawConnect(t, srv)
	hello := c.next(t, ctx)
	if hello["type"] != "hello" || hello["num_connections"] != 1.0 {
		t.Fatalf("hello %v", hello)
	}
	if err := srv.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}

	send := func(text string) (string, map[string]any) {
		id, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{Text: text})
		if err != nil {
			t.Fatal(err)
		}
		env := c.next(t, ctx)
		if env["envelope_id"] != id {
			t.Fatalf("envelope %v, want id %s", env, id)
		}
		return id, env
	}

	id1, env := send("lock 914083136")
	if env["type"] != "slash_commands" || env["accepts_response_payload"] != true {
		t.Errorf("envelope %v", env)
	}
	p := env["payload"].(map[string]any)
	var keys []string
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	wantKeys := "api_app_id channel_id channel_name command is_enterprise_install response_url team_domain team_id text token trigger_id user_id user_name"
	if strings.Join(keys, " ") != wantKeys {
		t.Errorf("payload keys %v", keys)
	}
	if v, ok := p["is_enterprise_install"].(string); !ok || v != "false" {
		t.Errorf("is_enterprise_install = %#v, want the string \"false\"", p["is_enterprise_install"])
	}

	// Oversized ack (>= 20 KB) is recorded but Dropped.
	c.send(t, ackOfSize(t, id1, 25000))
	a, err := srv.WaitAck(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	if !a.Dropped || a.Size != 25000 || a.Latency <= 0 {
		t.Errorf("oversized ack %+v", a.Size)
	}

	// Boundary: 20479 bytes kept, 20480 dropped.
	id2, _ := send("2")
	c.send(t, ackOfSize(t, id2, slacktest.MaxAckSize-1))
	if a, err := srv.WaitAck(ctx, id2); err != nil || a.Dropped || a.Size != slacktest.MaxAckSize-1 {
		t.Errorf("20479-byte ack: dropped=%v size=%d err=%v", a.Dropped, a.Size, err)
	}
	id3, _ := send("3")
	c.send(t, ackOfSize(t, id3, slacktest.MaxAckSize))
	if a, err := srv.WaitAck(ctx, id3); err != nil || !a.Dropped {
		t.Errorf("20480-byte ack: dropped=%v err=%v", a.Dropped, err)
	}

	// "payload":{} (Node SDK) is treated as no payload; acking twice records twice.
	id4, _ := send("4")
	c.send(t, `{"envelope_id":"`+id4+`","payload":{}}`)
	c.send(t, `{"envelope_id":"`+id4+`"}`)
	if a, err := srv.WaitAck(ctx, id4); err != nil || a.Payload != nil {
		t.Errorf("{} ack: %s %v", a.Payload, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.AcksFor(id4)) < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := len(srv.AcksFor(id4)); n != 2 {
		t.Errorf("double ack recorded %d times", n)
	}
	if n := len(srv.Acks()); n != 5 {
		t.Errorf("Acks() = %d", n)
	}
}

func TestTicketIsSingleUse(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	u := openURL(t, srv)
	h := http.Header{"Origin": {"https://api.slack.com"}}
	ws, _, err := websocket.DefaultDialer.Dial(u, h)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, resp, err := websocket.DefaultDialer.Dial(u, h); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("second dial of the same URL: %v", err)
	}
	if err := srv.WaitConnectionsOpened(ctxT(t, 5*time.Second), 1); err != nil {
		t.Fatal(err)
	}
	if n := srv.ConnectionsOpened(); n != 1 {
		t.Errorf("ConnectionsOpened = %d", n)
	}
}

func TestRedeliverSameEnvelopeOnNextSocket(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	ctx := ctxT(t, 10*time.Second)
	a := rawConnect(t, srv)
	if h := a.next(t, ctx); h["num_connections"] != 1.0 {
		t.Fatalf("hello A %v", h)
	}
	if err := srv.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	b := rawConnect(t, srv)
	if h := b.next(t, ctx); h["num_connections"] != 2.0 {
		t.Fatalf("hello B %v", h)
	}
	if err := srv.WaitConnections(ctx, 2); err != nil {
		t.Fatal(err)
	}

	recv := func() (*rawConn, []byte) {
		select {
		case f := <-a.frames:
			return a, f
		case f := <-b.frames:
			return b, f
		case <-ctx.Done():
			t.Fatal("no envelope on either socket")
		}
		return nil, nil
	}
	id, err := srv.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "lock 914083136"})
	if err != nil {
		t.Fatal(err)
	}
	first, f1 := recv()
	if err := srv.Redeliver(ctx, id); err != nil {
		t.Fatal(err)
	}
	second, f2 := recv()
	if first == second {
		t.Error("redelivery used the same socket; want round-robin to the other one")
	}
	if string(f1) != string(f2) || !strings.Contains(string(f1), id) {
		t.Errorf("redelivered frame differs:\n%s\n%s", f1, f2)
	}
	second.send(t, `{"envelope_id":"`+id+`"}`)
	if _, err := srv.WaitAck(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := srv.Redeliver(ctx, "nope"); err == nil {
		t.Error("Redeliver of unknown envelope succeeded")
	}
}

func TestDisconnectFrameAndClose(t *testing.T) {
	t.Parallel()
	srv := newServer(t, slacktest.WithRefreshGrace(10*time.Millisecond))
	ctx := ctxT(t, 10*time.Second)
	c := rawConnect(t, srv)
	c.next(t, ctx) // hello
	if err := srv.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	srv.SendDisconnect("link_disabled")
	d := c.next(t, ctx)
	if d["type"] != "disconnect" || d["reason"] != "link_disabled" || d["debug_info"].(map[string]any)["host"] != "fake" {
		t.Errorf("disconnect frame %v", d)
	}
	if srv.Connections() != 0 {
		t.Error("socket told to go away still counts as live")
	}
	// The server closes the socket after the grace period.
	select {
	case _, ok := <-c.frames:
		if ok {
			t.Error("unexpected frame after disconnect")
		}
	case <-ctx.Done():
		t.Fatal("socket not closed")
	}

	// Sends wait for a live socket, and fail with ctx.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := srv.SendSlashCommand(short, slacktest.SlashCommand{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("send with no socket: %v", err)
	}
}

func TestCloseIsIdempotentAndWakesWaiters(t *testing.T) {
	t.Parallel()
	srv := slacktest.New()
	ctx := ctxT(t, 10*time.Second)
	c := rawConnect(t, srv)
	c.next(t, ctx)
	errc := make(chan error, 1)
	go func() { _, err := srv.WaitAck(ctx, "never"); errc <- err }()
	srv.Close()
	srv.Close()
	if err := <-errc; !errors.Is(err, slacktest.ErrClosed) {
		t.Errorf("WaitAck after Close: %v", err)
	}
	select {
	case _, ok := <-c.frames:
		if ok {
			t.Error("frame after Close")
		}
	case <-ctx.Done():
		t.Fatal("socket still open after Close")
	}
	if err := srv.WaitConnections(ctx, 1); !errors.Is(err, slacktest.ErrClosed) {
		t.Errorf("WaitConnections after Close: %v", err)
	}
}
