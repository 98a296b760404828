package meetingapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

// cast adds the usual people to the fake's meeting: Alice (host), Bob
// (co-host), Eve (anonymous), Mallory (another organisation).
func cast(t *testing.T, fake *meetingapitest.Server) (alice, bob, eve, mallory string) {
	t.Helper()
	add := func(p meetingapitest.Person) string {
		pid, err := fake.AddParticipant(string(testID), p)
		if err != nil {
			t.Fatalf("AddParticipant(%s): %v", p.Name, err)
		}
		return pid
	}
	return add(meetingapitest.Person{Name: "Alice", Phone: "+86 571 8765 4321", Role: meetingapitest.RoleHost, Account: "alice"}),
		add(meetingapitest.Person{Name: "Bob", Phone: "+8613900001234", Role: meetingapitest.RoleCoHost, Video: true}),
		add(meetingapitest.Person{Name: "Eve", Phone: "5550000", Anonymous: true}),
		add(meetingapitest.Person{Name: "Mallory", OrgID: "other-org"})
}

func snapshot(t *testing.T, fake *meetingapitest.Server) meetingapitest.Snapshot {
	t.Helper()
	snap, ok := fake.Snapshot(string(testID))
	if !ok {
		t.Fatal("the meeting is gone")
	}
	return snap
}

func setupWithWaitingRoom(t *testing.T, opts ...meetingapi.Option) (*meetingapi.Client, *meetingapitest.Server) {
	t.Helper()
	c, fake := setup(t, opts...)
	fake.AddMeeting(string(testID), testPassword.Reveal(), meetingapitest.InProgress,
		meetingapitest.WithWaitingRoom(), meetingapitest.WithScheduledEnd(fixedNow.Add(time.Hour)))
	return c, fake
}

