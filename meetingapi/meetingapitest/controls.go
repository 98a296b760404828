package meetingapitest

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// endpoint is one control call: where it is, what body it takes, and what
// it does to the meeting. handle runs with s.mu held, the token checked and
// the meeting in progress.
type endpoint struct {
	name   Endpoint
	path   string
	method string
	fields []string // the body's documented fields; nil: the call takes no body
	handle func(s *Server, m *meeting, q url.Values, f fields) reply
}

var endpoints = []*endpoint{
	{name: EndpointToken, path: TokenPath, method: http.MethodGet}, // served by serveToken
	{EndpointLock, LockPath, http.MethodPut, []string{"isLock"}, (*Server).lock},
	{EndpointRealTimeInfo, RealTimeInfoPath, http.MethodGet, nil, (*Server).realTimeInfo},
	{EndpointHangUp, HangUpPath, http.MethodPost, []string{"bulkHangUpParticipants"}, (*Server).hangUp},
	{EndpointMuteAll, MuteAllPath, http.MethodPut, []string{"isMute", "allowUnmuteByOneself"}, (*Server).muteAll},
	{EndpointMuteParticipant, MuteParticipantPath, http.MethodPut, []string{"isMute"}, (*Server).muteParticipant},
	{EndpointMoveToWaitingRoom, MoveToWaitingRoomPath, http.MethodPut, []string{"participantID"}, (*Server).moveToWaitingRoom},
	{EndpointBatchMoveToWaitingRoom, BatchMoveToWaitingRoomPath, http.MethodPut, []string{"batchParticipants"}, (*Server).batchMoveToWaitingRoom},
	{EndpointAdmit, AdmitPath, http.MethodPut, []string{"participantID", "allowAll"}, (*Server).admit},
	{EndpointStartedConfConfig, StartedConfConfigPath, http.MethodPut, startedConfConfigFields(), (*Server).startedConfConfig},
	{EndpointStop, StopPath, http.MethodPut, nil, (*Server).stop},
	{EndpointProlong, ProlongPath, http.MethodPut, []string{"auto", "duration"}, (*Server).prolong},
	{EndpointWebSocketToken, WebSocketTokenPath, http.MethodGet, nil, (*Server).webSocketToken},
}

func (s *Server) lock(m *meeting, _ url.Values, f fields) reply {
	v, _, problem := f.flag("isLock", true)
	if problem != "" {
		return badRequest("%s", problem)
	}
	s.setLockedLocked(m, v == 1)
	return ok(nil)
}

// The real-time answer, as the SDK's ShowRealTimeInfoOfMeetingResponse.
type (
	realTimeInfoAnswer struct {
		Attendees    []attendeeJSON    `json:"attendees"`
		Participants []participantJSON `json:"participants"`
		ConfInfo     confInfoJSON      `json:"confInfo"`
	}
	attendeeJSON struct {
		AccountID string `json:"accountID,omitempty"`
		UserUUID  string `json:"userUUID,omitempty"`
		Name      string `json:"name"`
		Phone     string `json:"phone,omitempty"`
	}
	participantJSON struct {
		PID   string `json:"pid"`
		Name  string `json:"name"`
		Phone string `json:"phone,omitempty"`
		State int    `json:"state"`
		Video int    `json:"video"`
		Mute  int    `json:"mute"`
		Hand  int    `json:"hand"`
	}
	confInfoJSON struct {
		ChairID string   `json:"chairID,omitempty"`
		CoHosts []string `json:"coHosts"`
	}
)

func (s *Server) realTimeInfo(m *meeting, _ url.Values, _ fields) reply {
	ans := realTimeInfoAnswer{
		Attendees:    []attendeeJSON{},
		Participants: []participantJSON{},
		ConfInfo:     confInfoJSON{ChairID: m.chairID(), CoHosts: m.coHosts()},
	}
	for _, a := range m.attendees {
		aj := attendeeJSON{Name: a.Name, Phone: a.Phone}
		if a.Account != "" {
			aj.AccountID, aj.UserUUID = a.Account, "uuid-"+a.Account
		}
		ans.Attendees = append(ans.Attendees, aj)
	}
	for _, p := range m.people {
		ans.Participants = append(ans.Participants, participantJSON{
			PID: p.pid, Name: p.Name, Phone: p.Phone, State: 0,
			Video: flag(p.Video), Mute: flag(p.Muted), Hand: flag(p.hand),
		})
	}
	return ok(ans)
}

