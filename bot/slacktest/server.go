// Package slacktest is an in-process fake of the parts of Slack that
// meetingbot talks to: Socket Mode (apps.connections.open plus the WebSocket
// link), a few Web API methods (auth.test, chat.postMessage,
// chat.postEphemeral, chat.update, views.open) and per-envelope response_urls.
//
// It is used by end-to-end tests, benchmarks and the interactive sandbox, so it
// deliberately does not import "testing" and adds no artificial delays.
//
// Behaviour that mirrors real Slack and slack-go v0.35.0:
//   - apps.connections.open needs "Authorization: Bearer <app token>" and
//     answers a single-use ws:// URL; a missing token is not_authed, a wrong
//     one invalid_auth (both make slack-go's Run give up), an app token
//     without connections:write missing_scope. Web API methods take the bot
//     token as form field token= or as a Bearer header, and answer with the
//     token's scopes in the X-OAuth-Scopes header (auth.test included);
//     chat.* methods answer missing_scope without chat:write.
//   - The upgrader accepts any Origin (slack-go sends https://api.slack.com).
//   - On connect the server sends the hello frame, then WebSocket PING control
//     frames every ping interval (slack-go never pings; it expects pings).
//   - Envelopes are {"envelope_id","type","payload","accepts_response_payload"};
//     slash payloads carry is_enterprise_install as the STRING "false".
//   - Acks are {"envelope_id":…} with an optional "payload" ("payload":{} is
//     accepted and treated like no payload). Ack frames of 20 KB (20480 bytes)
//     or more are recorded with Dropped=true, because Slack drops them.
//   - A response_url accepts at most 5 posts within 30 minutes. Later posts get
//     HTTP 404 with the plain-text body "used_url"; posts after 30 minutes (or
//     to a URL the fake never issued) get HTTP 404 "expired_url". Success is
//     HTTP 200 text/plain "ok".
//   - WithEnterprise makes the fake an Enterprise org: payloads carry
//     enterprise_id (slash commands) or "enterprise" (interactive payloads),
//     and auth.test reports the enterprise and whether the install is
//     org-wide. SendBlockAction and SendViewSubmission build interactive
//     payloads with Slack's fields, including "team": null (org-wide
//     installs) and an empty team.id (buttons in shared channels).
//   - A trigger_id works for views.open once, within 3 s of the envelope being
//     written (WithTriggerTTL); a used or stale one gets
//     {"ok":false,"error":"expired_trigger_id"}, one the fake never issued
//     gets "invalid_arguments" (as real Slack does for a bogus trigger_id).
package slacktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults used by New.
const (
	DefaultAppToken     = "xapp-1-A0TEST-1-fake"
	DefaultBotToken     = "xoxb-fake-bot-token"
	DefaultTeamID       = "T0TEST"
	DefaultTeamDomain   = "meetingbot-sandbox"
	DefaultAppID        = "A0TEST"
	DefaultPingInterval = 2 * time.Second
	DefaultWarningGrace = 200 * time.Millisecond
	// DefaultRefreshGrace is how long a socket told refresh_requested stays
	// open if the client does not close it first. Slack names no number;
	// the fake must not be harsher than Slack, which gives about 10 s after
	// a warning. slack-go closes a refreshed socket itself as soon as it
	// reads the frame, so a well-behaved client never waits this long.
	DefaultRefreshGrace = 10 * time.Second
	DefaultTriggerTTL   = 3 * time.Second
	// VerificationToken is the legacy "token" field of slash payloads.
	VerificationToken = "fake-verification-token"

	// BotUserID, BotID and BotUserName are what auth.test reports.
	BotUserID   = "U0BOT"
	BotID       = "B0BOT"
	BotUserName = "meetingbot"

	// MaxAckSize is Slack's limit: ack frames of this many bytes or more are
	// silently dropped by Slack (recorded here with Dropped=true).
	MaxAckSize = 20 * 1024
	// MaxResponseURLPosts is how many times one response_url may be used.
	MaxResponseURLPosts = 5
	// ResponseURLTTL is how long a response_url stays usable.
	ResponseURLTTL = 30 * time.Minute
)

// ErrClosed is returned by waits and sends once the server is closed.
var ErrClosed = errors.New("slacktest: server closed")

// Option configures a Server.
type Option func(*Server)

// WithAppToken sets the app-level token apps.connections.open requires.
func WithAppToken(t string) Option { return func(s *Server) { s.appToken = t } }

