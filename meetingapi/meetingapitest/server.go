// Package meetingapitest is an in-process fake of the Huawei Cloud Meeting
// control endpoints that package meetingapi calls, for tests, benchmarks and
// the sandbox. It follows the vendor's documentation and what the official
// SDK sends (paths, methods, field names and integer flags from the SDK's
// meeting_meta.go and model files), keeps a model of each meeting (who is
// in it, the waiting room, lock, mute, join restriction, scheduled end),
// records every call, and can inject faults and latency. It listens on
// 127.0.0.1 only.
//
// Endpoints, under an optional base path; all but the token GET need
// X-Conference-Authorization, and all take ?conferenceID=ID:
//
//	GET  …/token            X-Password + X-Login-Type: 1 -> a new control token
//	                        X-Conference-Authorization (keep-alive) -> a new token
//	PUT  …/lock             {"isLock":0|1}
//	GET  …/realTimeInfo     -> {"participants":[…],"attendees":[…],"confInfo":{…}}
//	POST …/participants/delete        {"bulkHangUpParticipants":[pid,…]}
//	PUT  …/mute             {"isMute":0|1,"allowUnmuteByOneself":0|1}
//	PUT  …/participants/mute?participantID=pid  {"isMute":0|1}
//	PUT  …/moveToWaitingRoom          {"participantID":pid}
//	PUT  …/batchMoveToWaitingRoom     {"batchParticipants":[pid,…]}
//	PUT  …/allowWaitingParticipant    {"participantID":pid} or {"allowAll":true}
//	PUT  …/updateStartedConfConfig    {"callInRestriction":0|2|3,"isLock":0|1,…}
//	PUT  …/stop             no body
//	PUT  …/duration         {"auto":0|1,"duration":minutes}
//	GET  …/wsToken          -> {"webSocketToken":"…"} (one use, one minute)
//	GET  /cms/open/websocket/confctl/increment/conn?confID=ID&tmpToken=T
//	                        the meeting's event socket (see socket.go)
//
// (… is /v1/mmc/control/conferences.) Control tokens are accepted raw or as
// "Basic base64(token)", and only for the meeting they were issued for.
// Bodies must be one JSON object with the documented fields only, integer
// flags as JSON integers.
//
// Errors always carry both error_code and error_msg (the SDK ignores a body
// with either missing) and every response has a unique X-Request-Id:
//
//	400 MMC.111070005  unknown meeting
//	400 MMC.111072065  wrong or missing host password
//	400 MMC.111072005  meeting not started (tokens only while in progress)
//	400 MMC.111072006  meeting ended
//	400 MMC.111070001  bad request: missing conferenceID or X-Login-Type,
//	                   wrong Content-Type, bad JSON, a missing, unknown or
//	                   out-of-range field, a participant who is not there,
//	                   a waiting-room call where the meeting has none
//	                   (a stand-in: the vendor documents no code for these;
//	                   error_msg says which)
//	401 MMC.111070004  control token missing, unknown, expired or for
//	                   another meeting ("authentication failed")
//	404 APIGW.0101     no such endpoint (the vendor's API gateway code)
//	405 MMC.111070001  wrong method for the endpoint
package meetingapitest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Error codes the fake answers with.
const (
	CodeMeetingNotExist = "MMC.111070005"
	CodeWrongPassword   = "MMC.111072065"
	CodeNotStarted      = "MMC.111072005"
	CodeMeetingEnded    = "MMC.111072006"
	CodeBadRequest      = "MMC.111070001"
	CodeAuthFailed      = "MMC.111070004"
	CodeNoSuchAPI       = "APIGW.0101"
)

// Paths of the endpoints, relative to the base path.
const (
	TokenPath                  = "/v1/mmc/control/conferences/token"
	LockPath                   = "/v1/mmc/control/conferences/lock"
	RealTimeInfoPath           = "/v1/mmc/control/conferences/realTimeInfo"
	HangUpPath                 = "/v1/mmc/control/conferences/participants/delete"
	MuteAllPath                = "/v1/mmc/control/conferences/mute"
	MuteParticipantPath        = "/v1/mmc/control/conferences/participants/mute"
	MoveToWaitingRoomPath      = "/v1/mmc/control/conferences/moveToWaitingRoom"
	BatchMoveToWaitingRoomPath = "/v1/mmc/control/conferences/batchMoveToWaitingRoom"
	AdmitPath                  = "/v1/mmc/control/conferences/allowWaitingParticipant"
	StartedConfConfigPath      = "/v1/mmc/control/conferences/updateStartedConfConfig"
	StopPath                   = "/v1/mmc/control/conferences/stop"
	ProlongPath                = "/v1/mmc/control/conferences/duration"
	WebSocketTokenPath         = "/v1/mmc/control/conferences/wsToken"
)

