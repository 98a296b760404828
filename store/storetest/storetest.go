// Package storetest is the conformance suite every store backend passes:
// the same table of tests, run through store.Store on a fresh backend each,
// including concurrent tests that prove the invariants under concurrent
// writers (two revokes of the last two controllers, a bind racing a revoke,
// late lock-state writes). A backend's own test calls Run.
package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
)

// Opener returns a fresh, empty backend for one test. The suite closes it.
// It must be safe to call from parallel tests.
type Opener func(t *testing.T) store.Backend

// Fixed values the tests share.
var (
	chA   = store.Channel{Team: "T1", ID: "C111"}
	chB   = store.Channel{Team: "T1", ID: "C222"}
	chA2  = store.Channel{Team: "T2", ID: "C111"} // same channel ID, other workspace
	t0    = time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, time.UTC)
	conf  = domain.ConferenceID("914083136")
	conf2 = domain.ConferenceID("111222333")
	u1    = store.Actor{UserID: "U1"}
	admin = store.Actor{UserID: "UADMIN", Admin: true}
)

const (
	secretPassword = "Host-Pa55word-qz7XK"
	secretToken    = "ctl-token-9f8e7d6c5b4a39281706"
)

type suite struct {
	t    *testing.T
	open Opener
}

// Run runs every conformance test against backends from open.
func Run(t *testing.T, open Opener) {
	s := suite{t: t, open: open}
	tests := []struct {
		name string
		fn   func(t *testing.T, st *store.Store, key store.Key)
	}{
		{"BindingStoresTheDefaultAndMakesTheBinderAController", testBind},
		{"TimesComeBackToTheMillisecondInUTC", testTimes},
		{"RebindingReplacesThePasswordAndClearsTheToken", testRebind},
		{"MeetingsListTheDefaultFirstThenTheMostRecentlyBound", testMeetingsOrder},
		{"UnbindingTheDefaultPromotesTheMostRecentlyBound", testUnbindPromotes},
		{"BindingsAreScopedToTheirChannelAndWorkspace", testScoped},
		{"ATokenRoundTripsAndCanBeDropped", testToken},
		{"TargetReadsTheMeetingTheControllerAndTheTokenAtOnce", testTarget},
		{"TheLockStateBelongsToTheMeeting", testMeetingState},
		{"FreeTextWithAnyBytesIsRecorded", testFreeTextWithAnyBytesIsRecorded},
		{"ALateWriteWithAnOlderFenceIsDropped", testFence},
		{"AnEndedMeetingForgetsWhatWasSet", testEnded},
		{"ControllersAreOldestFirstAndGrantingTwiceIsANoOp", testControllers},
		{"OnlyControllersAndAdminsMayChangeAChannel", testAuthorization},
		{"TheLastControllerCannotBeRevoked", testLastController},
		{"HistoryIsNewestFirstAndClamped", testHistory},
		{"RepeatedRefusalsFoldIntoOneRecord", testRefusalsFold},
		{"AnEnvelopeIsClaimedOnce", testClaimOnce},
		{"AnExpiredClaimIsTakenOverWithItsPayload", testClaimTakeover},
		{"PruningForgetsOldFinishedClaimsOnly", testPrune},
		{"MissingRowsReportErrNotFound", testNotFound},
		{"BadArgumentsAreRejectedAndChangeNothing", testBadArguments},
		{"ACanceledContextStopsTheCall", testCanceled},
		{"ACiphertextMovedElsewhereCannotBeDecrypted", testMovedCiphertext},
		{"AnotherKeyIsRefusedNamingBothKeyIDs", nil}, // needs the backend itself; see below
		{"LockMeetingSerialisesAndFencesGrow", testLockMeeting},
		{"TwoRevokesOfTheLastTwoControllersLeaveOne", testConcurrentRevokes},
		{"ABindRacingARevokeNeverBringsTheRevokedUserBack", testBindRacingRevoke},
		{"RacingLockStateWritesEndInTheOrderOfTheLock", testRacingStateWrites},
		{"EachLockHolderReadsThePreviousHoldersState", testLockMeetingState},
		{"FiftyWritersAtOnceGetNoErrors", testManyWriters},
		{"AReportedStateIsAppliedWithoutAnAuditRecord", testApplyState},
		{"AWatchIsHeldByOneHolderAndTakenOverWhenItsLeaseEnds", testWatches},
		{"TwoHoldersClaimingAtOnceNeverShareAWatch", testConcurrentWatchClaims},
		{"EndingAWatchLeavesOneStartedAgainSince", testEndWatch},
		{"OnlyOneOfManyConcurrentClaimersWins", testConcurrentClaims},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.fn == nil {
				s.testWrongKey(t)
				return
			}
			st, key := s.newStore(t)
			tc.fn(t, st, key)
		})
	}
	t.Run("CopyMovesEverythingAndRefusesATargetWithData", func(t *testing.T) {
		t.Parallel()
		testCopy(t, open)
	})
}

func (s suite) newStore(t *testing.T) (*store.Store, store.Key) {
	t.Helper()
	b := s.open(t)
	t.Cleanup(func() { b.Close() })
	key, err := store.NewRandomKey()
	must(t, err)
	st, err := store.New(t.Context(), b, key)
	must(t, err)
	return st, key
}

func (s suite) testWrongKey(t *testing.T) {
	b := s.open(t)
	t.Cleanup(func() { b.Close() })
	k1, _ := store.NewRandomKey()
	k2, _ := store.NewRandomKey()
	st, err := store.New(t.Context(), b, k1)
	must(t, err)
	must(t, st.Bind(t.Context(), bindReq(chA, conf, "pw", u1)))
	if _, err := store.New(t.Context(), b, k1); err != nil {
		t.Fatalf("the same key again: %v", err)
	}
	_, err = store.New(t.Context(), b, k2)
	var wk *store.WrongKeyError
	if !errors.Is(err, store.ErrWrongKey) || !errors.As(err, &wk) {
		t.Fatalf("another key: err = %v, want a *WrongKeyError", err)
	}
	if wk.Stored != k1.Fingerprint() || wk.Given != k2.Fingerprint() {
		t.Errorf("key ids = %s, %s; want %s, %s", wk.Stored, wk.Given, k1.Fingerprint(), k2.Fingerprint())
	}
}

// ---- helpers ----

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func bindReq(ch store.Channel, id domain.ConferenceID, pw string, by store.Actor) store.BindRequest {
	return store.BindRequest{Channel: ch, ConferenceID: id, Password: domain.Password(pw), By: by, At: t0, Verified: true}
}

func meetingIDs(ms []store.Meeting) string {
	var ids []string
	for _, m := range ms {
		id := string(m.ConferenceID)
		if m.Default {
			id += "*"
		}
		ids = append(ids, id)
	}
	return strings.Join(ids, ",")
}

func controllerIDs(cs []store.Controller) string {
	var ids []string
	for _, c := range cs {
		ids = append(ids, c.UserID)
	}
	return strings.Join(ids, ",")
}

func lockPtr(s domain.LockState) *domain.LockState { return &s }

// ---- bindings ----

