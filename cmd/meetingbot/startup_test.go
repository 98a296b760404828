package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/metrics"
	"github.com/meetingbot/meetingbot/store"
)

func TestSlackRefusingASettingStopsStartupWithExitCode2(t *testing.T) {
	tests := []struct {
		name     string
		slack    []slacktest.Option
		setup    func(e map[string]string, fs *slacktest.Server)
		variable string
		says     string
	}{
		{name: "a wrong bot token", variable: "SLACK_BOT_TOKEN", says: "invalid_auth",
			setup: func(e map[string]string, _ *slacktest.Server) { e["SLACK_BOT_TOKEN"] = "xoxb-secret-but-wrong" }},
		{name: "a revoked bot token", variable: "SLACK_BOT_TOKEN", says: "revoked",
			setup: func(_ map[string]string, fs *slacktest.Server) { fs.FailWebAPI("auth.test", 1, "token_revoked") }},
		{name: "a bot token of a deleted app", variable: "SLACK_BOT_TOKEN", says: "account_inactive",
			setup: func(_ map[string]string, fs *slacktest.Server) { fs.FailWebAPI("auth.test", 1, "account_inactive") }},
		{name: "a bot token without chat:write", variable: "SLACK_BOT_TOKEN", says: "lacks the scope chat:write",
			slack: []slacktest.Option{slacktest.WithBotScopes("commands")}},
		{name: "a wrong app token", variable: "SLACK_APP_TOKEN", says: "invalid_auth",
			setup: func(e map[string]string, _ *slacktest.Server) { e["SLACK_APP_TOKEN"] = "xapp-secret-but-wrong" }},
		{name: "a revoked app token", variable: "SLACK_APP_TOKEN", says: "revoked",
			setup: func(_ map[string]string, fs *slacktest.Server) {
				fs.FailWebAPI("apps.connections.open", 1, "token_revoked")
			}},
		{name: "an app token without connections:write", variable: "SLACK_APP_TOKEN", says: "lacks connections:write; generate an app-level token",
			slack: []slacktest.Option{slacktest.WithAppScopes()}},
		{name: "a Slack URL that is not Slack", variable: "SLACK_API_URL", says: "HTTP 404",
			setup: func(e map[string]string, fs *slacktest.Server) { e["SLACK_API_URL"] = fs.URL() + "/not-the-api/" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEnv(t)
			fs, _ := startFakes(t, e, tt.slack...)
			if tt.setup != nil {
				tt.setup(e, fs)
			}
			setEnv(t, e)
			var out lockedBuffer
			err := run(t.Context(), []string{"run"}, nil, &out)
			var ce *configError
			if !errors.As(err, &ce) || ce.Var != tt.variable || !strings.Contains(err.Error(), tt.says) {
				t.Fatalf("err = %v, want %s … %s", err, tt.variable, tt.says)
			}
			if exitCode(err) != 2 || strings.ContainsAny(err.Error(), "\n") {
				t.Fatalf("exit %d, or not one line: %q", exitCode(err), err)
			}
			for _, secret := range secretsOf(e) {
				if strings.Contains(err.Error()+out.String(), secret) {
					t.Fatalf("a secret leaked:\n%v\n%s", err, out.String())
				}
			}
			if n := fs.ConnectionsOpened(); n != 0 {
				t.Fatalf("the bot opened %d Socket Mode connections before its settings were checked", n)
			}
		})
	}
}

func TestSlackUnreachableAtStartIsLoggedAndRetriedNotASettingsError(t *testing.T) {
	e := validEnv(t)
	startFakes(t, e)
	e["SLACK_API_URL"] = "http://" + freeAddr(t) + "/api/"
	e["MEETINGBOT_HTTP_ADDR"] = freeAddr(t)
	setEnv(t, e)
	r := startRun(t)
	deadline := time.Now().Add(20 * time.Second)
	// The health listener comes up after the checks: the bot started anyway.
	for !strings.Contains(r.out.String(), `"message":"health listener up"`) {
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("run returned %v while Slack was unreachable\n%s", err, r.out.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bot did not start:\n%s", r.out.String())
		}
	}
	if !strings.Contains(r.out.String(), `"check":"SLACK_BOT_TOKEN"`) || !strings.Contains(r.out.String(), `"check":"SLACK_APP_TOKEN"`) ||
		!strings.Contains(r.out.String(), "connection refused") {
		t.Fatalf("the warnings do not say what happened:\n%s", r.out.String())
	}
	if code, body := getBody(t, "http://"+e["MEETINGBOT_HTTP_ADDR"]+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "Slack") {
		t.Fatalf("readyz while Slack is unreachable: %d %s", code, body)
	}
	r.stop()
	if err := r.wait(t); err != nil {
		t.Fatalf("run returned %v", err)
	}
}

