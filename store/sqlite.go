package store

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
)

var (
	// ErrWrongKey is returned by OpenSQLite when MEETINGBOT_SECRET_KEY is not
	// the key the database was created with.
	ErrWrongKey = errors.New("MEETINGBOT_SECRET_KEY does not match the key this database was created with")
	// ErrInvalid is returned, wrapped with what is wrong, for a bad argument
	// (an empty ID, an unknown lock state, …). Nothing is written.
	ErrInvalid = errors.New("invalid argument")
)

// SQLite is the Store on a SQLite file (modernc.org/sqlite, no cgo).
//
// Writes go through a single connection in BEGIN IMMEDIATE transactions, so
// the bot's own goroutines queue in Go rather than racing for SQLite's write
// lock; another process on the same file waits up to busy_timeout (5 s).
// Reads use a separate pool of read-only connections, which WAL lets run
// alongside the writer.
type SQLite struct {
	w    *sql.DB // one connection; every write
	r    *sql.DB // read-only pool (== w for ":memory:")
	seal *sealer
	path string

	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the database at path, applies
// migrations, enables WAL, busy_timeout (5 s), foreign_keys and
// synchronous=NORMAL. A new file is created readable by its owner only.
//
// The first open records a check value sealed with key; later opens verify it
// and, with another key, fail with an error wrapping ErrWrongKey that gives
// both keys' fingerprints (never the keys).
//
// path is a file-system path (not a URI); ":memory:" gives a private
// in-memory database, for tests.
func OpenSQLite(ctx context.Context, path string, key Key) (*SQLite, error) {
	if key.IsZero() {
		return nil, fmt.Errorf("store: open: %w: MEETINGBOT_SECRET_KEY is not set", ErrInvalid)
	}
	if path == "" {
		return nil, fmt.Errorf("store: open: %w: the database path is empty", ErrInvalid)
	}
	seal, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	s := &SQLite{seal: seal, path: path}
	if err := s.open(ctx); err != nil {
		s.Close() //nolint:errcheck // already failing
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return s, nil
}

func (s *SQLite) open(ctx context.Context) error {
	memory := s.path == ":memory:"
	if !memory {
		// Create the file owner-only; SQLite gives the -wal and -shm files
		// the same permissions.
		f, err := os.OpenFile(s.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		switch {
		case err == nil:
			if err := f.Close(); err != nil {
				return err
			}
		case !errors.Is(err, os.ErrExist):
			return err
		}
	}

	w, err := sql.Open("sqlite", dsn(s.path, false))
	if err != nil {
		return err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s.w = w
	if err := w.PingContext(ctx); err != nil {
		return err
	}
	if err := migrate(ctx, w); err != nil {
		return err
	}
	if err := s.checkKey(ctx); err != nil {
		return err
	}

	if memory {
		s.r = w
		return nil
	}
	r, err := sql.Open("sqlite", dsn(s.path, true))
	if err != nil {
		return err
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	r.SetConnMaxIdleTime(5 * time.Minute)
	s.r = r
	return r.PingContext(ctx)
}

// dsn builds the modernc.org/sqlite data source name for path:
//
//	file:PATH?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate
//
// plus _pragma=query_only(1) for the read pool. '%', '?' and '#' in PATH are
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
	}
	return b.String()
}

// WrongKeyError wraps ErrWrongKey with both key fingerprints (which are
// not secret: they identify a key without revealing it).
type WrongKeyError struct{ Stored, Given string }

func (e *WrongKeyError) Error() string {
	return fmt.Sprintf("%v (database key id %s, MEETINGBOT_SECRET_KEY key id %s); start with the key the database was created with, or use a new database file",
		ErrWrongKey, e.Stored, e.Given)
}

func (e *WrongKeyError) Unwrap() error { return ErrWrongKey }

// checkKey records a sealed constant on first open and verifies it on later
// opens.
func (s *SQLite) checkKey(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	var stored []byte
	err = tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE name = 'key_check'`).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		ct, err := s.seal.seal(keyCheckV, purposeKeyCheck)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO meta (name, value) VALUES ('key_check', ?), ('key_id', ?)`,
			ct, []byte(hexID(s.seal.keyID))); err != nil {
			return err
		}
		return tx.Commit()
	case err != nil:
		return err
	}
	pt, err := s.seal.open(stored, purposeKeyCheck)
	if err != nil || pt != keyCheckV {
		storedID := "unknown"
		if len(stored) >= sealHeaderLen {
			var id [4]byte
			copy(id[:], stored[1:sealHeaderLen])
			storedID = hexID(id)
		}
		return &WrongKeyError{Stored: storedID, Given: hexID(s.seal.keyID)}
	}
	return nil
}

// Close closes the database. It is safe to call more than once.
func (s *SQLite) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if s.r != nil && s.r != s.w {
			errs = append(errs, s.r.Close())
		}
		if s.w != nil {
			errs = append(errs, s.w.Close())
		}
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return s.closeErr
}