func testBind(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	must(t, st.Bind(ctx, bindReq(chA, conf, secretPassword, u1)))
	m, err := st.DefaultMeeting(ctx, chA)
	must(t, err)
	if m.ConferenceID != conf || m.BoundBy != "U1" || !m.Default || !m.Verified || m.Channel != chA {
		t.Errorf("DefaultMeeting = %+v", m)
	}
	pw, err := st.Password(ctx, chA, conf)
	must(t, err)
	if pw.Reveal() != secretPassword {
		t.Errorf("Password = %q", pw.Reveal())
	}
	cs, err := st.Controllers(ctx, chA)
	must(t, err)
	if got := controllerIDs(cs); got != "U1" {
		t.Errorf("controllers = %s, want U1", got)
	}
	unverified := bindReq(chA, conf2, "pw", u1)
	unverified.Verified = false
	must(t, st.Bind(ctx, unverified))
	m, err = st.Meeting(ctx, chA, conf2)
	must(t, err)
	if m.Verified {
		t.Error("a binding stored unverified reads back as verified")
	}
	must(t, st.PutToken(ctx, chA, conf2, "tok", t0.Add(time.Hour)))
	m, err = st.Meeting(ctx, chA, conf2)
	must(t, err)
	if !m.Verified {
		t.Error("a binding whose password got a token still reads as unverified")
	}
}

func testTimes(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	local := time.Date(2025, 3, 14, 10, 26, 53, 589_999_999, time.FixedZone("CET", 3600))
	r := bindReq(chA, conf, "pw", u1)
	r.At = local
	must(t, st.Bind(ctx, r))
	m, err := st.Meeting(ctx, chA, conf)
	must(t, err)
	if !m.BoundAt.Equal(local.Truncate(time.Millisecond)) || m.BoundAt.Location() != time.UTC {
		t.Errorf("BoundAt = %v, want %v in UTC", m.BoundAt, local.Truncate(time.Millisecond))
	}
}

func testRebind(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	must(t, st.Bind(ctx, bindReq(chA, conf, "old", u1)))
	must(t, st.PutToken(ctx, chA, conf, "tok", t0.Add(time.Hour)))
	must(t, st.Record(ctx, store.AuditRecord{At: t0, Channel: chA, UserID: "U1", Action: "lock", ConferenceID: conf, Outcome: "ok"},
		&store.StateChange{ConferenceID: conf, By: "U1", At: t0, Lock: lockPtr(domain.LockLocked)}))
	r := bindReq(chA, conf, "new", store.Actor{UserID: "U1"})
	r.At = t0.Add(time.Minute)
	must(t, st.Bind(ctx, r))
	pw, err := st.Password(ctx, chA, conf)
	must(t, err)
	if pw.Reveal() != "new" {
		t.Errorf("Password after rebind = %q, want new", pw.Reveal())
	}
	if _, _, err := st.Token(ctx, chA, conf); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("token after rebind: err = %v, want ErrNotFound", err)
	}
	ms, err := st.MeetingState(ctx, conf)
	must(t, err)
	if ms.Lock != domain.LockLocked {
		t.Errorf("lock state after rebind = %v, want locked (it belongs to the meeting)", ms.Lock)
	}
}

func testMeetingsOrder(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	ms, err := st.Meetings(ctx, chA)
	must(t, err)
	if ms == nil || len(ms) != 0 {
		t.Errorf("Meetings of an empty channel = %#v, want an empty slice", ms)
	}
	for i, id := range []domain.ConferenceID{"100000001", "100000002", "100000003"} {
		r := bindReq(chA, id, "pw", u1)
		r.At = t0.Add(time.Duration(i) * time.Second)
		must(t, st.Bind(ctx, r))
	}
	must(t, st.Bind(ctx, bindReq(chA, "100000002", "pw", u1))) // re-bind: default again
	ms, err = st.Meetings(ctx, chA)
	must(t, err)
	if got := meetingIDs(ms); got != "100000002*,100000003,100000001" {
		t.Errorf("Meetings = %s", got)
	}
}

func testUnbindPromotes(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	for _, id := range []domain.ConferenceID{"100000001", "100000002", "100000003"} {
		must(t, st.Bind(ctx, bindReq(chA, id, "pw", u1)))
	}
	must(t, st.Unbind(ctx, chA, "100000003", u1))
	ms, err := st.Meetings(ctx, chA)
	must(t, err)
	if got := meetingIDs(ms); got != "100000002*,100000001" {
		t.Errorf("after unbinding the default: %s", got)
	}
	must(t, st.Unbind(ctx, chA, "100000001", u1))
	ms, err = st.Meetings(ctx, chA)
	must(t, err)
	if got := meetingIDs(ms); got != "100000002*" {
		t.Errorf("after unbinding a non-default: %s", got)
	}
	must(t, st.Unbind(ctx, chA, "100000002", u1))
	if _, err := st.DefaultMeeting(ctx, chA); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DefaultMeeting after unbinding all: err = %v", err)
	}
	cs, err := st.Controllers(ctx, chA)
	must(t, err)
	if controllerIDs(cs) != "U1" {
		t.Errorf("unbinding removed controllers: %s", controllerIDs(cs))
	}
}

func testScoped(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	must(t, st.Bind(ctx, bindReq(chA, conf, "pw-A", store.Actor{UserID: "UA"})))
	must(t, st.Bind(ctx, bindReq(chB, conf, "pw-B", store.Actor{UserID: "UB"})))
	must(t, st.Bind(ctx, bindReq(chA2, conf, "pw-A2", store.Actor{UserID: "UA2"})))
	must(t, st.PutToken(ctx, chA, conf, "tok-A", t0.Add(time.Hour)))
	for ch, want := range map[store.Channel]string{chA: "pw-A", chB: "pw-B", chA2: "pw-A2"} {
		pw, err := st.Password(ctx, ch, conf)
		must(t, err)
		if pw.Reveal() != want {
			t.Errorf("Password(%v) = %q, want %q", ch, pw.Reveal(), want)
		}
	}
	if _, _, err := st.Token(ctx, chB, conf); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("channel B sees channel A's token: err = %v", err)
	}
	must(t, st.Unbind(ctx, chA, conf, store.Actor{UserID: "UA"}))
	if _, err := st.Meeting(ctx, chB, conf); err != nil {
		t.Errorf("unbinding in A removed B's meeting: %v", err)
	}
	cs, err := st.Controllers(ctx, chA2)
	must(t, err)
	if got := controllerIDs(cs); got != "UA2" {
		t.Errorf("controllers of the other workspace's channel = %s, want UA2", got)
	}
}

func testToken(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	exp := t0.Add(30 * time.Minute)
	must(t, st.Bind(ctx, bindReq(chA, conf, "pw", u1)))
	must(t, st.PutToken(ctx, chA, conf, secretToken, exp))
	tok, gotExp, err := st.Token(ctx, chA, conf)
	must(t, err)
	if tok.Reveal() != secretToken || !gotExp.Equal(exp) || gotExp.Location() != time.UTC {
		t.Errorf("Token = %v, %v", tok, gotExp)
	}
	m, err := st.Meeting(ctx, chA, conf)
	must(t, err)
	if !m.TokenExpiresAt.Equal(exp) {
		t.Errorf("TokenExpiresAt = %v, want %v", m.TokenExpiresAt, exp)
	}
	must(t, st.PutToken(ctx, chA, conf, "tok-2", exp.Add(time.Minute)))
	tok, _, err = st.Token(ctx, chA, conf)
	must(t, err)
	if tok.Reveal() != "tok-2" {
		t.Errorf("Token after replacing = %v", tok)
	}
	must(t, st.DropToken(ctx, chA, conf))
	if _, _, err := st.Token(ctx, chA, conf); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Token after DropToken: err = %v", err)
	}
	must(t, st.DropToken(ctx, chA, conf))        // again: a no-op
	must(t, st.DropToken(ctx, chA, "999999999")) // unbound: a no-op
}

