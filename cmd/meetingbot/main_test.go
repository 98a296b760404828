package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func validEnv(t *testing.T) map[string]string {
	t.Helper()
	key, err := store.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"SLACK_APP_TOKEN":       "xapp-1-A1-secret-app-token",
		"SLACK_BOT_TOKEN":       "xoxb-secret-bot-token",
		"MEETINGBOT_SECRET_KEY": key.Encode(),
		"MEETINGBOT_DB":         filepath.Join(t.TempDir(), "bot.db"),
		"MEETINGBOT_HTTP_ADDR":  "off",
	}
}

func TestVersionPrintsTheVersion(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(t.Context(), []string{"version"}, env(nil), nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "meetingbot dev (") {
		t.Fatalf("version printed %q", out.String())
	}
}

func TestBadInvocationsAreUsageErrorsWithExitCode2(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"frobnicate"}, {"version", "extra"}} {
		err := run(t.Context(), args, env(nil), nil, io.Discard)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "usage: meetingbot") {
			t.Fatalf("run(%q) = %v (exit %d)", args, err, exitCode(err))
		}
	}
}

func TestHelpListsEveryVariable(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(t.Context(), []string{"help"}, env(nil), nil, &out); err != nil {
		t.Fatal(err)
	}
	for _, v := range envVars {
		if !strings.Contains(out.String(), v.name) {
			t.Errorf("help does not list %s", v.name)
		}
	}
}

func TestConfigErrorsNameTheVariableButNeverItsValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, variable, value string
	}{
		{"missing app token", "SLACK_APP_TOKEN", ""},
		{"bot token in the app token's place", "SLACK_APP_TOKEN", "xoxb-secret-value-1"},
		{"missing bot token", "SLACK_BOT_TOKEN", ""},
		{"app token in the bot token's place", "SLACK_BOT_TOKEN", "xapp-secret-value-2"},
		{"missing key", "MEETINGBOT_SECRET_KEY", ""},
		{"short key", "MEETINGBOT_SECRET_KEY", "c2VjcmV0LXZhbHVlLTM="},
		{"key that is not base64", "MEETINGBOT_SECRET_KEY", "secret-value-4!!"},
		{"relative Slack URL", "SLACK_API_URL", "slack.com/api"},
		{"meeting URL with credentials", "MEETING_API_URL", "https://user:secret-value-5@example.com"},
		{"postgres not supported yet", "MEETINGBOT_DB", "postgres://u:secret-value-6@localhost/db"},
		{"admins that are not IDs", "MEETINGBOT_ADMINS", "U1, <@U2>"},
		{"command without slash", "MEETINGBOT_COMMAND", "mtgcmd"},
		{"command with spaces", "MEETINGBOT_COMMAND", "/my meeting"},
		{"listener without port", "MEETINGBOT_HTTP_ADDR", "localhost"},
		{"unknown log level", "LOG_LEVEL", "loud"},
		{"unknown log format", "LOG_FORMAT", "xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := validEnv(t)
			e[tt.variable] = tt.value
			var out bytes.Buffer
			err := run(t.Context(), []string{"run"}, env(e), nil, &out)
			var ce *configError
			if !errors.As(err, &ce) || ce.Var != tt.variable {
				t.Fatalf("err = %v, want a config error naming %s", err, tt.variable)
			}
			if exitCode(err) != 2 {
				t.Fatalf("exit code %d, want 2", exitCode(err))
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("a config error must be one line: %q", err)
			}
			if tt.value != "" && strings.Contains(err.Error()+out.String(), tt.value) {
				t.Fatalf("the value leaked: %q", err)
			}
		})
	}
}

