package main

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/bot"

	"github.com/meetingbot/meetingbot/meetingapi"
)

// The variables of DESIGN.md §2, with their defaults ("" = empty,
// "required" = required for run).
var designVariables = []struct{ name, def string }{
	{"SLACK_APP_TOKEN", "required"},
	{"SLACK_BOT_TOKEN", "required"},
	{"SLACK_API_URL", "https://slack.com/api/"},
	{"MEETING_API_URL", "https://api.meeting.huaweicloud.com"},
	{"MEETINGBOT_DB", "meetingbot.db"},
	{"MEETINGBOT_SECRET_KEY", "required"},
	{"MEETINGBOT_ADMINS", ""},
	{"MEETINGBOT_COMMAND", "/meeting"},
	{"MEETINGBOT_HTTP_ADDR", "127.0.0.1:8080"},
	{"LOG_LEVEL", "info"},
	{"LOG_FORMAT", "json"},
}

// Variables the project added beyond DESIGN.md §2 (documented in
// docs/DEPLOYMENT.md and `meetingbot help`).
var addedVariables = []struct{ name, def string }{
	{"MEETINGBOT_LEASE", "30s"},
}

// allVariables are the design's and the added ones.
var allVariables = append(append([]struct{ name, def string }{}, designVariables...), addedVariables...)

func TestTheConfigStructHoldsExactlyTheDesignedVariables(t *testing.T) {
	got := map[string]string{}
	eachVar(&config{}, func(name string, sf reflect.StructField, _ reflect.Value) {
		def := sf.Tag.Get("default")
		if sf.Tag.Get("required") == "true" {
			def = "required"
		}
		if sf.Tag.Get("desc") == "" {
			t.Errorf("%s has no desc", name)
		}
		got[name] = def
	})
	if len(got) != len(allVariables) {
		t.Errorf("the struct has %d variables, the design and the added ones %d", len(got), len(allVariables))
	}
	for _, v := range allVariables {
		if def, ok := got[v.name]; !ok || def != v.def {
			t.Errorf("%s: default %q (present %v), want %q", v.name, def, ok, v.def)
		}
	}
	if got["MEETING_API_URL"] != meetingapi.DefaultBaseURL {
		t.Errorf("MEETING_API_URL's default is not the client's (%s)", meetingapi.DefaultBaseURL)
	}
}

func TestHelpListsEveryVariableWithItsDefault(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"help"}, nil, &out); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	for _, v := range allVariables {
		want := "  " + v.name + "  default " + v.def
		switch v.def {
		case "required":
			want = "  " + v.name + "  required"
		case "":
			want = "  " + v.name + "  default empty"
		}
		if !strings.Contains(help, want+"\n") {
			t.Errorf("help lacks %q", want)
		}
	}
	if !strings.Contains(help, "doctor") {
		t.Error("help does not mention doctor")
	}
}

