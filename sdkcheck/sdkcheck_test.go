package sdkcheck_test

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	meeting "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/meeting/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/meeting/v1/model"

	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

const (
	confID = "914083136"
	hostPW = "host-pw-7731"
)

var start = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// accountLogin answers the SDK's account login (POST
// /v1/usg/acs/auth/account), which it makes before its first call to get
// the X-Access-Token it then sends on every call. meetingbot never logs in
// that way and the fake does not serve it; everything else goes to the fake.
type accountLogin struct {
	next   http.RoundTripper
	logins atomic.Int32
}

const accessToken = "sdk-access-token"

func (a *accountLogin) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path != "/v1/usg/acs/auth/account" {
		return a.next.RoundTrip(r)
	}
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	a.logins.Add(1)
	body := `{"accessToken":"` + accessToken + `"}`
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: r,
	}, nil
}

// rig is one fake meeting API with one meeting in progress (it has a
// waiting room), the vendor's SDK and meetingbot's client pointed at it,
// and a control token for each.
type rig struct {
	fake    *meetingapitest.Server
	sdk     *meeting.MeetingClient
	ours    *meetingapi.Client
	sdkTok  string
	ourTok  meetingapi.Token
	clock   *atomic.Pointer[time.Time]
	logins  *accountLogin
	created []string // pids, in the order the arrange step added them
}

func newRig(t *testing.T) *rig {
	t.Helper()
	clock := &atomic.Pointer[time.Time]{}
	clock.Store(&start)
	fake := meetingapitest.NewServer(meetingapitest.WithClock(func() time.Time { return *clock.Load() }))
	t.Cleanup(fake.Close)
	fake.AddMeeting(confID, hostPW, meetingapitest.InProgress, meetingapitest.WithWaitingRoom())

	logins := &accountLogin{next: http.DefaultTransport}
	hc, err := meeting.MeetingClientBuilder().
		WithEndpoint(fake.URL).
		WithCredential(meeting.NewMeetingCredentialsBuilder().WithUserName("sdkcheck").WithUserPassword("sdkcheck-pw").Build()).
		WithHttpConfig(config.DefaultHttpConfig().WithHttpRoundTripper(logins).WithTimeout(10 * time.Second)).
		SafeBuild()
	if err != nil {
		t.Fatalf("building the SDK client: %v", err)
	}
	sdk := meeting.NewMeetingClient(hc)
	ours, err := meetingapi.NewClient(meetingapi.WithBaseURL(fake.URL))
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{fake: fake, sdk: sdk, ours: ours, clock: clock, logins: logins}

	resp, err := sdk.CreateConfToken(&model.CreateConfTokenRequest{ConferenceID: confID, XPassword: hostPW, XLoginType: 1})
	if err != nil {
		t.Fatalf("SDK CreateConfToken: %v", err)
	}
	if resp.Data == nil || resp.Data.Token == nil || *resp.Data.Token == "" {
		t.Fatalf("SDK CreateConfToken decoded no token: %v", resp)
	}
	r.sdkTok = *resp.Data.Token
	ct, err := ours.ControlToken(t.Context(), confID, hostPW)
	if err != nil {
		t.Fatalf("ControlToken: %v", err)
	}
	r.ourTok = ct.Token
	return r
}

// add lets p into the meeting and remembers the pid.
func (r *rig) add(t *testing.T, p meetingapitest.Person) string {
	t.Helper()
	pid, err := r.fake.AddParticipant(confID, p)
	if err != nil {
		t.Fatalf("AddParticipant(%s): %v", p.Name, err)
	}
	r.created = append(r.created, pid)
	return pid
}

func (r *rig) pid(i int) string { return r.created[i] }

func (r *rig) snapshot(t *testing.T) meetingapitest.Snapshot {
	t.Helper()
	snap, ok := r.fake.Snapshot(confID)
	if !ok {
		t.Fatal("the meeting is gone")
	}
	return snap
}

