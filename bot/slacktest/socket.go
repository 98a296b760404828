package slacktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// conn is one live Socket Mode WebSocket.
type conn struct {
	s   *Server
	ws  *websocket.Conn
	wmu sync.Mutex // serializes data-frame writes (WriteControl is concurrency-safe)
	// retired is set, under wmu, when the socket is told to go away: no
	// envelope may follow the disconnect frame on the wire.
	retired bool
	done    chan struct{}
	once    sync.Once
}

// delivery is one write of an envelope on a socket. Times are nanoseconds
// since Server.epoch on the monotonic clock; 0 means "not yet".
type delivery struct {
	start atomic.Int64
	done  atomic.Int64
	conn  *conn // the socket it was written to
}

type envelope struct {
	id         string
	typ        string
	raw        []byte // the exact frame, reused verbatim by Redeliver
	triggerID  string
	sent       bool
	firstSent  time.Time // first successful write (trigger and response_url clocks)
	deliveries []*delivery
	ackIdx     int // index into Server.acks of the first ack, -1 if none
	ackCh      chan struct{}
	msgIdx     []int // indexes into Server.msgs
	msgCh      chan struct{}
	posts      int // successful response_url posts
	trigUsed   bool
}

// Ack is one acknowledgement frame read from a socket.
type Ack struct {
	EnvelopeID string
	// Payload is nil when the ack had no payload. "payload":{} and
	// "payload":null are treated the same way (the Node SDK sends {}).
	Payload json.RawMessage
	// Latency runs from the envelope's write completing (its latest delivery
	// started before the ack) to the ack being read, on the monotonic clock.
	// It is > 0 for envelopes this server sent, 0 for unknown envelope ids.
	// If the ack is read before the writer stamped "write done" (a scheduling
	// race), the write's start is used instead.
	Latency time.Duration
	At      time.Time
	// Size is the byte length of the ack frame. Frames of MaxAckSize (20480)
	// bytes or more are recorded with Dropped=true: Slack ignores them.
	Size    int
	Dropped bool
}

// SlashCommand describes a slash command invocation. Empty fields get
// defaults: team from WithTeam, channel "C0TEST"/"general", user
// "U0ALICE"/"alice", command "/meeting".
type SlashCommand struct {
	TeamID, TeamDomain     string
	ChannelID, ChannelName string
	UserID, UserName       string
	Command, Text          string
}

// EnvelopeInfo is what the fake assigns to an envelope before it is built.
type EnvelopeInfo struct {
	ID          string
	ResponseURL string
	TriggerID   string
}

// slashPayload has exactly the fields Slack sends over Socket Mode.
type slashPayload struct {
	Token               string `json:"token"`
	TeamID              string `json:"team_id"`
	TeamDomain          string `json:"team_domain"`
	EnterpriseID        string `json:"enterprise_id,omitempty"`
	EnterpriseName      string `json:"enterprise_name,omitempty"`
	ChannelID           string `json:"channel_id"`
	ChannelName         string `json:"channel_name"`
	UserID              string `json:"user_id"`
	UserName            string `json:"user_name"`
	Command             string `json:"command"`
	Text                string `json:"text"`
	APIAppID            string `json:"api_app_id"`
	IsEnterpriseInstall string `json:"is_enterprise_install"` // the string "false" or "true", as Slack sends it
	ResponseURL         string `json:"response_url"`
	TriggerID           string `json:"trigger_id"`
}

type envelopeFrame struct {
	EnvelopeID             string `json:"envelope_id"`
	Type                   string `json:"type"`
	Payload                any    `json:"payload"`
	AcceptsResponsePayload bool   `json:"accepts_response_payload"`
}

var epoch = time.Now()

func sinceEpoch(t time.Time) int64 { return int64(t.Sub(epoch)) }

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 32 * 1024, // single frames for anything under Slack's limits
	// slack-go sends "Origin: https://api.slack.com"; the default check would 403.
	CheckOrigin: func(*http.Request) bool { return true },
}

