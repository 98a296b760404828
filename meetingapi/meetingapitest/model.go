package meetingapitest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// The meeting model: every change to a meeting goes through the methods in
// this file, with s.mu held, and each one publishes what changed to the
// meeting's subscribers (the event socket).

// Role is a participant's role in a meeting.
type Role int

const (
	RoleAttendee Role = iota // an ordinary participant (pinfoMap ROLE "0")
	RoleHost                 // the chair (ROLE "1", confInfo.chairID)
	RoleCoHost               // a co-host (IS_COHOST "1", confInfo.coHosts)
	RoleAudience             // webinar audience (ROLE "2")
)

// HostOrgID is the organisation of every meeting's host unless
// [WithHostOrgID] says otherwise; a [Person] with no OrgID belongs to it.
const HostOrgID = "fake-org"

// Person is someone a test lets into a meeting with [Server.AddParticipant].
type Person struct {
	Name      string
	Phone     string
	Anonymous bool   // joined without signing in (pinfoMap ANONYMOUS "1")
	OrgID     string // "" is the host's organisation; ignored when Anonymous
	Account   string // the account name; "" when Anonymous
	Role      Role
	Muted     bool
	Video     bool
	Invited   bool // on the invited list: listed in attendees[], and let in by a lock or an "invited" restriction
	Waiting   bool // arrives in the waiting room (the meeting must have one)
}

// Errors of the methods that drive the model.
var (
	ErrUnknownMeeting     = errors.New("meetingapitest: no such meeting")
	ErrUnknownParticipant = errors.New("meetingapitest: no such participant")
	ErrJoinRefused        = errors.New("meetingapitest: join refused")
)

// MeetingOption configures a meeting added with [Server.AddMeeting].
type MeetingOption func(*meeting)

// WithWaitingRoom gives the meeting a waiting room.
func WithWaitingRoom() MeetingOption { return func(m *meeting) { m.waitingRoom = true } }

// WithScheduledEnd sets when the meeting is scheduled to end (default: an
// hour after AddMeeting). A stopped meeting can be rejoined until then.
func WithScheduledEnd(t time.Time) MeetingOption { return func(m *meeting) { m.scheduledEnd = t } }

// WithHostOrgID sets the host's organisation (default [HostOrgID]).
func WithHostOrgID(org string) MeetingOption { return func(m *meeting) { m.orgID = org } }

type meeting struct {
	id           string
	password     string
	orgID        string
	state        State
	stopped      bool // ended by the stop call, so rejoinable until scheduledEnd
	locked       bool
	restriction  int  // callInRestriction: 0, 2 or 3
	mutedAll     bool // the host muted everyone
	canUnmute    bool // muted people may unmute themselves
	waitingRoom  bool
	scheduledEnd time.Time
	autoProlong  int            // minutes of each automatic extension, 0: off
	config       map[string]int // updateStartedConfConfig fields last set

	people    []*person // in the meeting, in join order
	waiting   []*person // in the waiting room, in arrival order
	attendees []Person  // the invited list

	subs map[*subscriber]struct{} // the event socket's subscriptions
}

type person struct {
	pid string
	Person
	hand    bool
	addTime time.Time
}

// ParticipantInfo is one person's current state, from [Server.Snapshot].
type ParticipantInfo struct {
	PID        string
	Person     Person // as added; Person.Muted is how they arrived
	Muted      bool   // now
	HandRaised bool
	Waiting    bool // in the waiting room
	JoinedAt   time.Time
}

// Snapshot is a meeting's current state.
type Snapshot struct {
	State          State
	Locked         bool
	Restriction    int  // callInRestriction: 0 everyone, 2 company, 3 invited
	MutedAll       bool // the host muted everyone
	CanUnmute      bool // muted people may unmute themselves
	HasWaitingRoom bool
	ScheduledEnd   time.Time
	AutoProlong    int            // minutes of each automatic extension, 0: off
	Config         map[string]int // updateStartedConfConfig fields last set
	Participants   []ParticipantInfo
	Waiting        []ParticipantInfo
}

