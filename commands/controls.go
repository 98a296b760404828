package commands

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/store"
)

// A control is one thing a controller can do to a running meeting. Every
// control goes through one path (control): rate limit, resolve the meeting,
// authorize, coalesce identical commands, serialise per meeting, get a
// control token (fetching a new one once after a 401), call the meeting
// service, record the outcome and the state it left in one write, and say
// what happened. Adding a control is a row here, a client method and a
// golden file.
type control struct {
	// what the person asked, for refusals ("lock meeting %[1]s"), and the
	// head of an API error ("Could not lock meeting %[1]s"): formats of the
	// conference ID and, for a per-person control, the person's name (%[2]s).
	what, failed string
	// call does it; a per-person control acts on cmd.PID.
	call func(ctx context.Context, m Meetings, id domain.ConferenceID, tok domain.Token, cmd Command) error
	// person: the control acts on one participant (cmd.PID), who is looked
	// up first, so a click on someone who already left is explained.
	person bool
	// change is the state the meeting is in after the call succeeded.
	change func(cmd Command) *store.StateChange
	// done is the in-channel outcome.
	done func(o outcome) Reply
	// already says whether the state known before the call was already
	// what the call asks for, as "already locked" words, or "".
	already func(st store.MeetingState, cmd Command) string
	// once: two identical commands must both run (extend adds up).
	once bool
	// staleWhenKnown: a button asking for the state the meeting service
	// itself reports is explained instead of sent.
	staleWhenKnown bool
	// sparesHost: the control is never done to the meeting's host (removing
	// the host, or sending them to the waiting room, ends the meeting's
	// control for everyone).
	sparesHost bool
}

// outcome is what done needs to word a successful control.
type outcome struct {
	id     domain.ConferenceID
	user   string
	cmd    Command
	person *meetingapi.Participant
}

var controls map[Verb]*control