// lastCall is the last call ep received.
func (r *rig) lastCall(t *testing.T, ep meetingapitest.Endpoint) meetingapitest.Call {
	t.Helper()
	calls := r.fake.Calls()
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Endpoint == ep {
			return calls[i]
		}
	}
	t.Fatalf("the fake received no %s call", ep)
	return meetingapitest.Call{}
}

// wire is what identifies a call on the wire, with the rig's pids replaced
// by their position, so two rigs can be compared.
type wire struct {
	Method      string
	Path        string
	Query       map[string][]string
	ContentType string
	Body        any // the decoded JSON body, nil for none
}

func (r *rig) wireOf(t *testing.T, c meetingapitest.Call) wire {
	t.Helper()
	norm := func(s string) string {
		for i, pid := range r.created {
			s = strings.ReplaceAll(s, pid, "PID"+string(rune('0'+i)))
		}
		return s
	}
	w := wire{Method: c.Method, Path: c.Path, Query: map[string][]string{}}
	for k, vs := range c.Query {
		for _, v := range vs {
			w.Query[k] = append(w.Query[k], norm(v))
		}
	}
	if mt, _, err := mime.ParseMediaType(c.Header.Get("Content-Type")); err == nil {
		w.ContentType = mt
	}
	if len(c.Body) > 0 {
		if err := json.Unmarshal([]byte(norm(string(c.Body))), &w.Body); err != nil {
			t.Fatalf("body %q is not JSON: %v", c.Body, err)
		}
	}
	if got := c.Header.Get("X-Conference-Authorization"); c.Endpoint != meetingapitest.EndpointToken && got == "" {
		t.Errorf("%s %s sent no X-Conference-Authorization", c.Method, c.Path)
	}
	return w
}

// A control is one call meetingbot makes, done once by the SDK and once by
// meetingbot's client, each on its own rig arranged the same way.
type control struct {
	name     string
	endpoint meetingapitest.Endpoint
	arrange  func(t *testing.T, r *rig)
	sdk      func(r *rig) error
	ours     func(t *testing.T, r *rig) error
	check    func(t *testing.T, r *rig) // that the fake understood the call
}

var (
	alice   = meetingapitest.Person{Name: "Alice Host", Phone: "+8657100001111", Role: meetingapitest.RoleHost, Account: "alice"}
	bob     = meetingapitest.Person{Name: "Bob", Phone: "+8657100002222", Role: meetingapitest.RoleCoHost, Account: "bob", Video: true}
	eve     = meetingapitest.Person{Name: "Eve Stranger", Phone: "+15550009999", Anonymous: true}
	mallory = meetingapitest.Person{Name: "Mallory", OrgID: "other-org", Account: "mallory"}
)

// people is the usual cast: Alice (host), Bob (co-host), Eve (anonymous),
// Mallory (another organisation), pids 0 to 3.
func people(t *testing.T, r *rig) {
	for _, p := range []meetingapitest.Person{alice, bob, eve, mallory} {
		r.add(t, p)
	}
}

