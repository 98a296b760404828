package bot_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
	"github.com/meetingbot/meetingbot/store/claimstore"
	_ "github.com/meetingbot/meetingbot/store/sqlite"
)

const (
	meetingID = "914083136"
	password  = "123456"
	admin     = "U0ADMIN"
)

// syncBuffer collects log output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is the real bot connected over a real WebSocket to the fake
// Slack, calling the fake meeting API over HTTP, with a real SQLite file.
type harness struct {
	slack    *slacktest.Server
	meetings *meetingapitest.Server
	dbPath   string
	key      store.Key
	logs     *syncBuffer

	store  *store.Store
	bot    *bot.Bot
	cancel context.CancelFunc
	done   chan error
}

// harnessOption changes how the harness builds the bot or the service.
type harnessOption func(*harnessConfig)

type harnessConfig struct {
	bot     *bot.Config
	service *commands.Config
}

// withBot changes the bot's configuration.
func withBot(f func(*bot.Config)) harnessOption {
	return func(c *harnessConfig) { f(c.bot) }
}

// withoutRateLimits lets one person send as many commands as a load test
// needs.
func withoutRateLimits() harnessOption {
	return func(c *harnessConfig) { c.service.Limits.Off = true }
}

func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	return newHarnessWithSlack(t, nil, opts...)
}

// newHarnessWithSlack is newHarness with options for the fake Slack.
func newHarnessWithSlack(t testing.TB, slackOpts []slacktest.Option, opts ...harnessOption) *harness {
	t.Helper()
	return newHarnessOn(t, filepath.Join(t.TempDir(), "meetingbot.db"), slackOpts, opts...)
}

// newHarnessOn is newHarness with its state in db (a MEETINGBOT_DB value).
func newHarnessOn(t testing.TB, db string, slackOpts []slacktest.Option, opts ...harnessOption) *harness {
	t.Helper()
	key, err := store.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{
		slack:    slacktest.New(append([]slacktest.Option{slacktest.WithPingInterval(time.Second)}, slackOpts...)...),
		meetings: meetingapitest.NewServer(),
		dbPath:   db,
		key:      key,
		logs:     &syncBuffer{},
	}
	t.Cleanup(h.slack.Close)
	t.Cleanup(h.meetings.Close)
	h.meetings.AddMeeting(meetingID, password, meetingapitest.InProgress)
	h.start(t, opts...)
	t.Cleanup(func() { h.stop(t) })
	return h
}

func (h *harness) start(t testing.TB, opts ...harnessOption) {
	t.Helper()
	log := zerolog.New(h.logs).Level(zerolog.DebugLevel)
	st, err := store.Open(context.Background(), h.dbPath, h.key)
	if err != nil {
		t.Fatal(err)
	}
	client, err := meetingapi.NewClient(meetingapi.WithBaseURL(h.meetings.URL), meetingapi.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	svcCfg := commands.Config{Meetings: client, Store: st, Admins: []string{admin}, Logger: log}
	cfg := bot.Config{
		AppToken: h.slack.AppToken(), BotToken: h.slack.BotToken(), APIURL: h.slack.APIURL(),
		Claims: claimstore.New(st), Logger: log, PingInterval: 5 * time.Second,
	}
	for _, o := range opts {
		o(&harnessConfig{bot: &cfg, service: &svcCfg})
	}
	svc, err := commands.New(svcCfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Service = svc
	b, err := bot.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.store, h.bot, h.cancel, h.done = st, b, cancel, make(chan error, 1)
	go func() { h.done <- b.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	if err := h.slack.WaitConnections(wctx, 1); err != nil {
		t.Fatalf("the bot did not connect: %v", err)
	}
}

// stop shuts the bot down as SIGTERM would and closes the store.
func (h *harness) stop(t testing.TB) {
	t.Helper()
	if h.cancel == nil {
		return
	}
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			t.Errorf("Run returned %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Error("Run did not return after its context ended")
	}
	h.store.Close()
	h.cancel = nil
	if n := h.slack.BadFrames(); n != 0 {
		t.Errorf("the bot sent %d frames the fake Slack could not read as acks", n)
	}
}

func (h *harness) restart(t testing.TB) {
	t.Helper()
	h.stop(t)
	// Wait for the old socket to be gone, so the check below sees the new one.
	deadline := time.Now().Add(10 * time.Second)
	for h.slack.Connections() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	h.start(t)
}

func (h *harness) ctx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// send types a slash command as user in channel and waits for the ack.
func (h *harness) send(t testing.TB, channel, user, text string) (string, slacktest.Ack) {
	t.Helper()
	ctx := h.ctx(t)
	id, err := h.slack.SendSlashCommand(ctx, slacktest.SlashCommand{ChannelID: channel, UserID: user, Text: text})
	if err != nil {
		t.Fatal(err)
	}
	ack, err := h.slack.WaitAck(ctx, id)
	if err != nil {
		t.Fatalf("no ack for %q: %v", text, err)
	}
	return id, ack
}

// reply sends a command that does work and returns its outcome: the first
// message posted for it that is not a "Still trying" progress line. (A
// command slower than ProgressAfter gets one first; returning that would
// let the next step start while this command is still running.)
func (h *harness) reply(t testing.TB, channel, user, text string) slacktest.Message {
	t.Helper()
	id, _ := h.send(t, channel, user, text)
	return h.outcome(t, id)
}

// outcome waits for the first message posted for envelope id that is not a
// progress line.
func (h *harness) outcome(t testing.TB, id string) slacktest.Message {
	t.Helper()
	for n := 1; ; n++ {
		msgs, err := h.slack.WaitMessages(h.ctx(t), id, n)
		if err != nil {
			t.Fatalf("no outcome for envelope %s (messages so far: %d): %v", id, len(msgs), err)
		}
		if m := msgs[n-1]; !isProgressLine(m) {
			return m
		}
	}
}

func isProgressLine(m slacktest.Message) bool {
	return m.ResponseType == "ephemeral" && strings.HasPrefix(m.Text, ":hourglass: Still trying")
}

// idle waits until the bot has no command in flight.
func (h *harness) idle(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for h.bot.InFlight() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the bot is still busy")
		}
		time.Sleep(time.Millisecond)
	}
}

func slackCommand(command, text string) slacktest.SlashCommand {
	return slacktest.SlashCommand{ChannelID: "C1", UserID: "U1", Command: command, Text: text}
}

// waitAcks waits until the envelope has been acked n times.
func (h *harness) waitAcks(t testing.TB, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(h.slack.AcksFor(id)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d acks for %s, want %d", len(h.slack.AcksFor(id)), id, n)
		}
		time.Sleep(time.Millisecond)
	}
}
