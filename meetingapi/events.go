package meetingapi

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// The meeting's event socket (VENDOR-API.md, "The meeting's event socket";
// the vendor's pages meeting_21_1508 to meeting_21_1520).

// SocketPath is where the event socket is, on the host of the token
// answer's wsURL.
const SocketPath = "/cms/open/websocket/confctl/increment/conn"

// subscribeForm is how the client writes the subscribe frame. The vendor's
// documentation disagrees with itself on two details; each choice is one
// line here, and meetingapitest accepts both forms of each.
var subscribeForm = wireForm{
	// "data" as a JSON-encoded string, as both of the vendor's examples send
	// it (its parameter table says an object).
	dataAsString: true,
	// confToken as the raw control token, as the vendor's code sample sends
	// it (one frame example shows "Basic base64(token)").
	basicConfToken: false,
}

type wireForm struct {
	dataAsString   bool
	basicConfToken bool
}

// maxFrame bounds one message from the server.
const maxFrame = 1 << 20

// subscribeTypes are the notifications the client asks for.
var subscribeTypes = []string{"ParticipantsNotify", "ConfDynamicInfoNotify", "WaitingListNotify"}

// Watch defaults: see [WatchOptions].
const (
	DefaultHeartbeat        = time.Minute
	DefaultMinBackoff       = time.Second
	DefaultMaxBackoff       = 30 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
)

// WatchOptions tune [Client.Watch]. The zero value is the production
// setting.
type WatchOptions struct {
	// Heartbeat is the time between HeartBeat frames (default 1 minute; the
	// server closes a socket that has been silent for 180 s).
	Heartbeat time.Duration
	// StallTimeout is how long the socket may bring nothing, heartbeat
	// answers included, before the client counts it as dead and reconnects
	// (default 2 × Heartbeat + 30 s).
	StallTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before reconnect n: about
	// MinBackoff·2ⁿ⁻¹ with jitter, at most MaxBackoff (defaults 1 s, 30 s).
	// The count starts again after a successful subscription.
	MinBackoff, MaxBackoff time.Duration
	// HandshakeTimeout bounds connecting and subscribing (default 10 s).
	HandshakeTimeout time.Duration
	// SocketURL is used when the control token's answer carries no wsURL:
	// a ws:// or wss:// URL whose scheme and host are kept.
	SocketURL string

	form *wireForm // tests: the other forms of the subscribe frame
}

