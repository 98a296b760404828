// Package watch posts join alerts: while a meeting is watched, the bot
// follows the meeting's event socket and tells the channel who just joined,
// with buttons to remove them, lock the meeting or send them to the waiting
// room. It also records the lock state the meeting service reports, so
// status and the buttons use the real state while a meeting is watched.
//
// Watches are stored (store.Watch) and held under a lease: each process
// runs a Runner, which claims the watches nobody holds, renews its own, and
// follows each watched meeting with one socket, posting to every channel
// that watches it. When a process dies, its leases run out and another
// takes its watches over within a claim period plus a lease.
package watch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/store"
)

// Poster posts in a channel as the bot (chat.postMessage: the bot must be
// a member).
type Poster interface {
	Post(ctx context.Context, channel string, r commands.Reply) error
}

// Meetings follows a meeting's event socket (meetingapi.Client.Watch).
type Meetings interface {
	Watch(ctx context.Context, id domain.ConferenceID, tokens meetingapi.TokenSource, opts meetingapi.WatchOptions, handle func(meetingapi.Event)) error
}

// Tokens gives a watch live control tokens and keeps them alive while it
// runs (commands.Service).
type Tokens interface {
	WatchToken(ctx context.Context, ch domain.Channel, id domain.ConferenceID, rejected domain.Token) (meetingapi.ControlToken, error)
	MarkInUse(ch domain.Channel, id domain.ConferenceID)
}

// Store keeps the watches and the state the meeting reports.
type Store interface {
	store.Watches
	ApplyState(ctx context.Context, change store.StateChange) error
}

// Metrics receives how many meetings this process follows.
type Metrics interface{ WatchedMeetings(n int) }

// Config wires a Runner.
type Config struct {
	Meetings Meetings
	Tokens   Tokens
	Store    Store
	Poster   Poster
	// IsNotInChannel reports whether a Post error says the bot is not a
	// member of the channel.
	IsNotInChannel func(error) bool
	// Holder names this process in the watches' leases.
	Holder string
	// Lease is how long a watch stays with a process that stops renewing
	// it (default 30 s); ClaimEvery is how often leases are renewed and
	// free watches claimed (default 10 s). A dead process's watches move
	// within Lease + ClaimEvery.
	Lease, ClaimEvery time.Duration
	// Gather is how long joins gather into one alert (default 1 s): the
	// first join after a quiet spell is posted within it, and a burst
	// becomes a few messages, not one each.
	Gather time.Duration
	// QuietAlarm: the channel is told when the socket could not be
	// reopened for this long (default 1 minute), and again when it is.
	QuietAlarm time.Duration
	// MarkInUseEvery is how often a followed meeting is marked in use, so
	// the keep-alive keeps its control token fresh for a reconnect
	// (default 10 minutes, a third of the keep-alive's window).
	MarkInUseEvery time.Duration
	// Socket tunes the event socket (heartbeat, backoff).
	Socket  meetingapi.WatchOptions
	Command string // the slash command, for messages
	Logger  zerolog.Logger
	Metrics Metrics
}

// Runner follows the watched meetings this process holds. It implements
// commands.Watches.
type Runner struct {
	cfg  Config
	log  zerolog.Logger
	kick chan struct{}
	// leaseEnds is when the leases of the last successful claim run out
	// (read and written by Run's goroutine only).
	leaseEnds time.Time

	mu        sync.Mutex
	followers map[domain.ConferenceID]*follower
	running   bool
}

var _ commands.Watches = (*Runner)(nil)

// New validates cfg and returns a Runner; Run starts it.
func New(cfg Config) (*Runner, error) {
	if cfg.Meetings == nil || cfg.Tokens == nil || cfg.Store == nil || cfg.Poster == nil || cfg.Holder == "" {
		return nil, errors.New("watch: Meetings, Tokens, Store, Poster and Holder are required")
	}
	if cfg.IsNotInChannel == nil {
		cfg.IsNotInChannel = func(error) bool { return false }
	}
	cfg.Lease = cmp.Or(cfg.Lease, 30*time.Second)
	cfg.ClaimEvery = cmp.Or(cfg.ClaimEvery, 10*time.Second)
	cfg.Gather = cmp.Or(cfg.Gather, time.Second)
	cfg.QuietAlarm = cmp.Or(cfg.QuietAlarm, time.Minute)
	cfg.MarkInUseEvery = cmp.Or(cfg.MarkInUseEvery, 10*time.Minute)
	cfg.Command = cmp.Or(cfg.Command, "/meeting")
	return &Runner{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), followers: map[domain.ConferenceID]*follower{}}, nil
}

// Run claims and follows watches until ctx ends, then stops following and
// gives its leases up, so another process takes them at once.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	r.running = true
	r.mu.Unlock()
	t := time.NewTicker(r.cfg.ClaimEvery)
	defer t.Stop()
	for {
		r.claim(ctx)
		select {
		case <-ctx.Done():
			r.stopAll()
			return nil
		case <-t.C:
		case <-r.kick:
		}
	}
}

