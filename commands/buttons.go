package commands

import (
	"strings"
	"unicode"

	"github.com/meetingbot/meetingbot/domain"
)

// Action IDs of the buttons replies carry. A click runs the command that
// ButtonCommand reads from the action ID and the button's value, as the
// person who clicked.
const (
	ActionLock             = "meeting_lock"
	ActionUnlock           = "meeting_unlock"
	ActionMuteAll          = "meeting_mute"
	ActionUnmuteAll        = "meeting_unmute"
	ActionRestrictEveryone = "meeting_restrict_everyone"
	ActionEnd              = "meeting_end"
	ActionRemove           = "meeting_remove"       // value: ID/PID
	ActionMuteOne          = "meeting_mute_one"     // value: ID/PID
	ActionWaitingRoom      = "meeting_waiting_room" // value: ID/PID
	// Lock and Invited people only on a message that must stay (a join
	// alert, the record of a removal): they act and answer anew.
	ActionAlertLock     = "alert_lock"
	ActionAlertRestrict = "alert_restrict_invited"
)

// ActionIDs lists every action ID, for the bot to register handlers.
var ActionIDs = []string{
	ActionLock, ActionUnlock, ActionMuteAll, ActionUnmuteAll,
	ActionRestrictEveryone, ActionEnd, ActionRemove, ActionMuteOne, ActionWaitingRoom,
	ActionAlertLock, ActionAlertRestrict,
}

// ReplacesMessage reports whether a click on this button answers by
// replacing the message that held it, when the answer is the meeting's new
// state: the buttons that undo a confirmation do; buttons on a list of
// people, on a question or on a join alert leave it and answer anew.
func ReplacesMessage(actionID string) bool {
	switch actionID {
	case ActionLock, ActionUnlock, ActionMuteAll, ActionUnmuteAll, ActionRestrictEveryone:
		return true
	}
	return false
}

// maxPIDLen bounds a participant ID carried in a button.
const maxPIDLen = 128

// PersonValue is the value of a button about one participant.
func PersonValue(id domain.ConferenceID, pid string) string { return string(id) + "/" + pid }

// ButtonCommand reads a click: the command an action ID and a button value
// stand for. It is false for an unknown action or a value that is not what
// the bot put there (forged or damaged), which must run nothing.
func ButtonCommand(actionID, value string) (Command, bool) {
	idPart, pid, person := strings.Cut(value, "/")
	id, err := domain.ParseConferenceID(idPart)
	if err != nil || string(id) != idPart {
		return Command{}, false
	}
	switch actionID {
	case ActionRemove, ActionMuteOne, ActionWaitingRoom:
		if !person || !validPID(pid) {
			return Command{}, false
		}
		verb := map[string]Verb{ActionRemove: VerbRemove, ActionMuteOne: VerbMuteOne, ActionWaitingRoom: VerbWaitingRoom}[actionID]
		return Command{Verb: verb, ConferenceID: id, PID: pid}, true
	}
	if person {
		return Command{}, false
	}
	switch actionID {
	case ActionLock, ActionAlertLock:
		return Command{Verb: VerbLock, ConferenceID: id}, true
	case ActionUnlock:
		return Command{Verb: VerbUnlock, ConferenceID: id}, true
	case ActionMuteAll:
		return Command{Verb: VerbMute, ConferenceID: id}, true
	case ActionUnmuteAll:
		return Command{Verb: VerbUnmute, ConferenceID: id}, true
	case ActionAlertRestrict:
		return Command{Verb: VerbRestrict, ConferenceID: id, Restriction: domain.RestrictionInvited}, true
	case ActionRestrictEveryone:
		return Command{Verb: VerbRestrict, ConferenceID: id, Restriction: domain.RestrictionEveryone}, true
	case ActionEnd:
		return Command{Verb: VerbEnd, ConferenceID: id, Confirmed: true}, true
	}
	return Command{}, false
}

func validPID(pid string) bool {
	if pid == "" || len(pid) > maxPIDLen {
		return false
	}
	return !strings.ContainsFunc(pid, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) || r == ' ' || r == '/' })
}