func TestAnAppTokenRevokedWhileRunningExitsWithCode2(t *testing.T) {
	e := validEnv(t)
	fs, _ := startFakes(t, e)
	setEnv(t, e)
	r := startRun(t)
	if err := fs.WaitConnections(waitCtx(t), 2); err != nil {
		t.Fatal(err)
	}
	fs.FailWebAPI("apps.connections.open", 100, "token_revoked")
	fs.DropConnections()
	err := r.wait(t)
	var ce *configError
	if !errors.As(err, &ce) || ce.Var != "SLACK_APP_TOKEN" || !strings.Contains(err.Error(), "revoked") || exitCode(err) != 2 {
		t.Fatalf("err = %v (exit %d)", err, exitCode(err))
	}
}

func TestDatabaseErrorsNameTheVariableTheCauseAndThePathOnce(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database ", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "no-such-dir")
	tests := []struct {
		name, db, says, path string
	}{
		{"a directory that does not exist", filepath.Join(missing, "bot.db"), "the directory " + missing + " does not exist", missing},
		{"a directory instead of a file", dir, "names a directory (" + dir + ")", dir},
		{"a file that is not a database", notDB, "which is not a SQLite database", notDB},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := validEnv(t)
			startFakes(t, e)
			e["MEETINGBOT_DB"] = tt.db
			setEnv(t, e)
			err := run(t.Context(), []string{"run"}, nil, &lockedBuffer{})
			var ce *configError
			if !errors.As(err, &ce) || ce.Var != "MEETINGBOT_DB" || !strings.Contains(err.Error(), tt.says) || exitCode(err) != 2 {
				t.Fatalf("err = %v (exit %d), want MEETINGBOT_DB … %s", err, exitCode(err), tt.says)
			}
			if n := strings.Count(err.Error(), tt.path); n != 1 {
				t.Fatalf("the path appears %d times: %q", n, err)
			}
		})
	}
}

// codedError stands for a driver error that carries a SQLite result code
// or a PostgreSQL SQLSTATE.
type codedError struct {
	code  int
	state string
	msg   string
}

func (e codedError) Error() string    { return e.msg }
func (e codedError) Code() int        { return e.code }
func (e codedError) SQLState() string { return e.state }

