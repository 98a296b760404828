package meetingapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

// Timing for the watch tests: short enough to keep the suite quick, with
// generous waits, since the machine may be loaded.
var quick = meetingapi.WatchOptions{
	Heartbeat:        100 * time.Millisecond,
	StallTimeout:     2 * time.Second,
	MinBackoff:       20 * time.Millisecond,
	MaxBackoff:       200 * time.Millisecond,
	HandshakeTimeout: 5 * time.Second,
}

const waitLong = 10 * time.Second

// watchRig is a fake meeting API with meeting testID in progress, a client
// with a debug logger writing to logs, and a watch of the meeting running
// in the background.
type watchRig struct {
	c    *meetingapi.Client
	fake *meetingapitest.Server
	logs *syncBuffer

	events chan meetingapi.Event
	done   chan error
	cancel context.CancelFunc

	mu        sync.Mutex
	onEvent   func(meetingapi.Event) // runs on the watch's goroutine, before the event is queued
	current   meetingapi.ControlToken
	issued    []string // every control token the source handed out
	rejected  []string // every token the watch reported as refused
	seen      []meetingapi.Event
	tokenErrs int // the source's next calls that fail with server trouble
}

type rigOptions struct {
	fake    []meetingapitest.Option
	meeting []meetingapitest.MeetingOption
	watch   meetingapi.WatchOptions
	arrange func(*watchRig) // before the watch starts
	onEvent func(*watchRig, meetingapi.Event)
}

func newWatchRig(t testing.TB, o rigOptions) *watchRig {
	t.Helper()
	fake := meetingapitest.NewServer(o.fake...)
	t.Cleanup(fake.Close)
	fake.AddMeeting(string(testID), testPassword.Reveal(), meetingapitest.InProgress, o.meeting...)
	logs := &syncBuffer{}
	c, err := meetingapi.NewClient(meetingapi.WithBaseURL(fake.URL),
		meetingapi.WithLogger(zerolog.New(logs).Level(zerolog.DebugLevel)))
	if err != nil {
		t.Fatal(err)
	}
	r := &watchRig{c: c, fake: fake, logs: logs, events: make(chan meetingapi.Event, 4096), done: make(chan error, 1)}
	if o.onEvent != nil {
		r.onEvent = func(ev meetingapi.Event) { o.onEvent(r, ev) }
	}
	if o.arrange != nil {
		o.arrange(r)
	}
	opts := o.watch
	if opts == (meetingapi.WatchOptions{}) {
		opts = quick
	}
	ctx, cancel := context.WithCancel(t.Context())
	r.cancel = cancel
	go func() {
		r.done <- c.Watch(ctx, testID, r.tokenSource, opts, func(ev meetingapi.Event) {
			r.mu.Lock()
			hook := r.onEvent
			r.seen = append(r.seen, ev)
			r.mu.Unlock()
			if hook != nil {
				hook(ev)
			}
			r.events <- ev
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(waitLong):
			t.Error("Watch did not return after its context was cancelled")
		}
	})
	return r
}

// tokenSource is what the bot's token cache would be: it keeps one token
// and fetches a new one with the password when the watch reports it
// refused.
func (r *watchRig) tokenSource(ctx context.Context, rejected meetingapi.Token) (meetingapi.ControlToken, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rejected != "" {
		r.rejected = append(r.rejected, rejected.Reveal())
	}
	if r.tokenErrs > 0 {
		r.tokenErrs--
		return meetingapi.ControlToken{}, errors.New("token cache: the database is busy")
	}
	if r.current.Token == "" || rejected == r.current.Token {
		ct, err := r.c.ControlToken(ctx, testID, testPassword)
		if err != nil {
			return meetingapi.ControlToken{}, err
		}
		r.current = ct
		r.issued = append(r.issued, ct.Token.Reveal())
	}
	return r.current, nil
}

