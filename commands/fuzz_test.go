package commands

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/meetingbot/meetingbot/meetingapi"
)

// knownVerbs is every verb Parse may return.
var knownVerbs = map[Verb]bool{
	VerbHelp: true, VerbLock: true, VerbUnlock: true, VerbBind: true, VerbUnbind: true,
	VerbStatus: true, VerbGrant: true, VerbRevoke: true, VerbControllers: true, VerbHistory: true,
}

// fuzzCommand is the slash command the fuzz target renders usage for.
const fuzzCommand = "/meeting"

// fixedReplyText is every piece of text a usage reply can show that does not
// come from the user: the help, every usage line and every problem sentence
// Parse can produce. A "password" that is a substring of it (say "conference"
// or "ID") shows up in a reply without having been echoed, so the leak check
// skips it.
var fixedReplyText = func() string {
	problems := []string{
		fmt.Sprintf("That command is too long (over %d characters).", MaxTextLen),
		"That command is not valid text.",
		"That command contains control or invisible characters; please type it again.",
		"Which meeting? Give its conference ID.",
		"Too many words: give the conference ID without spaces, then the host password (which has no spaces).",
		fmt.Sprintf("That host password is too long (over %d characters).", MaxPasswordLen),
		"Give one conference ID at a time.",
		"Mention the person with @ (pick them from Slack's list) so their user ID comes through.",
		fmt.Sprintf("N is a number from 1 to %d.", MaxHistory),
		"`history` takes at most one number.",
		"That is not a conference ID: a conference ID has 6 to 20 digits.",
		"That is not a conference ID: a conference ID has only digits (0-9).",
		"That is not a conference ID: a conference ID is required.",
	}
	for n := 0; n <= MaxTextLen; n++ {
		problems = append(problems, fmt.Sprintf("That is not a conference ID: a conference ID has %d to %d digits; this has %d.",
			meetingapi.MinConferenceIDLen, meetingapi.MaxConferenceIDLen, n))
	}
	for v := range knownVerbs {
		problems = append(problems,
			fmt.Sprintf("`%s` takes no arguments.", v),
			fmt.Sprintf("`%s` takes exactly one @mention.", v))
	}
	var b strings.Builder
	b.WriteString(Help(fuzzCommand).PlainText())
	for _, p := range problems {
		for _, usage := range []string{"", "bind ID [PASSWORD]"} {
			b.WriteString("\n")
			b.WriteString(UsageReply(fuzzCommand, &UsageError{Problem: p, Usage: usage}).PlainText())
		}
	}
	return b.String()
}()

func isASCIIDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// FuzzParse checks Parse's contract on arbitrary text: it never panics,
// accepts only well-formed commands, refuses everything else with a
// *UsageError whose reply is bounded and never repeats a bind password, and
// is deterministic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"   \t ",
		"help",
		"lock",
		"lock 914083136",
		"LoCk 914-083-136",
		"unlock 914 083 136",
		"lock 914083136 123456789",
		"bind 914083136 pw",
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
	help := Help(fuzzCommand).PlainText()

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
			if ue2 := (*UsageError)(nil); errors.As(err2, &ue2) && *ue != *ue2 {
				t.Fatalf("Parse(%q) is not deterministic: %+v then %+v", text, *ue, *ue2)
			}

			reply := UsageReply(fuzzCommand, err).PlainText()
			if !utf8.ValidString(reply) {
				t.Fatalf("UsageReply for %q is not valid UTF-8: %q", text, reply)
			}
			if len(reply) > 4000 {
				t.Fatalf("UsageReply for %q is %d bytes; want at most 4000", text, len(reply))
			}
			if fields := strings.Fields(text); len(fields) >= 3 && strings.EqualFold(fields[0], string(VerbBind)) {
				pw := fields[2]
				if utf8.RuneCountInString(pw) >= 4 && !strings.Contains(help, pw) && !strings.Contains(fixedReplyText, pw) &&
					strings.Contains(reply, pw) {
					t.Fatalf("UsageReply for %q repeats the bind password %q: %q", text, pw, reply)
				}
			}
			return
		}

		if !knownVerbs[cmd.Verb] {
			t.Fatalf("Parse(%q) returned unknown verb %q", text, cmd.Verb)
		}
		if id := string(cmd.ConferenceID); id != "" {
			if len(id) < meetingapi.MinConferenceIDLen || len(id) > meetingapi.MaxConferenceIDLen || !isASCIIDigits(id) {
				t.Fatalf("Parse(%q) returned conference ID %q; want 6 to 20 ASCII digits", text, id)
			}
			switch cmd.Verb {
			case VerbLock, VerbUnlock, VerbBind, VerbUnbind, VerbStatus:
			default:
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
		if cmd.Verb == VerbHistory {
			if cmd.Limit < 1 || cmd.Limit > MaxHistory {
				t.Fatalf("Parse(%q) returned history limit %d; want 1 to %d", text, cmd.Limit, MaxHistory)
			}
		} else if cmd.Limit != 0 {
			t.Fatalf("Parse(%q) returned limit %d for %s", text, cmd.Limit, cmd.Verb)
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