func testTarget(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	if _, err := st.Target(ctx, chA, "", "U1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Target in an empty channel: err = %v, want ErrNotFound", err)
	}
	must(t, st.Bind(ctx, bindReq(chA, conf, "pw", u1)))
	must(t, st.Bind(ctx, bindReq(chA, conf2, "pw", u1)))
	must(t, st.Grant(ctx, chA, "U2", u1, t0))
	must(t, st.PutToken(ctx, chA, conf, secretToken, t0.Add(time.Hour)))

	tg, err := st.Target(ctx, chA, "", "U2")
	must(t, err)
	if tg.Meeting.ConferenceID != conf2 || !tg.IsController || tg.Token != "" {
		t.Errorf("Target(default, U2) = %+v", tg)
	}
	tg, err = st.Target(ctx, chA, conf, "U9")
	must(t, err)
	if tg.Meeting.ConferenceID != conf || tg.IsController || tg.Token.Reveal() != secretToken || !tg.TokenExpires.Equal(t0.Add(time.Hour)) {
		t.Errorf("Target(conf, U9) = %+v", tg)
	}
	if _, err := st.Target(ctx, chB, conf, "U1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Target of a meeting bound elsewhere: err = %v", err)
	}
}

// ---- meeting state ----

func testMeetingState(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	zero, err := st.MeetingState(ctx, conf)
	must(t, err)
	if zero.Lock != domain.LockUnknown || zero.LockBy != "" || !zero.LockAt.IsZero() {
		t.Errorf("a meeting never recorded has state %+v", zero)
	}
	must(t, st.Bind(ctx, bindReq(chA, conf, "pw", u1)))
	must(t, st.Bind(ctx, bindReq(chB, conf, "pw", store.Actor{UserID: "U2"})))
	fence, unlock, err := st.LockMeeting(ctx, conf)
	must(t, err)
	must(t, st.Record(ctx, store.AuditRecord{At: t0, Channel: chA, UserID: "U1", Action: "lock", ConferenceID: conf, Outcome: "ok"},
		&store.StateChange{ConferenceID: conf, Fence: fence, By: "U1", At: t0, Lock: lockPtr(domain.LockLocked)}))
	unlock()
	fence, unlock, err = st.LockMeeting(ctx, conf)
	must(t, err)
	r := domain.RestrictionInvited
	end := t0.Add(time.Hour)
	ext := 15 * time.Minute
	must(t, st.Record(ctx, store.AuditRecord{At: t0.Add(time.Second), Channel: chB, UserID: "U2", Action: "unlock", ConferenceID: conf, Outcome: "ok"},
		&store.StateChange{ConferenceID: conf, Fence: fence, By: "U2", At: t0.Add(time.Second), Lock: lockPtr(domain.LockUnlocked),
			Restriction: &r, ScheduledEnd: &end}))
	must(t, st.Record(ctx, store.AuditRecord{At: t0.Add(2 * time.Second), Channel: chB, UserID: "U3", Action: "extend", ConferenceID: conf, Outcome: "ok"},
		&store.StateChange{ConferenceID: conf, Fence: fence, By: "U3", At: t0.Add(2 * time.Second), Extend: &ext}))
	must(t, st.Record(ctx, store.AuditRecord{At: t0.Add(3 * time.Second), Channel: chB, UserID: "U3", Action: "extend", ConferenceID: conf, Outcome: "ok"},
		&store.StateChange{ConferenceID: conf, Fence: fence, By: "U3", At: t0.Add(3 * time.Second), Extend: &ext}))
	unlock()
	ms, err := st.MeetingState(ctx, conf)
	must(t, err)
	if ms.Lock != domain.LockUnlocked || ms.LockBy != "U2" || !ms.LockAt.Equal(t0.Add(time.Second)) || ms.LockSource != store.SourceBot {
		t.Errorf("after an unlock in B, the meeting's lock state is %v by %s at %v (%s); want unlocked by U2", ms.Lock, ms.LockBy, ms.LockAt, ms.LockSource)
	}
	if ms.Restriction != domain.RestrictionInvited || ms.RestrictionBy != "U2" || !ms.ScheduledEnd.Equal(end.Add(30*time.Minute)) ||
		ms.Extended != 30*time.Minute || ms.ExtendedBy != "U3" || !ms.ExtendedAt.Equal(t0.Add(3*time.Second)) {
		t.Errorf("restriction, scheduled end and extensions = %+v", ms)
	}
	// A report from the meeting's event socket has no fence and applies.
	must(t, st.Record(ctx, store.AuditRecord{At: t0.Add(2 * time.Second), Channel: chA, Action: "lock-seen", ConferenceID: conf, Outcome: "ok"},
		&store.StateChange{ConferenceID: conf, At: t0.Add(2 * time.Second), Lock: lockPtr(domain.LockLocked), LockSource: store.SourceMeeting}))
	ms, err = st.MeetingState(ctx, conf)
	must(t, err)
	if ms.Lock != domain.LockLocked || ms.LockSource != store.SourceMeeting || ms.LockBy != "" {
		t.Errorf("after the meeting reported a lock: %+v", ms)
	}
}

func testFence(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	old, unlock, err := st.LockMeeting(ctx, conf)
	must(t, err)
	unlock() // the first holder's lease is gone, but its call is still in flight
	newer, unlock, err := st.LockMeeting(ctx, conf)
	must(t, err)
	if newer <= old {
		t.Fatalf("fences did not grow: %d then %d", old, newer)
	}
	must(t, st.Record(ctx, store.AuditRecord{At: t0, Channel: chA, UserID: "U2", Action: "unlock", ConferenceID: conf, Outcome: "ok"},
		&store.StateChange{ConferenceID: conf, Fence: newer, By: "U2", At: t0, Lock: lockPtr(domain.LockUnlocked)}))
	unlock()
	must(t, st.Record(ctx, store.AuditRecord{At: t0, Channel: chA, UserID: "U1", Action: "lock", ConferenceID: conf, Outcome: "ok"},
		&store.StateChange{ConferenceID: conf, Fence: old, By: "U1", At: t0.Add(time.Second), Lock: lockPtr(domain.LockLocked)}))
	ms, err := st.MeetingState(ctx, conf)
	must(t, err)
	if ms.Lock != domain.LockUnlocked || ms.LockBy != "U2" || ms.Fence != newer {
		t.Errorf("a late write with an older fence changed the state: %+v", ms)
	}
	h, err := st.History(ctx, chA, 10)
	must(t, err)
	if len(h) != 2 {
		t.Errorf("the late write's audit record is lost: %d records, want 2 (what happened is still recorded)", len(h))
	}
}

func testEnded(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	r := domain.RestrictionCompany
	end := t0.Add(time.Hour)
	must(t, st.Record(ctx, store.AuditRecord{At: t0, Channel: chA, UserID: "U1", Action: "lock", ConferenceID: conf, Outcome: "ok"},
		&store.StateChange{ConferenceID: conf, By: "U1", At: t0, Lock: lockPtr(domain.LockLocked), Restriction: &r, ScheduledEnd: &end}))
	must(t, st.Record(ctx, store.AuditRecord{At: t0.Add(time.Minute), Channel: chA, UserID: "U1", Action: "lock", ConferenceID: conf, Outcome: "error", ErrorCode: "MMC.111072006"},
		&store.StateChange{ConferenceID: conf, By: "U1", At: t0.Add(time.Minute), Ended: true}))
	ms, err := st.MeetingState(ctx, conf)
	must(t, err)
	if ms.Lock != domain.LockUnknown || ms.LockSource != store.SourceEnded || !ms.LockAt.Equal(t0.Add(time.Minute)) ||
		ms.Restriction != domain.RestrictionUnknown || !ms.ScheduledEnd.IsZero() || ms.Extended != 0 {
		t.Errorf("after the meeting ended: %+v", ms)
	}
}

