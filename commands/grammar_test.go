package commands

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/meetingbot/meetingbot/domain"
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
		{"help about one verb", "help lock", Command{Verb: VerbHelp, Topic: VerbLock}},
		{"help about a verb typed with its slash and capitals", "help /Extend", Command{Verb: VerbHelp, Topic: VerbExtend}},
		{"lock without an ID uses the channel's meeting", "lock", Command{Verb: VerbLock}},
		{"lock with an ID", "lock 914083136", Command{Verb: VerbLock, ConferenceID: "914083136"}},
		{"verbs are case-insensitive", "LoCk 914083136", Command{Verb: VerbLock, ConferenceID: "914083136"}},
		{"extra spaces are fine", "   unlock    914083136   ", Command{Verb: VerbUnlock, ConferenceID: "914083136"}},
		{"pasted dashes are trimmed", "unlock 914-083-136", Command{Verb: VerbUnlock, ConferenceID: "914083136"}},
		{"pasted digit groups are joined", "lock 914 083 136", Command{Verb: VerbLock, ConferenceID: "914083136"}},
		// The help says spaces in an ID are fine except in bind and remove.
		{"digit groups in who", "who 914 083 136", Command{Verb: VerbWho, ConferenceID: "914083136"}},
		{"digit groups in restrict", "restrict invited 914 083 136", Command{Verb: VerbRestrict, ConferenceID: "914083136", Restriction: domain.RestrictionInvited}},
		{"digit groups in extend after the minutes", "extend 30 914 083 136", Command{Verb: VerbExtend, ConferenceID: "914083136", Minutes: 30}},
		{"digit groups in end", "end 914 083 136", Command{Verb: VerbEnd, ConferenceID: "914083136"}},
		{"digit groups in watch", "watch 914 083 136", Command{Verb: VerbWatch, ConferenceID: "914083136"}},
		{"digit groups in status", "status 914 083 136", Command{Verb: VerbStatus, ConferenceID: "914083136"}},
		{"tabs and newlines separate words", "lock\t914083136\n", Command{Verb: VerbLock, ConferenceID: "914083136"}},
		{"bind with a password", "bind 914083136 s3cret!", Command{Verb: VerbBind, ConferenceID: "914083136", Password: "s3cret!"}},
		{"bind unescapes what Slack escapes in the password", "bind 914083136 a&amp;b&lt;c&gt;", Command{Verb: VerbBind, ConferenceID: "914083136", Password: "a&b<c>"}},
		{"bind with a one-character password", "bind 914083136 7", Command{Verb: VerbBind, ConferenceID: "914083136", Password: "7"}},
		{"bind without a password asks for one", "bind 914-083-136", Command{Verb: VerbBind, ConferenceID: "914083136"}},
		{"unbind", "unbind", Command{Verb: VerbUnbind}},
		{"status with an ID", "status 914083136", Command{Verb: VerbStatus, ConferenceID: "914083136"}},
		{"grant an escaped mention", "grant <@U024BE7LH|bob>", Command{Verb: VerbGrant, UserID: "U024BE7LH"}},
		{"revoke a bare mention", "revoke <@W024BE7LH>", Command{Verb: VerbRevoke, UserID: "W024BE7LH"}},
		{"controllers", "controllers", Command{Verb: VerbControllers}},
		{"history defaults to 10", "history", Command{Verb: VerbHistory, Limit: 10}},
		{"history takes N", "history 50", Command{Verb: VerbHistory, Limit: 50}},

		{"who", "who", Command{Verb: VerbWho}},
		{"who with an ID", "who 914-083-136", Command{Verb: VerbWho, ConferenceID: "914083136"}},
		{"mute", "mute", Command{Verb: VerbMute}},
		{"unmute with an ID", "unmute 914083136", Command{Verb: VerbUnmute, ConferenceID: "914083136"}},
		{"end asks first: a typed end is never confirmed", "end", Command{Verb: VerbEnd}},
		{"end with an ID", "end 914083136", Command{Verb: VerbEnd, ConferenceID: "914083136"}},
		{"watch", "watch", Command{Verb: VerbWatch}},
		{"unwatch with an ID", "unwatch 914083136", Command{Verb: VerbUnwatch, ConferenceID: "914083136"}},

		{"restrict to invited people", "restrict invited", Command{Verb: VerbRestrict, Restriction: domain.RestrictionInvited}},
		{"restrict words are case-insensitive", "restrict Company", Command{Verb: VerbRestrict, Restriction: domain.RestrictionCompany}},
		{"restrict with an ID", "restrict everyone 914-083-136", Command{Verb: VerbRestrict, Restriction: domain.RestrictionEveryone, ConferenceID: "914083136"}},
		{"restrict with a grouped ID", "restrict invited 914 083 136", Command{Verb: VerbRestrict, Restriction: domain.RestrictionInvited, ConferenceID: "914083136"}},

		{"extend by the default", "extend", Command{Verb: VerbExtend, Minutes: 15}},
		{"extend by one minute", "extend 1", Command{Verb: VerbExtend, Minutes: 1}},
		{"extend by the most", "extend 240", Command{Verb: VerbExtend, Minutes: 240}},
		{"extend: three digits with a leading zero are minutes", "extend 007", Command{Verb: VerbExtend, Minutes: 7}},
		{"extend: six digits are an ID, with the default minutes", "extend 914083136", Command{Verb: VerbExtend, Minutes: 15, ConferenceID: "914083136"}},
		{"extend minutes then an ID", "extend 30 914083136", Command{Verb: VerbExtend, Minutes: 30, ConferenceID: "914083136"}},
		{"extend minutes then a pasted ID", "extend 30 914-083-136", Command{Verb: VerbExtend, Minutes: 30, ConferenceID: "914083136"}},
		{"extend: the shortest ID is not minutes", "extend 100000", Command{Verb: VerbExtend, Minutes: 15, ConferenceID: "100000"}},

		{"remove by name", "remove Bob", Command{Verb: VerbRemove, Name: "Bob"}},
		{"remove by a name of several words", "remove  Bob   the Builder ", Command{Verb: VerbRemove, Name: "Bob the Builder"}},
		{"remove with what may be an ID", "remove 914083136 Bob", Command{Verb: VerbRemove, Name: "914083136 Bob", MaybeID: "914083136"}},
		{"remove with what may be a pasted ID", "remove 914-083-136 Bob", Command{Verb: VerbRemove, Name: "914-083-136 Bob", MaybeID: "914083136"}},
		{"remove a name made of digits may be an ID too", "remove 5551234", Command{Verb: VerbRemove, Name: "5551234", MaybeID: "5551234"}},
		{"remove a short number is only a name", "remove 12345", Command{Verb: VerbRemove, Name: "12345"}},
		{"remove unescapes what Slack escapes in a name", "remove Tom &amp; Jerry", Command{Verb: VerbRemove, Name: "Tom & Jerry"}},
		{"remove a name in another script", "remove Иван Петров", Command{Verb: VerbRemove, Name: "Иван Петров"}},
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
	{"an ID and a word", "lock 914083136 now", "`lock` takes at most one argument, the conference ID; `now` is one too many."},
	{"an ID and a word after end", "end 914083136 please", "`please` is one too many"},
	{"user mention as ID", "lock <@U123|bob>", "not a conference ID"},
	{"channel mention as ID", "lock <#C123|general>", "not a conference ID"},
	{"special mention as ID", "lock <!here>", "not a conference ID"},
	{"link as ID", "lock <https://evil.example|914083136>", "not a conference ID"},
	{"emoji as ID", "lock 🔒", "not a conference ID"},
	{"keycap emoji digits", "lock 9️⃣1️⃣4️⃣0️⃣8️⃣3️⃣", "not a conference ID"},
	{"RTL override", "lock 914083136\u202e", "control or invisible"},
	{"RTL mark", "lock \u200f914083136", "control or invisible"},
	{"zero-width space", "lock 914\u200b083136", "control or invisible"},
	{"zero-width joiner in a name", "remove Bo\u200db", "control or invisible"},
	{"NUL byte", "lock 914083136\x00", "control or invisible"},
	{"escape sequence", "lock \x1b[31m914083136", "control or invisible"},
	{"bell", "help\a", "control or invisible"},
	{"invalid UTF-8", "lock \xff\xfe", "not valid text"},
	{"huge text", "lock " + strings.Repeat("9", 5000), "too long"},
	{"huge unicode text", strings.Repeat("🔒", 300), "too long"},
	{"decimal ID", "lock 914083.136", "not a conference ID"},
	{"plus sign", "lock +914083136", "not a conference ID"},
	{"a typo", "lokc", "Did you mean `lock`?"},
	{"a swapped typo", "unlcok 914083136", "Did you mean `unlock`?"},
	{"a verb only buttons send", "mute-one 914083136", "I don't know the command"},
	{"another verb only buttons send", "waiting-room", "I don't know the command"},
	{"extra argument to controllers", "controllers now", "takes no arguments"},
	{"help about nothing known", "help me", "There is no command `me`."},
	{"help about a typo", "help lokc", "There is no command `lokc`. Did you mean `lock`?"},
	{"help about two verbs", "help lock unlock", "at most one command name"},
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
	{"who with a word", "who everyone", "not a conference ID"},
	{"restrict without a word", "restrict", "Who may join?"},
	{"restrict to nobody", "restrict nobody", "`nobody` is not one of `invited`, `company` or `everyone`."},
	{"restrict with markup", "restrict <!channel>", "is not one of"},
	{"restrict with a bad ID", "restrict invited abc", "not a conference ID"},
	{"restrict with an ID and a word", "restrict invited 914083136 now", "`now` is one too many"},
	{"extend by zero", "extend 0", "MINUTES is a number from 1 to 240."},
	{"extend by too much", "extend 241", "MINUTES is a number from 1 to 240."},
	{"extend by three nines", "extend 999", "MINUTES is a number from 1 to 240."},
	{"extend: four digits are neither minutes nor an ID", "extend 1000", "`1000` is neither a number of minutes (1 to 240) nor a conference ID."},
	{"extend by a word", "extend soon", "is neither a number of minutes"},
	{"extend by negative minutes", "extend -5", "is neither a number of minutes"},
	{"extend with an ID and a word", "extend 30 914083136 now", "`now` is one too many"},
	{"extend with two IDs", "extend 914083136 123456789", "one conference ID at a time"},
	{"remove nobody", "remove", "Whom?"},
	{"remove a Slack mention", "remove <@U123>", "not a Slack mention or a link"},
	{"remove a special mention", "remove <!channel>", "not a Slack mention or a link"},
	{"remove an escaped angle bracket", "remove &lt;b&gt;", "not a Slack mention or a link"},
	{"remove a name that is too long", "remove " + strings.Repeat("n", 65), "too long"},
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
			if cmd != (Command{}) {
				t.Fatalf("Parse(%q) returned %+v with its error", tt.text, cmd)
			}
			if !strings.Contains(ue.Problem, tt.wantProblem) {
				t.Fatalf("problem %q does not say %q", ue.Problem, tt.wantProblem)
			}
			reply := UsageReply("/meeting", err)
			if reply.Visibility != Ephemeral || reply.Outcome != OutcomeUsage {
				t.Fatalf("usage errors must be ephemeral with outcome usage: %v %q", reply.Visibility, reply.Outcome)
			}
			if !strings.Contains(reply.PlainText(), "/meeting") {
				t.Fatalf("the reply shows no usage: %q", reply.PlainText())
			}
			if len(reply.PlainText()) > 4000 {
				t.Fatalf("the reply is %d bytes", len(reply.PlainText()))
			}
			if len(reply.Actions) > 0 || len(reply.Rows) > 0 {
				t.Fatal("a usage error offers buttons")
			}
		})
	}
}