// handleLink serves the WebSocket URL handed out by apps.connections.open.
func (s *Server) handleLink(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	ok := ticket != "" && s.tickets[ticket]
	delete(s.tickets, ticket) // single use
	s.mu.Unlock()
	if !ok {
		http.Error(w, "invalid or used ticket", http.StatusUnauthorized)
		return
	}
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade already answered
	}
	ws.SetReadLimit(8 << 20)
	c := &conn{s: s, ws: ws, done: make(chan struct{})}

	s.mu.Lock()
	select {
	case <-s.closed:
		s.mu.Unlock()
		_ = ws.Close()
		return
	default:
	}
	s.allConns[c] = struct{}{}
	s.opened++
	n := len(s.conns) + 1
	s.mu.Unlock()

	hello, _ := json.Marshal(map[string]any{
		"type":            "hello",
		"num_connections": n,
		"connection_info": map[string]any{"app_id": s.appID},
		"debug_info": map[string]any{
			"host":                        "fake",
			"build_number":                1,
			"approximate_connection_time": 18060,
		},
	})
	if err := c.writeText(hello, nil); err != nil {
		c.close()
		return
	}
	s.mu.Lock()
	select {
	case <-c.done:
		// closed while saying hello (e.g. Server.Close)
	default:
		s.conns = append(s.conns, c)
	}
	s.bumpLocked()
	s.notifySubsLocked()
	s.mu.Unlock()

	go c.pinger(s.pingInterval)
	go c.reader()
}

// writeText writes one text frame; d (optional) gets start/done stamps.
// errRetired: the socket was told to go away before this envelope's turn.
var errRetired = errors.New("slacktest: socket retired")

func (c *conn) writeText(b []byte, d *delivery) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if d != nil && c.retired {
		return errRetired
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if d != nil {
		d.start.Store(sinceEpoch(time.Now()))
	}
	err := c.ws.WriteMessage(websocket.TextMessage, b)
	if d != nil && err == nil {
		d.done.Store(sinceEpoch(time.Now()))
	}
	return err
}

func (c *conn) pinger(every time.Duration) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-t.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)); err != nil {
				c.close()
				return
			}
		}
	}
}

func (c *conn) reader() {
	defer c.close()
	for {
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		at := time.Now()
		if mt != websocket.TextMessage {
			continue
		}
		c.s.recordAck(data, at)
	}
}

// close drops the socket without a close frame.
func (c *conn) close() {
	c.once.Do(func() {
		close(c.done)
		_ = c.ws.Close()
		s := c.s
		s.mu.Lock()
		s.removeRoutableLocked(c)
		delete(s.allConns, c)
		s.bumpLocked()
		s.notifySubsLocked()
		var orphans []*envelope
		if s.redeliverUnacked {
			orphans = s.unackedOnLocked(c)
		}
		s.mu.Unlock()
		for _, e := range orphans {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				_ = s.deliver(ctx, e)
			}()
		}
	})
}

// unackedOnLocked lists the envelopes whose latest delivery went to c and
// that have no ack yet.
func (s *Server) unackedOnLocked(c *conn) []*envelope {
	var out []*envelope
	for _, e := range s.envs {
		if e.ackIdx < 0 && len(e.deliveries) > 0 && e.deliveries[len(e.deliveries)-1].conn == c {
			out = append(out, e)
		}
	}
	return out
}

// closeGracefully sends a close frame, then drops the socket.
func (c *conn) closeGracefully() {
	_ = c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.close()
}

func (s *Server) removeRoutableLocked(c *conn) {
	for i, x := range s.conns {
		if x == c {
			s.conns = append(s.conns[:i:i], s.conns[i+1:]...)
			return
		}
	}
}

// Connections is the number of live sockets that receive envelopes (hello
// sent, not closed, not told to go away with refresh_requested/link_disabled).
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// ConnectionsOpened is the total number of apps.connections.open URLs that
// were dialled successfully (WebSocket upgraded).
func (s *Server) ConnectionsOpened() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opened
}