// next waits for the next event of kind, skipping others.
func (r *watchRig) next(t testing.TB, kind meetingapi.EventKind) meetingapi.Event {
	t.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case ev := <-r.events:
			if ev.Kind == kind {
				return ev
			}
		case err := <-r.done:
			r.done <- err
			for { // the events it sent before it returned
				select {
				case ev := <-r.events:
					if ev.Kind == kind {
						return ev
					}
					continue
				default:
				}
				break
			}
			t.Fatalf("the watch returned (%v) while waiting for %v; seen %v", err, kind, r.kinds())
		case <-deadline:
			t.Fatalf("no %v event within %v; seen %v", kind, waitLong, r.kinds())
		}
	}
}

// expect waits for the next event, skipping Conf and Connected events
// unless kind is one of them, and checks its kind.
func (r *watchRig) expect(t testing.TB, kind meetingapi.EventKind) meetingapi.Event {
	t.Helper()
	deadline := time.After(waitLong)
	for {
		select {
		case ev := <-r.events:
			if ev.Kind != kind && (ev.Kind == meetingapi.EventConf || ev.Kind == meetingapi.EventConnected) {
				continue
			}
			if ev.Kind != kind {
				t.Fatalf("got %v event %+v, want %v; seen %v", ev.Kind, ev, kind, r.kinds())
			}
			return ev
		case <-deadline:
			t.Fatalf("no %v event within %v; seen %v", kind, waitLong, r.kinds())
		}
	}
}

func (r *watchRig) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.seen {
		out = append(out, ev.Kind.String())
	}
	return out
}

func (r *watchRig) result(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(waitLong):
		t.Fatal("the watch did not return")
		return nil
	}
}

func (r *watchRig) add(t testing.TB, p meetingapitest.Person) string {
	t.Helper()
	pid, err := r.fake.AddParticipant(string(testID), p)
	if err != nil {
		t.Fatalf("AddParticipant(%s): %v", p.Name, err)
	}
	return pid
}

func (r *watchRig) token(t *testing.T) meetingapi.Token {
	t.Helper()
	ct, err := r.tokenSource(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	return ct.Token
}

func names(ps []meetingapi.Participant) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestTheControlTokenCarriesTheSocketURLAndTheHostsOrganisation(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ct, err := c.ControlToken(t.Context(), testID, testPassword)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ct.WSURL, "ws://127.0.0.1:") || ct.OrgID != meetingapitest.HostOrgID || ct.UserID == "" {
		t.Errorf("WSURL %q OrgID %q UserID %q", ct.WSURL, ct.OrgID, ct.UserID)
	}
}