// ---- controllers and authorization ----

func testControllers(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	must(t, st.Grant(ctx, chA, "U2", admin, t0.Add(2*time.Second)))
	must(t, st.Grant(ctx, chA, "U1", admin, t0.Add(time.Second)))
	must(t, st.Grant(ctx, chA, "U3", admin, t0.Add(2*time.Second)))
	must(t, st.Grant(ctx, chA, "U2", store.Actor{UserID: "U1"}, t0.Add(time.Hour))) // a no-op
	cs, err := st.Controllers(ctx, chA)
	must(t, err)
	if got := controllerIDs(cs); got != "U1,U2,U3" {
		t.Errorf("controllers = %s, want U1,U2,U3", got)
	}
	if cs[1].GrantedBy != "UADMIN" || !cs[1].GrantedAt.Equal(t0.Add(2*time.Second)) {
		t.Errorf("granting twice changed the grant: %+v", cs[1])
	}
	cs, err = st.Controllers(ctx, chB)
	must(t, err)
	if cs == nil || len(cs) != 0 {
		t.Errorf("controllers of an empty channel = %#v", cs)
	}
}

func testAuthorization(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	stranger := store.Actor{UserID: "U666"}
	// Anyone may bind in a channel with no controllers.
	must(t, st.Bind(ctx, bindReq(chA, conf, "pw", u1)))
	tests := []struct {
		name string
		call func() error
	}{
		{"a bind by a non-controller", func() error { return st.Bind(ctx, bindReq(chA, conf2, "pw2", stranger)) }},
		{"a re-bind by a non-controller", func() error { return st.Bind(ctx, bindReq(chA, conf, "pw2", stranger)) }},
		{"an unbind by a non-controller", func() error { return st.Unbind(ctx, chA, conf, stranger) }},
		{"a grant by a non-controller", func() error { return st.Grant(ctx, chA, "U666", stranger, t0) }},
		{"a revoke by a non-controller", func() error { return st.Revoke(ctx, chA, "U1", stranger) }},
	}
	for _, tc := range tests {
		if err := tc.call(); !errors.Is(err, store.ErrNotAllowed) {
			t.Errorf("%s: err = %v, want ErrNotAllowed", tc.name, err)
		}
	}
	ms, err := st.Meetings(ctx, chA)
	must(t, err)
	pw, err := st.Password(ctx, chA, conf)
	must(t, err)
	cs, err := st.Controllers(ctx, chA)
	must(t, err)
	if meetingIDs(ms) != string(conf)+"*" || pw.Reveal() != "pw" || controllerIDs(cs) != "U1" {
		t.Errorf("refused changes changed something: meetings %s, password changed %v, controllers %s",
			meetingIDs(ms), pw.Reveal() != "pw", controllerIDs(cs))
	}
	// Admins may do all of it.
	must(t, st.Bind(ctx, bindReq(chA, conf2, "pw2", admin)))
	must(t, st.Grant(ctx, chA, "U2", admin, t0))
	must(t, st.Revoke(ctx, chA, "U2", admin))
	must(t, st.Unbind(ctx, chA, conf2, admin))
}

func testLastController(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	must(t, st.Bind(ctx, bindReq(chA, conf, "pw", u1)))
	if err := st.Revoke(ctx, chA, "U1", u1); !errors.Is(err, store.ErrLastController) {
		t.Fatalf("revoking the only controller: err = %v, want ErrLastController", err)
	}
	if err := st.Revoke(ctx, chA, "U1", admin); !errors.Is(err, store.ErrLastController) {
		t.Fatalf("an admin revoking the only controller: err = %v, want ErrLastController", err)
	}
	must(t, st.Grant(ctx, chA, "U2", u1, t0))
	must(t, st.Revoke(ctx, chA, "U1", store.Actor{UserID: "U2"}))
	if err := st.Revoke(ctx, chA, "U1", store.Actor{UserID: "U2"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking a non-controller: err = %v, want ErrNotFound", err)
	}
}

// ---- audit ----

// A vendor's text may hold bytes PostgreSQL's text type refuses (NUL,
// invalid UTF-8); the record of an action that happened, and the state it
// left, are written all the same.
func testFreeTextWithAnyBytesIsRecorded(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	locked := domain.LockLocked
	must(t, st.Record(ctx, store.AuditRecord{At: t0, Channel: chA, UserID: "U1", Action: "lock", ConferenceID: conf, Outcome: store.OutcomeError,
		ErrorCode: "MMC.\x00bad", RequestID: "req-\xff", Detail: "vendor said \x00\xfe\xff then more"},
		&store.StateChange{ConferenceID: conf, By: "U1", Lock: &locked}))
	h, err := st.History(ctx, chA, 1)
	must(t, err)
	if len(h) != 1 || !strings.HasPrefix(h[0].Detail, "vendor said ") || !strings.HasSuffix(h[0].Detail, " then more") || !strings.HasPrefix(h[0].ErrorCode, "MMC.") {
		t.Fatalf("the record = %+v", h)
	}
	ms, err := st.MeetingState(ctx, conf)
	must(t, err)
	if ms.Lock != domain.LockLocked {
		t.Fatalf("the state written with the record = %+v", ms)
	}
}

func testHistory(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	for i := range 60 {
		must(t, st.Record(ctx, store.AuditRecord{At: t0.Add(time.Duration(i) * time.Second), Channel: chA, UserID: "U1",
			Action: "lock", ConferenceID: conf, Outcome: "ok", Detail: fmt.Sprint(i)}, nil))
	}
	for i := range 3 { // three at one instant: newest inserted first
		must(t, st.Record(ctx, store.AuditRecord{At: t0.Add(time.Hour), Channel: chA, UserID: "U1", Action: "unlock", ConferenceID: conf,
			Outcome: "ok", Detail: fmt.Sprint("same-", i)}, nil))
	}
	must(t, st.Record(ctx, store.AuditRecord{At: t0, Channel: chB, UserID: "U1", Action: "lock", Outcome: "ok"}, nil))
	h, err := st.History(ctx, chA, 5)
	must(t, err)
	var details []string
	for _, r := range h {
		details = append(details, r.Detail)
		if r.Count != 1 || r.Channel != chA {
			t.Errorf("record %+v", r)
		}
	}
	if got := strings.Join(details, ","); got != "same-2,same-1,same-0,59,58" {
		t.Errorf("History(5) = %s", got)
	}
	for n, want := range map[int]int{0: 1, -3: 1, 1000: store.MaxHistory} {
		h, err := st.History(ctx, chA, n)
		must(t, err)
		if len(h) != want {
			t.Errorf("History(%d) returned %d records, want %d", n, len(h), want)
		}
	}
}

func testRefusalsFold(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	refusal := func(at time.Time, user string) store.AuditRecord {
		return store.AuditRecord{At: at, Channel: chA, UserID: user, Action: "lock", ConferenceID: conf, Outcome: store.OutcomeRefused, Detail: "not a controller"}
	}
	must(t, st.Record(ctx, store.AuditRecord{At: t0, Channel: chA, UserID: "U1", Action: "lock", ConferenceID: conf, Outcome: "ok"}, nil))
	for i := range 300 {
		must(t, st.Record(ctx, refusal(t0.Add(time.Duration(i)*time.Second), "UMAL"), nil))
	}
	must(t, st.Record(ctx, refusal(t0.Add(5*time.Minute), "UEVE"), nil))
	must(t, st.Record(ctx, refusal(t0.Add(time.Hour), "UMAL"), nil)) // after the window: a new record
	h, err := st.History(ctx, chA, 10)
	must(t, err)
	var lines []string
	for _, r := range h {
		lines = append(lines, fmt.Sprintf("%s %s x%d", r.UserID, r.Outcome, r.Count))
	}
	want := "UMAL refused x1,UEVE refused x1,UMAL refused x300,U1 ok x1"
	if got := strings.Join(lines, ","); got != want {
		t.Errorf("history = %s\nwant      %s", got, want)
	}
	if len(h) == 4 && !h[2].LastAt.Equal(t0.Add(299*time.Second)) {
		t.Errorf("the folded record's LastAt = %v, want the newest refusal's time", h[2].LastAt)
	}
}

// ---- claims ----

func testClaimOnce(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	c := store.Claim{EnvelopeID: "env-1", Holder: "h1", ClaimedAt: t0, LeaseUntil: t0.Add(time.Minute), Payload: []byte("payload")}
	first, err := st.ClaimEnvelope(ctx, c)
	must(t, err)
	if !first {
		t.Fatal("the first claim was not first")
	}
	c.Holder = "h2"
	first, err = st.ClaimEnvelope(ctx, c)
	must(t, err)
	if first {
		t.Fatal("a second claim of the same envelope was first")
	}
	must(t, st.FinishEnvelope(ctx, "env-1"))
	first, err = st.ClaimEnvelope(ctx, c)
	must(t, err)
	if first {
		t.Fatal("a claim after the envelope was finished was first")
	}
}

func testClaimTakeover(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	claim := func(id string, lease time.Duration) {
		_, err := st.ClaimEnvelope(ctx, store.Claim{EnvelopeID: id, Holder: "dead", ClaimedAt: t0, LeaseUntil: t0.Add(lease),
			Payload: []byte("payload of " + id + " https://hooks.slack.com/commands/T1/1/secret")})
		must(t, err)
	}
	claim("expired", 10*time.Second)
	claim("renewed", 10*time.Second)
	claim("finished", 10*time.Second)
	claim("live", time.Hour)
	must(t, st.RenewClaims(ctx, "dead", []string{"renewed"}, t0.Add(time.Hour)))
	must(t, st.RenewClaims(ctx, "someone-else", []string{"expired"}, t0.Add(time.Hour))) // not theirs: no effect
	must(t, st.FinishEnvelope(ctx, "finished"))

	got, err := st.TakeExpiredClaims(ctx, "alive", t0.Add(time.Minute), t0.Add(2*time.Minute), 10)
	must(t, err)
	if len(got) != 1 || got[0].EnvelopeID != "expired" || got[0].Holder != "alive" || got[0].Takeovers != 1 ||
		string(got[0].Payload) != "payload of expired https://hooks.slack.com/commands/T1/1/secret" || !got[0].LeaseUntil.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("TakeExpiredClaims = %+v", got)
	}
	again, err := st.TakeExpiredClaims(ctx, "third", t0.Add(time.Minute), t0.Add(2*time.Minute), 10)
	must(t, err)
	if len(again) != 0 {
		t.Errorf("a claim just taken over was handed out again: %+v", again)
	}
}

