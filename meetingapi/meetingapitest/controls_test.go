package meetingapitest_test

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

// control is a request to a control endpoint with a live token.
func control(tok, method, path, body string) req {
	h := map[string]string{"X-Conference-Authorization": tok}
	if body != "" {
		h["Content-Type"] = "application/json"
	}
	return req{method: method, path: path, body: body, headers: h}
}

func add(t *testing.T, s *meetingapitest.Server, p meetingapitest.Person) string {
	t.Helper()
	pid, err := s.AddParticipant(id, p)
	if err != nil {
		t.Fatalf("AddParticipant(%s): %v", p.Name, err)
	}
	return pid
}

func snap(t *testing.T, s *meetingapitest.Server) meetingapitest.Snapshot {
	t.Helper()
	sn, ok := s.Snapshot(id)
	if !ok {
		t.Fatal("the meeting is gone")
	}
	return sn
}

// clock is a settable clock for the fake.
type clock struct{ t atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.t.Store(&t)
	return c
}
func (c *clock) now() time.Time          { return *c.t.Load() }
func (c *clock) advance(d time.Duration) { n := c.now().Add(d); c.t.Store(&n) }

func TestJoiningFollowsTheLockAndTheRestriction(t *testing.T) {
	t.Parallel()
	guest := meetingapitest.Person{Name: "Guest"}
	tests := []struct {
		name    string
		setup   string // a body for updateStartedConfConfig, "" for none
		lock    bool
		person  meetingapitest.Person
		refused bool
	}{
		{"a guest joins an open meeting", "", false, guest, false},
		{"an anonymous guest joins an open meeting", "", false, meetingapitest.Person{Name: "Anon", Anonymous: true}, false},
		{"a guest is kept out of a locked meeting", "", true, guest, true},
		{"an invited person joins a locked meeting", "", true, meetingapitest.Person{Name: "Ivy", Invited: true}, false},
		{"the host joins a locked meeting", "", true, meetingapitest.Person{Name: "Hal", Role: meetingapitest.RoleHost}, false},
		{"a co-host joins a locked meeting", "", true, meetingapitest.Person{Name: "Cole", Role: meetingapitest.RoleCoHost}, false},
		{"a colleague joins a company-only meeting", `{"callInRestriction":2}`, false, guest, false},
		{"someone from another organisation is kept out of a company-only meeting", `{"callInRestriction":2}`, false,
			meetingapitest.Person{Name: "Olga", OrgID: "other-org"}, true},
		{"an anonymous guest is kept out of a company-only meeting", `{"callInRestriction":2}`, false,
			meetingapitest.Person{Name: "Anon", Anonymous: true}, true},
		{"a guest is kept out of an invited-only meeting", `{"callInRestriction":3}`, false, guest, true},
		{"an invited person joins an invited-only meeting", `{"callInRestriction":3}`, false, meetingapitest.Person{Name: "Ivy", Invited: true}, false},
		{"a lock through updateStartedConfConfig keeps guests out", `{"isLock":1}`, false, guest, true},
		{"someone who wants the waiting room is refused where there is none", "", false, meetingapitest.Person{Name: "W", Waiting: true}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newFake(t)
			tok := getToken(t, s)
			if tt.setup != "" {
				if r := send(t, s, control(tok, "PUT", meetingapitest.StartedConfConfigPath, tt.setup)); r.status != 200 {
					t.Fatalf("updateStartedConfConfig: %d %s", r.status, r.body)
				}
			}
			if tt.lock {
				send(t, s, lock(tok, `{"isLock":1}`))
			}

			pid, err := s.AddParticipant(id, tt.person)

			if tt.refused {
				if !errors.Is(err, meetingapitest.ErrJoinRefused) || pid != "" {
					t.Errorf("AddParticipant = %q, %v; want ErrJoinRefused", pid, err)
				}
				if n := len(snap(t, s).Participants); n != 0 {
					t.Errorf("%d participants after a refusal", n)
				}
				return
			}
			if err != nil || len(pid) != 32 {
				t.Fatalf("AddParticipant = %q, %v", pid, err)
			}
			if got := snap(t, s).Participants; len(got) != 1 || got[0].PID != pid || got[0].Person.Name != tt.person.Name {
				t.Errorf("participants = %+v", got)
			}
		})
	}
}

