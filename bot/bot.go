// Package bot is meetingbot's Slack side: it holds the Socket Mode
// connection, acknowledges every envelope at once, runs /meeting commands
// through package commands, and delivers the replies through the command's
// response_url (falling back to the Web API).
package bot

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/domain"
)

// EnvelopeClaimer records envelope IDs so a redelivered envelope is acted on
// once, across connections and restarts.
type EnvelopeClaimer interface {
	ClaimEnvelope(ctx context.Context, envelopeID string, at time.Time) (first bool, err error)
}

// Config wires a Bot.
type Config struct {
	AppToken string // xapp-…
	BotToken string // xoxb-…
	// APIURL is the Web API base, ending in "/". Default https://slack.com/api/.
	APIURL  string
	Service *commands.Service
	Claims  EnvelopeClaimer
	Logger  zerolog.Logger
	// CommandTimeout bounds one command from ack to delivered reply. Default 15 s.
	CommandTimeout time.Duration
	// ProgressAfter: a command still running this long gets an ephemeral
	// "still trying" line, so nobody stares at silence. Default 4 s.
	ProgressAfter time.Duration
	// DrainTimeout bounds how long Run waits for in-flight commands after
	// its context ends. Default 10 s.
	DrainTimeout time.Duration
	// PingInterval is how long without a ping from Slack before the
	// connection is considered dead. Default 30 s (slack-go's default).
	PingInterval time.Duration
	HTTPClient   *http.Client
	// Connections is how many Socket Mode connections to keep open. Slack
	// sends each envelope to one of an app's connections (up to 10), and
	// slack-go closes a connection before it opens its replacement, so with
	// two a refresh of one never leaves the bot unreachable. Default 2.
	Connections int
	// Dialer, if set, replaces slack-go's WebSocket dialer (for a proxy, or
	// to observe the socket in benchmarks). It must set WriteBufferSize.
	Dialer *websocket.Dialer
	// Metrics, if set, receives acks, outcomes and deliveries.
	Metrics Metrics
}

// Bot is a running Slack bot.
type Bot struct {
	cfg     Config
	command string
	svc     *commands.Service
	api     *slack.Client
	http    *http.Client
	log     zerolog.Logger
	seen    recentSet

	mu       sync.Mutex
	draining bool
	wg       sync.WaitGroup
	inFlight atomic.Int64

	connected        []atomic.Bool // per connection
	connErrWarn      []warnLimiter // per connection
	commandsTotal    atomic.Int64
	deliveryFailures atomic.Int64
	// work is the parent of every command's context. It outlives Run's
	// context so in-flight commands can finish during the drain.
	work       context.Context
	cancelWork context.CancelFunc
}