// State is where a meeting is in its life.
type State int

const (
	InProgress State = iota // tokens and controls work
	NotStarted              // scheduled, not started: MMC.111072005
	Ended                   // over: MMC.111072006
)

func (s State) String() string {
	switch s {
	case InProgress:
		return "in progress"
	case NotStarted:
		return "not started"
	case Ended:
		return "ended"
	}
	return "State(" + strconv.Itoa(int(s)) + ")"
}

// Endpoint names one of the fake's endpoints.
type Endpoint string

const (
	EndpointToken                  Endpoint = "token" // the control-token GET (also keep-alive)
	EndpointLock                   Endpoint = "lock"  // the lock PUT
	EndpointRealTimeInfo           Endpoint = "realTimeInfo"
	EndpointHangUp                 Endpoint = "hangUp"
	EndpointMuteAll                Endpoint = "muteAll"
	EndpointMuteParticipant        Endpoint = "muteParticipant"
	EndpointMoveToWaitingRoom      Endpoint = "moveToWaitingRoom"
	EndpointBatchMoveToWaitingRoom Endpoint = "batchMoveToWaitingRoom"
	EndpointAdmit                  Endpoint = "allowWaitingParticipant"
	EndpointStartedConfConfig      Endpoint = "updateStartedConfConfig"
	EndpointStop                   Endpoint = "stop"
	EndpointProlong                Endpoint = "duration"
	EndpointWebSocketToken         Endpoint = "wsToken"
)

// Call is one request the fake received. Endpoint is "" for a path the fake
// does not serve.
type Call struct {
	Endpoint Endpoint
	Method   string
	Path     string // the full path, base path included
	Query    url.Values
	Header   http.Header
	Body     []byte
	At       time.Time
}

// Option configures a [Server].
type Option func(*Server)

// WithBasePath mounts the endpoints under p, like "/mmc-prefix", so a client
// that builds absolute paths is caught.
func WithBasePath(p string) Option {
	return func(s *Server) {
		p = strings.Trim(p, "/")
		if p != "" {
			p = "/" + p
		}
		s.basePath = p
	}
}

// WithTokenLifetime sets how long an issued token lives (default 30 min).
func WithTokenLifetime(d time.Duration) Option {
	return func(s *Server) {
		if d > 0 {
			s.lifetime = d
		}
	}
}

// WithClock sets the clock used for token expiry, join times and scheduled
// ends (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(s *Server) {
		if now != nil {
			s.now = now
		}
	}
}

type token struct {
	conferenceID string
	expires      time.Time
}

type fault struct {
	n      int
	status int
	code   string
}

// Server is the fake. All methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to give the client: scheme, host and base path,
	// without a trailing slash.
	URL string

	srv      *httptest.Server
	basePath string
	lifetime time.Duration
	now      func() time.Time
	nonce    string
	routes   map[string]*endpoint // by full path

	reqSeq      atomic.Uint64
	conns       atomic.Int64
	socketConns atomic.Int64
	heartbeats  atomic.Int64

	heartbeatTimeout time.Duration // of the event socket
	dataAsString     bool          // notifications' data as a JSON string

	mu       sync.Mutex
	meetings map[string]*meeting
	tokens   map[string]*token
	wsTokens map[string]*token // one-use event-socket tokens
	calls    []Call
	faults   map[Endpoint]*fault
	latency  time.Duration
	issued   int

	sockets       map[*socket]struct{}
	subscriptions []Subscription
	refuseSubs    int
}

// NewServer starts a fake on 127.0.0.1 with a random port. Close it when done.
func NewServer(opts ...Option) *Server {
	s := &Server{
		lifetime: 30 * time.Minute,
		now:      time.Now,
		nonce:    randomHex(4),
		meetings: map[string]*meeting{},
		tokens:   map[string]*token{},
		wsTokens: map[string]*token{},
		faults:   map[Endpoint]*fault{},
		sockets:  map[*socket]struct{}{},

		heartbeatTimeout: 180 * time.Second,
	}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	s.routes = map[string]*endpoint{}
	for _, e := range endpoints {
		s.routes[s.basePath+e.path] = e
	}
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	s.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.srv.Start()
	s.URL = s.srv.URL + s.basePath
	return s
}