func TestRealTimeInfoHasTheSDKsShape(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	tok := getToken(t, s)
	host := add(t, s, meetingapitest.Person{Name: "Hal", Phone: "+100", Role: meetingapitest.RoleHost})
	co := add(t, s, meetingapitest.Person{Name: "Cole", Role: meetingapitest.RoleCoHost, Video: true})
	add(t, s, meetingapitest.Person{Name: "Ivy", Invited: true, Account: "ivy", Muted: true})

	r := send(t, s, control(tok, "GET", meetingapitest.RealTimeInfoPath, ""))

	if r.status != 200 {
		t.Fatalf("HTTP %d %s", r.status, r.body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["data"]; ok || raw["participants"] == nil || raw["attendees"] == nil || raw["confInfo"] == nil {
		t.Errorf("answer %s: want participants, attendees and confInfo at the top, no data wrapper", r.body)
	}
	var ans struct {
		Participants []map[string]any `json:"participants"`
		Attendees    []map[string]any `json:"attendees"`
		ConfInfo     struct {
			ChairID string   `json:"chairID"`
			CoHosts []string `json:"coHosts"`
		} `json:"confInfo"`
	}
	if err := json.Unmarshal(r.body, &ans); err != nil {
		t.Fatal(err)
	}
	if len(ans.Participants) != 3 || ans.ConfInfo.ChairID != host || !slices.Equal(ans.ConfInfo.CoHosts, []string{co}) {
		t.Fatalf("answer %s", r.body)
	}
	p := ans.Participants[2]
	if p["name"] != "Ivy" || p["mute"] != 1.0 || p["state"] != 0.0 || p["video"] != 0.0 || p["hand"] != 0.0 || p["pid"] == "" {
		t.Errorf("participant %v: want integer flags as the SDK's model has them", p)
	}
	if ans.Participants[1]["video"] != 1.0 {
		t.Errorf("Cole has video: %v", ans.Participants[1])
	}
	if len(ans.Attendees) != 1 || ans.Attendees[0]["name"] != "Ivy" || ans.Attendees[0]["accountID"] != "ivy" {
		t.Errorf("attendees %v, want Ivy (invited)", ans.Attendees)
	}
}

func TestHangingUpSomeoneAbsentChangesNothing(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	tok := getToken(t, s)
	eve := add(t, s, meetingapitest.Person{Name: "Eve"})

	r := send(t, s, control(tok, "POST", meetingapitest.HangUpPath, `{"bulkHangUpParticipants":["`+eve+`","nobody"]}`))

	if r.status != 400 || r.code != meetingapitest.CodeBadRequest || r.msg == "" {
		t.Errorf("HTTP %d %s", r.status, r.body)
	}
	if got := snap(t, s).Participants; len(got) != 1 {
		t.Errorf("participants %v: a refused hang-up must not remove Eve", got)
	}
	if r := send(t, s, control(tok, "POST", meetingapitest.HangUpPath, `{"bulkHangUpParticipants":["`+eve+`"]}`)); r.status != 200 || len(r.body) != 0 {
		t.Errorf("hang-up: HTTP %d %q", r.status, r.body)
	}
	if got := snap(t, s).Participants; len(got) != 0 {
		t.Errorf("participants %v after the hang-up", got)
	}
}

func TestTheWaitingRoomWorksOnlyWhereThereIsOne(t *testing.T) {
	t.Parallel()
	t.Run("without one", func(t *testing.T) {
		t.Parallel()
		s := newFake(t)
		tok := getToken(t, s)
		eve := add(t, s, meetingapitest.Person{Name: "Eve"})
		for _, r := range []req{
			control(tok, "PUT", meetingapitest.MoveToWaitingRoomPath, `{"participantID":"`+eve+`"}`),
			control(tok, "PUT", meetingapitest.BatchMoveToWaitingRoomPath, `{"batchParticipants":["`+eve+`"]}`),
			control(tok, "PUT", meetingapitest.AdmitPath, `{"allowAll":true}`),
		} {
			if got := send(t, s, r); got.status != 400 || got.code != meetingapitest.CodeBadRequest || got.msg != "the conference has no waiting room" {
				t.Errorf("%s: HTTP %d %s", r.path, got.status, got.body)
			}
		}
		if sn := snap(t, s); len(sn.Participants) != 1 || len(sn.Waiting) != 0 || sn.HasWaitingRoom {
			t.Errorf("snapshot %+v", sn)
		}
	})
	t.Run("with one", func(t *testing.T) {
		t.Parallel()
		s := newFake(t)
		s.AddMeeting(id, pw, meetingapitest.InProgress, meetingapitest.WithWaitingRoom())
		tok := getToken(t, s)
		host := add(t, s, meetingapitest.Person{Name: "Hal", Role: meetingapitest.RoleHost})
		eve := add(t, s, meetingapitest.Person{Name: "Eve"})
		wanda := add(t, s, meetingapitest.Person{Name: "Wanda", Waiting: true})

		steps := []struct {
			body, path string
			status     int
		}{
			{`{"participantID":"` + host + `"}`, meetingapitest.MoveToWaitingRoomPath, 400}, // not the host
			{`{"participantID":"nobody"}`, meetingapitest.MoveToWaitingRoomPath, 400},
			{`{"participantID":"` + eve + `"}`, meetingapitest.MoveToWaitingRoomPath, 200},
			{`{"participantID":"` + eve + `"}`, meetingapitest.MoveToWaitingRoomPath, 400}, // already out
			{`{"participantID":"` + host + `"}`, meetingapitest.AdmitPath, 400},            // not waiting
			{`{}`, meetingapitest.AdmitPath, 400},
			{`{"participantID":"` + wanda + `"}`, meetingapitest.AdmitPath, 200},
		}
		for _, st := range steps {
			if r := send(t, s, control(tok, "PUT", st.path, st.body)); r.status != st.status {
				t.Errorf("PUT %s %s: HTTP %d %s, want %d", st.path, st.body, r.status, r.body, st.status)
			}
		}
		sn := snap(t, s)
		if got := pids(sn.Participants); !slices.Equal(got, []string{host, wanda}) {
			t.Errorf("in the meeting: %v, want Hal and Wanda", got)
		}
		if len(sn.Waiting) != 1 || sn.Waiting[0].PID != eve || !sn.Waiting[0].Waiting {
			t.Errorf("waiting: %+v, want Eve", sn.Waiting)
		}
		if r := send(t, s, control(tok, "PUT", meetingapitest.AdmitPath, `{"allowAll":true}`)); r.status != 200 {
			t.Errorf("allowAll: HTTP %d %s", r.status, r.body)
		}
		if sn := snap(t, s); len(sn.Waiting) != 0 || len(sn.Participants) != 3 {
			t.Errorf("after allowAll: %d waiting, %d in", len(sn.Waiting), len(sn.Participants))
		}
	})
}

func pids(ps []meetingapitest.ParticipantInfo) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.PID)
	}
	return out
}