// New validates cfg and returns a Bot; Run connects it.
func New(cfg Config) (*Bot, error) {
	switch {
	case cfg.AppToken == "" || cfg.BotToken == "":
		return nil, errors.New("bot: both the app token and the bot token are required")
	case cfg.Service == nil || cfg.Claims == nil:
		return nil, errors.New("bot: Service and Claims are required")
	}
	if cfg.APIURL == "" {
		cfg.APIURL = slack.APIURL
	}
	if !strings.HasSuffix(cfg.APIURL, "/") {
		cfg.APIURL += "/"
	}
	if cfg.CommandTimeout == 0 {
		cfg.CommandTimeout = 15 * time.Second
	}
	if cfg.ProgressAfter == 0 {
		cfg.ProgressAfter = 4 * time.Second
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 10 * time.Second
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = 30 * time.Second
	}
	if cfg.Connections == 0 {
		cfg.Connections = 2
	}
	if cfg.Connections < 1 || cfg.Connections > 10 {
		return nil, errors.New("bot: Connections must be 1 to 10 (Slack's limit per app)")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	b := &Bot{
		cfg:     cfg,
		command: cfg.Service.Command(),
		svc:     cfg.Service,
		http:    cfg.HTTPClient,
		log:     cfg.Logger,
		api: slack.New(cfg.BotToken,
			slack.OptionAppLevelToken(cfg.AppToken),
			slack.OptionAPIURL(cfg.APIURL),
			slack.OptionHTTPClient(cfg.HTTPClient),
			// Honour Retry-After on 429s from the Web API.
			slack.OptionRetry(2),
		),
		connected:   make([]atomic.Bool, cfg.Connections),
		connErrWarn: make([]warnLimiter, cfg.Connections),
	}
	b.work, b.cancelWork = context.WithCancel(context.Background())
	return b, nil
}

// Connected reports whether at least one Socket Mode connection is up.
func (b *Bot) Connected() bool { return b.ConnectedCount() > 0 }

// ConnectedCount is the number of Socket Mode connections that are up.
func (b *Bot) ConnectedCount() int {
	n := 0
	for i := range b.connected {
		if b.connected[i].Load() {
			n++
		}
	}
	return n
}

// Stats are counters since start.
type Stats struct {
	Commands         int64 // slash commands received
	DeliveryFailures int64 // replies that reached neither response_url nor the Web API
}

// Stats returns the counters.
func (b *Bot) Stats() Stats {
	return Stats{Commands: b.commandsTotal.Load(), DeliveryFailures: b.deliveryFailures.Load()}
}

// InFlight is the number of commands acknowledged but not yet answered.
func (b *Bot) InFlight() int { return int(b.inFlight.Load()) }

// Run connects to Slack and handles envelopes until ctx ends. Then it stops
// taking envelopes, waits up to the drain timeout for in-flight commands,
// and returns nil. It returns an error only if Slack refuses the connection
// for good (a revoked or wrong token).
func (b *Bot) Run(ctx context.Context) error {
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	errs := make(chan error, len(b.connected))
	for i := range b.connected {
		h := b.handler(i)
		go func() {
			err := h.RunEventLoopContext(runCtx)
			b.connected[i].Store(false)
			if err != nil && runCtx.Err() == nil {
				stop() // a fatal error (bad token) is fatal for every connection
			}
			errs <- err
		}()
	}
	var runErr error
	for range b.connected {
		if err := <-errs; err != nil && ctx.Err() == nil && runErr == nil {
			runErr = err
		}
	}
	b.drain()
	if runErr != nil {
		return fmt.Errorf("slack connection: %w", runErr)
	}
	return nil
}

// handler builds connection i: its own socketmode client, with every
// handler registered.
func (b *Bot) handler(i int) *socketmode.SocketmodeHandler {
	opts := []socketmode.Option{socketmode.OptionPingInterval(b.cfg.PingInterval)}
	if b.cfg.Dialer != nil {
		opts = append(opts, socketmode.OptionDialer(b.cfg.Dialer))
	}
	h := socketmode.NewSocketmodeHandler(socketmode.New(b.api, opts...))
	h.HandleSlashCommand(b.command, b.onSlashCommand)
	h.HandleInteractionBlockAction(commands.ActionLock, b.onBlockAction)
	h.HandleInteractionBlockAction(commands.ActionUnlock, b.onBlockAction)
	h.HandleViewSubmission(bindCallbackID, b.onViewSubmission)
	onConnection := func(evt *socketmode.Event, _ *socketmode.Client) { b.onConnectionEvent(i, evt) }
	for _, t := range []socketmode.EventType{
		socketmode.EventTypeConnecting, socketmode.EventTypeConnected, socketmode.EventTypeConnectionError,
		socketmode.EventTypeDisconnect, socketmode.EventTypeInvalidAuth,
	} {
		h.Handle(t, onConnection)
	}
	h.HandleDefault(b.onOther)
	return h
}

func (b *Bot) drain() {
	b.mu.Lock()
	b.draining = true
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	n := b.InFlight()
	if n > 0 {
		b.log.Info().Int("in_flight", n).Dur("timeout", b.cfg.DrainTimeout).Msg("draining in-flight commands")
	}
	select {
	case <-done:
	case <-time.After(b.cfg.DrainTimeout):
		b.log.Warn().Int("in_flight", b.InFlight()).Msg("drain timed out; cancelling the rest")
		b.cancelWork()
		<-done
	}
	b.cancelWork()
}

// track registers a command as in flight, unless the bot is shutting down.
func (b *Bot) track() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.draining {
		return false
	}
	b.wg.Add(1)
	b.inFlight.Add(1)
	return true
}

