package commands

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/store"
)

// Meetings is the part of the meeting API the use cases need.
type Meetings interface {
	ControlToken(ctx context.Context, id domain.ConferenceID, pw domain.Password) (meetingapi.ControlToken, error)
	KeepAlive(ctx context.Context, id domain.ConferenceID, tok domain.Token) (meetingapi.ControlToken, error)
	SetLock(ctx context.Context, id domain.ConferenceID, tok domain.Token, locked bool) error
	RealTimeInfo(ctx context.Context, id domain.ConferenceID, tok domain.Token) (meetingapi.RealTimeInfo, error)
	HangUp(ctx context.Context, id domain.ConferenceID, tok domain.Token, pids ...string) error
	MuteAll(ctx context.Context, id domain.ConferenceID, tok domain.Token, mute, allowUnmuteByOneself bool) error
	MuteParticipant(ctx context.Context, id domain.ConferenceID, tok domain.Token, pid string, mute bool) error
	MoveToWaitingRoom(ctx context.Context, id domain.ConferenceID, tok domain.Token, pids ...string) error
	SetCallInRestriction(ctx context.Context, id domain.ConferenceID, tok domain.Token, r meetingapi.Restriction) error
	Stop(ctx context.Context, id domain.ConferenceID, tok domain.Token) error
	Prolong(ctx context.Context, id domain.ConferenceID, tok domain.Token, minutes int) error
}

// Bindings are a channel's meetings and controllers.
type Bindings interface {
	Bind(ctx context.Context, r store.BindRequest) error
	Unbind(ctx context.Context, ch domain.Channel, id domain.ConferenceID, by store.Actor) error
	Meeting(ctx context.Context, ch domain.Channel, id domain.ConferenceID) (store.Meeting, error)
	Meetings(ctx context.Context, ch domain.Channel) ([]store.Meeting, error)
	Target(ctx context.Context, ch domain.Channel, id domain.ConferenceID, user string) (store.Target, error)
	Controllers(ctx context.Context, ch domain.Channel) ([]store.Controller, error)
	Grant(ctx context.Context, ch domain.Channel, user string, by store.Actor, at time.Time) error
	Revoke(ctx context.Context, ch domain.Channel, user string, by store.Actor) error
}

// Credentials opens a binding's sealed host password.
type Credentials interface {
	Password(ctx context.Context, ch domain.Channel, id domain.ConferenceID) (domain.Password, error)
}

// TokenCache keeps control tokens, sealed, per binding.
type TokenCache interface {
	Token(ctx context.Context, ch domain.Channel, id domain.ConferenceID) (domain.Token, time.Time, error)
	PutToken(ctx context.Context, ch domain.Channel, id domain.ConferenceID, tok domain.Token, expires time.Time) error
	DropToken(ctx context.Context, ch domain.Channel, id domain.ConferenceID) error
}

// AuditLog records what happened, with the state it left.
type AuditLog interface {
	Record(ctx context.Context, r store.AuditRecord, change *store.StateChange) error
	History(ctx context.Context, ch domain.Channel, n int) ([]store.AuditRecord, error)
}

// MeetingStates is what is known of each meeting, and the lock that
// serialises control calls for one meeting across every process.
type MeetingStates interface {
	MeetingState(ctx context.Context, id domain.ConferenceID) (store.MeetingState, error)
	LockMeeting(ctx context.Context, id domain.ConferenceID) (fence int64, unlock func(), err error)
	// LockMeetingState is LockMeeting, then MeetingState once the lock is
	// held, in one round trip where the database allows.
	LockMeetingState(ctx context.Context, id domain.ConferenceID) (fence int64, st store.MeetingState, unlock func(), err error)
}

// Store is everything the use cases keep. *store.Store implements it.
type Store interface {
	Bindings
	Credentials
	TokenCache
	AuditLog
	MeetingStates
}

// Metrics receives what the use cases observe; nil records nothing.
type Metrics interface {
	// TokenFetch counts a control-token fetch ("password") or keep-alive
	// ("keepalive") with its result ("ok", "rejected", "error").
	TokenFetch(kind, result string)
}

// Watches is the join-alert runner, if the program has one.
type Watches interface {
	// Start begins watching id for ch; it is already stored.
	Start(ctx context.Context, w WatchRequest) error
	// Stop ends the watch of id in ch.
	Stop(ctx context.Context, ch domain.Channel, id domain.ConferenceID) error
	// Live reports whether id is watched right now with a working socket,
	// so the state the meeting service reports can be trusted.
	Live(id domain.ConferenceID) bool
}