func TestMuteFlagsFollowTheCalls(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	tok := getToken(t, s)
	host := add(t, s, meetingapitest.Person{Name: "Hal", Role: meetingapitest.RoleHost})
	add(t, s, meetingapitest.Person{Name: "Eve"})

	send(t, s, control(tok, "PUT", meetingapitest.MuteAllPath, `{"isMute":1,"allowUnmuteByOneself":0}`))
	late := add(t, s, meetingapitest.Person{Name: "Late"})
	sn := snap(t, s)
	if !sn.MutedAll || sn.CanUnmute {
		t.Errorf("MutedAll %v CanUnmute %v", sn.MutedAll, sn.CanUnmute)
	}
	for _, p := range sn.Participants {
		if p.Muted != (p.PID != host) {
			t.Errorf("%s muted %v (latecomers are muted too, the host is not)", p.Person.Name, p.Muted)
		}
	}

	r := send(t, s, req{method: "PUT", path: meetingapitest.MuteParticipantPath, query: "conferenceID=" + id + "&participantID=" + late,
		body: `{"isMute":0}`, headers: map[string]string{"X-Conference-Authorization": tok, "Content-Type": "application/json"}})
	if r.status != 200 {
		t.Fatalf("unmute one: HTTP %d %s", r.status, r.body)
	}
	r = send(t, s, control(tok, "PUT", meetingapitest.MuteParticipantPath, `{"isMute":1}`)) // no participantID
	if r.status != 400 {
		t.Errorf("mute without participantID: HTTP %d", r.status)
	}
	send(t, s, control(tok, "PUT", meetingapitest.MuteAllPath, `{"isMute":0}`))

	sn = snap(t, s)
	if sn.MutedAll || !sn.CanUnmute {
		t.Errorf("after unmute all: MutedAll %v CanUnmute %v", sn.MutedAll, sn.CanUnmute)
	}
	for _, p := range sn.Participants {
		if p.Muted {
			t.Errorf("%s still muted", p.Person.Name)
		}
	}
}

