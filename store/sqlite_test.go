package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

var (
	chA    = Channel{Team: "T1", ID: "C111"}
	chB    = Channel{Team: "T1", ID: "C222"}
	chA2   = Channel{Team: "T2", ID: "C111"} // same channel ID, other workspace
	t0     = time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, time.UTC)
	confID = "914083136"
)

// openTestStore opens a store on a fresh file in t.TempDir().
func openTestStore(t testing.TB) (*SQLite, string, Key) {
	t.Helper()
	key := mustKey(t)
	path := filepath.Join(t.TempDir(), "meetingbot.db")
	return openAt(t, path, key), path, key
}

func openAt(t testing.TB, path string, key Key) *SQLite {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path, key)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestBindingAMeetingStoresItAsTheDefaultAndMakesTheBinderAController(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()

	must(t, s.Bind(ctx, chA, confID, "s3cret-pw", "U1", t0))

	m, err := s.Meeting(ctx, chA, confID)
	must(t, err)
	want := Meeting{Channel: chA, ConferenceID: confID, BoundBy: "U1", BoundAt: t0, Default: true}
	if m != want {
		t.Errorf("Meeting = %+v\nwant      %+v", m, want)
	}
	if m.BoundAt.Location() != time.UTC {
		t.Errorf("BoundAt is in %v, want UTC", m.BoundAt.Location())
	}
	d, err := s.DefaultMeeting(ctx, chA)
	must(t, err)
	if d != want {
		t.Errorf("DefaultMeeting = %+v, want %+v", d, want)
	}
	pw, err := s.Password(ctx, chA, confID)
	must(t, err)
	if pw != "s3cret-pw" {
		t.Errorf("Password = %q", pw)
	}
	cs, err := s.Controllers(ctx, chA)
	must(t, err)
	if len(cs) != 1 || cs[0] != (Controller{UserID: "U1", GrantedBy: "U1", GrantedAt: t0}) {
		t.Errorf("Controllers = %+v", cs)
	}
}

func TestTimesAreStoredToTheMillisecondAndReturnedInUTC(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()
	loc := time.FixedZone("UTC+8", 8*3600)
	at := time.Date(2025, 1, 2, 3, 4, 5, 678_912_345, loc)

	must(t, s.Bind(ctx, chA, confID, "pw", "U1", at))
	m, err := s.Meeting(ctx, chA, confID)
	must(t, err)
	if want := at.Truncate(time.Millisecond).UTC(); m.BoundAt != want {
		t.Errorf("BoundAt = %v, want %v", m.BoundAt, want)
	}
}

func TestRebindingReplacesThePasswordClearsTheTokenAndKeepsTheLockState(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()

	must(t, s.Bind(ctx, chA, confID, "old-pw", "U1", t0))
	must(t, s.PutToken(ctx, chA, confID, "tok-1", t0.Add(30*time.Minute)))
	must(t, s.SetLockState(ctx, chA, confID, LockLocked, "U1", t0.Add(time.Minute)))
	must(t, s.Bind(ctx, chA, "555666777", "other-pw", "U1", t0.Add(2*time.Minute)))

	must(t, s.Bind(ctx, chA, confID, "new-pw", "U2", t0.Add(3*time.Minute)))

	pw, err := s.Password(ctx, chA, confID)
	must(t, err)
	if pw != "new-pw" {
		t.Errorf("Password = %q, want new-pw", pw)
	}
	if _, _, err := s.Token(ctx, chA, confID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Token after re-bind: err = %v, want ErrNotFound", err)
	}
	m, err := s.Meeting(ctx, chA, confID)
	must(t, err)
	if !m.Default || m.BoundBy != "U2" || !m.BoundAt.Equal(t0.Add(3*time.Minute)) || !m.TokenExpiresAt.IsZero() {
		t.Errorf("Meeting after re-bind = %+v", m)
	}
	if m.LockState != LockLocked || m.LockSetBy != "U1" || !m.LockSetAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("lock state after re-bind = %v by %q at %v, want locked by U1", m.LockState, m.LockSetBy, m.LockSetAt)
	}
	other, err := s.Meeting(ctx, chA, "555666777")
	must(t, err)
	if other.Default {
		t.Error("the previously default meeting is still default")
	}
	cs, err := s.Controllers(ctx, chA)
	must(t, err)
	if got := controllerIDs(cs); got != "U1,U2" {
		t.Errorf("controllers = %s, want U1,U2", got)
	}
}

