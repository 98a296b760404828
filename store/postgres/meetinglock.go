package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
)

// Polling for a lease held elsewhere starts fast (a control call often
// takes less than that) and backs off so that a long call costs a waiter
// about 20 statements a second.
const (
	firstPoll = 2 * time.Millisecond
	maxPoll   = 50 * time.Millisecond
	// leaseStatementTimeout bounds one lease statement that runs detached
	// from the caller's context (see acquireLease and release).
	leaseStatementTimeout = 10 * time.Second
)

// nowMillis is the database server's clock in unix milliseconds.
const nowMillis = `(extract(epoch FROM clock_timestamp()) * 1000)::bigint`

// acquireSQL takes the conference's lease if it is free or expired, with a
// new fence; it returns no row while another holder's lease is live.
//
// The fence must grow in the order the lease is taken. The VALUES list is
// evaluated before the conflict is found, so a fence drawn there may be
// older than one another replica drew, took the lease with and gave back
// meanwhile. So a taken lease draws its fence in the SET list, which runs
// only once the row is locked and free, and a lease row is never deleted
// (release frees it), so only a conference's very first lease comes from
// VALUES, when no earlier fence for it exists.
const acquireSQL = `INSERT INTO meeting_leases AS l (conference_id, holder, until_ms, fence)
	VALUES ($1, $2, ` + nowMillis + ` + $3, nextval('meeting_fence'))
	ON CONFLICT (conference_id) DO UPDATE SET
		holder = excluded.holder, until_ms = excluded.until_ms, fence = nextval('meeting_fence')
	WHERE l.until_ms < ` + nowMillis + `
	RETURNING fence`

// releaseSQL frees the lease if it still carries the fence; the row stays
// (see acquireSQL).
const releaseSQL = `UPDATE meeting_leases SET until_ms = 0 WHERE conference_id = $1 AND fence = $2`

// LockMeeting implements store.Backend across every replica: see the
// package documentation.
func (d *DB) LockMeeting(ctx context.Context, id domain.ConferenceID) (int64, func(), error) {
	fence, _, unlock, err := d.lockMeeting(ctx, id, false)
	return fence, unlock, err
}

// LockMeetingState implements store.StateLocker: the statement that takes
// the lease and the one that reads the state go in one round trip.
func (d *DB) LockMeetingState(ctx context.Context, id domain.ConferenceID) (int64, store.MeetingState, func(), error) {
	return d.lockMeeting(ctx, id, true)
}

func (d *DB) lockMeeting(ctx context.Context, id domain.ConferenceID, withState bool) (int64, store.MeetingState, func(), error) {
	_, releaseLocal, err := d.local.Lock(ctx, id)
	if err != nil {
		return 0, store.MeetingState{}, nil, err
	}
	fence, st, err := d.acquireLease(ctx, id, withState)
	if err != nil {
		releaseLocal()
		return 0, store.MeetingState{}, nil, err
	}
	d.held.add(fence, id)
	var once sync.Once
	unlock := func() {
		once.Do(func() {
			d.held.remove(fence)
			d.releaseLease(id, fence)
			releaseLocal()
		})
	}
	return fence, st, unlock, nil
}

// acquireLease polls until the lease is taken or ctx ends. Each attempt is
// one statement (two with withState, the state read after the lease is
// taken, in one round trip) on a connection borrowed for that attempt
// only.
func (d *DB) acquireLease(ctx context.Context, id domain.ConferenceID, withState bool) (int64, store.MeetingState, error) {
	wait := firstPoll
	for {
		fence, st, ok, err := d.tryLease(ctx, id, withState)
		if err != nil || ok {
			return fence, st, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, store.MeetingState{}, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, maxPoll)
	}
}