// WatchRequest is a watch to start.
type WatchRequest struct {
	Channel      domain.Channel
	ConferenceID domain.ConferenceID
	By           string
}

// Config wires a Service.
type Config struct {
	Meetings Meetings
	Store    Store
	// Admins may control every channel's meetings.
	Admins []string
	// Command is the slash command's name, for usage lines ("/meeting").
	Command string
	// TokenMargin: a cached control token is used only while it expires
	// more than this far in the future. Default 60 s.
	TokenMargin time.Duration
	// Limits bound how often one person and one channel may act; zero
	// fields take the defaults (see Limits).
	Limits  Limits
	Now     func() time.Time
	Logger  zerolog.Logger
	Metrics Metrics
	// Watches runs join alerts; nil answers watch and unwatch with a note
	// that this build does not run them.
	Watches Watches
}

// Service runs /meeting commands. It is safe for concurrent use.
type Service struct {
	meetings Meetings
	store    Store
	admins   []string
	command  string
	margin   time.Duration
	now      func() time.Time
	log      zerolog.Logger
	metrics  Metrics
	watches  Watches
	limits   *limiter
	inFlight flights

	mu     sync.Mutex
	recent map[meetingKey]time.Time // meetings controlled lately, for keep-alive
}

type meetingKey struct {
	ch domain.Channel
	id domain.ConferenceID
}

// New validates cfg and returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Meetings == nil || cfg.Store == nil {
		return nil, errors.New("commands: Meetings and Store are required")
	}
	for _, a := range cfg.Admins {
		if !ValidSlackID(a) {
			return nil, fmt.Errorf("commands: admin %q is not a Slack user ID", a)
		}
	}
	s := &Service{
		meetings: cfg.Meetings,
		store:    cfg.Store,
		admins:   slices.Clone(cfg.Admins),
		command:  cfg.Command,
		margin:   cfg.TokenMargin,
		now:      cfg.Now,
		log:      cfg.Logger,
		metrics:  cfg.Metrics,
		watches:  cfg.Watches,
	}
	if s.command == "" {
		s.command = "/meeting"
	}
	if s.margin == 0 {
		s.margin = 60 * time.Second
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.metrics == nil {
		s.metrics = noMetrics{}
	}
	s.limits = newLimiter(cfg.Limits, s.now)
	return s, nil
}

type noMetrics struct{}

func (noMetrics) TokenFetch(string, string) {}

// UseWatches sets the join-alert runner, which is built after the service
// (it needs the service's tokens). Call it before the first command.
func (s *Service) UseWatches(w Watches) { s.watches = w }

// Command is the slash command name the service was configured with.
func (s *Service) Command() string { return s.command }

// Request is one command from one person in one channel.
type Request struct {
	Channel domain.Channel
	UserID  string
	Command Command
	// FromButton marks a click. A button can be stale: if the meeting
	// service itself reports that the meeting is already in the state the
	// button asks for, the click is explained instead of sent.
	FromButton bool
	// Progress, if set, is told which part of the work is under way, so a
	// "still trying" line can name the slow part.
	Progress *Progress
}

// Progress tells which part of a running command is under way. Safe for
// concurrent use; the zero value is ready.
type Progress struct {
	mu    sync.Mutex
	phase Phase
}

// Phase is a part of a command's work.
type Phase string

const (
	PhaseDatabase Phase = "database" // reading or writing meetingbot's own state
	PhaseQueued   Phase = "queued"   // waiting for another command on the same meeting
	PhaseMeeting  Phase = "meeting"  // calling the meeting service
)

// Set records the phase under way.
func (p *Progress) Set(ph Phase) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.phase = ph
	p.mu.Unlock()
}

