package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
)

// Two Backends on one schema are two pools, as two replicas would have.

// leaseRow reads the conference's lease row: its fence, or 0 when none.
func leaseRow(t *testing.T, d *DB, id domain.ConferenceID) (fence, untilMs int64) {
	t.Helper()
	err := d.pool.QueryRow(t.Context(), `SELECT fence, until_ms FROM meeting_leases WHERE conference_id = $1`, string(id)).Scan(&fence, &untilMs)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	return fence, untilMs
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLockMeetingSerialisesReplicas(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	a, b := openDB(t, dsn, WithHolder("replica-a")), openDB(t, dsn, WithHolder("replica-b"))
	ctx := t.Context()

	fa, unlockA, err := a.LockMeeting(ctx, confID)
	must(t, err)
	// Another conference is free on the other replica.
	_, unlockOther, err := b.LockMeeting(ctx, "111222333")
	must(t, err)
	unlockOther()

	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	_, _, err = b.LockMeeting(short, confID)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("replica B got the meeting while A held it: err = %v", err)
	}

	got := make(chan int64, 1)
	go func() {
		fb, unlockB, err := b.LockMeeting(ctx, confID)
		if err != nil {
			t.Error(err)
			got <- -1
			return
		}
		unlockB()
		got <- fb
	}()
	select {
	case f := <-got:
		t.Fatalf("replica B got the meeting (fence %d) before A unlocked it", f)
	case <-time.After(100 * time.Millisecond):
	}
	unlockA()
	unlockA() // twice is harmless
	var fb int64
	select {
	case fb = <-got:
		if fb <= fa {
			t.Errorf("B's fence %d is not above A's %d", fb, fa)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("replica B never got the meeting after A unlocked it")
	}
	if f, until := leaseRow(t, a, confID); f != fb || until != 0 {
		t.Errorf("after both unlocked the lease row has fence %d (want B's %d) and is held until %d (want 0, free)", f, fb, until)
	}
}

func TestADeadHoldersLeaseExpiresAndItsLateUnlockFreesNothing(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	const lease = 500 * time.Millisecond
	// A holds its lease and stops renewing it, like a replica that died or
	// stalled in the middle of a vendor call.
	dead := openDB(t, dsn, WithHolder("stalled"), WithMeetingLease(lease), func(d *DB) { d.renewEvery = 0 })
	live := openDB(t, dsn, WithHolder("live"), WithMeetingLease(time.Minute))
	ctx := t.Context()
	key := mustKey(t)
	stDead, stLive := newStore(t, dead, key), newStore(t, live, key)

	acquired := time.Now() // before: a pause after it can only make the wait look longer
	oldFence, lateUnlock, err := stDead.LockMeeting(ctx, confID)
	must(t, err)
	newFence, unlock, err := stLive.LockMeeting(ctx, confID)
	must(t, err)
	defer unlock()
	if waited := time.Since(acquired); waited < lease/2 {
		t.Errorf("the live replica got the meeting after %v, before the dead holder's %v lease could expire", waited, lease)
	}
	if newFence <= oldFence {
		t.Fatalf("the fence after a takeover (%d) is not above the dead holder's (%d)", newFence, oldFence)
	}

	// The new holder writes; the stalled one wakes up, writes late, and
	// unlocks.
	must(t, stLive.Record(ctx, store.AuditRecord{Channel: chA, UserID: "U2", Action: "unlock", ConferenceID: confID, Outcome: store.OutcomeOK},
		&store.StateChange{ConferenceID: confID, Fence: newFence, By: "U2", Lock: lockPtr(domain.LockUnlocked)}))
	must(t, stDead.Record(ctx, store.AuditRecord{Channel: chA, UserID: "U1", Action: "lock", ConferenceID: confID, Outcome: store.OutcomeOK},
		&store.StateChange{ConferenceID: confID, Fence: oldFence, By: "U1", Lock: lockPtr(domain.LockLocked)}))
	lateUnlock()

	ms, err := stLive.MeetingState(ctx, confID)
	must(t, err)
	if ms.Lock != domain.LockUnlocked || ms.LockBy != "U2" || ms.Fence != newFence {
		t.Errorf("the stalled holder's late write changed the state: %+v", ms)
	}
	if f, _ := leaseRow(t, live, confID); f != newFence {
		t.Fatalf("after the stalled holder's late unlock the lease carries fence %d, want the live holder's %d", f, newFence)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, _, err := stDead.LockMeeting(short, confID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the stalled replica got the meeting again while the live one held it: err = %v", err)
	}
}

func TestAHeldLeaseIsRenewed(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	d := openDB(t, dsn, WithMeetingLease(600*time.Millisecond))
	_, unlock, err := d.LockMeeting(t.Context(), confID)
	must(t, err)
	defer unlock()
	fence, first := leaseRow(t, d, confID)
	eventually(t, "a renewal of the lease", 20*time.Second, func() bool {
		f, until := leaseRow(t, d, confID)
		if f != fence {
			t.Fatalf("the lease changed hands while held: fence %d, then %d", fence, f)
		}
		return until > first
	})
}

// The renewer reads the leases it holds, then sends one statement; a
// command can give its lease back in between. That late renewal must not
// take the lease again, or the meeting stays blocked for a whole lease
// (a stress run saw a command wait out its 15 s for a lease nobody held).
func TestARenewalThatCrossesAReleaseLeavesTheLeaseFree(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	a := openDB(t, dsn, WithHolder("a"), WithMeetingLease(time.Minute), func(d *DB) { d.renewEvery = 0 })
	b := openDB(t, dsn, WithHolder("b"), WithMeetingLease(time.Minute))
	_, unlock, err := a.LockMeeting(t.Context(), confID)
	must(t, err)
	ids, fences := a.held.list() // the renewer's snapshot
	unlock()                     // the command gives the lease back
	must(t, a.renew(t.Context(), ids, fences))
	if _, until := leaseRow(t, a, confID); until != 0 {
		t.Errorf("a renewal after the release took the lease again: until_ms = %d, want 0", until)
	}
	short, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, unlockB, err := b.LockMeeting(short, confID)
	if err != nil {
		t.Fatalf("another replica cannot take the meeting after its holder released it: %v", err)
	}
	unlockB()
}

func TestExpiredClaimsAreHandedToOneReplicaEach(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	key := mustKey(t)
	ctx := t.Context()
	replicas := []*store.Store{newStore(t, openDB(t, dsn), key), newStore(t, openDB(t, dsn), key), newStore(t, openDB(t, dsn), key)}
	const claims = 300
	for i := range claims {
		_, err := replicas[0].ClaimEnvelope(ctx, store.Claim{EnvelopeID: fmt.Sprint("env-", i), Holder: "dead",
			ClaimedAt: t0, LeaseUntil: t0.Add(time.Duration(i) * time.Millisecond), Payload: []byte(fmt.Sprint("payload-", i))})
		must(t, err)
	}
	var (
		mu    sync.Mutex
		taken = map[string]string{}
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for r, st := range replicas {
		for w := range 3 { // several takers per replica, too
			wg.Add(1)
			go func() {
				defer wg.Done()
				holder := fmt.Sprintf("replica-%d/%d", r, w)
				<-start
				for {
					got, err := st.TakeExpiredClaims(ctx, holder, t0.Add(time.Hour), t0.Add(2*time.Hour), 7)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, c := range got {
						if prev, dup := taken[c.EnvelopeID]; dup {
							t.Errorf("%s was handed to %s and to %s", c.EnvelopeID, prev, holder)
						}
						taken[c.EnvelopeID] = holder
						if c.Holder != holder || c.Takeovers != 1 || string(c.Payload) != "payload-"+c.EnvelopeID[len("env-"):] {
							t.Errorf("taken claim %+v", c)
						}
					}
					mu.Unlock()
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	if len(taken) != claims {
		t.Errorf("%d of %d expired claims were taken over", len(taken), claims)
	}
}

func TestTwoReplicasRevokingTheLastTwoControllersLeaveOne(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	key := mustKey(t)
	ctx := t.Context()
	a, b := newStore(t, openDB(t, dsn), key), newStore(t, openDB(t, dsn), key)
	admin := store.Actor{UserID: "UADMIN", Admin: true}
	for i := range 30 {
		ch := store.Channel{Team: "T1", ID: fmt.Sprintf("C%03d", i)}
		must(t, a.Grant(ctx, ch, "UA", admin, t0))
		must(t, a.Grant(ctx, ch, "UB", admin, t0))
		var (
			wg    sync.WaitGroup
			errs  [2]error
			start = make(chan struct{})
		)
		wg.Add(2)
		go func() { defer wg.Done(); <-start; errs[0] = a.Revoke(ctx, ch, "UB", store.Actor{UserID: "UA"}) }()
		go func() { defer wg.Done(); <-start; errs[1] = b.Revoke(ctx, ch, "UA", store.Actor{UserID: "UB"}) }()
		close(start)
		wg.Wait()
		cs, err := b.Controllers(ctx, ch)
		must(t, err)
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrNotAllowed), errors.Is(err, store.ErrLastController):
			default:
				t.Fatalf("round %d: %v", i, err)
			}
		}
		if len(cs) != 1 || ok != 1 {
			t.Fatalf("round %d: %d controllers left and %d revokes succeeded (%v, %v); want 1 and 1", i, len(cs), ok, errs[0], errs[1])
		}
	}
}

func TestTwoReplicasBindingAnEmptyChannelMakeOneFirstController(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	key := mustKey(t)
	ctx := t.Context()
	a, b := newStore(t, openDB(t, dsn), key), newStore(t, openDB(t, dsn), key)
	for i := range 30 {
		ch := store.Channel{Team: "T1", ID: fmt.Sprintf("C%03d", i)}
		var (
			wg    sync.WaitGroup
			errs  [2]error
			start = make(chan struct{})
		)
		wg.Add(2)
		for j, st := range []*store.Store{a, b} {
			go func() {
				defer wg.Done()
				<-start
				errs[j] = st.Bind(ctx, store.BindRequest{Channel: ch, ConferenceID: domain.ConferenceID(fmt.Sprint("91408313", j)),
					Password: "pw", By: store.Actor{UserID: fmt.Sprint("U", j)}, At: t0})
			}()
		}
		close(start)
		wg.Wait()
		cs, err := a.Controllers(ctx, ch)
		must(t, err)
		ms, err := a.Meetings(ctx, ch)
		must(t, err)
		refused := 0
		for _, err := range errs {
			if errors.Is(err, store.ErrNotAllowed) {
				refused++
			} else {
				must(t, err)
			}
		}
		if len(cs) != 1 || len(ms) != 1 || refused != 1 {
			t.Fatalf("round %d: two first binds left %d controllers and %d meetings (%v, %v); want one of each", i, len(cs), len(ms), errs[0], errs[1])
		}
	}
}

func lockPtr(s domain.LockState) *domain.LockState { return &s }

// TestManyCommandsOnTwoSmallPoolsNeverOverlapOnAMeeting runs 64 commands at
// a time over 50 meetings on two replicas of three connections each:
// waiting for a meeting holds no connection, so all of them finish, and no
// two ever hold one meeting at once.
func TestManyCommandsOnTwoSmallPoolsNeverOverlapOnAMeeting(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t) + "&pool_max_conns=3"
	key := mustKey(t)
	replicas := []*store.Store{newStore(t, openDB(t, dsn), key), newStore(t, openDB(t, dsn), key)}
	const (
		workers  = 64
		meetings = 50
		rounds   = 8
	)
	var (
		mu        sync.Mutex
		holding   = map[domain.ConferenceID]bool{}
		lastFence = map[domain.ConferenceID]int64{}
		wg        sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := replicas[w%2]
			for r := range rounds {
				id := domain.ConferenceID(fmt.Sprintf("9200000%02d", (w*rounds+r)%meetings))
				fence, unlock, err := st.LockMeeting(ctx, id)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if holding[id] {
					t.Errorf("meeting %s is held twice at once", id)
				}
				if fence <= lastFence[id] {
					t.Errorf("meeting %s: fence %d after %d", id, fence, lastFence[id])
				}
				holding[id], lastFence[id] = true, fence
				mu.Unlock()
				time.Sleep(time.Millisecond) // the vendor call
				err = st.Record(ctx, store.AuditRecord{Channel: chA, UserID: "U1", Action: "lock", ConferenceID: id, Outcome: store.OutcomeOK},
					&store.StateChange{ConferenceID: id, Fence: fence, By: "U1", Lock: lockPtr(domain.LockLocked)})
				mu.Lock()
				holding[id] = false
				mu.Unlock()
				unlock()
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	h, err := replicas[0].History(t.Context(), chA, store.MaxHistory)
	must(t, err)
	if len(h) != store.MaxHistory {
		t.Errorf("History returned %d records of %d, want %d", len(h), workers*rounds, store.MaxHistory)
	}
	for id, f := range lastFence {
		ms, err := replicas[1].MeetingState(t.Context(), id)
		must(t, err)
		if ms.Fence != f {
			t.Errorf("meeting %s: stored fence %d, want the last holder's %d", id, ms.Fence, f)
		}
	}
}

// LockMeetingState takes the lease and reads the state in one round trip.
// Across replicas, where no in-process mutex orders the holders, each one
// still reads exactly what the holder before it wrote: the read runs after
// the lease is taken.
func TestEachHolderOnTwoReplicasReadsThePreviousHoldersState(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	key := mustKey(t)
	replicas := []*store.Store{newStore(t, openDB(t, dsn, WithHolder("replica-a")), key),
		newStore(t, openDB(t, dsn, WithHolder("replica-b")), key)}
	type turn struct {
		fence     int64
		me, prior string
	}
	var (
		mu    sync.Mutex
		turns []turn
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	const holders = 40
	for i := range holders {
		wg.Go(func() {
			st := replicas[i%2]
			fence, prior, unlock, err := st.LockMeetingState(ctx, confID)
			if err != nil {
				t.Error(err)
				return
			}
			defer unlock()
			me := fmt.Sprint("U", i)
			mu.Lock()
			turns = append(turns, turn{fence, me, prior.LockBy})
			mu.Unlock()
			if err := st.Record(ctx, store.AuditRecord{Channel: chA, UserID: me, Action: "lock", ConferenceID: confID, Outcome: store.OutcomeOK},
				&store.StateChange{ConferenceID: confID, Fence: fence, By: me, Lock: lockPtr(domain.LockLocked)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(turns) != holders {
		t.Fatalf("%d of %d holders got the lease", len(turns), holders)
	}
	slices.SortFunc(turns, func(a, b turn) int { return cmp.Compare(a.fence, b.fence) })
	for k, tn := range turns {
		want := ""
		if k > 0 {
			want = turns[k-1].me
		}
		if tn.prior != want {
			t.Fatalf("holder %d (fence %d) read the state left by %q, want %q", k, tn.fence, tn.prior, want)
		}
	}
}

// A fence is drawn once the lease is free, not before: an attempt that
// waited on the lease row while another replica took the lease and gave it
// back must get a fence above that replica's, or its state write would be
// dropped as older than a state it came after.
func TestAFenceDrawnAfterWaitingIsAboveTheLeaseBeforeIt(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	d := openDB(t, dsn, WithHolder("replica-a"))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	f0, unlock, err := d.LockMeeting(ctx, confID)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if f, until := leaseRow(t, d, confID); f != f0 || until != 0 {
		t.Fatalf("a given-back lease row has fence %d (want %d) and is held until %d (want 0): the row must stay, free", f, f0, until)
	}

	// Replica B, on a connection of its own, holds the row while replica
	// A's attempt runs into it.
	b, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(context.Background())
	tx, err := b.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	var pidB int
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pidB); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM meeting_leases WHERE conference_id = $1 FOR UPDATE`, string(confID)); err != nil {
		t.Fatal(err)
	}
	got := make(chan int64, 1)
	go func() {
		fa, unlockA, err := d.LockMeeting(ctx, confID)
		if err != nil {
			t.Error(err)
			got <- -1
			return
		}
		unlockA()
		got <- fa
	}()
	eventually(t, "replica A's attempt to wait on the lease row", 20*time.Second, func() bool {
		var waiting int
		if err := d.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, pidB).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		return waiting > 0
	})
	// B takes the lease with a new fence and gives it back.
	var fb int64
	if err := tx.QueryRow(ctx, `UPDATE meeting_leases SET fence = nextval('meeting_fence'), until_ms = 0
		WHERE conference_id = $1 RETURNING fence`, string(confID)).Scan(&fb); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if fa := <-got; fa <= fb {
		t.Fatalf("replica A took the lease after B gave it back, with fence %d, not above B's %d", fa, fb)
	}
}

// A holder renewing its watches while another statement has one of them
// locked (someone turning the same watch on again) waits for the row
// rather than skipping it: a skipped watch looks lost to its follower.
func TestRenewingAWatchWaitsForARowLockedElsewhere(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	d := openDB(t, dsn)
	st := newStore(t, d, mustKey(t))
	ctx := t.Context()
	must(t, st.Bind(ctx, store.BindRequest{Channel: chA, ConferenceID: confID, Password: "pw", By: store.Actor{UserID: "U1"}}))
	must(t, st.PutWatch(ctx, store.Watch{Channel: chA, ConferenceID: confID, StartedBy: "U1"}))
	now := time.Now()
	held, err := st.ClaimWatches(ctx, "h1", now, now.Add(time.Minute))
	must(t, err)
	if len(held) != 1 {
		t.Fatalf("h1 holds %d watches, want 1", len(held))
	}

	tx, err := d.pool.Begin(ctx)
	must(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck // committed below
	if _, err := tx.Exec(ctx, `SELECT 1 FROM watches FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	got := make(chan []store.Watch, 1)
	go func() {
		ws, err := st.ClaimWatches(ctx, "h1", now.Add(time.Second), now.Add(time.Minute))
		if err != nil {
			t.Error(err)
		}
		got <- ws
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var waiting int
		must(t, d.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%UPDATE watches%'`).Scan(&waiting))
		if waiting > 0 {
			break // the renewal waits for the row, as it should
		}
		select {
		case ws := <-got:
			t.Fatalf("the renewal did not wait for the locked row; h1 now holds %d watches, want 1", len(ws))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the renewal neither waited nor returned")
		}
		time.Sleep(5 * time.Millisecond)
	}
	must(t, tx.Commit(ctx))
	if ws := <-got; len(ws) != 1 {
		t.Fatalf("after the lock was let go h1 holds %d watches, want 1", len(ws))
	}
}