// tryLease makes one attempt. The statements run detached from ctx: were
// they canceled after the server took the lease but before the fence came
// back, the lease would block the meeting until it expired. If ctx ended
// meanwhile, a lease just taken is given back.
//
// With withState the meeting's state is read in the same round trip, by a
// second statement of the batch: in READ COMMITTED each statement sees what
// was committed before it began, so it sees every change its previous
// holder made before giving the lease back. The batch is one implicit
// transaction: should the read fail, the lease is not taken either.
func (d *DB) tryLease(ctx context.Context, id domain.ConferenceID, withState bool) (int64, store.MeetingState, bool, error) {
	conn, err := d.pool.Acquire(ctx) // waiting for a connection is canceled with ctx
	if err != nil {
		return 0, store.MeetingState{}, false, err
	}
	defer conn.Release()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseStatementTimeout)
	defer cancel()
	var (
		fence int64
		st    = store.MeetingState{ConferenceID: id}
	)
	if withState {
		b := &pgx.Batch{}
		b.Queue(acquireSQL, string(id), d.holder, d.lease.Milliseconds())
		b.Queue(`SELECT `+stateCols+` FROM meeting_state WHERE conference_id = $1`, string(id))
		br := conn.SendBatch(sctx, b)
		err = br.QueryRow().Scan(&fence)
		if err == nil {
			var read store.MeetingState
			switch read, err = scanState(br.QueryRow()); {
			case err == nil:
				st = read
			case errors.Is(err, pgx.ErrNoRows):
				err = nil
			}
		}
		if cerr := br.Close(); err == nil {
			err = cerr
		}
	} else {
		err = conn.QueryRow(sctx, acquireSQL, string(id), d.holder, d.lease.Milliseconds()).Scan(&fence)
	}
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, store.MeetingState{}, false, nil
	case err != nil:
		return 0, store.MeetingState{}, false, err
	case ctx.Err() != nil:
		_, _ = conn.Exec(sctx, releaseSQL, string(id), fence)
		return 0, store.MeetingState{}, false, ctx.Err()
	}
	return fence, st, true, nil
}

// releaseLease frees the lease if it still carries fence: a holder whose
// lease expired and was taken over frees nothing. On error the lease
// expires by itself.
func (d *DB) releaseLease(id domain.ConferenceID, fence int64) {
	ctx, cancel := context.WithTimeout(context.Background(), leaseStatementTimeout)
	defer cancel()
	_, _ = d.pool.Exec(ctx, releaseSQL, string(id), fence)
}

// renewLeases extends every lease this process holds, every renewEvery, in
// one statement, until Close.
func (d *DB) renewLeases() {
	defer close(d.renewDone)
	if d.renewEvery <= 0 {
		<-d.stop
		return
	}
	tick := time.NewTicker(d.renewEvery)
	defer tick.Stop()
	for {
		select {
		case <-d.stop:
			return
		case <-tick.C:
		}
		ids, fences := d.held.list()
		if len(ids) == 0 {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), d.renewEvery)
		_ = d.renew(ctx, ids, fences)
		cancel()
	}
}

// renewSQL extends the listed leases that are still held. A lease given
// back meanwhile (until_ms 0) stays free: the list is read before the
// statement reaches the server, and a command can release its lease in
// between; renewing it then would block the meeting for a whole lease.
const renewSQL = `UPDATE meeting_leases l SET until_ms = ` + nowMillis + ` + $3
	FROM unnest($1::text[], $2::bigint[]) AS h(conference_id, fence)
	WHERE l.conference_id = h.conference_id AND l.fence = h.fence AND l.until_ms > 0`

func (d *DB) renew(ctx context.Context, ids []string, fences []int64) error {
	_, err := d.pool.Exec(ctx, renewSQL, ids, fences, d.lease.Milliseconds())
	return err
}

// heldLeases are the leases this process holds, by fence.
type heldLeases struct {
	mu      sync.Mutex
	byFence map[int64]domain.ConferenceID
}

func (h *heldLeases) add(fence int64, id domain.ConferenceID) {
	h.mu.Lock()
	h.byFence[fence] = id
	h.mu.Unlock()
}

func (h *heldLeases) remove(fence int64) {
	h.mu.Lock()
	delete(h.byFence, fence)
	h.mu.Unlock()
}

func (h *heldLeases) list() (ids []string, fences []int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for f, id := range h.byFence {
		ids, fences = append(ids, string(id)), append(fences, f)
	}
	return ids, fences
}

var _ store.StateLocker = (*DB)(nil)