func (b *Bot) untrack() {
	b.inFlight.Add(-1)
	b.wg.Done()
}

func (b *Bot) onConnectionEvent(i int, evt *socketmode.Event) {
	// Handlers run in their own goroutines, so events can be seen out of
	// order: only "connected" raises the flag, only a failure lowers it.
	switch evt.Type {
	case socketmode.EventTypeConnected:
		b.connected[i].Store(true)
	case socketmode.EventTypeConnectionError, socketmode.EventTypeDisconnect, socketmode.EventTypeInvalidAuth:
		b.connected[i].Store(false)
	}
	log := b.log.With().Int("connection", i).Logger()
	switch evt.Type {
	case socketmode.EventTypeConnected:
		log.Info().Int("up", b.ConnectedCount()).Msg("connected to Slack")
	case socketmode.EventTypeConnecting:
		log.Debug().Msg("connecting to Slack")
	case socketmode.EventTypeDisconnect:
		log.Info().Msg("Slack asked for a reconnect")
	case socketmode.EventTypeInvalidAuth:
		log.Error().Msg("Slack refused the app token (invalid_auth); check SLACK_APP_TOKEN")
	default:
		// slack-go retries on its own; while Slack is unreachable that is
		// several attempts a second. Warn once a minute per connection.
		ev := log.Debug()
		if b.connErrWarn[i].shouldWarn(time.Now()) {
			ev = log.Warn()
		}
		if err, ok := evt.Data.(error); ok {
			ev = ev.Err(err)
		}
		ev.Msg("Slack connection error; retrying")
	}
}

// warnLimiter lets one warning through per minute.
type warnLimiter struct {
	mu   sync.Mutex
	last time.Time
}

func (w *warnLimiter) shouldWarn(now time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if now.Sub(w.last) < time.Minute {
		return false
	}
	w.last = now
	return true
}

// onOther acknowledges envelopes no handler claimed, so Slack does not
// retry them, and says so for slash commands meant for another name.
func (b *Bot) onOther(evt *socketmode.Event, client *socketmode.Client) {
	// hello and disconnect frames arrive as requests without an envelope
	// ID; they are not envelopes and take no ack.
	if evt.Request == nil || evt.Request.EnvelopeID == "" {
		return
	}
	var payload any
	if sc, ok := evt.Data.(slack.SlashCommand); ok {
		payload = ackPayload(commands.Reply{Text: fmt.Sprintf(":grey_question: meetingbot answers %s, not %s.", b.command, sc.Command)})
	}
	b.ack(client, evt.Request.EnvelopeID, payload)
}

func (b *Bot) ack(client *socketmode.Client, envelopeID string, payload any) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := client.AckCtx(ctx, envelopeID, payload); err != nil {
		b.log.Error().Err(err).Str("envelope", envelopeID).Msg("ack failed")
	}
}

