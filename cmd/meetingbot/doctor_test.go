package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/store"
)

// doctorLines runs `meetingbot doctor` and returns its lines by check name.
func doctorLines(t *testing.T, e map[string]string) (map[string]string, string, error) {
	t.Helper()
	setEnv(t, e)
	var out bytes.Buffer
	err := run(t.Context(), []string{"doctor"}, nil, &out)
	lines := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && (f[0] == "✓" || f[0] == "✗") {
			lines[f[1]] = l
		}
	}
	for _, secret := range secretsOf(e) {
		if strings.Contains(out.String(), secret) || err != nil && strings.Contains(err.Error(), secret) {
			t.Fatalf("doctor printed a secret:\n%s", out.String())
		}
	}
	return lines, out.String(), err
}

func TestDoctorPassesAgainstWorkingSettings(t *testing.T) {
	e := validEnv(t)
	startFakes(t, e)
	lines, out, err := doctorLines(t, e)
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	for name, want := range map[string]string{
		"SLACK_BOT_TOKEN": "✓ SLACK_BOT_TOKEN bot @meetingbot in workspace meetingbot-sandbox (T0TEST); scopes commands, chat:write",
		"SLACK_APP_TOKEN": "✓ SLACK_APP_TOKEN opens Socket Mode connections (connections:write)",
		"MEETINGBOT_DB":   "✓ MEETINGBOT_DB created " + e["MEETINGBOT_DB"],
		"MEETING_API_URL": "✓ MEETING_API_URL 127.0.0.1:",
	} {
		if !strings.HasPrefix(lines[name], want) {
			t.Errorf("%s: %q, want %q…", name, lines[name], want)
		}
	}
	if !strings.Contains(lines["MEETING_API_URL"], "answers in the vendor's error shape (HTTP 400 MMC.") {
		t.Errorf("meeting API line: %q", lines["MEETING_API_URL"])
	}
	if !strings.HasSuffix(strings.TrimSpace(out), "All 4 checks passed: `meetingbot run` has what it needs.") {
		t.Errorf("no summary:\n%s", out)
	}
	// A second run opens the database it created.
	lines, _, err = doctorLines(t, e)
	if err != nil || !strings.HasPrefix(lines["MEETINGBOT_DB"], "✓ MEETINGBOT_DB opened ") {
		t.Fatalf("second doctor: %v %q", err, lines["MEETINGBOT_DB"])
	}
}

func TestDoctorSaysWhatToFixForEachFailure(t *testing.T) {
	notVendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<html>Not Found</html>"))
	}))
	t.Cleanup(notVendor.Close)
	jsonButNotVendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"message":"bad request"}`))
	}))
	t.Cleanup(jsonButNotVendor.Close)
	untrusted := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(untrusted.Close)

	tests := []struct {
		name   string
		slack  []slacktest.Option
		setup  func(t *testing.T, e map[string]string)
		failed string // the check that fails
		says   string
	}{
		{name: "a wrong bot token", failed: "SLACK_BOT_TOKEN", says: "was refused by Slack (invalid_auth)",
			setup: func(_ *testing.T, e map[string]string) { e["SLACK_BOT_TOKEN"] = "xoxb-secret-but-wrong" }},
		{name: "a bot token without chat:write", failed: "SLACK_BOT_TOKEN", says: "lacks the scope chat:write", slack: []slacktest.Option{slacktest.WithBotScopes("commands")}},
		{name: "a wrong app token", failed: "SLACK_APP_TOKEN", says: "was refused by Slack (invalid_auth)",
			setup: func(_ *testing.T, e map[string]string) { e["SLACK_APP_TOKEN"] = "xapp-secret-but-wrong" }},
		{name: "an app token without connections:write", failed: "SLACK_APP_TOKEN", says: "lacks connections:write", slack: []slacktest.Option{slacktest.WithAppScopes()}},
		{name: "the wrong key for the database", failed: "MEETINGBOT_SECRET_KEY", says: "does not match the key the database",
			setup: func(t *testing.T, e map[string]string) {
				other, _ := store.NewRandomKey()
				st, err := store.Open(t.Context(), e["MEETINGBOT_DB"], other)
				if err != nil {
					t.Fatal(err)
				}
				st.Close()
			}},
		{name: "an unreachable meeting API", failed: "MEETING_API_URL", says: "connection refused",
			setup: func(t *testing.T, e map[string]string) { e["MEETING_API_URL"] = "http://" + freeAddr(t) }},
		{name: "a server that is not the meeting API", failed: "MEETING_API_URL", says: "answered HTTP 404, but not in the vendor's error shape",
			setup: func(_ *testing.T, e map[string]string) { e["MEETING_API_URL"] = notVendor.URL }},
		{name: "JSON that is not the vendor's", failed: "MEETING_API_URL", says: "not in the vendor's error shape",
			setup: func(_ *testing.T, e map[string]string) { e["MEETING_API_URL"] = jsonButNotVendor.URL }},
		{name: "a certificate nobody trusts", failed: "MEETING_API_URL", says: "certificate from an authority this system does not trust",
			setup: func(_ *testing.T, e map[string]string) { e["MEETING_API_URL"] = untrusted.URL }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEnv(t)
			startFakes(t, e, tt.slack...)
			if tt.setup != nil {
				tt.setup(t, e)
			}
			lines, out, err := doctorLines(t, e)
			var cf checksFailed
			if !errors.As(err, &cf) || cf.failed != 1 || exitCode(err) != 1 {
				t.Fatalf("err = %v (exit %d), want one failed check\n%s", err, exitCode(err), out)
			}
			line := lines[tt.failed]
			if !strings.HasPrefix(line, "✗ "+tt.failed+" ") || !strings.Contains(line, tt.says) {
				t.Fatalf("%s: %q, want ✗ … %s\n%s", tt.failed, line, tt.says, out)
			}
			if len(lines) != 4 {
				t.Fatalf("%d check lines, want 4:\n%s", len(lines), out)
			}
		})
	}
}

func TestDoctorReportsTheMeetingAPIOverVerifiedTLS(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/mmc/control/conferences/token" || r.Header.Get("X-Password") != "" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error_code":"MMC.111070005","error_msg":"conference not exist"}`))
	}))
	t.Cleanup(srv.Close)
	ch := checkMeetingAPI(t.Context(), srv.Client(), srv.URL)
	if !ch.OK || !strings.Contains(ch.Detail, "HTTP 400 MMC.111070005") || !strings.Contains(ch.Detail, "TLS verified") {
		t.Fatalf("%+v", ch)
	}
}
