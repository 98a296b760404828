// Package postgres is meetingbot's store backend for several replicas: a
// PostgreSQL database shared by every process, through pgx and its pool.
// Import it for its effect: it registers itself with store.Open for
// postgres:// and postgresql:// values of MEETINGBOT_DB.
//
// # Concurrency
//
// Transactions run at READ COMMITTED, PostgreSQL's default, and the
// invariants that SQLite keeps with its single writer are kept with locks
// taken inside the writing transaction:
//
//   - Every change to a channel's bindings or controllers (Bind, Unbind,
//     Grant, Revoke), and every refusal recorded in its audit trail, first
//     takes a transaction-level advisory lock on the channel
//     (pg_advisory_xact_lock on a 64-bit hash of schema, team and
//     channel), then reads the authorization and writes. Writes to one
//     channel are serialised across every replica; other channels do not
//     wait. The lock is released by COMMIT or ROLLBACK, so a dead client
//     cannot keep it. A row lock would need a row to exist before the first
//     bind of a channel (two first binds must serialise too), and
//     SERIALIZABLE would need a retry loop around every write; the advisory
//     lock costs one statement and writes nothing.
//   - The order of a channel's bindings comes from a sequence, not from
//     MAX()+1.
//   - A meeting-state change is one INSERT … ON CONFLICT DO UPDATE … WHERE
//     fence <= $fence: the row lock the upsert takes makes the fence check
//     and the write one step.
//   - Claims: ClaimEnvelope is INSERT … ON CONFLICT DO NOTHING (the first
//     wins); TakeExpiredClaims picks expired claims FOR UPDATE SKIP LOCKED
//     and re-checks the lease in the UPDATE, so two replicas never take the
//     same claim.
//
// # LockMeeting
//
// LockMeeting serialises control calls for one conference across replicas
// with a lease row in meeting_leases: one statement, INSERT … ON CONFLICT
// DO UPDATE … WHERE until_ms < now RETURNING fence, acquires a free or
// expired lease with a new value of the meeting_fence sequence. Times are
// the database server's, so the replicas' clocks need not agree. Within a
// process, callers first queue on a store.MeetingMutex, so a process makes
// at most one attempt per conference at a time; the one attempting polls
// (2 ms, doubling to 50 ms) and holds no connection between attempts, so
// many waiting commands do not exhaust the pool. One goroutine renews every
// lease the process holds every lease/3 in one statement, which leaves a
// lease freed meanwhile free (see renewSQL); unlock frees
// the row (until_ms 0) only if it still carries the holder's fence, so a
// late unlock never frees a lease that another replica took over after
// this one expired. The row is never deleted, and a taken lease draws its
// fence only once the row is locked and free, so fences grow in the order
// the lease is taken (see acquireSQL). A replica that dies leaves a lease that expires (30 s by
// default, see WithMeetingLease).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
)

func init() {
	store.Register("postgres", func(ctx context.Context, dsn string, o store.Options) (store.Backend, error) {
		return Open(ctx, dsn, WithMeetingLease(o.MeetingLease))
	})
}

// DefaultMeetingLease is how long a LockMeeting lease lasts without
// renewal: how long a meeting stays blocked after its holder dies.
const DefaultMeetingLease = 30 * time.Second

// defaultMaxConns is the pool size unless the DSN sets pool_max_conns.
const defaultMaxConns = 10

// DB is the PostgreSQL backend.
type DB struct {
	pool   *pgxpool.Pool
	schema string // current_schema() of the pool's connections
	holder string // names this process in meeting_leases

	lease      time.Duration
	renewEvery time.Duration // 0: leases are not renewed (tests of a dead holder)

	local *store.MeetingMutex
	held  heldLeases

	tracer pgx.QueryTracer // a test's, counting statements

	stop      chan struct{}
	renewDone chan struct{}
	closeOnce sync.Once
}

var _ store.Backend = (*DB)(nil)

// Option configures Open.
type Option func(*DB)

// WithMeetingLease sets how long a LockMeeting lease lasts without renewal
// (default DefaultMeetingLease). Held leases are renewed every third of it.
func WithMeetingLease(d time.Duration) Option {
	return func(db *DB) {
		if d > 0 {
			db.lease, db.renewEvery = d, d/3
		}
	}
}

