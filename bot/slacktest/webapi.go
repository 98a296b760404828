package slacktest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Message is one message the bot posted, via a response_url or the Web API.
type Message struct {
	Via        string // "response_url", "chat.postMessage", "chat.postEphemeral", "chat.update"
	EnvelopeID string // for response_url posts
	Channel    string // Web API channel
	User       string // Web API user (chat.postEphemeral)
	// TS is the ts argument of chat.update, or the ts the fake assigned to a
	// chat.postMessage / chat.postEphemeral message.
	TS string
	// ResponseType is "in_channel", "ephemeral" or "" (which Slack treats as
	// ephemeral for response_url posts).
	ResponseType    string
	ReplaceOriginal bool
	DeleteOriginal  bool
	Text            string
	Blocks          json.RawMessage // nil when absent or null
	Raw             []byte          // the request body as received
	At              time.Time
}

// View is one modal opened with views.open.
type View struct {
	TriggerID string
	View      json.RawMessage // the view as the bot sent it
	ViewID    string
	At        time.Time
}

// APICall is one Web API request, successful or not.
type APICall struct {
	Method string
	OK     bool
	Error  string // Slack error code when !OK
	At     time.Time
}

var knownMethods = map[string]bool{
	"apps.connections.open": true,
	"auth.test":             true,
	"chat.postMessage":      true,
	"chat.postEphemeral":    true,
	"chat.update":           true,
	"views.open":            true,
}

// params gives uniform access to form-encoded and JSON request arguments.
type params struct {
	form url.Values
	js   map[string]json.RawMessage
}

func parseParams(r *http.Request, body []byte) (params, bool) {
	p := params{form: url.Values{}}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if q := r.URL.Query(); len(q) > 0 {
		p.form = q
	}
	switch {
	case ct == "application/json":
		if len(strings.TrimSpace(string(body))) == 0 {
			return p, true // slack-go's apps.connections.open sends an empty JSON body
		}
		if err := json.Unmarshal(body, &p.js); err != nil {
			return p, false
		}
	case len(body) > 0:
		v, err := url.ParseQuery(string(body))
		if err != nil {
			return p, false
		}
		for k, vs := range v {
			p.form[k] = append(p.form[k], vs...)
		}
	}
	return p, true
}

// get returns a string argument.
func (p params) get(k string) string {
	if v := p.form.Get(k); v != "" {
		return v
	}
	raw, ok := p.js[k]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	if string(raw) == "null" {
		return ""
	}
	return string(raw)
}

