package watch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/store"
)

// maxAlertRows is how many people of one alert get their own buttons.
const maxAlertRows = 10

// follower follows one meeting's event socket for every channel that
// watches it.
type follower struct {
	r      *Runner
	id     domain.ConferenceID
	log    zerolog.Logger
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	watches []store.Watch
	// live: the socket is subscribed and has reported the meeting's state
	// since, so every change from now on is recorded.
	live        bool
	socketUp    bool
	session     int // the socket's connection count, from EventConnected
	hostOrg     string
	known       map[string]bool // pids already in the meeting or announced
	pending     []meetingapi.Participant
	gather      *time.Timer
	downSince   time.Time
	alarm       *time.Timer
	alarmed     bool
	conf        meetingapi.ConfState
	confKnown   bool
	waitingRoom bool
	ended       bool
}

func newFollower(r *Runner, id domain.ConferenceID) *follower {
	return &follower{r: r, id: id, log: r.log.With().Str("conference_id", string(id)).Logger(),
		done: make(chan struct{}), known: map[string]bool{}}
}

func (f *follower) setChannels(ws []store.Watch) {
	f.mu.Lock()
	f.watches = sortedWatches(ws)
	f.mu.Unlock()
}

func (f *follower) channels() []store.Watch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]store.Watch(nil), f.watches...)
}

func (f *follower) isLive() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.live
}

// follows reports whether every watch in ws is one the follower already
// follows, as it was started.
func (f *follower) follows(ws []store.Watch) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range ws {
		if !slices.ContainsFunc(f.watches, func(mine store.Watch) bool {
			return mine.Channel == w.Channel && mine.StartedAt.Equal(w.StartedAt)
		}) {
			return false
		}
	}
	return true
}

// over reports whether the follower has seen its meeting end: it is
// finishing, and a watch started again needs a follower of its own.
func (f *follower) over() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ended
}

func (f *follower) finished() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

func (f *follower) stop() {
	f.mu.Lock()
	cancel := f.cancel
	f.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	<-f.done
}

func (f *follower) run(parent context.Context) {
	ctx, cancel := context.WithCancel(parent)
	f.mu.Lock()
	f.cancel = cancel
	f.mu.Unlock()
	defer close(f.done)
	defer cancel()
	defer f.stopTimers()
	go f.keepTokenAlive(ctx)
	err := f.r.cfg.Meetings.Watch(ctx, f.id, f.token, f.r.cfg.Socket, f.handle)
	if err != nil && ctx.Err() == nil {
		f.log.Error().Err(err).Msg("the meeting's event socket cannot be followed")
	}
}

// keepTokenAlive marks the meeting in use while it is followed, so the
// service's keep-alive keeps its control token fresh for a reconnect.
func (f *follower) keepTokenAlive(ctx context.Context) {
	t := time.NewTicker(f.r.cfg.MarkInUseEvery)
	defer t.Stop()
	for {
		if ws := f.channels(); len(ws) > 0 {
			f.r.cfg.Tokens.MarkInUse(ws[0].Channel, f.id)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// token gives the socket a control token through the first channel's
// binding, and remembers the host's organisation to tell strangers by.
func (f *follower) token(ctx context.Context, rejected domain.Token) (meetingapi.ControlToken, error) {
	ws := f.channels()
	if len(ws) == 0 {
		return meetingapi.ControlToken{}, errors.New("watch: no channel watches this meeting any more")
	}
	ct, err := f.r.cfg.Tokens.WatchToken(ctx, ws[0].Channel, f.id, rejected)
	if err == nil {
		f.mu.Lock()
		f.hostOrg = ct.OrgID
		f.mu.Unlock()
	}
	return ct, err
}

func (f *follower) stopTimers() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.live, f.socketUp = false, false
	if f.gather != nil {
		f.gather.Stop()
	}
	if f.alarm != nil {
		f.alarm.Stop()
	}
}

// handle runs on the socket's goroutine: it only updates state and starts
// timers; posting happens elsewhere.
func (f *follower) handle(e meetingapi.Event) {
	switch e.Kind {
	case meetingapi.EventConnected:
		f.connected(e.Attempt)
	case meetingapi.EventSnapshot:
		// The first list is who was in before the watch began: not
		// announced. After a reconnect, whoever joined while the socket was
		// down comes as a resync join, and is announced then.
		f.mu.Lock()
		if f.session <= 1 {
			for _, p := range e.Participants {
				f.known[p.PID] = true
			}
		}
		f.mu.Unlock()
	case meetingapi.EventJoined:
		f.joined(e.Participant)
	case meetingapi.EventLeft:
		f.mu.Lock()
		delete(f.known, e.Participant.PID)
		f.mu.Unlock()
	case meetingapi.EventConf:
		f.confChanged(e.Conf)
	case meetingapi.EventReconnecting:
		f.disconnected()
	case meetingapi.EventEnded:
		f.meetingEnded()
	}
}

func (f *follower) connected(session int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.socketUp, f.session = true, session
	if f.alarm != nil {
		f.alarm.Stop()
		f.alarm = nil
	}
	if f.alarmed {
		f.alarmed = false
		go f.postAll(commands.Reply{Visibility: commands.InChannel,
			Text: fmt.Sprintf(":white_check_mark: meetingbot follows meeting %s again; joins are posted here as before.", f.id)})
	}
	f.downSince = time.Time{}
}

func (f *follower) disconnected() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.live, f.socketUp = false, false
	if !f.downSince.IsZero() {
		return
	}
	f.downSince = time.Now()
	f.alarm = time.AfterFunc(f.r.cfg.QuietAlarm, func() {
		f.mu.Lock()
		if f.live || f.alarmed || f.ended {
			f.mu.Unlock()
			return
		}
		f.alarmed = true
		f.mu.Unlock()
		f.postAll(commands.Reply{Visibility: commands.InChannel,
			Text: fmt.Sprintf(":warning: meetingbot has lost the connection to meeting %s's events for a minute and keeps trying. Until it is back, joins are not posted; `%s who` shows who is in.", f.id, f.r.cfg.Command)})
	})
}

func (f *follower) joined(p meetingapi.Participant) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.known[p.PID] {
		return // already in, or already announced (a resync after a drop)
	}
	f.known[p.PID] = true
	f.pending = append(f.pending, p)
	if f.gather == nil {
		f.gather = time.AfterFunc(f.r.cfg.Gather, f.flush)
	}
}