func (o WatchOptions) withDefaults() WatchOptions {
	if o.Heartbeat <= 0 {
		o.Heartbeat = DefaultHeartbeat
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = 2*o.Heartbeat + 30*time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if o.form == nil {
		o.form = &subscribeForm
	}
	return o
}

// TokenSource gives [Client.Watch] a live control token for the meeting,
// with the wsURL of its answer. rejected is "" or a token the service
// refused since the last call: the source must not return it again (fetch
// a new one by keep-alive or with the password). An error that matches
// [ErrMeetingNotFound] ends the watch; any other is retried with backoff.
type TokenSource func(ctx context.Context, rejected Token) (ControlToken, error)

// EventKind says what an [Event] reports.
type EventKind int

const (
	// EventConnected: the socket is open and subscribed (again). Attempt
	// counts this watch's subscriptions (1: the first; more: a reconnect).
	EventConnected EventKind = iota + 1
	// EventSnapshot: Participants is everyone in the meeting when the
	// subscription (re)started. They were already there: do not announce
	// them as joins. After a reconnect, the people who joined or left
	// while the socket was down follow as EventJoined and EventLeft with
	// Resync set.
	EventSnapshot
	// EventJoined: Participant joined the meeting.
	EventJoined
	// EventLeft: Participant (as last known) left or was removed.
	EventLeft
	// EventChanged: some of Participant's details changed; Changed names
	// them (pinfoMap keys such as "MUTE", "NAME", "HAND").
	EventChanged
	// EventWaitingJoined: Participant is in the waiting room. Resync is set
	// for people found there by a full list (such as at subscription).
	EventWaitingJoined
	// EventWaitingLeft: Participant left the waiting room (admitted or gone).
	EventWaitingLeft
	// EventConf: the meeting's state changed; Conf has it (lock state and
	// more, as ConfDynamicInfoNotify reports it).
	EventConf
	// EventReconnecting: the socket dropped, or could not be opened or
	// subscribed; Err says why (it holds no secret), Attempt counts the
	// failures since the last subscription, Delay is the wait before the
	// next try.
	EventReconnecting
	// EventEnded: the meeting has ended (the socket said so, or the
	// service refused a token because the meeting is over). Err is the
	// service's answer that proved it, or nil. Watch returns next.
	EventEnded
)

func (k EventKind) String() string {
	switch k {
	case EventConnected:
		return "connected"
	case EventSnapshot:
		return "snapshot"
	case EventJoined:
		return "joined"
	case EventLeft:
		return "left"
	case EventChanged:
		return "changed"
	case EventWaitingJoined:
		return "waiting-joined"
	case EventWaitingLeft:
		return "waiting-left"
	case EventConf:
		return "conf"
	case EventReconnecting:
		return "reconnecting"
	case EventEnded:
		return "ended"
	}
	return "EventKind(" + strconv.Itoa(int(k)) + ")"
}

// Event is one thing the meeting's event socket reported; Kind says which
// fields are set.
type Event struct {
	Kind         EventKind
	Participant  Participant   // Joined, Left, Changed, WaitingJoined, WaitingLeft
	Changed      []string      // Changed: the pinfoMap keys whose values changed
	Resync       bool          // Joined, Left, WaitingJoined, WaitingLeft: found by comparing full lists, not seen as it happened
	Participants []Participant // Snapshot: everyone in the meeting, in join order
	Conf         ConfState     // Conf: the meeting's state as last reported
	Err          error         // Reconnecting, Ended: why
	Attempt      int           // Connected, Reconnecting
	Delay        time.Duration // Reconnecting
}

// ConfState is the meeting's state as ConfDynamicInfoNotify reports it.
// A field the service did not send keeps its last reported value.
type ConfState struct {
	Locked      bool        // lock 1
	State       string      // "Created" while in progress, "Destroyed" when over, "Schedule" before
	MutedAll    bool        // mute 1: everyone is muted when they join
	CanUnmute   bool        // canUnmute 1: muted people may unmute themselves
	Restriction Restriction // callInRestriction
	WaitingRoom bool        // waitingRoomState 1
	EndTime     time.Time   // endTime: the scheduled end
}

// Watch follows meeting id's event socket until the meeting ends or ctx is
// done, calling handle with each event in order, on the calling goroutine
// (handle should be quick). It subscribes to ParticipantsNotify,
// ConfDynamicInfoNotify and WaitingListNotify, sends a heartbeat every
// [WatchOptions].Heartbeat, and when the socket drops, stalls or cannot be
// opened it reconnects with a fresh socket token and backoff, for as long
// as it takes. It returns nil after [EventEnded], ctx.Err() when ctx is
// done, and an error at once only for input it cannot use.
//
// The control token and the socket token never reach an event, an error
// or a log line. The socket URL must be wss://, or ws:// on a loopback
// address (a local fake).
func (c *Client) Watch(ctx context.Context, id ConferenceID, tokens TokenSource, opts WatchOptions, handle func(Event)) error {
	if err := id.Validate(); err != nil {
		return fmt.Errorf("meetingapi: watch: %w", err)
	}
	if tokens == nil || handle == nil {
		return fmt.Errorf("meetingapi: watch %s: a token source and a handler are required", id)
	}
	w := &watcher{c: c, id: id, tokens: tokens, opts: opts.withDefaults(), handle: handle, people: newRoster(), waiting: newRoster()}
	return w.run(ctx)
}

type watcher struct {
	c      *Client
	id     ConferenceID
	tokens TokenSource
	opts   WatchOptions
	handle func(Event)

	people, waiting *roster
	conf            ConfState
	sessions        int  // subscriptions so far
	awaitSnapshot   bool // the next full ParticipantsNotify is the snapshot
	seq             atomic.Int64
	rejected        Token
}

// meetingEnded ends the watch; cause is the service's answer that proved
// it, or nil when the socket said so.
type meetingEnded struct{ cause error }

func (e *meetingEnded) Error() string { return "meetingapi: the meeting has ended" }

func (w *watcher) run(ctx context.Context) error {
	failures := 0
	for {
		subscribed, err := w.session(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var ended *meetingEnded
		if errors.As(err, &ended) {
			w.c.log.Info().Str("conference_id", string(w.id)).Msg("event socket: the meeting has ended")
			w.handle(Event{Kind: EventEnded, Err: ended.cause})
			return nil
		}
		if subscribed {
			failures = 0
		}
		failures++
		delay := w.backoff(failures)
		w.c.log.Info().Str("conference_id", string(w.id)).Int("attempt", failures).Dur("delay", delay).
			Str("error", err.Error()).Msg("event socket down; reconnecting")
		w.handle(Event{Kind: EventReconnecting, Err: err, Attempt: failures, Delay: delay})
		if sleepCtx(ctx, delay) != nil {
			return ctx.Err()
		}
	}
}

// backoff is the wait before reconnect n (1, 2, …): equal jitter on an
// exponential step, so there is always a real pause.
func (w *watcher) backoff(n int) time.Duration {
	d := w.opts.MaxBackoff
	if n-1 < 30 {
		if step := w.opts.MinBackoff << (n - 1); step > 0 && step < d {
			d = step
		}
	}
	return d/2 + w.c.jitter(d-d/2)
}

// socketError is a failure of the socket with its secrets taken out.
type socketError struct {
	msg string
	err error
}

func (e *socketError) Error() string { return e.msg }
func (e *socketError) Unwrap() error { return e.err }

// session opens one socket, subscribes and reads it until it drops. It
// reports whether the subscription succeeded.
func (w *watcher) session(ctx context.Context) (subscribed bool, err error) {
	ct, err := w.tokens(ctx, w.rejected)
	w.rejected = ""
	if err != nil {
		if errors.Is(err, ErrMeetingNotFound) {
			return false, &meetingEnded{err}
		}
		return false, fmt.Errorf("meetingapi: watch %s: control token: %w", w.id, err)
	}
	wsTok, err := w.c.WebSocketToken(ctx, w.id, ct.Token)
	switch {
	case errors.Is(err, ErrMeetingNotFound):
		return false, &meetingEnded{err}
	case errors.Is(err, ErrTokenInvalid):
		w.rejected = ct.Token
		return false, err
	case err != nil:
		return false, err
	}
	secrets := []string{ct.Token.Reveal(), wsTok.Reveal()}
	fail := func(what string, err error) error {
		msg := "meetingapi: watch " + string(w.id) + ": " + what
		if err != nil {
			msg += ": " + err.Error()
		}
		return &socketError{msg: redactAll(msg, secrets), err: err}
	}

	u, err := w.socketURL(ct.WSURL, wsTok)
	if err != nil {
		return false, fail(err.Error(), nil)
	}
	dialer := websocket.Dialer{
		HandshakeTimeout: w.opts.HandshakeTimeout,
		TLSClientConfig:  &tls.Config{MinVersion: tls.VersionTLS12},
	}
	conn, resp, err := dialer.DialContext(ctx, u, nil)
	if err != nil {
		if resp != nil {
			_ = resp.Body.Close()
			return false, fail("the server refused the socket (HTTP "+strconv.Itoa(resp.StatusCode)+")", nil)
		}
		return false, fail("connecting", err)
	}
	defer conn.Close()
	conn.SetReadLimit(maxFrame)
	// Closing the socket is the one way to interrupt a blocked read.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	var writeMu sync.Mutex
	write := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		writeMu.Lock()
		defer writeMu.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(w.opts.HandshakeTimeout))
		return conn.WriteMessage(websocket.TextMessage, b)
	}
	if err := write(w.subscribeFrame(ct.Token)); err != nil {
		return false, fail("subscribing", err)
	}

	heartbeatDone := make(chan struct{})
	defer close(heartbeatDone)
	deadline := w.opts.HandshakeTimeout
	for {
		_ = conn.SetReadDeadline(time.Now().Add(deadline))
		_, msg, err := conn.ReadMessage()
		if err != nil {
			var ne net.Error
			switch {
			case ctx.Err() != nil:
				return subscribed, ctx.Err()
			case errors.As(err, &ne) && ne.Timeout():
				return subscribed, fail("no message for "+deadline.String()+"; the socket has stalled", nil)
			case !subscribed:
				return false, fail("the socket closed before the subscription was confirmed", err)
			}
			return true, fail("the socket dropped", err)
		}
		ack, err := w.frame(msg)
		if err != nil {
			if errors.As(err, new(*meetingEnded)) {
				return subscribed, err
			}
			w.rejected = ct.Token // the subscription may have failed on the token: get a fresh one
			return subscribed, fail(err.Error(), nil)
		}
		if ack && !subscribed {
			subscribed = true
			deadline = w.opts.StallTimeout
			go w.heartbeat(write, heartbeatDone)
			w.c.log.Info().Str("conference_id", string(w.id)).Int("session", w.sessions).Msg("event socket subscribed")
		}
	}
}