// A usage error about one verb shows that verb's usage, not the whole help.
func TestAUsageErrorShowsTheUsageOfItsVerb(t *testing.T) {
	t.Parallel()
	tests := []struct{ text, usage string }{
		{"lock 914083136 now", "Usage: `/meeting lock [ID]`"},
		{"lokc", "Usage: `/meeting lock [ID]`"},
		{"extend 0", "Usage: `/meeting extend [MINUTES] [ID]`"},
		{"restrict nobody", "Usage: `/meeting restrict invited|company|everyone [ID]`"},
		{"remove", "Usage: `/meeting remove [ID] NAME`"},
		{"help lokc", "Usage: `/meeting help [COMMAND]`"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.text)
		r := UsageReply("/meeting", err)
		if len(r.Details) != 1 || r.Details[0] != tt.usage {
			t.Errorf("UsageReply for %q: details %q, want %q", tt.text, r.Details, tt.usage)
		}
		if !strings.HasPrefix(r.Text, ":grey_question: ") {
			t.Errorf("UsageReply for %q: %q", tt.text, r.Text)
		}
	}
	// Without a verb to point to, the whole help follows the problem.
	_, err := Parse("explode")
	r := UsageReply("/meeting", err)
	if r.Outcome != OutcomeUsage || !strings.HasSuffix(r.Text, "Here is what I can do:") || len(r.Details) != len(grammar) {
		t.Fatalf("an unknown verb: %q with %d lines", r.Text, len(r.Details))
	}
}

