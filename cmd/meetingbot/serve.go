package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/store"
)

// envelopeRetention is how long envelope IDs are kept for de-duplication.
// Slack retries an event for at most about 5 minutes.
const envelopeRetention = 24 * time.Hour

func newLogger(c config, w io.Writer) zerolog.Logger {
	if c.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(c.LogLevel).With().Timestamp().Logger()
}

// app is the assembled program.
type app struct {
	bot   *bot.Bot
	svc   *commands.Service
	store *store.SQLite
}

// assemble opens the store and builds the service and the bot.
func assemble(ctx context.Context, c config, log zerolog.Logger) (*app, error) {
	st, err := store.OpenSQLite(ctx, c.DB, c.SecretKey)
	if err != nil {
		if errors.Is(err, store.ErrWrongKey) {
			ids := ""
			var wk *store.WrongKeyError
			if errors.As(err, &wk) {
				ids = " (database key id " + wk.Stored + ", this key's id " + wk.Given + ")"
			}
			return nil, &configError{"MEETINGBOT_SECRET_KEY", "does not match the key the database " + c.DB + " was created with" + ids + "; use the original key (or move the database aside to start over)"}
		}
		return nil, fmt.Errorf("opening the database %s: %w", c.DB, err)
	}
	api, err := meetingapi.NewClient(
		meetingapi.WithBaseURL(c.MeetingAPIURL),
		meetingapi.WithUserAgent("meetingbot/"+version),
		meetingapi.WithLogger(log),
	)
	if err != nil {
		st.Close()
		return nil, err
	}
	svc, err := commands.New(commands.Config{
		Meetings: api, Store: st, Admins: c.Admins, Command: c.Command, Logger: log,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	b, err := bot.New(bot.Config{
		AppToken: c.SlackAppToken, BotToken: c.SlackBotToken, APIURL: c.SlackAPIURL,
		Service: svc, Claims: st, Logger: log,
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &app{bot: b, svc: svc, store: st}, nil
}

// serve is the `run` subcommand: the bot against real Slack.
func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	c, err := loadConfig(getenv, true)
	if err != nil {
		return err
	}
	log := newLogger(c, stdout)
	log.Info().Str("version", version).Msg("meetingbot starting")
	c.log(log)

	a, err := assemble(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.store.Close()
	b := a.bot

	if c.HTTPAddr != "" {
		ln, err := net.Listen("tcp", c.HTTPAddr)
		if err != nil {
			return fmt.Errorf("MEETINGBOT_HTTP_ADDR: cannot listen: %w", err)
		}
		srv := &http.Server{Handler: healthHandler(b), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error().Err(err).Msg("health listener stopped")
			}
		}()
		log.Info().Str("addr", ln.Addr().String()).Msg("health listener up")
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}

	go pruneEnvelopes(ctx, a.store, log)
	go keepTokensAlive(ctx, a.svc)

	if err := b.Run(ctx); err != nil {
		return err
	}
	log.Info().Msg("meetingbot stopped")
	return nil
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

func pruneEnvelopes(ctx context.Context, st *store.SQLite, log zerolog.Logger) {
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

// healthHandler serves /healthz (the process is up), /readyz (connected to
// Slack) and /metrics (Prometheus text format).
func healthHandler(b *bot.Bot) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !b.Connected() {
			http.Error(w, "not connected to Slack", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		connected := 0
		if b.Connected() {
			connected = 1
		}
		s := b.Stats()
		fmt.Fprintf(w, "# HELP meetingbot_slack_connected Whether the Socket Mode connection is up.\n# TYPE meetingbot_slack_connected gauge\nmeetingbot_slack_connected %d\n", connected)
		fmt.Fprintf(w, "# HELP meetingbot_commands_in_flight Commands acknowledged but not yet answered.\n# TYPE meetingbot_commands_in_flight gauge\nmeetingbot_commands_in_flight %d\n", b.InFlight())
		fmt.Fprintf(w, "# HELP meetingbot_commands_total Slash commands received.\n# TYPE meetingbot_commands_total counter\nmeetingbot_commands_total %d\n", s.Commands)
		fmt.Fprintf(w, "# HELP meetingbot_delivery_failures_total Replies that could not be delivered.\n# TYPE meetingbot_delivery_failures_total counter\nmeetingbot_delivery_failures_total %d\n", s.DeliveryFailures)
	})
	return mux
}
