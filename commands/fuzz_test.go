package commands

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/meetingbot/meetingbot/domain"
)

// fuzzCommand is the slash command the fuzz target renders usage for.
const fuzzCommand = "/meeting"

// idVerbs are the verbs whose parsed Command may carry a ConferenceID.
var idVerbs = map[Verb]bool{
	VerbLock: true, VerbUnlock: true, VerbBind: true, VerbUnbind: true, VerbStatus: true,
	VerbWho: true, VerbMute: true, VerbUnmute: true, VerbRestrict: true, VerbEnd: true,
	VerbExtend: true, VerbWatch: true, VerbUnwatch: true,
}

func isASCIIDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func validID(id domain.ConferenceID) bool {
	return len(id) >= domain.MinConferenceIDLen && len(id) <= domain.MaxConferenceIDLen && isASCIIDigits(string(id))
}

// neutral is a stand-in for a password: as many runes, none of them in pw.
func neutral(pw string) string {
	c := "z"
	if strings.Contains(pw, c) {
		c = "y"
	}
	return strings.Repeat(c, utf8.RuneCountInString(pw))
}

// FuzzParse checks Parse's contract on arbitrary text: it never panics,
// accepts only well-formed commands, refuses everything else with a
// *UsageError whose reply is bounded and never repeats a bind password
// (whatever its length), and is deterministic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"   \t ",
		"help",
		"help lock",
		"help lokc",
		"lokc",
		"lock",
		"lock 914083136",
		"lock 914083136 now",
		"LoCk 914-083-136",
		"unlock 914 083 136",
		"lock 914083136 123456789",
		"bind 914083136 pw",
		"bind 914083136 7",
		"bind 914083136 s3cret!",
		"bind 914083136 hunter2 extra",
		"bind abc hunter2",
		"bind 12 conference",
		"bind 914083136 " + strings.Repeat("p", 65),
		"grant <@U024BE7LH|bob>",
		"revoke <@W024BE7LH>",
		"grant <@U1<@U2>>",
		"controllers please",
		"history",
		"history 50",
		"history 0",
		"history +7",
		"who",
		"who 914083136",
		"remove Bob",
		"remove 914083136 Bob",
		"remove 5551234",
		"remove <@U1>",
		"remove Tom &amp; Jerry",
		"mute 914083136",
		"unmute",
		"restrict invited",
		"restrict company 914-083-136",
		"restrict nobody",
		"end",
		"end 914083136 now",
		"extend",
		"extend 30",
		"extend 007",
		"extend 0",
		"extend 241",
		"extend 1000",
		"extend 914083136",
		"extend 30 914083136",
		"watch",
		"unwatch 914083136",
		"mute-one 914083136",
		"lock ９１４０８３１３６",
		"lock ٩١٤٠٨٣١٣٦",
		"lock \u200f914083136",
		"lock 914083136\u202e",
		"lock 914083136\x00",
		"lock 🔒",
		"lock 9️⃣1️⃣4️⃣0️⃣8️⃣3️⃣",
		"<!channel> hi",
		"lock <https://evil.example|914083136>",
		"bind\u00a0914083136\u00a0pw",
		"status " + strings.Repeat("9", 200),
		strings.Repeat("x", MaxTextLen+1),
		strings.Repeat("é", MaxTextLen),
		"\xff\xfe lock",
	} {
		f.Add(s)
	}

	f.Fuzz(func(t *testing.T, text string) {
		cmd, err := Parse(text)

		// Deterministic: the same text parses the same way.
		cmd2, err2 := Parse(text)
		if cmd != cmd2 || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("Parse(%q) is not deterministic: %+v, %v then %+v, %v", text, cmd, err, cmd2, err2)
		}

		if err != nil {
			var ue *UsageError
			if !errors.As(err, &ue) {
				t.Fatalf("Parse(%q) error %T %v is not a *UsageError", text, err, err)
			}
			if !errors.Is(err, ErrUsage) {
				t.Fatalf("Parse(%q) error %v does not match ErrUsage", text, err)
			}
			if cmd != (Command{}) {
				t.Fatalf("Parse(%q) returned %+v along with error %v; want the zero Command", text, cmd, err)
			}

			r := UsageReply(fuzzCommand, err)
			reply := r.PlainText()
			if r.Visibility != Ephemeral || r.Outcome != OutcomeUsage {
				t.Fatalf("UsageReply for %q is %v %q", text, r.Visibility, r.Outcome)
			}
			if !utf8.ValidString(reply) {
				t.Fatalf("UsageReply for %q is not valid UTF-8: %q", text, reply)
			}
			if len(reply) > 4000 {
				t.Fatalf("UsageReply for %q is %d bytes; want at most 4000", text, len(reply))
			}
			// A bind password is never echoed, however short: the reply may
			// hold it only where it would also hold a stand-in for it (the
			// password happens to be part of the reply's fixed words).
			if fields := strings.Fields(text); len(fields) >= 3 && strings.EqualFold(fields[0], string(VerbBind)) {
				pw := fields[2]
				if strings.Contains(reply, pw) {
					fields[2] = neutral(pw)
					_, nerr := Parse(strings.Join(fields, " "))
					if nerr == nil || !strings.Contains(UsageReply(fuzzCommand, nerr).PlainText(), pw) {
						t.Fatalf("UsageReply for %q repeats the bind password %q: %q", text, pw, reply)
					}
				}
			}
			return
		}

		if _, ok := specFor(cmd.Verb); !ok {
			t.Fatalf("Parse(%q) returned verb %q, which the grammar does not declare", text, cmd.Verb)
		}
		if id := cmd.ConferenceID; id != "" {
			if !validID(id) {
				t.Fatalf("Parse(%q) returned conference ID %q; want 6 to 20 ASCII digits", text, id)
			}
			if !idVerbs[cmd.Verb] {
				t.Fatalf("Parse(%q) returned conference ID %q for %s, which takes none", text, id, cmd.Verb)
			}
		}
		if cmd.Verb == VerbBind && cmd.ConferenceID == "" {
			t.Fatalf("Parse(%q) returned bind without a conference ID", text)
		}
		switch cmd.Verb {
		case VerbGrant, VerbRevoke:
			if !ValidSlackID(cmd.UserID) {
				t.Fatalf("Parse(%q) returned %s of user %q, which is not a valid Slack ID", text, cmd.Verb, cmd.UserID)
			}
		default:
			if cmd.UserID != "" {
				t.Fatalf("Parse(%q) returned user %q for %s, which takes none", text, cmd.UserID, cmd.Verb)
			}
		}
		if (cmd.Verb == VerbHistory) != (cmd.Limit != 0) || cmd.Limit < 0 || cmd.Limit > MaxHistory {
			t.Fatalf("Parse(%q) returned %s with limit %d", text, cmd.Verb, cmd.Limit)
		}
		if (cmd.Verb == VerbExtend) != (cmd.Minutes != 0) || cmd.Minutes < 0 || cmd.Minutes > MaxExtendMinutes {
			t.Fatalf("Parse(%q) returned %s with %d minutes", text, cmd.Verb, cmd.Minutes)
		}
		if (cmd.Verb == VerbRestrict) != (cmd.Restriction != domain.RestrictionUnknown) {
			t.Fatalf("Parse(%q) returned %s with restriction %v", text, cmd.Verb, cmd.Restriction)
		}
		if cmd.Topic != "" {
			if _, ok := specFor(cmd.Topic); !ok || cmd.Verb != VerbHelp {
				t.Fatalf("Parse(%q) returned %s about %q", text, cmd.Verb, cmd.Topic)
			}
		}
		if cmd.Verb == VerbRemove {
			n := utf8.RuneCountInString(cmd.Name)
			if strings.TrimSpace(cmd.Name) == "" || n > MaxNameLen || strings.ContainsAny(cmd.Name, "<>") {
				t.Fatalf("Parse(%q) returned remove of name %q", text, cmd.Name)
			}
			if cmd.MaybeID != "" && !validID(cmd.MaybeID) {
				t.Fatalf("Parse(%q) returned remove with a possible ID %q", text, cmd.MaybeID)
			}
		} else if cmd.Name != "" || cmd.MaybeID != "" {
			t.Fatalf("Parse(%q) returned a name for %s", text, cmd.Verb)
		}
		// Only buttons name a participant or confirm an end.
		if cmd.PID != "" || cmd.Confirmed {
			t.Fatalf("Parse(%q) returned a button's command %+v", text, cmd)
		}
		if pw := cmd.Password.Reveal(); pw != "" {
			if cmd.Verb != VerbBind {
				t.Fatalf("Parse(%q) returned a password for %s", text, cmd.Verb)
			}
			if n := utf8.RuneCountInString(pw); n > MaxPasswordLen {
				t.Fatalf("Parse(%q) returned a %d-rune password; want at most %d", text, n, MaxPasswordLen)
			}
			if strings.ContainsFunc(pw, unicode.IsSpace) {
				t.Fatalf("Parse(%q) returned a password with white space", text)
			}
		}
	})
}