// claim renews and takes leases, and makes the followers match them.
func (r *Runner) claim(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, r.cfg.ClaimEvery)
	defer cancel()
	now := time.Now()
	ws, err := r.cfg.Store.ClaimWatches(cctx, r.cfg.Holder, now, now.Add(r.cfg.Lease))
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn().Err(err).Msg("could not claim watches; the ones followed keep running until their lease ends")
		}
		// Past the end of its leases another process may follow these
		// meetings: stop before then, or every join is posted twice.
		if !r.leaseEnds.IsZero() && !time.Now().Before(r.leaseEnds.Add(-r.cfg.ClaimEvery)) {
			if r.stopFollowing() > 0 {
				r.log.Warn().Msg("stopped following meetings: their leases could not be renewed")
			}
		}
		return
	}
	r.leaseEnds = now.Add(r.cfg.Lease)
	want := map[domain.ConferenceID][]store.Watch{}
	for _, w := range ws {
		want[w.ConferenceID] = append(want[w.ConferenceID], w)
	}
	var stopping []*follower
	r.mu.Lock()
	for id, f := range r.followers {
		if _, ok := want[id]; !ok || f.finished() {
			stopping = append(stopping, f)
			delete(r.followers, id)
		} else if f.over() && !f.follows(want[id]) {
			// Its meeting ended and it is still ending its watches, but a
			// watch was started again since: that one gets a follower of
			// its own, and this one finishes on its own.
			delete(r.followers, id)
		}
	}
	for id, ws := range want {
		f := r.followers[id]
		if f == nil {
			f = newFollower(r, id)
			f.setChannels(ws) // before it asks for a token through them
			r.followers[id] = f
			go f.run(ctx)
			continue
		}
		f.setChannels(ws)
	}
	n := len(r.followers)
	r.mu.Unlock()
	// Stopped outside the lock: a follower may take a while to close its
	// socket, and Live (asked by status and by every button) must not wait.
	for _, f := range stopping {
		f.stop()
	}
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.WatchedMeetings(n)
	}
}

// stopAll stops following at shutdown and gives the leases up, so another
// process takes them at once.
func (r *Runner) stopAll() {
	r.mu.Lock()
	fs := r.followers
	r.followers = map[domain.ConferenceID]*follower{}
	r.running = false
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, f := range fs {
		f.stop()
		for _, w := range f.channels() {
			_ = r.cfg.Store.ReleaseWatch(ctx, w.Channel, w.ConferenceID, r.cfg.Holder)
		}
	}
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.WatchedMeetings(0)
	}
}

// stopFollowing stops every follower and keeps running: the next claim
// that works starts them again. It says how many it stopped.
func (r *Runner) stopFollowing() int {
	r.mu.Lock()
	fs := r.followers
	r.followers = map[domain.ConferenceID]*follower{}
	r.mu.Unlock()
	for _, f := range fs {
		f.stop()
	}
	if r.cfg.Metrics != nil {
		r.cfg.Metrics.WatchedMeetings(0)
	}
	return len(fs)
}

func (r *Runner) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Start turns on join alerts for a meeting in a channel. It first posts the
// channel's first line, which is how it learns whether the bot may post
// there at all; if not, nothing is stored and the error's reply says how to
// invite the bot.
func (r *Runner) Start(ctx context.Context, w commands.WatchRequest) error {
	err := r.cfg.Poster.Post(ctx, w.Channel.ID, commands.Reply{Visibility: commands.InChannel,
		Text:    fmt.Sprintf(":eyes: %s turned on join alerts for meeting %s: meetingbot posts here when someone joins.", mention(w.By), w.ConferenceID),
		Details: []string{fmt.Sprintf("People who sign in from another organisation, or without signing in, are marked. `%s unwatch` turns it off.", r.cfg.Command)}})
	if err != nil {
		if r.cfg.IsNotInChannel(err) {
			return &commands.WatchError{Reply: commands.Reply{Visibility: commands.Ephemeral, Outcome: commands.OutcomeRefused,
				Text:    ":information_source: meetingbot is not a member of this channel, so it cannot post join alerts here.",
				Details: []string{fmt.Sprintf("Invite it with `/invite @meetingbot`, then run `%s watch` again.", r.cfg.Command)}}}
		}
		return err
	}
	if err := r.cfg.Store.PutWatch(ctx, store.Watch{Channel: w.Channel, ConferenceID: w.ConferenceID, StartedBy: w.By}); err != nil {
		return err
	}
	r.wake()
	return nil
}

// Stop turns off join alerts for a meeting in a channel.
func (r *Runner) Stop(ctx context.Context, ch domain.Channel, id domain.ConferenceID) error {
	err := r.cfg.Store.DeleteWatch(ctx, ch, id)
	if errors.Is(err, store.ErrNotFound) {
		return &commands.WatchError{Reply: commands.Reply{Visibility: commands.Ephemeral, Outcome: commands.OutcomeRefused,
			Text: fmt.Sprintf(":information_source: Join alerts for meeting %s are not on in this channel.", id)}}
	}
	if err != nil {
		return err
	}
	r.wake()
	return nil
}

// Live reports whether this process follows id with a working socket, so
// the state the meeting reported can be trusted.
func (r *Runner) Live(id domain.ConferenceID) bool {
	r.mu.Lock()
	f := r.followers[id]
	r.mu.Unlock()
	return f != nil && f.isLive()
}

func mention(user string) string { return "<@" + user + ">" }

// sortedWatches orders a meeting's watches by channel, so the token comes
// from the same binding every time.
func sortedWatches(ws []store.Watch) []store.Watch {
	out := append([]store.Watch(nil), ws...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Channel.Team != out[j].Channel.Team {
			return out[i].Channel.Team < out[j].Channel.Team
		}
		return out[i].Channel.ID < out[j].Channel.ID
	})
	return out
}
