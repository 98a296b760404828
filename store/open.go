package store

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Opener opens a backend from MEETINGBOT_DB's value.
type Opener func(ctx context.Context, dsn string, o Options) (Backend, error)

// Options tune how a backend is opened. The zero value takes every default.
type Options struct {
	// MeetingLease is how long a process's hold on a meeting (LockMeeting)
	// lasts without renewal on a backend that several processes share: how
	// long a meeting stays blocked after the process holding it dies. Zero
	// is the backend's default; a backend of one process ignores it.
	MeetingLease time.Duration
}

// OpenOption sets one of the Options.
type OpenOption func(*Options)

// WithMeetingLease sets Options.MeetingLease.
func WithMeetingLease(d time.Duration) OpenOption {
	return func(o *Options) { o.MeetingLease = d }
}

var (
	registryMu sync.Mutex
	registry   = map[string]Opener{}
)

// Register makes a backend available to Open under a kind: "sqlite" for
// file paths, "postgres" for postgres:// and postgresql:// URLs. Backends
// call it from init, as database/sql drivers do; the program imports them
// for that effect.
func Register(kind string, open Opener) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("store: backend " + kind + " registered twice")
	}
	registry[kind] = open
}

// Kind says which backend a MEETINGBOT_DB value selects: "postgres" for a
// postgres:// or postgresql:// URL, else "sqlite".
func Kind(dsn string) string {
	lower := strings.ToLower(strings.TrimSpace(dsn))
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		return "postgres"
	}
	return "sqlite"
}

// Open opens the database MEETINGBOT_DB names, applies its migrations and
// checks key against it (see New).
func Open(ctx context.Context, dsn string, key Key, opts ...OpenOption) (*Store, error) {
	if key.IsZero() {
		return nil, fmt.Errorf("store: open: %w: MEETINGBOT_SECRET_KEY is not set", ErrInvalid)
	}
	if strings.TrimSpace(dsn) == "" {
		return nil, fmt.Errorf("store: open: %w: the database path is empty", ErrInvalid)
	}
	kind := Kind(dsn)
	registryMu.Lock()
	open, ok := registry[kind]
	kinds := make([]string, 0, len(registry))
	for k := range registry {
		kinds = append(kinds, k)
	}
	registryMu.Unlock()
	if !ok {
		sort.Strings(kinds)
		return nil, fmt.Errorf("store: open: this build has no %s backend (it has: %s)", kind, strings.Join(kinds, ", "))
	}
	var o Options
	for _, opt := range opts {
		opt(&o)
	}
	b, err := open(ctx, dsn, o)
	if err != nil {
		return nil, err
	}
	s, err := New(ctx, b, key)
	if err != nil {
		b.Close() //nolint:errcheck // already failing
		return nil, err
	}
	return s, nil
}
