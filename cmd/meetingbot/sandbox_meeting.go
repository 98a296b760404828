package main

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/watch"
)

// The demo meeting the sandbox's fake meeting API runs, the people in it,
// and the join alerts the watch runner posts about it.

const (
	demoMeetingID       = "914083136"
	demoMeetingPassword = "123456"
)

// demoCast is who is in the demo meeting when the sandbox starts, and
// again after :start: the host, two colleagues, and a stranger who joined
// without signing in.
var demoCast = []meetingapitest.Person{
	{Name: "Alice Chen", Account: "alice.chen", Role: meetingapitest.RoleHost, Invited: true},
	{Name: "Bob Martin", Account: "bob.martin", Invited: true},
	{Name: "Carol Diaz", Phone: "+8613912345678", Account: "carol.diaz", Invited: true},
	{Name: "mallory", Anonymous: true},
}

const demoCastLine = "Alice Chen (the host), her colleagues Bob Martin and Carol Diaz, and mallory, who joined without signing in"

// sandboxWatchTimeout bounds each wait for the watch runner: a watch
// connecting or stopping, an alert, the closing line of a watch.
const sandboxWatchTimeout = 15 * time.Second

// seatDemoCast lets the demo cast into the meeting, as far as it admits
// them, and names who is in and who was kept out (and why).
func seatDemoCast(m *meetingapitest.Server) (seated, refused []string) {
	for _, p := range demoCast {
		if _, err := m.AddParticipant(demoMeetingID, p); err != nil {
			refused = append(refused, p.Name+" ("+joinRefusal(err)+")")
			continue
		}
		seated = append(seated, p.Name)
	}
	return seated, refused
}

func joinRefusal(err error) string {
	return strings.TrimPrefix(err.Error(), meetingapitest.ErrJoinRefused.Error()+": ")
}

// start starts the demo meeting again after :end or /meeting end, with
// its people back in it.
func (s *sandboxSession) start() {
	snap, _ := s.meetings.Snapshot(demoMeetingID)
	if snap.State == meetingapitest.InProgress {
		s.say("meeting %s is already in progress (:people shows who is in it)", demoMeetingID)
		return
	}
	s.meetings.SetState(demoMeetingID, meetingapitest.InProgress)
	if len(snap.Participants) > 0 {
		s.say("meeting %s is in progress again", demoMeetingID)
		return
	}
	seated, refused := seatDemoCast(s.meetings)
	line := fmt.Sprintf("meeting %s is in progress again, with %s in it", demoMeetingID, andList(seated))
	if len(seated) == 0 {
		line = fmt.Sprintf("meeting %s is in progress again, with nobody in it", demoMeetingID)
	}
	if len(refused) > 0 {
		line += "; kept out: " + strings.Join(refused, ", ")
	}
	s.say("%s", line)
}

// join lets someone into the demo meeting, as the meeting service would,
// and waits for the join alert if a channel watches it.
func (s *sandboxSession) join(args []string) {
	p, ok := parseJoin(args)
	if !ok {
		s.say(":join takes a name and optionally --anonymous (not signed in), --org ORG (from another organisation) or --invited, like :join eve --anonymous")
		return
	}
	before, _ := s.meetings.Snapshot(demoMeetingID)
	messages, calls := len(s.slack.Messages()), len(s.slack.APICalls())
	if _, err := s.meetings.AddParticipant(demoMeetingID, p); err != nil {
		s.say("%s tried to join meeting %s and was kept out: %s", p.Name, demoMeetingID, joinRefusal(err))
		return
	}
	how := ""
	switch {
	case p.Anonymous:
		how = " without signing in"
	case p.OrgID != "":
		how = " from organisation " + p.OrgID
	}
	if before.State == meetingapitest.Ended {
		how += " (the meeting had been ended, but it can be rejoined until its scheduled end, so it is open again)"
	}
	s.say("%s joined meeting %s%s", p.Name, demoMeetingID, how)
	s.awaitAlert(messages, calls)
}

// parseJoin reads ":join NAME [--anonymous | --org ORG] [--invited]".
func parseJoin(args []string) (meetingapitest.Person, bool) {
	var p meetingapitest.Person
	var name []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "--anonymous":
			p.Anonymous = true
		case "--invited":
			p.Invited = true
		case "--org":
			if i+1 == len(args) || !sandboxOrg.MatchString(args[i+1]) {
				return p, false
			}
			p.OrgID = args[i+1]
			i++
		default:
			if strings.HasPrefix(a, "--") {
				return p, false
			}
			name = append(name, a)
		}
	}
	p.Name = strings.Join(name, " ")
	if p.Anonymous && p.OrgID != "" || !validPersonName(p.Name) {
		return p, false
	}
	if !p.Anonymous {
		p.Account = strings.ToLower(strings.ReplaceAll(p.Name, " ", "."))
	}
	return p, true
}