// A typo is met with the verb it most likely meant, never with a guess
// that shares almost nothing with what was typed.
func TestATypoIsOfferedTheVerbItMeant(t *testing.T) {
	t.Parallel()
	for typed, want := range map[string]Verb{
		"lokc": VerbLock, "lcok": VerbLock, "lock!": VerbLock, "unlcok": VerbUnlock, "stauts": VerbStatus,
		"hlep": VerbHelp, "mut": VerbMute, "ned": VerbEnd, "wath": VerbWatch, "histroy": VerbHistory,
		"remvoe": VerbRemove, "extned": VerbExtend, "restirct": VerbRestrict, "controlers": VerbControllers,
	} {
		got, ok := closestVerb(typed)
		if !ok || got != want {
			t.Errorf("closestVerb(%q) = %q, %v; want %q", typed, got, ok, want)
		}
	}
	for _, typed := range []string{"x", "me", "un", "go", "ok", "explode", "stop", ""} {
		if got, ok := closestVerb(typed); ok {
			t.Errorf("closestVerb(%q) = %q; want no guess", typed, got)
		}
	}
}

func TestUsageErrorsNeverEchoABindPassword(t *testing.T) {
	t.Parallel()
	for _, text := range []string{
		"bind 914083136 hunter2 extra",
		"bind abc hunter2",
		"bind 914083136 " + strings.Repeat("hunter2", 10),
		"bind 12 hunter2",
		"bnid 914083136 hunter2",
		"BIND 914083136 hunter2 hunter2",
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
	help := Help("/meet")
	if help.Visibility != Ephemeral || help.Outcome != OutcomeOK {
		t.Fatalf("help is %v %q", help.Visibility, help.Outcome)
	}
	text := help.PlainText()
	for _, s := range grammar {
		if !strings.Contains(text, "`"+Usage("/meet", s.verb)+"`") {
			t.Errorf("help lacks %s", s.verb)
		}
		// Every declared usage line parses back (with sample arguments).
		sample := strings.NewReplacer(
			"[ID] NAME", "Bob", "invited|company|everyone", "invited", "[MINUTES]", "30", "[COMMAND]", "lock",
			"[ID]", "914083136", "ID", "914083136", "[PASSWORD]", "pw", "@user", "<@U1>", "[N]", "3",
		).Replace(s.args)
		if _, err := Parse(string(s.verb) + " " + sample); err != nil {
			t.Errorf("the documented usage of %s (%q) does not parse: %v", s.verb, sample, err)
		}
	}
	for _, v := range []Verb{VerbMuteOne, VerbWaitingRoom} {
		if strings.Contains(text, string(v)) {
			t.Errorf("help offers %s, which only buttons send", v)
		}
	}
}

func TestHelpAboutOneVerb(t *testing.T) {
	t.Parallel()
	for _, s := range grammar {
		r := HelpFor("/meeting", s.verb)
		if r.Visibility != Ephemeral || !strings.HasPrefix(r.Text, "`"+Usage("/meeting", s.verb)+"` - ") || !strings.HasSuffix(r.Text, s.summary) {
			t.Errorf("help %s = %q", s.verb, r.Text)
		}
	}
	if r := HelpFor("/meeting", VerbLock); len(r.Details) == 0 || !strings.Contains(r.Details[0], "someone already inside stays") {
		t.Errorf("help lock says nothing about who is already in: %q", r.Details)
	}
	if r := HelpFor("/meeting", VerbEnd); len(r.Details) == 0 || !strings.Contains(r.Details[0], "rejoin") {
		t.Errorf("help end does not warn that people may rejoin: %q", r.Details)
	}
	if r := HelpFor("/meeting", "nonsense"); r.Text != Help("/meeting").Text {
		t.Errorf("help of an unknown verb is %q", r.Text)
	}
}

func TestUsageLinesUseTheConfiguredCommand(t *testing.T) {
	t.Parallel()
	if got := Usage("/mtg", VerbExtend); got != "/mtg extend [MINUTES] [ID]" {
		t.Fatalf("Usage = %q", got)
	}
	if got := Usage("/mtg", VerbControllers); got != "/mtg controllers" {
		t.Fatalf("Usage = %q", got)
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
	if cmd.Password.Reveal() != "hunter2" {
		t.Fatal("password not parsed")
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(f, cmd); strings.Contains(s, "hunter2") {
			t.Fatalf("%s of a Command shows the password: %s", f, s)
		}
	}
}

// Nothing should suggest an action that will not happen: a command that
// only controllers may run gets no progress line in its acknowledgement.
func TestOnlyABindWithAPasswordGetsAProgressLine(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"lock", "unlock", "who", "remove Bob", "mute", "unmute", "restrict invited", "end", "extend", "watch", "status", "history", "bind 914083136"} {
		cmd, err := Parse(text)
		if err != nil {
			t.Fatal(err)
		}
		if p := ProgressLine(cmd); p != "" {
			t.Errorf("ProgressLine(%q) = %q", text, p)
		}
	}
	cmd, _ := Parse("bind 914083136 hunter2")
	if p := ProgressLine(cmd); !strings.Contains(p, "Checking the host password for meeting 914083136") || strings.Contains(p, "hunter2") {
		t.Fatalf("ProgressLine(bind) = %q", p)
	}
}

// The still-trying line names the part that is slow.
func TestStillTryingNamesTheSlowPart(t *testing.T) {
	t.Parallel()
	for ph, want := range map[Phase]string{
		PhaseDatabase: "meetingbot's database is slow",
		PhaseQueued:   "another command for this meeting is running first",
		PhaseMeeting:  "the meeting service is slow",
		"":            "the meeting service is slow",
	} {
		if got := StillTrying(ph); !strings.Contains(got, want) {
			t.Errorf("StillTrying(%q) = %q, want it to say %q", ph, got, want)
		}
	}
	var p *Progress
	p.Set(PhaseMeeting) // a nil Progress is allowed and records nothing
	if p.Phase() != "" {
		t.Fatal("a nil Progress has a phase")
	}
	var q Progress
	q.Set(PhaseQueued)
	if q.Phase() != PhaseQueued {
		t.Fatalf("Phase = %q", q.Phase())
	}
}