func TestAStoppedMeetingAnswersEndedAndCanBeRejoinedUntilItsScheduledEnd(t *testing.T) {
	t.Parallel()
	clk := newClock(time.Date(2025, 5, 6, 9, 0, 0, 0, time.UTC))
	s := newFake(t, meetingapitest.WithClock(clk.now))
	s.AddMeeting(id, pw, meetingapitest.InProgress, meetingapitest.WithScheduledEnd(clk.now().Add(30*time.Minute)))
	tok := getToken(t, s)
	add(t, s, meetingapitest.Person{Name: "Eve"})

	if r := send(t, s, control(tok, "PUT", meetingapitest.StopPath, "")); r.status != 200 || len(r.body) != 0 {
		t.Fatalf("stop: HTTP %d %q", r.status, r.body)
	}
	if sn := snap(t, s); sn.State != meetingapitest.Ended || len(sn.Participants) != 0 {
		t.Errorf("after stop: %v with %d people", sn.State, len(sn.Participants))
	}
	for _, r := range []req{
		control(tok, "GET", meetingapitest.RealTimeInfoPath, ""),
		control(tok, "PUT", meetingapitest.StopPath, ""),
		lock(tok, `{"isLock":1}`),
		{headers: map[string]string{"X-Password": pw, "X-Login-Type": "1"}},
	} {
		if got := send(t, s, r); got.status != 400 || got.code != meetingapitest.CodeMeetingEnded {
			t.Errorf("%s %s after stop: HTTP %d %s, want MMC.111072006", r.method, r.path, got.status, got.body)
		}
	}

	clk.advance(10 * time.Minute)
	if _, err := s.AddParticipant(id, meetingapitest.Person{Name: "Eve again"}); err != nil {
		t.Fatalf("rejoining before the scheduled end: %v", err)
	}
	if sn := snap(t, s); sn.State != meetingapitest.InProgress || len(sn.Participants) != 1 {
		t.Errorf("after the rejoin: %v with %d people", sn.State, len(sn.Participants))
	}
	tok = getToken(t, s)
	send(t, s, control(tok, "PUT", meetingapitest.StopPath, ""))

	clk.advance(30 * time.Minute) // past the scheduled end
	if _, err := s.AddParticipant(id, meetingapitest.Person{Name: "Eve, late"}); !errors.Is(err, meetingapitest.ErrJoinRefused) {
		t.Errorf("joining after the scheduled end: %v, want ErrJoinRefused", err)
	}
}

func TestAMeetingEndedBySetStateStaysEnded(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	add(t, s, meetingapitest.Person{Name: "Eve"})
	s.SetState(id, meetingapitest.Ended)
	if _, err := s.AddParticipant(id, meetingapitest.Person{Name: "Eve"}); !errors.Is(err, meetingapitest.ErrJoinRefused) {
		t.Errorf("AddParticipant = %v, want ErrJoinRefused", err)
	}
	if sn := snap(t, s); len(sn.Participants) != 0 {
		t.Errorf("people remain in an ended meeting: %v", sn.Participants)
	}
	s.SetState(id, meetingapitest.NotStarted)
	if _, err := s.AddParticipant(id, meetingapitest.Person{Name: "Eve"}); !errors.Is(err, meetingapitest.ErrJoinRefused) {
		t.Errorf("AddParticipant = %v, want ErrJoinRefused before the start", err)
	}
}

