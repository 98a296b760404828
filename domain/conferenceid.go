// Package domain holds the nouns every layer of meetingbot shares: a Slack
// channel, a conference ID, a host password, a control token and a lock
// state. It belongs to neither Slack nor a database nor the meeting API, so
// each of those layers can import it without importing the others.
package domain

import (
	"errors"
	"fmt"
	"strings"
)

// Conference IDs have between MinConferenceIDLen and MaxConferenceIDLen digits.
const (
	MinConferenceIDLen = 6
	MaxConferenceIDLen = 20
)

// ConferenceID is a Huawei Cloud Meeting conference ID: 6 to 20 ASCII digits.
// Get one from [ParseConferenceID].
type ConferenceID string

// String returns the ID itself.
func (id ConferenceID) String() string { return string(id) }

// ErrInvalidConferenceID is matched (with [errors.Is]) by every
// [*InvalidConferenceIDError].
var ErrInvalidConferenceID = errors.New("invalid conference ID")

// InvalidConferenceIDError says why a string is not a conference ID. It
// never repeats the input, which may be long or hold a pasted secret.
type InvalidConferenceIDError struct {
	// Reason is a short lower-case phrase without a final period, such as
	// "a conference ID has 6 to 20 digits; this has 5".
	Reason string
}

func (e *InvalidConferenceIDError) Error() string {
	return "invalid conference ID: " + e.Reason
}

// Is reports whether target is [ErrInvalidConferenceID].
func (e *InvalidConferenceIDError) Is(target error) bool { return target == ErrInvalidConferenceID }

// ParseConferenceID accepts what people paste: it drops ASCII spaces, tabs
// and hyphen-minus ("914-083-136", " 914 083 136 "), then requires 6 to 20
// ASCII digits. Anything else, including full-width digits and Unicode
// dashes such as "–", is rejected with an [*InvalidConferenceIDError].
func ParseConferenceID(s string) (ConferenceID, error) {
	var b strings.Builder
	b.Grow(len(s))
	digits := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '-':
			continue
		case c >= '0' && c <= '9':
			digits++
			if digits <= MaxConferenceIDLen {
				b.WriteByte(c)
			}
		default:
			return "", &InvalidConferenceIDError{Reason: "a conference ID has only digits (0-9)"}
		}
	}
	switch {
	case digits == 0:
		return "", &InvalidConferenceIDError{Reason: "a conference ID is required"}
	case digits < MinConferenceIDLen || digits > MaxConferenceIDLen:
		return "", &InvalidConferenceIDError{Reason: fmt.Sprintf(
			"a conference ID has %d to %d digits; this has %d", MinConferenceIDLen, MaxConferenceIDLen, digits)}
	}
	return ConferenceID(b.String()), nil
}

// Validate checks an ID that may have been built by conversion rather than
// by ParseConferenceID, so nothing odd ever reaches a URL or a database.
func (id ConferenceID) Validate() error {
	if len(id) < MinConferenceIDLen || len(id) > MaxConferenceIDLen {
		return &InvalidConferenceIDError{Reason: fmt.Sprintf(
			"a conference ID has %d to %d digits; this has %d characters", MinConferenceIDLen, MaxConferenceIDLen, len(id))}
	}
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return &InvalidConferenceIDError{Reason: "a conference ID has only digits (0-9)"}
		}
	}
	return nil
}
