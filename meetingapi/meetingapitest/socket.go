package meetingapitest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The meeting's event socket, as the vendor documents it (VENDOR-API.md):
//
//	GET /cms/open/websocket/confctl/increment/conn?confID=ID&tmpToken=T
//
// at the root of the fake's host (the token answer's wsURL is
// "ws://127.0.0.1:port"). T is a socket token from the wsToken call: one
// connection, within a minute. A bad T is refused before the upgrade (401),
// and so is a meeting that is not in progress. The client then subscribes:
//
//	{"action":"Subscribe","sequence":"…","data":{"conferenceID":"…",
//	 "subscribeType":["ParticipantsNotify","ConfDynamicInfoNotify","WaitingListNotify"],
//	 "confToken":"…"}}
//
// with data as an object or a JSON-encoded string, and confToken raw or
// "Basic base64(token)": the vendor's docs show each, so the fake takes
// all four. It answers {"action":"Subscribe","sequence":…,"data":
// {"returnCode":0,"returnDesc":"SUCCESS"}} and sends the full lists
// (msgMode 0), then each change as it happens (msgMode 1: a join carries
// the whole pinfoMap, a change only the keys that changed, a leave mode 1).
// ConfDynamicInfoNotify carries its fields at the top of the frame, as in
// the vendor's example, after every lock, mute, restriction or scheduled
// end change, and with state "Destroyed" when the meeting ends, after which
// the socket closes. HeartBeat frames are answered with the same sequence;
// a socket silent for the heartbeat timeout (180 s unless
// [WithSocketHeartbeatTimeout]) is closed.
//
// Faults: [Server.FailNext] with [EndpointSocket] refuses connections,
// [Server.RefuseSubscriptions] refuses subscriptions, [Server.DropSockets]
// cuts sockets without a close frame, [Server.StallSockets] makes them go
// quiet without closing.

// SocketPath is where the fake serves the event socket.
const SocketPath = "/cms/open/websocket/confctl/increment/conn"

// EndpointSocket is the event socket's upgrade request.
const EndpointSocket Endpoint = "socket"

// WithSocketHeartbeatTimeout sets how long a socket may stay silent before
// the fake closes it (default 180 s, as the vendor's server).
func WithSocketHeartbeatTimeout(d time.Duration) Option {
	return func(s *Server) {
		if d > 0 {
			s.heartbeatTimeout = d
		}
	}
}

// WithSocketDataAsString makes the fake send each notification's data as
// a JSON-encoded string rather than JSON, to check that a client reads
// both.
func WithSocketDataAsString() Option { return func(s *Server) { s.dataAsString = true } }

// Subscription is a subscribe frame the fake received.
type Subscription struct {
	ConferenceID  string   // from the URL
	Types         []string // subscribeType
	DataForm      string   // "object" or "string"
	ConfTokenForm string   // "raw" or "basic"
	Accepted      bool
}

// Subscriptions returns the subscribe frames received so far, oldest first.
func (s *Server) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Subscription, len(s.subscriptions))
	for i, sub := range s.subscriptions {
		sub.Types = append([]string(nil), sub.Types...)
		out[i] = sub
	}
	return out
}

// RefuseSubscriptions makes the next n subscriptions fail (returnCode 1),
// after which the fake closes their sockets.
func (s *Server) RefuseSubscriptions(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuseSubs = max(n, 0)
}

// Sockets returns how many sockets are subscribed to meeting id.
func (s *Server) Sockets(id string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.meetings[id]; m != nil {
		return len(m.subs)
	}
	return 0
}

// SocketConnections returns how many sockets the fake has accepted.
func (s *Server) SocketConnections() int { return int(s.socketConns.Load()) }

// SocketHeartbeats returns how many HeartBeat frames the fake has received.
func (s *Server) SocketHeartbeats() int { return int(s.heartbeats.Load()) }

// DropSockets cuts every socket subscribed to meeting id, without a close
// frame, as a network failure would, and returns how many.
func (s *Server) DropSockets(id string) int {
	socks := s.socketsOf(id)
	for _, sock := range socks {
		_ = sock.conn.UnderlyingConn().Close()
	}
	return len(socks)
}