func TestMeetingsListsTheDefaultFirstThenTheMostRecentlyBound(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()

	for i, id := range []string{"100001", "100002", "100003"} {
		must(t, s.Bind(ctx, chA, id, "pw"+id, "U1", t0.Add(time.Duration(i)*time.Minute)))
	}
	must(t, s.Bind(ctx, chA, "100001", "pw", "U1", t0.Add(10*time.Minute))) // 100001 default again
	must(t, s.Bind(ctx, chB, "200001", "pw", "U1", t0))

	ms, err := s.Meetings(ctx, chA)
	must(t, err)
	if got := meetingIDs(ms); got != "100001*,100003,100002" {
		t.Errorf("Meetings = %s, want 100001*,100003,100002", got)
	}

	empty, err := s.Meetings(ctx, Channel{Team: "T1", ID: "Cnone"})
	must(t, err)
	if empty == nil || len(empty) != 0 {
		t.Errorf("Meetings of an unbound channel = %#v, want an empty slice", empty)
	}
}

func TestUnbindingTheDefaultPromotesTheMostRecentlyBoundRemainingMeeting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		binds  []string // in order; the last is the default
		unbind string
		want   string // meetingIDs after
	}{
		{"unbinding the default promotes the newest other", []string{"1001", "1002", "1003"}, "1003", "1002*,1001"},
		{"unbinding a non-default keeps the default", []string{"1001", "1002", "1003"}, "1002", "1003*,1001"},
		{"unbinding the only meeting leaves none", []string{"1001"}, "1001", ""},
		{"re-binding an old meeting counts as the most recent bind", []string{"1001", "1002", "1001", "1003"}, "1003", "1001*,1002"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _, _ := openTestStore(t)
			ctx := context.Background()
			for _, id := range tc.binds {
				// All at the same instant: order of binding, not clock, decides.
				must(t, s.Bind(ctx, chA, id, "pw", "U1", t0))
			}
			must(t, s.Unbind(ctx, chA, tc.unbind))
			ms, err := s.Meetings(ctx, chA)
			must(t, err)
			if got := meetingIDs(ms); got != tc.want {
				t.Errorf("Meetings = %q, want %q", got, tc.want)
			}
			if _, err := s.Meeting(ctx, chA, tc.unbind); !errors.Is(err, ErrNotFound) {
				t.Errorf("Meeting(unbound) err = %v, want ErrNotFound", err)
			}
			if _, err := s.Password(ctx, chA, tc.unbind); !errors.Is(err, ErrNotFound) {
				t.Errorf("Password(unbound) err = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestBindingsAreScopedToTheirChannelAndWorkspace(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()

	must(t, s.Bind(ctx, chA, confID, "pw-A", "UA", t0))
	must(t, s.Bind(ctx, chB, confID, "pw-B", "UB", t0))
	must(t, s.Bind(ctx, chA2, confID, "pw-A2", "UA2", t0))
	must(t, s.PutToken(ctx, chA, confID, "tok-A", t0.Add(time.Hour)))

	for ch, want := range map[Channel]string{chA: "pw-A", chB: "pw-B", chA2: "pw-A2"} {
		pw, err := s.Password(ctx, ch, confID)
		must(t, err)
		if pw != want {
			t.Errorf("Password(%v) = %q, want %q", ch, pw, want)
		}
	}
	if _, _, err := s.Token(ctx, chB, confID); !errors.Is(err, ErrNotFound) {
		t.Errorf("channel B sees channel A's token: err = %v", err)
	}
	must(t, s.Unbind(ctx, chA, confID))
	if _, err := s.Meeting(ctx, chB, confID); err != nil {
		t.Errorf("unbinding in A removed B's meeting: %v", err)
	}
	cs, err := s.Controllers(ctx, chA2)
	must(t, err)
	if got := controllerIDs(cs); got != "UA2" {
		t.Errorf("controllers of the other workspace's channel = %s, want UA2", got)
	}
}

func TestATokenRoundTripsAndCanBeDropped(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()
	exp := t0.Add(30 * time.Minute)

	must(t, s.Bind(ctx, chA, confID, "pw", "U1", t0))
	must(t, s.PutToken(ctx, chA, confID, "tok-1", exp))
	tok, gotExp, err := s.Token(ctx, chA, confID)
	must(t, err)
	if tok != "tok-1" || !gotExp.Equal(exp) || gotExp.Location() != time.UTC {
		t.Errorf("Token = %q, %v", tok, gotExp)
	}
	m, err := s.Meeting(ctx, chA, confID)
	must(t, err)
	if !m.TokenExpiresAt.Equal(exp) {
		t.Errorf("Meeting.TokenExpiresAt = %v, want %v", m.TokenExpiresAt, exp)
	}

	must(t, s.PutToken(ctx, chA, confID, "tok-2", exp.Add(time.Minute)))
	tok, _, err = s.Token(ctx, chA, confID)
	must(t, err)
	if tok != "tok-2" {
		t.Errorf("Token after replacing = %q, want tok-2", tok)
	}

	must(t, s.DropToken(ctx, chA, confID))
	if _, _, err := s.Token(ctx, chA, confID); !errors.Is(err, ErrNotFound) {
		t.Errorf("Token after DropToken: err = %v, want ErrNotFound", err)
	}
	m, err = s.Meeting(ctx, chA, confID)
	must(t, err)
	if !m.TokenExpiresAt.IsZero() {
		t.Errorf("TokenExpiresAt after DropToken = %v, want zero", m.TokenExpiresAt)
	}
	must(t, s.DropToken(ctx, chA, confID))         // again: no-op
	must(t, s.DropToken(ctx, chA, "999999999999")) // unbound: no-op
}

func TestLockStateRoundTrips(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()
	must(t, s.Bind(ctx, chA, confID, "pw", "U1", t0))

	m, err := s.Meeting(ctx, chA, confID)
	must(t, err)
	if m.LockState != LockUnknown || m.LockSetBy != "" || !m.LockSetAt.IsZero() {
		t.Errorf("a new binding has lock state %v by %q at %v, want unknown", m.LockState, m.LockSetBy, m.LockSetAt)
	}
	for i, st := range []LockState{LockLocked, LockUnlocked, LockUnknown, LockLocked} {
		at := t0.Add(time.Duration(i) * time.Second)
		by := fmt.Sprintf("U%d", i)
		must(t, s.SetLockState(ctx, chA, confID, st, by, at))
		m, err := s.Meeting(ctx, chA, confID)
		must(t, err)
		if m.LockState != st || m.LockSetBy != by || !m.LockSetAt.Equal(at) {
			t.Errorf("after SetLockState(%v): %v by %q at %v", st, m.LockState, m.LockSetBy, m.LockSetAt)
		}
	}
}

func TestControllersAreListedOldestFirstAndGrantingTwiceIsANoOp(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()

	must(t, s.Grant(ctx, chA, "U2", "U1", t0.Add(2*time.Second)))
	must(t, s.Grant(ctx, chA, "U1", "U0", t0.Add(time.Second)))
	must(t, s.Grant(ctx, chA, "U3", "U1", t0.Add(2*time.Second)))
	must(t, s.Grant(ctx, chA, "U2", "U9", t0.Add(time.Hour))) // no-op
	must(t, s.Grant(ctx, chB, "U7", "U1", t0))

	cs, err := s.Controllers(ctx, chA)
	must(t, err)
	want := []Controller{
		{UserID: "U1", GrantedBy: "U0", GrantedAt: t0.Add(time.Second)},
		{UserID: "U2", GrantedBy: "U1", GrantedAt: t0.Add(2 * time.Second)},
		{UserID: "U3", GrantedBy: "U1", GrantedAt: t0.Add(2 * time.Second)},
	}
	if fmt.Sprint(cs) != fmt.Sprint(want) {
		t.Errorf("Controllers =\n%v\nwant\n%v", cs, want)
	}

	must(t, s.Revoke(ctx, chA, "U2"))
	cs, err = s.Controllers(ctx, chA)
	must(t, err)
	if got := controllerIDs(cs); got != "U1,U3" {
		t.Errorf("after Revoke: %s, want U1,U3", got)
	}
	if err := s.Revoke(ctx, chA, "U2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Revoke of a non-controller: err = %v, want ErrNotFound", err)
	}
	none, err := s.Controllers(ctx, Channel{Team: "T1", ID: "Cnone"})
	must(t, err)
	if none == nil || len(none) != 0 {
		t.Errorf("Controllers of an empty channel = %#v, want empty slice", none)
	}
}

func TestHistoryReturnsTheChannelsNewestRecordsFirstClampedTo1Through50(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()

	for i := range 60 {
		must(t, s.Audit(ctx, AuditRecord{
			At: t0.Add(time.Duration(i) * time.Second), Channel: chA, UserID: "U1",
			Action: "lock", ConferenceID: confID, Outcome: "ok", Detail: fmt.Sprint(i),
		}))
	}
	full := AuditRecord{
		At: t0.Add(time.Hour), Channel: chA, UserID: "U2", Action: "unlock", ConferenceID: confID,
		Outcome: "error", ErrorCode: "MMC.111072065", RequestID: "req-42", Detail: "wrong password",
	}
	must(t, s.Audit(ctx, full))
	must(t, s.Audit(ctx, AuditRecord{At: t0.Add(2 * time.Hour), Channel: chB, Action: "bind", Outcome: "ok"}))

	tests := []struct {
		n, want int
	}{{-5, 1}, {0, 1}, {1, 1}, {3, 3}, {50, 50}, {51, 50}, {1000, 50}}
	for _, tc := range tests {
		rs, err := s.History(ctx, chA, tc.n)
		must(t, err)
		if len(rs) != tc.want {
			t.Errorf("History(n=%d) returned %d records, want %d", tc.n, len(rs), tc.want)
			continue
		}
		if rs[0] != full {
			t.Errorf("History(n=%d)[0] = %+v, want %+v", tc.n, rs[0], full)
		}
		for i := 1; i < len(rs); i++ {
			if !rs[i].At.Before(rs[i-1].At) {
				t.Errorf("History(n=%d) not newest first at %d", tc.n, i)
			}
		}
	}
	rs, err := s.History(ctx, Channel{Team: "T9", ID: "C9"}, 10)
	must(t, err)
	if rs == nil || len(rs) != 0 {
		t.Errorf("History of a quiet channel = %#v, want empty slice", rs)
	}
}

func TestRecordsAuditedAtTheSameInstantComeBackInReverseInsertionOrder(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()
	for _, a := range []string{"first", "second", "third"} {
		must(t, s.Audit(ctx, AuditRecord{At: t0, Channel: chA, Action: a}))
	}
	rs, err := s.History(ctx, chA, 10)
	must(t, err)
	var got []string
	for _, r := range rs {
		got = append(got, r.Action)
	}
	if strings.Join(got, ",") != "third,second,first" {
		t.Errorf("History = %v", got)
	}
}

func TestAnEnvelopeIsClaimedOnceAndPruningForgetsOldClaims(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()

	first, err := s.ClaimEnvelope(ctx, "env-1", t0)
	must(t, err)
	again, err := s.ClaimEnvelope(ctx, "env-1", t0.Add(time.Second))
	must(t, err)
	if !first || again {
		t.Fatalf("claims = %v, %v; want true, false", first, again)
	}
	_, err = s.ClaimEnvelope(ctx, "env-2", t0.Add(time.Hour))
	must(t, err)

	n, err := s.PruneEnvelopes(ctx, t0.Add(time.Minute))
	must(t, err)
	if n != 1 {
		t.Errorf("PruneEnvelopes removed %d, want 1", n)
	}
	n, err = s.PruneEnvelopes(ctx, t0.Add(time.Minute))
	must(t, err)
	if n != 0 {
		t.Errorf("second PruneEnvelopes removed %d, want 0", n)
	}
	if first, _ := s.ClaimEnvelope(ctx, "env-1", t0.Add(2*time.Hour)); !first {
		t.Error("a pruned envelope ID is not claimable again")
	}
	if first, _ := s.ClaimEnvelope(ctx, "env-2", t0.Add(2*time.Hour)); first {
		t.Error("an unpruned envelope ID was claimed twice")
	}
}

func TestMissingRowsReportErrNotFound(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()
	must(t, s.Bind(ctx, chA, confID, "pw", "U1", t0)) // bound, but no token
	unbound := "123456789"

	tests := []struct {
		name string
		call func() error
	}{
		{"Meeting of an unbound conference", func() error { _, err := s.Meeting(ctx, chA, unbound); return err }},
		{"Meeting bound in another channel", func() error { _, err := s.Meeting(ctx, chB, confID); return err }},
		{"DefaultMeeting of a channel with none", func() error { _, err := s.DefaultMeeting(ctx, chB); return err }},
		{"Password of an unbound conference", func() error { _, err := s.Password(ctx, chA, unbound); return err }},
		{"Token of an unbound conference", func() error { _, _, err := s.Token(ctx, chA, unbound); return err }},
		{"Token of a bound conference with no token", func() error { _, _, err := s.Token(ctx, chA, confID); return err }},
		{"PutToken for an unbound conference", func() error { return s.PutToken(ctx, chA, unbound, "tok", t0) }},
		{"SetLockState for an unbound conference", func() error { return s.SetLockState(ctx, chA, unbound, LockLocked, "U1", t0) }},
		{"Unbind of an unbound conference", func() error { return s.Unbind(ctx, chA, unbound) }},
		{"Revoke of a non-controller", func() error { return s.Revoke(ctx, chA, "U404") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("err = %v, want ErrNotFound", err)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "store: ") || strings.Count(msg, "store:") != 1 {
				t.Errorf("error message %q should start with a single \"store: \"", msg)
			}
		})
	}
}

func TestBadArgumentsAreRejectedAndChangeNothing(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()
	must(t, s.Bind(ctx, chA, confID, "pw", "U1", t0))
	noTeam := Channel{ID: "C1"}
	noChan := Channel{Team: "T1", ID: " "}

	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"Bind without a team", func() error { return s.Bind(ctx, noTeam, "1234567", "pw", "U1", t0) }, "team ID is empty"},
		{"Bind without a channel", func() error { return s.Bind(ctx, noChan, "1234567", "pw", "U1", t0) }, "channel ID is empty"},
		{"Bind without a conference ID", func() error { return s.Bind(ctx, chA, "", "pw", "U1", t0) }, "conference ID is empty"},
		{"Bind without a password", func() error { return s.Bind(ctx, chA, "1234567", "", "U1", t0) }, "password is empty"},
		{"Bind without a binder", func() error { return s.Bind(ctx, chA, "1234567", "pw", "", t0) }, "user ID is empty"},
		{"PutToken with an empty token", func() error { return s.PutToken(ctx, chA, confID, "", t0) }, "token is empty"},
		{"PutToken without an expiry", func() error { return s.PutToken(ctx, chA, confID, "tok", time.Time{}) }, "expiry is zero"},
		{"SetLockState with an unknown state", func() error { return s.SetLockState(ctx, chA, confID, LockState(7), "U1", t0) }, "unknown lock state 7"},
		{"Grant without a user", func() error { return s.Grant(ctx, chA, "", "U1", t0) }, "user ID is empty"},
		{"Audit without an action", func() error { return s.Audit(ctx, AuditRecord{Channel: chA}) }, "action is empty"},
		{"ClaimEnvelope without an ID", func() error { _, err := s.ClaimEnvelope(ctx, "", t0); return err }, "envelope ID is empty"},
		{"History without a channel", func() error { _, err := s.History(ctx, noChan, 5); return err }, "channel ID is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q, want it to say %q", err, tc.want)
			}
		})
	}

	ms, err := s.Meetings(ctx, chA)
	must(t, err)
	if got := meetingIDs(ms); got != confID+"*" {
		t.Errorf("meetings after bad calls = %s", got)
	}
	m, err := s.Meeting(ctx, chA, confID)
	must(t, err)
	if m.LockState != LockUnknown || !m.TokenExpiresAt.IsZero() {
		t.Errorf("meeting changed by bad calls: %+v", m)
	}
	cs, err := s.Controllers(ctx, chA)
	must(t, err)
	if got := controllerIDs(cs); got != "U1" {
		t.Errorf("controllers after bad calls = %s", got)
	}
}

