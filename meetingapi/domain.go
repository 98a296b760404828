package meetingapi

import "github.com/meetingbot/meetingbot/domain"

// The nouns this client shares with the rest of meetingbot live in package
// domain; these names keep the client readable on its own.
type (
	// ConferenceID is [domain.ConferenceID].
	ConferenceID = domain.ConferenceID
	// InvalidConferenceIDError is [domain.InvalidConferenceIDError].
	InvalidConferenceIDError = domain.InvalidConferenceIDError
	// Password is [domain.Password]: redacted in every printed form.
	Password = domain.Password
	// Token is [domain.Token]: masked in every printed form.
	Token = domain.Token
)

// ParseConferenceID is [domain.ParseConferenceID].
func ParseConferenceID(s string) (ConferenceID, error) { return domain.ParseConferenceID(s) }

// ErrInvalidConferenceID is [domain.ErrInvalidConferenceID].
var ErrInvalidConferenceID = domain.ErrInvalidConferenceID

// Conference IDs have between MinConferenceIDLen and MaxConferenceIDLen digits.
const (
	MinConferenceIDLen = domain.MinConferenceIDLen
	MaxConferenceIDLen = domain.MaxConferenceIDLen
)
