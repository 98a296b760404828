package domain

import (
	"fmt"
	"strconv"
)

// Password is a meeting host password. Every way of printing or encoding it
// (String, GoString, fmt verbs, JSON, text) yields "[redacted]"; only
// [Password.Reveal] returns the value.
type Password string

const redactedPassword = "[redacted]"

// Reveal returns the password itself. Call it only to send it.
func (p Password) Reveal() string { return string(p) }

// String returns "[redacted]".
func (p Password) String() string { return redactedPassword }

// GoString returns a redacted Go expression.
func (p Password) GoString() string { return `domain.Password("` + redactedPassword + `")` }

// Format prints "[redacted]" for every verb.
func (p Password) Format(f fmt.State, verb rune) {
	formatRedacted(f, verb, "domain.Password", redactedPassword)
}

// MarshalJSON returns "[redacted]" as a JSON string.
func (p Password) MarshalJSON() ([]byte, error) { return []byte(`"` + redactedPassword + `"`), nil }

// MarshalText returns "[redacted]".
func (p Password) MarshalText() ([]byte, error) { return []byte(redactedPassword), nil }

// Token is a meeting control token. Every way of printing or encoding it
// yields "****" followed by its last four characters (or just "****" for a
// token shorter than 16 characters), enough to tell two tokens apart in a
// log; only [Token.Reveal] returns the value.
//
// One hole remains: encoding/json writes map keys of a string type verbatim,
// so never marshal a map keyed by Token.
type Token string

// Reveal returns the token itself. Call it only to send or store it.
func (t Token) Reveal() string { return string(t) }

// String returns the masked token.
func (t Token) String() string {
	if len(t) >= 16 {
		return "****" + printableTail(string(t[len(t)-4:]))
	}
	return "****"
}

// GoString returns a masked Go expression.
func (t Token) GoString() string { return `domain.Token("` + t.String() + `")` }

// Format prints the masked token for every verb.
func (t Token) Format(f fmt.State, verb rune) {
	formatRedacted(f, verb, "domain.Token", t.String())
}

// MarshalJSON returns the masked token as a JSON string.
func (t Token) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(t.String())), nil }

// MarshalText returns the masked token.
func (t Token) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

func formatRedacted(f fmt.State, verb rune, typ, s string) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprintf(f, "%s(%q)", typ, s)
	case verb == 'q':
		fmt.Fprint(f, strconv.Quote(s))
	default:
		fmt.Fprint(f, s)
	}
}

// printableTail keeps the ASCII letters and digits of a token's tail, so a
// masked token can never carry markup or control characters into a log.
func printableTail(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			b[i] = '?'
		}
	}
	return string(b)
}
