// Package bot is meetingbot's Slack side: it holds the Socket Mode
// connection, acknowledges every envelope at once, runs /meeting commands
// through package commands, and delivers the replies through the command's
// response_url (falling back to the Web API).
package bot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
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
	// its context ends. Default 10 s. Commands still running then are
	// cancelled, and their replies get ShutdownGrace more to go out.
	DrainTimeout time.Duration
	// ShutdownGrace bounds the replies still being posted when the drain
	// ends. Default 3 s. Run returns at most DrainTimeout + ShutdownGrace
	// + 1 s after its context ends (14 s with the defaults), whatever Slack
	// or the meeting service do meanwhile.
	ShutdownGrace time.Duration
	// Delivery bounds each way of posting a reply on its own, so a hanging
	// first attempt cannot use up the time of the next. Zero fields take
	// the defaults (response_url 4 s, Web API 5 s, direct message 3 s).
	Delivery DeliveryTimeouts
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

// Shutdown defaults (see Config): Run returns at most StopBound after its
// context ends.
const (
	DefaultDrainTimeout  = 10 * time.Second
	DefaultShutdownGrace = 3 * time.Second
	StopBound            = DefaultDrainTimeout + DefaultShutdownGrace + time.Second
)

// DeliveryTimeouts bound the three ways of posting one reply.
type DeliveryTimeouts struct {
	ResponseURL   time.Duration // the command's response_url
	WebAPI        time.Duration // chat.postMessage / chat.postEphemeral, including one wait for a 429
	DirectMessage time.Duration // telling the person directly when the bot is not in the channel
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
	apiBase *url.URL     // the Web API base, whose host may also serve response_urls (a fake, a proxy)
	install installation // set by Run before any envelope is handled

	mu       sync.Mutex
	draining bool
	wg       sync.WaitGroup
	inFlight atomic.Int64

	connected        []atomic.Bool // per connection
	connErrWarn      []warnLimiter // per connection
	commandsTotal    atomic.Int64
	deliveryFailures atomic.Int64
	panics           atomic.Int64
	malformed        atomic.Int64
	// work is the parent of every command's context. It outlives Run's
	// context so in-flight commands can finish during the drain.
	work       context.Context
	cancelWork context.CancelFunc
	// replies is the parent of every delivery's context: detached from the
	// command's deadline, so an outcome is reported even when the command
	// used all its time, and cancelled when the shutdown grace ends.
	replies       context.Context
	cancelReplies context.CancelFunc
	// testHook, when set, is called at named points of the handlers, so a
	// test can make one fail (see export_test.go).
	testHook atomic.Pointer[func(point string)]
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
	cfg.DrainTimeout = cmp.Or(cfg.DrainTimeout, DefaultDrainTimeout)
	cfg.ShutdownGrace = cmp.Or(cfg.ShutdownGrace, DefaultShutdownGrace)
	cfg.Delivery.ResponseURL = cmp.Or(cfg.Delivery.ResponseURL, 4*time.Second)
	cfg.Delivery.WebAPI = cmp.Or(cfg.Delivery.WebAPI, 5*time.Second)
	cfg.Delivery.DirectMessage = cmp.Or(cfg.Delivery.DirectMessage, 3*time.Second)
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
	base, err := url.Parse(cfg.APIURL)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, errors.New("bot: APIURL must be an http(s) URL")
	}
	b := &Bot{
		apiBase: base,
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
	b.replies, b.cancelReplies = context.WithCancel(context.Background())
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
	Panics           int64 // handlers that failed unexpectedly; each envelope was still answered
	Malformed        int64 // envelopes refused because a field was missing or not what Slack sends
}

// Stats returns the counters.
func (b *Bot) Stats() Stats {
	return Stats{
		Commands: b.commandsTotal.Load(), DeliveryFailures: b.deliveryFailures.Load(),
		Panics: b.panics.Load(), Malformed: b.malformed.Load(),
	}
}

// InFlight is the number of commands acknowledged but not yet answered.
func (b *Bot) InFlight() int { return int(b.inFlight.Load()) }