// AddMeeting adds (or replaces) a meeting with its host password and state.
// It starts unlocked, open to everyone, without a waiting room unless
// [WithWaitingRoom], empty, and scheduled to end an hour from now.
func (s *Server) AddMeeting(id, password string, st State, opts ...MeetingOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.meetings[id]; old != nil {
		s.endLocked(old) // subscribers of the replaced meeting see it end
	}
	m := &meeting{
		id: id, password: password, orgID: HostOrgID, state: st, canUnmute: true,
		scheduledEnd: s.now().Add(time.Hour), config: map[string]int{},
	}
	for _, o := range opts {
		if o != nil {
			o(m)
		}
	}
	s.meetings[id] = m
}

// SetState moves a known meeting to st; unknown IDs are ignored. Ended by
// this call, a meeting stays ended (unlike after the stop call) and its
// participants are gone.
func (s *Server) SetState(id string, st State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meetings[id]
	if !ok {
		return
	}
	if st == Ended && m.state != Ended {
		s.endLocked(m)
	}
	m.state, m.stopped = st, false
}

// Locked reports a meeting's lock state, and whether the meeting is known.
func (s *Server) Locked(id string) (locked, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meetings[id]
	if !ok {
		return false, false
	}
	return m.locked, true
}

// Snapshot returns a meeting's current state, and whether it is known.
func (s *Server) Snapshot(id string) (Snapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meetings[id]
	if !ok {
		return Snapshot{}, false
	}
	snap := Snapshot{
		State: m.state, Locked: m.locked, Restriction: m.restriction, MutedAll: m.mutedAll,
		CanUnmute: m.canUnmute, HasWaitingRoom: m.waitingRoom, ScheduledEnd: m.scheduledEnd,
		AutoProlong: m.autoProlong, Config: make(map[string]int, len(m.config)),
	}
	for k, v := range m.config {
		snap.Config[k] = v
	}
	for _, p := range m.people {
		snap.Participants = append(snap.Participants, p.info(false))
	}
	for _, p := range m.waiting {
		snap.Waiting = append(snap.Waiting, p.info(true))
	}
	return snap, true
}

func (p *person) info(waiting bool) ParticipantInfo {
	return ParticipantInfo{PID: p.pid, Person: p.Person, Muted: p.Muted, HandRaised: p.hand, Waiting: waiting, JoinedAt: p.addTime}
}

// AddParticipant lets p into meeting id, as the meeting service would, and
// returns the new participant's pid. It refuses (with [ErrJoinRefused]) a
// meeting that has not started or has ended, a guest of a locked meeting
// (a lock lets in only the host, co-hosts and invited people), and anyone
// the join restriction keeps out. A meeting stopped by the stop call is
// reopened by a join before its scheduled end, as the vendor documents. A
// Person with Waiting set goes to the waiting room.
func (s *Server) AddParticipant(id string, p Person) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meetings[id]
	if !ok {
		return "", ErrUnknownMeeting
	}
	if err := m.admits(p, s.now()); err != nil {
		return "", err
	}
	if m.state == Ended {
		m.state, m.stopped = InProgress, false
		s.publishLocked(m, change{kind: confChanged})
	}
	if p.Anonymous {
		p.OrgID, p.Account = "", ""
	} else if p.OrgID == "" {
		p.OrgID = m.orgID
	}
	if p.Invited && !slices.ContainsFunc(m.attendees, func(a Person) bool { return a.Name == p.Name && a.Phone == p.Phone }) {
		m.attendees = append(m.attendees, p)
	}
	np := &person{pid: randomHex(16), Person: p, addTime: s.now()}
	if m.mutedAll && p.Role != RoleHost {
		np.Muted = true
	}
	if p.Waiting {
		m.waiting = append(m.waiting, np)
		s.publishLocked(m, change{kind: waitingJoined, pid: np.pid})
	} else {
		m.people = append(m.people, np)
		s.publishLocked(m, change{kind: joined, pid: np.pid})
	}
	return np.pid, nil
}