func TestEveryControlSendsTheSDKsRequestAndTheFakeAppliesIt(t *testing.T) {
	t.Parallel()
	const cp = basePath + "/v1/mmc/control/conferences/"
	type pids struct{ alice, bob, eve, mallory string }
	tests := []struct {
		name      string
		call      func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error
		method    string
		path      string
		extra     func(p pids) string // the query after conferenceID
		body      func(p pids) string // exact bytes; "" for none
		ep        meetingapitest.Endpoint
		arrange   func(t *testing.T, f *meetingapitest.Server, p pids)
		wantState func(t *testing.T, s meetingapitest.Snapshot, p pids)
	}{
		{
			name: "HangUp posts the pids",
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				return c.HangUp(ctx, testID, tok, p.eve, p.mallory)
			},
			method: "POST", path: cp + "participants/delete", ep: meetingapitest.EndpointHangUp,
			body: func(p pids) string { return `{"bulkHangUpParticipants":["` + p.eve + `","` + p.mallory + `"]}` },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				if got := pidsOf(s.Participants); !slices.Equal(got, []string{p.alice, p.bob}) {
					t.Errorf("participants %v, want only Alice and Bob", got)
				}
			},
		},
		{
			name: "MuteAll true false mutes everyone but the host and stops self-unmuting",
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				return c.MuteAll(ctx, testID, tok, true, false)
			},
			method: "PUT", path: cp + "mute", ep: meetingapitest.EndpointMuteAll,
			body: func(pids) string { return `{"isMute":1,"allowUnmuteByOneself":0}` },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				if !s.MutedAll || s.CanUnmute {
					t.Errorf("MutedAll %v CanUnmute %v", s.MutedAll, s.CanUnmute)
				}
				for _, pi := range s.Participants {
					if pi.Muted != (pi.PID != p.alice) {
						t.Errorf("%s muted %v", pi.Person.Name, pi.Muted)
					}
				}
			},
		},
		{
			name: "MuteAll true true lets people unmute themselves",
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				return c.MuteAll(ctx, testID, tok, true, true)
			},
			method: "PUT", path: cp + "mute", ep: meetingapitest.EndpointMuteAll,
			body: func(pids) string { return `{"isMute":1,"allowUnmuteByOneself":1}` },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				if !s.MutedAll || !s.CanUnmute {
					t.Errorf("MutedAll %v CanUnmute %v", s.MutedAll, s.CanUnmute)
				}
			},
		},
		{
			name: "MuteAll false unmutes everyone and sends only isMute",
			arrange: func(t *testing.T, f *meetingapitest.Server, p pids) {
				if _, err := f.AddParticipant(string(testID), meetingapitest.Person{Name: "Muted Max", Muted: true}); err != nil {
					t.Fatal(err)
				}
			},
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				return c.MuteAll(ctx, testID, tok, false, false)
			},
			method: "PUT", path: cp + "mute", ep: meetingapitest.EndpointMuteAll,
			body: func(pids) string { return `{"isMute":0}` },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				for _, pi := range s.Participants {
					if pi.Muted {
						t.Errorf("%s is still muted", pi.Person.Name)
					}
				}
			},
		},
		{
			name: "MuteParticipant names the pid in the query",
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				return c.MuteParticipant(ctx, testID, tok, p.eve, true)
			},
			method: "PUT", path: cp + "participants/mute", ep: meetingapitest.EndpointMuteParticipant,
			extra: func(p pids) string { return "&participantID=" + p.eve },
			body:  func(pids) string { return `{"isMute":1}` },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				for _, pi := range s.Participants {
					if pi.Muted != (pi.PID == p.eve) {
						t.Errorf("%s muted %v", pi.Person.Name, pi.Muted)
					}
				}
			},
		},
		{
			name: "MuteParticipant false unmutes",
			arrange: func(t *testing.T, f *meetingapitest.Server, p pids) {
				if err := f.RemoveParticipant(string(testID), p.mallory); err != nil {
					t.Fatal(err)
				}
			},
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				if err := c.MuteParticipant(ctx, testID, tok, p.bob, true); err != nil {
					return err
				}
				return c.MuteParticipant(ctx, testID, tok, p.bob, false)
			},
			method: "PUT", path: cp + "participants/mute", ep: meetingapitest.EndpointMuteParticipant,
			extra: func(p pids) string { return "&participantID=" + p.bob },
			body:  func(pids) string { return `{"isMute":0}` },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				for _, pi := range s.Participants {
					if pi.Muted {
						t.Errorf("%s muted", pi.Person.Name)
					}
				}
			},
		},
		{
			name: "MoveToWaitingRoom with one pid uses the single form",
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				return c.MoveToWaitingRoom(ctx, testID, tok, p.eve)
			},
			method: "PUT", path: cp + "moveToWaitingRoom", ep: meetingapitest.EndpointMoveToWaitingRoom,
			body: func(p pids) string { return `{"participantID":"` + p.eve + `"}` },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				if got := pidsOf(s.Waiting); !slices.Equal(got, []string{p.eve}) {
					t.Errorf("waiting %v, want Eve", got)
				}
			},
		},
		{
			name: "MoveToWaitingRoom with several pids uses the batch form",
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				return c.MoveToWaitingRoom(ctx, testID, tok, p.eve, p.mallory)
			},
			method: "PUT", path: cp + "batchMoveToWaitingRoom", ep: meetingapitest.EndpointBatchMoveToWaitingRoom,
			body: func(p pids) string { return `{"batchParticipants":["` + p.eve + `","` + p.mallory + `"]}` },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				if got := pidsOf(s.Waiting); !slices.Equal(got, []string{p.eve, p.mallory}) {
					t.Errorf("waiting %v, want Eve and Mallory", got)
				}
			},
		},
		{
			name: "AdmitFromWaitingRoom lets one back in",
			arrange: func(t *testing.T, f *meetingapitest.Server, p pids) {
				if _, err := f.AddParticipant(string(testID), meetingapitest.Person{Name: "Walter", Waiting: true}); err != nil {
					t.Fatal(err)
				}
			},
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				if err := c.MoveToWaitingRoom(ctx, testID, tok, p.eve); err != nil {
					return err
				}
				return c.AdmitFromWaitingRoom(ctx, testID, tok, p.eve)
			},
			method: "PUT", path: cp + "allowWaitingParticipant", ep: meetingapitest.EndpointAdmit,
			body: func(p pids) string { return `{"participantID":"` + p.eve + `"}` },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				if len(s.Waiting) != 1 || s.Waiting[0].Person.Name != "Walter" || !slices.Contains(pidsOf(s.Participants), p.eve) {
					t.Errorf("waiting %v, participants %v; want Eve back and Walter waiting", s.Waiting, s.Participants)
				}
			},
		},
		{
			name: "AdmitAllFromWaitingRoom empties it",
			arrange: func(t *testing.T, f *meetingapitest.Server, p pids) {
				for _, n := range []string{"Walter", "Wanda"} {
					if _, err := f.AddParticipant(string(testID), meetingapitest.Person{Name: n, Waiting: true}); err != nil {
						t.Fatal(err)
					}
				}
			},
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				return c.AdmitAllFromWaitingRoom(ctx, testID, tok)
			},
			method: "PUT", path: cp + "allowWaitingParticipant", ep: meetingapitest.EndpointAdmit,
			body: func(pids) string { return `{"allowAll":true}` },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				if len(s.Waiting) != 0 || len(s.Participants) != 6 {
					t.Errorf("%d waiting, %d in; want 0 and 6", len(s.Waiting), len(s.Participants))
				}
			},
		},
		{
			name: "SetCallInRestriction invited sends 3",
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				return c.SetCallInRestriction(ctx, testID, tok, meetingapi.RestrictionInvited)
			},
			method: "PUT", path: cp + "updateStartedConfConfig", ep: meetingapitest.EndpointStartedConfConfig,
			body: func(pids) string { return `{"callInRestriction":3}` },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				if s.Restriction != 3 {
					t.Errorf("Restriction %d, want 3", s.Restriction)
				}
			},
		},
		{
			name: "SetCallInRestriction company sends 2",
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				return c.SetCallInRestriction(ctx, testID, tok, meetingapi.RestrictionCompany)
			},
			method: "PUT", path: cp + "updateStartedConfConfig", ep: meetingapitest.EndpointStartedConfConfig,
			body: func(pids) string { return `{"callInRestriction":2}` },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				if s.Restriction != 2 {
					t.Errorf("Restriction %d, want 2", s.Restriction)
				}
			},
		},
		{
			name: "SetCallInRestriction everyone sends 0",
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				if err := c.SetCallInRestriction(ctx, testID, tok, meetingapi.RestrictionInvited); err != nil {
					return err
				}
				return c.SetCallInRestriction(ctx, testID, tok, meetingapi.RestrictionEveryone)
			},
			method: "PUT", path: cp + "updateStartedConfConfig", ep: meetingapitest.EndpointStartedConfConfig,
			body: func(pids) string { return `{"callInRestriction":0}` },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				if s.Restriction != 0 {
					t.Errorf("Restriction %d, want 0", s.Restriction)
				}
			},
		},
		{
			name: "Stop sends no body and ends the meeting",
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				return c.Stop(ctx, testID, tok)
			},
			method: "PUT", path: cp + "stop", ep: meetingapitest.EndpointStop,
			body: func(pids) string { return "" },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				if s.State != meetingapitest.Ended || len(s.Participants) != 0 {
					t.Errorf("state %v with %d people", s.State, len(s.Participants))
				}
			},
		},
		{
			name: "Prolong sends auto 0 and the minutes",
			call: func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token, p pids) error {
				return c.Prolong(ctx, testID, tok, 45)
			},
			method: "PUT", path: cp + "duration", ep: meetingapitest.EndpointProlong,
			body: func(pids) string { return `{"auto":0,"duration":45}` },
			wantState: func(t *testing.T, s meetingapitest.Snapshot, p pids) {
				if want := fixedNow.Add(time.Hour + 45*time.Minute); !s.ScheduledEnd.Equal(want) {
					t.Errorf("ScheduledEnd %v, want %v", s.ScheduledEnd, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, fake := setupWithWaitingRoom(t)
			tok := token(t, c)
			var p pids
			p.alice, p.bob, p.eve, p.mallory = cast(t, fake)
			if tt.arrange != nil {
				tt.arrange(t, fake, p)
			}

			if err := tt.call(t.Context(), c, tok, p); err != nil {
				t.Fatalf("call: %v", err)
			}

			call := lastCall(t, fake)
			if call.Endpoint != tt.ep || call.Method != tt.method || call.Path != tt.path {
				t.Errorf("request = %s %s (%s), want %s %s", call.Method, call.Path, call.Endpoint, tt.method, tt.path)
			}
			wantQuery := "conferenceID=" + string(testID)
			if tt.extra != nil {
				wantQuery += tt.extra(p)
			}
			if got := call.Query.Encode(); got != wantQuery {
				t.Errorf("query = %q, want %q", got, wantQuery)
			}
			if got, want := string(call.Body), tt.body(p); got != want {
				t.Errorf("body = %s, want %s", got, want)
			}
			assertHeaders(t, call.Header, map[string]string{"X-Conference-Authorization": tok.Reveal()}, "X-Password", "X-Login-Type")
			tt.wantState(t, snapshot(t, fake), p)
		})
	}
}

