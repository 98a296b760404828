package commands

import (
	"errors"
	"strings"
	"testing"

	"github.com/meetingbot/meetingbot/meetingapi"
)

func TestParseAcceptsWhatPeopleType(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want Command
	}{
		{"empty text is help", "", Command{Verb: VerbHelp}},
		{"blank text is help", "   \t ", Command{Verb: VerbHelp}},
		{"help", "help", Command{Verb: VerbHelp}},
		{"lock without an ID uses the channel's meeting", "lock", Command{Verb: VerbLock}},
		{"lock with an ID", "lock 914083136", Command{Verb: VerbLock, ConferenceID: "914083136"}},
		{"verbs are case-insensitive", "LoCk 914083136", Command{Verb: VerbLock, ConferenceID: "914083136"}},
		{"extra spaces are fine", "   unlock    914083136   ", Command{Verb: VerbUnlock, ConferenceID: "914083136"}},
		{"pasted dashes are trimmed", "unlock 914-083-136", Command{Verb: VerbUnlock, ConferenceID: "914083136"}},
		{"pasted digit groups are joined", "lock 914 083 136", Command{Verb: VerbLock, ConferenceID: "914083136"}},
		{"bind with a password", "bind 914083136 s3cret!", Command{Verb: VerbBind, ConferenceID: "914083136", Password: "s3cret!"}},
		{"bind unescapes what Slack escapes in the password", "bind 914083136 a&amp;b&lt;c&gt;", Command{Verb: VerbBind, ConferenceID: "914083136", Password: "a&b<c>"}},
		{"bind without a password asks for one", "bind 914-083-136", Command{Verb: VerbBind, ConferenceID: "914083136"}},
		{"unbind", "unbind", Command{Verb: VerbUnbind}},
		{"status with an ID", "status 914083136", Command{Verb: VerbStatus, ConferenceID: "914083136"}},
		{"grant an escaped mention", "grant <@U024BE7LH|bob>", Command{Verb: VerbGrant, UserID: "U024BE7LH"}},
		{"revoke a bare mention", "revoke <@W024BE7LH>", Command{Verb: VerbRevoke, UserID: "W024BE7LH"}},
		{"controllers", "controllers", Command{Verb: VerbControllers}},
		{"history defaults to 10", "history", Command{Verb: VerbHistory, Limit: 10}},
		{"history takes N", "history 50", Command{Verb: VerbHistory, Limit: 50}},
		{"tabs and newlines separate words", "lock\t914083136\n", Command{Verb: VerbLock, ConferenceID: "914083136"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.text)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.text, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.text, got, tt.want)
			}
		})
	}
}

// hostileInputs are commands that must be refused with a usage message.
// Each is checked to produce a *UsageError (so no use case, and therefore
// no meeting-API call, ever runs for it).
var hostileInputs = []struct {
	name, text, wantProblem string
}{
	{"unknown verb", "explode", "I don't know the command"},
	{"unknown verb with markup", "<!channel> hi", "I don't know the command"},
	{"ID too short", "lock 12345", "6 to 20"},
	{"ID too long", "lock 123456789012345678901", "6 to 20"},
	{"letters in ID", "lock 91408313a", "not a conference ID"},
	{"full-width digits", "lock ９１４０８３１３６", "not a conference ID"},
	{"arabic-indic digits", "lock ٩١٤٠٨٣١٣٦", "not a conference ID"},
	{"SQL injection in ID", "lock 914083136'; DROP TABLE meetings;--", "not a conference ID"},
	{"SQL injection as verb", "'; DROP TABLE meetings;--", "I don't know"},
	{"shell injection", "lock $(rm -rf /)", "not a conference ID"},
	{"two IDs at once", "lock 914083136 123456789", "one conference ID at a time"},
	{"three IDs at once", "unlock 914083136 123456789 555555555", "one conference ID at a time"},
	{"user mention as ID", "lock <@U123|bob>", "not a conference ID"},
	{"channel mention as ID", "lock <#C123|general>", "not a conference ID"},
	{"special mention as ID", "lock <!here>", "not a conference ID"},
	{"link as ID", "lock <https://evil.example|914083136>", "not a conference ID"},
	{"emoji as ID", "lock 🔒", "not a conference ID"},
	{"keycap emoji digits", "lock 9️⃣1️⃣4️⃣0️⃣8️⃣3️⃣", "not a conference ID"},
	{"RTL override", "lock 914083136\u202e", "control or invisible"},
	{"RTL mark", "lock \u200f914083136", "control or invisible"},
	{"zero-width space", "lock 914\u200b083136", "control or invisible"},
	{"NUL byte", "lock 914083136\x00", "control or invisible"},
	{"escape sequence", "lock \x1b[31m914083136", "control or invisible"},
	{"bell", "help\a", "control or invisible"},
	{"invalid UTF-8", "lock \xff\xfe", "not valid text"},
	{"huge text", "lock " + strings.Repeat("9", 5000), "too long"},
	{"huge unicode text", strings.Repeat("🔒", 300), "too long"},
	{"decimal ID", "lock 914083.136", "not a conference ID"},
	{"plus sign", "lock +914083136", "not a conference ID"},
	{"extra argument to controllers", "controllers now", "takes no arguments"},
	{"extra argument to help", "help me", "takes no arguments"},
	{"bind without ID", "bind", "Which meeting"},
	{"bind with spaces in password", "bind 914083136 my secret pass", "Too many words"},
	{"bind with a bad ID", "bind abc 123456", "not a conference ID"},
	{"bind with an oversized password", "bind 914083136 " + strings.Repeat("p", 65), "too long"},
	{"grant a display name", "grant @bob", "Mention the person"},
	{"grant two people", "grant <@U1> <@U2>", "exactly one"},
	{"grant nobody", "grant", "exactly one"},
	{"grant a broken mention", "grant <@U1 2>", "exactly one"},
	{"grant an empty mention", "grant <@>", "Mention the person"},
	{"history zero", "history 0", "1 to 50"},
	{"history too many", "history 51", "1 to 50"},
	{"history not a number", "history ten", "1 to 50"},
	{"history two numbers", "history 1 2", "at most one"},
}