// Close shuts the server down, event sockets included.
func (s *Server) Close() {
	s.closeSockets()
	s.srv.Close()
}

// Calls returns a copy of the calls received so far, oldest first.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Call, len(s.calls))
	for i, c := range s.calls {
		c.Query = cloneValues(c.Query)
		c.Header = c.Header.Clone()
		c.Body = append([]byte(nil), c.Body...)
		out[i] = c
	}
	return out
}

// CallCount returns how many calls ep received.
func (s *Server) CallCount(ep Endpoint) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.calls {
		if c.Endpoint == ep {
			n++
		}
	}
	return n
}

// ResetCalls forgets the recorded calls.
func (s *Server) ResetCalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = nil
}

// FailNext makes the next n responses of ep fail with status and the body
// {"error_code":code,"error_msg":"injected fault"}, whatever the request,
// without changing the meeting. A 429 also carries Retry-After: 1. n <= 0
// cancels a pending fault.
func (s *Server) FailNext(ep Endpoint, n int, status int, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n <= 0 {
		delete(s.faults, ep)
		return
	}
	s.faults[ep] = &fault{n: n, status: status, code: code}
}

// SetLatency delays every response by d; a request whose context ends
// first gets no answer (and changes nothing).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// ExpireTokens makes every control token issued so far invalid (401).
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// Connections returns how many TCP connections the server has accepted.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// TokensIssued returns how many tokens the server has issued (password and
// keep-alive).
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

const maxBody = 64 << 10

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Request-Id", s.nonce+strconv.FormatUint(s.reqSeq.Add(1), 16))
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))

	e := s.routes[r.URL.Path]
	ep := Endpoint("")
	switch {
	case e != nil:
		ep = e.name
	case r.URL.Path == SocketPath:
		ep = EndpointSocket
	}

	s.mu.Lock()
	s.calls = append(s.calls, Call{
		Endpoint: ep, Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
		Header: r.Header.Clone(), Body: body, At: s.now(),
	})
	latency := s.latency
	var forced *fault
	if f := s.faults[ep]; ep != "" && f != nil {
		forced = &fault{status: f.status, code: f.code}
		if f.n--; f.n <= 0 {
			delete(s.faults, ep)
		}
	}
	s.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case forced != nil:
		if forced.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, forced.status, forced.code, "injected fault")
	case ep == EndpointSocket:
		s.serveSocket(w, r)
	case e == nil:
		writeError(w, http.StatusNotFound, CodeNoSuchAPI, "the API does not exist or has not been published")
	case e.name == EndpointToken:
		s.serveToken(w, r)
	default:
		s.serveControl(w, r, e, body)
	}
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, CodeBadRequest, "method not allowed; use GET")
		return
	}
	id := r.URL.Query().Get("conferenceID")
	if id == "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "conferenceID is required")
		return
	}
	if r.Header.Get("X-Login-Type") != "1" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "X-Login-Type must be 1")
		return
	}
	auth := r.Header.Get("X-Conference-Authorization")

	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meetings[id]
	if auth != "" {
		// Keep-alive: the live token stands in for the password.
		if !s.validTokenLocked(auth, id) {
			writeError(w, http.StatusUnauthorized, CodeAuthFailed, "authentication failed: control token invalid or expired")
			return
		}
	}
	switch {
	case !ok:
		writeError(w, http.StatusBadRequest, CodeMeetingNotExist, "conference not exist")
		return
	case auth == "" && (m.password == "" || r.Header.Get("X-Password") != m.password):
		writeError(w, http.StatusBadRequest, CodeWrongPassword, "conference not found or password error")
		return
	case m.state == Ended:
		writeError(w, http.StatusBadRequest, CodeMeetingEnded, "conference has ended")
		return
	case m.state == NotStarted:
		writeError(w, http.StatusBadRequest, CodeNotStarted, "conference not started or already ended")
		return
	}

	tok := randomHex(24)
	now := s.now()
	exp := now.Add(s.lifetime)
	s.tokens[tok] = &token{conferenceID: id, expires: exp}
	s.issued++
	writeJSON(w, http.StatusOK, tokenResponse{
		Data: tokenData{
			Token:               tok,
			ExpireTime:          exp.UnixMilli(),
			ConfTokenExpireTime: int64(s.lifetime / time.Second),
			Role:                1,
			TmpWsToken:          randomHex(16),
			WsURL:               "ws://" + s.srv.Listener.Addr().String(),
			UserID:              "fake-user",
			OrgID:               m.orgID,
			VMRCurrentConfID:    id,
			SupportNotifyType:   []string{"ConfBasicInfoNotify", "ConfDynamicInfoNotify", "ParticipantsNotify", "WaitingListNotify"},
		},
		AddressToken:   randomHex(16),
		GloablPublicIP: "127.0.0.1",
	})
}