// WaitConnections waits until at least n sockets are live (see Connections).
func (s *Server) WaitConnections(ctx context.Context, n int) error {
	return s.waitFor(ctx, func() bool { return len(s.conns) >= n })
}

// WaitConnectionsOpened waits until ConnectionsOpened reaches n.
func (s *Server) WaitConnectionsOpened(ctx context.Context, n int) error {
	return s.waitFor(ctx, func() bool { return s.opened >= n })
}

// SendDisconnect sends {"type":"disconnect","reason":reason,"debug_info":{"host":"fake"}}
// on every live socket. For "warning" the sockets keep receiving envelopes and
// are closed after WithWarningGrace (default 200ms); for any other reason
// ("refresh_requested", "link_disabled") they stop receiving envelopes at once
// and are closed after WithRefreshGrace (default 50ms).
func (s *Server) SendDisconnect(reason string) {
	s.mu.Lock()
	targets := append([]*conn(nil), s.conns...)
	s.mu.Unlock()
	s.sendDisconnect(reason, targets)
}

// SendDisconnectOne sends a disconnect frame to the oldest live socket only,
// as Slack does when one connection's time is up, and reports whether there
// was one.
func (s *Server) SendDisconnectOne(reason string) bool {
	target := s.oldestConn()
	if target != nil {
		s.sendDisconnect(reason, []*conn{target})
	}
	return target != nil
}

// oldestConn is the longest-lived routable socket, or nil.
func (s *Server) oldestConn() *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.conns) == 0 {
		return nil
	}
	return s.conns[0]
}

func (s *Server) sendDisconnect(reason string, targets []*conn) {
	frame, _ := json.Marshal(map[string]any{
		"type":       "disconnect",
		"reason":     reason,
		"debug_info": map[string]any{"host": "fake"},
	})
	s.mu.Lock()
	grace := s.warningGrace
	if reason != "warning" {
		grace = s.refreshGrace
		// Slack routes nothing more to a socket it asked to go away.
		s.conns = slices.DeleteFunc(s.conns, func(c *conn) bool { return slices.Contains(targets, c) })
		s.bumpLocked()
	}
	s.mu.Unlock()
	for _, c := range targets {
		c.wmu.Lock()
		if reason != "warning" {
			c.retired = true
		}
		c.wmu.Unlock()
		if err := c.writeText(frame, nil); err != nil {
			c.close()
		}
	}
	s.afterFunc(grace, func() {
		for _, c := range targets {
			c.closeGracefully()
		}
	})
}

// DropOneConnection closes the oldest live socket abruptly, without any
// frame, and reports whether there was one.
func (s *Server) DropOneConnection() bool {
	target := s.oldestConn()
	if target != nil {
		target.close()
	}
	return target != nil
}

// DropConnections closes every socket abruptly, without any frame.
func (s *Server) DropConnections() {
	s.mu.Lock()
	all := make([]*conn, 0, len(s.allConns))
	for c := range s.allConns {
		all = append(all, c)
	}
	s.mu.Unlock()
	for _, c := range all {
		c.close()
	}
}

// getEnvLocked returns the state for id, creating it if needed (so WaitAck
// and WaitMessages may be called for envelopes not seen yet).
func (s *Server) getEnvLocked(id string) *envelope {
	e := s.envs[id]
	if e == nil {
		e = &envelope{id: id, ackIdx: -1, ackCh: make(chan struct{}), msgCh: make(chan struct{})}
		s.envs[id] = e
	}
	return e
}

func (s *Server) newTriggerID() string {
	return fmt.Sprintf("%d.%d.%s", time.Now().Unix(), 1000000000+s.idSeq.Add(1), randHex(16))
}

// ResponseURL returns the per-envelope response_url: URL()+"/response/"+id.
func (s *Server) ResponseURL(envelopeID string) string {
	return s.hs.URL + "/response/" + envelopeID
}

