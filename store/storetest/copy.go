package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
)

// fill writes one of everything a database holds into st: bindings in two
// channels and two workspaces (one with a cached token, one unverified),
// controllers granted at equal times, an audit trail with a folded refusal,
// meeting state written under LockMeeting, and claims finished and not.
func fill(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := t.Context()
	must(t, st.Bind(ctx, bindReq(chA, conf, secretPassword, u1)))
	r := bindReq(chA, conf2, "second-password", u1)
	r.At, r.Verified = t0.Add(time.Minute), false
	must(t, st.Bind(ctx, r))
	must(t, st.Bind(ctx, bindReq(chB, conf, "channel-B-password", store.Actor{UserID: "UB"})))
	must(t, st.Bind(ctx, bindReq(chA2, conf, "workspace-2-password", store.Actor{UserID: "UA2"})))
	must(t, st.PutToken(ctx, chA, conf, secretToken, t0.Add(30*time.Minute)))
	must(t, st.PutToken(ctx, chA2, conf, "workspace-2-token", t0.Add(20*time.Minute)))
	for _, u := range []string{"U3", "U2", "U4"} {
		must(t, st.Grant(ctx, chA, u, u1, t0.Add(time.Second)))
	}
	fence, unlock, err := st.LockMeeting(ctx, conf)
	must(t, err)
	restriction := domain.RestrictionCompany
	end := t0.Add(2 * time.Hour)
	must(t, st.Record(ctx, store.AuditRecord{At: t0.Add(2 * time.Second), Channel: chA, UserID: "U1", Action: "lock", ConferenceID: conf,
		Outcome: store.OutcomeOK, RequestID: "req-1"},
		&store.StateChange{ConferenceID: conf, Fence: fence, By: "U1", At: t0.Add(2 * time.Second), Lock: lockPtr(domain.LockLocked),
			Restriction: &restriction, ScheduledEnd: &end}))
	unlock()
	must(t, st.Record(ctx, store.AuditRecord{At: t0.Add(3 * time.Second), Channel: chB, UserID: "UB", Action: "unlock", ConferenceID: conf2,
		Outcome: store.OutcomeError, ErrorCode: "MMC.111072006", Detail: "the meeting has ended"},
		&store.StateChange{ConferenceID: conf2, By: "UB", At: t0.Add(3 * time.Second), Ended: true}))
	for i := range 3 {
		must(t, st.Record(ctx, store.AuditRecord{At: t0.Add(time.Duration(4+i) * time.Second), Channel: chA, UserID: "UMAL", Action: "unlock",
			ConferenceID: conf, Outcome: store.OutcomeRefused, Detail: "not a controller"}, nil))
	}
	for _, c := range []store.Claim{
		{EnvelopeID: "env-open", Holder: "replica-1", ClaimedAt: t0, LeaseUntil: t0.Add(time.Minute),
			Payload: []byte(`{"response_url":"https://hooks.slack.com/commands/T1/1/secret"}`)},
		{EnvelopeID: "env-done", Holder: "replica-2", ClaimedAt: t0.Add(time.Second), LeaseUntil: t0.Add(time.Minute), Payload: []byte("done")},
	} {
		_, err := st.ClaimEnvelope(ctx, c)
		must(t, err)
	}
	must(t, st.FinishEnvelope(ctx, "env-done"))
	must(t, st.PutWatch(ctx, store.Watch{Channel: chB, ConferenceID: conf, StartedBy: "UB", StartedAt: t0.Add(5 * time.Second)}))
	ext := 15 * time.Minute
	must(t, st.Record(ctx, store.AuditRecord{At: t0.Add(time.Second), Channel: chA, UserID: "U1", Action: "extend", ConferenceID: conf,
		Outcome: store.OutcomeOK}, &store.StateChange{ConferenceID: conf, By: "U1", At: t0.Add(time.Second), Extend: &ext}))
}