// ---- helpers ----

// opError prefixes an error with the operation, without repeating "store: ".
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	return "store: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "store: ")
}

func (e *opError) Unwrap() error { return e.err }

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{op: op, err: err}
}

func invalid(what string) error { return fmt.Errorf("%w: %s", ErrInvalid, what) }

func checkChannel(ch Channel) error {
	if strings.TrimSpace(ch.Team) == "" {
		return invalid("team ID is empty")
	}
	if strings.TrimSpace(ch.ID) == "" {
		return invalid("channel ID is empty")
	}
	return nil
}

func checkMeeting(ch Channel, conferenceID string) error {
	if err := checkChannel(ch); err != nil {
		return err
	}
	if strings.TrimSpace(conferenceID) == "" {
		return invalid("conference ID is empty")
	}
	return nil
}

// millis converts t to unix milliseconds; the zero time means now.
func millis(t time.Time) int64 {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UnixMilli()
}

func fromMillis(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMilli(v.Int64).UTC()
}

func hexID(id [4]byte) string { return fmt.Sprintf("%x", id[:]) }

// write runs fn in a BEGIN IMMEDIATE transaction on the writer connection.
func (s *SQLite) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func lockStateText(st LockState) (string, bool) {
	switch st {
	case LockUnknown:
		return "unknown", true
	case LockLocked:
		return "locked", true
	case LockUnlocked:
		return "unlocked", true
	}
	return "", false
}

func parseLockState(s string) LockState {
	switch s {
	case "locked":
		return LockLocked
	case "unlocked":
		return LockUnlocked
	}
	return LockUnknown
}

// ---- meetings ----

// Bind implements Store. In one transaction it stores the sealed password,
// makes the meeting ch's default (clearing any other), clears a cached token
// and adds by to ch's controllers (keeping an existing grant). The lock state
// is kept on a re-bind. A zero at means now.
func (s *SQLite) Bind(ctx context.Context, ch Channel, conferenceID, password, by string, at time.Time) error {
	const op = "bind"
	if err := checkMeeting(ch, conferenceID); err != nil {
		return wrap(op, err)
	}
	if password == "" {
		return wrap(op, invalid("the host password is empty"))
	}
	if strings.TrimSpace(by) == "" {
		return wrap(op, invalid("the binding user ID is empty"))
	}
	ct, err := s.seal.seal(password, purposePassword, ch.Team, ch.ID, conferenceID)
	if err != nil {
		return wrap(op, err)
	}
	ts := millis(at)
	return wrap(op, s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE meetings SET is_default = 0
			WHERE team = ? AND channel = ? AND is_default = 1 AND conference_id <> ?`,
			ch.Team, ch.ID, conferenceID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO meetings
			(team, channel, conference_id, password_ct, bound_by, bound_at, bind_seq, is_default)
			VALUES (?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(bind_seq), 0) + 1 FROM meetings), 1)
			ON CONFLICT (team, channel, conference_id) DO UPDATE SET
				password_ct = excluded.password_ct,
				bound_by = excluded.bound_by,
				bound_at = excluded.bound_at,
				bind_seq = excluded.bind_seq,
				is_default = 1,
				token_ct = NULL,
				token_expires_at = NULL`,
			ch.Team, ch.ID, conferenceID, ct, by, ts); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO controllers (team, channel, user_id, granted_by, granted_at)
			VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			ch.Team, ch.ID, by, by, ts)
		return err
	}))
}