// TriggerID returns the trigger_id assigned to an envelope ("" if unknown).
func (s *Server) TriggerID(envelopeID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.envs[envelopeID]; e != nil {
		return e.triggerID
	}
	return ""
}

// SendSlashCommand delivers a slash_commands envelope whose payload has
// exactly Slack's fields (is_enterprise_install is the string "false", or
// "true" for an org-wide install; enterprise_id and enterprise_name are
// there only in an Enterprise org). TeamID may name another workspace than
// the fake's, as for a member of another team typing in a shared channel.
func (s *Server) SendSlashCommand(ctx context.Context, c SlashCommand) (string, error) {
	def(&c.TeamID, s.teamID)
	def(&c.TeamDomain, s.teamDomain)
	def(&c.ChannelID, "C0TEST")
	def(&c.ChannelName, "general")
	def(&c.UserID, "U0ALICE")
	def(&c.UserName, "alice")
	def(&c.Command, "/meeting")
	return s.SendEnvelopeFunc(ctx, "slash_commands", func(e EnvelopeInfo) any {
		return slashPayload{
			Token:               VerificationToken,
			TeamID:              c.TeamID,
			TeamDomain:          c.TeamDomain,
			EnterpriseID:        s.enterpriseID,
			EnterpriseName:      s.enterpriseName,
			ChannelID:           c.ChannelID,
			ChannelName:         c.ChannelName,
			UserID:              c.UserID,
			UserName:            c.UserName,
			Command:             c.Command,
			Text:                c.Text,
			APIAppID:            s.appID,
			IsEnterpriseInstall: fmt.Sprint(s.orgWide),
			ResponseURL:         e.ResponseURL,
			TriggerID:           e.TriggerID,
		}
	})
}

// SendEnvelope sends {"envelope_id":<uuid>,"type":typ,"payload":payload,
// "accepts_response_payload":true} on one live socket (round-robin), waiting
// up to ctx for one to be live. The caller fills the payload's fields; use
// SendEnvelopeFunc to embed the fake's response_url/trigger_id.
func (s *Server) SendEnvelope(ctx context.Context, typ string, payload any) (string, error) {
	return s.SendEnvelopeFunc(ctx, typ, func(EnvelopeInfo) any { return payload })
}

// SendEnvelopeFunc is SendEnvelope with a payload built from the envelope id,
// response_url and trigger_id the fake assigned (e.g. for interactive payloads).
func (s *Server) SendEnvelopeFunc(ctx context.Context, typ string, build func(EnvelopeInfo) any) (string, error) {
	info := EnvelopeInfo{ID: newUUID(), TriggerID: s.newTriggerID()}
	info.ResponseURL = s.ResponseURL(info.ID)
	raw, err := json.Marshal(envelopeFrame{
		EnvelopeID:             info.ID,
		Type:                   typ,
		Payload:                build(info),
		AcceptsResponsePayload: true,
	})
	if err != nil {
		return "", fmt.Errorf("slacktest: marshal envelope: %w", err)
	}
	s.mu.Lock()
	e := s.getEnvLocked(info.ID)
	e.typ, e.raw, e.triggerID = typ, raw, info.TriggerID
	s.triggers[info.TriggerID] = e
	s.mu.Unlock()
	return info.ID, s.deliver(ctx, e)
}

// Redeliver re-sends a previously sent envelope verbatim (same envelope_id)
// on the next socket in round-robin order.
func (s *Server) Redeliver(ctx context.Context, envelopeID string) error {
	s.mu.Lock()
	e := s.envs[envelopeID]
	s.mu.Unlock()
	if e == nil || e.raw == nil {
		return fmt.Errorf("slacktest: unknown envelope %q", envelopeID)
	}
	return s.deliver(ctx, e)
}

