package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Two *SQLite on one file stand in for two processes (or a restart overlapping
// the old instance): they share no Go locks, only SQLite's.
func TestFiftyGoroutinesOnTwoConnectionsWriteAtOnceWithoutErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, path, key := openTestStore(t)
	b := openAt(t, path, key)
	stores := []*SQLite{a, b}

	const workers = 50
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		errs  = make(chan error, workers*16)
		wins  atomic.Int32
	)
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[i%2]
			own := Channel{Team: "T1", ID: fmt.Sprintf("C%03d", i)}
			shared := Channel{Team: "T1", ID: "Cshared"}
			conf := fmt.Sprintf("9000%02d", i)
			report := func(what string, err error) {
				if err != nil {
					errs <- fmt.Errorf("worker %d: %s: %w", i, what, err)
				}
			}
			<-start

			first, err := s.ClaimEnvelope(ctx, "same-envelope", t0)
			report("claim shared", err)
			if first {
				wins.Add(1)
			}
			_, err = s.ClaimEnvelope(ctx, fmt.Sprintf("env-%d", i), t0)
			report("claim own", err)
			report("bind own", s.Bind(ctx, own, conf, "pw", fmt.Sprintf("U%d", i), t0))
			report("bind shared", s.Bind(ctx, shared, conf, "pw", fmt.Sprintf("U%d", i), t0))
			report("put token own", s.PutToken(ctx, own, conf, fmt.Sprintf("tok-%d", i), t0.Add(time.Hour)))
			report("put token shared", s.PutToken(ctx, shared, conf, fmt.Sprintf("tok-%d", i), t0.Add(time.Hour)))
			report("lock", s.SetLockState(ctx, own, conf, LockLocked, "U", t0))
			report("grant", s.Grant(ctx, shared, "Ushared", "U", t0))
			report("audit", s.Audit(ctx, AuditRecord{At: t0, Channel: shared, Action: "lock", Outcome: "ok"}))
			tok, _, err := s.Token(ctx, own, conf)
			report("token", err)
			if err == nil && tok != fmt.Sprintf("tok-%d", i) {
				errs <- fmt.Errorf("worker %d: read back token %q", i, tok)
			}
			_, err = s.Meetings(ctx, shared)
			report("meetings", err)
			_, err = s.DefaultMeeting(ctx, shared)
			report("default meeting", err)
			if i%5 == 0 {
				report("unbind shared", s.Unbind(ctx, shared, conf))
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := wins.Load(); n != 1 {
		t.Errorf("%d goroutines won the same envelope, want exactly 1", n)
	}

	ms, err := a.Meetings(ctx, Channel{Team: "T1", ID: "Cshared"})
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != workers-workers/5 {
		t.Errorf("shared channel has %d meetings, want %d", len(ms), workers-workers/5)
	}
	defaults := 0
	for _, m := range ms {
		if m.Default {
			defaults++
		}
	}
	if defaults != 1 {
		t.Errorf("shared channel has %d default meetings, want 1", defaults)
	}
	cs, err := b.Controllers(ctx, Channel{Team: "T1", ID: "Cshared"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != workers+1 {
		t.Errorf("shared channel has %d controllers, want %d", len(cs), workers+1)
	}
	h, err := a.History(ctx, Channel{Team: "T1", ID: "Cshared"}, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != MaxHistory {
		t.Errorf("History returned %d, want %d", len(h), MaxHistory)
	}
}

func TestOnlyOneOfManyConcurrentClaimersWinsEachEnvelope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, path, key := openTestStore(t)
	stores := []*SQLite{a, openAt(t, path, key), openAt(t, path, key)}

	const (
		envelopes = 20
		claimers  = 50
	)
	wins := make([]atomic.Int32, envelopes)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for e := range envelopes {
				id := fmt.Sprintf("Ev%03d", (e+c)%envelopes)
				first, err := stores[c%len(stores)].ClaimEnvelope(ctx, id, t0)
				if err != nil {
					t.Errorf("claimer %d: %v", c, err)
					return
				}
				if first {
					wins[(e+c)%envelopes].Add(1)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	for e := range envelopes {
		if n := wins[e].Load(); n != 1 {
			t.Errorf("envelope %d had %d winners, want 1", e, n)
		}
	}
}

func TestOpeningTheSameNewFileConcurrentlyAgreesOnOneKeyCheck(t *testing.T) {
	t.Parallel()
	key := mustKey(t)
	path := t.TempDir() + "/race.db"
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := OpenSQLite(context.Background(), path, key)
			if err != nil {
				t.Errorf("concurrent OpenSQLite: %v", err)
				return
			}
			s.Close()
		}()
	}
	wg.Wait()
}
