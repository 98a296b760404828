package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// This file is meetingbot's own Socket Mode read loop. slack-go's
// socketmode client passes each envelope through four goroutines before a
// handler can ack it (reader, parser, dispatcher, handler, and a writer for
// the ack), and on a busy machine each hand-off can wait for the scheduler:
// the ack's p99 was 0.4-1 ms with one command in flight. It also closes a
// connection before it opens its replacement. Here each socket is read by
// one goroutine, which decodes the envelope into slack-go's types, runs the
// handler's checks and writes the ack itself, and hands the rest of the
// work to a goroutine of its own. When Slack asks for a reconnect, the
// replacement is opened first. slack-go still does the rest:
// apps.connections.open, the payload types, the Web API.

const (
	// helloTimeout bounds the wait for Slack's hello on a new socket.
	helloTimeout = 10 * time.Second
	// maxFrameBytes bounds one frame from Slack; payloads are far smaller.
	maxFrameBytes = 8 << 20
	// slackDropsAcks: Slack ignores acks of this many bytes or more.
	slackDropsAcks = 20 * 1024
	// writeTimeout bounds writing one frame.
	writeTimeout = 10 * time.Second
	// warnedSocketBound: a socket Slack warned it will close is read until
	// Slack closes it, at most this long after its replacement is up.
	warnedSocketBound = 30 * time.Second
	// stableAfter: a socket that lived this long resets the backoff.
	stableAfter = 10 * time.Second
)

// socket is one Socket Mode WebSocket.
type socket struct {
	b    *Bot
	slot int // which of the bot's connections it serves
	ws   *websocket.Conn
	log  zerolog.Logger

	wmu       sync.Mutex // serialises data frames (control frames need none)
	hello     chan struct{}
	helloOnce sync.Once
	helloAt   time.Time
	asked     chan string // the reason, when Slack asks for a reconnect
	askOnce   sync.Once
	done      chan struct{} // closed when the reader stops
}

// handler is one kind of envelope's handling. It runs on the socket's
// reading goroutine, so it must not wait for I/O: it checks the envelope,
// acks it, and returns what is left to do (nil for nothing), which runs on
// a goroutine of its own. Both parts run under guard.
type handler func(evt *socketmode.Event, in *inbound) (then func())

// runConnection keeps connection slot open until ctx ends. It returns an
// error only when Slack refuses the app token for good, or the Web API base
// is not Slack's.
func (b *Bot) runConnection(ctx context.Context, slot int) error {
	log := b.log.With().Int("connection", slot).Logger()
	var (
		old       *socket // asked to go; read until its replacement says hello
		oldReason string
		backoff   = backoff{}
	)
	defer func() {
		if old != nil {
			old.close()
		}
	}()
	for {
		log.Debug().Msg("connecting to Slack")
		s, err := b.openSocket(ctx, slot, log)
		if err == nil {
			err = s.waitHello(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if refusedForGood(err) {
				log.Error().Str("error", withoutURL(err)).Msg("Slack refused the app token or the Web API base; check SLACK_APP_TOKEN and SLACK_API_URL")
				return err
			}
			wait := backoff.next()
			var rl *slack.RateLimitedError
			if errors.As(err, &rl) {
				wait = max(wait, rl.RetryAfter)
			}
			// While Slack is unreachable this repeats; warn once a minute.
			ev := log.Debug()
			if b.connErrWarn[slot].shouldWarn(time.Now()) {
				ev = log.Warn()
			}
			ev.Str("error", withoutURL(err)).Dur("retry_in", wait).Msg("Slack connection error; retrying")
			if !sleep(ctx, wait) {
				return nil
			}
			continue
		}
		log.Info().Int("up", b.ConnectedCount()).Msg("connected to Slack")
		if old != nil {
			old.retire(ctx, oldReason)
			old = nil
		}
		select {
		case <-s.done:
			if time.Since(s.helloAt) >= stableAfter {
				backoff.reset()
			} else if !sleep(ctx, backoff.next()) {
				return nil
			}
			log.Info().Msg("Slack connection lost; reconnecting")
		case reason := <-s.asked:
			// Open the replacement while this one is still read.
			log.Info().Str("reason", reason).Msg("Slack asked for a reconnect")
			backoff.reset()
			old, oldReason = s, reason
		case <-ctx.Done():
			s.close()
			return nil
		}
	}
}

// openSocket asks Slack for a Socket Mode URL and dials it.
func (b *Bot) openSocket(ctx context.Context, slot int, log zerolog.Logger) (*socket, error) {
	_, url, err := b.api.StartSocketModeContext(ctx)
	if err != nil {
		return nil, err
	}
	dialer := b.cfg.Dialer
	if dialer == nil {
		dialer = &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 30 * time.Second, WriteBufferSize: 32 << 10}
	}
	ws, resp, err := dialer.DialContext(ctx, url, http.Header{"Origin": {"https://api.slack.com"}})
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("dialling the Socket Mode URL: %w", err)
	}
	s := &socket{b: b, slot: slot, ws: ws, log: log,
		hello: make(chan struct{}), asked: make(chan string, 1), done: make(chan struct{})}
	ws.SetReadLimit(maxFrameBytes)
	// Slack pings; a socket without a ping for PingInterval is dead.
	_ = ws.SetReadDeadline(time.Now().Add(b.cfg.PingInterval))
	ws.SetPingHandler(func(data string) error {
		_ = ws.SetReadDeadline(time.Now().Add(b.cfg.PingInterval))
		// A pong that cannot be written shows up as a failed read soon.
		_ = ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeTimeout))
		return nil
	})
	go s.read()
	return s, nil
}