// WithBotToken sets the bot token the Web API methods require.
func WithBotToken(t string) Option { return func(s *Server) { s.botToken = t } }

// DefaultBotScopes are the scopes the fake grants the bot token: those in
// meetingbot's manifest.
var DefaultBotScopes = []string{"commands", "chat:write"}

// WithBotScopes sets the bot token's scopes, which every Web API answer
// lists in its X-OAuth-Scopes header as Slack's do. chat.* methods answer
// missing_scope without chat:write.
func WithBotScopes(scopes ...string) Option {
	return func(s *Server) { s.botScopes = append([]string(nil), scopes...) }
}

// WithAppScopes sets the app-level token's scopes (default
// connections:write). Without connections:write, apps.connections.open
// answers missing_scope, as Slack does.
func WithAppScopes(scopes ...string) Option {
	return func(s *Server) { s.appScopes = append([]string(nil), scopes...) }
}

// WithPingInterval sets how often the server sends WebSocket PING control
// frames on each socket. d <= 0 disables pings (slack-go then drops the
// connection after its own ping interval, useful to test that path).
func WithPingInterval(d time.Duration) Option { return func(s *Server) { s.pingInterval = d } }

// WithTeam sets the workspace id and domain used in payloads and auth.test.
func WithTeam(id, domain string) Option {
	return func(s *Server) { s.teamID, s.teamDomain = id, domain }
}

// WithAppID sets the app id sent in hello and as api_app_id.
func WithAppID(id string) Option { return func(s *Server) { s.appID = id } }

// WithRedeliverUnacked makes the fake redeliver, on another socket, every
// envelope still unacknowledged when the socket it went to closes. Slack
// does this for events_api envelopes (it retries unacked events); it does
// not retry slash commands, whose users see an error instead. Tests use it
// to check that redeliveries across connections are acted on once.
func WithRedeliverUnacked() Option {
	return func(s *Server) { s.redeliverUnacked = true }
}

// WithWarningGrace sets how long after a "warning" disconnect frame the
// server cuts the socket (default 200ms; real Slack waits about 10 s).
func WithWarningGrace(d time.Duration) Option { return func(s *Server) { s.warningGrace = d } }

// WithRefreshGrace sets how long after a "refresh_requested"/"link_disabled"
// disconnect frame the server closes the socket (default 10 s).
func WithRefreshGrace(d time.Duration) Option { return func(s *Server) { s.refreshGrace = d } }

// WithEnterprise makes the workspace part of Enterprise org id (named
// name). orgWide says the app is installed on the whole org rather than on
// the one workspace: auth.test then reports is_enterprise_install true, and
// so do the payloads.
func WithEnterprise(id, name string, orgWide bool) Option {
	return func(s *Server) { s.enterpriseID, s.enterpriseName, s.orgWide = id, name, orgWide }
}

// WithTriggerTTL sets how long a trigger_id stays valid (default 3 s).
func WithTriggerTTL(d time.Duration) Option { return func(s *Server) { s.triggerTTL = d } }

// Server is the fake Slack. All methods are safe for concurrent use.
type Server struct {
	appToken, botToken    string
	botScopes, appScopes  []string
	teamID, teamDomain    string
	enterpriseID          string
	enterpriseName        string
	orgWide               bool
	appID                 string
	pingInterval          time.Duration
	warningGrace          time.Duration
	redeliverUnacked      bool
	refreshGrace          time.Duration
	triggerTTL            time.Duration
	hs                    *httptest.Server
	closeOnce             sync.Once
	closed                chan struct{}
	tsSeq, viewSeq, idSeq atomic.Int64
	tcpConns              atomic.Int64

	mu          sync.Mutex
	changed     chan struct{} // closed and replaced on connection/message changes
	tickets     map[string]bool
	conns       []*conn // live, routable sockets in connect order
	allConns    map[*conn]struct{}
	rr          int
	opened      int
	envs        map[string]*envelope
	triggers    map[string]*envelope
	acks        []Ack
	msgs        []Message
	views       []View
	calls       []APICall
	subs        []chan struct{}
	failRespN   int
	failRespSt  int
	hangRespN   int
	failAPI     map[string]*apiFault
	notInChan   map[string]bool
	timers      map[*time.Timer]struct{}
	badAckCount int
}

type apiFault struct {
	n   int
	err string
}