func TestACanceledContextStopsTheCall(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	if err := s.Bind(ctx, chA, confID, "pw", "U1", t0); !errors.Is(err, context.Canceled) {
		t.Errorf("Bind with a canceled context: err = %v, want context.Canceled", err)
	}
	if _, err := s.ClaimEnvelope(ctx, "e", t0); !errors.Is(err, context.Canceled) {
		t.Errorf("ClaimEnvelope with a canceled context: err = %v, want context.Canceled", err)
	}
	if _, err := s.Meetings(ctx, chA); !errors.Is(err, context.Canceled) {
		t.Errorf("Meetings with a canceled context: err = %v, want context.Canceled", err)
	}
	if _, err := s.Meeting(context.Background(), chA, confID); !errors.Is(err, ErrNotFound) {
		t.Errorf("the canceled Bind wrote something: %v", err)
	}
	if _, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "x.db"), mustKey(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("OpenSQLite with a canceled context: err = %v, want context.Canceled", err)
	}
}

func TestReopeningKeepsEverything(t *testing.T) {
	t.Parallel()
	s, path, key := openTestStore(t)
	ctx := context.Background()
	must(t, s.Bind(ctx, chA, confID, "pw-persist", "U1", t0))
	must(t, s.PutToken(ctx, chA, confID, "tok-persist", t0.Add(time.Hour)))
	must(t, s.SetLockState(ctx, chA, confID, LockLocked, "U1", t0))
	must(t, s.Grant(ctx, chA, "U2", "U1", t0))
	must(t, s.Audit(ctx, AuditRecord{At: t0, Channel: chA, Action: "lock", Outcome: "ok"}))
	_, err := s.ClaimEnvelope(ctx, "env-persist", t0)
	must(t, err)
	must(t, s.Close())

	for range 2 { // reopen twice: migrations are idempotent
		s2 := openAt(t, path, key)
		pw, err := s2.Password(ctx, chA, confID)
		must(t, err)
		tok, _, err := s2.Token(ctx, chA, confID)
		must(t, err)
		m, err := s2.DefaultMeeting(ctx, chA)
		must(t, err)
		cs, err := s2.Controllers(ctx, chA)
		must(t, err)
		h, err := s2.History(ctx, chA, 10)
		must(t, err)
		first, err := s2.ClaimEnvelope(ctx, "env-persist", t0)
		must(t, err)
		if pw != "pw-persist" || tok != "tok-persist" || m.LockState != LockLocked ||
			controllerIDs(cs) != "U1,U2" || len(h) != 1 || first {
			t.Errorf("after reopen: pw=%q tok=%q lock=%v controllers=%s history=%d envelope first=%v",
				pw, tok, m.LockState, controllerIDs(cs), len(h), first)
		}
		var versions int
		must(t, s2.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&versions))
		if versions != SchemaVersion() {
			t.Errorf("schema_migrations has %d rows, want %d", versions, SchemaVersion())
		}
		must(t, s2.Close())
	}
}