func testPrune(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	for i, id := range []string{"old-done", "old-open-live", "new-done"} {
		at := t0
		if i == 2 {
			at = t0.Add(48 * time.Hour)
		}
		_, err := st.ClaimEnvelope(ctx, store.Claim{EnvelopeID: id, Holder: "h", ClaimedAt: at, LeaseUntil: at.Add(time.Minute)})
		must(t, err)
	}
	must(t, st.FinishEnvelope(ctx, "old-done"))
	must(t, st.FinishEnvelope(ctx, "new-done"))
	must(t, st.RenewClaims(ctx, "h", []string{"old-open-live"}, t0.Add(100*time.Hour)))
	n, err := st.PruneEnvelopes(ctx, t0.Add(24*time.Hour))
	must(t, err)
	if n != 1 {
		t.Errorf("pruned %d, want 1", n)
	}
	for id, wantFirst := range map[string]bool{"old-done": true, "old-open-live": false, "new-done": false} {
		first, err := st.ClaimEnvelope(ctx, store.Claim{EnvelopeID: id, Holder: "h2", ClaimedAt: t0})
		must(t, err)
		if first != wantFirst {
			t.Errorf("after pruning, claiming %s: first = %v, want %v", id, first, wantFirst)
		}
	}
}

// ---- errors ----

func testNotFound(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	must(t, st.Bind(ctx, bindReq(chA, conf, "pw", u1)))
	const unbound = domain.ConferenceID("123456789")
	tests := []struct {
		name string
		call func() error
	}{
		{"Meeting of an unbound conference", func() error { _, err := st.Meeting(ctx, chA, unbound); return err }},
		{"Meeting bound in another channel", func() error { _, err := st.Meeting(ctx, chB, conf); return err }},
		{"DefaultMeeting of a channel with none", func() error { _, err := st.DefaultMeeting(ctx, chB); return err }},
		{"Password of an unbound conference", func() error { _, err := st.Password(ctx, chA, unbound); return err }},
		{"Token of an unbound conference", func() error { _, _, err := st.Token(ctx, chA, unbound); return err }},
		{"Token of a bound conference with no token", func() error { _, _, err := st.Token(ctx, chA, conf); return err }},
		{"PutToken for an unbound conference", func() error { return st.PutToken(ctx, chA, unbound, "tok", t0) }},
		{"Unbind of an unbound conference", func() error { return st.Unbind(ctx, chA, unbound, u1) }},
		{"Revoke of a non-controller", func() error { return st.Revoke(ctx, chA, "U404", u1) }},
	}
	for _, tc := range tests {
		err := tc.call()
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", tc.name, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, "store: ") || strings.Count(msg, "store:") != 1 {
			t.Errorf("%s: message %q should start with a single \"store: \"", tc.name, msg)
		}
	}
}