// waitHello waits for Slack's hello, and closes the socket if it does not
// come.
func (s *socket) waitHello(ctx context.Context) error {
	t := time.NewTimer(helloTimeout)
	defer t.Stop()
	select {
	case <-s.hello:
		return nil
	case <-s.done:
		return errors.New("the socket closed before Slack said hello")
	case <-t.C:
		s.close()
		return errors.New("Slack did not say hello in time")
	case <-ctx.Done():
		s.close()
		return ctx.Err()
	}
}

// read reads frames until the socket fails or closes.
func (s *socket) read() {
	defer close(s.done)
	defer s.ws.Close() //nolint:errcheck // done with it
	for {
		_, data, err := s.ws.ReadMessage()
		if err != nil {
			s.log.Debug().Str("error", err.Error()).Msg("Slack socket closed")
			break
		}
		s.b.onFrame(s, data, time.Now())
	}
	select {
	case <-s.hello:
		s.b.live[s.slot].Add(-1)
	default:
	}
}

func (s *socket) saidHello() {
	s.helloOnce.Do(func() {
		s.helloAt = time.Now()
		s.b.live[s.slot].Add(1)
		close(s.hello)
	})
}

func (s *socket) askedToGo(reason string) {
	s.askOnce.Do(func() { s.asked <- reason })
}

// retire ends a socket Slack asked to go, now that its replacement is up.
// One that was refreshed gets no more envelopes and is closed at once;
// one that was only warned still gets them until Slack closes it, so it
// is read until then (at most warnedSocketBound).
func (s *socket) retire(ctx context.Context, reason string) {
	bound := time.Duration(0)
	if reason == "warning" {
		bound = warnedSocketBound
	}
	go func() {
		t := time.NewTimer(bound)
		defer t.Stop()
		select {
		case <-s.done:
		case <-t.C:
			s.close()
		case <-ctx.Done():
			s.close()
		}
	}()
}

// close sends a close frame and closes the socket; the reader stops.
func (s *socket) close() {
	_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""),
		time.Now().Add(time.Second))
	_ = s.ws.Close()
}

// ack writes the acknowledgement of an envelope: {"envelope_id":…} with
// the payload if there is one, marshalled once.
func (s *socket) ack(envelopeID string, payload any) error {
	frame, err := ackFrame(envelopeID, payload)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
	return s.ws.WriteMessage(websocket.TextMessage, frame)
}

