package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/store"
)

// MayBind reports whether user may bind a meeting in ch: anyone while the
// channel has no controllers, its controllers and admins after that. When
// the answer is no, the refusal to show comes with it.
func (s *Service) MayBind(ctx context.Context, req Request) (bool, Reply) {
	ok, ctrls, err := s.authorize(ctx, req.Channel, req.UserID)
	if err != nil {
		return false, s.internalError(req, "bind", err)
	}
	if ok || len(ctrls) == 0 {
		return true, Reply{}
	}
	return false, s.refusal(ctx, req, "bind meetings here", req.Command.ConferenceID, ctrls)
}

func (s *Service) bind(ctx context.Context, req Request) Reply {
	id := req.Command.ConferenceID
	if req.Command.Password == "" {
		return Reply{Visibility: Ephemeral,
			Text:    ":grey_question: Give the host password too.",
			Details: []string{"Usage: `" + Usage(s.command, VerbBind) + "`"}}
	}
	if ok, refusal := s.MayBind(ctx, req); !ok {
		return refusal
	}
	reply, _ := s.Bind(ctx, req.Channel, req.UserID, id, req.Command.Password)
	return reply
}

// Bind checks the host password against the meeting API and stores it. A
// meeting that is not in progress cannot be checked, so it is stored with a
// note; a rejected password stores nothing and rejected is true. The caller
// has authorized it (see MayBind).
func (s *Service) Bind(ctx context.Context, ch store.Channel, user string, id meetingapi.ConferenceID, pw meetingapi.Password) (reply Reply, rejected bool) {
	req := Request{Channel: ch, UserID: user, Command: Command{Verb: VerbBind, ConferenceID: id}}
	ct, verifyErr := s.meetings.ControlToken(ctx, id, pw)
	if errors.Is(verifyErr, meetingapi.ErrWrongPassword) {
		s.audit(ctx, req, "bind", id, "error", verifyErr, "host password not accepted")
		return WrongPasswordReply(id, verifyErr), true
	}
	if err := s.store.Bind(context.WithoutCancel(ctx), ch, string(id), pw.Reveal(), user, s.now().UTC()); err != nil {
		return s.internalError(req, "bind", err), false
	}
	r := Reply{
		Visibility: Ephemeral,
		Text:       fmt.Sprintf(":white_check_mark: Meeting %s is now bound to this channel.", id),
		Details: []string{
			"The host password is stored encrypted and is never shown again.",
			fmt.Sprintf("You can now `%s lock` and `%s unlock` it, and you are one of this channel's controllers.", s.command, s.command),
		},
	}
	if verifyErr != nil {
		s.audit(ctx, req, "bind", id, "unverified", verifyErr, "stored without checking the password")
		r.Details = append(r.Details, "The password could not be checked yet ("+strings.TrimSuffix(describeAPIError(verifyErr), ".")+"). It is stored anyway and will be checked on the first lock.")
		return r, false
	}
	if err := s.store.PutToken(context.WithoutCancel(ctx), ch, string(id), ct.Token.Reveal(), ct.ExpiresAt); err != nil {
		s.log.Error().Err(err).Msg("caching control token failed")
	}
	s.audit(ctx, req, "bind", id, "ok", nil, "")
	return r, false
}

// WrongPasswordReply is what a bind with a rejected password gets.
func WrongPasswordReply(id meetingapi.ConferenceID, err error) Reply {
	return Reply{
		Visibility: Ephemeral,
		Text:       fmt.Sprintf(":x: The host password for meeting %s was not accepted, so nothing was stored.", id),
		Details:    []string{describeAPIError(err)},
	}
}

func (s *Service) unbind(ctx context.Context, req Request) Reply {
	m, notBound, err := s.target(ctx, req)
	if err != nil {
		return s.internalError(req, "unbind", err)
	}
	if notBound != nil {
		return *notBound
	}
	id := meetingapi.ConferenceID(m.ConferenceID)
	ok, ctrls, err := s.authorize(ctx, req.Channel, req.UserID)
	if err != nil {
		return s.internalError(req, "unbind", err)
	}
	if !ok {
		return s.refusal(ctx, req, "unbind meeting "+string(id), id, ctrls)
	}
	if err := s.store.Unbind(ctx, req.Channel, string(id)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return s.internalError(req, "unbind", err)
	}
	s.audit(ctx, req, "unbind", id, "ok", nil, "")
	return Reply{
		Visibility: Ephemeral,
		Text:       fmt.Sprintf(":wastebasket: Meeting %s is no longer bound to this channel, and its stored host password and token were deleted.", id),
	}
}

// StatusNote says where the lock state comes from.
const StatusNote = "The meeting service does not report whether a meeting is locked; this is the last state meetingbot itself set."

