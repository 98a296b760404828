package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxBatch bounds how many queued writes share one transaction.
const maxBatch = 256

// errClosed is returned for writes queued after Close.
var errClosed = errors.New("the database is closed")

// writer is a group-commit writer over the only write connection: it
// commits whatever writes are queued in one transaction, each inside a
// savepoint so one failing write does not undo the others. A caller still
// waits for the commit that holds its write, so nothing is acknowledged
// before it is durable; many callers just share one commit.
//
// The commits run on the callers' own goroutines, not on a goroutine of
// the writer's: a caller that finds the writer idle leads, committing its
// write and whatever was queued meanwhile, so a write on a quiet database
// wakes no other goroutine. Callers that find a commit running queue their
// writes and wait. When the leader's own write is committed, it hands the
// lead to the oldest waiting caller, which commits everything queued by
// then in one transaction; a follower wakes once, when its write is
// committed (with a goroutine of the writer's, every write woke two).
type writer struct {
	conn *sql.Conn // the write connection, held for the writer's life

	mu      sync.Mutex
	queue   []*writeReq
	leading bool       // a caller is committing, or was handed the lead
	idle    *sync.Cond // broadcast when leading ends
	closed  bool

	closeOnce sync.Once
	stmts     map[string]*sql.Stmt // prepared on conn; only the leader touches it
	log       logKeeper
}

// logKeeper looks after the write-ahead log (checkpointer): it hears of
// every commit, and says when the writer itself should checkpoint.
type logKeeper interface {
	committed()
	restartDue() bool
}

type writeReq struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *tx) error
	err  error
	done chan struct{} // closed when the write is committed or failed
	lead chan struct{} // closed when the caller is handed the lead
}

// tx is the writer's open transaction. Its statements are prepared once on
// the write connection and run on it directly: the writer begins and ends
// transactions with statements of its own rather than through sql.Tx,
// because database/sql prepares a statement again for every use inside a
// sql.Tx unless the statement was prepared on the pool, and the pool's one
// connection is the writer's.
type tx struct{ w *writer }

// exec runs a prepared statement in the transaction.
func (t *tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.w.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// queryRow runs a prepared query in the transaction.
func (t *tx) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := t.w.stmt(ctx, query)
	if err != nil {
		// Let the error surface through Scan, as database/sql does.
		return t.w.conn.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// query runs a prepared query that returns rows in the transaction.
func (t *tx) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.w.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// newWriter starts the writer on db's one connection.
func newWriter(ctx context.Context, db *sql.DB, log logKeeper) (*writer, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	w := &writer{conn: conn, stmts: map[string]*sql.Stmt{}, log: log}
	w.idle = sync.NewCond(&w.mu)
	return w, nil
}

func (w *writer) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := w.stmts[query]; ok {
		return st, nil
	}
	st, err := w.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	w.stmts[query] = st
	return st, nil
}

// write queues fn and waits for the commit of the transaction it ran in,
// leading the commits if the writer is idle (see writer). fn's statements
// must not be canceled half-way (an interrupted write rolls back the whole
// shared transaction), so it gets a context without cancellation. A
// request whose ctx ends before its turn is skipped.
func (w *writer) write(ctx context.Context, fn func(ctx context.Context, t *tx) error) error {
	r := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{}), lead: make(chan struct{})}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errClosed
	}
	w.queue = append(w.queue, r)
	if w.leading {
		w.mu.Unlock()
		// Once queued, the write may commit: wait for the outcome, or
		// for the lead.
		select {
		case <-r.done:
			return r.err
		case <-r.lead:
		}
		w.mu.Lock()
	}
	w.leading = true
	for {
		n := min(len(w.queue), maxBatch)
		batch := make([]*writeReq, n)
		copy(batch, w.queue)
		w.queue = append(w.queue[:0], w.queue[n:]...)
		w.mu.Unlock()
		w.commitOrAbandon(batch)
		w.mu.Lock()
		select {
		case <-r.done:
		default:
			continue // more than a batch was queued ahead of this write
		}
		break
	}
	w.handOver()
	w.mu.Unlock()
	return r.err
}

// handOver passes the lead to the oldest waiting caller, if any. w.mu is
// held.
func (w *writer) handOver() {
	if len(w.queue) > 0 {
		close(w.queue[0].lead)
		return
	}
	w.leading = false
	w.idle.Broadcast()
}

// commitOrAbandon commits a batch on the leader's goroutine. Should a
// write panic there, the panic goes on, on the leader's goroutine (to
// whatever recovers it there, or it ends the process, as any panic), but
// first the transaction is rolled back, the batch's writes fail, and the
// lead passes on, so that the writer does not stay wedged.
func (w *writer) commitOrAbandon(batch []*writeReq) {
	ok := false
	defer func() {
		if ok {
			return
		}
		_, _ = w.conn.ExecContext(context.Background(), "ROLLBACK")
		for _, r := range batch {
			select {
			case <-r.done:
			default:
				r.err = errors.New("the write transaction failed unexpectedly")
				close(r.done)
			}
		}
		w.mu.Lock()
		w.handOver()
		w.mu.Unlock()
	}()
	w.commit(batch)
	ok = true
}

func (w *writer) commit(batch []*writeReq) {
	live := batch[:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			close(r.done)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	finish := func(err error) {
		for _, r := range live {
			if r.err == nil {
				r.err = err
			}
			close(r.done)
		}
	}
	ctx := context.Background()
	t := &tx{w: w}
	control := func(query string) error {
		_, err := t.exec(ctx, query)
		return err
	}
	// A failed statement of our own leaves the transaction in an unknown
	// state: roll back whatever is open, so the next batch starts clean.
	rollback := func() { _ = control("ROLLBACK") }
	if w.log.restartDue() {
		// Between transactions, so that the log can start again from
		// its beginning; a failure only leaves it longer.
		_, _ = w.conn.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`)
	}
	if err := control("BEGIN IMMEDIATE"); err != nil {
		rollback()
		finish(err)
		return
	}
	single := len(live) == 1
	for _, r := range live {
		rctx := context.WithoutCancel(r.ctx)
		if single {
			r.err = r.fn(rctx, t)
			break
		}
		if err := control("SAVEPOINT w"); err != nil {
			r.err = err
			continue
		}
		if r.err = r.fn(rctx, t); r.err != nil {
			if err := control("ROLLBACK TO w"); err != nil {
				// The transaction is unusable: fail the whole batch.
				rollback()
				finish(err)
				return
			}
		}
		if err := control("RELEASE w"); err != nil {
			rollback()
			finish(err)
			return
		}
	}
	if single && live[0].err != nil {
		rollback()
		finish(nil)
		return
	}
	if err := control("COMMIT"); err != nil {
		rollback()
		finish(err)
		return
	}
	finish(nil)
	w.log.committed()
}

// close stops taking writes, lets queued ones commit, and closes the
// connection.
func (w *writer) close() {
	w.closeOnce.Do(func() {
		w.mu.Lock()
		w.closed = true
		for w.leading {
			w.idle.Wait()
		}
		w.mu.Unlock()
		for _, st := range w.stmts {
			st.Close() //nolint:errcheck // closing
		}
		w.conn.Close() //nolint:errcheck // closing
	})
}