// Unbind implements Store. Controllers are kept.
func (s *SQLite) Unbind(ctx context.Context, ch Channel, conferenceID string) error {
	const op = "unbind"
	if err := checkMeeting(ch, conferenceID); err != nil {
		return wrap(op, err)
	}
	return wrap(op, s.write(ctx, func(tx *sql.Tx) error {
		var wasDefault bool
		err := tx.QueryRowContext(ctx, `DELETE FROM meetings
			WHERE team = ? AND channel = ? AND conference_id = ? RETURNING is_default`,
			ch.Team, ch.ID, conferenceID).Scan(&wasDefault)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if !wasDefault {
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE meetings SET is_default = 1
			WHERE team = ?1 AND channel = ?2 AND conference_id = (
				SELECT conference_id FROM meetings WHERE team = ?1 AND channel = ?2
				ORDER BY bind_seq DESC LIMIT 1)`,
			ch.Team, ch.ID)
		return err
	}))
}

const meetingCols = `team, channel, conference_id, bound_by, bound_at, is_default, token_expires_at, lock_state, lock_set_by, lock_set_at`

type scanner interface{ Scan(dest ...any) error }

func scanMeeting(sc scanner) (Meeting, error) {
	var (
		m                   Meeting
		boundAt             int64
		tokenExp, lockSetAt sql.NullInt64
		lockState           string
	)
	if err := sc.Scan(&m.Channel.Team, &m.Channel.ID, &m.ConferenceID, &m.BoundBy, &boundAt, &m.Default,
		&tokenExp, &lockState, &m.LockSetBy, &lockSetAt); err != nil {
		return Meeting{}, err
	}
	m.BoundAt = time.UnixMilli(boundAt).UTC()
	m.TokenExpiresAt = fromMillis(tokenExp)
	m.LockState = parseLockState(lockState)
	m.LockSetAt = fromMillis(lockSetAt)
	return m, nil
}

// Meeting implements Store.
func (s *SQLite) Meeting(ctx context.Context, ch Channel, conferenceID string) (Meeting, error) {
	const op = "meeting"
	if err := checkMeeting(ch, conferenceID); err != nil {
		return Meeting{}, wrap(op, err)
	}
	m, err := scanMeeting(s.r.QueryRowContext(ctx, `SELECT `+meetingCols+` FROM meetings
		WHERE team = ? AND channel = ? AND conference_id = ?`, ch.Team, ch.ID, conferenceID))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Meeting{}, wrap(op, err)
	}
	return m, nil
}

// DefaultMeeting implements Store.
func (s *SQLite) DefaultMeeting(ctx context.Context, ch Channel) (Meeting, error) {
	const op = "default meeting"
	if err := checkChannel(ch); err != nil {
		return Meeting{}, wrap(op, err)
	}
	m, err := scanMeeting(s.r.QueryRowContext(ctx, `SELECT `+meetingCols+` FROM meetings
		WHERE team = ? AND channel = ? AND is_default = 1`, ch.Team, ch.ID))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Meeting{}, wrap(op, err)
	}
	return m, nil
}

// Meetings implements Store: the default first, then the most recently bound.
// The result is empty, not an error, when nothing is bound.
func (s *SQLite) Meetings(ctx context.Context, ch Channel) ([]Meeting, error) {
	const op = "meetings"
	if err := checkChannel(ch); err != nil {
		return nil, wrap(op, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+meetingCols+` FROM meetings
		WHERE team = ? AND channel = ? ORDER BY is_default DESC, bind_seq DESC`, ch.Team, ch.ID)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	ms := []Meeting{}
	for rows.Next() {
		m, err := scanMeeting(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		ms = append(ms, m)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return ms, nil
}

// Password implements Store.
func (s *SQLite) Password(ctx context.Context, ch Channel, conferenceID string) (string, error) {
	const op = "password"
	if err := checkMeeting(ch, conferenceID); err != nil {
		return "", wrap(op, err)
	}
	var ct []byte
	err := s.r.QueryRowContext(ctx, `SELECT password_ct FROM meetings
		WHERE team = ? AND channel = ? AND conference_id = ?`, ch.Team, ch.ID, conferenceID).Scan(&ct)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return "", wrap(op, err)
	}
	pw, err := s.seal.open(ct, purposePassword, ch.Team, ch.ID, conferenceID)
	if err != nil {
		return "", wrap(op, err)
	}
	return pw, nil
}

// ---- tokens ----

// Token implements Store. An expired token is still returned, with its
// expiry; the caller decides whether to use it.
func (s *SQLite) Token(ctx context.Context, ch Channel, conferenceID string) (string, time.Time, error) {
	const op = "token"
	if err := checkMeeting(ch, conferenceID); err != nil {
		return "", time.Time{}, wrap(op, err)
	}
	var (
		ct  []byte
		exp sql.NullInt64
	)
	err := s.r.QueryRowContext(ctx, `SELECT token_ct, token_expires_at FROM meetings
		WHERE team = ? AND channel = ? AND conference_id = ?`, ch.Team, ch.ID, conferenceID).Scan(&ct, &exp)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && ct == nil) {
		err = ErrNotFound
	}
	if err != nil {
		return "", time.Time{}, wrap(op, err)
	}
	tok, err := s.seal.open(ct, purposeToken, ch.Team, ch.ID, conferenceID)
	if err != nil {
		return "", time.Time{}, wrap(op, err)
	}
	return tok, fromMillis(exp), nil
}

// PutToken implements Store. expiresAt must not be zero.
func (s *SQLite) PutToken(ctx context.Context, ch Channel, conferenceID, token string, expiresAt time.Time) error {
	const op = "put token"
	if err := checkMeeting(ch, conferenceID); err != nil {
		return wrap(op, err)
	}
	if token == "" {
		return wrap(op, invalid("the control token is empty"))
	}
	if expiresAt.IsZero() {
		return wrap(op, invalid("the control token's expiry is zero"))
	}
	ct, err := s.seal.seal(token, purposeToken, ch.Team, ch.ID, conferenceID)
	if err != nil {
		return wrap(op, err)
	}
	res, err := s.w.ExecContext(ctx, `UPDATE meetings SET token_ct = ?, token_expires_at = ?
		WHERE team = ? AND channel = ? AND conference_id = ?`,
		ct, expiresAt.UnixMilli(), ch.Team, ch.ID, conferenceID)
	return wrap(op, mustAffect(res, err))
}

// DropToken implements Store. Dropping a token that is not cached, or of a
// meeting that is not bound, is a no-op.
func (s *SQLite) DropToken(ctx context.Context, ch Channel, conferenceID string) error {
	const op = "drop token"
	if err := checkMeeting(ch, conferenceID); err != nil {
		return wrap(op, err)
	}
	_, err := s.w.ExecContext(ctx, `UPDATE meetings SET token_ct = NULL, token_expires_at = NULL
		WHERE team = ? AND channel = ? AND conference_id = ? AND token_ct IS NOT NULL`,
		ch.Team, ch.ID, conferenceID)
	return wrap(op, err)
}

// SetLockState implements Store; ErrNotFound if the meeting is not bound.
// A zero at means now.
func (s *SQLite) SetLockState(ctx context.Context, ch Channel, conferenceID string, state LockState, by string, at time.Time) error {
	const op = "set lock state"
	if err := checkMeeting(ch, conferenceID); err != nil {
		return wrap(op, err)
	}
	st, ok := lockStateText(state)
	if !ok {
		return wrap(op, invalid(fmt.Sprintf("unknown lock state %d", int(state))))
	}
	res, err := s.w.ExecContext(ctx, `UPDATE meetings SET lock_state = ?, lock_set_by = ?, lock_set_at = ?
		WHERE team = ? AND channel = ? AND conference_id = ?`,
		st, by, millis(at), ch.Team, ch.ID, conferenceID)
	return wrap(op, mustAffect(res, err))
}

// mustAffect turns "no row changed" into ErrNotFound.
func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// ---- controllers ----

// Controllers implements Store: oldest grant first; empty when none.
func (s *SQLite) Controllers(ctx context.Context, ch Channel) ([]Controller, error) {
	const op = "controllers"
	if err := checkChannel(ch); err != nil {
		return nil, wrap(op, err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT user_id, granted_by, granted_at FROM controllers
		WHERE team = ? AND channel = ? ORDER BY granted_at, rowid`, ch.Team, ch.ID)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	cs := []Controller{}
	for rows.Next() {
		var (
			c  Controller
			at int64
		)
		if err := rows.Scan(&c.UserID, &c.GrantedBy, &at); err != nil {
			return nil, wrap(op, err)
		}
		c.GrantedAt = time.UnixMilli(at).UTC()
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return cs, nil
}

// Grant implements Store. Granting an existing controller keeps the original
// grant. A zero at means now.
func (s *SQLite) Grant(ctx context.Context, ch Channel, userID, by string, at time.Time) error {
	const op = "grant"
	if err := checkChannel(ch); err != nil {
		return wrap(op, err)
	}
	if strings.TrimSpace(userID) == "" {
		return wrap(op, invalid("user ID is empty"))
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO controllers (team, channel, user_id, granted_by, granted_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, ch.Team, ch.ID, userID, by, millis(at))
	return wrap(op, err)
}

// Revoke implements Store.
func (s *SQLite) Revoke(ctx context.Context, ch Channel, userID string) error {
	const op = "revoke"
	if err := checkChannel(ch); err != nil {
		return wrap(op, err)
	}
	if strings.TrimSpace(userID) == "" {
		return wrap(op, invalid("user ID is empty"))
	}
	// One statement, so two controllers revoking each other at once cannot
	// both pass the "not the last one" check.
	res, err := s.w.ExecContext(ctx, `DELETE FROM controllers WHERE team = ? AND channel = ? AND user_id = ?
		AND (SELECT COUNT(*) FROM controllers WHERE team = ? AND channel = ?) > 1`,
		ch.Team, ch.ID, userID, ch.Team, ch.ID)
	if err != nil {
		return wrap(op, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return wrap(op, err)
	}
	var exists int
	if err := s.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM controllers WHERE team = ? AND channel = ? AND user_id = ?`,
		ch.Team, ch.ID, userID).Scan(&exists); err != nil {
		return wrap(op, err)
	}
	if exists > 0 {
		return wrap(op, ErrLastController)
	}
	return wrap(op, ErrNotFound)
}

// ---- audit ----

// MaxHistory is the most records History returns.
const MaxHistory = 50

// Audit implements Store. Action must be set; a zero At means now.
func (s *SQLite) Audit(ctx context.Context, r AuditRecord) error {
	const op = "audit"
	if strings.TrimSpace(r.Action) == "" {
		return wrap(op, invalid("action is empty"))
	}
	_, err := s.w.ExecContext(ctx, `INSERT INTO audit
		(at, team, channel, user_id, action, conference_id, outcome, error_code, request_id, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		millis(r.At), r.Channel.Team, r.Channel.ID, r.UserID, r.Action, r.ConferenceID,
		r.Outcome, r.ErrorCode, r.RequestID, r.Detail)
	return wrap(op, err)
}

// History implements Store: newest first, n clamped to [1, MaxHistory].
func (s *SQLite) History(ctx context.Context, ch Channel, n int) ([]AuditRecord, error) {
	const op = "history"
	if err := checkChannel(ch); err != nil {
		return nil, wrap(op, err)
	}
	n = min(max(n, 1), MaxHistory)
	rows, err := s.r.QueryContext(ctx, `SELECT at, team, channel, user_id, action, conference_id,
		outcome, error_code, request_id, detail FROM audit
		WHERE team = ? AND channel = ? ORDER BY at DESC, id DESC LIMIT ?`, ch.Team, ch.ID, n)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	rs := []AuditRecord{}
	for rows.Next() {
		var (
			r  AuditRecord
			at int64
		)
		if err := rows.Scan(&at, &r.Channel.Team, &r.Channel.ID, &r.UserID, &r.Action, &r.ConferenceID,
			&r.Outcome, &r.ErrorCode, &r.RequestID, &r.Detail); err != nil {
			return nil, wrap(op, err)
		}
		r.At = time.UnixMilli(at).UTC()
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return rs, nil
}

// ---- envelopes ----

// ClaimEnvelope implements Store. A zero at means now.
func (s *SQLite) ClaimEnvelope(ctx context.Context, envelopeID string, at time.Time) (bool, error) {
	const op = "claim envelope"
	if strings.TrimSpace(envelopeID) == "" {
		return false, wrap(op, invalid("envelope ID is empty"))
	}
	res, err := s.w.ExecContext(ctx, `INSERT OR IGNORE INTO envelopes (id, claimed_at) VALUES (?, ?)`,
		envelopeID, millis(at))
	if err != nil {
		return false, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, wrap(op, err)
	}
	return n == 1, nil
}

// PruneEnvelopes implements Store.
func (s *SQLite) PruneEnvelopes(ctx context.Context, cutoff time.Time) (int64, error) {
	const op = "prune envelopes"
	res, err := s.w.ExecContext(ctx, `DELETE FROM envelopes WHERE claimed_at < ?`, cutoff.UnixMilli())
	if err != nil {
		return 0, wrap(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, wrap(op, err)
	}
	return n, nil
}