// flush posts the joins gathered since the first one.
func (f *follower) flush() {
	f.mu.Lock()
	people := f.pending
	f.pending = nil
	f.gather = nil
	hostOrg, waitingRoom := f.hostOrg, f.waitingRoom
	f.mu.Unlock()
	if len(people) == 0 {
		return
	}
	f.postAll(alert(f.id, people, hostOrg, waitingRoom, time.Now()))
}

func (f *follower) confChanged(c meetingapi.ConfState) {
	f.mu.Lock()
	prev, known := f.conf, f.confKnown
	f.conf, f.confKnown = c, true
	f.waitingRoom = c.WaitingRoom
	live := f.socketUp
	f.mu.Unlock()
	defer func() {
		// Live once the state is recorded: a stale check may trust it.
		f.mu.Lock()
		f.live = live && f.socketUp
		f.mu.Unlock()
	}()
	change := store.StateChange{ConferenceID: f.id, LockSource: store.SourceMeeting}
	changed := false
	if !known || prev.Locked != c.Locked {
		st := domain.LockStateOf(c.Locked)
		change.Lock, changed = &st, true
	}
	if !c.EndTime.IsZero() && (!known || !prev.EndTime.Equal(c.EndTime)) {
		end := c.EndTime
		change.ScheduledEnd, changed = &end, true
	}
	if !changed {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.r.cfg.Store.ApplyState(ctx, change); err != nil {
		f.log.Warn().Err(err).Msg("could not record the state the meeting reported")
	}
}

// meetingEnded tells every watching channel, once, and ends the watches.
func (f *follower) meetingEnded() {
	f.mu.Lock()
	if f.ended {
		f.mu.Unlock()
		return
	}
	f.ended, f.live, f.socketUp = true, false, false
	f.mu.Unlock()
	f.flush()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.r.cfg.Store.ApplyState(ctx, store.StateChange{ConferenceID: f.id, Ended: true}); err != nil {
		f.log.Warn().Err(err).Msg("could not record that the meeting ended")
	}
	// Each watch ends before its channel is told, so a watch turned on again
	// after the closing line is never the one removed; EndWatch also spares
	// one turned on again meanwhile.
	for _, w := range f.channels() {
		err := f.r.cfg.Store.EndWatch(ctx, w)
		if errors.Is(err, store.ErrNotFound) {
			continue // turned off, or on again, meanwhile: nothing ended there
		}
		if err != nil {
			f.log.Warn().Err(err).Msg("could not end the watch of an ended meeting")
		}
		f.post(ctx, w.Channel.ID, commands.Reply{Visibility: commands.InChannel,
			Text: fmt.Sprintf(":checkered_flag: Meeting %s has ended, so its join alerts are off.", f.id)})
	}
	f.r.wake()
}

func (f *follower) postAll(r commands.Reply) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, w := range f.channels() {
		f.post(ctx, w.Channel.ID, r)
	}
}