func TestAWatchStartsWithASnapshotThenReportsJoinsChangesAndLeaves(t *testing.T) {
	t.Parallel()
	var alice, bob string
	r := newWatchRig(t, rigOptions{arrange: func(r *watchRig) {
		alice, _ = r.fake.AddParticipant(string(testID), meetingapitest.Person{Name: "Alice", Role: meetingapitest.RoleHost, Account: "alice", Phone: "+8657187654321"})
		bob, _ = r.fake.AddParticipant(string(testID), meetingapitest.Person{Name: "Bob", Role: meetingapitest.RoleCoHost})
	}})

	if ev := r.expect(t, meetingapi.EventConnected); ev.Attempt != 1 {
		t.Errorf("Connected.Attempt = %d, want 1", ev.Attempt)
	}
	snap := r.expect(t, meetingapi.EventSnapshot)
	if got := names(snap.Participants); !slices.Equal(got, []string{"Alice", "Bob"}) {
		t.Fatalf("snapshot %v, want Alice and Bob", got)
	}
	if a := snap.Participants[0]; a.PID != alice || !a.Host || a.Account != "alice" || a.OrgID != meetingapitest.HostOrgID ||
		a.Phone.Last4() != "4321" || a.JoinedAt.IsZero() || a.Stranger(meetingapitest.HostOrgID) {
		t.Errorf("Alice = %+v", a)
	}
	if b := snap.Participants[1]; b.PID != bob || !b.CoHost || b.Host {
		t.Errorf("Bob = %+v", b)
	}

	eve := r.add(t, meetingapitest.Person{Name: "Eve", Anonymous: true, Phone: "+15550001234"})
	joined := r.expect(t, meetingapi.EventJoined)
	if p := joined.Participant; p.PID != eve || p.Name != "Eve" || !p.Anonymous || !p.Stranger(meetingapitest.HostOrgID) || joined.Resync {
		t.Errorf("joined %+v, want Eve, anonymous, a stranger, seen as it happened", joined)
	}
	mallory := r.add(t, meetingapitest.Person{Name: "Mallory", OrgID: "other-org", Account: "mal"})
	if p := r.expect(t, meetingapi.EventJoined).Participant; p.PID != mallory || p.Anonymous || !p.Stranger(meetingapitest.HostOrgID) {
		t.Errorf("joined %+v, want Mallory from another organisation", p)
	}

	// A change carries only the keys that changed; the rest is kept.
	if err := r.fake.SetHand(string(testID), eve, true); err != nil {
		t.Fatal(err)
	}
	ch := r.expect(t, meetingapi.EventChanged)
	if ch.Participant.PID != eve || !slices.Equal(ch.Changed, []string{"HAND"}) || !ch.Participant.HandRaised ||
		ch.Participant.Name != "Eve" || !ch.Participant.Anonymous {
		t.Errorf("changed %+v, want Eve's hand, her name and the rest kept", ch)
	}
	tok := r.token(t)
	if err := r.c.MuteParticipant(t.Context(), testID, tok, eve, true); err != nil {
		t.Fatal(err)
	}
	if ch := r.expect(t, meetingapi.EventChanged); !slices.Equal(ch.Changed, []string{"MUTE"}) || !ch.Participant.Muted || !ch.Participant.HandRaised {
		t.Errorf("changed %+v, want Eve muted with her hand still up", ch)
	}

	if err := r.c.HangUp(t.Context(), testID, tok, eve); err != nil {
		t.Fatal(err)
	}
	if left := r.expect(t, meetingapi.EventLeft); left.Participant.PID != eve || left.Participant.Name != "Eve" {
		t.Errorf("left %+v, want Eve as last known", left)
	}
	if err := r.fake.RemoveParticipant(string(testID), mallory); err != nil {
		t.Fatal(err)
	}
	if left := r.expect(t, meetingapi.EventLeft); left.Participant.PID != mallory {
		t.Errorf("left %+v, want Mallory", left)
	}
}

func TestTheLockStateComesFromEitherLockCall(t *testing.T) {
	t.Parallel()
	r := newWatchRig(t, rigOptions{})
	r.expect(t, meetingapi.EventSnapshot)
	if ev := r.next(t, meetingapi.EventConf); ev.Conf.Locked || ev.Conf.State != "Created" || ev.Conf.EndTime.IsZero() {
		t.Errorf("first conf %+v, want an unlocked meeting in progress with an end time", ev.Conf)
	}
	tok := r.token(t)

	if err := r.c.Lock(t.Context(), testID, tok); err != nil {
		t.Fatal(err)
	}
	if ev := r.next(t, meetingapi.EventConf); !ev.Conf.Locked {
		t.Errorf("after the lock PUT: %+v", ev.Conf)
	}

	if err := r.c.SetCallInRestriction(t.Context(), testID, tok, meetingapi.RestrictionInvited); err != nil {
		t.Fatal(err)
	}
	if ev := r.next(t, meetingapi.EventConf); ev.Conf.Restriction != meetingapi.RestrictionInvited || !ev.Conf.Locked {
		t.Errorf("after restrict invited: %+v", ev.Conf)
	}
	unlockViaConfig(t, r.fake, tok)
	if ev := r.next(t, meetingapi.EventConf); ev.Conf.Locked {
		t.Errorf("after updateStartedConfConfig isLock 0: %+v", ev.Conf)
	}
	if err := r.c.MuteAll(t.Context(), testID, tok, true, false); err != nil {
		t.Fatal(err)
	}
	if ev := r.next(t, meetingapi.EventConf); !ev.Conf.MutedAll || ev.Conf.CanUnmute {
		t.Errorf("after mute all: %+v", ev.Conf)
	}
	if err := r.c.Prolong(t.Context(), testID, tok, 30); err != nil {
		t.Fatal(err)
	}
	snap, _ := r.fake.Snapshot(string(testID))
	if ev := r.next(t, meetingapi.EventConf); !ev.Conf.EndTime.Equal(snap.ScheduledEnd.Truncate(time.Millisecond)) {
		t.Errorf("after prolong: end %v, want %v", ev.Conf.EndTime, snap.ScheduledEnd)
	}
}