// Run asks Slack which installation the bot token belongs to, connects,
// and handles envelopes until ctx ends. Then it stops taking envelopes,
// waits up to the drain timeout for in-flight commands, cancels what is
// left, gives the last replies the shutdown grace, and returns nil: at most
// DrainTimeout + ShutdownGrace + 1 s after ctx ends. It returns an error
// only if Slack refuses a token for good (revoked or wrong).
func (b *Bot) Run(ctx context.Context) error {
	defer b.cancelReplies()
	defer b.cancelWork()
	in, err := b.identify(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return err
	}
	b.install = in
	b.log.Info().Str("workspace", in.team).Str("enterprise", in.enterprise).Bool("org_wide", in.orgWide).
		Str("bindings_scope", in.scope()).Msg("bot token identified")

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
	<-runCtx.Done()
	// From here every step is bounded, so the whole shutdown is.
	deadline := time.Now().Add(b.cfg.DrainTimeout + b.cfg.ShutdownGrace + time.Second)
	b.drain()
	var runErr error
	for range b.connected {
		select {
		case err := <-errs:
			if err != nil && ctx.Err() == nil && runErr == nil {
				runErr = err
			}
		case <-time.After(time.Until(deadline)):
			b.log.Warn().Msg("a Slack connection did not close in time; returning anyway")
			return nil
		}
	}
	if runErr != nil {
		return fmt.Errorf("slack connection: %w", runErr)
	}
	return nil
}

// handler builds connection i: its own socketmode client, with every
// handler registered. Each handler runs under guard, so that no envelope
// can take the process down.
func (b *Bot) handler(i int) *socketmode.SocketmodeHandler {
	opts := []socketmode.Option{socketmode.OptionPingInterval(b.cfg.PingInterval)}
	if b.cfg.Dialer != nil {
		opts = append(opts, socketmode.OptionDialer(b.cfg.Dialer))
	}
	h := socketmode.NewSocketmodeHandler(socketmode.New(b.api, opts...))
	h.HandleSlashCommand(b.command, b.guard(kindSlash, b.onSlashCommand))
	h.HandleInteractionBlockAction(commands.ActionLock, b.guard(kindButton, b.onBlockAction))
	h.HandleInteractionBlockAction(commands.ActionUnlock, b.guard(kindButton, b.onBlockAction))
	h.HandleViewSubmission(bindCallbackID, b.guard(kindForm, b.onViewSubmission))
	onConnection := b.guard(kindConnection, func(evt *socketmode.Event, _ *inbound) { b.onConnectionEvent(i, evt) })
	for _, t := range []socketmode.EventType{
		socketmode.EventTypeConnecting, socketmode.EventTypeConnected, socketmode.EventTypeConnectionError,
		socketmode.EventTypeDisconnect, socketmode.EventTypeInvalidAuth,
	} {
		h.Handle(t, onConnection)
	}
	h.HandleDefault(b.guard(kindOther, b.onOther))
	return h
}

