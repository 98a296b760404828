package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
	"github.com/meetingbot/meetingbot/store/storetest"
)

var (
	chA    = store.Channel{Team: "T1", ID: "C111"}
	chB    = store.Channel{Team: "T1", ID: "C222"}
	t0     = time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, time.UTC)
	confID = domain.ConferenceID("914083136")
)

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Backend {
		d, err := Open(t.Context(), filepath.Join(t.TempDir(), "meetingbot.db"))
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustKey(t testing.TB) store.Key {
	t.Helper()
	k, err := store.NewRandomKey()
	must(t, err)
	return k
}

// openTestStore opens a store on a fresh file in t.TempDir().
func openTestStore(t testing.TB) (*store.Store, string, store.Key) {
	t.Helper()
	key := mustKey(t)
	path := filepath.Join(t.TempDir(), "meetingbot.db")
	return openAt(t, path, key), path, key
}

func openAt(t testing.TB, path string, key store.Key) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), path, key)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func bind(t testing.TB, s *store.Store, ch store.Channel, id domain.ConferenceID, pw, by string) {
	t.Helper()
	must(t, s.Bind(context.Background(), store.BindRequest{Channel: ch, ConferenceID: id, Password: domain.Password(pw), By: store.Actor{UserID: by}, At: t0, Verified: true}))
}

func TestOpenPicksSQLiteForAPathAndNamesTheMissingBackendOtherwise(t *testing.T) {
	t.Parallel()
	if store.Kind("/var/lib/meetingbot/meetingbot.db") != "sqlite" || store.Kind("postgres://x/y") != "postgres" || store.Kind("PostgreSQL://x") != "postgres" {
		t.Fatal("Kind does not tell SQLite paths from PostgreSQL URLs")
	}
	_, err := store.Open(t.Context(), "postgres://127.0.0.1:1/none", mustKey(t))
	if err == nil {
		t.Skip("a PostgreSQL backend is registered in this test binary")
	}
	if !strings.Contains(err.Error(), "postgres") {
		t.Errorf("err = %v, want it to name the backend", err)
	}
}

func TestReopeningKeepsEverything(t *testing.T) {
	t.Parallel()
	s, path, key := openTestStore(t)
	ctx := context.Background()
	bind(t, s, chA, confID, "pw-persist", "U1")
	must(t, s.PutToken(ctx, chA, confID, "tok-persist", t0.Add(time.Hour)))
	locked := domain.LockLocked
	must(t, s.Record(ctx, store.AuditRecord{At: t0, Channel: chA, Action: "lock", ConferenceID: confID, Outcome: "ok"},
		&store.StateChange{ConferenceID: confID, By: "U1", At: t0, Lock: &locked}))
	must(t, s.Grant(ctx, chA, "U2", store.Actor{UserID: "U1"}, t0))
	_, err := s.ClaimEnvelope(ctx, store.Claim{EnvelopeID: "env-persist", Holder: "h"})
	must(t, err)
	must(t, s.Close())

	for range 2 { // reopen twice: migrations are idempotent
		s2 := openAt(t, path, key)
		pw, err := s2.Password(ctx, chA, confID)
		must(t, err)
		tok, _, err := s2.Token(ctx, chA, confID)
		must(t, err)
		st, err := s2.MeetingState(ctx, confID)
		must(t, err)
		cs, err := s2.Controllers(ctx, chA)
		must(t, err)
		h, err := s2.History(ctx, chA, 10)
		must(t, err)
		first, err := s2.ClaimEnvelope(ctx, store.Claim{EnvelopeID: "env-persist", Holder: "h2"})
		must(t, err)
		if pw.Reveal() != "pw-persist" || tok.Reveal() != "tok-persist" || st.Lock != domain.LockLocked ||
			len(cs) != 2 || len(h) != 1 || first {
			t.Errorf("after reopen: pw ok=%v tok ok=%v lock=%v controllers=%d history=%d envelope first=%v",
				pw.Reveal() == "pw-persist", tok.Reveal() == "tok-persist", st.Lock, len(cs), len(h), first)
		}
		var versions int
		must(t, s2.Backend().(*DB).r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&versions))
		if versions != SchemaVersion() {
			t.Errorf("schema_migrations has %d rows, want %d", versions, SchemaVersion())
		}
		must(t, s2.Close())
	}
}

