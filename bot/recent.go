package bot

import (
	"sync"
	"time"
)

// recentSet remembers the envelope IDs of the last hour, in memory, so a
// redelivery to the same process is caught before the ack, without I/O.
// The store's claim is what makes an envelope act once across connections,
// restarts and replicas; this set only spares it the obvious repeats.
//
// IDs arrive in time order, so a FIFO of (ID, time) is also an expiry
// queue: each add first drops the expired IDs at the front, then appends.
// Every add is O(1) amortised, and the set never holds more than max IDs
// (the oldest go first when it is full).
type recentSet struct {
	mu   sync.Mutex
	max  int // 0 means recentMax
	ids  map[string]struct{}
	fifo []recentEntry // a ring: n entries starting at head
	head int
	n    int
}

type recentEntry struct {
	id string
	at time.Time
}

const (
	recentTTL = time.Hour
	// recentMax bounds the memory (about 12 MB at 100,000 UUIDs); that is
	// 28 envelopes a second for a whole hour.
	recentMax = 100_000
)

// add records id and reports whether it was already there.
func (s *recentSet) add(id string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = make(map[string]struct{})
	}
	for s.n > 0 && now.Sub(s.fifo[s.head].at) > recentTTL {
		s.dropOldest()
	}
	if _, ok := s.ids[id]; ok {
		return true
	}
	limit := s.max
	if limit == 0 {
		limit = recentMax
	}
	if s.n >= limit {
		s.dropOldest()
	}
	if s.n == len(s.fifo) {
		s.grow(limit)
	}
	s.fifo[(s.head+s.n)%len(s.fifo)] = recentEntry{id: id, at: now}
	s.n++
	s.ids[id] = struct{}{}
	return false
}

func (s *recentSet) dropOldest() {
	e := &s.fifo[s.head]
	delete(s.ids, e.id)
	*e = recentEntry{}
	s.head = (s.head + 1) % len(s.fifo)
	s.n--
}

// grow doubles the ring, up to limit, keeping the order.
func (s *recentSet) grow(limit int) {
	size := min(max(2*len(s.fifo), 64), limit)
	fifo := make([]recentEntry, size)
	for i := range s.n {
		fifo[i] = s.fifo[(s.head+i)%len(s.fifo)]
	}
	s.fifo, s.head = fifo, 0
}

// len is the number of IDs remembered.
func (s *recentSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