func TestDBErrorReadsTheCauseFromWrappedErrors(t *testing.T) {
	const path = "/var/lib/meetingbot/meetingbot.db"
	wrap := func(err error) error { return fmt.Errorf("store: open %s: %w", path, err) }
	pathErr := func(errno syscall.Errno) error { return wrap(&fs.PathError{Op: "open", Path: path, Err: errno}) }
	pg := database("postgres://bot:pg-secret@db.internal:5432/meetingbot")
	tests := []struct {
		name      string
		dsn       database
		err       error
		says      string
		transient bool
	}{
		{"permission denied", path, pathErr(syscall.EACCES), "cannot be opened: permission denied for " + path + "; the bot's user must be able to write it and its directory /var/lib/meetingbot", false},
		{"operation not permitted", path, pathErr(syscall.EPERM), "permission denied", false},
		{"a missing directory", path, pathErr(syscall.ENOENT), "the directory /var/lib/meetingbot does not exist", false},
		{"a read-only file system", path, pathErr(syscall.EROFS), "is on a read-only file system (" + path + ")", false},
		{"a full disk", path, pathErr(syscall.ENOSPC), "no space left on the device holding " + path, true},
		{"a file in the way of a directory", path, pathErr(syscall.ENOTDIR), "is a file, not a directory", false},
		{"SQLite: read-only", path, wrap(codedError{code: 8, msg: "attempt to write a readonly database (8)"}), "is read-only for the bot's user", false},
		{"SQLite: read-only, extended code", path, wrap(codedError{code: 8 | 3<<8, msg: "attempt to write a readonly database (776)"}), "is read-only for the bot's user", false},
		{"SQLite: not a database", path, wrap(codedError{code: 26, msg: "file is not a database (26)"}), "which is not a SQLite database", false},
		{"SQLite: corrupt", path, wrap(codedError{code: 11, msg: "database disk image is malformed (11)"}), "restore it from a backup", true},
		{"SQLite: busy", path, wrap(codedError{code: 5, msg: "database is locked (5)"}), "run one meetingbot per SQLite file", true},
		{"PostgreSQL: wrong password", pg, wrap(codedError{state: "28P01", msg: "password authentication failed for user bot"}), "was refused by PostgreSQL (postgres://bot:xxxxx@db.internal:5432/meetingbot): wrong user or password", false},
		{"PostgreSQL: no such database", pg, wrap(codedError{state: "3D000", msg: "database does not exist"}), "names a database that does not exist", false},
		{"PostgreSQL: refused", pg, wrap(&os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}), "refuses connections", true},
		{"PostgreSQL: other, password scrubbed", pg, wrap(errors.New("cannot parse postgres://bot:pg-secret@db.internal:5432/meetingbot")), "cannot be opened (postgres://bot:xxxxx@db.internal:5432/meetingbot)", true},
		{"PostgreSQL: password as a parameter", database("postgres://bot@db.internal:5432/meetingbot?password=pg-secret"), wrap(errors.New("server said no to pg-secret")), "cannot be opened (postgres://bot@db.internal:5432/meetingbot?password=xxxxx): server said no to xxxxx", true},
		{"anything else", path, wrap(errors.New("the database schema is version 9, newer than this build of meetingbot supports (3); run a newer meetingbot")), "cannot be opened (" + path + "): the database schema is version 9", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := dbError(tt.dsn, tt.err)
			var ce *configError
			if !errors.As(err, &ce) || ce.Var != "MEETINGBOT_DB" || !strings.Contains(err.Error(), tt.says) || ce.Transient != tt.transient {
				t.Fatalf("dbError = %v (transient %v), want MEETINGBOT_DB … %s (transient %v)", err, ce != nil && ce.Transient, tt.says, tt.transient)
			}
			if strings.Contains(err.Error(), "pg-secret") {
				t.Fatalf("the database password leaked: %q", err)
			}
			if tt.dsn == path && strings.Count(err.Error(), path) > 1 {
				t.Fatalf("the path is repeated: %q", err)
			}
			wantExit := 2
			if tt.transient {
				wantExit = 1
			}
			if exitCode(err) != wantExit {
				t.Fatalf("exit %d, want %d", exitCode(err), wantExit)
			}
		})
	}
	wk := dbError(path, wrap(&store.WrongKeyError{Stored: "aaaa1111", Given: "bbbb2222"}))
	if !strings.HasPrefix(wk.Error(), "MEETINGBOT_SECRET_KEY does not match") || !strings.Contains(wk.Error(), "aaaa1111") || exitCode(wk) != 2 {
		t.Fatalf("wrong key: %v", wk)
	}
}

type fakeConn bool

func (c fakeConn) Connected() bool { return bool(c) }

func TestReadyzNeedsSlackAndTheDatabase(t *testing.T) {
	key, _ := store.NewRandomKey()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "ready.db"), key)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New("dev", "")
	get := func(h http.Handler, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(opsHandler(fakeConn(true), st, m), "/readyz"); code != 200 {
		t.Fatalf("connected, database open: %d %s", code, body)
	}
	if code, body := get(opsHandler(fakeConn(false), st, m), "/readyz"); code != 503 || !strings.Contains(body, "Slack") {
		t.Fatalf("not connected: %d %s", code, body)
	}
	if code, _ := get(opsHandler(fakeConn(false), st, m), "/healthz"); code != 200 {
		t.Fatalf("healthz must not depend on Slack: %d", code)
	}
	st.Close()
	if code, body := get(opsHandler(fakeConn(true), st, m), "/readyz"); code != 503 || !strings.Contains(body, "database") {
		t.Fatalf("database closed: %d %s", code, body)
	}
}