// heartbeat sends a HeartBeat frame every opts.Heartbeat until done.
func (w *watcher) heartbeat(write func(any) error, done <-chan struct{}) {
	t := time.NewTicker(w.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			// A failed write shows up as a failed read too.
			_ = write(map[string]string{"action": "HeartBeat", "sequence": w.sequence()})
		}
	}
}

// sequence is a message's "sequence": the time in milliseconds padded to 30
// digits, as the vendor's examples have it, and never the same twice on one
// watch.
func (w *watcher) sequence() string {
	for {
		last := w.seq.Load()
		ms := max(time.Now().UnixMilli(), last+1)
		if w.seq.CompareAndSwap(last, ms) {
			return fmt.Sprintf("%030d", ms)
		}
	}
}

func (w *watcher) subscribeFrame(tok Token) map[string]any {
	confToken := tok.Reveal()
	if w.opts.form.basicConfToken {
		confToken = "Basic " + base64.StdEncoding.EncodeToString([]byte(confToken))
	}
	data := map[string]any{"conferenceID": string(w.id), "subscribeType": subscribeTypes, "confToken": confToken}
	var payload any = data
	if w.opts.form.dataAsString {
		b, _ := json.Marshal(data) // strings and a string slice always marshal
		payload = string(b)
	}
	return map[string]any{"action": "Subscribe", "sequence": w.sequence(), "data": payload}
}