func TestReopeningWithAnotherKeyFailsWithErrWrongKey(t *testing.T) {
	t.Parallel()
	s, path, key := openTestStore(t)
	must(t, s.Bind(context.Background(), chA, confID, "pw", "U1", t0))
	must(t, s.Close())
	other := mustKey(t)

	s2, err := OpenSQLite(context.Background(), path, other)
	if err == nil {
		s2.Close()
		t.Fatal("OpenSQLite with another key succeeded")
	}
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("err = %v, want ErrWrongKey", err)
	}
	msg := err.Error()
	for _, want := range []string{
		"MEETINGBOT_SECRET_KEY does not match the key this database was created with",
		key.Fingerprint(), other.Fingerprint(),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	assertNoKey(t, msg, key)
	assertNoKey(t, msg, other)

	// The right key still works afterwards.
	s3 := openAt(t, path, key)
	if _, err := s3.Password(context.Background(), chA, confID); err != nil {
		t.Errorf("Password with the right key after a failed open: %v", err)
	}
}

func TestOpeningWithoutAKeyOrPathIsRefused(t *testing.T) {
	t.Parallel()
	if _, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "x.db"), Key{}); !errors.Is(err, ErrInvalid) ||
		!strings.Contains(err.Error(), "MEETINGBOT_SECRET_KEY is not set") {
		t.Errorf("zero key: err = %v", err)
	}
	if _, err := OpenSQLite(context.Background(), "", mustKey(t)); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty path: err = %v", err)
	}
	if _, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"), mustKey(t)); err == nil {
		t.Error("a path in a missing directory opened")
	}
}