// StallSockets makes every socket subscribed to meeting id go quiet: it
// stays open, but the fake sends nothing on it any more, heartbeat answers
// included. It returns how many.
func (s *Server) StallSockets(id string) int {
	socks := s.socketsOf(id)
	for _, sock := range socks {
		sock.stalled.Store(true)
	}
	return len(socks)
}

func (s *Server) socketsOf(id string) []*socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*socket
	for sock := range s.sockets {
		if sock.m != nil && sock.m.id == id {
			out = append(out, sock)
		}
	}
	return out
}

// closeSockets closes every socket, for Close: httptest does not track
// hijacked connections.
func (s *Server) closeSockets() {
	s.mu.Lock()
	socks := make([]*socket, 0, len(s.sockets))
	for sock := range s.sockets {
		socks = append(socks, sock)
	}
	s.mu.Unlock()
	for _, sock := range socks {
		sock.close()
	}
}

// socket is one accepted event socket.
type socket struct {
	s       *Server
	conn    *websocket.Conn
	confID  string
	out     chan outFrame
	done    chan struct{}
	once    sync.Once
	stalled atomic.Bool
	version atomic.Int64 // of incremental messages

	// Guarded by s.mu:
	m     *meeting // once subscribed
	sub   *subscriber
	types map[string]bool
}

type outFrame struct {
	b          []byte
	closeAfter bool // the meeting ended: close the socket once this is sent
}

// socketQueue bounds the frames waiting for a slow reader; a socket that
// falls that far behind is closed.
const socketQueue = 1024

var upgrader = websocket.Upgrader{
	HandshakeTimeout: 10 * time.Second,
	CheckOrigin:      func(*http.Request) bool { return true },
}

func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, CodeBadRequest, "method not allowed; use GET")
		return
	}
	q := r.URL.Query()
	confID, tmp := q.Get("confID"), q.Get("tmpToken")
	s.mu.Lock()
	t := s.wsTokens[tmp]
	delete(s.wsTokens, tmp) // one connection per token, whatever happens
	m := s.meetings[confID]
	switch {
	case confID == "" || tmp == "":
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, CodeBadRequest, "confID and tmpToken are required")
		return
	case t == nil || t.conferenceID != confID || !s.now().Before(t.expires):
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, CodeAuthFailed, "authentication failed: websocket token invalid or expired")
		return
	case m == nil:
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, CodeMeetingNotExist, "conference not exist")
		return
	case m.state != InProgress:
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, CodeMeetingEnded, "conference has ended")
		return
	}
	s.mu.Unlock()

	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	s.socketConns.Add(1)
	sock := &socket{s: s, conn: conn, confID: confID, out: make(chan outFrame, socketQueue), done: make(chan struct{})}
	s.mu.Lock()
	s.sockets[sock] = struct{}{}
	s.mu.Unlock()
	go sock.writeLoop()
	sock.readLoop()
}

func (sock *socket) readLoop() {
	defer sock.close()
	sock.conn.SetReadLimit(maxBody)
	for {
		_ = sock.conn.SetReadDeadline(time.Now().Add(sock.s.heartbeatTimeout))
		_, msg, err := sock.conn.ReadMessage()
		if err != nil {
			return // closed, cut, or silent for too long
		}
		var f map[string]json.RawMessage
		if json.Unmarshal(msg, &f) != nil {
			continue
		}
		var action, seq string
		_ = json.Unmarshal(f["action"], &action)
		_ = json.Unmarshal(f["sequence"], &seq)
		switch action {
		case "HeartBeat":
			sock.s.heartbeats.Add(1)
			sock.send(mustJSON(map[string]string{"action": "HeartBeat", "sequence": seq}))
		case "Subscribe":
			if !sock.subscribe(seq, f["data"]) {
				return
			}
		}
	}
}

