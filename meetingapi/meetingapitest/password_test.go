package meetingapitest_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
)

func TestSetPasswordChangesWhichPasswordGetsAToken(t *testing.T) {
	t.Parallel()
	s := meetingapitest.NewServer()
	t.Cleanup(s.Close)
	s.AddMeeting("914083136", "old-pw", meetingapitest.InProgress)
	tokenWith := func(pw string) (int, string) {
		t.Helper()
		r, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.URL+meetingapitest.TokenPath+"?conferenceID=914083136", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("X-Password", pw)
		r.Header.Set("X-Login-Type", "1")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Code string `json:"error_code"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Code
	}
	if st, _ := tokenWith("old-pw"); st != http.StatusOK {
		t.Fatalf("old password before the change: HTTP %d", st)
	}
	s.SetPassword("914083136", "new-pw")
	s.SetPassword("999999999", "ignored") // unknown: no effect, no panic
	if st, code := tokenWith("old-pw"); st != http.StatusBadRequest || code != meetingapitest.CodeWrongPassword {
		t.Fatalf("old password after the change: HTTP %d %s", st, code)
	}
	if st, _ := tokenWith("new-pw"); st != http.StatusOK {
		t.Fatalf("new password: HTTP %d", st)
	}
}