func validPersonName(n string) bool {
	return n != "" && utf8.RuneCountInString(n) <= 64 && !strings.ContainsFunc(n, unicode.IsControl)
}

// leave makes someone leave the demo meeting (or its waiting room) on
// their own.
func (s *sandboxSession) leave(name string) {
	snap, _ := s.meetings.Snapshot(demoMeetingID)
	for _, p := range append(snap.Participants, snap.Waiting...) {
		if strings.EqualFold(p.Person.Name, strings.TrimSpace(name)) {
			if s.meetings.RemoveParticipant(demoMeetingID, p.PID) == nil {
				s.say("%s left meeting %s", p.Person.Name, demoMeetingID)
				return
			}
		}
	}
	s.say("nobody called %q is in meeting %s (:people shows who is)", name, demoMeetingID)
}

// showPeople prints the demo meeting as the meeting service sees it, to
// check what the bot did.
func (s *sandboxSession) showPeople() {
	snap, _ := s.meetings.Snapshot(demoMeetingID)
	var state []string
	switch snap.State {
	case meetingapitest.InProgress:
		state = append(state, "in progress")
	case meetingapitest.Ended:
		state = append(state, "ended")
	default:
		state = append(state, snap.State.String())
	}
	if snap.Locked {
		state = append(state, "locked")
	} else {
		state = append(state, "unlocked")
	}
	switch snap.Restriction {
	case 3:
		state = append(state, "invited people only")
	case 2:
		state = append(state, "the host's organisation only")
	default:
		state = append(state, "open to everyone")
	}
	if snap.MutedAll {
		mute := "everyone but the host muted"
		if !snap.CanUnmute {
			mute += " (and they cannot unmute themselves)"
		}
		state = append(state, mute)
	}
	state = append(state, "scheduled to end at "+snap.ScheduledEnd.UTC().Format("15:04 UTC"))
	lines := []string{fmt.Sprintf("meeting %s, as the meeting service sees it: %s", demoMeetingID, strings.Join(state, ", "))}
	lines = append(lines, "in it: "+personList(snap.Participants))
	if len(snap.Waiting) > 0 {
		lines = append(lines, "in the waiting room: "+personList(snap.Waiting))
	}
	s.say("%s", strings.Join(lines, "\n           "))
}

func personList(ps []meetingapitest.ParticipantInfo) string {
	if len(ps) == 0 {
		return "nobody"
	}
	var out []string
	for _, p := range ps {
		var about []string
		switch p.Person.Role {
		case meetingapitest.RoleHost:
			about = append(about, "host")
		case meetingapitest.RoleCoHost:
			about = append(about, "co-host")
		}
		switch {
		case p.Person.Anonymous:
			about = append(about, "not signed in")
		case p.Person.OrgID != "" && p.Person.OrgID != meetingapitest.HostOrgID:
			about = append(about, "from "+p.Person.OrgID)
		}
		if p.Muted {
			about = append(about, "muted")
		}
		if len(about) > 0 {
			out = append(out, p.Person.Name+" ("+strings.Join(about, ", ")+")")
		} else {
			out = append(out, p.Person.Name)
		}
	}
	return strings.Join(out, ", ")
}

func andList(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// sandboxWatches is the watch runner as the service sees it. It notes
// which channels watch the demo meeting, so the sandbox knows when to wait
// for the runner: for a watch to connect or stop, for a join alert, for
// the line a watch ends with.
type sandboxWatches struct {
	*watch.Runner
	slack *slacktest.Server

	mu       sync.Mutex
	channels map[string]int // channel ID → messages posted when its watch began
	changed  bool           // a watch began or ended since the last look
}

var _ commands.Watches = (*sandboxWatches)(nil)

func (w *sandboxWatches) Start(ctx context.Context, req commands.WatchRequest) error {
	err := w.Runner.Start(ctx, req)
	if err == nil && req.ConferenceID == demoMeetingID {
		w.mu.Lock()
		w.channels[req.Channel.ID] = len(w.slack.Messages()) // after its first line
		w.changed = true
		w.mu.Unlock()
	}
	return err
}

func (w *sandboxWatches) Stop(ctx context.Context, ch domain.Channel, id domain.ConferenceID) error {
	err := w.Runner.Stop(ctx, ch, id)
	if err == nil && id == demoMeetingID {
		w.mu.Lock()
		delete(w.channels, ch.ID)
		w.changed = true
		w.mu.Unlock()
	}
	return err
}

// watching returns the channels that watch the demo meeting, each with
// how many messages there were when its watch began.
func (w *sandboxWatches) watching() map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(w.channels))
	for ch, at := range w.channels {
		out[ch] = at
	}
	return out
}