// subscribe handles a subscribe frame; false closes the socket.
func (sock *socket) subscribe(seq string, raw json.RawMessage) bool {
	sub := Subscription{ConferenceID: sock.confID, DataForm: "object", ConfTokenForm: "raw"}
	var asString string
	if json.Unmarshal(raw, &asString) == nil {
		sub.DataForm, raw = "string", json.RawMessage(asString)
	}
	var data struct {
		ConferenceID  string   `json:"conferenceID"`
		SubscribeType []string `json:"subscribeType"`
		ConfToken     string   `json:"confToken"`
	}
	parsed := json.Unmarshal(raw, &data) == nil
	sub.Types = data.SubscribeType
	if len(data.ConfToken) > 6 && strings.EqualFold(data.ConfToken[:6], "basic ") {
		sub.ConfTokenForm = "basic"
	}

	s := sock.s
	s.mu.Lock()
	defer s.mu.Unlock()
	refuse := func(code int, desc string) bool {
		s.subscriptions = append(s.subscriptions, sub)
		sock.sendLocked(mustJSON(map[string]any{"action": "Subscribe", "sequence": seq,
			"data": map[string]any{"returnCode": code, "returnDesc": desc}}), true)
		return true // the writer closes the socket after the answer
	}
	m := s.meetings[sock.confID]
	switch {
	case s.refuseSubs > 0:
		s.refuseSubs--
		return refuse(1, "injected refusal")
	case !parsed || len(data.SubscribeType) == 0 || data.ConfToken == "":
		return refuse(2, "data must hold subscribeType and confToken")
	case data.ConferenceID != "" && data.ConferenceID != sock.confID:
		return refuse(2, "conferenceID differs from the connection's confID")
	case !s.validTokenLocked(data.ConfToken, sock.confID):
		return refuse(3, "confToken invalid or expired")
	case m == nil || m.state != InProgress:
		return refuse(4, "conference has ended")
	}
	sub.Accepted = true
	s.subscriptions = append(s.subscriptions, sub)
	sock.types = map[string]bool{}
	for _, t := range data.SubscribeType {
		sock.types[t] = true
	}
	sock.sendLocked(mustJSON(map[string]any{"action": "Subscribe", "sequence": seq,
		"data": map[string]any{"returnCode": 0, "returnDesc": "SUCCESS"}}), false)
	// The full lists, then every change: both under s.mu, so nothing is
	// missed or sent twice.
	sock.full(m)
	if sock.sub == nil {
		sock.m = m
		sock.sub = &subscriber{onChange: sock.push}
		if m.subs == nil {
			m.subs = map[*subscriber]struct{}{}
		}
		m.subs[sock.sub] = struct{}{}
	}
	return true
}

// full sends the complete lists and the meeting's state. s.mu is held.
func (sock *socket) full(m *meeting) {
	if sock.types["ParticipantsNotify"] {
		data := make([]notifyEntry, 0, len(m.people))
		for _, p := range m.people {
			data = append(data, notifyEntry{PID: p.pid, Mode: 0, PInfo: m.pinfo(p, nil)})
		}
		sock.sendLocked(sock.notification(m, "ParticipantsNotify", true, data), false)
	}
	if sock.types["WaitingListNotify"] {
		data := make([]notifyEntry, 0, len(m.waiting))
		for _, p := range m.waiting {
			data = append(data, notifyEntry{PID: p.pid, Mode: 0, PInfo: m.pinfo(p, nil)})
		}
		sock.sendLocked(sock.notification(m, "WaitingListNotify", true, data), false)
	}
	if sock.types["ConfDynamicInfoNotify"] {
		sock.sendLocked(sock.confInfo(m), false)
	}
}

