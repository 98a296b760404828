package meetingapi

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RealTimeInfo is who is in a meeting now, from [Client.RealTimeInfo].
type RealTimeInfo struct {
	// Participants are the people in the meeting, being called or joining.
	// People who left are not listed; one account on two devices is two
	// participants.
	Participants []Participant
	// Attendees are the invited people, joined or not.
	Attendees []Attendee
	Conf      ConfInfo
}

// Participant returns the participant with pid, if present.
func (i RealTimeInfo) Participant(pid string) (Participant, bool) {
	for _, p := range i.Participants {
		if p.PID == pid {
			return p, true
		}
	}
	return Participant{}, false
}

// ConfInfo is the confInfo object of the real-time answer. The vendor's
// model has only these two fields: the answer carries no lock state, join
// restriction or scheduled end.
type ConfInfo struct {
	ChairID string   // the host's pid, "" when the host is not in the meeting
	CoHosts []string // the co-hosts' pids
}

// Participant is one entry of participants[] in the real-time answer.
type Participant struct {
	PID        string           // the handle for HangUp, MuteParticipant and the waiting room
	Name       string           // as the person or their device set it: untrusted text
	Phone      Phone            // the number they joined with; prints masked
	State      ParticipantState // in the meeting, being called or joining
	Muted      bool             // microphone off (mute 1)
	Video      bool             // joined with video (video 1)
	HandRaised bool             // hand 1
	Host       bool             // PID is confInfo.chairID (event socket: ROLE "1")
	CoHost     bool             // PID is listed in confInfo.coHosts (event socket: IS_COHOST "1")

	// Only the event socket ([Client.Watch]) reports these; RealTimeInfo
	// leaves them zero.
	Anonymous bool      // joined without signing in (ANONYMOUS "1")
	OrgID     string    // the organisation of their account (ORG_ID)
	Account   string    // their account name (ACCOUNT)
	AccountID string    // ACCOUNT_ID
	Audience  bool      // webinar audience (ROLE "2")
	Waiting   bool      // in the waiting room (from WaitingListNotify)
	JoinedAt  time.Time // ADDTIME
}

// Stranger reports whether p joined without signing in, or from another
// organisation than hostOrgID (the [ControlToken].OrgID of the meeting). It
// needs the event socket's fields: for a RealTimeInfo participant it is
// always false.
func (p Participant) Stranger(hostOrgID string) bool {
	return p.Anonymous || p.OrgID != "" && hostOrgID != "" && p.OrgID != hostOrgID
}

// MaskedPhone is the participant's number masked to its last 4 digits; see
// [Phone.Masked].
func (p Participant) MaskedPhone() string { return p.Phone.Masked() }

// Attendee is one entry of attendees[]: an invited person, joined or not.
type Attendee struct {
	AccountID string // the Huawei Cloud Meeting account
	UserUUID  string
	Name      string
	Phone     Phone
}

// ParticipantState is a participant's state in the real-time answer.
type ParticipantState int

const (
	InMeeting ParticipantState = 0 // in the meeting
	Calling   ParticipantState = 1 // being called
	Joining   ParticipantState = 2 // joining
)

func (s ParticipantState) String() string {
	switch s {
	case InMeeting:
		return "in the meeting"
	case Calling:
		return "being called"
	case Joining:
		return "joining"
	}
	return "ParticipantState(" + strconv.Itoa(int(s)) + ")"
}

// Phone is a participant's phone number: personal data. Every way of
// printing or encoding it (String, GoString, fmt verbs, JSON, text) yields
// [Phone.Masked]; only [Phone.Reveal] returns the number.
type Phone string

// Reveal returns the number itself.
func (p Phone) Reveal() string { return string(p) }

// Last4 returns the last four digits of the number, or "" when it has fewer
// than seven digits (four would then give most of it away).
func (p Phone) Last4() string {
	var digits []byte
	for i := 0; i < len(p); i++ {
		if p[i] >= '0' && p[i] <= '9' {
			digits = append(digits, p[i])
		}
	}
	if len(digits) < 7 {
		return ""
	}
	return string(digits[len(digits)-4:])
}

// Masked is "…" followed by [Phone.Last4]: "…4321" for "+86 571 8765 4321",
// just "…" for a short number, and "" when there is no number.
func (p Phone) Masked() string {
	if strings.TrimSpace(string(p)) == "" {
		return ""
	}
	return "…" + p.Last4()
}

// String returns the masked number.
func (p Phone) String() string { return p.Masked() }

// GoString returns a masked Go expression.
func (p Phone) GoString() string { return `meetingapi.Phone("` + p.Masked() + `")` }

// Format prints the masked number for every verb.
func (p Phone) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, p.GoString())
	case verb == 'q':
		fmt.Fprint(f, strconv.Quote(p.Masked()))
	default:
		fmt.Fprint(f, p.Masked())
	}
}

// MarshalJSON returns the masked number as a JSON string.
func (p Phone) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(p.Masked())), nil }

// MarshalText returns the masked number.
func (p Phone) MarshalText() ([]byte, error) { return []byte(p.Masked()), nil }

// realTimeInfoAnswer is the answer as the SDK's
// ShowRealTimeInfoOfMeetingResponse has it (no "data" wrapper).
type realTimeInfoAnswer struct {
	Attendees []struct {
		AccountID string `json:"accountID"`
		UserUUID  string `json:"userUUID"`
		Name      string `json:"name"`
		Phone     string `json:"phone"`
	} `json:"attendees"`
	Participants []struct {
		PID   string  `json:"pid"`
		Name  string  `json:"name"`
		Phone string  `json:"phone"`
		State jsonInt `json:"state"`
		Video jsonInt `json:"video"`
		Mute  jsonInt `json:"mute"`
		Hand  jsonInt `json:"hand"`
	} `json:"participants"`
	ConfInfo struct {
		ChairID string   `json:"chairID"`
		CoHosts []string `json:"coHosts"`
	} `json:"confInfo"`
}

func (a realTimeInfoAnswer) info() RealTimeInfo {
	info := RealTimeInfo{Conf: ConfInfo{ChairID: a.ConfInfo.ChairID, CoHosts: a.ConfInfo.CoHosts}}
	coHost := make(map[string]bool, len(a.ConfInfo.CoHosts))
	for _, pid := range a.ConfInfo.CoHosts {
		coHost[pid] = true
	}
	for _, p := range a.Participants {
		info.Participants = append(info.Participants, Participant{
			PID: p.PID, Name: p.Name, Phone: Phone(p.Phone),
			State: ParticipantState(p.State), Muted: p.Mute == 1, Video: p.Video == 1, HandRaised: p.Hand == 1,
			Host: p.PID != "" && p.PID == a.ConfInfo.ChairID, CoHost: coHost[p.PID],
		})
	}
	for _, at := range a.Attendees {
		info.Attendees = append(info.Attendees, Attendee{
			AccountID: at.AccountID, UserUUID: at.UserUUID, Name: at.Name, Phone: Phone(at.Phone),
		})
	}
	return info
}
