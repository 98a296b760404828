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

	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/store"
)

// Meetings is the part of the meeting API the use cases need.
type Meetings interface {
	ControlToken(ctx context.Context, id meetingapi.ConferenceID, pw meetingapi.Password) (meetingapi.ControlToken, error)
	KeepAlive(ctx context.Context, id meetingapi.ConferenceID, tok meetingapi.Token) (meetingapi.ControlToken, error)
	SetLock(ctx context.Context, id meetingapi.ConferenceID, tok meetingapi.Token, locked bool) error
}

// Config wires a Service.
type Config struct {
	Meetings Meetings
	Store    store.Store
	// Admins may control every channel's meetings.
	Admins []string
	// Command is the slash command's name, for usage lines ("/meeting").
	Command string
	// TokenMargin: a cached control token is used only while it expires
	// more than this far in the future. Default 60 s.
	TokenMargin time.Duration
	Now         func() time.Time
	Logger      zerolog.Logger
}

// Service runs /meeting commands. It is safe for concurrent use.
type Service struct {
	meetings Meetings
	store    store.Store
	admins   []string
	command  string
	margin   time.Duration
	now      func() time.Time
	log      zerolog.Logger
	tokens   flightGroup

	mu     sync.Mutex
	recent map[meetingKey]time.Time // meetings controlled lately, for keep-alive
}

type meetingKey struct {
	ch store.Channel
	id meetingapi.ConferenceID
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
	return s, nil
}

// Command is the slash command name the service was configured with.
func (s *Service) Command() string { return s.command }

// Request is one command from one person in one channel.
type Request struct {
	Channel store.Channel
	UserID  string
	Command Command
	// FromButton marks a click on a Lock/Unlock button. A button can be
	// stale: if the meeting is already in the state it asks for, the click
	// is explained instead of sent to the meeting API.
	FromButton bool
}

// Action IDs of the buttons on lock and unlock confirmations.
const (
	ActionLock   = "meeting_lock"
	ActionUnlock = "meeting_unlock"
)

// Execute runs the command and returns the reply to show. It never returns
// an error: every failure becomes a reply, and internal faults are logged.
func (s *Service) Execute(ctx context.Context, req Request) Reply {
	switch req.Command.Verb {
	case VerbLock:
		return s.setLock(ctx, req, true)
	case VerbUnlock:
		return s.setLock(ctx, req, false)
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
	default:
		return Help(s.command)
	}
}

// Progress is the short ephemeral line shown while a command runs. It needs
// no I/O, so the bot can put it in the acknowledgement.
func Progress(cmd Command) string {
	what := "this channel's meeting"
	if cmd.ConferenceID != "" {
		what = "meeting " + string(cmd.ConferenceID)
	}
	switch cmd.Verb {
	case VerbLock:
		return ":hourglass_flowing_sand: Locking " + what + "…"
	case VerbUnlock:
		return ":hourglass_flowing_sand: Unlocking " + what + "…"
	case VerbBind:
		if cmd.Password == "" {
			return "" // a form opens instead
		}
		return ":hourglass_flowing_sand: Checking the host password for " + what + "…"
	case VerbUnbind:
		return ":hourglass_flowing_sand: Unbinding " + what + "…"
	default:
		return ""
	}
}

func (s *Service) internalError(req Request, op string, err error) Reply {
	s.log.Error().Err(err).Str("op", op).Str("channel", req.Channel.ID).Str("user", req.UserID).Msg("command failed")
	return Reply{Visibility: Ephemeral, Text: ":x: Something went wrong on meetingbot's side, so nothing was changed. The details are in the bot's log."}
}

func (s *Service) audit(ctx context.Context, req Request, action string, id meetingapi.ConferenceID, outcome string, apiErr error, detail string) {
	r := store.AuditRecord{
		At: s.now().UTC(), Channel: req.Channel, UserID: req.UserID, Action: action,
		ConferenceID: string(id), Outcome: outcome, Detail: detail,
	}
	var ae *meetingapi.APIError
	if errors.As(apiErr, &ae) {
		r.ErrorCode, r.RequestID = ae.Code, ae.RequestID
		if r.ErrorCode == "" {
			r.ErrorCode = fmt.Sprintf("HTTP %d", ae.StatusCode)
		}
	}
	// The audit trail must not take a command down with it: the action has
	// already happened, so a failed write is logged, not shown.
	if err := s.store.Audit(context.WithoutCancel(ctx), r); err != nil {
		s.log.Error().Err(err).Str("action", action).Msg("audit write failed")
	}
}