func pidsOf(ps []meetingapitest.ParticipantInfo) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.PID)
	}
	return out
}

func TestRealTimeInfoSaysWhoIsInWithRolesAndFlags(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)
	tok := token(t, c)
	alice, bob, eve, mallory := cast(t, fake)
	if err := c.MuteParticipant(t.Context(), testID, tok, eve, true); err != nil {
		t.Fatal(err)
	}
	if err := fake.SetHand(string(testID), mallory, true); err != nil {
		t.Fatal(err)
	}

	info, err := c.RealTimeInfo(t.Context(), testID, tok)
	if err != nil {
		t.Fatalf("RealTimeInfo: %v", err)
	}

	call := lastCall(t, fake)
	if call.Method != "GET" || call.Path != basePath+"/v1/mmc/control/conferences/realTimeInfo" || len(call.Body) != 0 {
		t.Errorf("request = %s %s %q", call.Method, call.Path, call.Body)
	}
	assertQuery(t, call.Query)
	want := []meetingapi.Participant{
		{PID: alice, Name: "Alice", Phone: "+86 571 8765 4321", State: meetingapi.InMeeting, Host: true},
		{PID: bob, Name: "Bob", Phone: "+8613900001234", State: meetingapi.InMeeting, Video: true, CoHost: true},
		{PID: eve, Name: "Eve", Phone: "5550000", State: meetingapi.InMeeting, Muted: true},
		{PID: mallory, Name: "Mallory", State: meetingapi.InMeeting, HandRaised: true},
	}
	if !slices.Equal(info.Participants, want) {
		t.Errorf("Participants =\n%#v\nwant\n%#v", info.Participants, want)
	}
	if info.Conf.ChairID != alice || !slices.Equal(info.Conf.CoHosts, []string{bob}) {
		t.Errorf("Conf = %+v", info.Conf)
	}
	if p, ok := info.Participant(eve); !ok || p.Name != "Eve" {
		t.Errorf("Participant(eve) = %+v, %v", p, ok)
	}
	if _, ok := info.Participant("nobody"); ok {
		t.Error("Participant(nobody) found someone")
	}
}