// takeChanged reports whether a watch began or ended since it was last
// called.
func (w *sandboxWatches) takeChanged() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	changed := w.changed
	w.changed = false
	return changed
}

// ended forgets every watch: they end with the meeting.
func (w *sandboxWatches) ended() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.channels)
}

// sandboxMoment is what settle compares with: how things stood when a
// line started.
type sandboxMoment struct {
	state    meetingapitest.State
	messages int
}

func (s *sandboxSession) observe() sandboxMoment {
	snap, _ := s.meetings.Snapshot(demoMeetingID)
	s.watches.takeChanged() // a change counts from this line on
	return sandboxMoment{state: snap.State, messages: len(s.slack.Messages())}
}

// settle waits, after a line that started or stopped a watch or changed
// the demo meeting's state, until the watch runner has caught up: a new
// watch is connected (so the next join is announced), a stopped one is
// off, and a watch of a meeting that ended has posted its last line.
func (s *sandboxSession) settle(before sandboxMoment) {
	snap, _ := s.meetings.Snapshot(demoMeetingID)
	channels, changed := s.watches.watching(), s.watches.takeChanged()
	if !changed && snap.State == before.state {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, sandboxWatchTimeout)
	defer cancel()
	if len(channels) > 0 && snap.State == meetingapitest.Ended {
		closed := func() bool {
			msgs := s.slack.Messages()
			for ch, since := range channels {
				if !postedIn(msgs, ch, max(since, before.messages), false) {
					return false
				}
			}
			return true
		}
		if !s.follow(ctx, "", closed) {
			s.say("the join alerts of meeting %s did not say they ended within %s", demoMeetingID, sandboxWatchTimeout)
		}
		s.watches.ended()
		return
	}
	want := len(channels) > 0 && snap.State == meetingapitest.InProgress
	if !s.follow(ctx, "", func() bool { return s.watches.Live(demoMeetingID) == want }) && want {
		s.say("the watch of meeting %s has not connected to the meeting's events within %s; joins are announced once it does", demoMeetingID, sandboxWatchTimeout)
	}
}

// awaitAlert waits for the join alert in every channel that watches the
// demo meeting, printing it when it comes.
func (s *sandboxSession) awaitAlert(messages, calls int) {
	channels := s.watches.watching()
	switch {
	case len(channels) == 0:
		s.say("no channel watches meeting %s, so nobody was told (`%s watch` turns join alerts on)", demoMeetingID, s.command)
		return
	case !s.watches.Live(demoMeetingID):
		s.say("the watch of meeting %s is not connected to its events right now, so no alert comes", demoMeetingID)
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, sandboxWatchTimeout)
	defer cancel()
	failed := 0
	alerted := func() bool {
		msgs := s.slack.Messages()
		n := 0
		for ch := range channels {
			if postedIn(msgs, ch, messages, true) {
				n++
			}
		}
		failed = 0
		for _, c := range s.slack.APICalls()[calls:] {
			if c.Method == "chat.postMessage" && !c.OK {
				failed++
			}
		}
		return n+failed >= len(channels)
	}
	if !s.follow(ctx, "", alerted) {
		s.say("no join alert came within %s", sandboxWatchTimeout)
		return
	}
	if failed > 0 {
		s.say("meetingbot could not post the alert where it is not a member of the channel (/invite @meetingbot)")
	}
}

// postedIn reports whether the bot posted in channel on its own (not in
// answer to a command) since message index since: a join alert (it has
// buttons) or, with alert false, a line without buttons.
func postedIn(msgs []slacktest.Message, channel string, since int, alert bool) bool {
	for _, m := range msgs[min(since, len(msgs)):] {
		if m.Via == "chat.postMessage" && m.Channel == channel && hasButtons(m) == alert {
			return true
		}
	}
	return false
}

func hasButtons(m slacktest.Message) bool {
	for _, p := range layout(m.Text, m.Blocks) {
		if len(p.buttons) > 0 {
			return true
		}
	}
	return false
}

var sandboxOrg = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{0,31}$`)
