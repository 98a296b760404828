package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/meetingbot/meetingbot/store/storetest"
)

// TestOneLockRunsFewStatements counts what one /meeting lock sends to
// SQLite, through the real bot and service, and holds it to a budget. The
// counts are in docs/BENCHMARKS.md.
func TestOneLockRunsFewStatements(t *testing.T) {
	counter := useCountingDriver(t)
	d, err := Open(context.Background(), filepath.Join(t.TempDir(), "meetingbot.db"))
	if err != nil {
		t.Fatal(err)
	}
	got := storetest.CountLock(t, d, counter)
	t.Logf("SQLite, first lock of a meeting: %v:\n  %s", storetest.CountOf(got.Cold), strings.Join(got.Cold, "\n  "))
	t.Logf("SQLite, a later lock: %v:\n  %s", storetest.CountOf(got.Warm), strings.Join(got.Warm, "\n  "))
	const budget = 8 // measured: see docs/BENCHMARKS.md
	if n := storetest.CountOf(got.Warm); n.Statements > budget {
		t.Errorf("a lock runs %v, more than the budget of %d statements", n, budget)
	}
}

// countingDriver wraps the sqlite driver and records every statement sent
// to SQLite: each execution of a prepared statement, each direct Exec or
// Query, and BEGIN, COMMIT and ROLLBACK.
type countingDriver struct {
	driver.Driver
	mu    sync.Mutex
	stmts []string
}

func (c *countingDriver) record(query string) {
	c.mu.Lock()
	c.stmts = append(c.stmts, strings.Join(strings.Fields(query), " "))
	c.mu.Unlock()
}

// Take implements storetest.Statements.
func (c *countingDriver) Take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.stmts
	c.stmts = nil
	return out
}

var counting = struct {
	once sync.Once
	d    *countingDriver
}{}

// useCountingDriver makes Open use the counting driver for this test.
func useCountingDriver(t *testing.T) *countingDriver {
	counting.once.Do(func() {
		db, err := sql.Open("sqlite", ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		counting.d = &countingDriver{Driver: db.Driver()}
		db.Close()
		sql.Register("sqlite-counting", counting.d)
	})
	prev := driverName
	driverName = "sqlite-counting"
	t.Cleanup(func() { driverName = prev })
	return counting.d
}

func (c *countingDriver) Open(name string) (driver.Conn, error) {
	conn, err := c.Driver.Open(name)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, c: c}, nil
}

type countingConn struct {
	driver.Conn
	c *countingDriver
}

func (cc *countingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	st, err := cc.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	return &countingStmt{Stmt: st, query: query, c: cc.c}, nil
}

func (cc *countingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	cc.c.record("BEGIN")
	tx, err := cc.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return countingTx{Tx: tx, c: cc.c}, nil
}

func (cc *countingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cc.c.record(query)
	return cc.Conn.(driver.ExecerContext).ExecContext(ctx, query, args)
}

func (cc *countingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cc.c.record(query)
	return cc.Conn.(driver.QueryerContext).QueryContext(ctx, query, args)
}

func (cc *countingConn) Ping(ctx context.Context) error {
	return cc.Conn.(driver.Pinger).Ping(ctx)
}

func (cc *countingConn) ResetSession(ctx context.Context) error {
	return cc.Conn.(driver.SessionResetter).ResetSession(ctx)
}

func (cc *countingConn) IsValid() bool { return cc.Conn.(driver.Validator).IsValid() }

type countingStmt struct {
	driver.Stmt
	query string
	c     *countingDriver
}

func (s *countingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.c.record(s.query)
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *countingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.c.record(s.query)
	return s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
}

type countingTx struct {
	driver.Tx
	c *countingDriver
}

func (tx countingTx) Commit() error {
	tx.c.record("COMMIT")
	return tx.Tx.Commit()
}

func (tx countingTx) Rollback() error {
	tx.c.record("ROLLBACK")
	return tx.Tx.Rollback()
}