func controls() []control {
	return []control{
		{
			name: "lock", endpoint: meetingapitest.EndpointLock,
			sdk: func(r *rig) error {
				_, err := r.sdk.LockMeeting(&model.LockMeetingRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok,
					Body: &model.RestLockReqBody{IsLock: 1}})
				return err
			},
			ours: func(t *testing.T, r *rig) error { return r.ours.Lock(t.Context(), confID, r.ourTok) },
			check: func(t *testing.T, r *rig) {
				if !r.snapshot(t).Locked {
					t.Error("the meeting is not locked")
				}
			},
		},
		{
			name: "unlock", endpoint: meetingapitest.EndpointLock,
			arrange: func(t *testing.T, r *rig) {
				if err := r.ours.Lock(t.Context(), confID, r.ourTok); err != nil {
					t.Fatal(err)
				}
			},
			sdk: func(r *rig) error {
				_, err := r.sdk.LockMeeting(&model.LockMeetingRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok,
					Body: &model.RestLockReqBody{IsLock: 0}})
				return err
			},
			ours: func(t *testing.T, r *rig) error { return r.ours.Unlock(t.Context(), confID, r.ourTok) },
			check: func(t *testing.T, r *rig) {
				if r.snapshot(t).Locked {
					t.Error("the meeting is still locked")
				}
			},
		},
		{
			name: "hang up", endpoint: meetingapitest.EndpointHangUp, arrange: people,
			sdk: func(r *rig) error {
				_, err := r.sdk.HangUp(&model.HangUpRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok,
					Body: &model.RestBulkHangUpReqBody{BulkHangUpParticipants: []string{r.pid(2), r.pid(3)}}})
				return err
			},
			ours: func(t *testing.T, r *rig) error {
				return r.ours.HangUp(t.Context(), confID, r.ourTok, r.pid(2), r.pid(3))
			},
			check: func(t *testing.T, r *rig) {
				if got := names(r.snapshot(t).Participants); !slices.Equal(got, []string{"Alice Host", "Bob"}) {
					t.Errorf("participants = %v, want Eve and Mallory hung up", got)
				}
			},
		},
		{
			name: "mute everyone, no unmuting", endpoint: meetingapitest.EndpointMuteAll, arrange: people,
			sdk: func(r *rig) error {
				_, err := r.sdk.MuteMeeting(&model.MuteMeetingRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok,
					Body: &model.RestMuteReqBody{IsMute: 1, AllowUnmuteByOneself: ptr(int32(0))}})
				return err
			},
			ours: func(t *testing.T, r *rig) error { return r.ours.MuteAll(t.Context(), confID, r.ourTok, true, false) },
			check: func(t *testing.T, r *rig) {
				snap := r.snapshot(t)
				if !snap.MutedAll || snap.CanUnmute {
					t.Errorf("MutedAll %v, CanUnmute %v; want true, false", snap.MutedAll, snap.CanUnmute)
				}
				for _, p := range snap.Participants {
					if want := p.Person.Role != meetingapitest.RoleHost; p.Muted != want {
						t.Errorf("%s muted = %v, want %v", p.Person.Name, p.Muted, want)
					}
				}
			},
		},
		{
			name: "unmute everyone", endpoint: meetingapitest.EndpointMuteAll,
			arrange: func(t *testing.T, r *rig) {
				people(t, r)
				if err := r.ours.MuteAll(t.Context(), confID, r.ourTok, true, false); err != nil {
					t.Fatal(err)
				}
			},
			sdk: func(r *rig) error {
				_, err := r.sdk.MuteMeeting(&model.MuteMeetingRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok,
					Body: &model.RestMuteReqBody{IsMute: 0}})
				return err
			},
			ours: func(t *testing.T, r *rig) error { return r.ours.MuteAll(t.Context(), confID, r.ourTok, false, true) },
			check: func(t *testing.T, r *rig) {
				snap := r.snapshot(t)
				if snap.MutedAll || !snap.CanUnmute {
					t.Errorf("MutedAll %v, CanUnmute %v; want false, true", snap.MutedAll, snap.CanUnmute)
				}
				for _, p := range snap.Participants {
					if p.Muted {
						t.Errorf("%s is still muted", p.Person.Name)
					}
				}
			},
		},
		{
			name: "mute one participant", endpoint: meetingapitest.EndpointMuteParticipant, arrange: people,
			sdk: func(r *rig) error {
				_, err := r.sdk.MuteParticipant(&model.MuteParticipantRequest{ConferenceID: confID, ParticipantID: r.pid(2),
					XConferenceAuthorization: r.sdkTok, Body: &model.RestMuteParticipantReqBody{IsMute: 1}})
				return err
			},
			ours: func(t *testing.T, r *rig) error {
				return r.ours.MuteParticipant(t.Context(), confID, r.ourTok, r.pid(2), true)
			},
			check: func(t *testing.T, r *rig) {
				for _, p := range r.snapshot(t).Participants {
					if want := p.PID == r.pid(2); p.Muted != want {
						t.Errorf("%s muted = %v, want %v", p.Person.Name, p.Muted, want)
					}
				}
			},
		},
		{
			name: "move one to the waiting room", endpoint: meetingapitest.EndpointMoveToWaitingRoom, arrange: people,
			sdk: func(r *rig) error {
				_, err := r.sdk.MoveToWaitingRoom(&model.MoveToWaitingRoomRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok,
					Body: &model.RestMoveToWaitingRoomReqBody{ParticipantID: r.pid(2)}})
				return err
			},
			ours: func(t *testing.T, r *rig) error {
				return r.ours.MoveToWaitingRoom(t.Context(), confID, r.ourTok, r.pid(2))
			},
			check: func(t *testing.T, r *rig) {
				snap := r.snapshot(t)
				if got := names(snap.Waiting); !slices.Equal(got, []string{"Eve Stranger"}) {
					t.Errorf("waiting = %v, want Eve", got)
				}
				if len(snap.Participants) != 3 {
					t.Errorf("%d participants, want 3", len(snap.Participants))
				}
			},
		},
		{
			name: "move several to the waiting room", endpoint: meetingapitest.EndpointBatchMoveToWaitingRoom, arrange: people,
			sdk: func(r *rig) error {
				_, err := r.sdk.BatchMoveToWaitingRoom(&model.BatchMoveToWaitingRoomRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok,
					Body: &model.RestBatchMoveToWaitingRoomReqBody{BatchParticipants: []string{r.pid(2), r.pid(3)}}})
				return err
			},
			ours: func(t *testing.T, r *rig) error {
				return r.ours.MoveToWaitingRoom(t.Context(), confID, r.ourTok, r.pid(2), r.pid(3))
			},
			check: func(t *testing.T, r *rig) {
				if got := names(r.snapshot(t).Waiting); !slices.Equal(got, []string{"Eve Stranger", "Mallory"}) {
					t.Errorf("waiting = %v, want Eve and Mallory", got)
				}
			},
		},
		{
			name: "admit one from the waiting room", endpoint: meetingapitest.EndpointAdmit,
			arrange: func(t *testing.T, r *rig) {
				r.add(t, meetingapitest.Person{Name: "Wanda", Waiting: true})
				r.add(t, meetingapitest.Person{Name: "Walter", Waiting: true})
			},
			sdk: func(r *rig) error {
				_, err := r.sdk.AllowWaitingParticipant(&model.AllowWaitingParticipantRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok,
					Body: &model.RestAllowWaitingParticipantReqBody{ParticipantID: ptr(r.pid(0))}})
				return err
			},
			ours: func(t *testing.T, r *rig) error {
				return r.ours.AdmitFromWaitingRoom(t.Context(), confID, r.ourTok, r.pid(0))
			},
			check: func(t *testing.T, r *rig) {
				snap := r.snapshot(t)
				if got := names(snap.Participants); !slices.Equal(got, []string{"Wanda"}) {
					t.Errorf("participants = %v, want Wanda", got)
				}
				if got := names(snap.Waiting); !slices.Equal(got, []string{"Walter"}) {
					t.Errorf("waiting = %v, want Walter", got)
				}
			},
		},
		{
			name: "admit everyone from the waiting room", endpoint: meetingapitest.EndpointAdmit,
			arrange: func(t *testing.T, r *rig) {
				r.add(t, meetingapitest.Person{Name: "Wanda", Waiting: true})
				r.add(t, meetingapitest.Person{Name: "Walter", Waiting: true})
			},
			sdk: func(r *rig) error {
				_, err := r.sdk.AllowWaitingParticipant(&model.AllowWaitingParticipantRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok,
					Body: &model.RestAllowWaitingParticipantReqBody{AllowAll: ptr(true)}})
				return err
			},
			ours: func(t *testing.T, r *rig) error {
				return r.ours.AdmitAllFromWaitingRoom(t.Context(), confID, r.ourTok)
			},
			check: func(t *testing.T, r *rig) {
				snap := r.snapshot(t)
				if got := names(snap.Participants); !slices.Equal(got, []string{"Wanda", "Walter"}) || len(snap.Waiting) != 0 {
					t.Errorf("participants = %v, waiting %d; want both admitted", got, len(snap.Waiting))
				}
			},
		},
		{
			name: "restrict to invited people", endpoint: meetingapitest.EndpointStartedConfConfig,
			sdk: func(r *rig) error {
				_, err := r.sdk.UpdateStartedConfConfig(&model.UpdateStartedConfConfigRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok,
					Body: &model.UpdateStartedConfigReqBody{CallInRestriction: ptr(int32(3))}})
				return err
			},
			ours: func(t *testing.T, r *rig) error {
				return r.ours.SetCallInRestriction(t.Context(), confID, r.ourTok, meetingapi.RestrictionInvited)
			},
			check: func(t *testing.T, r *rig) {
				if got := r.snapshot(t).Restriction; got != 3 {
					t.Errorf("Restriction = %d, want 3", got)
				}
				if _, err := r.fake.AddParticipant(confID, eve); !errors.Is(err, meetingapitest.ErrJoinRefused) {
					t.Errorf("an uninvited guest joined: %v", err)
				}
			},
		},
		{
			name: "stop", endpoint: meetingapitest.EndpointStop, arrange: people,
			sdk: func(r *rig) error {
				_, err := r.sdk.StopMeeting(&model.StopMeetingRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok})
				return err
			},
			ours: func(t *testing.T, r *rig) error { return r.ours.Stop(t.Context(), confID, r.ourTok) },
			check: func(t *testing.T, r *rig) {
				snap := r.snapshot(t)
				if snap.State != meetingapitest.Ended || len(snap.Participants) != 0 {
					t.Errorf("state %v with %d participants, want ended and empty", snap.State, len(snap.Participants))
				}
			},
		},
		{
			name: "prolong", endpoint: meetingapitest.EndpointProlong,
			sdk: func(r *rig) error {
				_, err := r.sdk.ProlongMeeting(&model.ProlongMeetingRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok,
					Body: &model.RestProlongDurReqBody{Auto: 0, Duration: ptr(int32(30))}})
				return err
			},
			ours: func(t *testing.T, r *rig) error { return r.ours.Prolong(t.Context(), confID, r.ourTok, 30) },
			check: func(t *testing.T, r *rig) {
				if got, want := r.snapshot(t).ScheduledEnd, start.Add(time.Hour+30*time.Minute); !got.Equal(want) {
					t.Errorf("ScheduledEnd = %v, want %v", got, want)
				}
			},
		},
	}
}

