package bot

import (
	"fmt"
	"testing"
	"time"
)

func TestTheDuplicateSetIsBoundedAndForgetsTheOldestFirst(t *testing.T) {
	t.Parallel()
	var s recentSet
	t0 := time.Unix(1_700_000_000, 0)
	id := func(i int) string { return fmt.Sprintf("env-%d", i) }
	const extra = 10
	for i := range recentMax + extra {
		if s.add(id(i), t0.Add(time.Duration(i)*time.Microsecond)) {
			t.Fatalf("%s reported as a duplicate on its first add", id(i))
		}
	}
	now := t0.Add(time.Second)
	// The newest recentMax IDs are remembered, including the ones added
	// just before and just after the set filled up.
	for _, i := range []int{recentMax + extra - 1, recentMax, recentMax - 1, extra} {
		if !s.add(id(i), now) {
			t.Errorf("%s, one of the newest %d, was forgotten", id(i), recentMax)
		}
	}
	// The oldest went first, to make room.
	if s.add(id(0), now) {
		t.Errorf("%s, the oldest, is still remembered past the bound", id(0))
	}
}

func TestTheDuplicateSetForgetsIDsAfterAnHour(t *testing.T) {
	t.Parallel()
	var s recentSet
	t0 := time.Unix(1_700_000_000, 0)
	s.add("old", t0)
	s.add("recent", t0.Add(30*time.Minute))
	later := t0.Add(recentTTL + time.Minute)
	if !s.add("recent", later) {
		t.Error("an ID seen 31 minutes ago was forgotten")
	}
	if s.add("old", later) {
		t.Error("an ID seen 61 minutes ago is still remembered")
	}
}

func TestTheDuplicateSetKeepsItsSizeWithinTheBound(t *testing.T) {
	t.Parallel()
	s := recentSet{max: 100}
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 1000 {
		s.add(fmt.Sprint(i), t0)
		if n := s.len(); n > 100 {
			t.Fatalf("%d IDs remembered, bound 100", n)
		}
	}
	if n, m := s.len(), len(s.ids); n != 100 || m != 100 {
		t.Fatalf("ring holds %d, map %d; want 100 each", n, m)
	}
	// Everything expires together an hour later, and the set starts over.
	s.add("fresh", t0.Add(recentTTL+time.Second))
	if n, m := s.len(), len(s.ids); n != 1 || m != 1 {
		t.Fatalf("after expiry the ring holds %d, the map %d; want 1 each", n, m)
	}
}

// BenchmarkRecentSetAdd shows that adding an envelope ID costs the same
// with 1,000 and 100,000 IDs remembered (run with -benchmem).
func BenchmarkRecentSetAdd(b *testing.B) {
	for _, live := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("live=%d", live), func(b *testing.B) {
			s := recentSet{max: live}
			t0 := time.Unix(1_700_000_000, 0)
			ids := make([]string, live+1<<16)
			for i := range ids {
				ids[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
			}
			for i := range live {
				s.add(ids[i], t0)
			}
			i := live
			for b.Loop() {
				// Each add evicts the oldest, so live IDs stay at live.
				s.add(ids[i%len(ids)], t0)
				i++
			}
		})
	}
}