func TestParseRefusesHostileInputWithAUsageError(t *testing.T) {
	t.Parallel()
	if len(hostileInputs) < 30 {
		t.Fatalf("the hostile table has %d rows; keep at least 30", len(hostileInputs))
	}
	for _, tt := range hostileInputs {
		t.Run(tt.name, func(t *testing.T) {
			cmd, err := Parse(tt.text)
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) = %+v, %v; want a *UsageError", tt.text, cmd, err)
			}
			if !errors.Is(err, ErrUsage) {
				t.Fatal("a usage error must match ErrUsage")
			}
			if !strings.Contains(ue.Problem, tt.wantProblem) {
				t.Fatalf("problem %q does not say %q", ue.Problem, tt.wantProblem)
			}
			reply := UsageReply("/meeting", err)
			if reply.Visibility != Ephemeral {
				t.Fatal("usage errors must be ephemeral")
			}
			if !strings.Contains(reply.PlainText(), "/meeting") {
				t.Fatalf("the reply shows no usage: %q", reply.PlainText())
			}
			if len(reply.PlainText()) > 4000 {
				t.Fatalf("the reply is %d bytes", len(reply.PlainText()))
			}
		})
	}
}

func TestUsageErrorsNeverEchoABindPassword(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"bind 914083136 hunter2 extra",
		"bind abc hunter2",
		"bind 914083136 " + strings.Repeat("hunter2", 10),
		"bind 12 hunter2",
	} {
		_, err := Parse(text)
		if err == nil {
			t.Fatalf("Parse(%q) accepted", text)
		}
		if got := UsageReply("/meeting", err).PlainText(); strings.Contains(got, "hunter2") {
			t.Fatalf("usage reply for %q echoes the password: %q", text, got)
		}
	}
}

func TestUnknownVerbIsQuotedHarmlessly(t *testing.T) {
	t.Parallel()
	_, err := Parse("<@U123>`*bold*`" + strings.Repeat("x", 100))
	got := UsageReply("/meeting", err).Text
	if strings.Contains(got, "<@U123>") || strings.Count(got, "`") != 2 {
		t.Fatalf("the unknown verb is not neutralized: %q", got)
	}
	if !strings.Contains(got, "…") {
		t.Fatalf("a long verb is not shortened: %q", got)
	}
}

func TestHelpListsEveryVerbFromTheGrammar(t *testing.T) {
	t.Parallel()
	help := Help("/meet").PlainText()
	for _, s := range grammar {
		if !strings.Contains(help, "`"+Usage("/meet", s.verb)+"`") {
			t.Errorf("help lacks %s", s.verb)
		}
		// Every declared usage line parses back (with sample arguments).
		sample := strings.NewReplacer("[ID]", "914083136", "ID", "914083136", "[PASSWORD]", "pw", "@user", "<@U1>", "[N]", "3").Replace(s.args)
		if _, err := Parse(string(s.verb) + " " + sample); err != nil {
			t.Errorf("the documented usage of %s does not parse: %v", s.verb, err)
		}
	}
}

func TestMentionedUser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"<@U123|bob>", "U123", true},
		{"<@U123>", "U123", true},
		{"<@W9>", "W9", true},
		{"@bob", "", false},
		{"<@>", "", false},
		{"<@|bob>", "", false},
		{"<#C123|general>", "", false},
		{"<@U1<@U2>>", "", false},
	}
	for _, tt := range tests {
		got, ok := MentionedUser(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("MentionedUser(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestPasswordStaysRedactedInACommand(t *testing.T) {
	t.Parallel()
	cmd, err := Parse("bind 914083136 hunter2")
	if err != nil {
		t.Fatal(err)
	}
	if cmd.Password != meetingapi.Password("hunter2") {
		t.Fatal("password not parsed")
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := sprintf(f, cmd); strings.Contains(s, "hunter2") {
			t.Fatalf("%s of a Command shows the password: %s", f, s)
		}
	}
}