// drain stops taking commands and waits for those in flight: up to the
// drain timeout for them to finish, then, with their work cancelled, up to
// the shutdown grace for their last replies, then cancels those too and
// waits at most one more second.
func (b *Bot) drain() {
	b.mu.Lock()
	b.draining = true
	b.mu.Unlock()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	if n := b.InFlight(); n > 0 {
		b.log.Info().Int("in_flight", n).Dur("timeout", b.cfg.DrainTimeout).Msg("draining in-flight commands")
	}
	select {
	case <-done:
		return
	case <-time.After(b.cfg.DrainTimeout):
	}
	b.log.Warn().Int("in_flight", b.InFlight()).Dur("grace", b.cfg.ShutdownGrace).Msg("drain timed out; cancelling the commands, their replies may still go out")
	b.cancelWork()
	select {
	case <-done:
		return
	case <-time.After(b.cfg.ShutdownGrace):
	}
	b.log.Warn().Int("in_flight", b.InFlight()).Msg("shutdown grace over; abandoning the replies still being posted")
	b.cancelReplies()
	select {
	case <-done:
	case <-time.After(time.Second):
		b.log.Error().Int("in_flight", b.InFlight()).Msg("commands did not stop after being cancelled; exiting anyway")
	}
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
// retry them: slash commands meant for another name (explained), buttons
// this version does not know (explained), other interactive payloads and
// events, and envelopes slack-go could not read at all.
func (b *Bot) onOther(evt *socketmode.Event, in *inbound) {
	b.testPoint(kindOther)
	if bad, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
		b.answerUnreadable(in.client, bad)
		return
	}
	// hello and disconnect frames arrive as requests without an envelope
	// ID; they are not envelopes and take no ack.
	if in.id == "" {
		return
	}
	switch d := evt.Data.(type) {
	case slack.SlashCommand:
		in.ack(ackPayload(commands.Reply{Text: fmt.Sprintf(":grey_question: meetingbot answers %s, not %s.", b.command, escapeText(d.Command))}))
	case slack.InteractionCallback:
		in.ack(nil)
		if d.Type == slack.InteractionTypeBlockActions && !b.seen.add(in.id, time.Now()) {
			to := b.replyTargetOfInteraction(d)
			log := b.log.With().Str("envelope", in.id).Str("via", "button").Logger()
			log.Warn().Msg("a button this version does not know; nothing was done")
			b.deliver(log, to, commands.Reply{Visibility: commands.Ephemeral,
				Text: fmt.Sprintf(":grey_question: That button is not one this version of meetingbot knows, so nothing was done. Use `%s status` or `%s help`.", b.command, b.command)}, false)
		}
	default:
		in.ack(nil)
	}
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
func (b *Bot) onSlashCommand(evt *socketmode.Event, in *inbound) {
	b.testPoint(kindSlash)
	sc, ok := evt.Data.(slack.SlashCommand)
	if in.id == "" {
		return
	}
	if !ok {
		in.ack(nil)
		return
	}
	b.commandsTotal.Add(1)
	if b.seen.add(in.id, time.Now()) {
		in.ack(nil)
		b.log.Debug().Str("envelope", in.id).Msg("duplicate envelope ignored")
		return
	}
	if problem := b.slashProblem(sc); problem != "" {
		b.malformed.Add(1)
		b.log.Warn().Str("envelope", in.id).Str("field", problem).Msg("slash command with a missing or invalid field; not run")
		in.ack(ackPayload(commands.Reply{Text: fmt.Sprintf(":x: Slack sent this command with a missing or invalid %s, so it was not run. Try again; if it keeps happening, tell your Slack admin.", problem)}))
		return
	}
	cmd, err := commands.Parse(sc.Text)
	switch {
	case err != nil:
		in.ack(ackPayload(commands.UsageReply(b.command, err)))
		b.answeredInAck(cmd.Verb, outcomeUsage, in.received)
		return
	case cmd.Verb == commands.VerbHelp:
		in.ack(ackPayload(commands.Help(b.command)))
		b.answeredInAck(cmd.Verb, outcomeOK, in.received)
		return
	}
	if !b.track() {
		in.ack(ackPayload(commands.Reply{Text: ":hourglass: meetingbot is restarting. Nothing was done; try again in a few seconds."}))
		return
	}
	defer b.untrack()
	var payload any
	if p := commands.Progress(cmd); p != "" {
		payload = ackPayload(commands.Reply{Text: p})
	}
	in.ack(payload)
	// The ack is queued for slack-go's writer goroutine, which the send just
	// made runnable on this P. Yield so it writes the ack now, rather than
	// after execute's first database call (measured: ack p50 725 µs without
	// this, 150 µs with it; see docs/BENCHMARKS.md).
	runtime.Gosched()
	b.execute(in.id, sc, cmd, in.received)
}

func (b *Bot) execute(envID string, sc slack.SlashCommand, cmd commands.Command, received time.Time) {
	b.testPoint(kindSlash + "-after-ack")
	ctx, cancel := context.WithTimeout(b.work, b.cfg.CommandTimeout)
	defer cancel()
	log := b.log.With().Str("envelope", envID).Str("verb", string(cmd.Verb)).Str("channel", sc.ChannelID).Str("user", sc.UserID).Logger()
	to := replyTo{responseURL: sc.ResponseURL, channel: sc.ChannelID, user: sc.UserID}

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
		Channel: b.channelKey(sc.ChannelID),
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
		b.deliver(log, to, reply, false)
		b.commandDone(cmd.Verb, reply, received)
		return
	}
	progress := b.progressLater(log, to)
	reply = b.svc.Execute(ctx, req)
	progress.finish(func() { b.deliver(log, to, reply, false) })
	b.commandDone(cmd.Verb, reply, received)
	log.Info().Dur("took", time.Since(start)).Str("visibility", reply.Visibility.String()).Msg("command handled")
}
