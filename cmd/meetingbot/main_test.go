package main

// Settings come from the process environment (envconfig), so tests that
// set it use t.Setenv and cannot run in parallel with each other.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
)

// setEnv makes the environment exactly e for the variables of the config
// struct: those not in e are unset. Everything is restored after the test.
func setEnv(t *testing.T, e map[string]string) {
	t.Helper()
	eachVar(&config{}, func(name string, _ reflect.StructField, _ reflect.Value) {
		t.Setenv(name, "") // registers the restore
		if v, ok := e[name]; ok {
			t.Setenv(name, v)
		} else {
			os.Unsetenv(name)
		}
	})
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

// secretsOf lists the values in e that must never be printed.
func secretsOf(e map[string]string) []string {
	return []string{e["SLACK_APP_TOKEN"], e["SLACK_BOT_TOKEN"], e["MEETINGBOT_SECRET_KEY"]}
}

func TestVersionPrintsTheVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"version"}, nil, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "meetingbot dev (") {
		t.Fatalf("version printed %q", out.String())
	}
}

func TestBadInvocationsAreUsageErrorsWithExitCode2(t *testing.T) {
	for _, args := range [][]string{{"frobnicate"}, {"version", "extra"}, {"doctor", "now"}} {
		err := run(t.Context(), args, nil, io.Discard)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "usage: meetingbot") {
			t.Fatalf("run(%q) = %v (exit %d)", args, err, exitCode(err))
		}
	}
}

// startFakes runs a fake Slack and a fake meeting API for `run`, and
// points e at them.
func startFakes(t *testing.T, e map[string]string, opts ...slacktest.Option) (*slacktest.Server, *meetingapitest.Server) {
	t.Helper()
	fs := slacktest.New(append([]slacktest.Option{
		slacktest.WithAppToken(e["SLACK_APP_TOKEN"]), slacktest.WithBotToken(e["SLACK_BOT_TOKEN"]),
	}, opts...)...)
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

// freeAddr returns a 127.0.0.1 address nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// running is `run` in the background.
type running struct {
	out  *lockedBuffer
	done chan error
	stop context.CancelFunc
}

func startRun(t *testing.T) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	r := &running{out: &lockedBuffer{}, done: make(chan error, 1), stop: cancel}
	go func() { r.done <- run(ctx, []string{"run"}, nil, r.out) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// wait returns run's error, failing the test if it takes longer than the
// shutdown bound plus a generous margin.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(shutdownBound + 30*time.Second):
		t.Fatalf("run did not return\n%s", r.out.String())
		return nil
	}
}

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func getBody(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRunServesUntilCancelledAndMasksSecretsInItsLog(t *testing.T) {
	e := validEnv(t)
	e["MEETINGBOT_HTTP_ADDR"] = freeAddr(t)
	fs, fm := startFakes(t, e)
	setEnv(t, e)
	r := startRun(t)

	ctx := waitCtx(t)
	if err := fs.WaitConnections(ctx, 1); err != nil {
		t.Fatalf("run did not connect: %v\n%s", err, r.out.String())
	}
	id, err := fs.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "bind 914083136 123456"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.WaitMessages(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	id, _ = fs.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "lock"})
	msgs, err := fs.WaitMessages(ctx, id, 1)
	if err != nil || !strings.Contains(msgs[0].Text, "locked by") {
		t.Fatalf("lock through run: %v %+v", err, msgs)
	}
	if locked, _ := fm.Locked("914083136"); !locked {
		t.Fatal("not locked")
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := getBody(t, "http://"+e["MEETINGBOT_HTTP_ADDR"]+path); code != http.StatusOK {
			t.Fatalf("%s: HTTP %d %s", path, code, body)
		}
	}

	r.stop()
	if err := r.wait(t); err != nil {
		t.Fatalf("run returned %v after SIGTERM", err)
	}
	log := r.out.String()
	for _, want := range []string{`"SLACK_APP_TOKEN":"xapp-****"`, `"SLACK_BOT_TOKEN":"xoxb-****"`, `"MEETINGBOT_SECRET_KEY":"**** (fingerprint `} {
		if !strings.Contains(log, want) {
			t.Errorf("the start-up log lacks %s", want)
		}
	}
	for _, secret := range append(secretsOf(e), "123456") {
		if strings.Contains(log, secret) {
			t.Fatalf("a secret appears in the log:\n%s", log)
		}
	}
}

func TestAWrongSecretKeyAfterARestartIsAClearError(t *testing.T) {
	e := validEnv(t)
	fs, _ := startFakes(t, e)
	setEnv(t, e)
	r := startRun(t)
	ctx := waitCtx(t)
	if err := fs.WaitConnections(ctx, 1); err != nil {
		t.Fatal(err)
	}
	id, _ := fs.SendSlashCommand(ctx, slacktest.SlashCommand{Text: "bind 914083136 123456"})
	if _, err := fs.WaitMessages(ctx, id, 1); err != nil {
		t.Fatal(err)
	}
	r.stop()
	if err := r.wait(t); err != nil {
		t.Fatal(err)
	}

	other, _ := store.NewRandomKey()
	t.Setenv("MEETINGBOT_SECRET_KEY", other.Encode())
	err := run(t.Context(), nil, nil, io.Discard)
	var ce *configError
	if !errors.As(err, &ce) || ce.Var != "MEETINGBOT_SECRET_KEY" || !strings.Contains(err.Error(), "does not match") ||
		!strings.Contains(err.Error(), "this key's id "+other.Fingerprint()) || exitCode(err) != 2 {
		t.Fatalf("err = %v (exit %d)", err, exitCode(err))
	}
	if strings.Contains(err.Error(), other.Encode()) {
		t.Fatal("the key leaked")
	}
}
