package watch_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
	_ "github.com/meetingbot/meetingbot/store/postgres"
	"github.com/meetingbot/meetingbot/store/postgres/pgtest"
)

var errDead = errors.New("this replica is dead")

// dyingStore is a replica's store until kill: after that every call fails,
// as the database calls of a process that was killed never happen, so the
// replica cannot give its lease up.
type dyingStore struct {
	*store.Store
	dead atomic.Bool
}

func (d *dyingStore) kill() { d.dead.Store(true) }

func (d *dyingStore) PutWatch(ctx context.Context, w store.Watch) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Store.PutWatch(ctx, w)
}

func (d *dyingStore) DeleteWatch(ctx context.Context, ch store.Channel, id domain.ConferenceID) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Store.DeleteWatch(ctx, ch, id)
}

func (d *dyingStore) EndWatch(ctx context.Context, w store.Watch) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Store.EndWatch(ctx, w)
}

func (d *dyingStore) ClaimWatches(ctx context.Context, holder string, now, until time.Time) ([]store.Watch, error) {
	if d.dead.Load() {
		return nil, errDead
	}
	return d.Store.ClaimWatches(ctx, holder, now, until)
}

func (d *dyingStore) ReleaseWatch(ctx context.Context, ch store.Channel, id domain.ConferenceID, holder string) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Store.ReleaseWatch(ctx, ch, id, holder)
}

func (d *dyingStore) ApplyState(ctx context.Context, change store.StateChange) error {
	if d.dead.Load() {
		return errDead
	}
	return d.Store.ApplyState(ctx, change)
}

// A replica that dies cannot give its lease up: the watch waits for the
// lease to run out, then one other replica follows the meeting, without
// announcing again the people who were already in.
func TestADeadReplicasWatchIsTakenOverWhenItsLeaseRunsOut(t *testing.T) {
	t.Parallel()
	for _, backend := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "bot.db") }},
		{"postgres", func(t *testing.T) string { return pgtest.Schema(t) }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			t.Parallel()
			f := newFixtureOn(t, backend.dsn(t))
			dying := &dyingStore{Store: f.openStore(t)}
			r1, stop1 := f.start(t, "replica-1", dying, 300*time.Millisecond)
			if err := r1.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "replica-1 to follow", func() bool { return r1.Live(meetingID) })
			f.join(t, meetingapitest.Person{Name: "Alice", Anonymous: true})
			f.posts.waitFor(t, "Alice's alert", func(ps []posted) bool { return strings.Contains(texts(alerts(ps)), "Alice") })

			r2, _ := f.start(t, "replica-2", f.openStore(t), 300*time.Millisecond)
			killed := time.Now()
			dying.kill()
			stop1() // its socket goes with the process; its lease stays
			if err := f.store.ReleaseWatch(t.Context(), general, meetingID, "replica-2"); err != nil {
				t.Fatal(err) // releasing someone else's lease must change nothing
			}
			waitUntil(t, "replica-2 to take over", func() bool { return r2.Live(meetingID) })
			// The fixture's lease is 2 s: an earlier takeover would mean the
			// dead replica's lease was not respected.
			waited := time.Since(killed)
			if waited < time.Second {
				t.Errorf("replica-2 took the watch %v after the kill, before the lease ran out", waited)
			}
			t.Logf("replica-2 follows the meeting %v after the kill (lease 2 s, claims every 200 ms)", waited.Round(time.Millisecond))
			if n := f.fake.Sockets(string(meetingID)); n != 1 {
				t.Errorf("%d sockets follow the meeting after the takeover, want 1", n)
			}

			f.join(t, meetingapitest.Person{Name: "Carol", Anonymous: true})
			ps := f.posts.waitFor(t, "Carol's alert", func(ps []posted) bool { return strings.Contains(texts(alerts(ps)), "Carol") })
			if n := strings.Count(texts(alerts(ps)), "Alice"); n != 1 {
				t.Errorf("Alice was announced %d times, want once:\n%s", n, texts(ps))
			}
		})
	}
}

// A watch can run for hours: the meeting stays marked in use while it is
// followed, so the keep-alive keeps its control token fresh for the next
// reconnect, long after the last command.
func TestAFollowedMeetingsTokenIsKeptAlive(t *testing.T) {
	t.Parallel()
	f := newFixtureOn(t, filepath.Join(t.TempDir(), "bot.db"), meetingapitest.WithTokenLifetime(3*time.Hour))
	r, _ := f.runner(t, "h1", f.store)
	if err := r.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a live socket", func() bool { return r.Live(meetingID) })

	// 40 minutes on, the bind and the watch's token fetch are past the
	// keep-alive's 30-minute window: only the watch's marks keep the
	// meeting in it.
	f.ahead.Store(int64(40 * time.Minute))
	f.fake.ResetCalls()
	waitUntil(t, "the token to be kept alive", func() bool { return f.svc.KeepTokensAlive(t.Context(), 3*time.Hour) == 1 })
	if n := f.fake.CallCount(meetingapitest.EndpointToken); n == 0 {
		t.Fatal("the keep-alive reported a refresh the meeting service never saw")
	}
	for _, c := range f.fake.Calls() {
		if c.Header.Get("X-Password") != "" {
			t.Fatal("the keep-alive sent the host password; it must use the token")
		}
	}
}

// A replica that cannot reach the database keeps running, but cannot renew
// its leases: it stops following before they end, so that the replica
// taking over is the only one posting.
func TestAReplicaThatCannotRenewItsLeasesStopsFollowing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cut := &dyingStore{Store: f.openStore(t)}
	r1, _ := f.start(t, "replica-1", cut, 300*time.Millisecond)
	if err := r1.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "replica-1 to follow", func() bool { return r1.Live(meetingID) })
	r2, _ := f.start(t, "replica-2", f.openStore(t), 300*time.Millisecond)
	cut.kill() // replica-1 runs on, without its database
	waitUntil(t, "replica-2 to take over and replica-1 to stop", func() bool {
		return r2.Live(meetingID) && !r1.Live(meetingID) && f.fake.Sockets(string(meetingID)) == 1
	})
	f.join(t, meetingapitest.Person{Name: "Carol", Anonymous: true})
	ps := f.posts.waitFor(t, "Carol's alert", func(ps []posted) bool { return strings.Contains(texts(alerts(ps)), "Carol") })
	if n := strings.Count(texts(alerts(ps)), "Carol"); n != 1 {
		t.Errorf("Carol was announced %d times, want once", n)
	}
}