func testBadArguments(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	must(t, st.Bind(ctx, bindReq(chA, conf, "pw", u1)))
	noTeam := store.Channel{ID: "C1"}
	noChan := store.Channel{Team: "T1", ID: " "}
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"Bind without a team", func() error { return st.Bind(ctx, bindReq(noTeam, "1234567", "pw", u1)) }, "team ID is empty"},
		{"Bind without a channel", func() error { return st.Bind(ctx, bindReq(noChan, "1234567", "pw", u1)) }, "channel ID is empty"},
		{"Bind without a conference ID", func() error { return st.Bind(ctx, bindReq(chA, "", "pw", u1)) }, "conference ID"},
		{"Bind with a malformed conference ID", func() error { return st.Bind(ctx, bindReq(chA, "12ab", "pw", u1)) }, "conference ID"},
		{"Bind without a password", func() error { return st.Bind(ctx, bindReq(chA, "1234567", "", u1)) }, "password is empty"},
		{"Bind without a binder", func() error { return st.Bind(ctx, bindReq(chA, "1234567", "pw", store.Actor{})) }, "user ID is empty"},
		{"PutToken with an empty token", func() error { return st.PutToken(ctx, chA, conf, "", t0) }, "token is empty"},
		{"PutToken without an expiry", func() error { return st.PutToken(ctx, chA, conf, "tok", time.Time{}) }, "expiry is zero"},
		{"Record with an unknown lock state", func() error {
			return st.Record(ctx, store.AuditRecord{Channel: chA, Action: "lock"}, &store.StateChange{ConferenceID: conf, Lock: lockPtr(7)})
		}, "unknown lock state 7"},
		{"Grant without a user", func() error { return st.Grant(ctx, chA, "", u1, t0) }, "user ID is empty"},
		{"Record without an action", func() error { return st.Record(ctx, store.AuditRecord{Channel: chA}, nil) }, "action is empty"},
		{"ClaimEnvelope without an ID", func() error { _, err := st.ClaimEnvelope(ctx, store.Claim{Holder: "h"}); return err }, "envelope ID is empty"},
		{"History without a channel", func() error { _, err := st.History(ctx, noChan, 5); return err }, "channel ID is empty"},
		{"MeetingState of a malformed ID", func() error { _, err := st.MeetingState(ctx, "x"); return err }, "conference ID"},
	}
	for _, tc := range tests {
		err := tc.call()
		if !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %q, want it to say %q", tc.name, err, tc.want)
		}
	}
	ms, err := st.Meetings(ctx, chA)
	must(t, err)
	if got := meetingIDs(ms); got != string(conf)+"*" {
		t.Errorf("meetings after bad calls = %s", got)
	}
	state, err := st.MeetingState(ctx, conf)
	must(t, err)
	h, err := st.History(ctx, chA, 10)
	must(t, err)
	if state.Lock != domain.LockUnknown || len(h) != 0 {
		t.Errorf("bad calls changed the state (%v) or the history (%d records)", state.Lock, len(h))
	}
}

func testCanceled(t *testing.T, st *store.Store, _ store.Key) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := st.Bind(ctx, bindReq(chA, conf, "pw", u1)); !errors.Is(err, context.Canceled) {
		t.Errorf("Bind with a canceled context: err = %v", err)
	}
	if _, err := st.ClaimEnvelope(ctx, store.Claim{EnvelopeID: "e", Holder: "h"}); !errors.Is(err, context.Canceled) {
		t.Errorf("ClaimEnvelope with a canceled context: err = %v", err)
	}
	if _, err := st.Meetings(ctx, chA); !errors.Is(err, context.Canceled) {
		t.Errorf("Meetings with a canceled context: err = %v", err)
	}
	if _, _, err := st.LockMeeting(ctx, conf); !errors.Is(err, context.Canceled) {
		t.Errorf("LockMeeting with a canceled context: err = %v", err)
	}
	if _, err := st.Meeting(t.Context(), chA, conf); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the canceled Bind wrote something: %v", err)
	}
}

// testMovedCiphertext moves ciphertexts between rows and columns through the
// backend itself, the way someone with write access to the database might.
func testMovedCiphertext(t *testing.T, st *store.Store, key store.Key) {
	ctx := t.Context()
	b := st.Backend()
	must(t, st.Bind(ctx, bindReq(chA, conf, secretPassword, u1)))
	must(t, st.Bind(ctx, bindReq(chB, conf, "channel-B-password", u1)))
	must(t, st.Bind(ctx, bindReq(chA2, conf, "workspace-2-password", u1)))
	must(t, st.Bind(ctx, bindReq(chA, conf2, "other-meeting-password", u1)))
	must(t, st.PutToken(ctx, chA, conf, secretToken, t0.Add(time.Hour)))
	pwA, err := b.PasswordCT(ctx, chA, conf)
	must(t, err)
	tokA, _, err := b.TokenCT(ctx, chA, conf)
	must(t, err)

	moves := []struct {
		name string
		move func() error
		read func() error
	}{
		{"a password copied to another channel",
			func() error {
				return b.Bind(ctx, store.BindRow{Channel: chB, ConferenceID: conf, PasswordCT: pwA, By: admin, At: t0})
			},
			func() error { _, err := st.Password(ctx, chB, conf); return err }},
		{"a password copied to another workspace's channel with the same ID",
			func() error {
				return b.Bind(ctx, store.BindRow{Channel: chA2, ConferenceID: conf, PasswordCT: pwA, By: admin, At: t0})
			},
			func() error { _, err := st.Password(ctx, chA2, conf); return err }},
		{"a password copied to another meeting",
			func() error {
				return b.Bind(ctx, store.BindRow{Channel: chA, ConferenceID: conf2, PasswordCT: pwA, By: admin, At: t0})
			},
			func() error { _, err := st.Password(ctx, chA, conf2); return err }},
		{"a token copied into the password column",
			func() error {
				return b.Bind(ctx, store.BindRow{Channel: chB, ConferenceID: conf, PasswordCT: tokA, By: admin, At: t0})
			},
			func() error { _, err := st.Password(ctx, chB, conf); return err }},
		{"a password copied into the token column",
			func() error { return b.PutTokenCT(ctx, chA, conf2, pwA, t0.Add(time.Hour)) },
			func() error { _, _, err := st.Token(ctx, chA, conf2); return err }},
		{"a password with one flipped bit",
			func() error {
				flipped := slices.Clone(pwA)
				flipped[len(flipped)-3] ^= 0x04
				return b.Bind(ctx, store.BindRow{Channel: chB, ConferenceID: conf, PasswordCT: flipped, By: admin, At: t0})
			},
			func() error { _, err := st.Password(ctx, chB, conf); return err }},
		{"a truncated password",
			func() error {
				return b.Bind(ctx, store.BindRow{Channel: chB, ConferenceID: conf, PasswordCT: pwA[:10], By: admin, At: t0})
			},
			func() error { _, err := st.Password(ctx, chB, conf); return err }},
	}
	for _, m := range moves {
		must(t, m.move())
		err := m.read()
		if !errors.Is(err, store.ErrUndecryptable) {
			t.Errorf("%s: err = %v, want ErrUndecryptable", m.name, err)
			continue
		}
		for _, secret := range []string{secretPassword, secretToken, "channel-B-password", "workspace-2-password", "other-meeting-password", key.Encode()} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: the error %q holds a secret", m.name, err)
			}
		}
	}
	// Target treats an undecryptable token as none: a fresh one is fetched.
	tg, err := st.Target(ctx, chA, conf2, "U1")
	must(t, err)
	if tg.Token != "" {
		t.Errorf("Target returned a token it could not have decrypted")
	}
}

// ---- concurrency ----

func testLockMeeting(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	f1, unlock1, err := st.LockMeeting(ctx, conf)
	must(t, err)
	// Another conference is not blocked.
	f2, unlock2, err := st.LockMeeting(ctx, conf2)
	must(t, err)
	unlock2()
	acquired := make(chan int64)
	go func() {
		f, unlock, err := st.LockMeeting(ctx, conf)
		if err != nil {
			acquired <- -1
			return
		}
		unlock()
		acquired <- f
	}()
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	if _, _, err := st.LockMeeting(wctx, conf); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a second holder got the meeting while it was held: err = %v", err)
	}
	cancel()
	select {
	case f := <-acquired:
		t.Fatalf("the waiter got the meeting (fence %d) before it was unlocked", f)
	default:
	}
	unlock1()
	unlock1() // twice is harmless
	select {
	case f3 := <-acquired:
		if f3 <= f1 || f3 <= f2 || f2 <= f1 {
			t.Errorf("fences do not grow: %d, %d, %d", f1, f2, f3)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter never got the meeting after it was unlocked")
	}
}