func (s *Server) hangUp(m *meeting, _ url.Values, f fields) reply {
	pids, problem := f.stringList("bulkHangUpParticipants")
	if problem != "" {
		return badRequest("%s", problem)
	}
	for _, pid := range pids {
		if m.participant(pid) == nil {
			return badRequest("participant %s is not in the conference", pid)
		}
	}
	for _, pid := range pids {
		s.removeLocked(m, pid)
	}
	return ok(nil)
}

func (s *Server) muteAll(m *meeting, _ url.Values, f fields) reply {
	mute, _, problem := f.flag("isMute", true)
	if problem != "" {
		return badRequest("%s", problem)
	}
	allow, given, problem := f.flag("allowUnmuteByOneself", false)
	if problem != "" {
		return badRequest("%s", problem)
	}
	canUnmute := true // the vendor's default; the flag applies only when muting
	if mute == 1 && given {
		canUnmute = allow == 1
	}
	s.muteAllLocked(m, mute == 1, canUnmute)
	return ok(nil)
}

func (s *Server) muteParticipant(m *meeting, q url.Values, f fields) reply {
	pid := q.Get("participantID")
	if pid == "" {
		return badRequest("participantID is required")
	}
	mute, _, problem := f.flag("isMute", true)
	if problem != "" {
		return badRequest("%s", problem)
	}
	p := m.participant(pid)
	if p == nil {
		return badRequest("participant %s is not in the conference", pid)
	}
	s.muteLocked(m, p, mute == 1)
	return ok(nil)
}

func (s *Server) moveToWaitingRoom(m *meeting, _ url.Values, f fields) reply {
	pid, problem := f.str("participantID", true)
	if problem != "" {
		return badRequest("%s", problem)
	}
	return s.toWaitingRoom(m, []string{pid})
}

func (s *Server) batchMoveToWaitingRoom(m *meeting, _ url.Values, f fields) reply {
	pids, problem := f.stringList("batchParticipants")
	if problem != "" {
		return badRequest("%s", problem)
	}
	return s.toWaitingRoom(m, pids)
}

func (s *Server) toWaitingRoom(m *meeting, pids []string) reply {
	if !m.waitingRoom {
		return badRequest("the conference has no waiting room")
	}
	for _, pid := range pids {
		p := m.participant(pid)
		switch {
		case p == nil:
			return badRequest("participant %s is not in the conference", pid)
		case p.Role == RoleHost:
			return badRequest("the host cannot be moved to the waiting room")
		}
	}
	s.toWaitingRoomLocked(m, slices.Compact(slices.Clone(pids)))
	return ok(nil)
}

func (s *Server) admit(m *meeting, _ url.Values, f fields) reply {
	pid, problem := f.str("participantID", false)
	if problem != "" {
		return badRequest("%s", problem)
	}
	all, problem := f.boolean("allowAll")
	if problem != "" {
		return badRequest("%s", problem)
	}
	switch {
	case !m.waitingRoom:
		return badRequest("the conference has no waiting room")
	case all:
		pids := make([]string, len(m.waiting))
		for i, p := range m.waiting {
			pids[i] = p.pid
		}
		s.admitLocked(m, pids)
	case pid == "":
		return badRequest("participantID or allowAll is required")
	case m.waiter(pid) == nil:
		return badRequest("participant %s is not in the waiting room", pid)
	default:
		s.admitLocked(m, []string{pid})
	}
	return ok(nil)
}

// startedConfConfigRange lists updateStartedConfConfig's fields (the SDK's
// UpdateStartedConfigReqBody) and their allowed values.
var startedConfConfigRange = map[string][]int{
	"lockSharing":               {0, 1},
	"callInRestriction":         {0, 2, 3},
	"allowUnmuteByOneself":      {0, 1},
	"chatPermission":            {1, 2, 3, 4},
	"audienceCallInRestriction": {0, 2},
	"clientRecMode":             {0, 1, 2},
	"allowOpenCamera":           {0, 1},
	"allowRename":               {0, 1},
	"isLock":                    {0, 1},
	"freeShare":                 {0, 1},
}