func (s *Service) status(ctx context.Context, req Request) Reply {
	m, notBound, err := s.target(ctx, req)
	if err != nil {
		return s.internalError(req, "status", err)
	}
	if notBound != nil {
		return *notBound
	}
	ctrls, err := s.store.Controllers(ctx, req.Channel)
	if err != nil {
		return s.internalError(req, "status", err)
	}
	now := s.now()
	r := Reply{
		Visibility: Ephemeral,
		Text:       fmt.Sprintf(":information_source: Meeting %s was bound to this channel by %s on %s.", m.ConferenceID, mention(m.BoundBy), formatTime(m.BoundAt)),
		Note:       StatusNote,
	}
	switch {
	case m.TokenExpiresAt.IsZero():
		r.Details = append(r.Details, "Control token: none cached; one is fetched with the next command.")
	case m.TokenExpiresAt.After(now):
		r.Details = append(r.Details, "Control token: valid until "+formatClock(m.TokenExpiresAt)+".")
	default:
		r.Details = append(r.Details, "Control token: expired at "+formatClock(m.TokenExpiresAt)+"; a new one is fetched with the next command.")
	}
	if m.LockState == store.LockUnknown {
		r.Details = append(r.Details, "Lock state: unknown; meetingbot has not locked or unlocked it yet.")
	} else {
		r.Details = append(r.Details, fmt.Sprintf("Lock state: %s by %s at %s.", m.LockState, mention(m.LockSetBy), formatTime(m.LockSetAt)))
	}
	r.Details = append(r.Details, "Controllers: "+controllerList(ctrls, s.admins)+".")
	if others, err := s.store.Meetings(ctx, req.Channel); err == nil && len(others) > 1 {
		var ids []string
		for _, o := range others {
			if o.ConferenceID != m.ConferenceID {
				ids = append(ids, o.ConferenceID)
			}
		}
		r.Details = append(r.Details, "Also bound here: "+strings.Join(ids, ", ")+".")
	}
	return r
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

func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
func formatClock(t time.Time) string {
	return t.UTC().Format("15:04 UTC")
}

func (s *Service) grant(ctx context.Context, req Request) Reply {
	ok, ctrls, err := s.authorize(ctx, req.Channel, req.UserID)
	if err != nil {
		return s.internalError(req, "grant", err)
	}
	if !ok {
		return s.refusal(ctx, req, "grant control", "", ctrls)
	}
	target := req.Command.UserID
	for _, c := range ctrls {
		if c.UserID == target {
			return Reply{Visibility: Ephemeral, Text: fmt.Sprintf(":information_source: %s is already a controller here.", mention(target))}
		}
	}
	if err := s.store.Grant(ctx, req.Channel, target, req.UserID, s.now().UTC()); err != nil {
		return s.internalError(req, "grant", err)
	}
	s.audit(ctx, req, "grant", "", "ok", nil, target)
	return Reply{Visibility: InChannel,
		Text: fmt.Sprintf(":key: %s can now lock and unlock this channel's meetings (granted by %s).", mention(target), mention(req.UserID))}
}

func (s *Service) revoke(ctx context.Context, req Request) Reply {
	ok, ctrls, err := s.authorize(ctx, req.Channel, req.UserID)
	if err != nil {
		return s.internalError(req, "revoke", err)
	}
	if !ok {
		return s.refusal(ctx, req, "revoke control", "", ctrls)
	}
	target := req.Command.UserID
	found := false
	for _, c := range ctrls {
		found = found || c.UserID == target
	}
	if !found {
		return Reply{Visibility: Ephemeral, Text: fmt.Sprintf(":information_source: %s is not a controller here, so there is nothing to revoke.", mention(target))}
	}
	switch err := s.store.Revoke(ctx, req.Channel, target); {
	case errors.Is(err, store.ErrLastController):
		return Reply{Visibility: Ephemeral,
			Text: fmt.Sprintf(":no_entry: %s is this channel's only controller. Grant someone else first.", mention(target))}
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return s.internalError(req, "revoke", err)
	}
	s.audit(ctx, req, "revoke", "", "ok", nil, target)
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
	r := Reply{Visibility: Ephemeral, Text: fmt.Sprintf(":scroll: The last %d actions in this channel, newest first:", len(recs))}
	for _, rec := range recs {
		r.Details = append(r.Details, historyLine(rec))
	}
	return r
}

func historyLine(r store.AuditRecord) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", formatTime(r.At), mention(r.UserID), r.Action)
	if r.ConferenceID != "" {
		b.WriteString(" " + r.ConferenceID)
	}
	if (r.Action == "grant" || r.Action == "revoke") && ValidSlackID(r.Detail) {
		b.WriteString(" " + mention(r.Detail))
	}
	b.WriteString(": " + r.Outcome)
	if r.ErrorCode != "" {
		b.WriteString(" " + r.ErrorCode)
	}
	if r.RequestID != "" {
		b.WriteString(" (request " + escapeMrkdwn(r.RequestID) + ")")
	}
	return b.String()
}