func testConcurrentRevokes(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	for i := range 20 {
		ch := store.Channel{Team: "T1", ID: fmt.Sprintf("C%03d", i)}
		must(t, st.Grant(ctx, ch, "UA", admin, t0))
		must(t, st.Grant(ctx, ch, "UB", admin, t0))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		start := make(chan struct{})
		for j, pair := range [][2]string{{"UA", "UB"}, {"UB", "UA"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[j] = st.Revoke(ctx, ch, pair[1], store.Actor{UserID: pair[0]})
			}()
		}
		close(start)
		wg.Wait()
		cs, err := st.Controllers(ctx, ch)
		must(t, err)
		if len(cs) != 1 {
			t.Fatalf("round %d: %d controllers left (errors %v, %v), want exactly 1", i, len(cs), errs[0], errs[1])
		}
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrLastController), errors.Is(err, store.ErrNotAllowed):
			default:
				t.Fatalf("round %d: unexpected error %v", i, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d revokes succeeded, want 1", i, ok)
		}
	}
}

func testBindRacingRevoke(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	for i := range 20 {
		ch := store.Channel{Team: "T1", ID: fmt.Sprintf("C%03d", i)}
		must(t, st.Bind(ctx, bindReq(ch, conf, "pw", u1)))
		must(t, st.Grant(ctx, ch, "U2", u1, t0))
		var wg sync.WaitGroup
		var bindErr, revokeErr error
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			bindErr = st.Bind(ctx, bindReq(ch, conf2, "pw", store.Actor{UserID: "U2"}))
		}()
		go func() {
			defer wg.Done()
			<-start
			revokeErr = st.Revoke(ctx, ch, "U2", u1)
		}()
		close(start)
		wg.Wait()
		must(t, revokeErr)
		cs, err := st.Controllers(ctx, ch)
		must(t, err)
		if controllerIDs(cs) != "U1" {
			t.Fatalf("round %d: controllers after a bind racing a revoke = %s, want U1 (bind err %v)", i, controllerIDs(cs), bindErr)
		}
		if bindErr != nil && !errors.Is(bindErr, store.ErrNotAllowed) {
			t.Fatalf("round %d: bind err = %v", i, bindErr)
		}
		// After the revoke, a bind by U2 stores nothing.
		err = st.Bind(ctx, bindReq(ch, "999888777", "pw", store.Actor{UserID: "U2"}))
		if !errors.Is(err, store.ErrNotAllowed) {
			t.Fatalf("round %d: a bind after the revoke: err = %v, want ErrNotAllowed", i, err)
		}
		if _, err := st.Meeting(ctx, ch, "999888777"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("round %d: the refused bind stored the meeting", i)
		}
	}
}

func testRacingStateWrites(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	var (
		mu    sync.Mutex
		order []domain.LockState
		wg    sync.WaitGroup
	)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := domain.LockStateOf(i%2 == 0)
			fence, unlock, err := st.LockMeeting(ctx, conf)
			if err != nil {
				t.Error(err)
				return
			}
			defer unlock()
			mu.Lock()
			order = append(order, want)
			mu.Unlock()
			err = st.Record(ctx, store.AuditRecord{Channel: chA, UserID: "U1", Action: want.String(), ConferenceID: conf, Outcome: "ok"},
				&store.StateChange{ConferenceID: conf, Fence: fence, By: fmt.Sprint("U", i), Lock: lockPtr(want)})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ms, err := st.MeetingState(ctx, conf)
	must(t, err)
	if len(order) != 40 || ms.Lock != order[len(order)-1] {
		t.Errorf("state %v after writes serialised in order ending %v", ms.Lock, order[len(order)-1])
	}
}