func TestConfigErrorsNameTheVariableButNeverItsValue(t *testing.T) {
	tests := []struct {
		name, variable, value string
	}{
		{"missing app token", "SLACK_APP_TOKEN", "(unset)"},
		{"empty app token", "SLACK_APP_TOKEN", ""},
		{"bot token in the app token's place", "SLACK_APP_TOKEN", "xoxb-secret-value-1"},
		{"app token with a line break", "SLACK_APP_TOKEN", "xapp-secret-value-1b\n"},
		{"missing bot token", "SLACK_BOT_TOKEN", "(unset)"},
		{"app token in the bot token's place", "SLACK_BOT_TOKEN", "xapp-secret-value-2"},
		{"missing key", "MEETINGBOT_SECRET_KEY", "(unset)"},
		{"short key", "MEETINGBOT_SECRET_KEY", "c2VjcmV0LXZhbHVlLTM="},
		{"key that is not base64", "MEETINGBOT_SECRET_KEY", "secret-value-4!!"},
		{"relative Slack URL", "SLACK_API_URL", "slack.com/api-secret-value-5"},
		{"empty Slack URL", "SLACK_API_URL", ""},
		{"meeting URL with credentials", "MEETING_API_URL", "https://user:secret-value-6@example.com"},
		{"meeting URL with a query", "MEETING_API_URL", "https://example.com/?token=secret-value-7"},
		{"database URL of another kind", "MEETINGBOT_DB", "mysql://u:secret-value-8@localhost/db"},
		{"PostgreSQL URL without a host", "MEETINGBOT_DB", "postgres://%zz-secret-value-9"},
		{"empty database", "MEETINGBOT_DB", ""},
		{"admins that are mentions", "MEETINGBOT_ADMINS", "U123, <@U2>"},
		{"admins given by name", "MEETINGBOT_ADMINS", "alice"},
		{"command without slash", "MEETINGBOT_COMMAND", "mtgcmd"},
		{"command with spaces", "MEETINGBOT_COMMAND", "/my meeting"},
		{"listener without port", "MEETINGBOT_HTTP_ADDR", "localhost"},
		{"empty listener", "MEETINGBOT_HTTP_ADDR", ""},
		{"listener port out of range", "MEETINGBOT_HTTP_ADDR", ":99999"},
		{"listener port by name", "MEETINGBOT_HTTP_ADDR", "localhost:abc"},
		{"listener with a space", "MEETINGBOT_HTTP_ADDR", " :8080"},
		{"database with a trailing space", "MEETINGBOT_DB", "bot.db "},
		{"Slack URL with a trailing space", "SLACK_API_URL", "https://slack.com/api/ "},
		{"meeting URL with a line break", "MEETING_API_URL", "https://api.meeting.huaweicloud.com\n"},
		{"unknown log level", "LOG_LEVEL", "loud"},
		{"log level that logs nothing", "LOG_LEVEL", "disabled"},
		{"log level that hides errors", "LOG_LEVEL", "fatal"},
		{"unknown log format", "LOG_FORMAT", "xml"},
		{"lease without a unit", "MEETINGBOT_LEASE", "45"},
		{"lease too short", "MEETINGBOT_LEASE", "500ms"},
		{"lease too long", "MEETINGBOT_LEASE", "1h"},
		{"empty lease", "MEETINGBOT_LEASE", ""},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		covered[tt.variable] = true
		t.Run(tt.name, func(t *testing.T) {
			e := validEnv(t)
			if tt.value == "(unset)" {
				delete(e, tt.variable)
			} else {
				e[tt.variable] = tt.value
			}
			setEnv(t, e)
			var out bytes.Buffer
			err := run(t.Context(), []string{"run"}, nil, &out)
			var ce *configError
			if !errors.As(err, &ce) || ce.Var != tt.variable {
				t.Fatalf("err = %v, want a config error naming %s", err, tt.variable)
			}
			if !strings.HasPrefix(err.Error(), tt.variable+" ") {
				t.Fatalf("the error does not start with the variable: %q", err)
			}
			if exitCode(err) != 2 {
				t.Fatalf("exit code %d, want 2", exitCode(err))
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Fatalf("a config error must be one line: %q", err)
			}
			value := strings.TrimSpace(tt.value)
			if value != "" && value != "(unset)" && tt.variable != "MEETINGBOT_ADMINS" && strings.Contains(err.Error()+out.String(), value) {
				t.Fatalf("the value leaked: %q", err)
			}
			if strings.Contains(err.Error(), "secret-value") || strings.Contains(out.String(), "secret-value") {
				t.Fatalf("a secret leaked: %q", err)
			}
			if out.Len() > 0 {
				t.Fatalf("nothing may be logged before the configuration is valid: %q", out.String())
			}
		})
	}
	for _, v := range allVariables {
		if !covered[v.name] {
			t.Errorf("no malformed value of %s is tried", v.name)
		}
	}
}

func TestEmptyValuesSayHowToGetTheDefault(t *testing.T) {
	for _, v := range []string{"SLACK_API_URL", "MEETING_API_URL", "MEETINGBOT_DB", "MEETINGBOT_COMMAND", "LOG_LEVEL", "LOG_FORMAT", "MEETINGBOT_LEASE"} {
		e := validEnv(t)
		e[v] = ""
		setEnv(t, e)
		_, err := loadConfig(true)
		if err == nil || !strings.Contains(err.Error(), "is set but empty; unset it to use the default (") {
			t.Errorf("%s empty: %v", v, err)
		}
	}
}