// getJSON returns a JSON argument (object/array), which forms carry as a
// JSON-encoded string. nil when absent, null or not JSON.
func (p params) getJSON(k string) json.RawMessage {
	if v := p.form.Get(k); v != "" {
		if json.Valid([]byte(v)) {
			return json.RawMessage(v)
		}
		return nil
	}
	raw, ok := p.js[k]
	if !ok || string(raw) == "null" {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil { // JSON body with a JSON-encoded string
		if s != "" && json.Valid([]byte(s)) {
			return json.RawMessage(s)
		}
		return nil
	}
	return raw
}

func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	now := time.Now()

	var extra map[string]any // more fields of an error answer
	fail := func(status int, code string) {
		s.mu.Lock()
		s.calls = append(s.calls, APICall{Method: method, Error: code, At: now})
		s.mu.Unlock()
		answer := map[string]any{"ok": false, "error": code}
		for k, v := range extra {
			answer[k] = v
		}
		writeJSON(w, status, answer)
	}
	if !knownMethods[method] {
		fail(http.StatusOK, "unknown_method")
		return
	}

	// Injected faults come first, as a rate limiter would.
	s.mu.Lock()
	if f := s.failAPI[method]; f != nil && f.n > 0 {
		f.n--
		code := f.err
		s.mu.Unlock()
		if code == "ratelimited" {
			w.Header().Set("Retry-After", "1")
			fail(http.StatusTooManyRequests, code)
			return
		}
		fail(http.StatusOK, code)
		return
	}
	s.mu.Unlock()

	p, ok := parseParams(r, body)
	if !ok {
		fail(http.StatusOK, "invalid_form_data")
		return
	}

	// Auth.
	if method == "apps.connections.open" {
		switch tok := bearer(r); {
		case tok == "":
			fail(http.StatusOK, "not_authed")
			return
		case tok != s.appToken:
			fail(http.StatusOK, "invalid_auth")
			return
		case !slices.Contains(s.appScopes, "connections:write"):
			extra = map[string]any{"needed": "connections:write", "provided": strings.Join(s.appScopes, ",")}
			fail(http.StatusOK, "missing_scope")
			return
		}
	} else {
		tok := bearer(r)
		if tok == "" {
			tok = p.get("token")
		}
		switch {
		case tok == "":
			fail(http.StatusOK, "not_authed")
			return
		case tok != s.botToken:
			fail(http.StatusOK, "invalid_auth")
			return
		}
		// Slack lists a valid token's scopes on every answer.
		w.Header().Set("X-OAuth-Scopes", strings.Join(s.botScopes, ","))
		if strings.HasPrefix(method, "chat.") && !slices.Contains(s.botScopes, "chat:write") {
			extra = map[string]any{"needed": "chat:write", "provided": strings.Join(s.botScopes, ",")}
			fail(http.StatusOK, "missing_scope")
			return
		}
	}

	var resp map[string]any
	var code string
	switch method {
	case "apps.connections.open":
		resp = s.apiConnectionsOpen()
	case "auth.test":
		resp = map[string]any{
			"url":                   "https://" + s.teamDomain + ".slack.com/",
			"team":                  s.teamDomain,
			"user":                  BotUserName,
			"team_id":               s.teamID,
			"user_id":               BotUserID,
			"bot_id":                BotID,
			"is_enterprise_install": s.orgWide,
		}
		if s.enterpriseID != "" {
			resp["enterprise_id"] = s.enterpriseID
		}
	case "chat.postMessage", "chat.postEphemeral", "chat.update":
		resp, code = s.apiChat(method, p, body, now)
	case "views.open":
		resp, code = s.apiViewsOpen(p, now)
	}
	if code != "" {
		fail(http.StatusOK, code)
		return
	}
	resp["ok"] = true
	s.mu.Lock()
	s.calls = append(s.calls, APICall{Method: method, OK: true, At: now})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) apiConnectionsOpen() map[string]any {
	ticket := randHex(16)
	s.mu.Lock()
	s.tickets[ticket] = true
	s.mu.Unlock()
	host := strings.TrimPrefix(s.hs.URL, "http://")
	return map[string]any{"url": "ws://" + host + "/link/?ticket=" + ticket + "&app_id=" + url.QueryEscape(s.appID)}
}

func (s *Server) apiChat(method string, p params, body []byte, now time.Time) (map[string]any, string) {
	m := Message{
		Via:     method,
		Channel: p.get("channel"),
		User:    p.get("user"),
		Text:    p.get("text"),
		Blocks:  p.getJSON("blocks"),
		Raw:     body,
		At:      now,
	}
	if m.Channel == "" {
		return nil, "channel_not_found"
	}
	s.mu.Lock()
	notIn := s.notInChan[m.Channel]
	s.mu.Unlock()
	var resp map[string]any
	switch method {
	case "chat.postMessage":
		if notIn {
			return nil, "not_in_channel"
		}
		if m.Text == "" && m.Blocks == nil && p.get("attachments") == "" {
			return nil, "no_text"
		}
		m.TS = s.newTS()
		resp = map[string]any{
			"channel": m.Channel,
			"ts":      m.TS,
			"message": map[string]any{"type": "message", "text": m.Text, "user": BotUserID, "bot_id": BotID, "ts": m.TS},
		}
	case "chat.postEphemeral":
		if m.User == "" {
			return nil, "user_not_in_channel"
		}
		if notIn {
			return nil, "not_in_channel"
		}
		if m.Text == "" && m.Blocks == nil && p.get("attachments") == "" {
			return nil, "no_text"
		}
		m.TS = s.newTS()
		resp = map[string]any{"message_ts": m.TS}
	case "chat.update":
		m.TS = p.get("ts")
		if m.TS == "" {
			return nil, "message_not_found"
		}
		resp = map[string]any{
			"channel": m.Channel,
			"ts":      m.TS,
			"text":    m.Text,
			"message": map[string]any{"type": "message", "text": m.Text, "user": BotUserID, "bot_id": BotID, "ts": m.TS},
		}
	}
	s.recordMessage(m, nil)
	return resp, ""
}

