package storetest

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
)

// BenchOpener returns a fresh, empty backend for one benchmark. Bench
// closes it.
type BenchOpener func(b *testing.B) store.Backend

// benchMeetings is how many channels, each with its meeting, the
// benchmarks spread their work over.
const benchMeetings = 50

// Bench runs the store's hot-path benchmarks on backends from open, each
// once from one goroutine and once from 16 at a time (Parallel):
//
//   - Record: an audit record with a lock-state change, what a lock or
//     unlock writes;
//   - ClaimEnvelope: the first claim of a new envelope;
//   - LockCommand: the store's whole part in one lock command, as
//     commands runs it: claim the envelope, read the target, take the
//     meeting's lock and read its state (LockMeetingState), record,
//     unlock, finish.
func Bench(b *testing.B, open BenchOpener) {
	for _, bm := range []struct {
		name string
		op   func(ctx context.Context, st *store.Store, n int64) error
	}{
		{"Record", benchRecord},
		{"ClaimEnvelope", benchClaim},
		{"LockCommand", benchLockCommand},
	} {
		for _, parallel := range []bool{false, true} {
			name := bm.name
			if parallel {
				name += "/Parallel"
			}
			b.Run(name, func(b *testing.B) {
				st := benchStore(b, open)
				ctx := context.Background()
				var n atomic.Int64
				b.ReportAllocs()
				b.ResetTimer()
				if !parallel {
					for b.Loop() {
						if err := bm.op(ctx, st, n.Add(1)); err != nil {
							b.Fatal(err)
						}
					}
					return
				}
				procs := runtime.GOMAXPROCS(0)
				b.SetParallelism((16 + procs - 1) / procs) // 16 goroutines in all
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := bm.op(ctx, st, n.Add(1)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		}
	}
}

func benchStore(b *testing.B, open BenchOpener) *store.Store {
	b.Helper()
	backend := open(b)
	b.Cleanup(func() { backend.Close() })
	key, err := store.NewRandomKey()
	must(b, err)
	st, err := store.New(context.Background(), backend, key)
	must(b, err)
	for i := range benchMeetings {
		ch, id := benchMeeting(int64(i))
		must(b, st.Bind(context.Background(), bindReq(ch, id, secretPassword, u1)))
		must(b, st.PutToken(context.Background(), ch, id, secretToken, time.Now().Add(time.Hour)))
	}
	return st
}

func benchMeeting(n int64) (store.Channel, domain.ConferenceID) {
	i := n % benchMeetings
	return store.Channel{Team: "T1", ID: fmt.Sprintf("CBENCH%02d", i)}, domain.ConferenceID(fmt.Sprintf("9100000%02d", i))
}

func benchRecord(ctx context.Context, st *store.Store, n int64) error {
	ch, id := benchMeeting(n)
	state := domain.LockStateOf(n%2 == 0)
	return st.Record(ctx, store.AuditRecord{Channel: ch, UserID: "U1", Action: state.String(), ConferenceID: id, Outcome: store.OutcomeOK},
		&store.StateChange{ConferenceID: id, By: "U1", Lock: &state})
}

func benchClaim(ctx context.Context, st *store.Store, n int64) error {
	first, err := st.ClaimEnvelope(ctx, store.Claim{EnvelopeID: fmt.Sprint("bench-", n), Holder: "bench",
		LeaseUntil: time.Now().Add(time.Minute), Payload: []byte(`{"response_url":"https://hooks.slack.com/commands/T1/1/x"}`)})
	if err == nil && !first {
		err = fmt.Errorf("envelope %d was not first", n)
	}
	return err
}

func benchLockCommand(ctx context.Context, st *store.Store, n int64) error {
	ch, _ := benchMeeting(n)
	env := fmt.Sprint("lock-", n)
	if _, err := st.ClaimEnvelope(ctx, store.Claim{EnvelopeID: env, Holder: "bench", LeaseUntil: time.Now().Add(time.Minute),
		Payload: []byte(`{"response_url":"https://hooks.slack.com/commands/T1/1/x"}`)}); err != nil {
		return err
	}
	tg, err := st.Target(ctx, ch, "", "U1")
	if err != nil {
		return err
	}
	if !tg.IsController || tg.Token == "" {
		return fmt.Errorf("target %+v", tg)
	}
	fence, _, unlock, err := st.LockMeetingState(ctx, tg.Meeting.ConferenceID)
	if err != nil {
		return err
	}
	state := domain.LockStateOf(n%2 == 0)
	err = st.Record(ctx, store.AuditRecord{Channel: ch, UserID: "U1", Action: state.String(), ConferenceID: tg.Meeting.ConferenceID, Outcome: store.OutcomeOK},
		&store.StateChange{ConferenceID: tg.Meeting.ConferenceID, Fence: fence, By: "U1", Lock: &state})
	unlock()
	if err != nil {
		return err
	}
	return st.FinishEnvelope(ctx, env)
}