func dumpAll(t *testing.T, b store.Backend) []store.Row {
	t.Helper()
	d, ok := b.(store.Dumper)
	if !ok {
		t.Fatalf("%T does not implement store.Dumper", b)
	}
	var rows []store.Row
	for r, err := range d.Dump(t.Context()) {
		must(t, err)
		rows = append(rows, r)
	}
	return rows
}

func describe(rows []store.Row) []string {
	var out []string
	for _, r := range rows {
		switch {
		case r.Meta != nil:
			out = append(out, fmt.Sprintf("meta %s %x", r.Meta.Name, r.Meta.Value))
		case r.Binding != nil:
			out = append(out, fmt.Sprintf("binding %+v %x %x", r.Binding.Meeting, r.Binding.PasswordCT, r.Binding.TokenCT))
		case r.Controller != nil:
			out = append(out, fmt.Sprintf("controller %+v", *r.Controller))
		case r.Audit != nil:
			out = append(out, fmt.Sprintf("audit %+v", *r.Audit))
		case r.State != nil:
			out = append(out, fmt.Sprintf("state %+v", *r.State))
		case r.Envelope != nil:
			out = append(out, fmt.Sprintf("envelope %+v", *r.Envelope))
		case r.Watch != nil:
			out = append(out, fmt.Sprintf("watch %+v", *r.Watch))
		default:
			out = append(out, "an empty row")
		}
	}
	return out
}