func TestRealTimeInfoListsInvitedAttendees(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)
	tok := token(t, c)
	pid, err := fake.AddParticipant(string(testID), meetingapitest.Person{Name: "Ivy", Phone: "+4930123456789", Account: "ivy", Invited: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := fake.RemoveParticipant(string(testID), pid); err != nil {
		t.Fatal(err)
	}

	info, err := c.RealTimeInfo(t.Context(), testID, tok)
	if err != nil {
		t.Fatal(err)
	}

	if len(info.Participants) != 0 {
		t.Errorf("Participants = %v, want none: Ivy left", info.Participants)
	}
	if len(info.Attendees) != 1 || info.Attendees[0].Name != "Ivy" || info.Attendees[0].AccountID != "ivy" ||
		info.Attendees[0].Phone.Last4() != "6789" {
		t.Errorf("Attendees = %+v, want Ivy, still invited", info.Attendees)
	}
}

func TestRealTimeInfoToleratesTheVendorsLooseJSON(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"participants":[{"pid":"p1","name":"N","state":"2","mute":"1","video":1,"hand":0,"extra":true}],"confInfo":{}}`)
	}))
	t.Cleanup(srv.Close)
	c, _ := meetingapi.NewClient(meetingapi.WithBaseURL(srv.URL))

	info, err := c.RealTimeInfo(t.Context(), testID, "tok-0123456789abcdef")

	if err != nil {
		t.Fatal(err)
	}
	want := []meetingapi.Participant{{PID: "p1", Name: "N", State: meetingapi.Joining, Muted: true, Video: true}}
	if !slices.Equal(info.Participants, want) || info.Attendees != nil || info.Conf.ChairID != "" {
		t.Errorf("info = %+v", info)
	}
}

func TestAPhoneNumberNeverPrintsInFull(t *testing.T) {
	t.Parallel()
	const full = "+86 571 8765 4321"
	p := meetingapi.Participant{PID: "p1", Name: "Eve", Phone: full}

	if got := p.MaskedPhone(); got != "…4321" {
		t.Errorf("MaskedPhone = %q, want …4321", got)
	}
	if got := p.Phone.Last4(); got != "4321" {
		t.Errorf("Last4 = %q", got)
	}
	j, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	out.Write(j)
	fmt.Fprintf(&out, "%v %+v %#v %s %q %v %d", p, p, p, p.Phone, p.Phone, &p, p.Phone)
	info := meetingapi.RealTimeInfo{Participants: []meetingapi.Participant{p}}
	fmt.Fprintf(&out, "%v %+v %#v", info, info, info)
	for _, leak := range []string{full, "8765", "571"} {
		if strings.Contains(out.String(), leak) {
			t.Errorf("%q leaked into %s", leak, out.String())
		}
	}
	if !strings.Contains(out.String(), "…4321") {
		t.Errorf("the masked number is missing from %s", out.String())
	}
	if p.Phone.Reveal() != full {
		t.Error("Reveal lost the number")
	}
}

func TestPhoneMaskingKeepsShortNumbersHidden(t *testing.T) {
	t.Parallel()
	tests := []struct{ phone, last4, masked string }{
		{"+8613900001234", "1234", "…1234"},
		{"1234567", "4567", "…4567"},
		{"123456", "", "…"},
		{"1234", "", "…"},
		{"sip:alice@example.com", "", "…"},
		{"", "", ""},
		{"   ", "", ""},
	}
	for _, tt := range tests {
		p := meetingapi.Phone(tt.phone)
		if p.Last4() != tt.last4 || p.Masked() != tt.masked || p.String() != tt.masked {
			t.Errorf("Phone(%q): Last4 %q Masked %q String %q; want %q %q", tt.phone, p.Last4(), p.Masked(), p.String(), tt.last4, tt.masked)
		}
	}
}

func TestWebSocketTokenIsAFreshMaskedToken(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)
	tok := token(t, c)

	ws, err := c.WebSocketToken(t.Context(), testID, tok)
	if err != nil {
		t.Fatalf("WebSocketToken: %v", err)
	}

	call := lastCall(t, fake)
	if call.Method != "GET" || call.Path != basePath+"/v1/mmc/control/conferences/wsToken" || call.Endpoint != meetingapitest.EndpointWebSocketToken {
		t.Errorf("request = %s %s", call.Method, call.Path)
	}
	assertQuery(t, call.Query)
	if ws.Reveal() == "" || ws == tok || strings.Contains(fmt.Sprint(ws), ws.Reveal()) {
		t.Errorf("token %v: want a fresh token that prints masked", ws)
	}

	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"webSocketToken":"has a space secretvalue"}`)
	}))
	t.Cleanup(srv.Close)
	bad, _ := meetingapi.NewClient(meetingapi.WithBaseURL(srv.URL))
	_, err = bad.WebSocketToken(t.Context(), testID, tok)
	if !errors.Is(err, meetingapi.ErrUnexpectedResponse) || strings.Contains(err.Error(), "secretvalue") {
		t.Errorf("err = %v, want ErrUnexpectedResponse without the body", err)
	}
}

func TestControlsMapTheFakesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		arrange func(*meetingapitest.Server)
		call    func(context.Context, *meetingapi.Client, meetingapi.Token) error
		wantOp  string
		is      error
		code    string
		status  int
	}{
		{"hanging up someone who is not there", nil, func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
			return c.HangUp(ctx, testID, tok, "nobody")
		}, "hang-up", nil, meetingapitest.CodeBadRequest, 400},
		{"a waiting room where there is none", nil, func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
			return c.AdmitAllFromWaitingRoom(ctx, testID, tok)
		}, "admit", nil, meetingapitest.CodeBadRequest, 400},
		{"muting in a meeting that has ended", func(f *meetingapitest.Server) { f.SetState(string(testID), meetingapitest.Ended) },
			func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
				return c.MuteAll(ctx, testID, tok, true, false)
			}, "mute-all", meetingapi.ErrMeetingNotFound, "MMC.111072006", 400},
		{"prolonging with an expired token", func(f *meetingapitest.Server) { f.ExpireTokens() },
			func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
				return c.Prolong(ctx, testID, tok, 15)
			}, "prolong", meetingapi.ErrTokenInvalid, "MMC.111070004", 401},
		{"stopping with an expired token", func(f *meetingapitest.Server) { f.ExpireTokens() },
			func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
				return c.Stop(ctx, testID, tok)
			}, "stop", meetingapi.ErrTokenInvalid, "MMC.111070004", 401},
		{"the real-time info of a meeting that has ended", func(f *meetingapitest.Server) { f.SetState(string(testID), meetingapitest.Ended) },
			func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
				_, err := c.RealTimeInfo(ctx, testID, tok)
				return err
			}, "real-time-info", meetingapi.ErrMeetingNotFound, "MMC.111072006", 400},
		{"a socket token with an expired token", func(f *meetingapitest.Server) { f.ExpireTokens() },
			func(ctx context.Context, c *meetingapi.Client, tok meetingapi.Token) error {
				_, err := c.WebSocketToken(ctx, testID, tok)
				return err
			}, "ws-token", meetingapi.ErrTokenInvalid, "MMC.111070004", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, fake := setup(t, noRetry)
			tok := token(t, c)
			if tt.arrange != nil {
				tt.arrange(fake)
			}
			err := tt.call(t.Context(), c, tok)
			var ae *meetingapi.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v, want an *APIError", err)
			}
			if ae.Op != tt.wantOp || ae.Code != tt.code || ae.StatusCode != tt.status || ae.Message == "" {
				t.Errorf("APIError = %+v, want op %s, %d %s and a message", ae, tt.wantOp, tt.status, tt.code)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if meetingapi.OutcomeUnknown(err) {
				t.Error("a clear refusal leaves no doubt about the outcome")
			}
		})
	}
}

