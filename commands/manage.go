package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/store"
)

// MayBind reports whether user may bind a meeting in ch: anyone while the
// channel has no controllers, its controllers and admins after that. When
// the answer is no, the refusal to show comes with it. The store checks
// again when it writes, so a controller revoked meanwhile stores nothing.
func (s *Service) MayBind(ctx context.Context, req Request) (bool, Reply) {
	ok, ctrls, err := s.authorize(ctx, req.Channel, req.UserID)
	if err != nil {
		return false, s.internalError(req, "bind", err)
	}
	if ok || len(ctrls) == 0 {
		return true, Reply{}
	}
	return false, s.refusal(ctx, req, "bind meetings here", req.Command.ConferenceID, ctrls, "")
}

func (s *Service) bind(ctx context.Context, req Request) Reply {
	if req.Command.Password == "" {
		return Reply{Visibility: Ephemeral, Outcome: OutcomeUsage,
			Text:    ":grey_question: Give the host password too.",
			Details: []string{"Usage: `" + Usage(s.command, VerbBind) + "`"}}
	}
	if ok, refusal := s.MayBind(ctx, req); !ok {
		return refusal
	}
	return s.Bind(ctx, req.Channel, req.UserID, req.Command.ConferenceID, req.Command.Password).Reply
}

// BindResult is the outcome of a bind.
type BindResult struct {
	Reply Reply
	// FieldProblem, when set, is why nothing was stored, worded for the
	// password field of the bind form (which then stays open).
	FieldProblem string
}

// Bind checks the host password against the meeting API and stores it. A
// meeting the API says does not exist, and a rejected password, store
// nothing. A meeting that exists but is not running cannot have its
// password checked, so it is stored with that said on the first line. The
// caller has asked MayBind; the store checks again in the same transaction
// as the write. Binds are rate-limited like controls, from the command and
// the form alike, so a form that stays open after a wrong password cannot
// be used to guess the host password at speed.
func (s *Service) Bind(ctx context.Context, ch domain.Channel, user string, id domain.ConferenceID, pw domain.Password) BindResult {
	req := Request{Channel: ch, UserID: user, Command: Command{Verb: VerbBind, ConferenceID: id}}
	if ok, wait := s.limits.allowUser(user); !ok {
		return slowDownBind(wait)
	}
	if ok, wait := s.limits.allowChannel(ch); !ok {
		return slowDownBind(wait)
	}
	ct, verifyErr := s.meetings.ControlToken(ctx, id, pw)
	s.metrics.TokenFetch(fetchPassword, fetchResult(verifyErr))
	var ae *meetingapi.APIError
	switch {
	case errors.Is(verifyErr, meetingapi.ErrWrongPassword):
		s.audit(ctx, req, "bind", id, store.OutcomeError, verifyErr, "host password not accepted")
		return BindResult{Reply: WrongPasswordReply(id, verifyErr), FieldProblem: "That host password was not accepted. Check it and try again."}
	case errors.As(verifyErr, &ae) && ae.Code == meetingapi.CodeMeetingNotExist:
		s.audit(ctx, req, "bind", id, store.OutcomeError, verifyErr, "no such meeting")
		return BindResult{
			Reply: Reply{Visibility: Ephemeral, Outcome: OutcomeAPIError,
				Text:    fmt.Sprintf(":x: The meeting service says meeting %s does not exist, so nothing was stored: %s", id, describeAPIError(verifyErr)),
				Details: []string{"Check the conference ID (it is in the meeting's invitation) and bind again."}},
			FieldProblem: fmt.Sprintf("Meeting %s does not exist. Close this form, check the conference ID and bind again.", id),
		}
	}
	err := s.store.Bind(context.WithoutCancel(ctx), store.BindRequest{
		Channel: ch, ConferenceID: id, Password: pw, By: s.actor(user), At: s.now().UTC(), Verified: verifyErr == nil,
	})
	switch {
	case errors.Is(err, store.ErrNotAllowed):
		s.audit(ctx, req, "bind", id, store.OutcomeRefused, nil, "no longer a controller")
		return BindResult{
			Reply: Reply{Visibility: Ephemeral, Outcome: OutcomeRefused,
				Text: ":no_entry: You are no longer one of this channel's controllers, so nothing was stored."},
			FieldProblem: "You are no longer one of this channel's controllers, so nothing was stored.",
		}
	case err != nil:
		return BindResult{Reply: s.internalError(req, "bind", err), FieldProblem: "meetingbot could not store it; try again in a moment."}
	}
	next := fmt.Sprintf("You are one of this channel's controllers: try `%s lock`, `%s who` or `%s status`.", s.command, s.command, s.command)
	stored := "The host password is stored encrypted and is never shown again."
	if verifyErr != nil {
		first := fmt.Sprintf(":warning: Meeting %s is bound to this channel, but its host password could not be checked: %s", id, describeAPIError(verifyErr))
		if errors.Is(verifyErr, meetingapi.ErrMeetingNotFound) {
			first = fmt.Sprintf(":hourglass: Meeting %s is bound to this channel, but it is not running, so its host password could not be checked yet. The meeting service said: %s",
				id, describeAPIError(verifyErr))
		}
		s.audit(ctx, req, "bind", id, store.OutcomeUnverified, verifyErr, "stored without checking the password")
		return BindResult{Reply: Reply{Visibility: Ephemeral, Outcome: OutcomeOK, Text: first,
			Details: []string{"It is checked on the first command once the meeting runs; if it is wrong, bind again then.", stored, next}}}
	}
	if err := s.store.PutToken(context.WithoutCancel(ctx), ch, id, ct.Token, ct.ExpiresAt); err != nil {
		s.log.Error().Err(err).Msg("caching control token failed")
	}
	s.audit(ctx, req, "bind", id, store.OutcomeOK, nil, "")
	return BindResult{Reply: Reply{Visibility: Ephemeral, Outcome: OutcomeOK,
		Text:    fmt.Sprintf(":white_check_mark: Meeting %s is now bound to this channel.", id),
		Details: []string{stored, next}}}
}