// unlockViaConfig sends updateStartedConfConfig {"isLock":0}, the other
// way to (un)lock a meeting, as the vendor's SDK would.
func unlockViaConfig(t *testing.T, fake *meetingapitest.Server, tok meetingapi.Token) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut,
		fake.URL+"/v1/mmc/control/conferences/updateStartedConfConfig?conferenceID="+string(testID), strings.NewReader(`{"isLock":0}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Conference-Authorization", tok.Reveal())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("updateStartedConfConfig: HTTP %d", resp.StatusCode)
	}
}

func TestTheWaitingListIsReported(t *testing.T) {
	t.Parallel()
	var early string
	r := newWatchRig(t, rigOptions{
		meeting: []meetingapitest.MeetingOption{meetingapitest.WithWaitingRoom()},
		arrange: func(r *watchRig) {
			early, _ = r.fake.AddParticipant(string(testID), meetingapitest.Person{Name: "Early", Waiting: true})
		},
	})
	r.expect(t, meetingapi.EventSnapshot)
	if ev := r.expect(t, meetingapi.EventWaitingJoined); ev.Participant.PID != early || !ev.Participant.Waiting || !ev.Resync {
		t.Errorf("%+v: want Early, found waiting by the full list", ev)
	}

	walter := r.add(t, meetingapitest.Person{Name: "Walter", Waiting: true, Anonymous: true})
	if ev := r.expect(t, meetingapi.EventWaitingJoined); ev.Participant.PID != walter || !ev.Participant.Anonymous || ev.Resync {
		t.Errorf("%+v: want Walter, seen as it happened", ev)
	}
	if err := r.c.AdmitFromWaitingRoom(t.Context(), testID, r.token(t), walter); err != nil {
		t.Fatal(err)
	}
	if ev := r.expect(t, meetingapi.EventWaitingLeft); ev.Participant.PID != walter {
		t.Errorf("%+v: want Walter out of the waiting room", ev)
	}
	if ev := r.expect(t, meetingapi.EventJoined); ev.Participant.PID != walter || ev.Participant.Waiting {
		t.Errorf("%+v: want Walter in the meeting", ev)
	}
}

func TestADroppedSocketReconnectsWithAFreshTokenAndANewSnapshot(t *testing.T) {
	t.Parallel()
	var once sync.Once
	var leaver string
	r := newWatchRig(t, rigOptions{
		arrange: func(r *watchRig) {
			r.fake.AddParticipant(string(testID), meetingapitest.Person{Name: "Alice", Role: meetingapitest.RoleHost})
			leaver, _ = r.fake.AddParticipant(string(testID), meetingapitest.Person{Name: "Leaver"})
		},
		// While the socket is down (the watch waits for this handler before
		// it reconnects), one person joins and one leaves.
		onEvent: func(r *watchRig, ev meetingapi.Event) {
			if ev.Kind == meetingapi.EventReconnecting {
				once.Do(func() {
					_, _ = r.fake.AddParticipant(string(testID), meetingapitest.Person{Name: "Gap Joiner"})
					_ = r.fake.RemoveParticipant(string(testID), leaver)
				})
			}
		},
	})
	r.expect(t, meetingapi.EventConnected)
	r.expect(t, meetingapi.EventSnapshot)
	if n := r.fake.DropSockets(string(testID)); n != 1 {
		t.Fatalf("dropped %d sockets, want 1", n)
	}

	rec := r.expect(t, meetingapi.EventReconnecting)
	if rec.Err == nil || rec.Attempt != 1 || rec.Delay <= 0 {
		t.Errorf("reconnecting %+v", rec)
	}
	if ev := r.expect(t, meetingapi.EventConnected); ev.Attempt != 2 {
		t.Errorf("Connected.Attempt = %d, want 2 (the second subscription)", ev.Attempt)
	}
	snap := r.expect(t, meetingapi.EventSnapshot)
	if got := names(snap.Participants); !slices.Equal(got, []string{"Alice", "Gap Joiner"}) {
		t.Errorf("second snapshot %v", got)
	}
	// The changes while the socket was down, and nothing about Alice.
	var resync []string
	for range 2 {
		ev := <-r.events
		for ev.Kind == meetingapi.EventConf {
			ev = <-r.events
		}
		if !ev.Resync {
			t.Errorf("%v %s: want Resync", ev.Kind, ev.Participant.Name)
		}
		resync = append(resync, ev.Kind.String()+" "+ev.Participant.Name)
	}
	slices.Sort(resync)
	if want := []string{"joined Gap Joiner", "left Leaver"}; !slices.Equal(resync, want) {
		t.Errorf("resync events %v, want %v", resync, want)
	}

	// A fresh socket token, on a fresh connection.
	var tmpTokens []string
	for _, c := range r.fake.Calls() {
		if c.Endpoint == meetingapitest.EndpointSocket {
			tmpTokens = append(tmpTokens, c.Query.Get("tmpToken"))
		}
	}
	if len(tmpTokens) != 2 || tmpTokens[0] == tmpTokens[1] || tmpTokens[0] == "" {
		t.Errorf("socket tokens %d: want two different ones", len(tmpTokens))
	}
	if n := r.fake.CallCount(meetingapitest.EndpointWebSocketToken); n != 2 {
		t.Errorf("%d wsToken calls, want 2", n)
	}
	if n := r.fake.Sockets(string(testID)); n != 1 {
		t.Errorf("%d sockets subscribed, want 1", n)
	}

	// And it keeps working.
	late := r.add(t, meetingapitest.Person{Name: "Late"})
	if ev := r.expect(t, meetingapi.EventJoined); ev.Participant.PID != late || ev.Resync {
		t.Errorf("%+v: want Late as it happened", ev)
	}
}

func TestAStoppedMeetingEndsTheWatchWithoutAReconnectLoop(t *testing.T) {
	t.Parallel()
	r := newWatchRig(t, rigOptions{})
	r.expect(t, meetingapi.EventSnapshot)
	r.add(t, meetingapitest.Person{Name: "Eve"})
	r.expect(t, meetingapi.EventJoined)

	if err := r.c.Stop(t.Context(), testID, r.token(t)); err != nil {
		t.Fatal(err)
	}

	// The people leave, the meeting reports its end, the watch ends.
	ended := r.next(t, meetingapi.EventEnded)
	if ended.Err != nil {
		t.Errorf("Ended.Err = %v, want nil: the socket said so", ended.Err)
	}
	if err := r.result(t); err != nil {
		t.Errorf("Watch returned %v, want nil", err)
	}
	for _, k := range r.kinds() {
		if k == "reconnecting" {
			t.Errorf("the watch tried to reconnect: %v", r.kinds())
		}
	}
	if n := r.fake.SocketConnections(); n != 1 {
		t.Errorf("%d socket connections, want 1", n)
	}
}

func TestAMeetingThatEndsWhileTheSocketIsDownEndsTheWatch(t *testing.T) {
	t.Parallel()
	var once sync.Once
	r := newWatchRig(t, rigOptions{onEvent: func(r *watchRig, ev meetingapi.Event) {
		if ev.Kind == meetingapi.EventReconnecting {
			once.Do(func() { r.fake.SetState(string(testID), meetingapitest.Ended) })
		}
	}})
	r.expect(t, meetingapi.EventSnapshot)
	r.fake.DropSockets(string(testID))

	r.expect(t, meetingapi.EventReconnecting)
	ended := r.expect(t, meetingapi.EventEnded)
	if !errors.Is(ended.Err, meetingapi.ErrMeetingNotFound) {
		t.Errorf("Ended.Err = %v, want the service's answer that the meeting is over", ended.Err)
	}
	if err := r.result(t); err != nil {
		t.Errorf("Watch returned %v, want nil", err)
	}
}

func TestRefusedSocketsAndSubscriptionsAreRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	r := newWatchRig(t, rigOptions{arrange: func(r *watchRig) {
		r.fake.FailNext(meetingapitest.EndpointSocket, 2, 401, meetingapitest.CodeAuthFailed)
		r.fake.RefuseSubscriptions(1)
		r.tokenErrs = 1
	}})

	var delays []time.Duration
	var why []string
	for attempt := 1; attempt <= 4; attempt++ {
		ev := r.expect(t, meetingapi.EventReconnecting)
		if ev.Attempt != attempt {
			t.Errorf("Attempt = %d, want %d", ev.Attempt, attempt)
		}
		delays = append(delays, ev.Delay)
		why = append(why, ev.Err.Error())
	}
	r.expect(t, meetingapi.EventConnected)
	r.expect(t, meetingapi.EventSnapshot)

	for i, d := range delays {
		step := min(quick.MinBackoff<<i, quick.MaxBackoff)
		if d < step/2 || d > step {
			t.Errorf("delay %d = %v, want within [%v, %v]", i+1, d, step/2, step)
		}
	}
	want := []string{"database is busy", "refused the socket (HTTP 401)", "refused the socket (HTTP 401)", "subscription was refused"}
	for i, w := range want {
		if !strings.Contains(why[i], w) {
			t.Errorf("reason %d = %q, want it to say %q", i+1, why[i], w)
		}
	}
	// A refused subscription may be the token's fault: the watch asked for
	// a new one.
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rejected) != 1 || len(r.issued) != 2 {
		t.Errorf("%d tokens reported refused, %d issued; want 1 and 2", len(r.rejected), len(r.issued))
	}
}

func TestAnExpiredControlTokenIsReplacedAndTheWatchGoesOn(t *testing.T) {
	t.Parallel()
	r := newWatchRig(t, rigOptions{arrange: func(r *watchRig) {
		if _, err := r.tokenSource(context.Background(), ""); err != nil {
			panic(err)
		}
		r.fake.ExpireTokens()
	}})

	if ev := r.expect(t, meetingapi.EventReconnecting); !errors.Is(ev.Err, meetingapi.ErrTokenInvalid) {
		t.Errorf("reconnecting because %v, want the 401", ev.Err)
	}
	r.expect(t, meetingapi.EventConnected)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rejected) != 1 || r.rejected[0] != r.issued[0] || len(r.issued) != 2 {
		t.Errorf("rejected %d, issued %d: want the expired token reported and a new one fetched", len(r.rejected), len(r.issued))
	}
}

func TestAStalledSocketIsNoticedAndReplaced(t *testing.T) {
	t.Parallel()
	r := newWatchRig(t, rigOptions{})
	r.expect(t, meetingapi.EventSnapshot)
	if n := r.fake.StallSockets(string(testID)); n != 1 {
		t.Fatalf("stalled %d sockets", n)
	}
	r.add(t, meetingapitest.Person{Name: "Unseen"}) // sent into the stall

	ev := r.expect(t, meetingapi.EventReconnecting)
	if !strings.Contains(ev.Err.Error(), "stalled") {
		t.Errorf("reconnecting because %v, want a stall", ev.Err)
	}
	r.expect(t, meetingapi.EventConnected)
	r.expect(t, meetingapi.EventSnapshot)
	if ev := r.expect(t, meetingapi.EventJoined); ev.Participant.Name != "Unseen" || !ev.Resync {
		t.Errorf("%+v: want the join the stall swallowed, found by the resync", ev)
	}
}

func TestHeartbeatsKeepTheSocketOpenPastTheServersTimeout(t *testing.T) {
	t.Parallel()
	r := newWatchRig(t, rigOptions{fake: []meetingapitest.Option{meetingapitest.WithSocketHeartbeatTimeout(time.Second)}})
	r.expect(t, meetingapi.EventSnapshot)

	// Poll until a long stretch past the server's timeout has gone by, by
	// the fake's own count of heartbeats.
	deadline := time.Now().Add(waitLong)
	for r.fake.SocketHeartbeats() < 20 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := r.fake.SocketHeartbeats(); n < 20 {
		t.Fatalf("%d heartbeats, want 20", n)
	}
	if n := r.fake.SocketConnections(); n != 1 {
		t.Errorf("%d socket connections: the socket was closed and reopened; seen %v", n, r.kinds())
	}
}

func TestWithoutHeartbeatsTheServerClosesTheSocket(t *testing.T) {
	t.Parallel()
	slow := quick
	slow.Heartbeat = time.Hour
	slow.StallTimeout = time.Hour
	r := newWatchRig(t, rigOptions{
		fake:  []meetingapitest.Option{meetingapitest.WithSocketHeartbeatTimeout(300 * time.Millisecond)},
		watch: slow,
	})
	r.expect(t, meetingapi.EventSnapshot)
	if ev := r.expect(t, meetingapi.EventReconnecting); !strings.Contains(ev.Err.Error(), "dropped") {
		t.Errorf("reconnecting because %v", ev.Err)
	}
	r.expect(t, meetingapi.EventConnected)
}

func TestEveryFormOfTheSubscribeFrameIsAccepted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		dataAsString, basic bool
		data, token         string
	}{
		{false, false, "object", "raw"},
		{false, true, "object", "basic"},
		{true, false, "string", "raw"},
		{true, true, "string", "basic"},
	} {
		t.Run(tt.data+" data, "+tt.token+" token", func(t *testing.T) {
			t.Parallel()
			r := newWatchRig(t, rigOptions{watch: quick.WithWireFormForTest(tt.dataAsString, tt.basic)})
			r.expect(t, meetingapi.EventConnected)
			r.expect(t, meetingapi.EventSnapshot)
			subs := r.fake.Subscriptions()
			if len(subs) != 1 || !subs[0].Accepted || subs[0].DataForm != tt.data || subs[0].ConfTokenForm != tt.token ||
				!slices.Equal(subs[0].Types, []string{"ParticipantsNotify", "ConfDynamicInfoNotify", "WaitingListNotify"}) {
				t.Errorf("subscriptions %+v", subs)
			}
		})
	}
	t.Run("the production form", func(t *testing.T) {
		t.Parallel()
		r := newWatchRig(t, rigOptions{})
		r.expect(t, meetingapi.EventConnected)
		if subs := r.fake.Subscriptions(); len(subs) != 1 || subs[0].DataForm != "string" || subs[0].ConfTokenForm != "raw" {
			t.Errorf("subscriptions %+v, want data as a string and the raw token", subs)
		}
	})
}

func TestNotificationDataSentAsAStringIsRead(t *testing.T) {
	t.Parallel()
	r := newWatchRig(t, rigOptions{
		fake: []meetingapitest.Option{meetingapitest.WithSocketDataAsString()},
		arrange: func(r *watchRig) {
			r.fake.AddParticipant(string(testID), meetingapitest.Person{Name: "Alice"})
		},
	})
	if snap := r.expect(t, meetingapi.EventSnapshot); !slices.Equal(names(snap.Participants), []string{"Alice"}) {
		t.Errorf("snapshot %+v", snap)
	}
	r.add(t, meetingapitest.Person{Name: "Eve"})
	if ev := r.expect(t, meetingapi.EventJoined); ev.Participant.Name != "Eve" {
		t.Errorf("%+v", ev)
	}
}

func TestWatchRefusesWhatItCannotUse(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	noop := func(meetingapi.Event) {}
	src := func(context.Context, meetingapi.Token) (meetingapi.ControlToken, error) {
		return meetingapi.ControlToken{}, errors.New("unused")
	}
	for _, err := range []error{
		c.Watch(t.Context(), "12ab", src, quick, noop),
		c.Watch(t.Context(), testID, nil, quick, noop),
		c.Watch(t.Context(), testID, src, quick, nil),
	} {
		if err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("Watch = %v, want an error at once", err)
		}
	}
}

func TestAPlainSocketURLToAnotherHostIsRefused(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var got error
	err := c.Watch(ctx, testID, func(ctx context.Context, _ meetingapi.Token) (meetingapi.ControlToken, error) {
		ct, err := c.ControlToken(ctx, testID, testPassword)
		ct.WSURL = "ws://meeting.example.com"
		return ct, err
	}, quick, func(ev meetingapi.Event) {
		if ev.Kind == meetingapi.EventReconnecting {
			got = ev.Err
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || got == nil || !strings.Contains(got.Error(), "wss://") {
		t.Errorf("Watch = %v after %v, want a refusal of ws:// to another host", err, got)
	}
}

// TestNoSecretReachesALogLineOrAnEvent runs a watch through drops, refusals,
// an expired token and the meeting's end, with a debug logger, and looks
// for every control token, socket token and the host password in the log
// and in every event.
func TestNoSecretReachesALogLineOrAnEvent(t *testing.T) {
	t.Parallel()
	var once sync.Once
	r := newWatchRig(t, rigOptions{
		arrange: func(r *watchRig) {
			r.fake.FailNext(meetingapitest.EndpointSocket, 1, 401, meetingapitest.CodeAuthFailed)
			r.fake.RefuseSubscriptions(1)
		},
		onEvent: func(r *watchRig, ev meetingapi.Event) {
			if ev.Kind == meetingapi.EventConnected && ev.Attempt == 1 {
				once.Do(func() { go r.fake.DropSockets(string(testID)) })
			}
		},
	})
	r.next(t, meetingapi.EventConnected)
	r.next(t, meetingapi.EventConnected) // after the drop
	r.fake.ExpireTokens()
	r.fake.StallSockets(string(testID))
	r.next(t, meetingapi.EventConnected) // after the stall, with a new control token
	r.add(t, meetingapitest.Person{Name: "Eve", Phone: "+8613912345678"})
	r.next(t, meetingapi.EventJoined)
	if err := r.c.Stop(t.Context(), testID, r.token(t)); err != nil {
		t.Fatal(err)
	}
	r.next(t, meetingapi.EventEnded)

	r.mu.Lock()
	secrets := append([]string{testPassword.Reveal()}, r.issued...)
	events := slices.Clone(r.seen)
	r.mu.Unlock()
	for _, c := range r.fake.Calls() {
		if c.Endpoint == meetingapitest.EndpointSocket {
			secrets = append(secrets, c.Query.Get("tmpToken"))
		}
	}
	if len(secrets) < 6 {
		t.Fatalf("only %d secrets to look for", len(secrets))
	}
	var all strings.Builder
	all.WriteString(r.logs.String())
	for _, ev := range events {
		fmt.Fprintf(&all, "%v %+v %#v\n", ev, ev, ev)
		if ev.Err != nil {
			all.WriteString(ev.Err.Error() + "\n")
		}
	}
	out := all.String()
	for _, s := range secrets {
		if s != "" && strings.Contains(out, s) {
			t.Errorf("secret %q leaked:\n%s", s, out)
		}
	}
	for _, leak := range []string{"13912345678", "tmpToken"} {
		if strings.Contains(out, leak) {
			t.Errorf("%q leaked:\n%s", leak, out)
		}
	}
	if !strings.Contains(r.logs.String(), "event socket subscribed") || !strings.Contains(r.logs.String(), "reconnecting") {
		t.Errorf("the log lacks the socket's story:\n%s", r.logs.String())
	}
}

// BenchmarkJoinToEvent measures how long a join takes to reach the
// watcher: AddParticipant on the fake until the EventJoined handler call,
// over a real socket on 127.0.0.1.
func BenchmarkJoinToEvent(b *testing.B) {
	r := newWatchRig(b, rigOptions{watch: meetingapi.WatchOptions{Heartbeat: time.Minute}})
	r.expect(b, meetingapi.EventSnapshot)
	b.ResetTimer()
	for b.Loop() {
		pid := r.add(b, meetingapitest.Person{Name: "Joiner"})
		if ev := r.expect(b, meetingapi.EventJoined); ev.Participant.PID != pid {
			b.Fatalf("joined %s, want %s", ev.Participant.PID, pid)
		}
	}
}