func TestControlsRefuseBadInputWithoutTouchingTheNetwork(t *testing.T) {
	t.Parallel()
	c, fake := setup(t)
	const tok = meetingapi.Token("tok-0123456789abcdef")
	many := make([]string, meetingapi.MaxParticipantsPerCall+1)
	for i := range many {
		many[i] = fmt.Sprintf("p%d", i)
	}
	ctx := t.Context()
	tests := []struct {
		name string
		call func() error
	}{
		{"hang up nobody", func() error { return c.HangUp(ctx, testID, tok) }},
		{"hang up too many", func() error { return c.HangUp(ctx, testID, tok, many...) }},
		{"an empty pid", func() error { return c.MuteParticipant(ctx, testID, tok, "", true) }},
		{"a pid with a space", func() error { return c.MoveToWaitingRoom(ctx, testID, tok, "p1 &x=1") }},
		{"a pid with a control character", func() error { return c.AdmitFromWaitingRoom(ctx, testID, tok, "p1\nX-Evil: 1") }},
		{"a pid that is too long", func() error { return c.HangUp(ctx, testID, tok, strings.Repeat("p", 200)) }},
		{"a non-ASCII pid", func() error { return c.HangUp(ctx, testID, tok, "pé") }},
		{"prolong by 0", func() error { return c.Prolong(ctx, testID, tok, 0) }},
		{"prolong by -5", func() error { return c.Prolong(ctx, testID, tok, -5) }},
		{"prolong by more than a day", func() error { return c.Prolong(ctx, testID, tok, meetingapi.MaxProlongMinutes+1) }},
		{"an unknown restriction", func() error { return c.SetCallInRestriction(ctx, testID, tok, meetingapi.Restriction(1)) }},
		{"a bad conference ID", func() error { return c.Stop(ctx, "12ab", tok) }},
		{"no token", func() error { _, err := c.RealTimeInfo(ctx, testID, ""); return err }},
		{"a token with a newline", func() error { _, err := c.WebSocketToken(ctx, testID, "a\nb"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("got no error")
			}
			if strings.Contains(err.Error(), "X-Evil") || strings.Contains(err.Error(), "&x=1") || strings.Contains(err.Error(), "pppp") {
				t.Errorf("Error() = %q repeats the input", err)
			}
			if meetingapi.Retryable(err) || meetingapi.OutcomeUnknown(err) {
				t.Error("bad input is neither retryable nor of unknown outcome")
			}
		})
	}
	if n := len(fake.Calls()); n != 0 {
		t.Errorf("the fake received %d calls, want 0", n)
	}
}

