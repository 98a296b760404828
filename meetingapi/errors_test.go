package meetingapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"unicode"

	"github.com/meetingbot/meetingbot/meetingapi"
)

// designCodes are the codes the vendor documents for the control endpoints.
var designCodes = []string{
	"MMC.111070005", "MMC.111072065", "MMC.111072006", "MMC.111081002", "MMC.111072005",
	"MMC.111072050", "MMC.111072049", "MMC.111070002", "MMC.111070004", "100000429", "USG.000000004",
}

func TestHintExplainsEveryDocumentedCodeInOneSentence(t *testing.T) {
	t.Parallel()
	for _, code := range designCodes {
		t.Run(code, func(t *testing.T) {
			t.Parallel()
			h := meetingapi.Hint(code)
			if h == "" {
				t.Fatal("no hint")
			}
			if first := []rune(h)[0]; !unicode.IsLower(first) {
				t.Errorf("hint %q should start in lower case (it follows \" - \")", h)
			}
			if h[len(h)-1] != '.' {
				t.Errorf("hint %q should end with a period", h)
			}
			if len(h) > 100 {
				t.Errorf("hint %q is not short", h)
			}
		})
	}
	if got := meetingapi.Hint("MMC.111070005"); got != "the meeting does not exist or has ended." {
		t.Errorf("Hint(MMC.111070005) = %q", got)
	}
	if got := meetingapi.Hint("MMC.000000000"); got != "" {
		t.Errorf("an unknown code has hint %q, want none", got)
	}
}

func TestHintForFallsBackToTheErrorsClass(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"a known code uses its hint", &meetingapi.APIError{StatusCode: 400, Code: "MMC.111072065"}, meetingapi.Hint("MMC.111072065")},
		{"a wrapped APIError is found", fmt.Errorf("lock: %w", &meetingapi.APIError{StatusCode: 400, Code: "MMC.111070005"}), meetingapi.Hint("MMC.111070005")},
		{"a 401 without a code means the token is invalid", &meetingapi.APIError{StatusCode: 401}, "the control token was rejected or has expired."},
		{"a 401 with an unknown code means the token is invalid", &meetingapi.APIError{StatusCode: 401, Code: "MMC.1"}, "the control token was rejected or has expired."},
		{"a 403 is a permissions problem", &meetingapi.APIError{StatusCode: 403}, "the meeting service refused: insufficient permissions."},
		{"a 429 asks to wait", &meetingapi.APIError{StatusCode: 429}, meetingapi.Hint("100000429")},
		{"a 503 asks to try again", &meetingapi.APIError{StatusCode: 503, Message: "<html>"}, "the meeting service had a problem; try again in a moment."},
		{"a 400 with an unknown code has no hint", &meetingapi.APIError{StatusCode: 400, Code: "MMC.1"}, ""},
		{"a refused call says the service is failing", &meetingapi.CircuitOpenError{Op: "lock"}, "the meeting service has been failing; meetingbot will try again shortly."},
		{"a wrapped refused call too", fmt.Errorf("x: %w", meetingapi.ErrCircuitOpen), "the meeting service has been failing; meetingbot will try again shortly."},
		{"a plain error has no hint", errors.New("boom"), ""},
		{"nil has no hint", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := meetingapi.HintFor(tt.err); got != tt.want {
				t.Errorf("HintFor = %q, want %q", got, tt.want)
			}
		})
	}
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil is not", nil, false},
		{"server trouble is", &meetingapi.APIError{StatusCode: 500}, true},
		{"flow control is", &meetingapi.APIError{StatusCode: 429}, true},
		{"a wrong password is not", &meetingapi.APIError{StatusCode: 400, Code: "MMC.111072065"}, false},
		{"an invalid token is not (get a new one first)", &meetingapi.APIError{StatusCode: 401}, false},
		{"a network timeout is", fmt.Errorf("meetingapi: lock 914083136: %w", timeoutErr{}), true},
		{"a deadline is", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"a body cut short is", fmt.Errorf("x: %w", io.ErrUnexpectedEOF), true},
		{"a cancellation is not", fmt.Errorf("x: %w", context.Canceled), false},
		{"an invalid ID is not", &meetingapi.InvalidConferenceIDError{Reason: "x"}, false},
		{"an unexpected response is not", fmt.Errorf("x: %w", meetingapi.ErrUnexpectedResponse), false},
		{"a call the breaker refused is not", &meetingapi.CircuitOpenError{Op: "lock"}, false},
		{"server trouble the caller then cancelled is not", fmt.Errorf("%w; %w", &meetingapi.APIError{StatusCode: 503}, context.Canceled), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := meetingapi.Retryable(tt.err); got != tt.want {
				t.Errorf("Retryable = %v, want %v", got, tt.want)
			}
		})
	}
}
