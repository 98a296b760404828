package domain_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/meetingbot/meetingbot/domain"
)

func TestParseConferenceID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		in         string
		want       domain.ConferenceID
		wantReason string // substring of Reason when the input is refused
	}{
		{"plain digits are an ID", "914083136", "914083136", ""},
		{"dashes people paste are dropped", "914-083-136", "914083136", ""},
		{"spaces around and inside are dropped", " 914 083 136 ", "914083136", ""},
		{"a tab is dropped", "914\t083136", "914083136", ""},
		{"six digits is the shortest ID", "123456", "123456", ""},
		{"twenty digits is the longest ID", "12345678901234567890", "12345678901234567890", ""},
		{"five digits is too short", "12345", "", "a conference ID has 6 to 20 digits; this has 5"},
		{"twenty-one digits is too long", "123456789012345678901", "", "a conference ID has 6 to 20 digits; this has 21"},
		{"letters are refused", "91408313a", "", "only digits"},
		{"full-width digits are refused", "９１４０８３１３６", "", "only digits"},
		{"an empty string is refused", "", "", "required"},
		{"only dashes and spaces are refused", " - - ", "", "required"},
		{"trailing SQL is refused", "914083136; DROP", "", "only digits"},
		{"an en dash is refused, not treated as a hyphen", "914–083–136", "", "only digits"},
		{"a non-breaking space is refused", "914\u00a0083136", "", "only digits"},
		{"a newline is refused", "914083136\n", "", "only digits"},
		{"a plus sign is refused", "+914083136", "", "only digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := domain.ParseConferenceID(tt.in)
			if tt.wantReason == "" {
				if err != nil || got != tt.want {
					t.Fatalf("ParseConferenceID(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseConferenceID(%q) = %q, want an error", tt.in, got)
			}
			if !errors.Is(err, domain.ErrInvalidConferenceID) {
				t.Errorf("errors.Is(err, ErrInvalidConferenceID) = false for %v", err)
			}
			var ie *domain.InvalidConferenceIDError
			if !errors.As(err, &ie) {
				t.Fatalf("err is %T, want *InvalidConferenceIDError", err)
			}
			if !strings.Contains(ie.Reason, tt.wantReason) {
				t.Errorf("Reason = %q, want it to contain %q", ie.Reason, tt.wantReason)
			}
		})
	}
}

func TestInvalidConferenceIDErrorNeverRepeatsTheInput(t *testing.T) {
	t.Parallel()
	in := strings.Repeat("9", 5000) + "secret\x1b[2J"
	_, err := domain.ParseConferenceID(in)
	if err == nil {
		t.Fatal("got no error")
	}
	if len(err.Error()) > 100 || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "\x1b") {
		t.Errorf("Error() = %q: too long or repeats the input", err)
	}
}