// Phase returns the phase under way ("" before any).
func (p *Progress) Phase() Phase {
	if p == nil {
		return ""
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.phase
}

// StillTrying is the line shown when a command takes long, naming the slow
// part.
func StillTrying(ph Phase) string {
	switch ph {
	case PhaseDatabase:
		return ":hourglass: Still working: meetingbot's database is slow to answer. You will see the outcome here."
	case PhaseQueued:
		return ":hourglass: Still working: another command for this meeting is running first. You will see the outcome here."
	default:
		return ":hourglass: Still trying: the meeting service is slow to answer. You will see the outcome here."
	}
}

// Execute runs the command and returns the reply to show. It never returns
// an error: every failure becomes a reply, and internal faults are logged.
func (s *Service) Execute(ctx context.Context, req Request) Reply {
	r := s.execute(ctx, req)
	if r.Outcome == "" {
		r.Outcome = OutcomeOK
	}
	return r
}

func (s *Service) execute(ctx context.Context, req Request) Reply {
	cmd := req.Command
	if c, ok := controls[cmd.Verb]; ok {
		if cmd.Verb == VerbEnd && !cmd.Confirmed {
			return s.askToEnd(ctx, req)
		}
		if cmd.Verb == VerbRemove && cmd.PID == "" {
			return s.removeByName(ctx, req)
		}
		return s.control(ctx, req, c)
	}
	switch cmd.Verb {
	case VerbBind:
		return s.bind(ctx, req)
	case VerbUnbind:
		return s.unbind(ctx, req)
	case VerbStatus:
		return s.status(ctx, req)
	case VerbGrant:
		return s.grant(ctx, req)
	case VerbRevoke:
		return s.revoke(ctx, req)
	case VerbControllers:
		return s.controllers(ctx, req)
	case VerbHistory:
		return s.history(ctx, req)
	case VerbWho:
		return s.who(ctx, req)
	case VerbWatch:
		return s.watch(ctx, req)
	case VerbUnwatch:
		return s.unwatch(ctx, req)
	case VerbHelp:
		if cmd.Topic != "" {
			return HelpFor(s.command, cmd.Topic)
		}
		return Help(s.command)
	default:
		return Help(s.command)
	}
}

// ProgressLine is the short ephemeral line an acknowledgement may carry
// while a command runs. It needs no I/O. Commands that only controllers may run
// get none: the ack cannot know yet whether the person is one, and nothing
// should suggest an action that will not happen.
func ProgressLine(cmd Command) string {
	if cmd.Verb == VerbBind && cmd.Password != "" {
		return ":hourglass_flowing_sand: Checking the host password for meeting " + string(cmd.ConferenceID) + "…"
	}
	return ""
}

func (s *Service) internalError(req Request, op string, err error) Reply {
	s.log.Error().Err(err).Str("op", op).Str("channel", req.Channel.ID).Str("user", req.UserID).Msg("command failed")
	return Reply{Visibility: Ephemeral, Outcome: OutcomeError,
		Text: ":x: Something went wrong on meetingbot's side, so nothing was changed. The details are in the bot's log."}
}

// recordBackoff is how long to wait before each try to record something
// that happened.
var recordBackoff = []time.Duration{0, 100 * time.Millisecond, 400 * time.Millisecond, 1200 * time.Millisecond}

// record writes an audit record and the state change it left. The record
// of an action that happened must not be lost to a busy database, so it is
// retried (detached from the command's deadline); if it still cannot be
// written, the error is returned for the reply to say so.
func (s *Service) record(ctx context.Context, r store.AuditRecord, change *store.StateChange) error {
	ctx = context.WithoutCancel(ctx)
	var err error
	for _, wait := range recordBackoff {
		if wait > 0 {
			time.Sleep(wait)
		}
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err = s.store.Record(actx, r, change)
		cancel()
		if err == nil || errors.Is(err, store.ErrInvalid) {
			break
		}
	}
	if err != nil {
		s.log.Error().Err(err).Str("action", r.Action).Str("conference_id", string(r.ConferenceID)).Msg("recording an action failed after retries")
	}
	return err
}

// audit records a refusal or an error: losing it is logged, not shown.
func (s *Service) audit(ctx context.Context, req Request, action string, id domain.ConferenceID, outcome string, apiErr error, detail string) {
	_ = s.record(ctx, s.auditRecord(req, action, id, outcome, apiErr, detail), nil)
}

func (s *Service) auditRecord(req Request, action string, id domain.ConferenceID, outcome string, apiErr error, detail string) store.AuditRecord {
	r := store.AuditRecord{
		At: s.now().UTC(), Channel: req.Channel, UserID: req.UserID, Action: action,
		ConferenceID: id, Outcome: outcome, Detail: detail,
	}
	var ae *meetingapi.APIError
	if errors.As(apiErr, &ae) {
		r.ErrorCode, r.RequestID = ae.Code, ae.RequestID
		if r.ErrorCode == "" {
			r.ErrorCode = fmt.Sprintf("HTTP %d", ae.StatusCode)
		}
	}
	return r
}

// notRecordedLine is added to the reply of an action that happened but
// could not be written down.
const notRecordedLine = ":warning: meetingbot's database did not answer, so this is missing from `history` and `status` may be out of date."

// resolve finds the meeting a command is about (the given ID bound in this
// channel, or the channel's default) and whether the person may control it.
func (s *Service) resolve(ctx context.Context, req Request) (store.Target, *Reply, error) {
	req.Progress.Set(PhaseDatabase)
	t, err := s.store.Target(ctx, req.Channel, req.Command.ConferenceID, req.UserID)
	if errors.Is(err, store.ErrNotFound) {
		r := s.notBound(ctx, req)
		return t, &r, nil
	}
	return t, nil, err
}

func (s *Service) notBound(ctx context.Context, req Request) Reply {
	id := req.Command.ConferenceID
	if id == "" {
		return Reply{Visibility: Ephemeral, Outcome: OutcomeRefused,
			Text:    ":information_source: No meeting is bound to this channel yet.",
			Details: []string{fmt.Sprintf("Bind one with `%s bind ID`: a form asks for the host password. Meetings are bound per channel, so a meeting bound elsewhere cannot be used here.", s.command)},
		}
	}
	who := "A controller here can bind it"
	if ctrls, err := s.store.Controllers(ctx, req.Channel); err == nil && len(ctrls) == 0 {
		who = "Anyone here can bind it (and becomes this channel's first controller)"
	}
	return Reply{Visibility: Ephemeral, Outcome: OutcomeRefused,
		Text:    fmt.Sprintf(":information_source: Meeting %s is not bound in this channel.", id),
		Details: []string{fmt.Sprintf("Credentials are kept per channel. %s with `%s bind %s`.", who, s.command, id)},
	}
}

func (s *Service) isAdmin(user string) bool { return slices.Contains(s.admins, user) }

func (s *Service) actor(user string) store.Actor {
	return store.Actor{UserID: user, Admin: s.isAdmin(user)}
}

// authorize reports whether user may control ch's meetings, with the
// channel's controllers for a refusal.
func (s *Service) authorize(ctx context.Context, ch domain.Channel, user string) (bool, []store.Controller, error) {
	ctrls, err := s.store.Controllers(ctx, ch)
	if err != nil {
		return false, nil, err
	}
	if s.isAdmin(user) {
		return true, ctrls, nil
	}
	for _, c := range ctrls {
		if c.UserID == user {
			return true, ctrls, nil
		}
	}
	return false, ctrls, nil
}

// refusal tells someone they may not do what they asked, and who may.
func (s *Service) refusal(ctx context.Context, req Request, what string, id domain.ConferenceID, ctrls []store.Controller, detail string) Reply {
	if detail == "" {
		detail = "not a controller"
	}
	s.audit(ctx, req, string(req.Command.Verb), id, store.OutcomeRefused, nil, detail)
	var who []string
	for _, c := range ctrls {
		who = append(who, mention(c.UserID))
	}
	r := Reply{Visibility: Ephemeral, Outcome: OutcomeRefused}
	switch {
	case len(who) > 0:
		r.Text = fmt.Sprintf(":no_entry: Only this channel's controllers can %s: %s.", what, strings.Join(who, ", "))
		r.Details = append(r.Details, fmt.Sprintf("Ask one of them to run `%s grant @you`.", s.command))
	default:
		r.Text = fmt.Sprintf(":no_entry: Only this channel's controllers can %s, and it has none yet.", what)
		r.Details = append(r.Details, fmt.Sprintf("Bind a meeting here with `%s bind ID` to become its first controller.", s.command))
	}
	if len(s.admins) > 0 {
		r.Details = append(r.Details, "meetingbot admins can too, and can grant you: "+mentions(s.admins)+".")
	}
	return r
}

func mention(user string) string { return "<@" + user + ">" }

func mentions(users []string) string {
	out := make([]string, len(users))
	for i, u := range users {
		out[i] = mention(u)
	}
	return strings.Join(out, ", ")
}

// escape keeps text from outside (the vendor's codes and messages, request
// IDs, participants' names) from turning into mentions, links or markup
// when it goes into mrkdwn.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

func formatClock(t time.Time) string { return t.UTC().Format("15:04 UTC") }