// WrongPasswordReply is what a bind with a rejected password gets.
func WrongPasswordReply(id domain.ConferenceID, err error) Reply {
	return Reply{
		Visibility: Ephemeral,
		Outcome:    OutcomeAPIError,
		Text:       fmt.Sprintf(":x: The host password for meeting %s was not accepted, so nothing was stored.", id),
		Details:    []string{"The meeting service said: " + describeAPIError(err)},
	}
}

func (s *Service) unbind(ctx context.Context, req Request) Reply {
	t, notBound, err := s.resolve(ctx, req)
	if err != nil {
		return s.internalError(req, "unbind", err)
	}
	if notBound != nil {
		return *notBound
	}
	id := t.Meeting.ConferenceID
	refuse := func() Reply {
		ctrls, err := s.store.Controllers(ctx, req.Channel)
		if err != nil {
			return s.internalError(req, "unbind", err)
		}
		return s.refusal(ctx, req, "unbind meeting "+string(id), id, ctrls, "")
	}
	if !t.IsController && !s.isAdmin(req.UserID) {
		return refuse()
	}
	switch err := s.store.Unbind(ctx, req.Channel, id, s.actor(req.UserID)); {
	case errors.Is(err, store.ErrNotAllowed):
		return refuse()
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return s.internalError(req, "unbind", err)
	}
	if s.watches != nil {
		if err := s.watches.Stop(ctx, req.Channel, id); err != nil {
			s.log.Warn().Err(err).Str("conference_id", string(id)).Msg("stopping the watch of an unbound meeting failed")
		}
	}
	s.audit(ctx, req, "unbind", id, store.OutcomeOK, nil, "")
	return Reply{
		Visibility: Ephemeral,
		Text:       fmt.Sprintf(":wastebasket: Meeting %s is no longer bound to this channel, and its stored host password and token were deleted.", id),
	}
}