func (s *Server) apiViewsOpen(p params, now time.Time) (map[string]any, string) {
	tid := p.get("trigger_id")
	raw := p.getJSON("view")
	var view map[string]any
	if tid == "" || raw == nil || json.Unmarshal(raw, &view) != nil || view == nil {
		return nil, "invalid_arguments"
	}
	s.mu.Lock()
	e := s.triggers[tid]
	switch {
	case e == nil:
		s.mu.Unlock()
		return nil, "invalid_arguments" // never issued (real Slack: invalid `trigger_id`)
	case e.trigUsed || !e.sent || now.Sub(e.firstSent) > s.triggerTTL:
		s.mu.Unlock()
		return nil, "expired_trigger_id"
	}
	e.trigUsed = true
	id := fmt.Sprintf("V0FAKE%05d", s.viewSeq.Add(1))
	s.views = append(s.views, View{TriggerID: tid, View: raw, ViewID: id, At: now})
	s.bumpLocked()
	s.notifySubsLocked()
	s.mu.Unlock()

	view["id"] = id
	view["team_id"] = s.teamID
	view["app_id"] = s.appID
	view["bot_id"] = BotID
	view["root_view_id"] = id
	view["hash"] = fmt.Sprintf("%d.%s", now.Unix(), randHex(4))
	if _, ok := view["state"]; !ok {
		view["state"] = map[string]any{"values": map[string]any{}}
	}
	return map[string]any{"view": view}, ""
}

// handleResponseURL serves the per-envelope response_url.
func (s *Server) handleResponseURL(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/response/")
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	now := time.Now()
	plain := func(status int, text string) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, text)
	}
	if r.Method != http.MethodPost {
		plain(http.StatusMethodNotAllowed, "method_not_allowed")
		return
	}

	s.mu.Lock()
	if s.hangRespN > 0 {
		s.hangRespN--
		s.mu.Unlock()
		// Like a Slack edge that accepted the connection and never answers.
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		return
	}
	if s.failRespN > 0 {
		s.failRespN--
		st := s.failRespSt
		s.mu.Unlock()
		text := http.StatusText(st)
		if st == http.StatusNotFound {
			text = "expired_url"
		}
		plain(st, text)
		return
	}
	e := s.envs[id]
	switch {
	case e == nil || !e.sent || now.Sub(e.firstSent) > ResponseURLTTL:
		s.mu.Unlock()
		plain(http.StatusNotFound, "expired_url")
		return
	case e.posts >= MaxResponseURLPosts:
		s.mu.Unlock()
		plain(http.StatusNotFound, "used_url")
		return
	}
	s.mu.Unlock()

	var f struct {
		Text            string          `json:"text"`
		Blocks          json.RawMessage `json:"blocks"`
		ResponseType    string          `json:"response_type"`
		ReplaceOriginal flexBool        `json:"replace_original"`
		DeleteOriginal  flexBool        `json:"delete_original"`
	}
	if err := json.Unmarshal(body, &f); err != nil {
		plain(http.StatusBadRequest, "invalid_payload")
		return
	}
	if string(f.Blocks) == "null" {
		f.Blocks = nil
	}
	m := Message{
		Via:             "response_url",
		EnvelopeID:      id,
		ResponseType:    f.ResponseType,
		ReplaceOriginal: bool(f.ReplaceOriginal),
		DeleteOriginal:  bool(f.DeleteOriginal),
		Text:            f.Text,
		Blocks:          f.Blocks,
		Raw:             body,
		At:              now,
	}
	if !s.recordMessage(m, e) {
		plain(http.StatusNotFound, "used_url")
		return
	}
	plain(http.StatusOK, "ok")
}

