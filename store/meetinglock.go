package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meetingbot/meetingbot/domain"
)

// MeetingMutex serialises work per conference within one process. The
// SQLite backend uses it for LockMeeting (one process owns a SQLite file);
// the PostgreSQL backend takes it before its cross-process lease, so a
// process holds at most one lease attempt per conference.
type MeetingMutex struct {
	mu    sync.Mutex
	slots map[domain.ConferenceID]*meetingSlot
	fence atomic.Int64
}

type meetingSlot struct {
	ch      chan struct{} // holds one token while locked
	waiters int
}

// NewMeetingMutex returns a mutex whose fences start above the current
// time in nanoseconds, so they keep growing across restarts.
func NewMeetingMutex() *MeetingMutex {
	m := &MeetingMutex{slots: map[domain.ConferenceID]*meetingSlot{}}
	m.fence.Store(time.Now().UnixNano())
	return m
}

// Above makes every fence from now on greater than f: the fences a
// database already holds, written by an earlier run whose clock was ahead
// of this one's (a host that booted before its clock was set, a file moved
// to another host).
func (m *MeetingMutex) Above(f int64) {
	for {
		cur := m.fence.Load()
		if cur >= f || m.fence.CompareAndSwap(cur, f) {
			return
		}
	}
}

// Lock waits until id is free or ctx ends, and returns a new fence and the
// function that frees it (safe to call more than once).
func (m *MeetingMutex) Lock(ctx context.Context, id domain.ConferenceID) (int64, func(), error) {
	if err := ctx.Err(); err != nil {
		return 0, nil, err
	}
	m.mu.Lock()
	s, ok := m.slots[id]
	if !ok {
		s = &meetingSlot{ch: make(chan struct{}, 1)}
		m.slots[id] = s
	}
	s.waiters++
	m.mu.Unlock()

	select {
	case s.ch <- struct{}{}:
	case <-ctx.Done():
		m.release(id, s, false)
		return 0, nil, ctx.Err()
	}
	var once sync.Once
	return m.fence.Add(1), func() { once.Do(func() { m.release(id, s, true) }) }, nil
}

func (m *MeetingMutex) release(id domain.ConferenceID, s *meetingSlot, held bool) {
	if held {
		<-s.ch
	}
	m.mu.Lock()
	s.waiters--
	if s.waiters == 0 {
		delete(m.slots, id)
	}
	m.mu.Unlock()
}