func TestADatabaseFromANewerBuildIsRefused(t *testing.T) {
	t.Parallel()
	s, path, key := openTestStore(t)
	_, err := s.w.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', 0)`)
	must(t, err)
	must(t, s.Close())

	_, err = OpenSQLite(context.Background(), path, key)
	if err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Errorf("err = %v, want a newer-schema error", err)
	}
}

func TestCloseCanBeCalledTwice(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	must(t, s.Close())
	must(t, s.Close())
	if _, err := s.ClaimEnvelope(context.Background(), "e", t0); err == nil {
		t.Error("ClaimEnvelope after Close succeeded")
	}
}

func TestANewDatabaseFileIsReadableByItsOwnerOnly(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	_, path, _ := openTestStore(t)
	fi, err := os.Stat(path)
	must(t, err)
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("database file mode = %v, want 0600", perm)
	}
}

func TestPathsWithURICharactersWork(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	path := filepath.Join(t.TempDir(), "odd dir?#%41", "meeting bot?x=1#y.db")
	must(t, os.MkdirAll(filepath.Dir(path), 0o700))
	s := openAt(t, path, key)
	must(t, s.Bind(context.Background(), chA, confID, "pw", "U1", t0))
	must(t, s.Close())
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
	s2 := openAt(t, path, key)
	if _, err := s2.Meeting(context.Background(), chA, confID); err != nil {
		t.Errorf("reopened database lost the binding: %v", err)
	}
}