func ackFrame(envelopeID string, payload any) ([]byte, error) {
	id, err := json.Marshal(envelopeID)
	if err != nil {
		return nil, err
	}
	var p []byte
	switch v := payload.(type) {
	case nil:
	case json.RawMessage:
		p = v
	default:
		if p, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("marshalling the ack: %w", err)
		}
	}
	frame := make([]byte, 0, len(id)+len(p)+28)
	frame = append(append(frame, `{"envelope_id":`...), id...)
	if len(p) > 0 {
		frame = append(append(frame, `,"payload":`...), p...)
	}
	frame = append(frame, '}')
	if len(frame) >= slackDropsAcks {
		return nil, fmt.Errorf("the ack is %d bytes, and Slack drops acks of %d bytes or more", len(frame), slackDropsAcks)
	}
	return frame, nil
}

// onFrame decodes one frame with slack-go's types and runs its handler.
func (b *Bot) onFrame(s *socket, data []byte, at time.Time) {
	var req socketmode.Request
	if err := json.Unmarshal(data, &req); err != nil {
		b.unreadable(s, data, at, err)
		return
	}
	evt := &socketmode.Event{Request: &req}
	switch req.Type {
	case socketmode.RequestTypeHello:
		s.saidHello()
	case socketmode.RequestTypeDisconnect:
		s.askedToGo(req.Reason)
	case socketmode.RequestTypeSlashCommands:
		var sc slack.SlashCommand
		if err := json.Unmarshal(req.Payload, &sc); err != nil {
			b.unreadable(s, data, at, fmt.Errorf("parsing slash command: %w", err))
			return
		}
		evt.Type, evt.Data = socketmode.EventTypeSlashCommand, sc
		if sc.Command == b.command {
			b.dispatch(s, at, kindSlash, evt, b.onSlashCommand)
		} else {
			b.dispatch(s, at, kindOther, evt, b.onOther)
		}
	case socketmode.RequestTypeInteractive:
		var cb slack.InteractionCallback
		if err := json.Unmarshal(req.Payload, &cb); err != nil {
			b.unreadable(s, data, at, fmt.Errorf("parsing interaction callback: %w", err))
			return
		}
		evt.Type, evt.Data = socketmode.EventTypeInteractive, cb
		switch {
		case cb.Type == slack.InteractionTypeBlockActions && hasKnownAction(cb):
			b.dispatch(s, at, kindButton, evt, b.onBlockAction)
		case cb.Type == slack.InteractionTypeViewSubmission && cb.View.CallbackID == bindCallbackID:
			b.dispatch(s, at, kindForm, evt, b.onViewSubmission)
		default:
			b.dispatch(s, at, kindOther, evt, b.onOther)
		}
	case socketmode.RequestTypeEventsAPI:
		// meetingbot subscribes to no events; an ack stops the retries.
		evt.Type = socketmode.EventTypeEventsAPI
		b.dispatch(s, at, kindOther, evt, b.onOther)
	default:
		b.unreadable(s, data, at, fmt.Errorf("processing WebSocket message: encountered unsupported type %q", req.Type))
	}
}

func (b *Bot) unreadable(s *socket, data []byte, at time.Time, err error) {
	evt := &socketmode.Event{Type: socketmode.EventTypeErrorBadMessage, Data: &socketmode.ErrorBadMessage{Cause: err, Message: data}}
	b.dispatch(s, at, kindOther, evt, b.onOther)
}

func hasKnownAction(cb slack.InteractionCallback) bool {
	for _, a := range cb.ActionCallback.BlockActions {
		if knownActions[a.ActionID] {
			return true
		}
	}
	return false
}

// backoff is the wait before reconnecting: from 100 ms, doubling, up to
// 5 minutes, with jitter (many replicas reconnecting at once would hit
// apps.connections.open's rate limit together).
type backoff struct{ n int }

func (b *backoff) next() time.Duration {
	d := min(100*time.Millisecond<<min(b.n, 12), 5*time.Minute)
	b.n++
	return d/2 + rand.N(d/2+1)
}

func (b *backoff) reset() { b.n = 0 }

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// refusedForGood reports the errors after which reconnecting cannot help,
// as slack-go does: a token Slack refuses, or a Web API base that is not
// Slack's (HTTP 404).
func refusedForGood(err error) bool {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "invalid_auth", "not_authed", "account_inactive", "token_revoked":
			return true
		}
	}
	var sc slack.StatusCodeError
	return errors.As(err, &sc) && sc.Code == http.StatusNotFound
}
