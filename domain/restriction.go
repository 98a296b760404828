package domain

// JoinRestriction is who may join a meeting at all (the vendor's
// callInRestriction). It is stronger than a lock for people who hold the
// host link.
type JoinRestriction int

const (
	RestrictionUnknown  JoinRestriction = iota // not set by meetingbot
	RestrictionEveryone                        // anyone with the ID (callInRestriction 0)
	RestrictionCompany                         // people of the host's enterprise (2)
	RestrictionInvited                         // invited people only (3)
)

// ParseJoinRestriction reads the words people type: everyone, company or
// invited.
func ParseJoinRestriction(s string) (JoinRestriction, bool) {
	switch s {
	case "everyone":
		return RestrictionEveryone, true
	case "company":
		return RestrictionCompany, true
	case "invited":
		return RestrictionInvited, true
	}
	return RestrictionUnknown, false
}

// String is the word people type for it, or "unknown".
func (r JoinRestriction) String() string {
	switch r {
	case RestrictionEveryone:
		return "everyone"
	case RestrictionCompany:
		return "company"
	case RestrictionInvited:
		return "invited"
	}
	return "unknown"
}