// testCopy copies a full database into a fresh backend of the same kind and
// reads it back through a Store with the same key.
func testCopy(t *testing.T, open Opener) {
	ctx := t.Context()
	from := open(t)
	t.Cleanup(func() { from.Close() })
	key, err := store.NewRandomKey()
	must(t, err)
	src, err := store.New(ctx, from, key)
	must(t, err)
	fill(t, src)
	stateBefore, err := src.MeetingState(ctx, conf)
	must(t, err)

	to := open(t)
	t.Cleanup(func() { to.Close() })
	counts, err := store.Copy(ctx, from, to)
	must(t, err)
	want := store.CopyCounts{Meta: 1, Bindings: 4, Controllers: 6, AuditRecords: 4, MeetingStates: 2, Envelopes: 2, Watches: 1}
	if counts != want {
		t.Errorf("Copy counted %+v, want %+v", counts, want)
	}
	if got, want := describe(dumpAll(t, to)), describe(dumpAll(t, from)); !slices.Equal(got, want) {
		t.Errorf("the copy's rows differ from the source's:\ngot  %q\nwant %q", got, want)
	}

	dst, err := store.New(ctx, to, key)
	must(t, err)
	for _, tc := range []struct {
		ch   store.Channel
		id   domain.ConferenceID
		pw   string
		tok  string
		when time.Time
	}{
		{chA, conf, secretPassword, secretToken, t0.Add(30 * time.Minute)},
		{chA, conf2, "second-password", "", time.Time{}},
		{chB, conf, "channel-B-password", "", time.Time{}},
		{chA2, conf, "workspace-2-password", "workspace-2-token", t0.Add(20 * time.Minute)},
	} {
		pw, err := dst.Password(ctx, tc.ch, tc.id)
		must(t, err)
		if pw.Reveal() != tc.pw {
			t.Errorf("copied password of %v %s does not read back", tc.ch, tc.id)
		}
		tok, exp, err := dst.Token(ctx, tc.ch, tc.id)
		switch {
		case tc.tok == "" && !errors.Is(err, store.ErrNotFound):
			t.Errorf("token of %v %s: err = %v, want ErrNotFound", tc.ch, tc.id, err)
		case tc.tok != "" && (err != nil || tok.Reveal() != tc.tok || !exp.Equal(tc.when)):
			t.Errorf("copied token of %v %s does not read back (err %v, expiry %v)", tc.ch, tc.id, err, exp)
		}
	}
	for _, ch := range []store.Channel{chA, chB, chA2} {
		for _, read := range []func(*store.Store) (any, error){
			func(s *store.Store) (any, error) { return s.Meetings(ctx, ch) },
			func(s *store.Store) (any, error) { return s.Controllers(ctx, ch) },
			func(s *store.Store) (any, error) { return s.History(ctx, ch, store.MaxHistory) },
		} {
			a, err := read(src)
			must(t, err)
			b, err := read(dst)
			must(t, err)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("channel %v reads differently after the copy:\nsource %+v\ncopy   %+v", ch, a, b)
			}
		}
	}
	h, err := dst.History(ctx, chA, 1)
	must(t, err)
	if len(h) != 1 || h[0].Count != 3 || !h[0].LastAt.Equal(t0.Add(6*time.Second)) {
		t.Errorf("the folded refusal after the copy: %+v", h)
	}
	stateAfter, err := dst.MeetingState(ctx, conf)
	must(t, err)
	if stateAfter != stateBefore {
		t.Errorf("meeting state after the copy = %+v, want %+v", stateAfter, stateBefore)
	}
	// New fences on the copy stay above the copied ones, so a write under
	// LockMeeting applies.
	fence, unlock, err := dst.LockMeeting(ctx, conf)
	must(t, err)
	if fence <= stateBefore.Fence {
		t.Errorf("a fence on the copy (%d) is not above the copied one (%d)", fence, stateBefore.Fence)
	}
	must(t, dst.Record(ctx, store.AuditRecord{Channel: chA, UserID: "U1", Action: "unlock", ConferenceID: conf, Outcome: store.OutcomeOK},
		&store.StateChange{ConferenceID: conf, Fence: fence, By: "U1", Lock: lockPtr(domain.LockUnlocked)}))
	unlock()
	if st, err := dst.MeetingState(ctx, conf); err != nil || st.Lock != domain.LockUnlocked {
		t.Errorf("a write under a new fence on the copy did not apply: %v, %v", st.Lock, err)
	}
	// The unfinished claim can be taken over, payload and all; the finished
	// one is still claimed.
	taken, err := dst.TakeExpiredClaims(ctx, "replica-3", t0.Add(time.Hour), t0.Add(2*time.Hour), 10)
	must(t, err)
	if len(taken) != 1 || taken[0].EnvelopeID != "env-open" || string(taken[0].Payload) != `{"response_url":"https://hooks.slack.com/commands/T1/1/secret"}` {
		t.Errorf("claims taken over on the copy = %+v", taken)
	}
	if first, err := dst.ClaimEnvelope(ctx, store.Claim{EnvelopeID: "env-done", Holder: "replica-3"}); err != nil || first {
		t.Errorf("claiming a finished envelope on the copy: first = %v, err = %v", first, err)
	}

	// A second copy into a database that holds data is refused and changes
	// nothing.
	before := describe(dumpAll(t, to))
	if _, err := store.Copy(ctx, from, to); !errors.Is(err, store.ErrNotEmpty) {
		t.Errorf("copying into a database with bindings: err = %v, want ErrNotEmpty", err)
	}
	if after := describe(dumpAll(t, to)); !slices.Equal(before, after) {
		t.Error("a refused copy changed the target")
	}
	// So is a database created with another key, even an empty one.
	other := open(t)
	t.Cleanup(func() { other.Close() })
	otherKey, err := store.NewRandomKey()
	must(t, err)
	_, err = store.New(ctx, other, otherKey)
	must(t, err)
	if _, err := store.Copy(ctx, from, other); !errors.Is(err, store.ErrWrongKey) {
		t.Errorf("copying into a database made with another key: err = %v, want ErrWrongKey", err)
	}
	if rows := dumpAll(t, other); len(rows) != 1 || rows[0].Meta == nil {
		t.Errorf("a refused copy wrote into the target: %q", describe(rows))
	}
}