func TestProlongMovesTheScheduledEndOrTurnsOnAutomaticExtension(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 5, 6, 9, 0, 0, 0, time.UTC)
	s := newFake(t, meetingapitest.WithClock(func() time.Time { return start }))
	tok := getToken(t, s)
	end := start.Add(time.Hour)
	steps := []struct {
		body     string
		status   int
		wantEnd  time.Time
		wantAuto int
	}{
		{`{"auto":0,"duration":30}`, 200, end.Add(30 * time.Minute), 0},
		{`{"auto":0}`, 200, end.Add(45 * time.Minute), 0}, // the vendor's default: 15
		{`{"auto":1,"duration":20}`, 200, end.Add(45 * time.Minute), 20},
		{`{"auto":0,"duration":0}`, 400, end.Add(45 * time.Minute), 20},
		{`{"auto":0,"duration":"30"}`, 400, end.Add(45 * time.Minute), 20},
		{`{"duration":30}`, 400, end.Add(45 * time.Minute), 20}, // auto is required
		{`{"auto":2,"duration":30}`, 400, end.Add(45 * time.Minute), 20},
	}
	for _, st := range steps {
		r := send(t, s, control(tok, "PUT", meetingapitest.ProlongPath, st.body))
		if r.status != st.status {
			t.Errorf("%s: HTTP %d %s, want %d", st.body, r.status, r.body, st.status)
		}
		if sn := snap(t, s); !sn.ScheduledEnd.Equal(st.wantEnd) || sn.AutoProlong != st.wantAuto {
			t.Errorf("after %s: end %v auto %d, want %v %d", st.body, sn.ScheduledEnd, sn.AutoProlong, st.wantEnd, st.wantAuto)
		}
	}
}

func TestUpdateStartedConfConfigChecksEveryField(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	tok := getToken(t, s)
	tests := []struct {
		body   string
		status int
	}{
		{`{"callInRestriction":3}`, 200},
		{`{"callInRestriction":1}`, 400},
		{`{"callInRestriction":"3"}`, 400},
		{`{"isLock":1,"allowUnmuteByOneself":0,"chatPermission":4,"allowRename":0,"allowOpenCamera":1,"lockSharing":1,"freeShare":0,"clientRecMode":2,"audienceCallInRestriction":2}`, 200},
		{`{"chatPermission":0}`, 400},
		{`{"isLock":true}`, 400},
		{`{"callinRestriction":3}`, 400}, // a misspelt field
		{`{}`, 200},
		{`[]`, 400},
	}
	for _, tt := range tests {
		if r := send(t, s, control(tok, "PUT", meetingapitest.StartedConfConfigPath, tt.body)); r.status != tt.status || (r.status != 200 && (r.code == "" || r.msg == "")) {
			t.Errorf("%s: HTTP %d %s, want %d", tt.body, r.status, r.body, tt.status)
		}
	}
	sn := snap(t, s)
	if sn.Restriction != 3 || !sn.Locked || sn.CanUnmute || sn.Config["chatPermission"] != 4 || sn.Config["clientRecMode"] != 2 {
		t.Errorf("snapshot %+v", sn)
	}
}