func (s *Service) status(ctx context.Context, req Request) Reply {
	t, notBound, err := s.resolve(ctx, req)
	if err != nil {
		return s.internalError(req, "status", err)
	}
	if notBound != nil {
		return *notBound
	}
	m := t.Meeting
	st, err := s.store.MeetingState(ctx, m.ConferenceID)
	if err != nil {
		return s.internalError(req, "status", err)
	}
	ctrls, err := s.store.Controllers(ctx, req.Channel)
	if err != nil {
		return s.internalError(req, "status", err)
	}
	now := s.now()
	r := Reply{
		Visibility: Ephemeral,
		Text:       fmt.Sprintf(":information_source: Meeting %s was bound to this channel by %s on %s.", m.ConferenceID, mention(m.BoundBy), formatTime(m.BoundAt)),
	}
	if !m.Verified {
		r.Details = append(r.Details, "Host password: not checked yet (the meeting was not running when it was bound).")
	}
	switch {
	case m.TokenExpiresAt.IsZero():
		r.Details = append(r.Details, "Control token: none cached; one is fetched with the next command.")
	case m.TokenExpiresAt.After(now):
		r.Details = append(r.Details, "Control token: valid until "+formatClock(m.TokenExpiresAt)+".")
	default:
		r.Details = append(r.Details, "Control token: expired at "+formatClock(m.TokenExpiresAt)+"; a new one is fetched with the next command.")
	}
	live := s.watches != nil && s.watches.Live(m.ConferenceID)
	r.Details = append(r.Details, lockLine(st, live))
	if st.Restriction != domain.RestrictionUnknown {
		r.Details = append(r.Details, fmt.Sprintf("Who may join: %s (set by %s at %s).", restrictionWords(st.Restriction), mention(st.RestrictionBy), formatTime(st.RestrictionAt)))
	}
	if st.Extended > 0 {
		line := fmt.Sprintf("Extended by meetingbot: %s in all, last by %s at %s.", minutes(int(st.Extended.Minutes())), mention(st.ExtendedBy), formatTime(st.ExtendedAt))
		r.Details = append(r.Details, line)
	}
	if !st.ScheduledEnd.IsZero() {
		r.Details = append(r.Details, "Scheduled end: "+formatTime(st.ScheduledEnd)+" (reported by the meeting service).")
	}
	if live {
		r.Details = append(r.Details, "Join alerts: on; meetingbot follows the meeting's events.")
	}
	r.Details = append(r.Details, "Controllers: "+controllerList(ctrls, s.admins)+".")
	if others, err := s.store.Meetings(ctx, req.Channel); err == nil && len(others) > 1 {
		var ids []string
		for _, o := range others {
			if o.ConferenceID != m.ConferenceID {
				ids = append(ids, string(o.ConferenceID))
			}
		}
		r.Details = append(r.Details, "Also bound here: "+strings.Join(ids, ", ")+".")
	}
	r.Note = statusNote(live)
	return r
}

// StatusNote says where a lock state the bot set comes from.
const StatusNote = "The meeting service does not report whether a meeting is locked unless meetingbot watches it; without a watch this is the last state meetingbot itself set, and someone may have changed it in the meeting since."

func statusNote(live bool) string {
	if live {
		return "Join alerts are on, so meetingbot follows the meeting's own reports: the lock state is the meeting's, whoever changed it."
	}
	return StatusNote
}

func lockLine(st store.MeetingState, live bool) string {
	switch {
	case st.LockSource == store.SourceEnded:
		return fmt.Sprintf("Lock state: unknown; the meeting service said the meeting was over at %s.", formatTime(st.LockAt))
	case st.Lock == domain.LockUnknown:
		return "Lock state: unknown; meetingbot has not locked or unlocked it yet."
	case st.LockSource == store.SourceMeeting:
		how := "as the meeting service last reported"
		if live {
			how = "as the meeting service reports"
		}
		return fmt.Sprintf("Lock state: %s, %s (at %s).", st.Lock, how, formatTime(st.LockAt))
	default:
		return fmt.Sprintf("Lock state: %s by %s at %s (set through meetingbot).", st.Lock, mention(st.LockBy), formatTime(st.LockAt))
	}
}

func restrictionWords(r domain.JoinRestriction) string {
	switch r {
	case domain.RestrictionInvited:
		return "invited people only"
	case domain.RestrictionCompany:
		return "people of the host's organisation"
	}
	return "anyone with the meeting ID"
}

func controllerList(ctrls []store.Controller, admins []string) string {
	var users []string
	for _, c := range ctrls {
		users = append(users, c.UserID)
	}
	s := "none yet"
	if len(users) > 0 {
		s = mentions(users)
	}
	if len(admins) > 0 {
		s += " (and meetingbot admins: " + mentions(admins) + ")"
	}
	return s
}

func (s *Service) grant(ctx context.Context, req Request) Reply {
	target := req.Command.UserID
	ok, ctrls, err := s.authorize(ctx, req.Channel, req.UserID)
	if err != nil {
		return s.internalError(req, "grant", err)
	}
	if !ok {
		return s.refusal(ctx, req, "grant control", "", ctrls, target)
	}
	for _, c := range ctrls {
		if c.UserID == target {
			return Reply{Visibility: Ephemeral, Text: fmt.Sprintf(":information_source: %s is already a controller here.", mention(target))}
		}
	}
	switch err := s.store.Grant(ctx, req.Channel, target, s.actor(req.UserID), s.now().UTC()); {
	case errors.Is(err, store.ErrNotAllowed):
		return s.refusal(ctx, req, "grant control", "", ctrls, target)
	case err != nil:
		return s.internalError(req, "grant", err)
	}
	s.audit(ctx, req, "grant", "", store.OutcomeOK, nil, target)
	return Reply{Visibility: InChannel,
		Text: fmt.Sprintf(":key: %s can now control this channel's meetings (granted by %s).", mention(target), mention(req.UserID))}
}