func startedConfConfigFields() []string {
	var out []string
	for k := range startedConfConfigRange {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (s *Server) startedConfConfig(m *meeting, _ url.Values, f fields) reply {
	set := map[string]int{}
	for name, allowed := range startedConfConfigRange {
		v, given, problem := f.integer(name, allowed...)
		if problem != "" {
			return badRequest("%s", problem)
		}
		if given {
			set[name] = v
		}
	}
	for k, v := range set {
		m.config[k] = v
	}
	if v, ok := set["isLock"]; ok {
		s.setLockedLocked(m, v == 1)
	}
	confChange := false
	if v, ok := set["callInRestriction"]; ok && m.restriction != v {
		m.restriction, confChange = v, true
	}
	if v, ok := set["allowUnmuteByOneself"]; ok && m.canUnmute != (v == 1) {
		m.canUnmute, confChange = v == 1, true
	}
	if confChange {
		s.publishLocked(m, change{kind: confChanged})
	}
	return ok(nil)
}

func (s *Server) stop(m *meeting, _ url.Values, _ fields) reply {
	s.endLocked(m)
	m.stopped = true
	return ok(nil)
}

// maxProlong bounds one extension, in minutes.
const maxProlong = 24 * 60

func (s *Server) prolong(m *meeting, _ url.Values, f fields) reply {
	auto, _, problem := f.flag("auto", true)
	if problem != "" {
		return badRequest("%s", problem)
	}
	minutes, given, problem := f.integer("duration")
	switch {
	case problem != "":
		return badRequest("%s", problem)
	case !given:
		minutes = 15 // the vendor's default
	case minutes < 1 || minutes > maxProlong:
		return badRequest("duration must be 1 to %d minutes", maxProlong)
	}
	if auto == 1 {
		m.autoProlong = minutes
	} else {
		m.scheduledEnd = m.scheduledEnd.Add(time.Duration(minutes) * time.Minute)
	}
	s.publishLocked(m, change{kind: confChanged})
	return ok(nil)
}

// webSocketTokenLifetime is how long a socket token may wait for its one
// connection.
const webSocketTokenLifetime = time.Minute

func (s *Server) webSocketToken(m *meeting, _ url.Values, _ fields) reply {
	tok := randomHex(20)
	s.wsTokens[tok] = &token{conferenceID: m.id, expires: s.now().Add(webSocketTokenLifetime)}
	return ok(struct {
		WebSocketToken string `json:"webSocketToken"`
	}{tok})
}

// fields is a parsed JSON body.
type fields map[string]json.RawMessage

// parseObject wants exactly one JSON object whose fields are all in known.
func parseObject(body []byte, known []string) (fields, string) {
	var f fields
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&f); err != nil || f == nil {
		return nil, "the body must be a JSON object"
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "the body must be one JSON object"
	}
	for k := range f {
		if !slices.Contains(known, k) {
			return nil, "unknown field " + strconv.Quote(k)
		}
	}
	return f, ""
}

var jsonInteger = regexp.MustCompile(`^-?[0-9]+$`)

// integer reads an optional integer field (a JSON integer, not a string or
// a boolean), which must be one of allowed when allowed is not empty.
func (f fields) integer(name string, allowed ...int) (v int, given bool, problem string) {
	raw, given := f[name]
	if !given {
		return 0, false, ""
	}
	s := strings.TrimSpace(string(raw))
	if !jsonInteger.MatchString(s) {
		return 0, true, name + " must be an integer"
	}
	v, err := strconv.Atoi(s)
	switch {
	case err != nil:
		return 0, true, name + " must be an integer"
	case len(allowed) > 0 && !slices.Contains(allowed, v):
		return 0, true, name + " must be one of " + intsText(allowed)
	}
	return v, true, ""
}

// flag reads a 0/1 integer field.
func (f fields) flag(name string, required bool) (v int, given bool, problem string) {
	v, given, problem = f.integer(name, 0, 1)
	if problem == "" && required && !given {
		problem = name + " is required"
	}
	return v, given, problem
}

// str reads a string field.
func (f fields) str(name string, required bool) (string, string) {
	raw, given := f[name]
	if !given {
		if required {
			return "", name + " is required"
		}
		return "", ""
	}
	var s string
	if json.Unmarshal(raw, &s) != nil || s == "" {
		return "", name + " must be a non-empty string"
	}
	return s, ""
}

// boolean reads an optional JSON boolean field.
func (f fields) boolean(name string) (bool, string) {
	raw, given := f[name]
	if !given {
		return false, ""
	}
	var b bool
	if json.Unmarshal(raw, &b) != nil {
		return false, name + " must be true or false"
	}
	return b, ""
}

// stringList reads a required non-empty array of non-empty strings.
func (f fields) stringList(name string) ([]string, string) {
	raw, given := f[name]
	if !given {
		return nil, name + " is required"
	}
	var list []string
	if json.Unmarshal(raw, &list) != nil || len(list) == 0 || slices.Contains(list, "") {
		return nil, name + " must be a non-empty array of participant IDs"
	}
	return list, ""
}

func intsText(vs []int) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.Itoa(v)
	}
	return strings.Join(parts, ", ")
}

func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}

func mimeType(v string) (string, map[string]string, error) { return mime.ParseMediaType(v) }