func names(ps []meetingapitest.ParticipantInfo) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Person.Name)
	}
	return out
}

// TestTheFakeUnderstandsTheSDKAndOurClientSendsWhatTheSDKSends runs every
// control twice on identical rigs, once through the vendor's SDK and once
// through meetingapi, checks that the fake applied each, and that both sent
// the same method, path, query, content type and JSON body.
func TestTheFakeUnderstandsTheSDKAndOurClientSendsWhatTheSDKSends(t *testing.T) {
	t.Parallel()
	for _, c := range controls() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			viaSDK, viaUs := newRig(t), newRig(t)
			if c.arrange != nil {
				c.arrange(t, viaSDK)
				c.arrange(t, viaUs)
			}

			if err := c.sdk(viaSDK); err != nil {
				t.Fatalf("the SDK's call failed: %v", err)
			}
			c.check(t, viaSDK)
			if err := c.ours(t, viaUs); err != nil {
				t.Fatalf("meetingapi's call failed: %v", err)
			}
			c.check(t, viaUs)

			sdkCall := viaSDK.lastCall(t, c.endpoint)
			if got := sdkCall.Header.Get("X-Access-Token"); got != accessToken {
				t.Errorf("the SDK sent X-Access-Token %q: did it run its account login?", got)
			}
			want, got := viaSDK.wireOf(t, sdkCall), viaUs.wireOf(t, viaUs.lastCall(t, c.endpoint))
			if !reflect.DeepEqual(got, want) {
				t.Errorf("meetingapi sent\n  %+v\nthe SDK sent\n  %+v", got, want)
			}
		})
	}
}