func (s *Service) revoke(ctx context.Context, req Request) Reply {
	target := req.Command.UserID
	ok, ctrls, err := s.authorize(ctx, req.Channel, req.UserID)
	if err != nil {
		return s.internalError(req, "revoke", err)
	}
	if !ok {
		return s.refusal(ctx, req, "revoke control", "", ctrls, target)
	}
	switch err := s.store.Revoke(ctx, req.Channel, target, s.actor(req.UserID)); {
	case errors.Is(err, store.ErrNotFound):
		return Reply{Visibility: Ephemeral, Text: fmt.Sprintf(":information_source: %s is not a controller here, so there is nothing to revoke.", mention(target))}
	case errors.Is(err, store.ErrLastController):
		s.audit(ctx, req, "revoke", "", store.OutcomeRefused, nil, target)
		return Reply{Visibility: Ephemeral, Outcome: OutcomeRefused,
			Text: fmt.Sprintf(":no_entry: %s is this channel's only controller, and a channel without controllers would let anyone re-bind it. Grant someone else first.", mention(target))}
	case errors.Is(err, store.ErrNotAllowed):
		return s.refusal(ctx, req, "revoke control", "", ctrls, target)
	case err != nil:
		return s.internalError(req, "revoke", err)
	}
	s.audit(ctx, req, "revoke", "", store.OutcomeOK, nil, target)
	return Reply{Visibility: InChannel,
		Text: fmt.Sprintf(":key: %s can no longer control this channel's meetings (revoked by %s).", mention(target), mention(req.UserID))}
}

func (s *Service) controllers(ctx context.Context, req Request) Reply {
	ctrls, err := s.store.Controllers(ctx, req.Channel)
	if err != nil {
		return s.internalError(req, "controllers", err)
	}
	r := Reply{Visibility: Ephemeral, Text: ":busts_in_silhouette: Controllers of this channel's meetings: " + controllerList(ctrls, s.admins) + "."}
	if len(ctrls) == 0 {
		r.Details = []string{"The first person to bind a meeting here becomes its first controller."}
	}
	return r
}

func (s *Service) history(ctx context.Context, req Request) Reply {
	recs, err := s.store.History(ctx, req.Channel, req.Command.Limit)
	if err != nil {
		return s.internalError(req, "history", err)
	}
	if len(recs) == 0 {
		return Reply{Visibility: Ephemeral, Text: ":scroll: Nothing has happened in this channel yet."}
	}
	head := fmt.Sprintf(":scroll: The last %d actions in this channel, newest first:", len(recs))
	if len(recs) == 1 {
		head = ":scroll: The last action in this channel:"
	}
	r := Reply{Visibility: Ephemeral, Text: head}
	for _, rec := range recs {
		r.Details = append(r.Details, historyLine(rec))
		if rec.Count > 1 {
			r.Note = "Repeated refusals of one person are shown once, with how often."
		}
	}
	return r
}

func historyLine(r store.AuditRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", formatTime(r.At), mention(r.UserID), r.Action)
	if r.ConferenceID != "" {
		b.WriteString(" " + string(r.ConferenceID))
	}
	detail := r.Detail
	if (r.Action == "grant" || r.Action == "revoke") && ValidSlackID(detail) {
		b.WriteString(" " + mention(detail))
		detail = ""
	}
	if detail != "" && r.Outcome == store.OutcomeOK {
		b.WriteString(" (" + escape(detail) + ")")
		detail = ""
	}
	b.WriteString(": " + r.Outcome)
	if r.Count > 1 {
		fmt.Fprintf(&b, " ×%d (last at %s)", r.Count, formatClock(r.LastAt))
	}
	if r.ErrorCode != "" {
		b.WriteString(" " + escape(r.ErrorCode))
	}
	if detail != "" {
		b.WriteString(" (" + escape(detail) + ")")
	}
	if r.RequestID != "" {
		b.WriteString(" (request " + escape(r.RequestID) + ")")
	}
	return b.String()
}
