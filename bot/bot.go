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

// Config wires a Bot.
type Config struct {
	AppToken string // xapp-…
	BotToken string // xoxb-…
	// APIURL is the Web API base, ending in "/". Default https://slack.com/api/.
	APIURL  string
	Service *commands.Service
	Claims  Claims
	Logger  zerolog.Logger
	// Holder names this process in envelope claims. Default: the host name
	// and a random suffix.
	Holder string
	// ClaimLease is how long a claim holds without renewal: a process that
	// dies leaves its commands to another after this. Default 30 s.
	ClaimLease time.Duration
	// TakeoverEvery is how often to look for commands left by a stopped
	// process. Default 5 s.
	TakeoverEvery time.Duration
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
	// HTTPClient posts replies and calls the Web API. Default: a 10 s
	// timeout and up to 64 idle connections kept alive per host.
	HTTPClient *http.Client
	// Connections is how many Socket Mode connections to keep open. Slack
	// sends each envelope to one of an app's connections (up to 10). The
	// bot opens a connection's replacement before it lets the old one go,
	// and with two, even a connection that drops leaves one up. Default 2.
	Connections int
	// Dialer, if set, replaces the Socket Mode WebSocket dialer (for a
	// proxy, or to observe the socket in benchmarks).
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
	holder  string
	held    held

	mu       sync.Mutex
	draining bool
	wg       sync.WaitGroup
	inFlight atomic.Int64

	live             []atomic.Int32 // per connection: its sockets that said hello and are open
	connErrWarn      []warnLimiter  // per connection
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
	cfg.ClaimLease = cmp.Or(cfg.ClaimLease, DefaultClaimLease)
	cfg.TakeoverEvery = cmp.Or(cfg.TakeoverEvery, DefaultTakeoverEvery)
	cfg.Holder = cmp.Or(cfg.Holder, newHolderID())
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
		cfg.HTTPClient = defaultHTTPClient()
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
		holder:      cfg.Holder,
		live:        make([]atomic.Int32, cfg.Connections),
		connErrWarn: make([]warnLimiter, cfg.Connections),
	}
	b.work, b.cancelWork = context.WithCancel(context.Background())
	b.replies, b.cancelReplies = context.WithCancel(context.Background())
	return b, nil
}

// defaultHTTPClient posts replies and calls the Web API. Go's default
// transport keeps 2 idle connections per host, so with many commands in
// flight most response_url posts would open a new connection (with TLS, a
// handshake each): this one keeps up to 64 per host alive.
func defaultHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 128
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Timeout: 10 * time.Second, Transport: t}
}

// Connected reports whether at least one Socket Mode connection is up.
func (b *Bot) Connected() bool { return b.ConnectedCount() > 0 }