// push turns one change of the meeting into frames. s.mu is held.
func (sock *socket) push(m *meeting, c change) {
	entry := func(p *person, mode int, keys []string) []notifyEntry {
		e := notifyEntry{PID: c.pid, Mode: mode, PInfo: map[string]string{}}
		if p != nil {
			e.PInfo = m.pinfo(p, keys)
		}
		return []notifyEntry{e}
	}
	people, waiting := sock.types["ParticipantsNotify"], sock.types["WaitingListNotify"]
	switch {
	case c.kind == joined && people:
		sock.sendLocked(sock.notification(m, "ParticipantsNotify", false, entry(m.participant(c.pid), 0, nil)), false)
	case c.kind == left && people:
		sock.sendLocked(sock.notification(m, "ParticipantsNotify", false, entry(nil, 1, nil)), false)
	case c.kind == changed && people:
		sock.sendLocked(sock.notification(m, "ParticipantsNotify", false, entry(m.participant(c.pid), 0, c.keys)), false)
	case c.kind == waitingJoined && waiting:
		sock.sendLocked(sock.notification(m, "WaitingListNotify", false, entry(m.waiter(c.pid), 0, nil)), false)
	case c.kind == waitingLeft && waiting:
		sock.sendLocked(sock.notification(m, "WaitingListNotify", false, entry(nil, 1, nil)), false)
	case c.kind == waitingAdmitted && waiting:
		admitted := []notifyEntry{{PID: c.pid, Mode: 0, PInfo: map[string]string{"WAITINGSTATE": "1"}}}
		sock.sendLocked(sock.notification(m, "WaitingListNotify", false, admitted), false)
		sock.sendLocked(sock.notification(m, "WaitingListNotify", false, entry(nil, 1, nil)), false)
	case c.kind == confChanged && sock.types["ConfDynamicInfoNotify"]:
		sock.sendLocked(sock.confInfo(m), false)
	case c.kind == ended:
		sock.sendLocked(sock.confInfo(m), true)
		delete(m.subs, sock.sub)
	}
}

type notifyEntry struct {
	PID   string            `json:"pid"`
	Mode  int               `json:"mode"`
	PInfo map[string]string `json:"pinfoMap"`
}

// notification is a ParticipantsNotify or WaitingListNotify frame.
func (sock *socket) notification(m *meeting, action string, full bool, data []notifyEntry) []byte {
	now := sock.s.now().UnixMilli()
	mode, version := 1, sock.version.Add(1)
	if full {
		mode, version = 0, now
	}
	var payload any = data
	if sock.s.dataAsString {
		payload = string(mustJSON(data))
	}
	return mustJSON(map[string]any{
		"action": action, "version": version, "createTime": now, "msgID": randomHex(16),
		"msgMode": mode, "confID": m.id, "data": payload,
	})
}

// confInfo is a ConfDynamicInfoNotify frame, fields at the top as in the
// vendor's example.
func (sock *socket) confInfo(m *meeting) []byte {
	now := sock.s.now().UnixMilli()
	state := "Created"
	if m.state == Ended {
		state = "Destroyed"
	}
	return mustJSON(map[string]any{
		"action": "ConfDynamicInfoNotify", "version": now, "createTime": now, "msgID": randomHex(16), "msgMode": 0,
		"confID": m.id, "state": state, "endTime": strconv.FormatInt(m.scheduledEnd.UnixMilli(), 10),
		"lock": flag(m.locked), "mute": flag(m.mutedAll), "canUnmute": flag(m.canUnmute),
		"callInRestriction": m.restriction, "waitingRoomState": flag(m.waitingRoom), "mode": "FREE",
	})
}

func (sock *socket) send(b []byte) {
	sock.s.mu.Lock()
	defer sock.s.mu.Unlock()
	sock.sendLocked(b, false)
}

// sendLocked queues a frame without blocking; a socket whose reader has
// fallen too far behind is closed.
func (sock *socket) sendLocked(b []byte, closeAfter bool) {
	select {
	case sock.out <- outFrame{b: b, closeAfter: closeAfter}:
	case <-sock.done:
	default:
		go sock.close()
	}
}

func (sock *socket) writeLoop() {
	for {
		select {
		case <-sock.done:
			return
		case f := <-sock.out:
			if !sock.stalled.Load() {
				_ = sock.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if sock.conn.WriteMessage(websocket.TextMessage, f.b) != nil {
					sock.close()
					return
				}
			}
			if f.closeAfter {
				_ = sock.conn.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"), time.Now().Add(time.Second))
				sock.close()
				return
			}
		}
	}
}

func (sock *socket) close() {
	sock.once.Do(func() {
		s := sock.s
		s.mu.Lock()
		delete(s.sockets, sock)
		if sock.m != nil && sock.sub != nil {
			delete(sock.m.subs, sock.sub)
		}
		s.mu.Unlock()
		close(sock.done)
		_ = sock.conn.Close()
	})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("meetingapitest: " + err.Error()) // our own maps and structs always marshal
	}
	return b
}