func TestAnInMemoryDatabaseWorks(t *testing.T) {
	t.Parallel()
	s := openAt(t, ":memory:", mustKey(t))
	ctx := context.Background()
	must(t, s.Bind(ctx, chA, confID, "pw", "U1", t0))
	pw, err := s.Password(ctx, chA, confID)
	must(t, err)
	if pw != "pw" {
		t.Errorf("Password = %q", pw)
	}
}

func TestTheDatabaseRunsInWALModeWithForeignKeysAndABusyTimeout(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()
	check := func(pool, pragma, want string) {
		t.Helper()
		db := s.w
		if pool == "reader" {
			db = s.r
		}
		var got string
		must(t, db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got))
		if !strings.EqualFold(got, want) {
			t.Errorf("%s PRAGMA %s = %s, want %s", pool, pragma, got, want)
		}
	}
	for _, pool := range []string{"writer", "reader"} {
		check(pool, "journal_mode", "wal")
		check(pool, "busy_timeout", "5000")
		check(pool, "foreign_keys", "1")
		check(pool, "synchronous", "1") // NORMAL
	}
	check("reader", "query_only", "1")
	check("writer", "query_only", "0")
}

func meetingIDs(ms []Meeting) string {
	var ids []string
	for _, m := range ms {
		id := m.ConferenceID
		if m.Default {
			id += "*"
		}
		ids = append(ids, id)
	}
	return strings.Join(ids, ",")
}

func controllerIDs(cs []Controller) string {
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.UserID)
	}
	return strings.Join(ids, ",")
}