// socketURL is the host of wsURL (or of opts.SocketURL) with SocketPath and
// the query. Its errors do not repeat the URL.
func (w *watcher) socketURL(wsURL string, wsTok Token) (string, error) {
	if wsURL == "" {
		wsURL = w.opts.SocketURL
	}
	if wsURL == "" {
		return "", errors.New("the token answer has no wsURL and no SocketURL is set")
	}
	u, err := url.Parse(wsURL)
	if err != nil || u.Host == "" {
		return "", errors.New("the socket URL does not parse")
	}
	scheme := u.Scheme
	switch scheme {
	case "https":
		scheme = "wss"
	case "http":
		scheme = "ws"
	}
	switch {
	case scheme == "wss":
	case scheme == "ws" && loopback(u.Hostname()):
	case scheme == "ws":
		return "", errors.New("the socket URL is ws:// to a host that is not local; only wss:// carries tokens")
	default:
		return "", errors.New("the socket URL's scheme is not ws or wss")
	}
	q := url.Values{"confID": {string(w.id)}, "tmpToken": {wsTok.Reveal()}}
	return (&url.URL{Scheme: scheme, Host: u.Host, Path: SocketPath, RawQuery: q.Encode()}).String(), nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactAll replaces each secret in s.
func redactAll(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec != "" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// frame handles one message from the server. ack reports a successful
// subscription; an error ends the session (a refused subscription, or the
// meeting's end as a *meetingEnded).
func (w *watcher) frame(msg []byte) (ack bool, err error) {
	var f map[string]json.RawMessage
	if json.Unmarshal(msg, &f) != nil {
		w.c.log.Debug().Str("conference_id", string(w.id)).Int("bytes", len(msg)).Msg("event socket: a frame that is not a JSON object; ignored")
		return false, nil
	}
	var action string
	_ = json.Unmarshal(f["action"], &action)
	switch action {
	case "Subscribe":
		var res struct {
			ReturnCode *jsonInt `json:"returnCode"`
		}
		var desc string
		var data map[string]json.RawMessage
		_ = json.Unmarshal(payload(f["data"]), &data)
		for k, v := range data {
			if strings.TrimSpace(k) == "returnDesc" { // the vendor's example spells it "returnDesc "
				_ = json.Unmarshal(v, &desc)
			}
		}
		_ = json.Unmarshal(payload(f["data"]), &res)
		if res.ReturnCode == nil || *res.ReturnCode != 0 {
			code := "none"
			if res.ReturnCode != nil {
				code = strconv.FormatInt(int64(*res.ReturnCode), 10)
			}
			return false, fmt.Errorf("the subscription was refused (returnCode %s: %s)", code, sanitize(desc, 100))
		}
		w.sessions++
		w.awaitSnapshot = true
		w.handle(Event{Kind: EventConnected, Attempt: w.sessions})
		return true, nil
	case "ParticipantsNotify":
		w.participants(entries(f), fullMessage(f))
	case "WaitingListNotify":
		w.waitingList(entries(f), fullMessage(f))
	case "ConfDynamicInfoNotify":
		return false, w.confInfo(f)
	}
	return false, nil
}

// payload returns data as JSON whether the server sent it as JSON or as a
// JSON-encoded string (the vendor's docs show both).
func payload(raw json.RawMessage) json.RawMessage {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return json.RawMessage(s)
	}
	return raw
}

func fullMessage(f map[string]json.RawMessage) bool {
	var mode jsonInt
	return json.Unmarshal(f["msgMode"], &mode) == nil && mode == 0
}

type entry struct {
	pid     string
	removed bool
	info    map[string]string
}

// entries reads data[] of a ParticipantsNotify or WaitingListNotify.
func entries(f map[string]json.RawMessage) []entry {
	var raw []struct {
		PID   string         `json:"pid"`
		Mode  jsonInt        `json:"mode"`
		PInfo map[string]any `json:"pinfoMap"`
	}
	_ = json.Unmarshal(payload(f["data"]), &raw)
	out := make([]entry, 0, len(raw))
	for _, r := range raw {
		if r.PID == "" {
			continue
		}
		e := entry{pid: r.PID, removed: r.Mode == 1, info: make(map[string]string, len(r.PInfo))}
		for k, v := range r.PInfo {
			switch v := v.(type) {
			case string:
				e.info[k] = v
			case float64:
				e.info[k] = strconv.FormatFloat(v, 'f', -1, 64)
			case bool:
				e.info[k] = map[bool]string{true: "1", false: "0"}[v]
			}
		}
		out = append(out, e)
	}
	return out
}

func (w *watcher) participants(es []entry, full bool) {
	if full && w.awaitSnapshot {
		w.awaitSnapshot = false
		before := w.people
		w.people = newRoster()
		w.people.apply(es, false)
		w.handle(Event{Kind: EventSnapshot, Participants: w.people.all(false)})
		if w.sessions > 1 {
			for _, ch := range before.diff(w.people) {
				w.emitPerson(ch, EventJoined, EventLeft, false, true)
			}
		}
		return
	}
	if full {
		next := newRoster()
		next.apply(es, false)
		changes := w.people.diff(next)
		w.people = next
		for _, ch := range changes {
			w.emitPerson(ch, EventJoined, EventLeft, false, true)
		}
		return
	}
	for _, ch := range w.people.apply(es, true) {
		w.emitPerson(ch, EventJoined, EventLeft, false, false)
	}
}

func (w *watcher) waitingList(es []entry, full bool) {
	var changes []rosterChange
	if full {
		next := newRoster()
		next.apply(es, false)
		changes = w.waiting.diff(next)
		w.waiting = next
	} else {
		changes = w.waiting.apply(es, true)
	}
	for _, ch := range changes {
		if ch.kind == changedKeys {
			continue // WAITINGSTATE and the like: the join or leave that follows says more
		}
		w.emitPerson(ch, EventWaitingJoined, EventWaitingLeft, true, full)
	}
}

func (w *watcher) emitPerson(ch rosterChange, joined, left EventKind, waiting, resync bool) {
	p := participantFrom(ch.pid, ch.info, waiting)
	switch ch.kind {
	case added:
		w.handle(Event{Kind: joined, Participant: p, Resync: resync})
	case removed:
		w.handle(Event{Kind: left, Participant: p, Resync: resync})
	case changedKeys:
		w.handle(Event{Kind: EventChanged, Participant: p, Changed: ch.keys})
	}
}

// confInfo reads a ConfDynamicInfoNotify. Its fields are at the top of the
// frame in the vendor's example; data, as an object or a string, is read
// too.
func (w *watcher) confInfo(f map[string]json.RawMessage) error {
	fields := map[string]json.RawMessage{}
	for k, v := range f {
		fields[k] = v
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(payload(f["data"]), &data) == nil {
		for k, v := range data {
			fields[k] = v
		}
	}
	flag := func(name string, into *bool) {
		var v jsonInt
		if raw, ok := fields[name]; ok && json.Unmarshal(raw, &v) == nil {
			*into = v == 1
		}
	}
	flag("lock", &w.conf.Locked)
	flag("mute", &w.conf.MutedAll)
	flag("canUnmute", &w.conf.CanUnmute)
	flag("waitingRoomState", &w.conf.WaitingRoom)
	var n jsonInt
	if raw, ok := fields["callInRestriction"]; ok && json.Unmarshal(raw, &n) == nil {
		w.conf.Restriction = Restriction(n)
	}
	if raw, ok := fields["endTime"]; ok && json.Unmarshal(raw, &n) == nil && n > 0 {
		w.conf.EndTime = time.UnixMilli(int64(n))
	}
	var state string
	if raw, ok := fields["state"]; ok && json.Unmarshal(raw, &state) == nil {
		w.conf.State = sanitize(state, 32)
	}
	w.handle(Event{Kind: EventConf, Conf: w.conf})
	if w.conf.State == "Destroyed" {
		return &meetingEnded{}
	}
	return nil
}

func participantFrom(pid string, m map[string]string, waiting bool) Participant {
	p := Participant{
		PID: pid, Name: m["NAME"], Phone: Phone(m["TEL"]),
		Muted: m["MUTE"] == "1", Video: m["VIDEO"] == "1", HandRaised: m["HAND"] == "1",
		Host: m["ROLE"] == "1", CoHost: m["IS_COHOST"] == "1", Audience: m["ROLE"] == "2",
		Anonymous: m["ANONYMOUS"] == "1", OrgID: m["ORG_ID"], Account: m["ACCOUNT"], AccountID: m["ACCOUNT_ID"],
		Waiting: waiting,
	}
	if s, err := strconv.Atoi(m["STATE"]); err == nil {
		p.State = ParticipantState(s)
	}
	if ms, err := strconv.ParseInt(m["ADDTIME"], 10, 64); err == nil && ms > 0 {
		p.JoinedAt = time.UnixMilli(ms)
	}
	return p
}

// roster is who is in (the meeting or its waiting room) as the socket has
// told it: each pid's pinfoMap, in arrival order.
type roster struct {
	info  map[string]map[string]string
	order []string
}

func newRoster() *roster { return &roster{info: map[string]map[string]string{}} }

type changeKind int

const (
	added changeKind = iota
	removed
	changedKeys
)

type rosterChange struct {
	kind changeKind
	pid  string
	info map[string]string // after the change (removed: as last known)
	keys []string          // changedKeys
}

// apply merges entries into r: a removal drops the pid, an entry for a new
// pid adds it, an entry for a known pid updates only the keys it carries.
// It returns what changed when report is set.
func (r *roster) apply(es []entry, report bool) []rosterChange {
	var out []rosterChange
	for _, e := range es {
		cur, known := r.info[e.pid]
		switch {
		case e.removed && known:
			r.remove(e.pid)
			out = append(out, rosterChange{kind: removed, pid: e.pid, info: cur})
		case e.removed:
		case !known:
			r.info[e.pid] = e.info
			r.order = append(r.order, e.pid)
			out = append(out, rosterChange{kind: added, pid: e.pid, info: e.info})
		default:
			var keys []string
			for k, v := range e.info {
				if old, ok := cur[k]; !ok || old != v {
					cur[k] = v
					keys = append(keys, k)
				}
			}
			if len(keys) > 0 {
				slices.Sort(keys)
				out = append(out, rosterChange{kind: changedKeys, pid: e.pid, info: cur, keys: keys})
			}
		}
	}
	if !report {
		return nil
	}
	return out
}

func (r *roster) remove(pid string) {
	delete(r.info, pid)
	for i, p := range r.order {
		if p == pid {
			r.order = append(r.order[:i], r.order[i+1:]...)
			return
		}
	}
}

// diff is what changed from r to next: who left, who joined, whose keys
// changed.
func (r *roster) diff(next *roster) []rosterChange {
	var out []rosterChange
	for _, pid := range r.order {
		if _, ok := next.info[pid]; !ok {
			out = append(out, rosterChange{kind: removed, pid: pid, info: r.info[pid]})
		}
	}
	for _, pid := range next.order {
		cur, ok := r.info[pid]
		if !ok {
			out = append(out, rosterChange{kind: added, pid: pid, info: next.info[pid]})
			continue
		}
		var keys []string
		for k, v := range next.info[pid] {
			if cur[k] != v {
				keys = append(keys, k)
			}
		}
		if len(keys) > 0 {
			slices.Sort(keys)
			out = append(out, rosterChange{kind: changedKeys, pid: pid, info: next.info[pid], keys: keys})
		}
	}
	return out
}

func (r *roster) all(waiting bool) []Participant {
	out := make([]Participant, 0, len(r.order))
	for _, pid := range r.order {
		out = append(out, participantFrom(pid, r.info[pid], waiting))
	}
	return out
}