// WithHolder names this process in the lease rows (default host name and
// process ID), which helps to tell replicas apart in the database.
func WithHolder(name string) Option {
	return func(db *DB) {
		if strings.TrimSpace(name) != "" {
			db.holder = name
		}
	}
}

// Open connects to the database dsn names, a postgres:// or postgresql://
// URL in pgx's syntax (sslmode, connect_timeout, pool_max_conns (default
// 10), any run-time parameter such as search_path, …), and applies
// migrations under an advisory lock. Tables live in the connection's
// current schema: the first schema of search_path that exists, public
// unless the URL says otherwise. Errors never contain the password.
func Open(ctx context.Context, dsn string, opts ...Option) (*DB, error) {
	if strings.TrimSpace(dsn) == "" {
		return nil, fmt.Errorf("store: open: %w: the database URL is empty", store.ErrInvalid)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err) // pgx redacts the password
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "meetingbot"
	}
	host, _ := os.Hostname()
	d := &DB{
		holder:    fmt.Sprintf("%s/%d", host, os.Getpid()),
		local:     store.NewMeetingMutex(),
		stop:      make(chan struct{}),
		renewDone: make(chan struct{}),
	}
	WithMeetingLease(DefaultMeetingLease)(d)
	for _, o := range opts {
		o(d)
	}
	d.held.byFence = map[int64]domain.ConferenceID{}
	if d.tracer != nil {
		cfg.ConnConfig.Tracer = d.tracer
	}
	if d.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := d.open(ctx); err != nil {
		d.pool.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	go d.renewLeases()
	return d, nil
}

func (d *DB) open(ctx context.Context) error {
	var schema *string
	if err := d.pool.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return err
	}
	if schema == nil {
		return errors.New("no schema of the connection's search_path exists; create it or set search_path in the database URL")
	}
	d.schema = *schema
	return migrate(ctx, d.pool, d.lockKey("migrate"))
}

// Close stops renewing leases and closes the pool. It is safe to call more
// than once. Leases still held expire.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		close(d.stop)
		<-d.renewDone
		d.pool.Close()
	})
	return nil
}

// Ping implements store.Backend.
func (d *DB) Ping(ctx context.Context) error {
	return d.pool.Ping(ctx)
}

// lockKey is the advisory-lock key of a named thing in this schema: a 64-bit
// FNV-1a hash of length-prefixed parts, so ("ab","c") and ("a","bc")
// differ and two schemas in one database do not share locks.
func (d *DB) lockKey(parts ...string) int64 {
	h := fnv.New64a()
	for _, p := range append([]string{d.schema}, parts...) {
		fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	return int64(h.Sum64())
}

func (d *DB) channelKey(ch store.Channel) int64 { return d.lockKey("channel", ch.Team, ch.ID) }

// ---- helpers ----

func millis(t time.Time) int64 { return t.UnixMilli() }

func nullMillis(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	ms := t.UnixMilli()
	return &ms
}

func fromMillis(ms *int64) time.Time {
	if ms == nil {
		return time.Time{}
	}
	return time.UnixMilli(*ms).UTC()
}

func parseRestriction(s string) domain.JoinRestriction {
	r, _ := domain.ParseJoinRestriction(s)
	return r
}

// notFound turns pgx.ErrNoRows into store.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// mustAffect turns "no row changed" into store.ErrNotFound.
func mustAffect(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// inTx runs fn in a transaction that first takes the advisory lock on key.
func (d *DB) inTx(ctx context.Context, key int64, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, key); err != nil {
			return err
		}
		return fn(tx)
	})
}

// ---- meta ----

// Meta implements store.Backend.
func (d *DB) Meta(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := d.pool.QueryRow(ctx, `SELECT value FROM meta WHERE name = $1`, name).Scan(&v)
	return v, notFound(err)
}

// PutMetaIfAbsent implements store.Backend. The SELECT is a statement of its
// own: at READ COMMITTED it sees a value that a concurrent caller committed
// while the INSERT waited on it.
func (d *DB) PutMetaIfAbsent(ctx context.Context, name string, value []byte) ([]byte, error) {
	if _, err := d.pool.Exec(ctx, `INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`, name, value); err != nil {
		return nil, err
	}
	return d.Meta(ctx, name)
}
