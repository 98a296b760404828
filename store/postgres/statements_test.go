package postgres

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/meetingbot/meetingbot/store/storetest"
)

// TestOneLockRunsFewStatements counts what one /meeting lock sends to
// PostgreSQL, through the real bot and service, and holds it to a budget.
// The counts are in docs/BENCHMARKS.md.
func TestOneLockRunsFewStatements(t *testing.T) {
	counter := &countingTracer{}
	d := openDB(t, freshSchema(t), func(d *DB) { d.tracer = counter })
	got := storetest.CountLock(t, d, counter)
	t.Logf("PostgreSQL, first lock of a meeting: %v, %d round trips:\n  %s", storetest.CountOf(got.Cold), roundTrips(got.Cold), strings.Join(got.Cold, "\n  "))
	t.Logf("PostgreSQL, a later lock: %v, %d round trips:\n  %s", storetest.CountOf(got.Warm), roundTrips(got.Warm), strings.Join(got.Warm, "\n  "))
	const budget = 8 // measured: see docs/BENCHMARKS.md
	if n := storetest.CountOf(got.Warm); n.Statements > budget {
		t.Errorf("a lock runs %v, more than the budget of %d statements", n, budget)
	}
}

// roundTrips counts a batch as one.
func roundTrips(stmts []string) int {
	n := 0
	for _, s := range stmts {
		if !strings.HasPrefix(s, storetest.BatchPrefix) {
			n++
		}
	}
	return n
}

// countingTracer records every statement pgx sends, BEGIN and COMMIT
// included (pgx sends them as statements), and the statements of a batch.
type countingTracer struct {
	mu    sync.Mutex
	stmts []string
}

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	c.mu.Lock()
	c.stmts = append(c.stmts, strings.Join(strings.Fields(data.SQL), " "))
	c.mu.Unlock()
	return ctx
}

func (c *countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *countingTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	c.mu.Lock()
	c.stmts = append(c.stmts, storetest.BatchStart)
	c.mu.Unlock()
	return ctx
}

func (c *countingTracer) TraceBatchQuery(_ context.Context, _ *pgx.Conn, data pgx.TraceBatchQueryData) {
	c.mu.Lock()
	c.stmts = append(c.stmts, storetest.BatchPrefix+strings.Join(strings.Fields(data.SQL), " "))
	c.mu.Unlock()
}

func (c *countingTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

// Take implements storetest.Statements.
func (c *countingTracer) Take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.stmts
	c.stmts = nil
	return out
}