func TestRestrictionsParseAndPrint(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want meetingapi.Restriction
		wire int
	}{{"everyone", meetingapi.RestrictionEveryone, 0}, {"Company", meetingapi.RestrictionCompany, 2}, {" INVITED ", meetingapi.RestrictionInvited, 3}} {
		got, err := meetingapi.ParseRestriction(tt.in)
		if err != nil || got != tt.want || int(got) != tt.wire || !got.Valid() {
			t.Errorf("ParseRestriction(%q) = %v (%d), %v", tt.in, got, int(got), err)
		}
		if back, _ := meetingapi.ParseRestriction(got.String()); back != got {
			t.Errorf("%v does not round-trip through String", got)
		}
	}
	for _, bad := range []string{"", "all", "1", "invited people"} {
		if _, err := meetingapi.ParseRestriction(bad); err == nil {
			t.Errorf("ParseRestriction(%q) accepted it", bad)
		}
	}
	if meetingapi.Restriction(1).Valid() || meetingapi.Restriction(1).String() != "Restriction(1)" {
		t.Error("1 is not a documented restriction")
	}
}

// observations records what WithObserver reports.
type observations struct {
	mu  sync.Mutex
	got []string
}

func (o *observations) observe(op string, status int, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d < 0 {
		op += "(negative duration)"
	}
	o.got = append(o.got, fmt.Sprintf("%s %d", op, status))
}

func (o *observations) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.got)
}

func TestTheObserverSeesEveryAttemptWithAShortOpName(t *testing.T) {
	t.Parallel()
	var obs observations
	c, fake := setup(t, meetingapi.WithObserver(obs.observe), instant)
	tok := token(t, c)
	pid, _ := fake.AddParticipant(string(testID), meetingapitest.Person{Name: "Eve"})
	fake.FailNext(meetingapitest.EndpointLock, 2, 503, "MMC.111072049")

	ctx := t.Context()
	if err := c.Lock(ctx, testID, tok); err != nil {
		t.Fatal(err)
	}
	_, _ = c.KeepAlive(ctx, testID, tok)
	_, _ = c.RealTimeInfo(ctx, testID, tok)
	_ = c.MuteParticipant(ctx, testID, tok, pid, true)
	_ = c.MuteParticipant(ctx, testID, tok, pid, false)
	_ = c.MuteAll(ctx, testID, tok, true, false)
	_ = c.MuteAll(ctx, testID, tok, false, false)
	_ = c.SetCallInRestriction(ctx, testID, tok, meetingapi.RestrictionInvited)
	_ = c.Prolong(ctx, testID, tok, 10)
	_, _ = c.WebSocketToken(ctx, testID, tok)
	_ = c.HangUp(ctx, testID, tok, pid)
	_ = c.HangUp(ctx, testID, tok, pid) // gone: 400
	_ = c.Unlock(ctx, testID, tok)
	_ = c.Stop(ctx, testID, tok)
	fake.Close()
	_ = c.Unlock(ctx, testID, "tok-0123456789abcdef0123") // 4 attempts, no answer

	want := []string{
		"token 200", "lock 503", "lock 503", "lock 200", "keep-alive 200", "real-time-info 200", "mute 200", "unmute 200",
		"mute-all 200", "unmute-all 200", "restrict 200", "prolong 200", "ws-token 200", "hang-up 200", "hang-up 400",
		"unlock 200", "stop 200", "unlock 0", "unlock 0", "unlock 0", "unlock 0",
	}
	if got := obs.list(); !slices.Equal(got, want) {
		t.Errorf("observed\n%v\nwant\n%v", got, want)
	}
}

