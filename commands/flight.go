package commands

import (
	"context"
	"sync"
	"time"

	"github.com/meetingbot/meetingbot/meetingapi"
)

// fetchTimeout bounds a shared token fetch. It runs detached from the
// context of the caller that started it, so that caller giving up does not
// fail the others waiting on the same fetch.
const fetchTimeout = 15 * time.Second

// flightGroup lets concurrent commands for one meeting share a single
// control-token fetch.
type flightGroup struct {
	mu      sync.Mutex
	flights map[string]*flight
}

type flight struct {
	done chan struct{}
	tok  meetingapi.Token
	err  error
}

func (g *flightGroup) do(ctx context.Context, key string, fn func(context.Context) (meetingapi.Token, error)) (meetingapi.Token, error) {
	g.mu.Lock()
	if g.flights == nil {
		g.flights = make(map[string]*flight)
	}
	f, ok := g.flights[key]
	if !ok {
		f = &flight{done: make(chan struct{})}
		g.flights[key] = f
		go func() {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
			defer cancel()
			f.tok, f.err = fn(fctx)
			g.mu.Lock()
			delete(g.flights, key)
			g.mu.Unlock()
			close(f.done)
		}()
	}
	g.mu.Unlock()
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