// target resolves the meeting a command is about: the given ID bound in
// this channel, or the channel's default meeting.
func (s *Service) target(ctx context.Context, req Request) (store.Meeting, *Reply, error) {
	var (
		m   store.Meeting
		err error
	)
	if req.Command.ConferenceID == "" {
		m, err = s.store.DefaultMeeting(ctx, req.Channel)
	} else {
		m, err = s.store.Meeting(ctx, req.Channel, string(req.Command.ConferenceID))
	}
	if errors.Is(err, store.ErrNotFound) {
		if req.Command.ConferenceID == "" {
			return m, &Reply{Visibility: Ephemeral,
				Text:    ":information_source: No meeting is bound to this channel yet.",
				Details: []string{"Bind one with `" + s.command + " bind ID PASSWORD`, or name the meeting: `" + Usage(s.command, req.Command.Verb) + "`."},
			}, nil
		}
		id := req.Command.ConferenceID
		return m, &Reply{Visibility: Ephemeral,
			Text:    fmt.Sprintf(":information_source: Meeting %s is not bound in this channel.", id),
			Details: []string{fmt.Sprintf("Credentials are kept per channel. A controller here can bind it with `%s bind %s PASSWORD`.", s.command, id)},
		}, nil
	}
	return m, nil, err
}

func (s *Service) isAdmin(user string) bool { return slices.Contains(s.admins, user) }