// onSlashCommand acknowledges first, with no I/O before the ack: commands
// that need nothing else (help, usage errors) are answered in the ack
// itself; the rest get a progress line and run afterwards.
func (b *Bot) onSlashCommand(evt *socketmode.Event, client *socketmode.Client) {
	received := time.Now()
	sc, ok := evt.Data.(slack.SlashCommand)
	if evt.Request == nil {
		return
	}
	envID := evt.Request.EnvelopeID
	if !ok {
		b.ack(client, envID, nil)
		return
	}
	b.commandsTotal.Add(1)
	if b.seen.add(envID, time.Now()) {
		b.ack(client, envID, nil)
		b.log.Debug().Str("envelope", envID).Msg("duplicate envelope ignored")
		return
	}
	cmd, err := commands.Parse(sc.Text)
	switch {
	case err != nil:
		b.ack(client, envID, ackPayload(commands.UsageReply(b.command, err)))
		b.answeredInAck(cmd.Verb, outcomeUsage, received)
		return
	case cmd.Verb == commands.VerbHelp:
		b.ack(client, envID, ackPayload(commands.Help(b.command)))
		b.answeredInAck(cmd.Verb, outcomeOK, received)
		return
	case !validIDs(sc):
		b.ack(client, envID, ackPayload(commands.Reply{Text: ":x: Slack sent this command without a valid team, channel or user ID, so it was not run."}))
		return
	}
	if !b.track() {
		b.ack(client, envID, ackPayload(commands.Reply{Text: ":hourglass: meetingbot is restarting. Nothing was done; try again in a few seconds."}))
		return
	}
	defer b.untrack()
	var payload any
	if p := commands.Progress(cmd); p != "" {
		payload = ackPayload(commands.Reply{Text: p})
	}
	b.ack(client, envID, payload)
	b.acked(received)
	// The ack is queued for slack-go's writer goroutine, which the send just
	// made runnable on this P. Yield so it writes the ack now, rather than
	// after execute's first database call (measured: ack p50 725 µs without
	// this, 150 µs with it; see docs/BENCHMARKS.md).
	runtime.Gosched()
	b.execute(envID, sc, cmd, received)
}

func validIDs(sc slack.SlashCommand) bool {
	return commands.ValidSlackID(sc.TeamID) && commands.ValidSlackID(sc.ChannelID) && commands.ValidSlackID(sc.UserID)
}

func (b *Bot) execute(envID string, sc slack.SlashCommand, cmd commands.Command, received time.Time) {
	ctx, cancel := context.WithTimeout(b.work, b.cfg.CommandTimeout)
	defer cancel()
	log := b.log.With().Str("envelope", envID).Str("verb", string(cmd.Verb)).Str("channel", sc.ChannelID).Str("user", sc.UserID).Logger()

	first, err := b.cfg.Claims.ClaimEnvelope(ctx, envID, time.Now())
	if err != nil {
		// Acting twice is safe (lock is idempotent); never acting is not.
		log.Error().Err(err).Msg("could not record the envelope; running it anyway")
	} else if !first {
		log.Info().Msg("envelope already handled; ignoring the redelivery")
		return
	}
	start := time.Now()
	req := commands.Request{
		Channel: domain.Channel{Team: sc.TeamID, ID: sc.ChannelID},
		UserID:  sc.UserID,
		Command: cmd,
	}
	var reply commands.Reply
	if cmd.Verb == commands.VerbBind && cmd.Password == "" {
		reply = b.openBindModal(ctx, sc, req)
		if reply.Text == "" {
			log.Info().Dur("took", time.Since(start)).Msg("bind form opened")
			return
		}
		b.deliver(ctx, log, sc.ResponseURL, sc.ChannelID, sc.UserID, reply, false)
		b.commandDone(cmd.Verb, reply, received)
		return
	}
	progress := b.progressLater(ctx, log, sc)
	reply = b.svc.Execute(ctx, req)
	progress.finish(func() { b.deliver(ctx, log, sc.ResponseURL, sc.ChannelID, sc.UserID, reply, false) })
	b.commandDone(cmd.Verb, reply, received)
	log.Info().Dur("took", time.Since(start)).Str("visibility", reply.Visibility.String()).Msg("command handled")
}

// recentSet remembers envelope IDs seen in the last hour, in memory, so a
// redelivery on the same process is caught before any I/O.
type recentSet struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

const (
	recentTTL     = time.Hour
	recentPruneAt = 10_000
	recentMax     = 50_000
)

// add records id and reports whether it was already there.
func (s *recentSet) add(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = make(map[string]time.Time)
	}
	if _, ok := s.seen[id]; ok {
		return true
	}
	if len(s.seen) >= recentPruneAt {
		for k, t := range s.seen {
			if now.Sub(t) > recentTTL {
				delete(s.seen, k)
			}
		}
		// A burst this large within the TTL: start over. The store's
		// claim still catches redeliveries.
		if len(s.seen) >= recentMax {
			clear(s.seen)
		}
	}
	s.seen[id] = now
	return false
}