func init() {
	controls = map[Verb]*control{
		VerbLock: {
			what:   "lock meeting %[1]s",
			failed: "Could not lock meeting %[1]s",
			call: func(ctx context.Context, m Meetings, id domain.ConferenceID, tok domain.Token, _ Command) error {
				return m.SetLock(ctx, id, tok, true)
			},
			change:         lockChange(domain.LockLocked),
			done:           func(o outcome) Reply { return Confirmation(o.id, o.user, true) },
			already:        alreadyLocked(domain.LockLocked),
			staleWhenKnown: true,
		},
		VerbUnlock: {
			what:   "unlock meeting %[1]s",
			failed: "Could not unlock meeting %[1]s",
			call: func(ctx context.Context, m Meetings, id domain.ConferenceID, tok domain.Token, _ Command) error {
				return m.SetLock(ctx, id, tok, false)
			},
			change:         lockChange(domain.LockUnlocked),
			done:           func(o outcome) Reply { return Confirmation(o.id, o.user, false) },
			already:        alreadyLocked(domain.LockUnlocked),
			staleWhenKnown: true,
		},
		VerbMute: {
			what:   "mute meeting %[1]s",
			failed: "Could not mute meeting %[1]s",
			call: func(ctx context.Context, m Meetings, id domain.ConferenceID, tok domain.Token, _ Command) error {
				return m.MuteAll(ctx, id, tok, true, false)
			},
			done: func(o outcome) Reply {
				return Reply{Visibility: InChannel, StateChange: true,
					Text:    fmt.Sprintf(":mute: Everyone but the host in meeting %s was muted by %s, and cannot unmute themselves.", o.id, mention(o.user)),
					Actions: []Action{{ID: ActionUnmuteAll, Label: "Unmute everyone", Value: string(o.id)}}}
			},
		},
		VerbUnmute: {
			what:   "unmute meeting %[1]s",
			failed: "Could not unmute meeting %[1]s",
			call: func(ctx context.Context, m Meetings, id domain.ConferenceID, tok domain.Token, _ Command) error {
				return m.MuteAll(ctx, id, tok, false, true)
			},
			done: func(o outcome) Reply {
				return Reply{Visibility: InChannel, StateChange: true,
					Text:    fmt.Sprintf(":speaker: Everyone in meeting %s was unmuted by %s, and may unmute themselves again.", o.id, mention(o.user)),
					Actions: []Action{{ID: ActionMuteAll, Label: "Mute everyone", Value: string(o.id)}}}
			},
		},
		VerbRestrict: {
			what:   "change who may join meeting %[1]s",
			failed: "Could not change who may join meeting %[1]s",
			call: func(ctx context.Context, m Meetings, id domain.ConferenceID, tok domain.Token, cmd Command) error {
				return m.SetCallInRestriction(ctx, id, tok, vendorRestriction(cmd.Restriction))
			},
			change: func(cmd Command) *store.StateChange {
				r := cmd.Restriction
				return &store.StateChange{Restriction: &r}
			},
			done: func(o outcome) Reply {
				r := Reply{Visibility: InChannel, StateChange: true, Text: restrictionText(o.id, o.cmd.Restriction, o.user)}
				if o.cmd.Restriction != domain.RestrictionEveryone {
					r.Actions = []Action{{ID: ActionRestrictEveryone, Label: "Let everyone join", Value: string(o.id)}}
				}
				return r
			},
			already: func(st store.MeetingState, cmd Command) string {
				if st.Restriction == cmd.Restriction && st.RestrictionBy != "" {
					return fmt.Sprintf("It already was: %s set it at %s.", mention(st.RestrictionBy), formatClock(st.RestrictionAt))
				}
				return ""
			},
		},
		VerbEnd: {
			what:   "end meeting %[1]s",
			failed: "Could not end meeting %[1]s",
			call: func(ctx context.Context, m Meetings, id domain.ConferenceID, tok domain.Token, _ Command) error {
				return m.Stop(ctx, id, tok)
			},
			change: func(Command) *store.StateChange { return &store.StateChange{Ended: true} },
			done: func(o outcome) Reply {
				return Reply{Visibility: InChannel, StateChange: true,
					Text:    fmt.Sprintf(":stop_sign: Meeting %s was ended by %s.", o.id, mention(o.user)),
					Details: []string{"People can rejoin it until its scheduled end. To keep someone out, lock it or restrict it to invited people: ending is not enough."}}
			},
		},
		VerbExtend: {
			what:   "extend meeting %[1]s",
			failed: "Could not extend meeting %[1]s",
			call: func(ctx context.Context, m Meetings, id domain.ConferenceID, tok domain.Token, cmd Command) error {
				return m.Prolong(ctx, id, tok, cmd.Minutes)
			},
			change: func(cmd Command) *store.StateChange {
				d := time.Duration(cmd.Minutes) * time.Minute
				return &store.StateChange{Extend: &d}
			},
			done: func(o outcome) Reply {
				return Reply{Visibility: InChannel, StateChange: true,
					Text: fmt.Sprintf(":hourglass_flowing_sand: Meeting %s was extended by %s by %s.", o.id, minutes(o.cmd.Minutes), mention(o.user))}
			},
			once: true,
		},
		VerbRemove: {
			what:   "remove people from meeting %[1]s",
			failed: "Could not remove %[2]s from meeting %[1]s",
			call: func(ctx context.Context, m Meetings, id domain.ConferenceID, tok domain.Token, cmd Command) error {
				return m.HangUp(ctx, id, tok, cmd.PID)
			},
			person:     true,
			sparesHost: true,
			done: func(o outcome) Reply {
				return Reply{Visibility: InChannel, StateChange: true,
					Text:    fmt.Sprintf(":wave: %s removed %s from meeting %s.", mention(o.user), personName(o.person), o.id),
					Details: []string{"They can rejoin while the meeting is open to them: lock it, or restrict it to invited people."},
					// These keep the record of the removal: they answer anew.
					Actions: []Action{{ID: ActionAlertLock, Label: "Lock meeting", Value: string(o.id),
						Confirm: &Confirm{Title: "Lock the meeting?", Text: fmt.Sprintf("Nobody else will be able to join meeting %s.", o.id), Yes: "Lock", No: "Cancel"}},
						{ID: ActionAlertRestrict, Label: "Invited people only", Value: string(o.id)}}}
			},
		},
		VerbMuteOne: {
			what:   "mute people in meeting %[1]s",
			failed: "Could not mute %[2]s in meeting %[1]s",
			call: func(ctx context.Context, m Meetings, id domain.ConferenceID, tok domain.Token, cmd Command) error {
				return m.MuteParticipant(ctx, id, tok, cmd.PID, true)
			},
			person: true,
			done: func(o outcome) Reply {
				return Reply{Visibility: InChannel,
					Text: fmt.Sprintf(":mute: %s muted %s in meeting %s.", mention(o.user), personName(o.person), o.id)}
			},
		},
		VerbWaitingRoom: {
			what:   "move people in meeting %[1]s",
			failed: "Could not move %[2]s to the waiting room of meeting %[1]s",
			call: func(ctx context.Context, m Meetings, id domain.ConferenceID, tok domain.Token, cmd Command) error {
				return m.MoveToWaitingRoom(ctx, id, tok, cmd.PID)
			},
			person:     true,
			sparesHost: true,
			done: func(o outcome) Reply {
				return Reply{Visibility: InChannel,
					Text: fmt.Sprintf(":door: %s moved %s to the waiting room of meeting %s.", mention(o.user), personName(o.person), o.id)}
			},
		},
	}
}

