package meetingapi

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sentinels for [errors.Is]. Every [*APIError] matches at most one of them.
var (
	// ErrTokenInvalid: the control token is missing, invalid or expired
	// (HTTP 401, or code USG.000000004). Fetch a new token once and retry.
	ErrTokenInvalid = errors.New("meetingapi: control token invalid or expired")
	// ErrMeetingNotFound: the meeting does not exist or is not running
	// (MMC.111070005, MMC.111072005, MMC.111072006, MMC.111081002).
	ErrMeetingNotFound = errors.New("meetingapi: meeting not found or not running")
	// ErrWrongPassword: the meeting was not found or the host password is
	// wrong (MMC.111072065).
	ErrWrongPassword = errors.New("meetingapi: wrong host password")
	// ErrForbidden: insufficient permissions (HTTP 403, MMC.111070002,
	// MMC.111070004 when not a 401).
	ErrForbidden = errors.New("meetingapi: forbidden")
	// ErrFlowControl: the service is rate-limiting (HTTP 429, code 100000429).
	ErrFlowControl = errors.New("meetingapi: flow control")
	// ErrServerTrouble: a server-side failure worth retrying (HTTP 5xx,
	// MMC.111072049).
	ErrServerTrouble = errors.New("meetingapi: server trouble")
	// ErrUnexpectedResponse: a 2xx answer the client could not use, such as
	// a token response without a token. Its text never holds the body.
	ErrUnexpectedResponse = errors.New("meetingapi: unexpected response")
)

// Vendor error codes the client knows, from the vendor's documentation.
const (
	CodeMeetingNotExist    = "MMC.111070005"
	CodeWrongPassword      = "MMC.111072065"
	CodeMeetingEnded       = "MMC.111072006"
	CodeMeetingEnded2      = "MMC.111081002"
	CodeNotStarted         = "MMC.111072005"
	CodeMeetingLocked      = "MMC.111072050"
	CodeServerTimeout      = "MMC.111072049"
	CodeNoPermission       = "MMC.111070002"
	CodeAuthFailed         = "MMC.111070004"
	CodeFlowControl        = "100000429"
	CodeAccessTokenInvalid = "USG.000000004"
)

var hints = map[string]string{
	CodeMeetingNotExist:    "the meeting does not exist or has ended.",
	CodeWrongPassword:      "the meeting was not found or the host password is wrong.",
	CodeMeetingEnded:       "the meeting has ended.",
	CodeMeetingEnded2:      "the meeting has ended.",
	CodeNotStarted:         "the meeting has not started yet or has already ended.",
	CodeMeetingLocked:      "the meeting is locked.",
	CodeServerTimeout:      "the meeting service timed out; try again in a moment.",
	CodeNoPermission:       "the host account does not have permission to do that.",
	CodeAuthFailed:         "authentication failed; the control token may have expired.",
	CodeFlowControl:        "the meeting service is limiting requests; wait a moment and try again.",
	CodeAccessTokenInvalid: "the access token is invalid or has expired.",
}

// Hint returns one short plain-English sentence explaining a vendor error
// code, starting in lower case and ending with a period (it follows " - " in
// a message), or "" for a code it does not know.
func Hint(code string) string { return hints[code] }

// HintFor returns the hint for err's [*APIError] code or, when the code is
// unknown or empty, a hint derived from the error's class or status. It
// returns "" for other errors and for errors it cannot explain better than
// the vendor's own message.
func HintFor(err error) string {
	if errors.Is(err, ErrCircuitOpen) {
		return "the meeting service has been failing; meetingbot will try again shortly."
	}
	if OutcomeUnknown(err) {
		return "the meeting service did not answer clearly, so it may or may not have been done; check the meeting before trying again."
	}
	var ae *APIError
	if !errors.As(err, &ae) {
		return ""
	}
	if h := Hint(ae.Code); h != "" {
		return h
	}
	switch ae.class() {
	case ErrTokenInvalid:
		return "the control token was rejected or has expired."
	case ErrMeetingNotFound:
		return "the meeting does not exist or is not running."
	case ErrWrongPassword:
		return hints[CodeWrongPassword]
	case ErrForbidden:
		return "the meeting service refused: insufficient permissions."
	case ErrFlowControl:
		return hints[CodeFlowControl]
	case ErrServerTrouble:
		return "the meeting service had a problem; try again in a moment."
	}
	return ""
}