func TestCallsThatAreNotIdempotentAreRetriedOnlyWhenTheyCannotHaveBeenApplied(t *testing.T) {
	t.Parallel()
	t.Run("server trouble on Prolong is not retried and leaves the outcome open", func(t *testing.T) {
		t.Parallel()
		var sl sleepRecorder
		c, fake := setup(t, sl.option())
		tok := token(t, c)
		fake.FailNext(meetingapitest.EndpointProlong, 1, 503, "MMC.111072049")

		err := c.Prolong(t.Context(), testID, tok, 15)

		if n := fake.CallCount(meetingapitest.EndpointProlong); n != 1 {
			t.Errorf("%d prolong calls, want 1", n)
		}
		if !errors.Is(err, meetingapi.ErrServerTrouble) || !meetingapi.OutcomeUnknown(err) || meetingapi.Retryable(err) {
			t.Errorf("err = %v: want server trouble, outcome unknown, not retryable", err)
		}
		if h := meetingapi.HintFor(err); !strings.Contains(h, "may or may not") {
			t.Errorf("HintFor = %q, want a warning that it may have been done", h)
		}
		if len(sl.waits()) != 0 {
			t.Errorf("waited %v", sl.waits())
		}
	})
	t.Run("flow control on Prolong is retried and extends once", func(t *testing.T) {
		t.Parallel()
		var sl sleepRecorder
		c, fake := setup(t, sl.option())
		tok := token(t, c)
		fake.FailNext(meetingapitest.EndpointProlong, 2, 429, "100000429")

		if err := c.Prolong(t.Context(), testID, tok, 15); err != nil {
			t.Fatalf("Prolong: %v", err)
		}

		if n := fake.CallCount(meetingapitest.EndpointProlong); n != 3 {
			t.Errorf("%d prolong calls, want 3", n)
		}
		if got, want := snapshot(t, fake).ScheduledEnd, fixedNow.Add(time.Hour+15*time.Minute); !got.Equal(want) {
			t.Errorf("ScheduledEnd %v, want %v (extended once)", got, want)
		}
	})
	t.Run("a HangUp that got no connection is retried", func(t *testing.T) {
		t.Parallel()
		var sl sleepRecorder
		c, fake := setup(t, sl.option(), noBreaker)
		fake.Close()

		err := c.HangUp(t.Context(), testID, "tok-0123456789abcdef0123", "p1")

		if err == nil || !strings.Contains(err.Error(), "after 4 attempts") {
			t.Errorf("err = %v, want 4 attempts", err)
		}
		if meetingapi.OutcomeUnknown(err) || !meetingapi.Retryable(err) {
			t.Errorf("a refused connection sent nothing: OutcomeUnknown %v, Retryable %v", meetingapi.OutcomeUnknown(err), meetingapi.Retryable(err))
		}
	})
	t.Run("a Stop whose answer never came is not retried", func(t *testing.T) {
		t.Parallel()
		attempts := 0
		var mu sync.Mutex
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			attempts++
			mu.Unlock()
			hj, ok := w.(http.Hijacker)
			if !ok {
				t.Error("no hijacker")
				return
			}
			conn, _, _ := hj.Hijack()
			conn.Close() // the request arrived; the answer never comes
		}))
		t.Cleanup(srv.Close)
		c, _ := meetingapi.NewClient(meetingapi.WithBaseURL(srv.URL), instant)

		err := c.Stop(t.Context(), testID, "tok-0123456789abcdef0123")

		mu.Lock()
		defer mu.Unlock()
		if attempts != 1 {
			t.Errorf("%d attempts, want 1", attempts)
		}
		if !meetingapi.OutcomeUnknown(err) || meetingapi.Retryable(err) {
			t.Errorf("err = %v: want outcome unknown and not retryable", err)
		}
	})
	t.Run("an idempotent mute is retried through server trouble", func(t *testing.T) {
		t.Parallel()
		var sl sleepRecorder
		c, fake := setup(t, sl.option())
		tok := token(t, c)
		fake.FailNext(meetingapitest.EndpointMuteAll, 2, 503, "MMC.111072049")

		if err := c.MuteAll(t.Context(), testID, tok, true, false); err != nil {
			t.Fatalf("MuteAll: %v", err)
		}
		if n := fake.CallCount(meetingapitest.EndpointMuteAll); n != 3 {
			t.Errorf("%d calls, want 3", n)
		}
	})
	t.Run("a slow Prolong is not cut off by the per-attempt timeout", func(t *testing.T) {
		t.Parallel()
		c, fake := setup(t, meetingapi.WithRetry(meetingapi.RetryPolicy{MaxAttempts: 4, AttemptTimeout: 50 * time.Millisecond}))
		tok := token(t, c)
		fake.SetLatency(300 * time.Millisecond)

		if err := c.Prolong(t.Context(), testID, tok, 5); err != nil {
			t.Fatalf("Prolong: %v", err)
		}
		if n := fake.CallCount(meetingapitest.EndpointProlong); n != 1 {
			t.Errorf("%d calls, want 1", n)
		}
	})
}
