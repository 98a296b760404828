package sqlite

import (
	"context"
	"database/sql"
	"sync/atomic"
	"time"
)

// Checkpoints run checkpointEvery after the first commit since the last
// one, or sooner once checkpointCommits commits have added to the log; the
// log starts again from its beginning once it holds restartFrames frames
// (about 16 MB).
const (
	checkpointEvery   = 100 * time.Millisecond
	checkpointCommits = 250
	restartFrames     = 4000
)

// checkpointer copies the write-ahead log into the database file in the
// background. Left to itself, SQLite does that inside the commit that
// takes the log past 1,000 pages, and that commit then waits for the
// checkpoint's fsyncs: one command in a hundred took 3-4 ms longer
// (BenchmarkLoad, one command at a time). The write connection turns that
// off (wal_autocheckpoint(0)) and the writer tells the checkpointer about
// each commit.
//
// A PASSIVE checkpoint, on a connection of its own, copies and syncs what
// was committed without waiting for the writer or the readers, nor making
// them wait. While commits keep coming it never catches up with the last
// one, though, and only a log that was copied to its end can start again
// from its beginning; a checkpoint that waits for the writer (RESTART)
// would rarely find it idle under load. So once the log is restartFrames
// long, the writer itself checkpoints between two transactions, copying
// the little the last PASSIVE checkpoint left, and its next commit starts
// the log again: a pause of a few milliseconds for the writer every 4,000
// frames (about a second of commands one at a time) instead of every
// 1,000.
//
// Durability is unchanged: a checkpoint only copies what was committed,
// and SQLite checkpoints what is left when the last connection closes.
type checkpointer struct {
	db      *sql.DB
	pending atomic.Int64 // commits since the last checkpoint began
	restart atomic.Bool  // the writer should checkpoint
	poke    chan struct{}
	stop    chan struct{}
	done    chan struct{}
}

func newCheckpointer(db *sql.DB) *checkpointer {
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	c := &checkpointer{db: db, poke: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// committed tells the checkpointer that the log grew. It never blocks.
func (c *checkpointer) committed() {
	if n := c.pending.Add(1); n == 1 || n >= checkpointCommits {
		select {
		case c.poke <- struct{}{}:
		default:
		}
	}
}

// restartDue reports, once, that the writer should checkpoint.
func (c *checkpointer) restartDue() bool {
	return c.restart.Load() && c.restart.CompareAndSwap(true, false)
}

func (c *checkpointer) run() {
	defer close(c.done)
	wait := time.NewTimer(0)
	defer wait.Stop()
	var last time.Time
	for {
		select {
		case <-c.stop:
			return
		case <-c.poke:
		}
		for c.pending.Load() < checkpointCommits {
			d := checkpointEvery - time.Since(last)
			if d <= 0 {
				break
			}
			wait.Reset(d)
			select {
			case <-c.stop:
				return
			case <-c.poke:
				wait.Stop()
			case <-wait.C:
			}
		}
		c.pending.Store(0)
		last = time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var busy, logFrames, copied int
		// A failed checkpoint is tried again after the next commit; the
		// log only grows meanwhile.
		err := c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logFrames, &copied)
		cancel()
		if err == nil && logFrames >= restartFrames {
			c.restart.Store(true)
		}
	}
}

// close stops the checkpointer and closes its connection. The last
// connection to close checkpoints what is left.
func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