// TestALockMovesTheRightSeries scrapes /metrics over HTTP from `run`
// after a bind and a lock through the fake Slack.
func TestALockMovesTheRightSeries(t *testing.T) {
	e := validEnv(t)
	e["MEETINGBOT_HTTP_ADDR"] = freeAddr(t)
	fs, _ := startFakes(t, e)
	setEnv(t, e)
	r := startRun(t)
	ctx := waitCtx(t)
	if err := fs.WaitConnections(ctx, 2); err != nil {
		t.Fatalf("%v\n%s", err, r.out.String())
	}
	send := func(user, text string) {
		t.Helper()
		id, err := fs.SendSlashCommand(ctx, slacktest.SlashCommand{UserID: user, Text: text})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fs.WaitMessages(ctx, id, 1); err != nil {
			t.Fatal(err)
		}
	}
	send("U0ALICE", "bind 914083136 123456")
	send("U0ALICE", "lock")
	send("U0MALLORY", "unlock") // refused: not a controller
	if _, err := fs.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "lock 1 2 3"}); err != nil {
		t.Fatal(err)
	}
	// The fake Slack records a reply before the bot counts it, and the usage
	// answer is in the ack: wait until all four are counted and none is in
	// flight, then check exact values.
	settled := func(fams map[string]*dto.MetricFamily) bool {
		return value(fams, "meetingbot_commands_total", "outcome", "usage") >= 1 &&
			value(fams, "meetingbot_slack_deliveries_total", "path", "response_url", "result", "ok") >= 3 &&
			value(fams, "meetingbot_commands_total", "verb", "unlock", "outcome", "refused") >= 1 &&
			value(fams, "meetingbot_commands_in_flight") == 0
	}
	for fams := scrapeRun(t, e); !settled(fams); fams = scrapeRun(t, e) {
		if ctx.Err() != nil {
			t.Fatal("the commands were not all counted")
		}
		time.Sleep(10 * time.Millisecond)
	}

	fams := scrapeRun(t, e)
	types := map[string]dto.MetricType{
		"meetingbot_commands_total":                       dto.MetricType_COUNTER,
		"meetingbot_command_duration_seconds":             dto.MetricType_HISTOGRAM,
		"meetingbot_ack_duration_seconds":                 dto.MetricType_HISTOGRAM,
		"meetingbot_meeting_api_requests_total":           dto.MetricType_COUNTER,
		"meetingbot_meeting_api_request_duration_seconds": dto.MetricType_HISTOGRAM,
		"meetingbot_token_fetches_total":                  dto.MetricType_COUNTER,
		"meetingbot_slack_deliveries_total":               dto.MetricType_COUNTER,
		"meetingbot_slack_connections":                    dto.MetricType_GAUGE,
		"meetingbot_commands_in_flight":                   dto.MetricType_GAUGE,
		"meetingbot_build_info":                           dto.MetricType_GAUGE,
		"go_goroutines":                                   dto.MetricType_GAUGE,
		"process_cpu_seconds_total":                       dto.MetricType_COUNTER,
	}
	for name, typ := range types {
		if f := fams[name]; f == nil || f.GetType() != typ {
			t.Errorf("%s: %v, want a %v", name, f.GetType(), typ)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"meetingbot_commands_total", []string{"verb", "lock", "outcome", "ok"}, 1},
		{"meetingbot_commands_total", []string{"verb", "bind", "outcome", "ok"}, 1},
		{"meetingbot_commands_total", []string{"verb", "unlock", "outcome", "refused"}, 1},
		{"meetingbot_commands_total", []string{"verb", "none", "outcome", "usage"}, 1},
		{"meetingbot_command_duration_seconds", []string{"verb", "lock"}, 1},
		{"meetingbot_ack_duration_seconds", nil, 4},
		{"meetingbot_meeting_api_requests_total", []string{"op", "lock", "status", "2xx"}, 1},
		{"meetingbot_meeting_api_requests_total", []string{"op", "token", "status", "2xx"}, 1},
		{"meetingbot_token_fetches_total", []string{"kind", "password", "result", "ok"}, 1},
		{"meetingbot_slack_deliveries_total", []string{"path", "response_url", "result", "ok"}, 3},
		{"meetingbot_slack_connections", nil, 2},
		{"meetingbot_commands_in_flight", nil, 0},
		{"meetingbot_build_info", []string{"version", "dev"}, 1},
	} {
		if got := value(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	_, raw := getBody(t, "http://"+e["MEETINGBOT_HTTP_ADDR"]+"/metrics")
	for _, leak := range append(secretsOf(e), "914083136", "U0ALICE", "U0MALLORY", "C0TEST", "123456\"") {
		if strings.Contains(raw, leak) {
			t.Errorf("%q appears in /metrics", leak)
		}
	}
}

func scrapeRun(t *testing.T, e map[string]string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := getBody(t, "http://"+e["MEETINGBOT_HTTP_ADDR"]+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: HTTP %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return fams
}

// value sums the series of name whose labels include the given pairs: a
// counter's or gauge's value, a histogram's count. Missing is 0.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	total := 0.0
	for _, m := range fams[name].GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && got[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			total += m.GetCounter().GetValue()
		case m.Gauge != nil:
			total += m.GetGauge().GetValue()
		case m.Histogram != nil:
			total += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return total
}