func TestTheSDKDecodesTheTokenAnswers(t *testing.T) {
	t.Parallel()
	r := newRig(t)

	resp, err := r.sdk.CreateConfToken(&model.CreateConfTokenRequest{
		ConferenceID: confID, XConferenceAuthorization: ptr(r.sdkTok), XLoginType: 1,
	})
	if err != nil {
		t.Fatalf("SDK keep-alive: %v", err)
	}
	d := resp.Data
	if d == nil || d.Token == nil || *d.Token == r.sdkTok || d.ExpireTime == nil || d.ConfTokenExpireTime == nil ||
		d.WsURL == nil || !strings.HasPrefix(*d.WsURL, "ws://127.0.0.1:") || d.OrgID == nil || *d.OrgID == "" {
		t.Errorf("keep-alive answer decoded as %v, want a fresh token, its expiry, a ws:// URL and the org ID", resp)
	}
	if n := r.logins.logins.Load(); n != 1 {
		t.Errorf("the SDK logged in %d times, want once", n)
	}
	calls := r.fake.Calls()
	var sdkCalls, ourCalls []meetingapitest.Call
	for _, c := range calls {
		if c.Endpoint != meetingapitest.EndpointToken {
			continue
		}
		if c.Header.Get("X-Access-Token") != "" {
			sdkCalls = append(sdkCalls, c)
		} else {
			ourCalls = append(ourCalls, c)
		}
	}
	if len(sdkCalls) != 2 || len(ourCalls) != 1 {
		t.Fatalf("token calls: %d by the SDK, %d by us; want 2 and 1", len(sdkCalls), len(ourCalls))
	}
	pw, ours := r.wireOf(t, sdkCalls[0]), r.wireOf(t, ourCalls[0])
	if !reflect.DeepEqual(pw, ours) {
		t.Errorf("token GET: meetingapi sent %+v, the SDK %+v", ours, pw)
	}
	for _, h := range []string{"X-Password", "X-Login-Type"} {
		if a, b := sdkCalls[0].Header.Get(h), ourCalls[0].Header.Get(h); a != b || a == "" {
			t.Errorf("header %s: SDK %q, meetingapi %q", h, a, b)
		}
	}
	if got := sdkCalls[1].Header.Get("X-Conference-Authorization"); got != r.sdkTok {
		t.Error("the SDK's keep-alive did not send the raw token")
	}
}