// admits says why p may not join m now, or nil.
func (m *meeting) admits(p Person, now time.Time) error {
	privileged := p.Role == RoleHost || p.Role == RoleCoHost
	switch {
	case m.state == NotStarted:
		return fmt.Errorf("%w: the meeting has not started", ErrJoinRefused)
	case m.state == Ended && !(m.stopped && now.Before(m.scheduledEnd)):
		return fmt.Errorf("%w: the meeting has ended", ErrJoinRefused)
	case p.Waiting && !m.waitingRoom:
		return fmt.Errorf("%w: the meeting has no waiting room", ErrJoinRefused)
	case m.locked && !privileged && !p.Invited:
		return fmt.Errorf("%w: the meeting is locked", ErrJoinRefused)
	case m.restriction == 3 && !privileged && !p.Invited:
		return fmt.Errorf("%w: only invited people may join", ErrJoinRefused)
	case m.restriction == 2 && !privileged && (p.Anonymous || p.OrgID != "" && p.OrgID != m.orgID):
		return fmt.Errorf("%w: only the host's organisation may join", ErrJoinRefused)
	}
	return nil
}

// RemoveParticipant makes someone leave the meeting or its waiting room.
func (s *Server) RemoveParticipant(id, pid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meetings[id]
	if !ok {
		return ErrUnknownMeeting
	}
	if !s.removeLocked(m, pid) {
		return ErrUnknownParticipant
	}
	return nil
}

// SetHand raises or lowers a participant's hand: a change of one pinfoMap
// key, for tests of partial updates.
func (s *Server) SetHand(id, pid string, up bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.meetings[id]
	if !ok {
		return ErrUnknownMeeting
	}
	p := m.participant(pid)
	if p == nil {
		return ErrUnknownParticipant
	}
	if p.hand != up {
		p.hand = up
		s.publishLocked(m, change{kind: changed, pid: pid, keys: []string{"HAND"}})
	}
	return nil
}

// participant finds a pid in the meeting (not the waiting room).
func (m *meeting) participant(pid string) *person {
	for _, p := range m.people {
		if p.pid == pid {
			return p
		}
	}
	return nil
}

func (m *meeting) waiter(pid string) *person {
	for _, p := range m.waiting {
		if p.pid == pid {
			return p
		}
	}
	return nil
}

func (m *meeting) chairID() string {
	for _, p := range m.people {
		if p.Role == RoleHost {
			return p.pid
		}
	}
	return ""
}

func (m *meeting) coHosts() []string {
	out := []string{}
	for _, p := range m.people {
		if p.Role == RoleCoHost {
			out = append(out, p.pid)
		}
	}
	return out
}

// removeLocked takes pid out of the meeting or its waiting room.
func (s *Server) removeLocked(m *meeting, pid string) bool {
	if i := slices.IndexFunc(m.people, func(p *person) bool { return p.pid == pid }); i >= 0 {
		m.people = slices.Delete(m.people, i, i+1)
		s.publishLocked(m, change{kind: left, pid: pid})
		return true
	}
	if i := slices.IndexFunc(m.waiting, func(p *person) bool { return p.pid == pid }); i >= 0 {
		m.waiting = slices.Delete(m.waiting, i, i+1)
		s.publishLocked(m, change{kind: waitingLeft, pid: pid})
		return true
	}
	return false
}

// toWaitingRoomLocked moves participants (all present, checked by the
// caller) to the waiting room.
func (s *Server) toWaitingRoomLocked(m *meeting, pids []string) {
	for _, pid := range pids {
		i := slices.IndexFunc(m.people, func(p *person) bool { return p.pid == pid })
		p := m.people[i]
		m.people = slices.Delete(m.people, i, i+1)
		s.publishLocked(m, change{kind: left, pid: pid})
		p.Waiting = true
		m.waiting = append(m.waiting, p)
		s.publishLocked(m, change{kind: waitingJoined, pid: pid})
	}
}