// reply is a control endpoint's answer: an error (code set), or 200 with
// answer as JSON (nil: an empty body).
type reply struct {
	status    int
	code, msg string
	answer    any
}

func ok(answer any) reply { return reply{status: http.StatusOK, answer: answer} }

func badRequest(format string, args ...any) reply {
	return reply{status: http.StatusBadRequest, code: CodeBadRequest, msg: fmt.Sprintf(format, args...)}
}

// serveControl runs the checks every control call shares, in the order the
// vendor's gateway would (method, query, credential, body), then e.handle
// with s.mu held and the meeting in progress.
func (s *Server) serveControl(w http.ResponseWriter, r *http.Request, e *endpoint, body []byte) {
	if r.Method != e.method {
		w.Header().Set("Allow", e.method)
		writeError(w, http.StatusMethodNotAllowed, CodeBadRequest, "method not allowed; use "+e.method)
		return
	}
	q := r.URL.Query()
	id := q.Get("conferenceID")
	if id == "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "conferenceID is required")
		return
	}
	auth := r.Header.Get("X-Conference-Authorization")
	if auth == "" {
		writeError(w, http.StatusUnauthorized, CodeAuthFailed, "authentication failed: X-Conference-Authorization is required")
		return
	}
	var f fields
	if e.fields != nil {
		if mt, _, err := mimeType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "Content-Type must be application/json")
			return
		}
		var problem string
		if f, problem = parseObject(body, e.fields); problem != "" {
			writeError(w, http.StatusBadRequest, CodeBadRequest, problem)
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.validTokenLocked(auth, id) {
		writeError(w, http.StatusUnauthorized, CodeAuthFailed, "authentication failed: control token invalid or expired")
		return
	}
	m, found := s.meetings[id]
	switch {
	case !found:
		writeError(w, http.StatusBadRequest, CodeMeetingNotExist, "conference not exist")
		return
	case m.state == Ended:
		writeError(w, http.StatusBadRequest, CodeMeetingEnded, "conference has ended")
		return
	case m.state == NotStarted:
		writeError(w, http.StatusBadRequest, CodeNotStarted, "conference not started or already ended")
		return
	}
	rep := e.handle(s, m, q, f)
	switch {
	case rep.code != "":
		writeError(w, rep.status, rep.code, rep.msg)
	case rep.answer != nil:
		writeJSON(w, http.StatusOK, rep.answer)
	default:
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
	}
}

// validTokenLocked checks a raw or "Basic base64(token)" credential for
// meeting id. s.mu must be held.
func (s *Server) validTokenLocked(auth, id string) bool {
	t, tok := s.lookupLocked(s.tokens, auth)
	if t == nil || t.conferenceID != id {
		return false
	}
	if !s.now().Before(t.expires) {
		delete(s.tokens, tok)
		return false
	}
	return true
}

// lookupLocked finds a raw or "Basic base64(token)" credential in tokens.
func (s *Server) lookupLocked(tokens map[string]*token, auth string) (*token, string) {
	tok := auth
	if len(auth) > 6 && strings.EqualFold(auth[:6], "basic ") {
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(auth[6:]))
		if err != nil {
			return nil, ""
		}
		tok = string(dec)
	}
	return tokens[tok], tok
}

type tokenData struct {
	Token               string   `json:"token"`
	ExpireTime          int64    `json:"expireTime"`
	ConfTokenExpireTime int64    `json:"confTokenExpireTime"`
	Role                int      `json:"role"`
	TmpWsToken          string   `json:"tmpWsToken"`
	WsURL               string   `json:"wsURL"`
	UserID              string   `json:"userID"`
	OrgID               string   `json:"orgID"`
	VMRCurrentConfID    string   `json:"vmrCurrentConfID"`
	SupportNotifyType   []string `json:"supportNotifyType"`
}

type tokenResponse struct {
	Data           tokenData `json:"data"`
	AddressToken   string    `json:"addressToken"`
	GloablPublicIP string    `json:"gloablPublicIP"` // sic, as the vendor spells it
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, struct {
		Code    string `json:"error_code"`
		Message string `json:"error_msg"`
	}{code, msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("meetingapitest: %v", err)) // our own types always marshal
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func cloneValues(v url.Values) url.Values {
	if v == nil {
		return nil
	}
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
