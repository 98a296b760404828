// Package sqlite is meetingbot's default store backend: a SQLite file
// through modernc.org/sqlite (pure Go, no cgo). Import it for its effect:
// it registers itself with store.Open for every MEETINGBOT_DB that is not a
// postgres:// URL.
//
// One process owns the file. Writes go through one connection and a
// group-commit writer (writer.go): whatever is queued commits in one
// transaction, each write in its own savepoint, and every caller waits for
// the commit. Reads use a pool of read-only connections, which WAL lets run
// beside the writer. Control calls for one meeting are serialised in memory
// (store.MeetingMutex); a second process on the same file shares the data
// safely (SQLite's locks and busy_timeout) but not that serialisation, so
// run several replicas on PostgreSQL instead.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go, no cgo)

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
)

func init() {
	store.Register("sqlite", func(ctx context.Context, dsn string, _ store.Options) (store.Backend, error) {
		return Open(ctx, dsn)
	})
}

// driverName is the database/sql driver Open uses; a test counting
// statements replaces it with a wrapper.
var driverName = "sqlite"

// DB is the SQLite backend.
type DB struct {
	w     *sql.DB // one connection, owned by the writer
	r     *sql.DB // read-only pool
	wr    *writer
	ck    *checkpointer
	locks *store.MeetingMutex
	path  string

	readStmts sync.Map // query -> *sql.Stmt prepared on r

	closeOnce sync.Once
	closeErr  error
}

var _ store.Backend = (*DB)(nil)

// Open opens (creating if needed) the database at path, applies migrations,
// enables WAL, busy_timeout (5 s), foreign_keys and synchronous=NORMAL. A
// new file is created readable by its owner only. path is a file-system
// path, not a URI.
func Open(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("store: open: %w: the database path is empty", store.ErrInvalid)
	}
	d := &DB{path: path, locks: store.NewMeetingMutex()}
	if err := d.open(ctx); err != nil {
		d.Close() //nolint:errcheck // already failing
		return nil, fmt.Errorf("store: open: %w", err)
	}
	return d, nil
}

func (d *DB) open(ctx context.Context) error {
	// Create the file owner-only; SQLite gives the -wal and -shm files the
	// same permissions.
	f, err := os.OpenFile(d.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return err
		}
	case !errors.Is(err, os.ErrExist):
		return err
	}

	w, err := sql.Open(driverName, dsn(d.path, false))
	if err != nil {
		return err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	d.w = w
	if err := w.PingContext(ctx); err != nil {
		return err
	}
	if err := migrate(ctx, w); err != nil {
		return err
	}
	// Fences start at the clock, but must also stay above what is stored,
	// or every state write of this run would be dropped as late.
	var stored int64
	if err := w.QueryRowContext(ctx, `SELECT COALESCE(MAX(fence), 0) FROM meeting_state`).Scan(&stored); err != nil {
		return err
	}
	d.locks.Above(stored)
	ck, err := sql.Open("sqlite", dsn(d.path, false))
	if err != nil {
		return err
	}
	d.ck = newCheckpointer(ck)
	if d.wr, err = newWriter(ctx, w, d.ck); err != nil {
		return err
	}
	r, err := sql.Open(driverName, dsn(d.path, true))
	if err != nil {
		return err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(5 * time.Minute)
	d.r = r
	return r.PingContext(ctx)
}

// dsn builds the modernc.org/sqlite data source name for path:
//
//	file:PATH?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate
//
// plus _pragma=query_only(1) for the read pool, and
// _pragma=wal_autocheckpoint(0) for the others: the checkpointer
// (checkpoint.go) checkpoints, so that no commit waits for it. '%', '?' and '#' in PATH are
// percent-encoded, as SQLite's URI syntax requires.
func dsn(path string, readOnly bool) string {
	var b strings.Builder
	b.WriteString("file:")
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '%', '?', '#':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteString("?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate")
	if readOnly {
		b.WriteString("&_pragma=query_only(1)")
	} else {
		b.WriteString("&_pragma=wal_autocheckpoint(0)")
	}
	return b.String()
}

// Close lets queued writes commit and closes the database. It is safe to
// call more than once.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		if d.wr != nil {
			d.wr.close()
		}
		var errs []error
		if d.ck != nil {
			errs = append(errs, d.ck.close())
		}
		d.readStmts.Range(func(_, v any) bool {
			errs = append(errs, v.(*sql.Stmt).Close())
			return true
		})
		if d.r != nil {
			errs = append(errs, d.r.Close())
		}
		if d.w != nil {
			errs = append(errs, d.w.Close())
		}
		if err := errors.Join(errs...); err != nil {
			d.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return d.closeErr
}

