package postgres

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
	"github.com/meetingbot/meetingbot/store/sqlite"
)

func dump(t *testing.T, b store.Backend) []store.Row {
	t.Helper()
	var rows []store.Row
	for r, err := range b.(store.Dumper).Dump(t.Context()) {
		must(t, err)
		rows = append(rows, r)
	}
	return rows
}

func openSQLite(t *testing.T) *sqlite.DB {
	t.Helper()
	d, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "meetingbot.db"))
	must(t, err)
	t.Cleanup(func() { d.Close() })
	return d
}

// TestCopyFromSQLiteToPostgresAndBack moves a SQLite database of 30
// channels to PostgreSQL, reads every password and token back through
// store.Store with the same key, and moves it back to a new SQLite file:
// all three hold the same rows.
func TestCopyFromSQLiteToPostgresAndBack(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	key := mustKey(t)
	lite := openSQLite(t)
	src := newStore(t, lite, key)

	type secret struct {
		ch  store.Channel
		id  domain.ConferenceID
		pw  string
		tok string
	}
	var secrets []secret
	admin := store.Actor{UserID: "UADMIN", Admin: true}
	for c := range 30 {
		ch := store.Channel{Team: fmt.Sprint("T", c%3), ID: fmt.Sprintf("C%03d", c)}
		for m := range 3 {
			id := domain.ConferenceID(fmt.Sprintf("9%08d", c*10+m))
			s := secret{ch: ch, id: id, pw: fmt.Sprintf("pw-%d-%d-%s", c, m, ch.ID)}
			must(t, src.Bind(ctx, store.BindRequest{Channel: ch, ConferenceID: id, Password: domain.Password(s.pw),
				By: store.Actor{UserID: fmt.Sprint("U", c)}, At: t0.Add(time.Duration(c*3+m) * time.Second), Verified: m != 1}))
			if m != 2 {
				s.tok = fmt.Sprintf("tok-%d-%d", c, m)
				must(t, src.PutToken(ctx, ch, id, domain.Token(s.tok), t0.Add(time.Hour)))
			}
			secrets = append(secrets, s)
			fence, unlock, err := src.LockMeeting(ctx, id)
			must(t, err)
			must(t, src.Record(ctx, store.AuditRecord{At: t0.Add(time.Duration(m) * time.Minute), Channel: ch, UserID: fmt.Sprint("U", c),
				Action: "lock", ConferenceID: id, Outcome: store.OutcomeOK},
				&store.StateChange{ConferenceID: id, Fence: fence, By: fmt.Sprint("U", c), Lock: lockPtr(domain.LockLocked)}))
			unlock()
		}
		must(t, src.Grant(ctx, ch, "UHELPER", admin, t0))
		for i := range 4 {
			must(t, src.Record(ctx, store.AuditRecord{At: t0.Add(time.Duration(i) * time.Second), Channel: ch, UserID: "UMAL",
				Action: "unlock", Outcome: store.OutcomeRefused, Detail: "not a controller"}, nil))
		}
		_, err := src.ClaimEnvelope(ctx, store.Claim{EnvelopeID: fmt.Sprint("env-", c), Holder: "sqlite", ClaimedAt: t0,
			LeaseUntil: t0.Add(time.Minute), Payload: []byte(fmt.Sprint("https://hooks.slack.com/commands/", c))})
		must(t, err)
	}
	want := dump(t, lite)

	pg := openDB(t, freshSchema(t))
	counts, err := store.Copy(ctx, lite, pg)
	must(t, err)
	if counts.Bindings != 90 || counts.Controllers != 60 || counts.AuditRecords != 120 || counts.MeetingStates != 90 || counts.Envelopes != 30 {
		t.Errorf("copied %v", counts)
	}
	if got := dump(t, pg); !reflect.DeepEqual(got, want) {
		t.Errorf("PostgreSQL holds other rows than SQLite after the copy (%d rows, want %d)", len(got), len(want))
	}
	dst := newStore(t, pg, key) // the key check came along
	for _, s := range secrets {
		pw, err := dst.Password(ctx, s.ch, s.id)
		if err != nil || pw.Reveal() != s.pw {
			t.Errorf("password of %v %s after the copy: err %v, matches %v", s.ch, s.id, err, err == nil && pw.Reveal() == s.pw)
		}
		tok, _, err := dst.Token(ctx, s.ch, s.id)
		switch {
		case s.tok == "" && !errors.Is(err, store.ErrNotFound):
			t.Errorf("token of %v %s: err = %v, want ErrNotFound", s.ch, s.id, err)
		case s.tok != "" && (err != nil || tok.Reveal() != s.tok):
			t.Errorf("token of %v %s after the copy: err %v", s.ch, s.id, err)
		}
		for _, read := range []func(*store.Store) (any, error){
			func(st *store.Store) (any, error) { return st.Meetings(ctx, s.ch) },
			func(st *store.Store) (any, error) { return st.Controllers(ctx, s.ch) },
			func(st *store.Store) (any, error) { return st.History(ctx, s.ch, store.MaxHistory) },
			func(st *store.Store) (any, error) { return st.MeetingState(ctx, s.id) },
			func(st *store.Store) (any, error) { return st.Target(ctx, s.ch, "", "U1") },
		} {
			a, err := read(src)
			must(t, err)
			b, err := read(dst)
			must(t, err)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("%v reads differently on PostgreSQL:\nSQLite     %+v\nPostgreSQL %+v", s.ch, a, b)
			}
		}
	}
	// SQLite's fences are nanoseconds since 1970; PostgreSQL's sequence
	// continues above the highest copied one.
	var maxFence int64
	for _, r := range want {
		if r.State != nil {
			maxFence = max(maxFence, r.State.Fence)
		}
	}
	fence, unlock, err := dst.LockMeeting(ctx, secrets[0].id)
	must(t, err)
	unlock()
	if fence <= maxFence {
		t.Errorf("the first fence on PostgreSQL (%d) is not above the highest copied from SQLite (%d)", fence, maxFence)
	}
	taken, err := dst.TakeExpiredClaims(ctx, "pg-replica", t0.Add(time.Hour), t0.Add(2*time.Hour), 100)
	must(t, err)
	if len(taken) != 30 {
		t.Errorf("%d unfinished claims taken over on PostgreSQL, want 30", len(taken))
	}
	for _, c := range taken {
		if want := "https://hooks.slack.com/commands/" + strings.TrimPrefix(c.EnvelopeID, "env-"); string(c.Payload) != want {
			t.Errorf("claim %s taken over with payload %q, want %q", c.EnvelopeID, c.Payload, want)
		}
	}

	// A second copy is refused: PostgreSQL holds bindings now.
	if _, err := store.Copy(ctx, lite, pg); !errors.Is(err, store.ErrNotEmpty) {
		t.Errorf("copying into PostgreSQL again: err = %v, want ErrNotEmpty", err)
	}

	// And back, to a new SQLite file (claims as they are now).
	back := openSQLite(t)
	_, err = store.Copy(ctx, pg, back)
	must(t, err)
	if got, want := dump(t, back), dump(t, pg); !reflect.DeepEqual(got, want) {
		t.Errorf("SQLite holds other rows than PostgreSQL after copying back (%d rows, want %d)", len(got), len(want))
	}
}

func TestALoadThatFailsHalfWayWritesNothing(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	key := mustKey(t)
	lite := openSQLite(t)
	src := newStore(t, lite, key)
	for c := range 3 {
		must(t, src.Bind(ctx, store.BindRequest{Channel: store.Channel{Team: "T1", ID: fmt.Sprint("C", c)}, ConferenceID: confID,
			Password: "pw", By: store.Actor{UserID: "U1"}, At: t0}))
	}
	pg := openDB(t, freshSchema(t))
	// The source fails half-way (its context ends): nothing is written.
	rows := func(yield func(store.Row, error) bool) {
		n := 0
		for r, err := range lite.Dump(ctx) {
			if n++; n == 3 {
				cancel()
				yield(store.Row{}, context.Canceled)
				return
			}
			if !yield(r, err) {
				return
			}
		}
	}
	if err := pg.Load(t.Context(), rows); !errors.Is(err, context.Canceled) {
		t.Fatalf("Load of a failing source: err = %v", err)
	}
	if got := dump(t, pg); len(got) != 0 {
		t.Errorf("a failed load left %d rows", len(got))
	}
}