// LockMeetingState reads the state once the lock is held (in one round
// trip where the backend can): each of many racing holders sees exactly
// what the holder before it wrote.
func testLockMeetingState(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	type turn struct {
		fence     int64
		me, prior string
	}
	var (
		mu    sync.Mutex
		turns []turn
		wg    sync.WaitGroup
	)
	for i := range 40 {
		wg.Go(func() {
			fence, prior, unlock, err := st.LockMeetingState(ctx, conf)
			if err != nil {
				t.Error(err)
				return
			}
			defer unlock()
			me := fmt.Sprint("U", i)
			mu.Lock()
			turns = append(turns, turn{fence, me, prior.LockBy})
			mu.Unlock()
			if err := st.Record(ctx, store.AuditRecord{Channel: chA, UserID: me, Action: "lock", ConferenceID: conf, Outcome: "ok"},
				&store.StateChange{ConferenceID: conf, Fence: fence, By: me, Lock: lockPtr(domain.LockStateOf(i%2 == 0))}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	slices.SortFunc(turns, func(a, b turn) int { return cmp.Compare(a.fence, b.fence) })
	if len(turns) != 40 {
		t.Fatalf("%d of 40 holders got the lock", len(turns))
	}
	for k, tn := range turns {
		want := ""
		if k > 0 {
			want = turns[k-1].me
		}
		if tn.prior != want {
			t.Fatalf("holder %d (fence %d) read the state left by %q, want %q", k, tn.fence, tn.prior, want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, _, err := st.LockMeetingState(cctx, conf); !errors.Is(err, context.Canceled) {
		t.Errorf("LockMeetingState with a canceled context: err = %v", err)
	}
	if _, _, _, err := st.LockMeetingState(ctx, "not-an-id"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("LockMeetingState of a bad conference ID: err = %v", err)
	}
}

func testManyWriters(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	shared := store.Channel{Team: "T1", ID: "Cshared"}
	must(t, st.Grant(ctx, shared, "Ushared", admin, t0))
	const workers = 50
	var (
		wg   sync.WaitGroup
		errs = make(chan error, workers*16)
	)
	start := make(chan struct{})
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			own := store.Channel{Team: "T1", ID: fmt.Sprintf("C%03d", i)}
			id := domain.ConferenceID(fmt.Sprintf("9000%02d", i))
			user := store.Actor{UserID: fmt.Sprintf("U%d", i)}
			report := func(what string, err error) {
				if err != nil {
					errs <- fmt.Errorf("worker %d: %s: %w", i, what, err)
				}
			}
			<-start
			report("bind own", st.Bind(ctx, bindReq(own, id, "pw", user)))
			report("bind shared", st.Bind(ctx, bindReq(shared, id, "pw", admin)))
			report("put token", st.PutToken(ctx, own, id, domain.Token(fmt.Sprint("tok-", i)), t0.Add(time.Hour)))
			report("grant", st.Grant(ctx, shared, user.UserID, admin, t0))
			report("record", st.Record(ctx, store.AuditRecord{Channel: shared, UserID: user.UserID, Action: "lock", ConferenceID: id, Outcome: "ok"},
				&store.StateChange{ConferenceID: id, By: user.UserID, Lock: lockPtr(domain.LockLocked)}))
			tok, _, err := st.Token(ctx, own, id)
			report("token", err)
			if err == nil && tok.Reveal() != fmt.Sprint("tok-", i) {
				errs <- fmt.Errorf("worker %d: read back token %v", i, tok)
			}
			if i%5 == 0 {
				report("unbind shared", st.Unbind(ctx, shared, id, admin))
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ms, err := st.Meetings(ctx, shared)
	must(t, err)
	defaults := 0
	for _, m := range ms {
		if m.Default {
			defaults++
		}
	}
	if len(ms) != workers-workers/5 || defaults != 1 {
		t.Errorf("shared channel: %d meetings (%d default), want %d with one default", len(ms), defaults, workers-workers/5)
	}
	cs, err := st.Controllers(ctx, shared)
	must(t, err)
	if len(cs) != workers+2 { // the workers, Ushared and the admin who bound
		t.Errorf("shared channel has %d controllers, want %d", len(cs), workers+2)
	}
}

func testConcurrentClaims(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	var (
		wins atomic.Int32
		wg   sync.WaitGroup
	)
	start := make(chan struct{})
	for i := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			first, err := st.ClaimEnvelope(ctx, store.Claim{EnvelopeID: "same", Holder: fmt.Sprint("h", i), LeaseUntil: time.Now().Add(time.Minute)})
			if err != nil {
				t.Error(err)
			}
			if first {
				wins.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := wins.Load(); n != 1 {
		t.Errorf("%d claimers won the same envelope, want 1", n)
	}
}

func testApplyState(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	must(t, st.ApplyState(ctx, store.StateChange{ConferenceID: conf, At: t0, Lock: lockPtr(domain.LockLocked), LockSource: store.SourceMeeting}))
	ms, err := st.MeetingState(ctx, conf)
	must(t, err)
	if ms.Lock != domain.LockLocked || ms.LockSource != store.SourceMeeting || !ms.LockAt.Equal(t0) {
		t.Errorf("state = %+v", ms)
	}
	h, err := st.History(ctx, chA, 10)
	must(t, err)
	if len(h) != 0 {
		t.Errorf("a reported state wrote %d audit records", len(h))
	}
	if err := st.ApplyState(ctx, store.StateChange{ConferenceID: conf, Lock: lockPtr(9)}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("an unknown lock state: err = %v", err)
	}
}

func testWatches(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	w := store.Watch{Channel: chA, ConferenceID: conf, StartedBy: "U1", StartedAt: t0}
	if err := st.PutWatch(ctx, w); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("watching a meeting not bound here: err = %v, want ErrNotFound", err)
	}
	must(t, st.Bind(ctx, bindReq(chA, conf, "pw", u1)))
	must(t, st.PutWatch(ctx, w))
	must(t, st.PutWatch(ctx, w)) // again: a no-op

	got, err := st.ClaimWatches(ctx, "h1", t0, t0.Add(30*time.Second))
	must(t, err)
	if len(got) != 1 || got[0].Channel != chA || got[0].ConferenceID != conf || got[0].StartedBy != "U1" || got[0].Holder != "h1" {
		t.Fatalf("h1 claimed %+v", got)
	}
	other, err := st.ClaimWatches(ctx, "h2", t0.Add(10*time.Second), t0.Add(40*time.Second))
	must(t, err)
	if len(other) != 0 {
		t.Fatalf("h2 took a watch h1 holds: %+v", other)
	}
	again, err := st.ClaimWatches(ctx, "h1", t0.Add(20*time.Second), t0.Add(50*time.Second))
	must(t, err)
	if len(again) != 1 {
		t.Fatalf("h1 lost its own watch on renewal: %+v", again)
	}
	// h1 dies: its lease ends, and h2 takes the watch over.
	other, err = st.ClaimWatches(ctx, "h2", t0.Add(51*time.Second), t0.Add(81*time.Second))
	must(t, err)
	if len(other) != 1 || other[0].Holder != "h2" {
		t.Fatalf("h2 did not take over an expired watch: %+v", other)
	}
	mine, err := st.ClaimWatches(ctx, "h1", t0.Add(52*time.Second), t0.Add(82*time.Second))
	must(t, err)
	if len(mine) != 0 {
		t.Fatalf("h1 came back and took h2's watch: %+v", mine)
	}
	must(t, st.ReleaseWatch(ctx, chA, conf, "h2"))
	mine, err = st.ClaimWatches(ctx, "h1", t0.Add(53*time.Second), t0.Add(83*time.Second))
	must(t, err)
	if len(mine) != 1 {
		t.Fatalf("a released watch was not claimable: %+v", mine)
	}
	must(t, st.DeleteWatch(ctx, chA, conf))
	if err := st.DeleteWatch(ctx, chA, conf); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleting twice: err = %v", err)
	}
	// Unbinding a meeting ends its watch.
	must(t, st.PutWatch(ctx, w))
	must(t, st.Unbind(ctx, chA, conf, u1))
	left, err := st.ClaimWatches(ctx, "h3", t0.Add(time.Hour), t0.Add(2*time.Hour))
	must(t, err)
	if len(left) != 0 {
		t.Errorf("the watch of an unbound meeting survived: %+v", left)
	}
}

// A meeting ends while someone turns its alerts on again: the follower that
// saw the end removes the watch it followed, not the new one.
func testEndWatch(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	must(t, st.Bind(ctx, bindReq(chA, conf, "pw", u1)))
	first := store.Watch{Channel: chA, ConferenceID: conf, StartedBy: "U1", StartedAt: t0}
	must(t, st.PutWatch(ctx, first))
	again := first
	again.StartedBy, again.StartedAt = "U2", t0.Add(time.Millisecond)
	must(t, st.PutWatch(ctx, again))
	if err := st.EndWatch(ctx, first); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ending the watch as first started: err = %v, want ErrNotFound", err)
	}
	held, err := st.ClaimWatches(ctx, "h1", t0, t0.Add(time.Minute))
	must(t, err)
	if len(held) != 1 || held[0].StartedBy != "U2" || !held[0].StartedAt.Equal(again.StartedAt) {
		t.Fatalf("the watch started again did not survive the end of the first: %+v", held)
	}
	must(t, st.EndWatch(ctx, held[0]))
	if left, err := st.ClaimWatches(ctx, "h1", t0, t0.Add(time.Minute)); err != nil || len(left) != 0 {
		t.Fatalf("watches left after EndWatch: %+v, %v", left, err)
	}
}

func testConcurrentWatchClaims(t *testing.T, st *store.Store, _ store.Key) {
	ctx := t.Context()
	for i := range 10 {
		ch := store.Channel{Team: "T1", ID: fmt.Sprintf("C%03d", i)}
		must(t, st.Bind(ctx, bindReq(ch, conf, "pw", u1)))
		must(t, st.PutWatch(ctx, store.Watch{Channel: ch, ConferenceID: conf, StartedBy: "U1"}))
	}
	var wg sync.WaitGroup
	held := make([][]store.Watch, 4)
	now := time.Now()
	for h := range held {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, err := st.ClaimWatches(ctx, fmt.Sprint("holder-", h), now, now.Add(time.Minute))
			if err != nil {
				t.Error(err)
			}
			held[h] = ws
		}()
	}
	wg.Wait()
	seen := map[store.Channel]int{}
	for _, ws := range held {
		for _, w := range ws {
			seen[w.Channel]++
		}
	}
	for ch, n := range seen {
		if n != 1 {
			t.Errorf("%v is held by %d holders", ch, n)
		}
	}
	if len(seen) != 10 {
		t.Errorf("%d of 10 watches were claimed", len(seen))
	}
}
