package commands

import (
	"sync"

	"github.com/meetingbot/meetingbot/domain"
)

// flights coalesces identical control commands in flight for one meeting:
// a command that asks for exactly what the newest command submitted for
// that meeting is already doing waits for it instead of calling the meeting
// service again. Only the newest submitted command can be joined, so a lock
// typed after an unlock that is still queued is never folded into an
// earlier lock.
type flights struct {
	mu     sync.Mutex
	latest map[domain.ConferenceID]*flight
}

type flight struct {
	key    string
	leader string // who started it
	done   chan struct{}
	result controlResult
}

// start returns the flight to wait on, or a new flight that the caller
// leads (leader true) and must finish.
func (f *flights) start(id domain.ConferenceID, key, user string) (fl *flight, leader bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.latest == nil {
		f.latest = map[domain.ConferenceID]*flight{}
	}
	if cur := f.latest[id]; cur != nil && cur.key == key {
		select {
		case <-cur.done:
		default:
			return cur, false
		}
	}
	fl = &flight{key: key, leader: user, done: make(chan struct{})}
	f.latest[id] = fl
	return fl, true
}

// finish publishes the leader's result to whoever joined.
func (f *flights) finish(id domain.ConferenceID, fl *flight, r controlResult) {
	f.mu.Lock()
	fl.result = r
	close(fl.done)
	if f.latest[id] == fl {
		delete(f.latest, id)
	}
	f.mu.Unlock()
}
