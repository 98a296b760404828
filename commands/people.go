package commands

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/store"
)

// maxRowsWithButtons keeps a list of people within Slack's 50 blocks: each
// row takes two (its line and its buttons).
const maxRowsWithButtons = 20

// who lists the people in the meeting now, each with buttons. The list is
// personal data (names, the last digits of phone numbers), so only the
// person who asked sees it.
func (s *Service) who(ctx context.Context, req Request) Reply {
	if ok, wait := s.limits.allowUser(req.UserID); !ok {
		return slowDown(wait)
	}
	t, notBound, err := s.resolve(ctx, req)
	if err != nil {
		return s.internalError(req, "who", err)
	}
	if notBound != nil {
		return *notBound
	}
	id := t.Meeting.ConferenceID
	if !t.IsController && !s.isAdmin(req.UserID) {
		ctrls, err := s.store.Controllers(ctx, req.Channel)
		if err != nil {
			return s.internalError(req, "who", err)
		}
		return s.refusal(ctx, req, "see who is in meeting "+string(id), id, ctrls, "")
	}
	if ok, wait := s.limits.allowChannel(req.Channel); !ok {
		return slowDown(wait)
	}
	req.Progress.Set(PhaseQueued)
	_, unlock, err := s.store.LockMeeting(ctx, id)
	if err != nil {
		return s.internalError(req, "who", err)
	}
	defer unlock()
	var info meetingapi.RealTimeInfo
	err = s.withToken(ctx, req, t, func(tok domain.Token) error {
		req.Progress.Set(PhaseMeeting)
		var err error
		info, err = s.meetings.RealTimeInfo(ctx, id, tok)
		return err
	})
	switch {
	case errors.Is(err, store.ErrUndecryptable):
		return undecryptableReply(s.command, id)
	case isInternal(err):
		return s.internalError(req, "who", err)
	case err != nil:
		r := apiErrorReply(s.command, "Could not see who is in meeting "+string(id), id, err)
		r.Visibility = Ephemeral
		return r
	}
	head := fmt.Sprintf(":busts_in_silhouette: In meeting %s now: %s.", id, people(len(info.Participants)))
	if len(info.Participants) == 0 {
		head = fmt.Sprintf(":busts_in_silhouette: Nobody is in meeting %s now.", id)
	}
	return s.peopleList(id, info.Participants, head)
}

func people(n int) string {
	if n == 1 {
		return "1 person"
	}
	return fmt.Sprintf("%d people", n)
}

// peopleList is an ephemeral list of participants, numbered, each with
// Remove, Mute and Waiting room buttons (not for the host).
func (s *Service) peopleList(id domain.ConferenceID, ps []meetingapi.Participant, head string) Reply {
	ps = sortedPeople(ps)
	r := Reply{Visibility: Ephemeral, Text: head}
	if len(ps) == 0 {
		return r
	}
	var rest []string // past the rows with buttons, still in order after them
	for i, p := range ps {
		line := fmt.Sprintf("%d. %s", i+1, describePerson(p))
		if i >= maxRowsWithButtons {
			rest = append(rest, line)
			continue
		}
		row := Row{Text: line}
		if !p.Host {
			row.Actions = append(row.Actions, Action{ID: ActionRemove, Label: "Remove", Value: PersonValue(id, p.PID), Danger: true,
				Confirm: &Confirm{Title: "Remove them?", Text: fmt.Sprintf("%s will be disconnected from meeting %s at once.", personName(&p), id), Yes: "Remove", No: "Cancel"}})
		}
		if !p.Muted {
			row.Actions = append(row.Actions, Action{ID: ActionMuteOne, Label: "Mute", Value: PersonValue(id, p.PID)})
		}
		if !p.Host && !p.CoHost && !p.Waiting {
			row.Actions = append(row.Actions, Action{ID: ActionWaitingRoom, Label: "Waiting room", Value: PersonValue(id, p.PID)})
		}
		r.Rows = append(r.Rows, row)
	}
	if len(rest) > 0 {
		r.Rows = append(r.Rows, Row{Text: strings.Join(rest, "\n")})
	}
	if len(ps) > maxRowsWithButtons {
		r.Note = fmt.Sprintf("Buttons are shown for the first %d; for the others use `%s remove NAME`.", maxRowsWithButtons, s.command)
	}
	return r
}