func TestBodiesAreCheckedStrictly(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	tok := getToken(t, s)
	eve := add(t, s, meetingapitest.Person{Name: "Eve"})
	tests := []struct {
		name string
		r    req
	}{
		{"a string flag", control(tok, "PUT", meetingapitest.MuteAllPath, `{"isMute":"1"}`)},
		{"a float flag", control(tok, "PUT", meetingapitest.MuteAllPath, `{"isMute":1.0}`)},
		{"a boolean flag", control(tok, "PUT", meetingapitest.MuteAllPath, `{"isMute":true}`)},
		{"a missing isMute", control(tok, "PUT", meetingapitest.MuteAllPath, `{"allowUnmuteByOneself":0}`)},
		{"an unknown field", control(tok, "PUT", meetingapitest.MuteAllPath, `{"isMute":1,"everyone":1}`)},
		{"an empty hang-up list", control(tok, "POST", meetingapitest.HangUpPath, `{"bulkHangUpParticipants":[]}`)},
		{"a hang-up list of numbers", control(tok, "POST", meetingapitest.HangUpPath, `{"bulkHangUpParticipants":[1]}`)},
		{"a hang-up by PUT", control(tok, "PUT", meetingapitest.HangUpPath, `{"bulkHangUpParticipants":["`+eve+`"]}`)},
		{"a hang-up without Content-Type", req{method: "POST", path: meetingapitest.HangUpPath,
			body: `{"bulkHangUpParticipants":["` + eve + `"]}`, headers: map[string]string{"X-Conference-Authorization": tok}}},
		{"a hang-up that is not JSON", control(tok, "POST", meetingapitest.HangUpPath, `bulkHangUpParticipants=`+eve)},
		{"a real-time info by POST", control(tok, "POST", meetingapitest.RealTimeInfoPath, `{}`)},
		{"an allowAll that is a string", control(tok, "PUT", meetingapitest.AdmitPath, `{"allowAll":"yes"}`)},
		{"a stop by POST", control(tok, "POST", meetingapitest.StopPath, "")},
		{"a wsToken without a token", req{method: "GET", path: meetingapitest.WebSocketTokenPath}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := send(t, s, tt.r)
			if r.status < 400 || r.code == "" || r.msg == "" {
				t.Errorf("HTTP %d %s: want an error with error_code and error_msg", r.status, r.body)
			}
		})
	}
	if sn := snap(t, s); len(sn.Participants) != 1 || sn.MutedAll || sn.Participants[0].Muted || sn.State != meetingapitest.InProgress {
		t.Errorf("a refused call changed the meeting: %+v", sn)
	}
}

func TestFailNextWorksForEveryControlAndChangesNothing(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	tok := getToken(t, s)
	eve := add(t, s, meetingapitest.Person{Name: "Eve"})
	tests := []struct {
		ep meetingapitest.Endpoint
		r  req
	}{
		{meetingapitest.EndpointRealTimeInfo, control(tok, "GET", meetingapitest.RealTimeInfoPath, "")},
		{meetingapitest.EndpointHangUp, control(tok, "POST", meetingapitest.HangUpPath, `{"bulkHangUpParticipants":["`+eve+`"]}`)},
		{meetingapitest.EndpointMuteAll, control(tok, "PUT", meetingapitest.MuteAllPath, `{"isMute":1}`)},
		{meetingapitest.EndpointStartedConfConfig, control(tok, "PUT", meetingapitest.StartedConfConfigPath, `{"isLock":1}`)},
		{meetingapitest.EndpointStop, control(tok, "PUT", meetingapitest.StopPath, "")},
		{meetingapitest.EndpointProlong, control(tok, "PUT", meetingapitest.ProlongPath, `{"auto":0,"duration":5}`)},
		{meetingapitest.EndpointWebSocketToken, control(tok, "GET", meetingapitest.WebSocketTokenPath, "")},
	}
	before := snap(t, s)
	for _, tt := range tests {
		s.FailNext(tt.ep, 1, 503, "MMC.111072049")
		if r := send(t, s, tt.r); r.status != 503 || r.code != "MMC.111072049" || r.msg == "" {
			t.Errorf("%s: HTTP %d %s, want the injected fault", tt.ep, r.status, r.body)
		}
	}
	after := snap(t, s)
	if after.State != before.State || after.Locked || after.MutedAll || len(after.Participants) != 1 || !after.ScheduledEnd.Equal(before.ScheduledEnd) {
		t.Errorf("a fault changed the meeting: %+v", after)
	}
	for _, tt := range tests {
		if n := s.CallCount(tt.ep); n != 1 {
			t.Errorf("CallCount(%s) = %d, want 1", tt.ep, n)
		}
	}
}