func TestTheSDKDecodesTheRealTimeInfoAnswer(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	people(t, r)
	if err := r.ours.MuteParticipant(t.Context(), confID, r.ourTok, r.pid(2), true); err != nil {
		t.Fatal(err)
	}

	resp, err := r.sdk.ShowRealTimeInfoOfMeeting(&model.ShowRealTimeInfoOfMeetingRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok})
	if err != nil {
		t.Fatalf("SDK ShowRealTimeInfoOfMeeting: %v", err)
	}
	if resp.Participants == nil || len(*resp.Participants) != 4 {
		t.Fatalf("the SDK decoded %v, want 4 participants", resp.Participants)
	}
	for i, p := range *resp.Participants {
		if p.Pid == nil || *p.Pid != r.pid(i) || p.Name == nil || p.Mute == nil || p.State == nil || *p.State != 0 {
			t.Errorf("participant %d decoded as %v", i, p)
		}
	}
	if m := (*resp.Participants)[2].Mute; m == nil || *m != 1 {
		t.Error("Eve is not muted in the SDK's view")
	}
	ci := resp.ConfInfo
	if ci == nil || ci.ChairID == nil || *ci.ChairID != r.pid(0) || ci.CoHosts == nil || !slices.Equal(*ci.CoHosts, []string{r.pid(1)}) {
		t.Errorf("confInfo decoded as %v, want Alice as chair and Bob as co-host", ci)
	}

	info, err := r.ours.RealTimeInfo(t.Context(), confID, r.ourTok)
	if err != nil {
		t.Fatalf("RealTimeInfo: %v", err)
	}
	if len(info.Participants) != 4 {
		t.Fatalf("meetingapi decoded %d participants, want 4", len(info.Participants))
	}
	for i, p := range info.Participants {
		sp := (*resp.Participants)[i]
		if p.PID != *sp.Pid || p.Name != *sp.Name || p.Muted != (*sp.Mute == 1) || p.Phone.Reveal() != deref(sp.Phone) {
			t.Errorf("participant %d: meetingapi %+v, SDK %v", i, p, sp)
		}
	}
	if !info.Participants[0].Host || !info.Participants[1].CoHost || info.Participants[2].Host {
		t.Errorf("host and co-host flags: %+v", info.Participants)
	}
	call := r.lastCall(t, meetingapitest.EndpointRealTimeInfo)
	sdkCalls := 0
	for _, c := range r.fake.Calls() {
		if c.Endpoint == meetingapitest.EndpointRealTimeInfo && c.Header.Get("X-Access-Token") != "" {
			sdkCalls++
			if !reflect.DeepEqual(r.wireOf(t, c), r.wireOf(t, call)) {
				t.Errorf("realTimeInfo: meetingapi sent %+v, the SDK %+v", r.wireOf(t, call), r.wireOf(t, c))
			}
		}
	}
	if sdkCalls != 1 {
		t.Errorf("%d realTimeInfo calls by the SDK, want 1", sdkCalls)
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func TestTheSDKDecodesTheWebSocketToken(t *testing.T) {
	t.Parallel()
	r := newRig(t)

	resp, err := r.sdk.CreateWebSocketToken(&model.CreateWebSocketTokenRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok})
	if err != nil {
		t.Fatalf("SDK CreateWebSocketToken: %v", err)
	}
	if resp.WebSocketToken == nil || *resp.WebSocketToken == "" {
		t.Fatalf("the SDK decoded %v, want a socket token", resp)
	}
	ws, err := r.ours.WebSocketToken(t.Context(), confID, r.ourTok)
	if err != nil || ws.Reveal() == "" || ws.Reveal() == *resp.WebSocketToken {
		t.Fatalf("WebSocketToken = %v, %v; want a fresh token", ws, err)
	}
	var sdkCall, ourCall *meetingapitest.Call
	for _, c := range r.fake.Calls() {
		if c.Endpoint == meetingapitest.EndpointWebSocketToken {
			if c.Header.Get("X-Access-Token") != "" {
				sdkCall = &c
			} else {
				ourCall = &c
			}
		}
	}
	if sdkCall == nil || ourCall == nil {
		t.Fatal("a wsToken call is missing")
	}
	if a, b := r.wireOf(t, *sdkCall), r.wireOf(t, *ourCall); !reflect.DeepEqual(a, b) {
		t.Errorf("wsToken: meetingapi sent %+v, the SDK %+v", b, a)
	}
}