// New starts a fake Slack on 127.0.0.1 with a random port.
func New(opts ...Option) *Server {
	s := &Server{
		appToken:     DefaultAppToken,
		botToken:     DefaultBotToken,
		botScopes:    DefaultBotScopes,
		appScopes:    []string{"connections:write"},
		teamID:       DefaultTeamID,
		teamDomain:   DefaultTeamDomain,
		appID:        DefaultAppID,
		pingInterval: DefaultPingInterval,
		warningGrace: DefaultWarningGrace,
		refreshGrace: DefaultRefreshGrace,
		triggerTTL:   DefaultTriggerTTL,
		closed:       make(chan struct{}),
		changed:      make(chan struct{}),
		tickets:      map[string]bool{},
		allConns:     map[*conn]struct{}{},
		envs:         map[string]*envelope{},
		triggers:     map[string]*envelope{},
		failAPI:      map[string]*apiFault{},
		notInChan:    map[string]bool{},
		timers:       map[*time.Timer]struct{}{},
	}
	for _, o := range opts {
		o(s)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/", s.handleAPI)
	mux.HandleFunc("/link/", s.handleLink)
	mux.HandleFunc("/response/", s.handleResponseURL)
	s.hs = httptest.NewUnstartedServer(mux)
	s.hs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.tcpConns.Add(1)
		}
	}
	s.hs.Start()
	return s
}

// TCPConnections is how many TCP connections the server has accepted:
// WebSockets, Web API calls and response_url posts. A client that keeps
// its connections alive opens few.
func (s *Server) TCPConnections() int { return int(s.tcpConns.Load()) }

// URL is the server's base URL, "http://127.0.0.1:PORT" (no trailing slash).
func (s *Server) URL() string { return s.hs.URL }

// APIURL is the Web API base for slack.OptionAPIURL; it ends with '/'.
func (s *Server) APIURL() string { return s.hs.URL + "/api/" }

// AppToken returns the app-level token the server accepts.
func (s *Server) AppToken() string { return s.appToken }

// BotToken returns the bot token the server accepts.
func (s *Server) BotToken() string { return s.botToken }

// TeamID returns the workspace id.
func (s *Server) TeamID() string { return s.teamID }

// TeamDomain returns the workspace domain.
func (s *Server) TeamDomain() string { return s.teamDomain }

// EnterpriseID returns the Enterprise org's id ("" outside one).
func (s *Server) EnterpriseID() string { return s.enterpriseID }

// AppID returns the app id.
func (s *Server) AppID() string { return s.appID }

// Close closes every socket and the HTTP server and wakes all waiters with
// ErrClosed. It is idempotent.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.mu.Lock()
		for t := range s.timers {
			t.Stop()
		}
		s.timers = map[*time.Timer]struct{}{}
		all := make([]*conn, 0, len(s.allConns))
		for c := range s.allConns {
			all = append(all, c)
		}
		s.mu.Unlock()
		for _, c := range all {
			c.close()
		}
		s.hs.Close()
	})
}

// afterFunc runs f after d unless the server is closed first.
func (s *Server) afterFunc(d time.Duration, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.closed:
		return
	default:
	}
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		s.mu.Lock()
		delete(s.timers, t)
		s.mu.Unlock()
		f()
	})
	s.timers[t] = struct{}{}
}

// bumpLocked wakes everyone blocked in a wait on s.changed. s.mu must be held.
func (s *Server) bumpLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// notifySubsLocked pokes subscribers without blocking. s.mu must be held.
func (s *Server) notifySubsLocked() {
	for _, ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Subscribe returns a channel (buffered 1) that receives a value after every
// recorded ack or message and every connection change. Sends never block, so
// several events may coalesce into one value.
func (s *Server) Subscribe() <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.subs = append(s.subs, ch)
	s.mu.Unlock()
	return ch
}

// Unsubscribe stops notifications on a channel returned by Subscribe.
func (s *Server) Unsubscribe(ch <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.subs {
		if (<-chan struct{})(c) == ch {
			s.subs = append(s.subs[:i], s.subs[i+1:]...)
			return
		}
	}
}

// waitFor blocks until cond (evaluated under s.mu) is true.
func (s *Server) waitFor(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok := cond()
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return ErrClosed
		}
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newUUID returns a random RFC 4122 version 4 UUID string.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// newTS returns a unique, increasing Slack message timestamp "sssss.uuuuuu".
func (s *Server) newTS() string {
	n := s.tsSeq.Add(1)
	now := time.Now()
	return fmt.Sprintf("%d.%06d", now.Unix(), n%1000000)
}

// writeJSON writes a Web API JSON answer.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