func TestWebSocketTokensHaveTheSDKsShape(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	tok := getToken(t, s)

	a := send(t, s, control(tok, "GET", meetingapitest.WebSocketTokenPath, ""))
	b := send(t, s, control(tok, "GET", meetingapitest.WebSocketTokenPath, ""))

	var ta, tb struct {
		WebSocketToken string `json:"webSocketToken"`
	}
	if json.Unmarshal(a.body, &ta) != nil || json.Unmarshal(b.body, &tb) != nil || ta.WebSocketToken == "" || ta.WebSocketToken == tb.WebSocketToken {
		t.Errorf("answers %s and %s: want two different webSocketToken values", a.body, b.body)
	}
}

func TestTheModelReportsWhatItDoesNotKnow(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	if _, err := s.AddParticipant("123123123", meetingapitest.Person{}); !errors.Is(err, meetingapitest.ErrUnknownMeeting) {
		t.Errorf("AddParticipant(unknown meeting) = %v", err)
	}
	if err := s.RemoveParticipant(id, "nobody"); !errors.Is(err, meetingapitest.ErrUnknownParticipant) {
		t.Errorf("RemoveParticipant(nobody) = %v", err)
	}
	if err := s.RemoveParticipant("123123123", "nobody"); !errors.Is(err, meetingapitest.ErrUnknownMeeting) {
		t.Errorf("RemoveParticipant(unknown meeting) = %v", err)
	}
	if err := s.SetHand(id, "nobody", true); !errors.Is(err, meetingapitest.ErrUnknownParticipant) {
		t.Errorf("SetHand(nobody) = %v", err)
	}
	if _, ok := s.Snapshot("123123123"); ok {
		t.Error("Snapshot(unknown) found a meeting")
	}
	pid := add(t, s, meetingapitest.Person{Name: "Eve"})
	sn := snap(t, s)
	sn.Participants[0].Person.Name = "changed"
	sn.Config["x"] = 1
	if again := snap(t, s); again.Participants[0].Person.Name != "Eve" || len(again.Config) != 0 {
		t.Error("a Snapshot shares memory with the model")
	}
	if err := s.SetHand(id, pid, true); err != nil || !snap(t, s).Participants[0].HandRaised {
		t.Errorf("SetHand = %v", err)
	}
	if err := s.RemoveParticipant(id, pid); err != nil || len(snap(t, s).Participants) != 0 {
		t.Errorf("RemoveParticipant = %v", err)
	}
}

func TestTheModelIsSafeForConcurrentUse(t *testing.T) {
	t.Parallel()
	s := newFake(t)
	s.AddMeeting(id, pw, meetingapitest.InProgress, meetingapitest.WithWaitingRoom())
	tok := getToken(t, s)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for range 15 {
				pid, err := s.AddParticipant(id, meetingapitest.Person{Name: "P"})
				if err != nil {
					t.Error(err)
					return
				}
				send(t, s, control(tok, "PUT", meetingapitest.MuteAllPath, `{"isMute":1}`))
				send(t, s, control(tok, "GET", meetingapitest.RealTimeInfoPath, ""))
				send(t, s, control(tok, "PUT", meetingapitest.MoveToWaitingRoomPath, `{"participantID":"`+pid+`"}`))
				send(t, s, control(tok, "PUT", meetingapitest.AdmitPath, `{"participantID":"`+pid+`"}`))
				send(t, s, control(tok, "POST", meetingapitest.HangUpPath, `{"bulkHangUpParticipants":["`+pid+`"]}`))
				s.Snapshot(id)
			}
		})
	}
	wg.Wait()
	if sn := snap(t, s); len(sn.Participants) != 0 || len(sn.Waiting) != 0 {
		t.Errorf("%d in, %d waiting; want everyone hung up", len(sn.Participants), len(sn.Waiting))
	}
	if n := s.CallCount(meetingapitest.EndpointHangUp); n != 90 {
		t.Errorf("%d hang-ups, want 90", n)
	}
}