func TestReopeningWithAnotherKeyFailsWithErrWrongKey(t *testing.T) {
	t.Parallel()
	s, path, key := openTestStore(t)
	bind(t, s, chA, confID, "pw", "U1")
	must(t, s.Close())
	other := mustKey(t)

	s2, err := store.Open(context.Background(), path, other)
	if err == nil {
		s2.Close()
		t.Fatal("Open with another key succeeded")
	}
	if !errors.Is(err, store.ErrWrongKey) {
		t.Fatalf("err = %v, want ErrWrongKey", err)
	}
	for _, want := range []string{"MEETINGBOT_SECRET_KEY does not match", key.Fingerprint(), other.Fingerprint()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	s3 := openAt(t, path, key)
	if _, err := s3.Password(context.Background(), chA, confID); err != nil {
		t.Errorf("Password with the right key after a failed open: %v", err)
	}
}

func TestOpeningWithoutAKeyOrPathIsRefused(t *testing.T) {
	t.Parallel()
	if _, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "x.db"), store.Key{}); !errors.Is(err, store.ErrInvalid) ||
		!strings.Contains(err.Error(), "MEETINGBOT_SECRET_KEY is not set") {
		t.Errorf("zero key: err = %v", err)
	}
	if _, err := store.Open(context.Background(), "", mustKey(t)); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty path: err = %v", err)
	}
	_, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"), mustKey(t))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a path in a missing directory: err = %v, want one wrapping os.ErrNotExist", err)
	}
}