// sortedPeople puts the host and co-hosts first, then by name.
func sortedPeople(ps []meetingapi.Participant) []meetingapi.Participant {
	out := append([]meetingapi.Participant(nil), ps...)
	rank := func(p meetingapi.Participant) int {
		switch {
		case p.Host:
			return 0
		case p.CoHost:
			return 1
		}
		return 2
	}
	sort.SliceStable(out, func(i, j int) bool {
		if rank(out[i]) != rank(out[j]) {
			return rank(out[i]) < rank(out[j])
		}
		return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name)
	})
	return out
}

// describePerson is one participant in a list: the name, the last digits of
// the phone number (never more), and what they are.
func describePerson(p meetingapi.Participant) string {
	parts := []string{personName(&p)}
	if m := p.Phone.Masked(); m != "" && m != "…" {
		parts[0] += " (" + m + ")"
	}
	switch {
	case p.Host:
		parts = append(parts, "host")
	case p.CoHost:
		parts = append(parts, "co-host")
	}
	if p.Muted {
		parts = append(parts, "muted")
	}
	switch p.State {
	case meetingapi.Joining:
		parts = append(parts, "joining")
	case meetingapi.Calling:
		parts = append(parts, "being called")
	}
	if p.Waiting {
		parts = append(parts, "in the waiting room")
	}
	return strings.Join(parts, " · ")
}

// removeByName resolves `remove [ID] NAME`: the first word is a conference
// ID only if that meeting is bound in the channel, else part of the name.
func (s *Service) removeByName(ctx context.Context, req Request) Reply {
	cmd := req.Command
	if cmd.MaybeID != "" {
		if _, err := s.store.Meeting(ctx, req.Channel, cmd.MaybeID); err == nil {
			cmd.ConferenceID = cmd.MaybeID
			_, rest, _ := strings.Cut(cmd.Name, " ")
			cmd.Name = strings.TrimSpace(rest)
			if cmd.Name == "" {
				return Reply{Visibility: Ephemeral, Outcome: OutcomeUsage,
					Text:    fmt.Sprintf(":grey_question: Whom should I remove from meeting %s? Give their name.", cmd.ConferenceID),
					Details: []string{"Usage: `" + Usage(s.command, VerbRemove) + "`"}}
			}
		}
	}
	req.Command = cmd
	return s.control(ctx, req, controls[VerbRemove])
}

// pickError ends a control that needs a person when the name matched
// nobody or several: the list to pick from.
type pickError struct{ reply Reply }

func (e *pickError) Error() string { return "no single participant matches" }

// pickPerson finds the participant a per-person control is about: by pid
// from a button (errGone when they left), or by name, an exact match first
// (without regard to case), else a unique part of a name.
func (s *Service) pickPerson(id domain.ConferenceID, cmd *Command, info meetingapi.RealTimeInfo) (meetingapi.Participant, error) {
	if cmd.PID != "" {
		p, ok := info.Participant(cmd.PID)
		if !ok {
			return p, errGone
		}
		return p, nil
	}
	name := strings.ToLower(strings.TrimSpace(cmd.Name))
	var exact, partial []meetingapi.Participant
	for _, p := range info.Participants {
		n := strings.ToLower(strings.TrimSpace(p.Name))
		switch {
		case n == name:
			exact = append(exact, p)
		case strings.Contains(n, name):
			partial = append(partial, p)
		}
	}
	for _, set := range [][]meetingapi.Participant{exact, partial} {
		if len(set) == 1 {
			cmd.PID = set[0].PID
			return set[0], nil
		}
		if len(set) > 1 {
			return meetingapi.Participant{}, &pickError{s.peopleList(id, set,
				fmt.Sprintf(":grey_question: %d people in meeting %s match %s, so nobody was removed. Pick one:", len(set), id, quote(cmd.Name)))}
		}
	}
	if len(info.Participants) == 0 {
		return meetingapi.Participant{}, &pickError{Reply{Visibility: Ephemeral, Outcome: OutcomeRefused,
			Text: fmt.Sprintf(":grey_question: Nobody is in meeting %s, so nobody was removed.", id)}}
	}
	return meetingapi.Participant{}, &pickError{s.peopleList(id, info.Participants,
		fmt.Sprintf(":grey_question: Nobody in meeting %s is called %s, so nobody was removed. Here is who is in:", id, quote(cmd.Name)))}
}