// deliver writes e.raw on the next live socket, retrying on other sockets
// if a write fails.
func (s *Server) deliver(ctx context.Context, e *envelope) error {
	for {
		c, err := s.pickConn(ctx)
		if err != nil {
			return err
		}
		d := &delivery{conn: c}
		s.mu.Lock()
		e.deliveries = append(e.deliveries, d)
		// The response_url is live from the moment the frame can reach the
		// bot: a fast bot posts to it before writeText returns here.
		if !e.sent {
			e.sent = true
			e.firstSent = time.Now()
		}
		s.mu.Unlock()
		if err := c.writeText(e.raw, d); err != nil {
			if !errors.Is(err, errRetired) {
				c.close()
			}
			continue
		}
		return nil
	}
}

// pickConn returns the next routable socket in round-robin order.
func (s *Server) pickConn(ctx context.Context) (*conn, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s.mu.Lock()
		if n := len(s.conns); n > 0 {
			c := s.conns[s.rr%n]
			s.rr++
			s.mu.Unlock()
			return c, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-s.closed:
			return nil, ErrClosed
		}
	}
}

var (
	jsonNull     = []byte("null")
	jsonEmptyObj = []byte("{}")
)

func (s *Server) recordAck(data []byte, at time.Time) {
	var f struct {
		EnvelopeID string          `json:"envelope_id"`
		Payload    json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(data, &f); err != nil || f.EnvelopeID == "" {
		s.mu.Lock()
		s.badAckCount++
		s.mu.Unlock()
		return
	}
	p := bytes.TrimSpace(f.Payload)
	if len(p) == 0 || bytes.Equal(p, jsonNull) || isEmptyObject(p) {
		f.Payload = nil
	}
	a := Ack{
		EnvelopeID: f.EnvelopeID,
		Payload:    f.Payload,
		At:         at,
		Size:       len(data),
		Dropped:    len(data) >= MaxAckSize,
	}
	atN := sinceEpoch(at)

	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.getEnvLocked(f.EnvelopeID)
	// Latest delivery that had started before the ack was read.
	for i := len(e.deliveries) - 1; i >= 0; i-- {
		d := e.deliveries[i]
		st := d.start.Load()
		if st == 0 || st > atN {
			continue
		}
		if dn := d.done.Load(); dn != 0 && dn <= atN {
			a.Latency = time.Duration(atN - dn)
		} else {
			// The ack raced the write-done stamp; fall back to write start.
			a.Latency = time.Duration(atN - st)
		}
		break
	}
	if a.Latency <= 0 && len(e.deliveries) > 0 {
		a.Latency = 1
	}
	s.acks = append(s.acks, a)
	if e.ackIdx < 0 {
		e.ackIdx = len(s.acks) - 1
		close(e.ackCh)
	}
	s.notifySubsLocked()
}

func isEmptyObject(p []byte) bool {
	if bytes.Equal(p, jsonEmptyObj) {
		return true
	}
	if len(p) < 2 || p[0] != '{' || p[len(p)-1] != '}' {
		return false
	}
	return len(bytes.TrimSpace(p[1:len(p)-1])) == 0
}

// WaitAck waits for the first ack of envelopeID (including a Dropped one)
// and returns it.
func (s *Server) WaitAck(ctx context.Context, envelopeID string) (Ack, error) {
	s.mu.Lock()
	e := s.getEnvLocked(envelopeID)
	ch := e.ackCh
	s.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return Ack{}, fmt.Errorf("slacktest: waiting for ack of %s: %w", envelopeID, ctx.Err())
	case <-s.closed:
		return Ack{}, ErrClosed
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acks[e.ackIdx], nil
}

// Acks returns every ack read so far, in arrival order (an envelope acked
// twice appears twice).
func (s *Server) Acks() []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Ack(nil), s.acks...)
}

// AcksFor returns the acks recorded for one envelope.
func (s *Server) AcksFor(envelopeID string) []Ack {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Ack
	for _, a := range s.acks {
		if a.EnvelopeID == envelopeID {
			out = append(out, a)
		}
	}
	return out
}

// BadFrames counts text frames from clients that were not acks (no JSON
// object or no envelope_id).
func (s *Server) BadFrames() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.badAckCount
}