func TestADatabaseFromANewerBuildIsRefused(t *testing.T) {
	t.Parallel()
	s, path, key := openTestStore(t)
	must(t, s.Backend().(*DB).wr.write(context.Background(), func(ctx context.Context, t *tx) error {
		_, err := t.exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, '0999_future.sql', 0)`)
		return err
	}))
	must(t, s.Close())
	_, err := store.Open(context.Background(), path, key)
	if err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Errorf("err = %v, want a newer-schema error", err)
	}
}

// A database written by the previous release (schema version 1) keeps its
// bindings, controllers, audit and claims, and its per-binding lock state
// becomes the meeting's (the newest across channels wins).
func TestAVersion1DatabaseIsMigratedKeepingEverything(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	key := mustKey(t)

	// Build a v1 database: apply only the first migration, and the key check
	// as the old release wrote it.
	raw, err := sql.Open("sqlite", dsn(path, false))
	must(t, err)
	ms, err := loadMigrations()
	must(t, err)
	_, err = raw.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`)
	must(t, err)
	_, err = raw.Exec(ms[0].SQL)
	must(t, err)
	_, err = raw.Exec(`INSERT INTO schema_migrations VALUES (1, ?, 0)`, ms[0].Name)
	must(t, err)
	must(t, raw.Close())
	// Let the store write its key check and a sealed password into the v1 file.
	{
		d, err := openV1(ctx, path)
		must(t, err)
		_, err = store.New(ctx, d, key) // writes the key check into the v1 file
		must(t, err)
		pwCT := sealedPasswordFor(t, key)
		must(t, d.Close())
		raw, err := sql.Open("sqlite", dsn(path, false))
		must(t, err)
		for _, row := range []struct {
			ch    store.Channel
			state string
			at    int64
		}{{chA, "locked", t0.UnixMilli()}, {chB, "unlocked", t0.Add(time.Minute).UnixMilli()}} {
			_, err = raw.Exec(`INSERT INTO meetings (team, channel, conference_id, password_ct, bound_by, bound_at, bind_seq, is_default, lock_state, lock_set_by, lock_set_at)
				VALUES (?, ?, ?, ?, 'U1', ?, 1, 1, ?, 'U1', ?)`, row.ch.Team, row.ch.ID, string(confID), pwCT[row.ch], t0.UnixMilli(), row.state, row.at)
			must(t, err)
		}
		_, err = raw.Exec(`INSERT INTO controllers VALUES ('T1', 'C111', 'U1', 'U1', ?)`, t0.UnixMilli())
		must(t, err)
		_, err = raw.Exec(`INSERT INTO audit (at, team, channel, user_id, action, conference_id, outcome, error_code, request_id, detail)
			VALUES (?, 'T1', 'C111', 'U1', 'lock', ?, 'ok', '', '', '')`, t0.UnixMilli(), string(confID))
		must(t, err)
		_, err = raw.Exec(`INSERT INTO envelopes (id, claimed_at) VALUES ('old-envelope', ?)`, t0.UnixMilli())
		must(t, err)
		must(t, raw.Close())
	}

	s := openAt(t, path, key)
	pw, err := s.Password(ctx, chA, confID)
	must(t, err)
	if pw.Reveal() != "pw-C111" {
		t.Errorf("password after migration = %q", pw.Reveal())
	}
	st, err := s.MeetingState(ctx, confID)
	must(t, err)
	if st.Lock != domain.LockUnlocked || !st.LockAt.Equal(t0.Add(time.Minute)) || st.LockSource != store.SourceBot {
		t.Errorf("migrated meeting state = %+v, want the newest (unlocked at t0+1m)", st)
	}
	m, err := s.Meeting(ctx, chA, confID)
	must(t, err)
	if !m.Verified || !m.Default {
		t.Errorf("migrated meeting = %+v", m)
	}
	h, err := s.History(ctx, chA, 10)
	must(t, err)
	if len(h) != 1 || h[0].Count != 1 {
		t.Errorf("migrated history = %+v", h)
	}
	first, err := s.ClaimEnvelope(ctx, store.Claim{EnvelopeID: "old-envelope", Holder: "h"})
	must(t, err)
	taken, err := s.TakeExpiredClaims(ctx, "h", time.Now(), time.Now().Add(time.Minute), 10)
	must(t, err)
	if first || len(taken) != 0 {
		t.Errorf("an envelope claimed before the migration: claimed again %v, taken over %d", first, len(taken))
	}
}

// noLogKeeper leaves the log to SQLite.
type noLogKeeper struct{}

func (noLogKeeper) committed()       {}
func (noLogKeeper) restartDue() bool { return false }

// openV1 opens a DB on a file without migrating it further than it is.
func openV1(ctx context.Context, path string) (*DB, error) {
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	d := &DB{w: w, path: path, locks: store.NewMeetingMutex()}
	d.wr, err = newWriter(ctx, w, noLogKeeper{})
	return d, err
}

// sealedPasswordFor seals "pw-<channel>" for confID in chA and chB with key,
// by binding in a scratch database and reading the ciphertext back.
func sealedPasswordFor(t *testing.T, key store.Key) map[store.Channel][]byte {
	t.Helper()
	scratch := openAt(t, filepath.Join(t.TempDir(), "scratch.db"), key)
	out := map[store.Channel][]byte{}
	for _, ch := range []store.Channel{chA, chB} {
		bind(t, scratch, ch, confID, "pw-"+ch.ID, "U1")
		ct, err := scratch.Backend().PasswordCT(context.Background(), ch, confID)
		must(t, err)
		out[ch] = ct
	}
	return out
}

func TestCloseCanBeCalledTwiceAndLaterWritesFail(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	must(t, s.Close())
	must(t, s.Close())
	if _, err := s.ClaimEnvelope(context.Background(), store.Claim{EnvelopeID: "e", Holder: "h"}); err == nil {
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
	bind(t, s, chA, confID, "pw", "U1")
	must(t, s.Close())
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the given path: %v", err)
	}
	s2 := openAt(t, path, key)
	if _, err := s2.Meeting(context.Background(), chA, confID); err != nil {
		t.Errorf("reopened database lost the binding: %v", err)
	}
}

func TestTheDatabaseRunsInWALModeWithForeignKeysAndABusyTimeout(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	d := s.Backend().(*DB)
	ctx := context.Background()
	check := func(pool, pragma, want string) {
		t.Helper()
		var got string
		if pool == "reader" {
			must(t, d.r.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got))
		} else {
			must(t, d.wr.write(ctx, func(ctx context.Context, t *tx) error {
				return t.queryRow(ctx, "PRAGMA "+pragma).Scan(&got)
			}))
		}
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
	// The checkpointer checkpoints, so that no commit waits for it.
	check("writer", "wal_autocheckpoint", "0")
}

// The write-ahead log is copied into the database in the background and
// starts again from the beginning, rather than growing with every commit:
// 5,000 commits write at least 40 MB of log (two 4 KiB pages each).
func TestTheCheckpointerKeepsTheLogShort(t *testing.T) {
	t.Parallel()
	s, path, _ := openTestStore(t)
	ctx := context.Background()
	var largest int64
	for i := range 5000 {
		if _, err := s.ClaimEnvelope(ctx, store.Claim{EnvelopeID: fmt.Sprint("ck-", i), Holder: "h", LeaseUntil: time.Now().Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(path + "-wal"); err == nil {
			largest = max(largest, fi.Size())
		}
	}
	t.Logf("largest log: %d KiB", largest>>10)
	if largest > 32<<20 {
		t.Errorf("the log grew to %d MiB in 5,000 commits: it is not checkpointed", largest>>20)
	}
}

// Two stores on one file stand in for two processes (or a restart that
// overlaps the old instance): they share no Go locks, only SQLite's.
func TestTwoProcessesOnOneFileWriteAtOnceWithoutErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, path, key := openTestStore(t)
	b := openAt(t, path, key)
	stores := []*store.Store{a, b}
	const workers = 40
	var wg sync.WaitGroup
	errs := make(chan error, workers*4)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%2]
			ch := store.Channel{Team: "T1", ID: fmt.Sprintf("C%03d", i)}
			id := domain.ConferenceID(fmt.Sprintf("9000%02d", i))
			if err := s.Bind(ctx, store.BindRequest{Channel: ch, ConferenceID: id, Password: "pw", By: store.Actor{UserID: "U1"}}); err != nil {
				errs <- err
			}
			if _, err := s.ClaimEnvelope(ctx, store.Claim{EnvelopeID: "shared", Holder: fmt.Sprint(i)}); err != nil {
				errs <- err
			}
			if err := s.Record(ctx, store.AuditRecord{Channel: ch, Action: "lock", Outcome: "ok"}, nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range workers {
		if _, err := b.Meeting(ctx, store.Channel{Team: "T1", ID: fmt.Sprintf("C%03d", i)}, domain.ConferenceID(fmt.Sprintf("9000%02d", i))); err != nil {
			t.Errorf("binding %d lost: %v", i, err)
		}
	}
}

// The group-commit writer shares one transaction between queued writes,
// but one failing write does not undo the others.
func TestAFailingWriteInABatchDoesNotUndoTheOthers(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	ctx := context.Background()
	d := s.Backend().(*DB)
	var wg sync.WaitGroup
	errs := make([]error, 60)
	for i := range 60 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%3 == 0 {
				errs[i] = d.wr.write(ctx, func(ctx context.Context, t *tx) error {
					if _, err := t.exec(ctx, `INSERT INTO meta (name, value) VALUES (?, x'00')`, fmt.Sprint("doomed-", i)); err != nil {
						return err
					}
					return errors.New("doomed")
				})
				return
			}
			errs[i] = s.Record(ctx, store.AuditRecord{Channel: chA, Action: "lock", Outcome: "ok", Detail: fmt.Sprint(i)}, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if i%3 == 0 && (err == nil || err.Error() != "doomed") {
			t.Errorf("write %d: err = %v, want doomed", i, err)
		}
		if i%3 != 0 && err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	h, err := s.History(ctx, chA, store.MaxHistory)
	must(t, err)
	if len(h) != 40 {
		t.Errorf("%d audit records survived, want 40", len(h))
	}
	var doomed int
	must(t, d.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM meta WHERE name LIKE 'doomed-%'`).Scan(&doomed))
	if doomed != 0 {
		t.Errorf("%d writes of failed requests were committed", doomed)
	}
}

// Writes are committed by the callers themselves (the first to find the
// writer idle leads). A write that panics panics on the goroutine leading
// that commit, as a panic would anywhere, but the writer is not left
// wedged: the writes sharing its transaction fail, and the next write
// commits.
func TestAWriteThatPanicsDoesNotWedgeTheWriter(t *testing.T) {
	t.Parallel()
	s, _, _ := openTestStore(t)
	w := s.Backend().(*DB).wr
	ctx := context.Background()
	queued := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			w.mu.Lock()
			q := len(w.queue)
			w.mu.Unlock()
			if q >= n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d writes queued, want %d", q, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	insert := func(name string) func(context.Context, *tx) error {
		return func(ctx context.Context, t *tx) error {
			_, err := t.exec(ctx, `INSERT INTO meta (name, value) VALUES (?, x'00')`, name)
			return err
		}
	}

	hold := make(chan struct{})
	leader := make(chan error, 1)
	go func() {
		leader <- w.write(ctx, func(ctx context.Context, t *tx) error { <-hold; return insert("leader")(ctx, t) })
	}()
	for { // the leader's batch has started when the queue is empty and a commit runs
		w.mu.Lock()
		started := w.leading && len(w.queue) == 0
		w.mu.Unlock()
		if started {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// Queued behind the leader, the panicking write leads the next batch.
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		_ = w.write(ctx, func(context.Context, *tx) error { panic("a bug in a write") })
	}()
	queued(1)
	follower := make(chan error, 1)
	go func() { follower <- w.write(ctx, insert("same-batch")) }()
	queued(2)
	close(hold)

	if err := <-leader; err != nil {
		t.Fatalf("the leader's write: %v", err)
	}
	if v := <-panicked; v != "a bug in a write" {
		t.Fatalf("the panic did not reach its caller: %v", v)
	}
	if err := <-follower; err == nil {
		t.Fatal("a write in the panicking write's transaction succeeded")
	}
	if err := w.write(ctx, insert("next")); err != nil {
		t.Fatalf("the writer is wedged: %v", err)
	}
	for name, want := range map[string]bool{"leader": true, "same-batch": false, "next": true} {
		_, err := s.Backend().Meta(ctx, name)
		if got := err == nil; got != want {
			t.Errorf("meta %q stored: %v, want %v (%v)", name, got, want, err)
		}
	}
}

// A database written by a run whose clock was ahead holds fences above this
// run's clock: the fences go on above them, so the state is still written.
func TestFencesStayAboveTheStoredOnesWhenTheClockIsBehind(t *testing.T) {
	t.Parallel()
	st, path, key := openTestStore(t)
	ctx := t.Context()
	bind(t, st, chA, confID, "pw", "U1")
	ahead := time.Now().Add(time.Hour).UnixNano()
	must(t, st.Record(ctx, store.AuditRecord{Channel: chA, UserID: "U1", Action: "lock", ConferenceID: confID, Outcome: store.OutcomeOK},
		&store.StateChange{ConferenceID: confID, Fence: ahead, By: "U1", Lock: lockPtr(domain.LockLocked)}))
	st.Close()

	st = openAt(t, path, key)
	fence, unlock, err := st.LockMeeting(ctx, confID)
	must(t, err)
	must(t, st.Record(ctx, store.AuditRecord{Channel: chA, UserID: "U2", Action: "unlock", ConferenceID: confID, Outcome: store.OutcomeOK},
		&store.StateChange{ConferenceID: confID, Fence: fence, By: "U2", Lock: lockPtr(domain.LockUnlocked)}))
	unlock()
	ms, err := st.MeetingState(ctx, confID)
	must(t, err)
	if ms.Lock != domain.LockUnlocked || ms.LockBy != "U2" {
		t.Fatalf("the unlock after the restart was dropped as late: %+v (its fence %d, stored %d)", ms, fence, ahead)
	}
}

func lockPtr(s domain.LockState) *domain.LockState { return &s }