func lockChange(st domain.LockState) func(Command) *store.StateChange {
	return func(Command) *store.StateChange { return &store.StateChange{Lock: &st} }
}

func alreadyLocked(want domain.LockState) func(store.MeetingState, Command) string {
	return func(st store.MeetingState, _ Command) string {
		if st.Lock != want {
			return ""
		}
		if st.LockSource == store.SourceMeeting || st.LockBy == "" {
			return fmt.Sprintf("It already was: the meeting service reported it %s at %s.", want, formatClock(st.LockAt))
		}
		return fmt.Sprintf("It already was: %s %s it at %s.", mention(st.LockBy), want, formatClock(st.LockAt))
	}
}

func vendorRestriction(r domain.JoinRestriction) meetingapi.Restriction {
	switch r {
	case domain.RestrictionCompany:
		return meetingapi.RestrictionCompany
	case domain.RestrictionInvited:
		return meetingapi.RestrictionInvited
	}
	return meetingapi.RestrictionEveryone
}

func restrictionText(id domain.ConferenceID, r domain.JoinRestriction, user string) string {
	switch r {
	case domain.RestrictionInvited:
		return fmt.Sprintf(":closed_lock_with_key: Only invited people may join meeting %s now (set by %s).", id, mention(user))
	case domain.RestrictionCompany:
		return fmt.Sprintf(":office: Only people of the host's organisation may join meeting %s now (set by %s).", id, mention(user))
	}
	return fmt.Sprintf(":door: Anyone with the meeting ID may join meeting %s again (set by %s).", id, mention(user))
}

func minutes(n int) string {
	if n == 1 {
		return "1 minute"
	}
	return strconv.Itoa(n) + " minutes"
}

// personName is a participant's name as the meeting shows it, escaped;
// "that person" when the meeting service could not say who it is.
func personName(p *meetingapi.Participant) string {
	if p == nil {
		return "that person"
	}
	if strings.TrimSpace(p.Name) == "" {
		return "a participant without a name"
	}
	return "*" + escape(strings.TrimSpace(p.Name)) + "*"
}