// Retryable reports whether retrying the same call may succeed: server
// trouble, flow control (back off first), or a transport failure or timeout.
// A call the caller cancelled, a call the circuit breaker refused
// ([ErrCircuitOpen]), or a TLS certificate that fails verification, is not
// retryable. The [Client] already retries these itself ([WithRetry]); an
// error it returns is what was left after its last attempt.
//
// An error that leaves the outcome of a call that is not idempotent open
// ([OutcomeUnknown]) is not retryable either: repeating it could apply it
// twice.
func Retryable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, ErrCircuitOpen) || OutcomeUnknown(err) {
		return false
	}
	if errors.Is(err, ErrServerTrouble) || errors.Is(err, ErrFlowControl) {
		return true
	}
	var ae *APIError
	var ce *tls.CertificateVerificationError
	if errors.As(err, &ae) || errors.As(err, &ce) {
		return false
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF)
}

// OutcomeUnknown reports whether err leaves open whether a call that is not
// idempotent ([Client.HangUp], [Client.MoveToWaitingRoom],
// [Client.AdmitFromWaitingRoom], [Client.Stop], [Client.Prolong], …) took
// effect: the request may have reached the service, but no clear answer came
// back (a transport failure after the connection was made, a timeout, or
// server trouble). Look at the meeting (for example [Client.RealTimeInfo])
// before trying again. It is false for idempotent calls, which the client
// retries itself, and for answers that say the call was refused (4xx, flow
// control).
func OutcomeUnknown(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.once && ae.class() == ErrServerTrouble
	}
	var te *transportError
	return errors.As(err, &te) && te.once && !te.unsent
}

// APIError is a non-2xx answer from the meeting API.
type APIError struct {
	Op           string       // the operation: an Op* constant, but "control token" for [OpToken]
	ConferenceID ConferenceID // the meeting the call was about
	StatusCode   int          // HTTP status
	Code         string       // error_code from the body, "" if none
	Message      string       // error_msg (sanitized, at most 200 characters), or a snippet of a non-JSON body
	RequestID    string       // the X-Request-Id response header, "" if none
	Attempts     int          // tries the client made, this one included (0 or 1: no retry)

	retryAfter time.Duration // the Retry-After header, 0 if none
	once       bool          // the call is not idempotent
}

// Error reads like
// "meetingapi: lock 914083136: MMC.111070005 (HTTP 400): meeting not exist (request abc)",
// followed by " (after 3 attempts)" when the client retried.
func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("meetingapi: ")
	b.WriteString(e.Op)
	if e.ConferenceID != "" {
		b.WriteByte(' ')
		b.WriteString(string(e.ConferenceID))
	}
	b.WriteString(": ")
	if e.Code != "" {
		b.WriteString(e.Code)
		b.WriteString(" (HTTP ")
		b.WriteString(strconv.Itoa(e.StatusCode))
		b.WriteByte(')')
	} else {
		b.WriteString("HTTP ")
		b.WriteString(strconv.Itoa(e.StatusCode))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		b.WriteString(" (request ")
		b.WriteString(e.RequestID)
		b.WriteByte(')')
	}
	if e.Attempts > 1 {
		b.WriteString(" (after ")
		b.WriteString(strconv.Itoa(e.Attempts))
		b.WriteString(" attempts)")
	}
	return b.String()
}

// Is matches the one sentinel that describes e.
func (e *APIError) Is(target error) bool {
	c := e.class()
	return c != nil && c == target
}

// class picks one sentinel: specific codes first, then the status.
func (e *APIError) class() error {
	switch e.Code {
	case CodeMeetingNotExist, CodeNotStarted, CodeMeetingEnded, CodeMeetingEnded2:
		return ErrMeetingNotFound
	case CodeWrongPassword:
		return ErrWrongPassword
	case CodeServerTimeout:
		return ErrServerTrouble
	case CodeFlowControl:
		return ErrFlowControl
	case CodeAccessTokenInvalid:
		return ErrTokenInvalid
	}
	switch {
	case e.StatusCode == 401:
		return ErrTokenInvalid
	case e.StatusCode == 403 || e.Code == CodeNoPermission || e.Code == CodeAuthFailed:
		return ErrForbidden
	case e.StatusCode == 429:
		return ErrFlowControl
	case e.StatusCode >= 500 && e.StatusCode <= 599:
		return ErrServerTrouble
	}
	return nil
}

// sanitize makes untrusted text safe for one log line or message: invalid
// UTF-8 and control characters become spaces, runs of spaces collapse, and
// the result has at most max runes (with "…" when cut).
func sanitize(s string, max int) string {
	var b strings.Builder
	n := 0
	space := false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if r == utf8.RuneError || unicode.IsControl(r) || unicode.IsSpace(r) || r == '\u2028' || r == '\u2029' ||
			unicode.Is(unicode.Cf, r) {
			r = ' '
		}
		if r == ' ' {
			if space || n == 0 {
				continue
			}
			space = true
		} else {
			space = false
		}
		if n == max {
			return strings.TrimRight(b.String(), " ") + "…"
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimRight(b.String(), " ")
}