// flexBool accepts true/false and "true"/"false".
type flexBool bool

func (b *flexBool) UnmarshalJSON(d []byte) error {
	switch strings.Trim(string(d), `"`) {
	case "true", "1":
		*b = true
	default:
		*b = false
	}
	return nil
}

// recordMessage stores m. For a response_url post (e != nil) it also counts
// the use and fails if the URL is used up (checked again under the lock).
func (s *Server) recordMessage(m Message, e *envelope) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e != nil {
		if e.posts >= MaxResponseURLPosts {
			return false
		}
		e.posts++
	}
	s.msgs = append(s.msgs, m)
	if m.EnvelopeID != "" {
		env := s.getEnvLocked(m.EnvelopeID)
		env.msgIdx = append(env.msgIdx, len(s.msgs)-1)
		close(env.msgCh)
		env.msgCh = make(chan struct{})
	}
	s.bumpLocked()
	s.notifySubsLocked()
	return true
}

// Messages returns every recorded message in arrival order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// MessagesFor returns the response_url posts recorded for one envelope.
func (s *Server) MessagesFor(envelopeID string) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.messagesForLocked(envelopeID)
}

func (s *Server) messagesForLocked(id string) []Message {
	e := s.envs[id]
	if e == nil {
		return nil
	}
	out := make([]Message, 0, len(e.msgIdx))
	for _, i := range e.msgIdx {
		out = append(out, s.msgs[i])
	}
	return out
}

// WaitMessages waits until at least n messages were posted to the envelope's
// response_url and returns all of them.
func (s *Server) WaitMessages(ctx context.Context, envelopeID string, n int) ([]Message, error) {
	for {
		s.mu.Lock()
		e := s.getEnvLocked(envelopeID)
		if len(e.msgIdx) >= n {
			out := s.messagesForLocked(envelopeID)
			s.mu.Unlock()
			return out, nil
		}
		ch := e.msgCh
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return s.MessagesFor(envelopeID), fmt.Errorf("slacktest: waiting for %d messages for %s: %w", n, envelopeID, ctx.Err())
		case <-s.closed:
			return s.MessagesFor(envelopeID), ErrClosed
		}
	}
}

// WaitMessageCount waits until the total number of recorded messages is at
// least n.
func (s *Server) WaitMessageCount(ctx context.Context, n int) error {
	return s.waitFor(ctx, func() bool { return len(s.msgs) >= n })
}

// Views returns the modals opened so far.
func (s *Server) Views() []View {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]View(nil), s.views...)
}

// APICalls returns every Web API request (method, outcome), in order.
func (s *Server) APICalls() []APICall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]APICall(nil), s.calls...)
}

// FailResponseURL makes the next n response_url posts answer HTTP status
// (body "expired_url" for 404, the status text otherwise). Failed posts are
// not recorded and do not count toward the 5-post limit.
func (s *Server) FailResponseURL(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failRespN, s.failRespSt = n, status
}

// HangResponseURL makes the next n response_url posts hang: the fake reads
// the request and never answers, until the client gives up or the server is
// closed. Hung posts are not recorded and do not count toward the 5-post
// limit.
func (s *Server) HangResponseURL(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hangRespN = n
}

// FailWebAPI makes the next n calls of method answer
// {"ok":false,"error":slackError}. "ratelimited" answers HTTP 429 with
// Retry-After: 1 (slack-go returns *slack.RateLimitedError). Faults apply
// before authentication; apps.connections.open can be failed too.
func (s *Server) FailWebAPI(method string, n int, slackError string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAPI[method] = &apiFault{n: n, err: slackError}
}

// SetNotInChannel makes chat.postMessage/chat.postEphemeral to channelID fail
// with not_in_channel (every other channel counts as joined).
func (s *Server) SetNotInChannel(channelID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notInChan[channelID] = true
}

// SetInChannel undoes SetNotInChannel.
func (s *Server) SetInChannel(channelID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.notInChan, channelID)
}