// TestTheSDKReadsTheFakesErrors: the SDK reads an error only when both
// error_code and error_msg are filled.
func TestTheSDKReadsTheFakesErrors(t *testing.T) {
	t.Parallel()
	r := newRig(t)

	_, err := r.sdk.HangUp(&model.HangUpRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok,
		Body: &model.RestBulkHangUpReqBody{BulkHangUpParticipants: []string{"nobody"}}})
	var se *sdkerr.ServiceResponseError
	if !errors.As(err, &se) || se.StatusCode != 400 || se.ErrorCode != meetingapitest.CodeBadRequest || se.ErrorMessage == "" || se.RequestId == "" {
		t.Errorf("hang-up of nobody: %#v, want a 400 the SDK decoded with code, message and request ID", err)
	}

	r.fake.ExpireTokens()
	_, err = r.sdk.LockMeeting(&model.LockMeetingRequest{ConferenceID: confID, XConferenceAuthorization: r.sdkTok,
		Body: &model.RestLockReqBody{IsLock: 1}})
	if !errors.As(err, &se) || se.StatusCode != 401 || se.ErrorCode != meetingapitest.CodeAuthFailed || se.ErrorMessage == "" {
		t.Errorf("lock with an expired token: %#v, want a decoded 401", err)
	}
}