// startFakes runs a fake Slack and a fake meeting API for `run`.
func startFakes(t *testing.T, e map[string]string) (*slacktest.Server, *meetingapitest.Server) {
	t.Helper()
	fs := slacktest.New(slacktest.WithAppToken(e["SLACK_APP_TOKEN"]), slacktest.WithBotToken(e["SLACK_BOT_TOKEN"]))
	t.Cleanup(fs.Close)
	fm := meetingapitest.NewServer()
	t.Cleanup(fm.Close)
	fm.AddMeeting("914083136", "123456", meetingapitest.InProgress)
	e["SLACK_API_URL"] = fs.APIURL()
	e["MEETING_API_URL"] = fm.URL
	return fs, fm
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestRunServesUntilCancelledAndMasksSecretsInItsLog(t *testing.T) {
	t.Parallel()
	e := validEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e["MEETINGBOT_HTTP_ADDR"] = ln.Addr().String()
	ln.Close()
	fs, fm := startFakes(t, e)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out lockedBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, env(e), nil, &out) }()

	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer wcancel()
	if err := fs.WaitConnections(wctx, 1); err != nil {
		t.Fatalf("run did not connect: %v\n%s", err, out.String())
	}
	id, err := fs.SendSlashCommand(wctx, slacktest.SlashCommand{Text: "bind 914083136 123456"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.WaitMessages(wctx, id, 1); err != nil {
		t.Fatal(err)
	}
	id, _ = fs.SendSlashCommand(wctx, slacktest.SlashCommand{Text: "lock"})
	msgs, err := fs.WaitMessages(wctx, id, 1)
	if err != nil || !strings.Contains(msgs[0].Text, "locked by") {
		t.Fatalf("lock through run: %v %+v", err, msgs)
	}
	if locked, _ := fm.Locked("914083136"); !locked {
		t.Fatal("not locked")
	}
	if err := getOK(t, "http://"+e["MEETINGBOT_HTTP_ADDR"]+"/readyz"); err != nil {
		t.Fatalf("readyz: %v", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after SIGTERM", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not stop")
	}
	log := out.String()
	for _, want := range []string{`"SLACK_APP_TOKEN":"xapp-****"`, `"SLACK_BOT_TOKEN":"xoxb-****"`, `"MEETINGBOT_SECRET_KEY":"**** (fingerprint `} {
		if !strings.Contains(log, want) {
			t.Errorf("the start-up log lacks %s", want)
		}
	}
	for _, secret := range []string{e["SLACK_APP_TOKEN"], e["SLACK_BOT_TOKEN"], e["MEETINGBOT_SECRET_KEY"], "123456"} {
		if strings.Contains(log, secret) {
			t.Fatalf("a secret appears in the log:\n%s", log)
		}
	}
}

func TestAWrongSecretKeyAfterARestartIsAClearError(t *testing.T) {
	t.Parallel()
	e := validEnv(t)
	fs, _ := startFakes(t, e)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, env(e), nil, io.Discard) }()
	wctx, wcancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer wcancel()
	if err := fs.WaitConnections(wctx, 1); err != nil {
		t.Fatal(err)
	}
	id, _ := fs.SendSlashCommand(wctx, slacktest.SlashCommand{Text: "bind 914083136 123456"})
	if _, err := fs.WaitMessages(wctx, id, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	other, _ := store.NewRandomKey()
	e["MEETINGBOT_SECRET_KEY"] = other.Encode()
	err := run(t.Context(), nil, env(e), nil, io.Discard)
	var ce *configError
	if !errors.As(err, &ce) || ce.Var != "MEETINGBOT_SECRET_KEY" || !strings.Contains(err.Error(), "does not match") ||
		!strings.Contains(err.Error(), "this key's id "+other.Fingerprint()) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), other.Encode()) {
		t.Fatal("the key leaked")
	}
}

func TestTheSandboxRunsNonInteractivelyAndExitsAtEOF(t *testing.T) {
	t.Parallel()
	in := strings.NewReader("/meeting help\n/meeting bind 914083136 123456\n/meeting lock\n:user bob\n/meeting unlock\n" +
		":user alice\n/meeting grant @bob\n:user bob\n/meeting unlock\n/meeting bind 914083136\n")
	var out bytes.Buffer
	if err := run(t.Context(), []string{"sandbox"}, env(nil), in, &out); err != nil {
		t.Fatalf("sandbox: %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"Demo meeting 914083136 is in progress; its host password is 123456.",
		"(only you) */meeting* locks and unlocks",
		"(only you) :white_check_mark: Meeting 914083136 is now bound to this channel.",
		"[#general] :lock: Meeting 914083136 locked by @alice.",
		"(only you) :no_entry: Only this channel's controllers can unlock meeting 914083136: @alice.",
		"[#general] :key: @bob can now lock and unlock this channel's meetings (granted by @alice).",
		"[#general] :unlock: Meeting 914083136 unlocked by @bob.",
		"sandbox: Slack would now show a form asking for the host password",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("sandbox output lacks %q", want)
		}
	}
	// The banner names the demo password; no reply may.
	if strings.Count(got, "123456") != 2 {
		t.Fatalf("the password appears outside the banner:\n%s", got)
	}
	if t.Failed() {
		t.Log(got)
	}
}