func TestAdminsMustBeSlackUserIDs(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  []string
		bad   string // the message names the wrong entry by position and text
	}{
		{"U012AB3CD,W0BCDEF12", []string{"U012AB3CD", "W0BCDEF12"}, ""},
		{" U012AB3CD , ", []string{"U012AB3CD"}, ""},
		{"", nil, ""},
		{"U012AB3CD,alice", nil, `entry 2 ("alice")`},
		{"u012ab3cd", nil, `entry 1 ("u012ab3cd")`},
		{"C012AB3CD", nil, `entry 1 ("C012AB3CD")`},
		{"U1", nil, `entry 1 ("U1")`},
		{"U012AB3CD,,<@U2>", nil, `entry 3 ("<@U2>")`},
	} {
		e := validEnv(t)
		e["MEETINGBOT_ADMINS"] = tt.value
		setEnv(t, e)
		c, err := loadConfig(true)
		if tt.bad == "" {
			if err != nil || !reflect.DeepEqual([]string(c.Admins), tt.want) {
				t.Errorf("%q: admins %q, err %v; want %q", tt.value, c.Admins, err, tt.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.bad) || !strings.Contains(err.Error(), "U012AB3CD") {
			t.Errorf("%q: err = %v, want it to name %s and show an example ID", tt.value, err, tt.bad)
		}
	}
}

func TestLogLevelMustLogWarningsAndErrors(t *testing.T) {
	for level, ok := range map[string]bool{
		"trace": true, "debug": true, "info": true, "warn": true, "error": true, "INFO": true,
		"disabled": false, "panic": false, "fatal": false, "none": false, "off": false, "warning": false,
	} {
		e := validEnv(t)
		e["LOG_LEVEL"] = level
		setEnv(t, e)
		c, err := loadConfig(true)
		if ok && (err != nil || !strings.EqualFold(c.LogLevel.String(), level)) {
			t.Errorf("LOG_LEVEL=%s: %v (level %s)", level, err, c.LogLevel)
		}
		if !ok && err == nil {
			t.Errorf("LOG_LEVEL=%s was accepted", level)
		}
	}
}

func TestHTTPAddrOffDisablesTheListener(t *testing.T) {
	e := validEnv(t)
	e["MEETINGBOT_HTTP_ADDR"] = "off"
	setEnv(t, e)
	c, err := loadConfig(true)
	if err != nil || c.HTTPAddr != "" {
		t.Fatalf("off: %q, %v", c.HTTPAddr, err)
	}
	delete(e, "MEETINGBOT_HTTP_ADDR")
	setEnv(t, e)
	if c, err = loadConfig(true); err != nil || c.HTTPAddr != "127.0.0.1:8080" {
		t.Fatalf("unset: %q, %v", c.HTTPAddr, err)
	}
}

func TestPostgreSQLURLsSelectPostgreSQLAndNeverShowThePassword(t *testing.T) {
	// Port 1 on the loopback: nothing listens there, so the open fails
	// without leaving the machine.
	for _, dsn := range []string{
		"postgres://bot:pg-secret@127.0.0.1:1/meetingbot?connect_timeout=2",
		"postgresql://bot:pg-secret@127.0.0.1:1/meetingbot?sslmode=disable&connect_timeout=2",
		// pgx also reads the password from a parameter.
		"postgres://bot@127.0.0.1:1/meetingbot?connect_timeout=2&password=pg-secret",
		"postgres://bot@127.0.0.1:1/meetingbot?connect_timeout=2&sslpassword=pg-secret",
	} {
		e := validEnv(t)
		e["MEETINGBOT_DB"] = dsn
		setEnv(t, e)
		c, err := loadConfig(true)
		if err != nil || !c.DB.postgres() {
			t.Fatalf("%s: %v", dsn, err)
		}
		var log bytes.Buffer
		c.log(zerolog.New(&log))
		if strings.Contains(log.String(), "pg-secret") || !strings.Contains(log.String(), "xxxxx") || !strings.Contains(log.String(), "@127.0.0.1") {
			t.Fatalf("the start-up log shows the database password or no host: %s", log.String())
		}
		err = run(t.Context(), []string{"run"}, nil, io.Discard)
		var ce *configError
		if !errors.As(err, &ce) || ce.Var != "MEETINGBOT_DB" || strings.Contains(err.Error(), "pg-secret") || !strings.Contains(err.Error(), "127.0.0.1") {
			t.Fatalf("run with %s: %v", dsn, err)
		}
	}
}

func TestTheStartupLogListsEveryVariableWithSecretsMasked(t *testing.T) {
	e := validEnv(t)
	e["MEETINGBOT_ADMINS"] = "U012AB3CD"
	setEnv(t, e)
	c, err := loadConfig(true)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	c.log(zerolog.New(&log))
	for _, v := range allVariables {
		if !strings.Contains(log.String(), `"`+v.name+`":`) {
			t.Errorf("the log lacks %s: %s", v.name, log.String())
		}
	}
	for _, secret := range secretsOf(e) {
		if strings.Contains(log.String(), secret) {
			t.Fatalf("a secret is in the log: %s", log.String())
		}
	}
	for _, want := range []string{`"SLACK_APP_TOKEN":"xapp-****"`, `"MEETINGBOT_SECRET_KEY":"**** (fingerprint ` + c.key.Fingerprint() + `)"`, `"MEETINGBOT_ADMINS":["U012AB3CD"]`, `"MEETINGBOT_HTTP_ADDR":"off"`} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the log lacks %s: %s", want, log.String())
		}
	}
}

func TestTheLeaseSetsWhenCommandsAreTakenOver(t *testing.T) {
	e := validEnv(t)
	e["MEETINGBOT_LEASE"] = "3s"
	setEnv(t, e)
	c, err := loadConfig(true)
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(c.Lease) != 3*time.Second {
		t.Errorf("lease %v, want 3s", time.Duration(c.Lease))
	}
	for lease, want := range map[time.Duration]time.Duration{
		3 * time.Second:  500 * time.Millisecond,
		30 * time.Second: bot.DefaultTakeoverEvery,
		5 * time.Minute:  bot.DefaultTakeoverEvery,
	} {
		if got := takeoverEvery(lease); got != want {
			t.Errorf("takeoverEvery(%v) = %v, want %v", lease, got, want)
		}
	}
}

func TestConsoleLogsAreColouredOnlyOnATerminal(t *testing.T) {
	var out bytes.Buffer
	c := config{Settings: Settings{LogFormat: "console", LogLevel: logLevel(zerolog.InfoLevel)}}
	log := newLogger(c, &out)
	log.Warn().Str("k", "v").Msg("hello")
	if strings.Contains(out.String(), "\x1b[") || !strings.Contains(out.String(), "hello") {
		t.Fatalf("console log to a buffer: %q", out.String())
	}
	if isTerminal(&out) {
		t.Fatal("a buffer is not a terminal")
	}
}
