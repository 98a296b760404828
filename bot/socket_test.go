package bot_test

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/bot/slacktest"
)

// socketCounter is a dialer for the bot that counts its open Socket Mode
// sockets, and remembers the most it had open at once.
type socketCounter struct {
	mu         sync.Mutex
	open, most int
	dialled    int
}

func (c *socketCounter) option(cfg *bot.Config) {
	cfg.Dialer = &websocket.Dialer{
		HandshakeTimeout: 10 * time.Second,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			c.mu.Lock()
			c.open++
			c.dialled++
			c.most = max(c.most, c.open)
			c.mu.Unlock()
			return &countedConn{Conn: conn, c: c}, nil
		},
	}
}

func (c *socketCounter) counts() (open, most, dialled int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.open, c.most, c.dialled
}

type countedConn struct {
	net.Conn
	c    *socketCounter
	once sync.Once
}

func (cc *countedConn) Close() error {
	cc.once.Do(func() {
		cc.c.mu.Lock()
		cc.c.open--
		cc.c.mu.Unlock()
	})
	return cc.Conn.Close()
}

// waitUntil polls cond until it holds, or fails the test after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func oneConnection(c *socketCounter) harnessOption {
	return withBot(func(cfg *bot.Config) {
		cfg.Connections = 1
		c.option(cfg)
	})
}

// When Slack asks for a refresh, the bot opens the replacement first and
// closes the old socket itself once the new one has said hello (Slack
// would keep it open 10 s for a client that does not), so even a bot with
// one connection is never without one.
func TestARefreshOpensTheReplacementBeforeClosingTheOldSocket(t *testing.T) {
	t.Parallel()
	var sockets socketCounter
	h := newHarness(t, oneConnection(&sockets))
	if !h.slack.SendDisconnectOne("refresh_requested") {
		t.Fatal("no socket to refresh")
	}
	ctx := h.ctx(t)
	if err := h.slack.WaitConnectionsOpened(ctx, 2); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the old socket is closed", func() bool { open, _, _ := sockets.counts(); return open == 1 })
	if _, most, dialled := sockets.counts(); most != 2 || dialled != 2 {
		t.Fatalf("at most %d sockets open at once, %d dialled: the replacement was not opened before the old one closed", most, dialled)
	}
	if err := h.slack.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	if m := h.reply(t, "C1", "U1", "lock"); !strings.Contains(m.Text, "locked by") {
		t.Fatalf("after the refresh: %q", m.Text)
	}
}

// A warning means Slack will close the socket soon but still sends
// envelopes to it meanwhile: the bot opens the replacement, keeps reading
// the warned socket until Slack closes it, and answers everything sent to
// either.
func TestAWarnedSocketIsReadUntilSlackClosesIt(t *testing.T) {
	t.Parallel()
	var sockets socketCounter
	h := newHarnessWithSlack(t, []slacktest.Option{slacktest.WithWarningGrace(3 * time.Second)}, oneConnection(&sockets))
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	if !h.slack.SendDisconnectOne("warning") {
		t.Fatal("no socket to warn")
	}
	ctx := h.ctx(t)
	// The fake routes envelopes round-robin to both sockets while the
	// warned one is open.
	if err := h.slack.WaitConnections(ctx, 2); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		text := []string{"lock", "unlock"}[i%2]
		if m := h.reply(t, "C1", "U1", text); !strings.Contains(m.Text, text+"ed by") {
			t.Fatalf("%s while one socket is warned: %q", text, m.Text)
		}
	}
	if open, _, _ := sockets.counts(); open != 2 {
		t.Fatalf("%d sockets open during the warning, want the warned one and its replacement", open)
	}
	waitUntil(t, "Slack closed the warned socket", func() bool { open, _, _ := sockets.counts(); return open == 1 })
	if m := h.reply(t, "C1", "U1", "lock"); !strings.Contains(m.Text, "locked by") {
		t.Fatalf("after the warned socket closed: %q", m.Text)
	}
}

// Slack pings every few seconds; a socket that stops getting pings is
// dead even if it looks open, so the bot replaces it.
func TestASocketWithoutPingsIsReplaced(t *testing.T) {
	t.Parallel()
	var sockets socketCounter
	h := newHarnessWithSlack(t, []slacktest.Option{slacktest.WithPingInterval(0)},
		oneConnection(&sockets), withBot(func(c *bot.Config) { c.PingInterval = 200 * time.Millisecond }))
	if err := h.slack.WaitConnectionsOpened(h.ctx(t), 3); err != nil {
		t.Fatalf("the bot kept a socket without pings: %v", err)
	}
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
}

// With pings, the socket stays.
func TestASocketWithPingsIsKept(t *testing.T) {
	t.Parallel()
	var sockets socketCounter
	h := newHarnessWithSlack(t, []slacktest.Option{slacktest.WithPingInterval(20 * time.Millisecond)},
		oneConnection(&sockets), withBot(func(c *bot.Config) { c.PingInterval = time.Second }))
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	// Three of the bot's ping intervals: what is tested is that the socket
	// outlives them.
	for range 6 {
		h.reply(t, "C1", "U1", "status")
		time.Sleep(500 * time.Millisecond)
	}
	if _, _, dialled := sockets.counts(); dialled != 1 {
		t.Fatalf("%d sockets dialled; a pinged socket was dropped", dialled)
	}
}

// apps.connections.open failing for a while (Slack having a bad moment)
// is retried with backoff until it works.
func TestAFailingConnectionsOpenIsRetried(t *testing.T) {
	t.Parallel()
	var sockets socketCounter
	h := newHarness(t, oneConnection(&sockets))
	h.slack.FailWebAPI("apps.connections.open", 3, "internal_error")
	h.slack.DropConnections()
	if err := h.slack.WaitConnectionsOpened(h.ctx(t), 2); err != nil {
		t.Fatalf("the bot did not reconnect after apps.connections.open failed 3 times: %v", err)
	}
	h.reply(t, "C1", "U1", "bind 914083136 "+password)
	if !strings.Contains(h.logs.String(), "Slack connection error; retrying") {
		t.Errorf("the failures were not logged:\n%s", h.logs.String())
	}
}
