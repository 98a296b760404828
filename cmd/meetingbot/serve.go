package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/metrics"
	"github.com/meetingbot/meetingbot/store"
	"github.com/meetingbot/meetingbot/store/claimstore"
	"github.com/meetingbot/meetingbot/watch"
)

// envelopeRetention is how long envelope IDs are kept for de-duplication.
// Slack retries an event for at most about 5 minutes.
const envelopeRetention = 24 * time.Hour

// What `run` does on SIGTERM, and so how long a process manager must wait
// before SIGKILL (deploy/, docs/DEPLOYMENT.md; a test holds them to it):
// the bot stops taking commands, waits for those in flight, cancels the
// rest and lets their replies go out, all within bot.StopBound; then the
// health listener gets httpShutdownTimeout to finish a scrape.
const (
	httpShutdownTimeout = 2 * time.Second
	shutdownBound       = bot.StopBound + httpShutdownTimeout
)

// app is the assembled program.
type app struct {
	bot     *bot.Bot
	watches *watch.Runner
	svc     *commands.Service
	store   *store.Store
	metrics *metrics.Metrics
}

// openStore opens the database MEETINGBOT_DB names: open, migrate and
// check the key. The backends this build has are imported in backends.go.
func openStore(ctx context.Context, c config) (*store.Store, error) {
	st, err := store.Open(ctx, string(c.DB), c.key, store.WithMeetingLease(time.Duration(c.Lease)))
	if err != nil {
		return nil, dbError(c.DB, err)
	}
	return st, nil
}

// assemble opens the store and builds the service and the bot.
func assemble(ctx context.Context, c config, log zerolog.Logger) (*app, error) {
	st, err := openStore(ctx, c)
	if err != nil {
		return nil, err
	}
	m := metrics.New(version, buildRevision())
	api, err := meetingapi.NewClient(
		meetingapi.WithBaseURL(string(c.MeetingAPIURL)),
		meetingapi.WithUserAgent("meetingbot/"+version),
		meetingapi.WithLogger(log),
		meetingapi.WithObserver(m.MeetingAPICall),
	)
	if err != nil {
		st.Close()
		return nil, err
	}
	svc, err := commands.New(commands.Config{
		Meetings: api, Store: st, Admins: c.Admins, Command: string(c.Command), Logger: log, Metrics: m,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	b, err := bot.New(bot.Config{
		AppToken: c.SlackAppToken, BotToken: c.SlackBotToken, APIURL: c.SlackAPIURL.withSlash(),
		Service: svc, Claims: claimstore.New(st), Logger: log, Metrics: m,
		ClaimLease: time.Duration(c.Lease), TakeoverEvery: takeoverEvery(time.Duration(c.Lease)),
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	w, err := watch.New(watch.Config{
		Meetings: api, Tokens: svc, Store: st, Poster: b, IsNotInChannel: bot.IsNotInChannel,
		Holder: b.Holder(), Command: string(c.Command), Logger: log, Metrics: m,
		Lease: time.Duration(c.Lease), ClaimEvery: time.Duration(c.Lease) / 3,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	svc.UseWatches(w)
	m.ConnectionsFrom(b.ConnectedCount)
	m.InFlightFrom(b.InFlight)
	return &app{bot: b, watches: w, svc: svc, store: st, metrics: m}, nil
}

// takeoverEvery is how often a replica looks for commands left by one that
// died: a sixth of the lease, so they are taken over soon after it ends,
// and at most bot.DefaultTakeoverEvery (5 s, a sixth of the default lease).
func takeoverEvery(lease time.Duration) time.Duration {
	return min(bot.DefaultTakeoverEvery, lease/6)
}

// serve is the `run` subcommand: the bot against real Slack.
func serve(ctx context.Context, stdout io.Writer) error {
	c, err := loadConfig(true)
	if err != nil {
		return err
	}
	log := newLogger(c, stdout)
	log.Info().Str("version", version).Msg("meetingbot starting")
	c.log(log)

	hc := &http.Client{Timeout: slackCallTimeout}
	if err := checkSlack(ctx, c, hc, func(ch check) {
		log.Warn().Str("check", ch.Name).Msg(ch.Detail + "; starting anyway, and retrying the connection")
	}); err != nil {
		return err
	}

	a, err := assemble(ctx, c, log)
	if err != nil {
		if ctx.Err() != nil {
			log.Info().Msg("stopped during start-up")
			return nil
		}
		return err
	}
	defer a.store.Close()
	log.Info().Str("holder", a.bot.Holder()).Msg("claims and watches taken by this process carry this holder")

	if c.HTTPAddr != "" {
		ln, err := net.Listen("tcp", string(c.HTTPAddr))
		if err != nil {
			// A port still held by the previous process frees up; a
			// privileged port or a foreign address does not.
			return &configError{Var: "MEETINGBOT_HTTP_ADDR", Problem: "cannot be listened on: " + listenProblem(err),
				Transient: errors.Is(err, syscall.EADDRINUSE)}
		}
		srv := &http.Server{Handler: opsHandler(a.bot, a.store, a.metrics), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error().Err(err).Msg("health listener stopped")
			}
		}()
		log.Info().Str("addr", ln.Addr().String()).Msg("health listener up")
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}

	go pruneEnvelopes(ctx, a.store, log)
	go keepTokensAlive(ctx, a.svc)
	wctx, stopWatching := context.WithCancel(ctx)
	watching := make(chan struct{})
	go func() { defer close(watching); _ = a.watches.Run(wctx) }()
	defer func() { stopWatching(); <-watching }() // before the store closes: it gives its leases up

	if err := a.bot.Run(ctx); err != nil {
		return slackRunError(err)
	}
	log.Info().Msg("meetingbot stopped")
	return nil
}

// slackRunError maps the errors for which slack-go gives up for good to the
// setting at fault: the app token was refused (revoked while running,
// say), or SLACK_API_URL is not Slack's.
func slackRunError(err error) error {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		if what, refused := tokenRefusal(se.Err, "Basic Information → App-Level Tokens (xapp-…, scope connections:write)"); refused {
			return &configError{Var: "SLACK_APP_TOKEN", Problem: what}
		}
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) && sc.Code == http.StatusNotFound {
		return &configError{Var: "SLACK_API_URL", Problem: "answered HTTP 404 for apps.connections.open: it is not Slack's Web API base; unset it for the default (https://slack.com/api/)"}
	}
	return err
}

func listenProblem(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

// keepTokensAlive refreshes tokens of meetings in use shortly before they
// expire (they live 30 minutes), checking every minute.
func keepTokensAlive(ctx context.Context, svc *commands.Service) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			svc.KeepTokensAlive(ctx, 5*time.Minute)
		}
	}
}

func pruneEnvelopes(ctx context.Context, st *store.Store, log zerolog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := st.PruneEnvelopes(ctx, time.Now().Add(-envelopeRetention)); err != nil && ctx.Err() == nil {
			log.Warn().Err(err).Msg("pruning envelope IDs failed")
		} else if n > 0 {
			log.Debug().Int64("pruned", n).Msg("pruned envelope IDs")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// readyzTimeout bounds the database check behind /readyz.
const readyzTimeout = 2 * time.Second

// opsHandler serves /healthz (the process is up), /readyz (connected to
// Slack and the database answers) and /metrics.
func opsHandler(slackConn interface{ Connected() bool }, db interface {
	Ping(context.Context) error
}, m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !slackConn.Connected() {
			http.Error(w, "not connected to Slack", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyzTimeout)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
			http.Error(w, "the database does not answer", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", m.Handler())
	return mux
}

// withoutURL is an HTTP client error without the URL it quotes.
func withoutURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