// ConnectedCount is the number of Socket Mode connections that are up.
func (b *Bot) ConnectedCount() int {
	n := 0
	for i := range b.live {
		if b.live[i].Load() > 0 {
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
	// Leases are renewed until Run returns, through the drain and the
	// grace: a command still running then must not be taken over.
	renewCtx, stopRenewing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRenewing()
	go b.renewClaims(renewCtx)
	go b.takeOvers(runCtx)
	errs := make(chan error, len(b.live))
	for i := range b.live {
		go func() {
			err := b.runConnection(runCtx, i)
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
	for range b.live {
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

// knownActions are the action IDs of meetingbot's buttons.
var knownActions = func() map[string]bool {
	m := map[string]bool{}
	for _, id := range commands.ActionIDs {
		m[id] = true
	}
	return m
}()

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

// untrackUnlessHandedOn, deferred by a handler that tracked a command,
// untracks it unless the handler returned the work that will (then); a
// panic before that leaves then nil.
func (b *Bot) untrackUnlessHandedOn(then *func()) {
	if *then == nil {
		b.untrack()
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
// events, and envelopes that could not be read at all.
func (b *Bot) onOther(evt *socketmode.Event, in *inbound) (then func()) {
	b.testPoint(kindOther)
	if bad, ok := evt.Data.(*socketmode.ErrorBadMessage); ok {
		return b.answerUnreadable(in.sock, bad)
	}
	if in.id == "" {
		return nil // not an envelope
	}
	switch d := evt.Data.(type) {
	case slack.SlashCommand:
		in.ack(ackPayload(commands.Reply{Text: fmt.Sprintf(":grey_question: meetingbot answers %s, not %s.", b.command, escapeText(d.Command))}))
	case slack.InteractionCallback:
		in.ack(nil)
		if d.Type == slack.InteractionTypeBlockActions && !b.seen.add(in.id, time.Now()) {
			return func() {
				to := b.replyTargetOfInteraction(d)
				log := b.log.With().Str("envelope", in.id).Str("via", "button").Logger()
				log.Warn().Msg("a button this version does not know; nothing was done")
				b.deliver(log, to, commands.Reply{Visibility: commands.Ephemeral,
					Text: fmt.Sprintf(":grey_question: That button is not one this version of meetingbot knows, so nothing was done. Use `%s status` or `%s help`.", b.command, b.command)}, false)
			}
		}
	default:
		in.ack(nil)
	}
	return nil
}

// onSlashCommand acknowledges first, with no I/O before the ack: commands
// that need nothing else (help, usage errors) are answered in the ack
// itself; the rest run afterwards, on a goroutine of their own.
func (b *Bot) onSlashCommand(evt *socketmode.Event, in *inbound) (then func()) {
	b.testPoint(kindSlash)
	sc, ok := evt.Data.(slack.SlashCommand)
	if in.id == "" {
		return nil
	}
	if !ok {
		in.ack(nil)
		return nil
	}
	b.commandsTotal.Add(1)
	if b.seen.add(in.id, time.Now()) {
		in.ack(nil)
		b.log.Debug().Str("envelope", in.id).Msg("duplicate envelope ignored")
		return nil
	}
	if problem := b.slashProblem(sc); problem != "" {
		b.malformed.Add(1)
		in.ack(ackPayload(commands.Reply{Text: fmt.Sprintf(":x: Slack sent this command with a missing or invalid %s, so it was not run. Try again; if it keeps happening, tell your Slack admin.", problem)}))
		b.log.Warn().Str("envelope", in.id).Str("field", problem).Msg("slash command with a missing or invalid field; not run")
		return nil
	}
	cmd, err := commands.Parse(sc.Text)
	switch {
	case err != nil:
		in.ack(ackPayload(commands.UsageReply(b.command, err)))
		b.answeredInAck(cmd.Verb, outcomeUsage, in.received)
		return nil
	case cmd.Verb == commands.VerbHelp:
		help := commands.Help(b.command)
		if cmd.Topic != "" {
			help = commands.HelpFor(b.command, cmd.Topic)
		}
		in.ack(ackPayload(help))
		b.answeredInAck(cmd.Verb, outcomeOK, in.received)
		return nil
	}
	if !b.track() {
		in.ack(ackPayload(commands.Reply{Text: ":hourglass: meetingbot is restarting. Nothing was done; try again in a few seconds."}))
		return nil
	}
	defer b.untrackUnlessHandedOn(&then)
	var payload any
	if p := commands.ProgressLine(cmd); p != "" {
		payload = ackPayload(commands.Reply{Text: p})
	}
	in.ack(payload)
	return func() {
		defer b.untrack()
		b.execute(in.id, sc, cmd, in.received, false)
	}
}

// execute runs a slash command after its ack: claim it, run it, answer,
// and mark it answered. A replay (a command taken over from a stopped
// process) holds its claim already.
func (b *Bot) execute(envID string, sc slack.SlashCommand, cmd commands.Command, received time.Time, replay bool) {
	b.testPoint(kindSlash + "-after-ack")
	ctx, cancel := context.WithTimeout(b.work, b.cfg.CommandTimeout)
	defer cancel()
	log := b.log.With().Str("envelope", envID).Str("verb", string(cmd.Verb)).Str("channel", sc.ChannelID).Str("user", sc.UserID).Logger()
	to := replyTo{responseURL: sc.ResponseURL, channel: sc.ChannelID, user: sc.UserID}

	if !replay && !b.claim(ctx, log, envID, work{Kind: workSlash, Channel: sc.ChannelID, User: sc.UserID, Text: sc.Text,
		ResponseURL: sc.ResponseURL, Received: received.UnixMilli()}) {
		return
	}
	defer b.finish(log, envID)
	start := time.Now()
	progress := &commands.Progress{}
	req := commands.Request{
		Channel:  b.channelKey(sc.ChannelID),
		UserID:   sc.UserID,
		Command:  cmd,
		Progress: progress,
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
	note := b.progressLater(log, to, progress)
	reply = b.svc.Execute(ctx, req)
	note.finish(func() { b.deliver(log, to, reply, false) })
	b.commandDone(cmd.Verb, reply, received)
	log.Info().Dur("took", time.Since(start)).Str("visibility", reply.Visibility.String()).Msg("command handled")
}