// Ping implements store.Backend: a read and a check that the writer runs.
func (d *DB) Ping(ctx context.Context) error {
	var one int
	if err := d.read(ctx, `SELECT 1`).Scan(&one); err != nil {
		return err
	}
	return d.wr.write(ctx, func(context.Context, *tx) error { return nil })
}

// read runs a prepared query on the read pool.
//
// Reads run without the caller's cancellation: with a context that can be
// canceled, database/sql and the driver each start a goroutine per query
// to watch it, which cost more than the read itself. A read takes
// microseconds and, in WAL mode, never waits for the writer. A context
// that has ended already still fails the read.
func (d *DB) read(ctx context.Context, query string, args ...any) *sql.Row {
	if ctx.Err() != nil {
		return d.r.QueryRowContext(ctx, query, args...) // fails with ctx's error
	}
	ctx = context.WithoutCancel(ctx)
	st, err := d.readStmt(ctx, query)
	if err != nil {
		return d.r.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (d *DB) readRows(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx = context.WithoutCancel(ctx) // see read
	st, err := d.readStmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (d *DB) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := d.readStmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := d.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := d.readStmts.LoadOrStore(query, st); loaded {
		st.Close() //nolint:errcheck // a duplicate
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

// ---- helpers ----

func millis(t time.Time) int64 { return t.UnixMilli() }

func nullMillis(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

func fromMillis(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

func parseRestriction(s string) domain.JoinRestriction {
	r, _ := domain.ParseJoinRestriction(s)
	return r
}

// mustAffect turns "no row changed" into store.ErrNotFound.
func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ---- meta ----

// Meta implements store.Backend.
func (d *DB) Meta(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := d.read(ctx, `SELECT value FROM meta WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return v, err
}

// PutMetaIfAbsent implements store.Backend.
func (d *DB) PutMetaIfAbsent(ctx context.Context, name string, value []byte) ([]byte, error) {
	var stored []byte
	err := d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		if _, err := t.exec(ctx, `INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING`, name, value); err != nil {
			return err
		}
		return t.queryRow(ctx, `SELECT value FROM meta WHERE name = ?`, name).Scan(&stored)
	})
	return stored, err
}

// ---- authorization inside a write ----

// allowed reports whether by may change ch's bindings or controllers, read
// inside the write transaction: an admin, a controller, or (when open is
// true, for a bind) anyone while the channel has no controllers.
func allowed(ctx context.Context, t *tx, ch store.Channel, by store.Actor, open bool) error {
	if by.Admin {
		return nil
	}
	var isCtrl, n int
	if err := t.queryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM controllers WHERE team = ?1 AND channel = ?2 AND user_id = ?3),
		(SELECT COUNT(*) FROM controllers WHERE team = ?1 AND channel = ?2)`,
		ch.Team, ch.ID, by.UserID).Scan(&isCtrl, &n); err != nil {
		return err
	}
	if isCtrl == 1 || open && n == 0 {
		return nil
	}
	return store.ErrNotAllowed
}

// ---- meetings ----

// Bind implements store.Backend.
func (d *DB) Bind(ctx context.Context, b store.BindRow) error {
	ch, id, ts := b.Channel, string(b.ConferenceID), millis(b.At)
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		if err := allowed(ctx, t, ch, b.By, true); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `UPDATE meetings SET is_default = 0
			WHERE team = ? AND channel = ? AND is_default = 1 AND conference_id <> ?`, ch.Team, ch.ID, id); err != nil {
			return err
		}
		if _, err := t.exec(ctx, `INSERT INTO meetings (team, channel, conference_id, password_ct, bound_by, bound_at, bind_seq, is_default, verified)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6,
				(SELECT COALESCE(MAX(bind_seq), 0) + 1 FROM meetings WHERE team = ?1 AND channel = ?2), 1, ?7)
			ON CONFLICT (team, channel, conference_id) DO UPDATE SET
				password_ct = excluded.password_ct,
				bound_by = excluded.bound_by,
				bound_at = excluded.bound_at,
				bind_seq = excluded.bind_seq,
				is_default = 1,
				verified = excluded.verified,
				token_ct = NULL,
				token_expires_at = NULL`,
			ch.Team, ch.ID, id, b.PasswordCT, b.By.UserID, ts, b.Verified); err != nil {
			return err
		}
		_, err := t.exec(ctx, `INSERT INTO controllers (team, channel, user_id, granted_by, granted_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, ch.Team, ch.ID, b.By.UserID, b.By.UserID, ts)
		return err
	})
}

// Unbind implements store.Backend.
func (d *DB) Unbind(ctx context.Context, ch store.Channel, id domain.ConferenceID, by store.Actor) error {
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		if err := allowed(ctx, t, ch, by, false); err != nil {
			return err
		}
		var wasDefault bool
		err := t.queryRow(ctx, `DELETE FROM meetings
			WHERE team = ? AND channel = ? AND conference_id = ? RETURNING is_default`,
			ch.Team, ch.ID, string(id)).Scan(&wasDefault)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil || !wasDefault {
			return err
		}
		_, err = t.exec(ctx, `UPDATE meetings SET is_default = 1
			WHERE team = ?1 AND channel = ?2 AND conference_id = (
				SELECT conference_id FROM meetings WHERE team = ?1 AND channel = ?2
				ORDER BY bind_seq DESC LIMIT 1)`, ch.Team, ch.ID)
		return err
	})
}

const meetingCols = `team, channel, conference_id, bound_by, bound_at, is_default, verified, token_expires_at`

type scanner interface{ Scan(dest ...any) error }

func scanMeeting(sc scanner, extra ...any) (store.Meeting, error) {
	var (
		m        store.Meeting
		id       string
		boundAt  int64
		tokenExp sql.NullInt64
	)
	dest := append([]any{&m.Channel.Team, &m.Channel.ID, &id, &m.BoundBy, &boundAt, &m.Default, &m.Verified, &tokenExp}, extra...)
	if err := sc.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			err = store.ErrNotFound
		}
		return store.Meeting{}, err
	}
	m.ConferenceID = domain.ConferenceID(id)
	m.BoundAt = time.UnixMilli(boundAt).UTC()
	m.TokenExpiresAt = fromMillis(tokenExp)
	return m, nil
}

// Meeting implements store.Backend.
func (d *DB) Meeting(ctx context.Context, ch store.Channel, id domain.ConferenceID) (store.Meeting, error) {
	return scanMeeting(d.read(ctx, `SELECT `+meetingCols+` FROM meetings
		WHERE team = ? AND channel = ? AND conference_id = ?`, ch.Team, ch.ID, string(id)))
}

// DefaultMeeting implements store.Backend.
func (d *DB) DefaultMeeting(ctx context.Context, ch store.Channel) (store.Meeting, error) {
	return scanMeeting(d.read(ctx, `SELECT `+meetingCols+` FROM meetings
		WHERE team = ? AND channel = ? AND is_default = 1`, ch.Team, ch.ID))
}

// Meetings implements store.Backend.
func (d *DB) Meetings(ctx context.Context, ch store.Channel) ([]store.Meeting, error) {
	rows, err := d.readRows(ctx, `SELECT `+meetingCols+` FROM meetings
		WHERE team = ? AND channel = ? ORDER BY is_default DESC, bind_seq DESC`, ch.Team, ch.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ms := []store.Meeting{}
	for rows.Next() {
		m, err := scanMeeting(rows)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// Target implements store.Backend in one query.
func (d *DB) Target(ctx context.Context, ch store.Channel, id domain.ConferenceID, user string) (store.TargetRow, error) {
	const cols = `SELECT ` + meetingCols + `, token_ct,
		EXISTS (SELECT 1 FROM controllers c WHERE c.team = ?1 AND c.channel = ?2 AND c.user_id = ?3)
		FROM meetings WHERE team = ?1 AND channel = ?2 AND `
	var row *sql.Row
	if id == "" {
		row = d.read(ctx, cols+`is_default = 1`, ch.Team, ch.ID, user)
	} else {
		row = d.read(ctx, cols+`conference_id = ?4`, ch.Team, ch.ID, user, string(id))
	}
	var (
		t      store.TargetRow
		isCtrl int
	)
	m, err := scanMeeting(row, &t.TokenCT, &isCtrl)
	if err != nil {
		return store.TargetRow{}, err
	}
	t.Meeting, t.IsController = m, isCtrl == 1
	return t, nil
}

// PasswordCT implements store.Backend.
func (d *DB) PasswordCT(ctx context.Context, ch store.Channel, id domain.ConferenceID) ([]byte, error) {
	var ct []byte
	err := d.read(ctx, `SELECT password_ct FROM meetings WHERE team = ? AND channel = ? AND conference_id = ?`,
		ch.Team, ch.ID, string(id)).Scan(&ct)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return ct, err
}

// ---- tokens ----

// TokenCT implements store.Backend.
func (d *DB) TokenCT(ctx context.Context, ch store.Channel, id domain.ConferenceID) ([]byte, time.Time, error) {
	var (
		ct  []byte
		exp sql.NullInt64
	)
	err := d.read(ctx, `SELECT token_ct, token_expires_at FROM meetings WHERE team = ? AND channel = ? AND conference_id = ?`,
		ch.Team, ch.ID, string(id)).Scan(&ct, &exp)
	if errors.Is(err, sql.ErrNoRows) || err == nil && ct == nil {
		return nil, time.Time{}, store.ErrNotFound
	}
	return ct, fromMillis(exp), err
}

// PutTokenCT implements store.Backend.
func (d *DB) PutTokenCT(ctx context.Context, ch store.Channel, id domain.ConferenceID, ct []byte, expires time.Time) error {
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		return mustAffect(t.exec(ctx, `UPDATE meetings SET token_ct = ?, token_expires_at = ?, verified = 1
			WHERE team = ? AND channel = ? AND conference_id = ?`, ct, millis(expires), ch.Team, ch.ID, string(id)))
	})
}

// DropToken implements store.Backend.
func (d *DB) DropToken(ctx context.Context, ch store.Channel, id domain.ConferenceID) error {
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		_, err := t.exec(ctx, `UPDATE meetings SET token_ct = NULL, token_expires_at = NULL
			WHERE team = ? AND channel = ? AND conference_id = ? AND token_ct IS NOT NULL`, ch.Team, ch.ID, string(id))
		return err
	})
}

// ---- controllers ----

// Controllers implements store.Backend.
func (d *DB) Controllers(ctx context.Context, ch store.Channel) ([]store.Controller, error) {
	rows, err := d.readRows(ctx, `SELECT user_id, granted_by, granted_at FROM controllers
		WHERE team = ? AND channel = ? ORDER BY granted_at, rowid`, ch.Team, ch.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cs := []store.Controller{}
	for rows.Next() {
		var (
			c  store.Controller
			at int64
		)
		if err := rows.Scan(&c.UserID, &c.GrantedBy, &at); err != nil {
			return nil, err
		}
		c.GrantedAt = time.UnixMilli(at).UTC()
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

// Grant implements store.Backend.
func (d *DB) Grant(ctx context.Context, ch store.Channel, user string, by store.Actor, at time.Time) error {
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		if err := allowed(ctx, t, ch, by, false); err != nil {
			return err
		}
		_, err := t.exec(ctx, `INSERT INTO controllers (team, channel, user_id, granted_by, granted_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, ch.Team, ch.ID, user, by.UserID, millis(at))
		return err
	})
}

// Revoke implements store.Backend. The authorization, the "not the last
// one" check and the delete share one transaction.
func (d *DB) Revoke(ctx context.Context, ch store.Channel, user string, by store.Actor) error {
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		if err := allowed(ctx, t, ch, by, false); err != nil {
			return err
		}
		var exists, n int
		if err := t.queryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM controllers WHERE team = ?1 AND channel = ?2 AND user_id = ?3),
			(SELECT COUNT(*) FROM controllers WHERE team = ?1 AND channel = ?2)`,
			ch.Team, ch.ID, user).Scan(&exists, &n); err != nil {
			return err
		}
		switch {
		case exists == 0:
			return store.ErrNotFound
		case n <= 1:
			return store.ErrLastController
		}
		_, err := t.exec(ctx, `DELETE FROM controllers WHERE team = ? AND channel = ? AND user_id = ?`, ch.Team, ch.ID, user)
		return err
	})
}

// ---- meeting state and audit ----

// MeetingState implements store.Backend.
func (d *DB) MeetingState(ctx context.Context, id domain.ConferenceID) (store.MeetingState, error) {
	st, err := scanState(d.read(ctx, `SELECT `+stateCols+` FROM meeting_state WHERE conference_id = ?`, string(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return store.MeetingState{ConferenceID: id}, nil
	}
	return st, err
}

const stateCols = `conference_id, lock_state, lock_by, lock_at, lock_source, restriction, restriction_by, restriction_at,
	scheduled_end, extended_minutes, extended_by, extended_at, fence`

func scanState(sc scanner) (store.MeetingState, error) {
	var (
		st                       store.MeetingState
		id, lock, restriction    string
		lockAt, restrictionAt    sql.NullInt64
		scheduledEnd, extendedAt sql.NullInt64
		extended                 int64
	)
	if err := sc.Scan(&id, &lock, &st.LockBy, &lockAt, &st.LockSource, &restriction, &st.RestrictionBy, &restrictionAt,
		&scheduledEnd, &extended, &st.ExtendedBy, &extendedAt, &st.Fence); err != nil {
		return store.MeetingState{}, err
	}
	st.ConferenceID = domain.ConferenceID(id)
	st.Lock, st.LockAt = domain.ParseLockState(lock), fromMillis(lockAt)
	st.Restriction, st.RestrictionAt = parseRestriction(restriction), fromMillis(restrictionAt)
	st.ScheduledEnd, st.ExtendedAt = fromMillis(scheduledEnd), fromMillis(extendedAt)
	st.Extended = time.Duration(extended) * time.Minute
	return st, nil
}

// Record implements store.Backend.
func (d *DB) Record(ctx context.Context, r store.AuditRecord, change *store.StateChange) error {
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		if err := audit(ctx, t, r); err != nil {
			return err
		}
		if change == nil {
			return nil
		}
		return applyChange(ctx, t, *change)
	})
}

func audit(ctx context.Context, t *tx, r store.AuditRecord) error {
	at := millis(r.At)
	if r.Outcome == store.OutcomeRefused {
		res, err := t.exec(ctx, `UPDATE audit SET count = count + 1, last_at = ?1
			WHERE id = (SELECT id FROM audit
				WHERE team = ?2 AND channel = ?3 AND user_id = ?4 AND action = ?5 AND conference_id = ?6
					AND outcome = 'refused' AND detail = ?7 AND COALESCE(last_at, at) >= ?8
				ORDER BY id DESC LIMIT 1)`,
			at, r.Channel.Team, r.Channel.ID, r.UserID, r.Action, string(r.ConferenceID), r.Detail,
			at-store.RefusalWindow.Milliseconds())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
	}
	_, err := t.exec(ctx, `INSERT INTO audit
		(at, team, channel, user_id, action, conference_id, outcome, error_code, request_id, detail, count, last_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`,
		at, r.Channel.Team, r.Channel.ID, r.UserID, r.Action, string(r.ConferenceID),
		r.Outcome, r.ErrorCode, r.RequestID, r.Detail, at)
	return err
}

// applyChange writes a state change unless a newer fence has written since.
func applyChange(ctx context.Context, t *tx, c store.StateChange) error {
	id := string(c.ConferenceID)
	if _, err := t.exec(ctx, `INSERT INTO meeting_state (conference_id) VALUES (?) ON CONFLICT DO NOTHING`, id); err != nil {
		return err
	}
	if c.Fence != 0 {
		res, err := t.exec(ctx, `UPDATE meeting_state SET fence = ? WHERE conference_id = ? AND fence <= ?`, c.Fence, id, c.Fence)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err // a newer holder has written: this late write is dropped
		}
	}
	at := millis(c.At)
	if c.Ended {
		_, err := t.exec(ctx, `UPDATE meeting_state SET lock_state = 'unknown', lock_by = ?, lock_at = ?, lock_source = ?,
			restriction = 'unknown', restriction_by = '', restriction_at = NULL,
			scheduled_end = NULL, extended_minutes = 0, extended_by = '', extended_at = NULL WHERE conference_id = ?`,
			c.By, at, store.SourceEnded, id)
		return err
	}
	if c.Lock != nil {
		if _, err := t.exec(ctx, `UPDATE meeting_state SET lock_state = ?, lock_by = ?, lock_at = ?, lock_source = ? WHERE conference_id = ?`,
			c.Lock.String(), c.By, at, c.LockSource, id); err != nil {
			return err
		}
	}
	if c.Restriction != nil {
		if _, err := t.exec(ctx, `UPDATE meeting_state SET restriction = ?, restriction_by = ?, restriction_at = ? WHERE conference_id = ?`,
			c.Restriction.String(), c.By, at, id); err != nil {
			return err
		}
	}
	if c.ScheduledEnd != nil {
		if _, err := t.exec(ctx, `UPDATE meeting_state SET scheduled_end = ? WHERE conference_id = ?`,
			nullMillis(*c.ScheduledEnd), id); err != nil {
			return err
		}
	}
	if c.Extend != nil {
		if _, err := t.exec(ctx, `UPDATE meeting_state SET extended_minutes = extended_minutes + ?1,
			scheduled_end = scheduled_end + ?1 * 60000, extended_by = ?2, extended_at = ?3 WHERE conference_id = ?4`,
			int64(c.Extend.Minutes()), c.By, at, id); err != nil {
			return err
		}
	}
	return nil
}

// History implements store.Backend.
func (d *DB) History(ctx context.Context, ch store.Channel, n int) ([]store.AuditRecord, error) {
	rows, err := d.readRows(ctx, `SELECT at, team, channel, user_id, action, conference_id,
		outcome, error_code, request_id, detail, count, last_at FROM audit
		WHERE team = ? AND channel = ? ORDER BY at DESC, id DESC LIMIT ?`, ch.Team, ch.ID, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	rs := []store.AuditRecord{}
	for rows.Next() {
		var (
			r      store.AuditRecord
			id     string
			at     int64
			lastAt sql.NullInt64
		)
		if err := rows.Scan(&at, &r.Channel.Team, &r.Channel.ID, &r.UserID, &r.Action, &id,
			&r.Outcome, &r.ErrorCode, &r.RequestID, &r.Detail, &r.Count, &lastAt); err != nil {
			return nil, err
		}
		r.ConferenceID = domain.ConferenceID(id)
		r.At = time.UnixMilli(at).UTC()
		r.LastAt = r.At
		if lastAt.Valid {
			r.LastAt = fromMillis(lastAt)
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}

// ---- envelope claims ----

// ClaimEnvelope implements store.Backend.
func (d *DB) ClaimEnvelope(ctx context.Context, c store.ClaimRow) (bool, error) {
	var first bool
	err := d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		res, err := t.exec(ctx, `INSERT INTO envelopes (id, claimed_at, holder, lease_until, payload_ct, done, takeovers)
			VALUES (?, ?, ?, ?, ?, 0, 0) ON CONFLICT DO NOTHING`,
			c.EnvelopeID, millis(c.ClaimedAt), c.Holder, millis(c.LeaseUntil), c.PayloadCT)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		first = n == 1
		return err
	})
	return first, err
}

// RenewClaims implements store.Backend.
func (d *DB) RenewClaims(ctx context.Context, holder string, ids []string, until time.Time) error {
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		for _, id := range ids {
			if _, err := t.exec(ctx, `UPDATE envelopes SET lease_until = ? WHERE id = ? AND holder = ? AND done = 0`,
				millis(until), id, holder); err != nil {
				return err
			}
		}
		return nil
	})
}

// FinishEnvelope implements store.Backend.
func (d *DB) FinishEnvelope(ctx context.Context, id string) error {
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		_, err := t.exec(ctx, `UPDATE envelopes SET done = 1, payload_ct = NULL WHERE id = ?`, id)
		return err
	})
}

// TakeExpiredClaims implements store.Backend.
func (d *DB) TakeExpiredClaims(ctx context.Context, holder string, now, until time.Time, limit int) ([]store.ClaimRow, error) {
	var out []store.ClaimRow
	err := d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		out = out[:0]
		rows, err := t.query(ctx, `UPDATE envelopes SET holder = ?1, lease_until = ?2, takeovers = takeovers + 1
			WHERE id IN (SELECT id FROM envelopes WHERE done = 0 AND lease_until < ?3 ORDER BY lease_until LIMIT ?4)
			RETURNING id, claimed_at, holder, lease_until, payload_ct, takeovers`,
			holder, millis(until), millis(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				c               store.ClaimRow
				claimed, leased int64
			)
			if err := rows.Scan(&c.EnvelopeID, &claimed, &c.Holder, &leased, &c.PayloadCT, &c.Takeovers); err != nil {
				return err
			}
			c.ClaimedAt, c.LeaseUntil = time.UnixMilli(claimed).UTC(), time.UnixMilli(leased).UTC()
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// PruneEnvelopes implements store.Backend. Unfinished claims are kept.
func (d *DB) PruneEnvelopes(ctx context.Context, cutoff time.Time) (int64, error) {
	var n int64
	err := d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		res, err := t.exec(ctx, `DELETE FROM envelopes WHERE claimed_at < ? AND (done = 1 OR lease_until < ?)`,
			millis(cutoff), millis(cutoff))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// LockMeeting implements store.Backend in memory: one process owns the file.
func (d *DB) LockMeeting(ctx context.Context, id domain.ConferenceID) (int64, func(), error) {
	return d.locks.Lock(ctx, id)
}

// ApplyState implements store.Backend.
func (d *DB) ApplyState(ctx context.Context, change store.StateChange) error {
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error { return applyChange(ctx, t, change) })
}

// ---- watches ----

// PutWatch implements store.Backend.
func (d *DB) PutWatch(ctx context.Context, w store.Watch) error {
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		res, err := t.exec(ctx, `INSERT INTO watches (team, channel, conference_id, started_by, started_at)
			SELECT team, channel, conference_id, ?4, ?5 FROM meetings WHERE team = ?1 AND channel = ?2 AND conference_id = ?3
			ON CONFLICT (team, channel, conference_id) DO UPDATE SET started_by = excluded.started_by, started_at = excluded.started_at`,
			w.Channel.Team, w.Channel.ID, string(w.ConferenceID), w.StartedBy, millis(w.StartedAt))
		return mustAffect(res, err)
	})
}

// DeleteWatch implements store.Backend.
func (d *DB) DeleteWatch(ctx context.Context, ch store.Channel, id domain.ConferenceID) error {
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		return mustAffect(t.exec(ctx, `DELETE FROM watches WHERE team = ? AND channel = ? AND conference_id = ?`, ch.Team, ch.ID, string(id)))
	})
}

// EndWatch implements store.Backend.
func (d *DB) EndWatch(ctx context.Context, w store.Watch) error {
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		return mustAffect(t.exec(ctx, `DELETE FROM watches WHERE team = ? AND channel = ? AND conference_id = ? AND started_at = ?`,
			w.Channel.Team, w.Channel.ID, string(w.ConferenceID), millis(w.StartedAt)))
	})
}

// ClaimWatches implements store.Backend.
func (d *DB) ClaimWatches(ctx context.Context, holder string, now, until time.Time) ([]store.Watch, error) {
	var out []store.Watch
	err := d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		out = out[:0]
		rows, err := t.query(ctx, `UPDATE watches SET holder = ?1, lease_until = ?2
			WHERE holder = ?1 OR holder = '' OR lease_until < ?3
			RETURNING team, channel, conference_id, started_by, started_at, holder, lease_until`,
			holder, millis(until), millis(now))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var (
				w         store.Watch
				id        string
				at, lease int64
			)
			if err := rows.Scan(&w.Channel.Team, &w.Channel.ID, &id, &w.StartedBy, &at, &w.Holder, &lease); err != nil {
				return err
			}
			w.ConferenceID, w.StartedAt, w.LeaseUntil = domain.ConferenceID(id), time.UnixMilli(at).UTC(), time.UnixMilli(lease).UTC()
			out = append(out, w)
		}
		return rows.Err()
	})
	return out, err
}

// ReleaseWatch implements store.Backend.
func (d *DB) ReleaseWatch(ctx context.Context, ch store.Channel, id domain.ConferenceID, holder string) error {
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		_, err := t.exec(ctx, `UPDATE watches SET holder = '', lease_until = 0
			WHERE team = ? AND channel = ? AND conference_id = ? AND holder = ?`, ch.Team, ch.ID, string(id), holder)
		return err
	})
}
