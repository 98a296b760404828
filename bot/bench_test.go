package bot_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/bot/slacktest"
	_ "github.com/meetingbot/meetingbot/store/postgres"
	"github.com/meetingbot/meetingbot/store/postgres/pgtest"
)

// Benchmarks of the whole bot over the fakes. Run them without -race:
//
//	go test -run '^$' -bench . -benchtime 2000x ./bot/
//
// docs/BENCHMARKS.md has the figures and what they mean.

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p * float64(len(s)-1))
	return s[i]
}

func reportLatencies(b *testing.B, prefix string, d []time.Duration) {
	b.ReportMetric(float64(percentile(d, 0.50).Microseconds()), prefix+"-p50-µs")
	b.ReportMetric(float64(percentile(d, 0.99).Microseconds()), prefix+"-p99-µs")
}

// sampler collects durations from many goroutines.
type sampler struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sampler) add(d time.Duration) {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
}

// loop keeps `inFlight` senders busy, each sending a lock, waiting for its
// ack and then its reply, until b.N commands have been sent. It returns the
// ack latencies (as the fake Slack measured them) and the end-to-end
// latencies (envelope sent to reply received).
//
// Senders start `stagger` apart: with a fixed API latency, senders that
// start together stay in lockstep and turn a steady load into bursts.
func loop(b *testing.B, h *harness, inFlight int, stagger time.Duration) (acks, e2e []time.Duration) {
	var ackS, e2eS sampler
	var next sync.Mutex
	remaining := b.N
	take := func() bool {
		next.Lock()
		defer next.Unlock()
		if remaining == 0 {
			return false
		}
		remaining--
		return true
	}
	var wg sync.WaitGroup
	b.ResetTimer()
	for i := range inFlight {
		wg.Go(func() {
			time.Sleep(time.Duration(i) * stagger)
			for take() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				start := time.Now()
				id, err := h.slack.SendSlashCommand(ctx, slacktest.SlashCommand{ChannelID: "C1", UserID: "U1", Text: "lock"})
				if err != nil {
					b.Error(err)
					return
				}
				ack, err := h.slack.WaitAck(ctx, id)
				if err != nil {
					b.Error(err)
					return
				}
				msgs, err := h.slack.WaitMessages(ctx, id, 1)
				if err != nil {
					b.Error(err)
					return
				}
				if !strings.Contains(msgs[0].Text, "locked by") {
					b.Errorf("reply %q", msgs[0].Text)
					return
				}
				ackS.add(ack.Latency)
				e2eS.add(msgs[0].At.Sub(start))
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	return ackS.d, e2eS.d
}

// backendEnv set to "postgres" runs the benchmarks on a fresh PostgreSQL
// schema (store/postgres/pgtest) instead of a SQLite file, to compare the
// two backends:
//
//	MEETINGBOT_BENCH_BACKEND=postgres go test -run '^$' -bench . ./bot/
const backendEnv = "MEETINGBOT_BENCH_BACKEND"

// benchDB is the MEETINGBOT_DB of a benchmark's harness.
func benchDB(b *testing.B) string {
	if os.Getenv(backendEnv) == "postgres" {
		return pgtest.Schema(b)
	}
	return filepath.Join(b.TempDir(), "meetingbot.db")
}

func boundHarness(b *testing.B, opts ...harnessOption) *harness {
	h := newHarnessOn(b, benchDB(b), nil, append(opts, withoutRateLimits())...)
	h.reply(b, "C1", "U1", "bind 914083136 "+password)
	return h
}

// BenchmarkAckLatency measures how long the bot takes to acknowledge an
// envelope while 1 or 64 commands are in flight. Commands pile up in an
// incident because the meeting API is slow, so the fake API answers after
// 500 ms: at 64 senders about 64 commands are always waiting on it while
// new ones arrive (about 128 commands a second).
func BenchmarkAckLatency(b *testing.B) {
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("in-flight=%d", n), func(b *testing.B) {
			tap := newWireTap()
			h := boundHarness(b, withBot(tap.option))
			const apiLatency = 500 * time.Millisecond
			h.meetings.SetLatency(apiLatency)
			acks, _ := loop(b, h, n, apiLatency/time.Duration(n))
			reportLatencies(b, "ack-wire", tap.latencies())
			reportLatencies(b, "ack-at-fake", acks)
		})
	}
}

// BenchmarkAckLatencySaturated is the stress case: 64 senders in a closed
// loop against a 20 ms API drive both cores to 100 %, so acks wait for the
// scheduler. It shows how the ack path degrades past capacity.
func BenchmarkAckLatencySaturated(b *testing.B) {
	tap := newWireTap()
	h := boundHarness(b, withBot(tap.option))
	h.meetings.SetLatency(20 * time.Millisecond)
	acks, _ := loop(b, h, 64, 0)
	reportLatencies(b, "ack-wire", tap.latencies())
	reportLatencies(b, "ack-at-fake", acks)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
}

// BenchmarkEndToEnd measures from the envelope being sent to the in-channel
// confirmation arriving at the fake Slack, one command at a time, with the
// fake meeting API adding no latency of its own: the figure is the bot's
// overhead plus two loopback HTTP calls' worth of fake-server work.
func BenchmarkEndToEnd(b *testing.B) {
	h := boundHarness(b)
	_, e2e := loop(b, h, 1, 0)
	reportLatencies(b, "e2e", e2e)
}

// BenchmarkBurst1000 sends bursts of 1,000 commands from 64 senders and
// reports the process's peak resident set (bot, fakes and test harness
// together, so the bot alone is smaller). Run it on its own for a clean
// peak: go test -run '^$' -bench Burst -benchtime 1x ./bot/
func BenchmarkBurst1000(b *testing.B) {
	h := boundHarness(b)
	for range b.N {
		sub := &testing.B{N: 1000}
		acks, _ := loop(sub, h, 64, 0)
		if len(acks) != 1000 {
			b.Fatalf("%d of 1000 commands answered", len(acks))
		}
	}
	b.ReportMetric(peakRSSMiB(b), "peak-RSS-MiB")
}

func peakRSSMiB(b *testing.B) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Skip("no VmHWM")
	return 0
}