// admitLocked lets waiting people in.
func (s *Server) admitLocked(m *meeting, pids []string) {
	for _, pid := range pids {
		i := slices.IndexFunc(m.waiting, func(p *person) bool { return p.pid == pid })
		p := m.waiting[i]
		m.waiting = slices.Delete(m.waiting, i, i+1)
		s.publishLocked(m, change{kind: waitingAdmitted, pid: pid})
		p.Waiting = false
		m.people = append(m.people, p)
		s.publishLocked(m, change{kind: joined, pid: pid})
	}
}

func (s *Server) setLockedLocked(m *meeting, locked bool) {
	if m.locked != locked {
		m.locked = locked
		s.publishLocked(m, change{kind: confChanged})
	}
}

// muteAllLocked mutes (or unmutes) everyone but the host.
func (s *Server) muteAllLocked(m *meeting, mute, canUnmute bool) {
	m.mutedAll, m.canUnmute = mute, canUnmute
	for _, p := range m.people {
		if p.Role == RoleHost || p.Muted == mute {
			continue
		}
		p.Muted = mute
		s.publishLocked(m, change{kind: changed, pid: p.pid, keys: []string{"MUTE"}})
	}
	s.publishLocked(m, change{kind: confChanged})
}

func (s *Server) muteLocked(m *meeting, p *person, mute bool) {
	if p.Muted != mute {
		p.Muted = mute
		s.publishLocked(m, change{kind: changed, pid: p.pid, keys: []string{"MUTE"}})
	}
}

// endLocked ends m: everyone leaves and the subscribers are told.
func (s *Server) endLocked(m *meeting) {
	m.people, m.waiting = nil, nil
	m.state = Ended
	s.publishLocked(m, change{kind: ended})
}

// pinfo is the pinfoMap of p: every key for a join, only keys for a change.
func (m *meeting) pinfo(p *person, keys []string) map[string]string {
	all := map[string]string{
		"NAME":      p.Name,
		"TEL":       p.Phone,
		"ROLE":      roleCode(p.Role),
		"IS_COHOST": boolCode(p.Role == RoleCoHost),
		"STATE":     "0",
		"ADDTIME":   strconv.FormatInt(p.addTime.UnixMilli(), 10),
		"ANONYMOUS": boolCode(p.Anonymous),
		"MUTE":      boolCode(p.Muted),
		"VIDEO":     boolCode(p.Video),
		"HAND":      boolCode(p.hand),
		"ACCOUNT":   p.Account,
		"ORG_ID":    p.OrgID,
	}
	if p.Account != "" {
		all["ACCOUNT_ID"] = "acc-" + p.pid[:8]
	}
	if p.Waiting {
		all["WAITINGSTATE"] = "0"
	}
	if keys == nil {
		return all
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		out[k] = all[k]
	}
	return out
}

func roleCode(r Role) string {
	switch r {
	case RoleHost:
		return "1"
	case RoleAudience:
		return "2"
	}
	return "0"
}

func boolCode(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// A change is one thing that happened to a meeting, published to its
// event-socket subscribers.
type changeKind int

const (
	joined          changeKind = iota // pid joined the meeting
	left                              // pid left it (or was moved out)
	changed                           // keys of pid's pinfoMap changed
	waitingJoined                     // pid arrived in the waiting room
	waitingLeft                       // pid left the waiting room
	waitingAdmitted                   // pid was let in from the waiting room
	confChanged                       // lock, mute, restriction, waiting room or end time
	ended                             // the meeting ended: subscribers are closed
)

type change struct {
	kind changeKind
	pid  string
	keys []string
}

// publishLocked hands c to every subscriber of m. s.mu must be held, which
// keeps changes in order.
func (s *Server) publishLocked(m *meeting, c change) {
	for sub := range m.subs {
		sub.push(m, c)
	}
}

// subscriber is one event-socket subscription to a meeting.
type subscriber struct {
	onChange func(m *meeting, c change) // called with s.mu held: must not block
}

func (sub *subscriber) push(m *meeting, c change) { sub.onChange(m, c) }
