package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// sandboxRun drives `meetingbot sandbox` with script as its input.
func sandboxRun(t *testing.T, script string) string {
	t.Helper()
	setEnv(t, nil)
	var out bytes.Buffer
	if err := run(t.Context(), []string{"sandbox"}, strings.NewReader(script), &out); err != nil {
		t.Fatalf("sandbox: %v\n%s", err, out.String())
	}
	return out.String()
}

func wantLines(t *testing.T, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("the sandbox did not print %q", w)
		}
	}
	if t.Failed() {
		t.Log(got)
	}
}

// outputOnly drops the echoed input lines ("alice in #general> …").
func outputOnly(transcript string) string {
	var b strings.Builder
	for _, l := range strings.Split(transcript, "\n") {
		if !promptLine.MatchString(l) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

var promptLine = regexp.MustCompile(`^[a-z0-9]+ in #[a-z0-9]+> `)

// inOrder checks that the fragments appear in got, each after the one
// before. The sandbox tests look for the sandbox's own words and for the
// parts of the bot's replies that identify them (emoji, codes, mentions),
// so a rewording of a reply does not break them.
func inOrder(t *testing.T, got string, fragments ...string) {
	t.Helper()
	rest := got
	for _, f := range fragments {
		i := strings.Index(rest, f)
		if i < 0 {
			t.Fatalf("the sandbox did not print %q after the fragments before it:\n%s", f, got)
		}
		rest = rest[i+len(f):]
	}
}

func TestTheSandboxRunsNonInteractivelyAndExitsAtEOF(t *testing.T) {
	got := sandboxRun(t, "/meeting help\n/meeting bind 914083136 123456\n/meeting lock\n:user bob\n/meeting unlock\n"+
		":user alice\n/meeting grant @bob\n:user bob\n/meeting unlock\n")
	inOrder(t, got,
		"Demo meeting 914083136 is in progress; its host password is 123456.",
		"alice in #general> /meeting help\n", "  (only you) */meeting* ",
		"alice in #general> /meeting bind 914083136 123456\n", "  (only you) ✅ ",
		"alice in #general> /meeting lock\n", "  [#general] 🔒 Meeting 914083136 locked by @alice.\n             [1] Unlock   (:press N)\n",
		"bob in #general> /meeting unlock\n", "  (only you) ⛔ ", "@alice",
		"alice in #general> /meeting grant @bob\n", "  [#general] 🔑 @bob ",
		"bob in #general> /meeting unlock\n", "  [#general] 🔓 Meeting 914083136 unlocked by @bob.",
	)
	// The banner names the demo password; no reply may.
	if n := strings.Count(outputOnly(got), "123456"); n != 2 {
		t.Fatalf("the password appears %d times outside the input lines, want 2 (the banner):\n%s", n, got)
	}
	if shortcode.MatchString(outputOnly(got)) {
		t.Fatalf("a :shortcode: was printed instead of its emoji:\n%s", got)
	}
}

func TestTheSandboxShowsButtonsAndLetsThemBePressed(t *testing.T) {
	got := sandboxRun(t, "/meeting bind 914083136 123456\n/meeting lock\n:press 1\n:press 1\n"+
		"/meeting lock\n:user bob\n:press 2\n:user alice\n:press 2\n:press 99\n")
	inOrder(t, got,
		"  [#general] 🔒 Meeting 914083136 locked by @alice.\n             [1] Unlock   (:press N)\n",
		"alice in #general> :press 1\n",
		`  sandbox: Slack asks first: "Unlock the meeting?" `, " [Unlock] [Cancel]; answering yes\n",
		"  [#general] (replaces the message with [1]) 🔓 Meeting 914083136 unlocked by @alice.\n             [2] Lock   (:press N)\n",
		// The message with [1] was replaced, so [1] is gone.
		"alice in #general> :press 1\n  sandbox: there is no button [1]",
		"alice in #general> /meeting lock\n", "  [#general] 🔒 ", "[3] Unlock",
		// bob presses a button in a channel he does not control: refused.
		"bob in #general> :press 2\n  sandbox: Slack asks first: \"Lock the meeting?\"", "  (only you) ⛔ ",
		// The meeting was locked by command meanwhile: the Lock button is stale.
		"alice in #general> :press 2\n", "  (only you) ℹ️ ", "already locked",
		"alice in #general> :press 99\n  sandbox: there is no button [99]",
	)
}

func TestTheSandboxLetsTheBindFormBeFilledIn(t *testing.T) {
	got := sandboxRun(t, ":form 123456\n/meeting bind 914083136\n:form wrong-password\n:form 123456\n:cancel\n"+
		"/meeting bind 914083136\n:cancel\n/meeting status\n")
	inOrder(t, got,
		"alice in #general> :form 123456\n  sandbox: no form is open; /meeting bind 914083136 opens one\n",
		"alice in #general> /meeting bind 914083136\n",
		"  sandbox: Slack now shows alice the form \"Bind a meeting\" with a Host password field.\n           Fill it in with :form PASSWORD (or close it with :cancel).\n",
		"alice in #general> :form wrong-password\n  (form) ", "\n  sandbox: the form stays open; try :form again, or :cancel\n",
		"alice in #general> :form 123456\n  sandbox: the form closed\n  (only you) ✅ Meeting 914083136 ",
		"alice in #general> :cancel\n  sandbox: no form is open\n",
		"alice in #general> /meeting bind 914083136\n  sandbox: Slack now shows alice the form",
		"alice in #general> :cancel\n  sandbox: form closed; nothing was stored\n",
		"alice in #general> /meeting status\n  (only you) ℹ️ Meeting 914083136 ", "@alice",
	)
	if strings.Contains(outputOnly(got), "wrong-password") {
		t.Fatalf("the typed password was echoed by the bot:\n%s", got)
	}
}

func TestTheSandboxShowsTheMeetingAPIsBadDays(t *testing.T) {
	got := sandboxRun(t, "/meeting bind 914083136 123456\n"+
		// Slower than the 4 s after which the bot says so; under the 5 s a call may take.
		":slow 4.6s\n/meeting lock\n:slow off\n"+
		":fail 1 MMC.111070002\n/meeting unlock\n"+
		":flow 1\n/meeting unlock\n"+
		":expire\n/meeting lock\n"+
		":password 654321\n:expire\n/meeting unlock\n"+
		":fail 8 MMC.111072049\n/meeting unlock\n")
	inOrder(t, got,
		"alice in #general> :slow 4.6s\n  sandbox: the meeting API now takes 4.6s to answer each call\n",
		"alice in #general> /meeting lock\n", "  (only you) ⌛ Still trying", "  [#general] 🔒 Meeting 914083136 locked by @alice.",
		"alice in #general> :slow off\n  sandbox: the meeting API answers at once again\n",
		"alice in #general> :fail 1 MMC.111070002\n  sandbox: the next lock/unlock call answers HTTP 403 MMC.111070002\n",
		"alice in #general> /meeting unlock\n", "  [#general] ⚠️ ", "MMC.111070002",
		// Flow control is waited out: the unlock goes through.
		"alice in #general> :flow 1\n  sandbox: the next lock/unlock call answers HTTP 429 100000429 (flow control; the bot waits as Retry-After says and tries again)\n",
		"alice in #general> /meeting unlock\n", "  [#general] 🔓 Meeting 914083136 unlocked by @alice.",
		// An expired token is replaced with the stored password.
		"alice in #general> :expire\n  sandbox: every control token issued so far has expired\n",
		"alice in #general> /meeting lock\n", "  [#general] 🔒 Meeting 914083136 locked by @alice.",
		// A changed password shows once a new token is needed, with the way out.
		"alice in #general> :password 654321\n  sandbox: the host changed meeting 914083136's password",
		"alice in #general> /meeting unlock\n", "  [#general] ⚠️ ", "MMC.111072065", "/meeting bind 914083136",
		"alice in #general> :fail 8 MMC.111072049\n  sandbox: the next 8 lock/unlock calls answer HTTP 500 MMC.111072049\n",
		"alice in #general> /meeting unlock\n", "  [#general] ⚠️ ", "MMC.111072049",
	)
}

func TestTheSandboxRefusesBadControls(t *testing.T) {
	got := sandboxRun(t, ":slow forever\n:slow 2h\n:fail x MMC.1\n:fail 1\n:fail 1 MMC.1 200\n:flow 0\n:password\n:press one\n:user Bob!\n:frobnicate\n")
	wantLines(t, got,
		"  sandbox: :slow takes a duration up to 1m, like :slow 4.5s, or off",
		"  sandbox: :fail takes a count, a vendor error code and optionally an HTTP status",
		"  sandbox: :flow takes a count from 1 to 100",
		"  sandbox: :password takes the new host password",
		"  sandbox: there is no button [one]",
		"  sandbox: :user takes a short name",
		"  sandbox: unknown control :frobnicate (try :help)",
	)
	if n := strings.Count(got, "  sandbox: :fail takes"); n != 3 {
		t.Errorf(":fail refused %d of 3 bad forms", n)
	}
	if n := strings.Count(got, "  sandbox: :slow takes"); n != 2 {
		t.Errorf(":slow refused %d of 2 bad forms", n)
	}
}

// TestEveryShortcodeTheBotWritesHasAnEmoji keeps the sandbox's emoji
// table in step with the messages of commands and bot.
func TestEveryShortcodeTheBotWritesHasAnEmoji(t *testing.T) {
	var files []string
	for _, dir := range []string{"../../commands", "../../bot"} {
		m, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil || len(m) == 0 {
			t.Fatalf("no Go files in %s: %v", dir, err)
		}
		files = append(files, m...)
	}
	missing := map[string]bool{}
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, code := range shortcode.FindAllString(string(src), -1) {
			seen++
			if _, ok := emoji[code]; !ok {
				missing[code] = true
			}
		}
	}
	if seen < 10 {
		t.Fatalf("found only %d shortcodes; is the scan looking in the right place?", seen)
	}
	var codes []string
	for c := range missing {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	if len(codes) > 0 {
		t.Fatalf("the sandbox shows these as text, not emoji; add them to its table: %v", codes)
	}
}

// TestTheREADMEsTranscriptsAreOneSandboxSession replays the input lines
// of the README's transcripts (the ```text blocks after <!-- sandbox -->)
// in one sandbox session and checks that the sandbox prints exactly what
// the README shows. Clock times and request IDs may differ.
func TestTheREADMEsTranscriptsAreOneSandboxSession(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, block := range strings.Split(string(raw), "<!-- sandbox -->\n```text\n")[1:] {
		end := strings.Index(block, "\n```")
		if end < 0 {
			t.Fatal("a sandbox block in README.md is not closed")
		}
		want = append(want, strings.Split(block[:end], "\n")...)
	}
	if len(want) < 20 {
		t.Fatalf("found only %d transcript lines in README.md", len(want))
	}
	var script strings.Builder
	for _, l := range want {
		if promptLine.MatchString(l) {
			script.WriteString(promptLine.ReplaceAllString(l, "") + "\n")
		}
	}
	got := sandboxRun(t, script.String())
	// The session starts at the first input line, after the banner.
	start := strings.Index(got, want[0]+"\n")
	if start < 0 {
		t.Fatalf("the sandbox never printed %q:\n%s", want[0], got)
	}
	have := strings.Split(strings.TrimRight(got[start:], "\n"), "\n")
	normalize := func(lines []string) string {
		return variable.ReplaceAllString(strings.Join(lines, "\n"), "…")
	}
	if normalize(have) != normalize(want) {
		t.Fatalf("README.md's transcripts are not what the sandbox prints. Replace them with this run's lines:\n%s", strings.Join(have, "\n"))
	}
}

// variable matches what changes from run to run: dates, clock times and
// the fake meeting API's request IDs.
var variable = regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d UTC|\d\d:\d\d UTC|request [0-9a-f]+`)