// authorize reports whether user may control ch's meetings. With no
// controllers yet, only admins may, except for bind (see bind).
func (s *Service) authorize(ctx context.Context, ch store.Channel, user string) (bool, []store.Controller, error) {
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

func (s *Service) refusal(ctx context.Context, req Request, what string, id meetingapi.ConferenceID, ctrls []store.Controller) Reply {
	s.audit(ctx, req, string(req.Command.Verb), id, "refused", nil, "not a controller")
	var who []string
	for _, c := range ctrls {
		who = append(who, mention(c.UserID))
	}
	text := fmt.Sprintf(":no_entry: Only this channel's controllers can %s", what)
	if len(who) > 0 {
		text += ": " + strings.Join(who, ", ") + "."
	} else {
		text += "."
	}
	r := Reply{Visibility: Ephemeral, Text: text}
	if len(s.admins) > 0 {
		r.Details = append(r.Details, "meetingbot admins can too: "+mentions(s.admins)+".")
	}
	r.Details = append(r.Details, "Ask a controller to run `"+s.command+" grant @you`.")
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

func (s *Service) setLock(ctx context.Context, req Request, locked bool) Reply {
	verb, done := "lock", "locked"
	if !locked {
		verb, done = "unlock", "unlocked"
	}
	m, notBound, err := s.target(ctx, req)
	if err != nil {
		return s.internalError(req, verb, err)
	}
	if notBound != nil {
		return *notBound
	}
	id := meetingapi.ConferenceID(m.ConferenceID)
	ok, ctrls, err := s.authorize(ctx, req.Channel, req.UserID)
	if err != nil {
		return s.internalError(req, verb, err)
	}
	if !ok {
		return s.refusal(ctx, req, verb+" meeting "+string(id), id, ctrls)
	}
	if req.FromButton && (locked && m.LockState == store.LockLocked || !locked && m.LockState == store.LockUnlocked) {
		return Reply{Visibility: Ephemeral,
			Text: fmt.Sprintf(":information_source: Meeting %s is already %s (by %s at %s), so that button did nothing.", id, done, mention(m.LockSetBy), formatClock(m.LockSetAt))}
	}

	err = s.controlWithToken(ctx, req.Channel, id, func(tok meetingapi.Token) error {
		return s.meetings.SetLock(ctx, id, tok, locked)
	})
	if err != nil {
		if errors.Is(err, store.ErrUndecryptable) {
			s.audit(ctx, req, verb, id, "error", nil, "stored credential cannot be decrypted")
			return undecryptableReply(s.command, id)
		}
		if isInternal(err) {
			return s.internalError(req, verb, err)
		}
		s.audit(ctx, req, verb, id, "error", err, "")
		return apiErrorReply(s.command, "Could not "+verb+" meeting "+string(id), id, err)
	}
	state := store.LockUnlocked
	if locked {
		state = store.LockLocked
	}
	if err := s.store.SetLockState(context.WithoutCancel(ctx), req.Channel, string(id), state, req.UserID, s.now().UTC()); err != nil {
		s.log.Error().Err(err).Msg("recording lock state failed")
	}
	s.audit(ctx, req, verb, id, "ok", nil, "")
	return Confirmation(id, req.UserID, locked)
}

// Confirmation is the in-channel message for a lock or unlock by user,
// with the button that undoes it.
func Confirmation(id meetingapi.ConferenceID, user string, locked bool) Reply {
	icon, done := ":lock:", "locked"
	if !locked {
		icon, done = ":unlock:", "unlocked"
	}
	return Reply{
		Visibility:  InChannel,
		Text:        fmt.Sprintf("%s Meeting %s %s by %s.", icon, id, done, mention(user)),
		Actions:     []Action{toggleAction(id, !locked)},
		StateChange: true,
	}
}

// toggleAction is the button that undoes a lock or unlock.
func toggleAction(id meetingapi.ConferenceID, lock bool) Action {
	if lock {
		return Action{ID: ActionLock, Label: "Lock", Value: string(id),
			Confirm: &Confirm{Title: "Lock the meeting?", Text: fmt.Sprintf("Nobody else will be able to join meeting %s.", id), Yes: "Lock", No: "Cancel"}}
	}
	return Action{ID: ActionUnlock, Label: "Unlock", Value: string(id), Danger: true,
		Confirm: &Confirm{Title: "Unlock the meeting?", Text: fmt.Sprintf("Anyone with the meeting ID and password will be able to join meeting %s again.", id), Yes: "Unlock", No: "Cancel"}}
}

// internalErr marks failures of our own storage, as opposed to the meeting
// API's, so that they are logged rather than shown.
type internalErr struct{ err error }

func (e internalErr) Error() string { return e.err.Error() }
func (e internalErr) Unwrap() error { return e.err }

func isInternal(err error) bool {
	var ie internalErr
	return errors.As(err, &ie) && !errors.Is(err, store.ErrUndecryptable)
}

func undecryptableReply(command string, id meetingapi.ConferenceID) Reply {
	return Reply{
		Visibility: Ephemeral,
		Text:       fmt.Sprintf(":x: The stored host password for meeting %s cannot be decrypted, so nothing was sent to the meeting.", id),
		Details: []string{
			"MEETINGBOT_SECRET_KEY is not the key it was stored with.",
			fmt.Sprintf("A controller can bind it again: `%s bind %s`.", command, id),
		},
	}
}

// apiErrorReply shows the vendor's code verbatim with a plain hint, in the
// channel: the room should see that the action did not happen.
func apiErrorReply(command, what string, id meetingapi.ConferenceID, err error) Reply {
	r := Reply{Visibility: InChannel, Text: ":warning: " + what + ": " + describeAPIError(err)}
	if errors.Is(err, meetingapi.ErrWrongPassword) {
		r.Details = []string{fmt.Sprintf("If the host password changed, a controller can bind it again: `%s bind %s`.", command, id)}
	}
	return r
}

func describeAPIError(err error) string {
	var ae *meetingapi.APIError
	if errors.As(err, &ae) {
		hint := meetingapi.HintFor(err)
		if hint == "" {
			hint = escapeMrkdwn(ae.Message)
			if hint != "" && !strings.HasSuffix(hint, ".") {
				hint += "."
			}
		}
		code := ae.Code
		if code == "" {
			code = "no error code"
		}
		s := fmt.Sprintf("%s (HTTP %d)", code, ae.StatusCode)
		if hint != "" {
			s += " - " + hint
		}
		return s
	}
	if errors.Is(err, meetingapi.ErrCircuitOpen) {
		return meetingapi.HintFor(err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the meeting service did not answer in time. Try again."
	}
	return "the meeting service could not be reached. Try again."
}

// escapeMrkdwn keeps vendor text from turning into mentions or links.
func escapeMrkdwn(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// controlWithToken runs call with a valid control token, fetching one if the
// cache has none, and retries once with a fresh token after a 401.
func (s *Service) controlWithToken(ctx context.Context, ch store.Channel, id meetingapi.ConferenceID, call func(meetingapi.Token) error) error {
	s.markUsed(ch, id)
	tok, err := s.token(ctx, ch, id, "")
	if err != nil {
		return err
	}
	err = call(tok)
	if !errors.Is(err, meetingapi.ErrTokenInvalid) {
		return err
	}
	s.log.Debug().Str("conference", string(id)).Msg("control token rejected; fetching a fresh one")
	tok, err = s.token(ctx, ch, id, tok)
	if err != nil {
		return err
	}
	return call(tok)
}

// token returns a control token for id in ch. A cached token is used while
// it is valid for more than the margin and is not stale (the one that just
// failed). Concurrent callers for the same meeting share one fetch.
func (s *Service) token(ctx context.Context, ch store.Channel, id meetingapi.ConferenceID, stale meetingapi.Token) (meetingapi.Token, error) {
	if tok, ok, err := s.cachedToken(ctx, ch, id, stale); err != nil || ok {
		return tok, err
	}
	key := ch.Team + "\x00" + ch.ID + "\x00" + string(id)
	return s.tokens.do(ctx, key, func(fctx context.Context) (meetingapi.Token, error) {
		// Another caller may have refreshed it while we queued.
		if tok, ok, err := s.cachedToken(fctx, ch, id, stale); err != nil || ok {
			return tok, err
		}
		pw, err := s.store.Password(fctx, ch, string(id))
		if err != nil {
			return "", internalErr{err}
		}
		ct, err := s.meetings.ControlToken(fctx, id, meetingapi.Password(pw))
		if err != nil {
			return "", err
		}
		if err := s.store.PutToken(fctx, ch, string(id), ct.Token.Reveal(), ct.ExpiresAt); err != nil {
			// The token works even if caching it failed.
			s.log.Error().Err(err).Msg("caching control token failed")
		}
		return ct.Token, nil
	})
}

func (s *Service) cachedToken(ctx context.Context, ch store.Channel, id meetingapi.ConferenceID, stale meetingapi.Token) (meetingapi.Token, bool, error) {
	v, exp, err := s.store.Token(ctx, ch, string(id))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", false, nil
	case err != nil:
		return "", false, internalErr{err}
	}
	tok := meetingapi.Token(v)
	if tok == stale || exp.Sub(s.now()) <= s.margin {
		return "", false, nil
	}
	return tok, true, nil
}