func (f *follower) post(ctx context.Context, channel string, r commands.Reply) {
	err := f.r.cfg.Poster.Post(ctx, channel, r)
	if err == nil {
		return
	}
	if !f.r.cfg.IsNotInChannel(err) {
		f.log.Warn().Err(err).Str("channel", channel).Msg("could not post a join alert")
		return
	}
	// The bot was removed from the channel: nobody there can be told, so
	// the watch there ends and the person who started it hears why.
	for _, w := range f.channels() {
		if w.Channel.ID != channel {
			continue
		}
		f.log.Warn().Str("channel", channel).Msg("the bot is no longer in a watching channel; ending that watch")
		if err := f.r.cfg.Store.DeleteWatch(ctx, w.Channel, f.id); err != nil && !errors.Is(err, store.ErrNotFound) {
			f.log.Warn().Err(err).Msg("could not end the watch")
		}
		_ = f.r.cfg.Poster.Post(ctx, w.StartedBy, commands.Reply{Visibility: commands.InChannel,
			Text: fmt.Sprintf(":warning: meetingbot is no longer a member of <#%s>, so the join alerts for meeting %s you turned on there are off. Invite it back with `/invite @meetingbot` and run `%s watch` again.",
				channel, f.id, f.r.cfg.Command)})
		f.r.wake()
	}
}

// alert is the message for people who just joined: who, when, strangers
// marked, with Remove (and Waiting room) for each and Lock for the meeting.
func alert(id domain.ConferenceID, people []meetingapi.Participant, hostOrg string, waitingRoom bool, now time.Time) commands.Reply {
	strangers := 0
	for _, p := range people {
		if p.Stranger(hostOrg) {
			strangers++
		}
	}
	var head string
	switch {
	case len(people) == 1 && strangers == 1:
		head = fmt.Sprintf(":rotating_light: A stranger joined meeting %s at %s:", id, clock(now))
	case len(people) == 1:
		head = fmt.Sprintf(":bust_in_silhouette: Someone joined meeting %s at %s:", id, clock(now))
	case strangers > 0:
		head = fmt.Sprintf(":rotating_light: %d people joined meeting %s by %s, %d of them %s:", len(people), id, clock(now), strangers, plural(strangers, "a stranger", "strangers"))
	default:
		head = fmt.Sprintf(":busts_in_silhouette: %d people joined meeting %s by %s:", len(people), id, clock(now))
	}
	r := commands.Reply{Visibility: commands.InChannel, Text: head}
	var rest []string // past the rows with buttons: one last row, in order
	for i, p := range people {
		line := describe(p, hostOrg)
		if i >= maxAlertRows {
			rest = append(rest, line)
			continue
		}
		row := commands.Row{Text: line, Actions: []commands.Action{{ID: commands.ActionRemove, Label: "Remove", Value: commands.PersonValue(id, p.PID), Danger: true,
			Confirm: &commands.Confirm{Title: "Remove them?", Text: fmt.Sprintf("%s will be disconnected from meeting %s at once.", name(p), id), Yes: "Remove", No: "Cancel"}}}}
		if waitingRoom && !p.Host && !p.CoHost {
			row.Actions = append(row.Actions, commands.Action{ID: commands.ActionWaitingRoom, Label: "Waiting room", Value: commands.PersonValue(id, p.PID)})
		}
		r.Rows = append(r.Rows, row)
	}
	if len(rest) > 0 {
		r.Rows = append(r.Rows, commands.Row{Text: strings.Join(rest, "\n")})
		r.Note = fmt.Sprintf("Buttons are shown for the first %d; `/meeting who` lists everyone with buttons.", maxAlertRows)
	}
	r.Actions = []commands.Action{{ID: commands.ActionAlertLock, Label: "Lock meeting", Value: string(id),
		Confirm: &commands.Confirm{Title: "Lock the meeting?", Text: fmt.Sprintf("Nobody else will be able to join meeting %s.", id), Yes: "Lock", No: "Cancel"}}}
	if strangers > 0 {
		r.Actions = append(r.Actions, commands.Action{ID: commands.ActionAlertRestrict, Label: "Invited people only", Value: string(id)})
	}
	return r
}

func describe(p meetingapi.Participant, hostOrg string) string {
	parts := []string{name(p)}
	switch {
	case p.Anonymous:
		parts[0] = ":warning: " + parts[0]
		parts = append(parts, "not signed in")
	case p.Stranger(hostOrg):
		parts[0] = ":warning: " + parts[0]
		parts = append(parts, "from another organisation")
	}
	if m := p.Phone.Masked(); m != "" && m != "…" {
		parts = append(parts, m)
	}
	if p.Waiting {
		parts = append(parts, "in the waiting room")
	}
	return strings.Join(parts, " · ")
}

// name is a participant's name, escaped for mrkdwn.
func name(p meetingapi.Participant) string {
	n := strings.TrimSpace(p.Name)
	if n == "" {
		return "_someone without a name_"
	}
	return "*" + strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "*", "∗").Replace(n) + "*"
}

func clock(t time.Time) string { return t.UTC().Format("15:04 UTC") }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