// Confirmation is the in-channel message for a lock or unlock by user,
// with the button that undoes it.
func Confirmation(id domain.ConferenceID, user string, locked bool) Reply {
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
func toggleAction(id domain.ConferenceID, lock bool) Action {
	if lock {
		return Action{ID: ActionLock, Label: "Lock", Value: string(id),
			Confirm: &Confirm{Title: "Lock the meeting?", Text: fmt.Sprintf("Nobody else will be able to join meeting %s.", id), Yes: "Lock", No: "Cancel"}}
	}
	return Action{ID: ActionUnlock, Label: "Unlock", Value: string(id), Danger: true,
		Confirm: &Confirm{Title: "Unlock the meeting?", Text: fmt.Sprintf("Anyone with the meeting ID and password will be able to join meeting %s again.", id), Yes: "Unlock", No: "Cancel"}}
}

// controlResult is what the leader of a coalesced flight tells those who
// joined it.
type controlResult struct {
	ok    bool
	reply Reply
}

var onceSeq atomic.Uint64

// control runs one control through the shared path.
func (s *Service) control(ctx context.Context, req Request, c *control) Reply {
	cmd := req.Command
	if ok, wait := s.limits.allowUser(req.UserID); !ok {
		s.log.Warn().Str("channel", req.Channel.ID).Str("user", req.UserID).Str("verb", string(cmd.Verb)).Msg("rate limited")
		return slowDown(wait)
	}
	t, notBound, err := s.resolve(ctx, req)
	if err != nil {
		return s.internalError(req, string(cmd.Verb), err)
	}
	if notBound != nil {
		return *notBound
	}
	id := t.Meeting.ConferenceID
	if !t.IsController && !s.isAdmin(req.UserID) {
		ctrls, err := s.store.Controllers(ctx, req.Channel)
		if err != nil {
			return s.internalError(req, string(cmd.Verb), err)
		}
		return s.refusal(ctx, req, fmt.Sprintf(c.what, id), id, ctrls, "")
	}
	if ok, wait := s.limits.allowChannel(req.Channel); !ok {
		s.log.Warn().Str("channel", req.Channel.ID).Str("verb", string(cmd.Verb)).Msg("channel rate limited")
		return slowDown(wait)
	}

	// Only the same command in the same channel is joined: each channel gets
	// its own outcome and its own record.
	key := req.Channel.Team + "\x00" + req.Channel.ID + "\x00" + string(cmd.Verb) + "\x00" + cmd.PID + "\x00" + cmd.Name + "\x00" + strconv.Itoa(int(cmd.Restriction)) + "\x00" + strconv.Itoa(cmd.Minutes)
	if c.once {
		key += "\x00" + strconv.FormatUint(onceSeq.Add(1), 10)
	}
	fl, leader := s.inFlight.start(id, key, req.UserID)
	if !leader {
		req.Progress.Set(PhaseQueued)
		select {
		case <-fl.done:
		case <-ctx.Done():
			return Reply{Visibility: Ephemeral, Outcome: OutcomeError,
				Text: fmt.Sprintf(":hourglass: The same command by %s for meeting %s is still running; its outcome will show in the channel.", mention(fl.leader), id)}
		}
		return joined(fl.result, fl.leader)
	}
	var res controlResult
	defer func() { s.inFlight.finish(id, fl, res) }()
	res = s.runControl(ctx, req, c, t)
	return res.reply
}

// joined is the reply to a command that waited for an identical one.
func joined(r controlResult, leader string) Reply {
	rep := r.reply
	rep.Visibility = Ephemeral
	rep.Actions = nil
	rep.StateChange = false
	if r.ok {
		rep.Details = append([]string{fmt.Sprintf("%s asked for the same a moment earlier, so meetingbot did it once for both of you.", mention(leader))}, rep.Details...)
	}
	return rep
}

func slowDown(wait time.Duration) Reply {
	secs := int(wait.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	return Reply{Visibility: Ephemeral, Outcome: OutcomeRefused,
		Text: fmt.Sprintf(":turtle: Slow down: that is a lot of commands in a short time. Nothing was done; try again in %d s.", secs)}
}

func slowDownBind(wait time.Duration) BindResult {
	r := slowDown(wait)
	return BindResult{Reply: r, FieldProblem: strings.TrimPrefix(r.Text, ":turtle: ")}
}

// runControl serialises on the meeting, calls it, and records the outcome.
func (s *Service) runControl(ctx context.Context, req Request, c *control, t store.Target) controlResult {
	cmd := req.Command
	id := t.Meeting.ConferenceID
	verb := string(cmd.Verb)
	req.Progress.Set(PhaseQueued)
	fence, prior, unlock, err := s.store.LockMeetingState(ctx, id)
	if err != nil {
		if ctx.Err() != nil {
			return controlResult{reply: Reply{Visibility: Ephemeral, Outcome: OutcomeError,
				Text: fmt.Sprintf(":hourglass: Other commands for meeting %s took all the time, so nothing was sent. Try again.", id)}}
		}
		return controlResult{reply: s.internalError(req, verb, err)}
	}
	defer unlock()
	if req.FromButton && c.staleWhenKnown && s.reallyKnows(id, prior) {
		if words := c.already(prior, cmd); words != "" {
			return controlResult{reply: Reply{Visibility: Ephemeral, Outcome: OutcomeRefused,
				Text: fmt.Sprintf(":information_source: Nothing to do for meeting %s. %s", id, words)}}
		}
	}

	var person *meetingapi.Participant
	err = s.withToken(ctx, req, t, func(tok domain.Token) error {
		req.Progress.Set(PhaseMeeting)
		if c.person {
			info, err := s.meetings.RealTimeInfo(ctx, id, tok)
			if err != nil {
				return err
			}
			p, err := s.pickPerson(id, &cmd, info)
			if err != nil {
				return err
			}
			person = &p
			if c.sparesHost && p.Host {
				return errHost
			}
		}
		return c.call(ctx, s.meetings, id, tok, cmd)
	})
	var pick *pickError
	switch {
	case errors.As(err, &pick):
		return controlResult{reply: pick.reply}
	case errors.Is(err, errHost):
		return controlResult{reply: Reply{Visibility: Ephemeral, Outcome: OutcomeRefused,
			Text: fmt.Sprintf(":no_entry: %s is the host of meeting %s, and meetingbot does not do that to the host, so nothing was done.", personName(person), id)}}
	case errors.Is(err, errGone):
		return controlResult{reply: Reply{Visibility: Ephemeral, Outcome: OutcomeRefused,
			Text: fmt.Sprintf(":information_source: That person is no longer in meeting %s, so nothing was done.", id)}}
	case errors.Is(err, store.ErrUndecryptable):
		s.audit(ctx, req, verb, id, store.OutcomeError, nil, "stored credential cannot be decrypted")
		return controlResult{reply: undecryptableReply(s.command, id)}
	case isInternal(err):
		return controlResult{reply: s.internalError(req, verb, err)}
	case err != nil:
		var change *store.StateChange
		if errors.Is(err, meetingapi.ErrMeetingNotFound) {
			change = &store.StateChange{ConferenceID: id, Fence: fence, By: req.UserID, At: s.now().UTC(), Ended: true}
		}
		_ = s.record(ctx, s.auditRecord(req, verb, id, store.OutcomeError, err, ""), change)
		return controlResult{reply: apiErrorReply(s.command, fmt.Sprintf(c.failed, id, personName(person)), id, err)}
	}

	o := outcome{id: id, user: req.UserID, cmd: cmd, person: person}
	reply := c.done(o)
	if c.already != nil {
		if words := c.already(prior, cmd); words != "" {
			reply.Details = append(reply.Details, words)
		}
	}
	var change *store.StateChange
	if c.change != nil {
		change = c.change(cmd)
		change.ConferenceID, change.Fence, change.By, change.At = id, fence, req.UserID, s.now().UTC()
	}
	detail := ""
	if person != nil {
		detail = strings.TrimSpace(person.Name)
	} else if cmd.Verb == VerbExtend {
		detail = minutes(cmd.Minutes)
	} else if cmd.Verb == VerbRestrict {
		detail = cmd.Restriction.String()
	}
	req.Progress.Set(PhaseDatabase)
	if err := s.record(ctx, s.auditRecord(req, verb, id, store.OutcomeOK, nil, detail), change); err != nil {
		reply.Details = append(reply.Details, notRecordedLine)
	}
	return controlResult{ok: true, reply: reply}
}

// errGone: the participant a per-person control is about has left.
var errGone = errors.New("the participant is no longer in the meeting")

// errHost: a control that spares the host was asked of the host.
var errHost = errors.New("the participant is the meeting's host")

// reallyKnows reports whether the recorded state of id can be trusted to be
// the meeting's real state: only while a watch follows the meeting and has
// seen its state since it (re)connected. Then every change is recorded,
// whether the meeting service reported it or meetingbot made it.
func (s *Service) reallyKnows(id domain.ConferenceID, st store.MeetingState) bool {
	return s.watches != nil && s.watches.Live(id) && st.Lock != domain.LockUnknown
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

func undecryptableReply(command string, id domain.ConferenceID) Reply {
	return Reply{
		Visibility: Ephemeral,
		Outcome:    OutcomeError,
		Text:       fmt.Sprintf(":x: The stored host password for meeting %s cannot be decrypted, so nothing was sent to the meeting.", id),
		Details: []string{
			"MEETINGBOT_SECRET_KEY is not the key it was stored with.",
			fmt.Sprintf("A controller can bind it again: `%s bind %s`.", command, id),
		},
	}
}

// apiErrorReply shows the vendor's answer in the channel, plain words first
// and the vendor's code verbatim after them: the room should see that the
// action did not happen.
func apiErrorReply(command, what string, id domain.ConferenceID, err error) Reply {
	r := Reply{Visibility: InChannel, Outcome: OutcomeAPIError, Text: ":warning: " + what + ": " + describeAPIError(err)}
	var ae *meetingapi.APIError
	if !errors.As(err, &ae) {
		r.Outcome = OutcomeError // no answer from the meeting service
	}
	if errors.Is(err, meetingapi.ErrWrongPassword) {
		r.Details = []string{fmt.Sprintf("If the host password changed, a controller can bind it again: `%s bind %s`.", command, id)}
	}
	return r
}

// describeAPIError says in plain words what the meeting service answered,
// then its code and status verbatim: "the meeting has ended (MMC.111072006,
// HTTP 400)." Everything from the vendor is escaped.
func describeAPIError(err error) string {
	var ae *meetingapi.APIError
	if errors.As(err, &ae) {
		words := strings.TrimSuffix(meetingapi.HintFor(err), ".")
		if words == "" {
			words = strings.TrimSuffix(escape(strings.TrimSpace(ae.Message)), ".")
		}
		if words == "" {
			words = "the meeting service refused it"
		}
		code := escape(ae.Code)
		if code == "" {
			code = "no error code"
		}
		return fmt.Sprintf("%s (%s, HTTP %d).", words, code, ae.StatusCode)
	}
	if h := meetingapi.HintFor(err); h != "" {
		return h
	}
	if errors.Is(err, context.Canceled) {
		return "meetingbot stopped (it is restarting) before the meeting service answered, so it may or may not have been done. Check with `status`, or try again in a moment."
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the meeting service did not answer in time. Try again."
	}
	return "the meeting service could not be reached. Try again."
}