// askToEnd answers `end`: ending cannot be undone and does not keep people
// out, so it asks first, with a danger button that has its own confirm.
func (s *Service) askToEnd(ctx context.Context, req Request) Reply {
	t, notBound, err := s.resolve(ctx, req)
	if err != nil {
		return s.internalError(req, "end", err)
	}
	if notBound != nil {
		return *notBound
	}
	id := t.Meeting.ConferenceID
	if !t.IsController && !s.isAdmin(req.UserID) {
		ctrls, err := s.store.Controllers(ctx, req.Channel)
		if err != nil {
			return s.internalError(req, "end", err)
		}
		return s.refusal(ctx, req, "end meeting "+string(id), id, ctrls, "")
	}
	return Reply{Visibility: Ephemeral,
		Text: fmt.Sprintf(":warning: End meeting %s for everyone?", id),
		Details: []string{
			"People can rejoin a meeting that was ended until its scheduled end, so ending it does not keep a stranger out.",
			fmt.Sprintf("To keep people out, `%s lock` it or `%s restrict invited` first.", s.command, s.command),
		},
		Actions: []Action{{ID: ActionEnd, Label: "End meeting", Value: string(id), Danger: true,
			Confirm: &Confirm{Title: "End the meeting?", Text: fmt.Sprintf("Meeting %s ends for everyone in it now.", id), Yes: "End meeting", No: "Cancel"}}},
	}
}

// watch turns on join alerts for the meeting.
func (s *Service) watch(ctx context.Context, req Request) Reply {
	return s.watchToggle(ctx, req, true)
}

func (s *Service) unwatch(ctx context.Context, req Request) Reply {
	return s.watchToggle(ctx, req, false)
}

func (s *Service) watchToggle(ctx context.Context, req Request, on bool) Reply {
	if s.watches == nil {
		return Reply{Visibility: Ephemeral, Outcome: OutcomeRefused, Text: ":information_source: Join alerts are not available in this meetingbot."}
	}
	t, notBound, err := s.resolve(ctx, req)
	if err != nil {
		return s.internalError(req, string(req.Command.Verb), err)
	}
	if notBound != nil {
		return *notBound
	}
	id := t.Meeting.ConferenceID
	if !t.IsController && !s.isAdmin(req.UserID) {
		ctrls, err := s.store.Controllers(ctx, req.Channel)
		if err != nil {
			return s.internalError(req, string(req.Command.Verb), err)
		}
		what := "turn on join alerts for meeting " + string(id)
		if !on {
			what = "turn off join alerts for meeting " + string(id)
		}
		return s.refusal(ctx, req, what, id, ctrls, "")
	}
	if !on {
		if err := s.watches.Stop(ctx, req.Channel, id); err != nil {
			var we *WatchError
			if errors.As(err, &we) {
				return we.Reply
			}
			return s.internalError(req, "unwatch", err)
		}
		s.audit(ctx, req, "unwatch", id, store.OutcomeOK, nil, "")
		return Reply{Visibility: InChannel, Text: fmt.Sprintf(":see_no_evil: %s turned off join alerts for meeting %s.", mention(req.UserID), id)}
	}
	// A meeting that is not running cannot be followed: say so now rather
	// than turn alerts on and off again at once.
	if _, err := s.WatchToken(ctx, req.Channel, id, ""); err != nil {
		switch {
		case errors.Is(err, store.ErrUndecryptable):
			return undecryptableReply(s.command, id)
		case isInternal(err):
			return s.internalError(req, "watch", err)
		}
		r := apiErrorReply(s.command, "Could not turn on join alerts for meeting "+string(id), id, err)
		r.Visibility = Ephemeral
		return r
	}
	if err := s.watches.Start(ctx, WatchRequest{Channel: req.Channel, ConferenceID: id, By: req.UserID}); err != nil {
		var we *WatchError
		if errors.As(err, &we) {
			return we.Reply
		}
		return s.internalError(req, "watch", err)
	}
	s.audit(ctx, req, "watch", id, store.OutcomeOK, nil, "")
	// The watch posted its first line in the channel itself: that is how it
	// knows the bot may post there.
	return Reply{Visibility: Ephemeral,
		Text: fmt.Sprintf(":white_check_mark: Join alerts are on for meeting %s.", id)}
}

// WatchError is a reason a watch could not start or stop, with the reply
// that explains it (the bot is not in the channel; not watched; …).
type WatchError struct{ Reply Reply }

func (e *WatchError) Error() string { return e.Reply.Text }
