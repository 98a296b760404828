package commands

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi"
)

// Verb names what a command does.
type Verb string

const (
	VerbHelp        Verb = "help"
	VerbLock        Verb = "lock"
	VerbUnlock      Verb = "unlock"
	VerbBind        Verb = "bind"
	VerbUnbind      Verb = "unbind"
	VerbStatus      Verb = "status"
	VerbGrant       Verb = "grant"
	VerbRevoke      Verb = "revoke"
	VerbControllers Verb = "controllers"
	VerbHistory     Verb = "history"
)

// MaxTextLen bounds the text after the slash command. Real commands are a
// few dozen characters; anything longer is a paste gone wrong.
const MaxTextLen = 200

// History limits.
const (
	DefaultHistory = 10
	MaxHistory     = 50
)

// Command is a parsed /meeting invocation.
type Command struct {
	Verb Verb
	// ConferenceID is empty when the channel's bound meeting is meant.
	ConferenceID meetingapi.ConferenceID
	// Password is the host password given to bind; empty asks for it in a
	// form instead.
	Password meetingapi.Password
	// UserID is the Slack user named by grant or revoke.
	UserID string
	// Limit is how many history records to show.
	Limit int
}

// UsageError says what was wrong with a command. Its message never repeats
// a password.
type UsageError struct {
	Problem string // a sentence, mrkdwn
	Usage   string // the usage line of the verb, or "" for the general help
}

func (e *UsageError) Error() string { return e.Problem }

// ErrUsage matches every *UsageError.
var ErrUsage = errors.New("usage error")

func (e *UsageError) Is(target error) bool { return target == ErrUsage }

// verbSpec declares one verb: the parser and the help text both come from
// this table.
type verbSpec struct {
	verb    Verb
	args    string
	summary string
	parse   func(args []string) (Command, *UsageError)
}

var grammar []verbSpec

func init() {
	grammar = []verbSpec{
		{VerbLock, "[ID]", "Lock the meeting so nobody else can join.", parseOptionalID(VerbLock)},
		{VerbUnlock, "[ID]", "Unlock the meeting.", parseOptionalID(VerbUnlock)},
		{VerbBind, "ID [PASSWORD]", "Bind a meeting to this channel with its host password (stored encrypted, never shown). Without PASSWORD a form asks for it.", parseBind},
		{VerbUnbind, "[ID]", "Forget a meeting's stored credential and binding.", parseOptionalID(VerbUnbind)},
		{VerbStatus, "[ID]", "Show the bound meeting, its controllers, token and last lock state.", parseOptionalID(VerbStatus)},
		{VerbGrant, "@user", "Let someone control this channel's meetings.", parseUser(VerbGrant)},
		{VerbRevoke, "@user", "Take that back.", parseUser(VerbRevoke)},
		{VerbControllers, "", "List who may control this channel's meetings.", parseNoArgs(VerbControllers)},
		{VerbHistory, "[N]", fmt.Sprintf("Show the last N actions in this channel (default %d, at most %d).", DefaultHistory, MaxHistory), parseHistory},
		{VerbHelp, "", "Show this help.", parseNoArgs(VerbHelp)},
	}
}

func specFor(v Verb) verbSpec {
	for _, s := range grammar {
		if s.verb == v {
			return s
		}
	}
	panic("commands: no grammar for verb " + string(v))
}

// Usage is the usage line of a verb, e.g. "/meeting lock [ID]".
func Usage(command string, v Verb) string {
	s := specFor(v)
	if s.args == "" {
		return command + " " + string(v)
	}
	return command + " " + string(v) + " " + s.args
}

// Parse turns the text after the slash command into a Command. Empty text is
// help. Every error is a *UsageError.
func Parse(text string) (Command, error) {
	if len(text) > MaxTextLen*4 || utf8.RuneCountInString(text) > MaxTextLen {
		return Command{}, &UsageError{Problem: fmt.Sprintf("That command is too long (over %d characters).", MaxTextLen)}
	}
	if !utf8.ValidString(text) {
		return Command{}, &UsageError{Problem: "That command is not valid text."}
	}
	for _, r := range text {
		if unicode.IsControl(r) && !unicode.IsSpace(r) || isInvisibleFormat(r) {
			return Command{}, &UsageError{Problem: "That command contains control or invisible characters; please type it again."}
		}
	}
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return Command{Verb: VerbHelp}, nil
	}
	verb := Verb(strings.ToLower(fields[0]))
	for _, s := range grammar {
		if s.verb == verb {
			cmd, uerr := s.parse(fields[1:])
			if uerr != nil {
				if uerr.Usage == "" {
					uerr.Usage = string(verb) + argsSuffix(s.args)
				}
				return Command{}, uerr
			}
			return cmd, nil
		}
	}
	return Command{}, &UsageError{Problem: fmt.Sprintf("I don't know the command %s.", quote(fields[0]))}
}

func argsSuffix(args string) string {
	if args == "" {
		return ""
	}
	return " " + args
}

// isInvisibleFormat catches bidi overrides, zero-width characters and other
// format runes that make a command read differently from what it does.
func isInvisibleFormat(r rune) bool {
	return unicode.Is(unicode.Cf, r)
}

func parseNoArgs(v Verb) func([]string) (Command, *UsageError) {
	return func(args []string) (Command, *UsageError) {
		if len(args) > 0 {
			return Command{}, &UsageError{Problem: fmt.Sprintf("`%s` takes no arguments.", v)}
		}
		return Command{Verb: v}, nil
	}
}

func parseOptionalID(v Verb) func([]string) (Command, *UsageError) {
	return func(args []string) (Command, *UsageError) {
		if len(args) == 0 {
			return Command{Verb: v}, nil
		}
		id, uerr := conferenceID(args)
		if uerr != nil {
			return Command{}, uerr
		}
		return Command{Verb: v, ConferenceID: id}, nil
	}
}

// conferenceID reads an ID that people may paste in groups ("914 083 136").
// Several full-length numbers are several IDs, which is refused rather than
// glued into one long wrong ID.
func conferenceID(args []string) (meetingapi.ConferenceID, *UsageError) {
	id, err := meetingapi.ParseConferenceID(strings.Join(args, ""))
	if len(args) > 1 && !strings.ContainsFunc(strings.Join(args, ""), func(r rune) bool { return r != '-' && (r < '0' || r > '9') }) {
		for _, a := range args {
			if len(strings.ReplaceAll(a, "-", "")) > 4 {
				return "", &UsageError{Problem: "Give one conference ID at a time."}
			}
		}
	}
	if err != nil {
		return "", &UsageError{Problem: "That is not a conference ID: " + reasonOf(err)}
	}
	return id, nil
}

func reasonOf(err error) string {
	var ie *meetingapi.InvalidConferenceIDError
	if errors.As(err, &ie) && ie.Reason != "" {
		return ie.Reason + "."
	}
	return "a conference ID has 6 to 20 digits."
}

// MaxPasswordLen bounds a host password; the vendor's are far shorter.
const MaxPasswordLen = 64

func parseBind(args []string) (Command, *UsageError) {
	switch len(args) {
	case 0:
		return Command{}, &UsageError{Problem: "Which meeting? Give its conference ID."}
	case 1, 2:
	default:
		// Nothing from the arguments is echoed: one of them may be a password.
		return Command{}, &UsageError{Problem: "Too many words: give the conference ID without spaces, then the host password (which has no spaces)."}
	}
	id, err := meetingapi.ParseConferenceID(args[0])
	if err != nil {
		return Command{}, &UsageError{Problem: "That is not a conference ID: " + reasonOf(err)}
	}
	cmd := Command{Verb: VerbBind, ConferenceID: id}
	if len(args) == 2 {
		if utf8.RuneCountInString(args[1]) > MaxPasswordLen {
			return Command{}, &UsageError{Problem: fmt.Sprintf("That host password is too long (over %d characters).", MaxPasswordLen)}
		}
		// Slack escapes &, < and > in slash-command text.
		cmd.Password = meetingapi.Password(slackUnescape.Replace(args[1]))
	}
	return cmd, nil
}

var slackUnescape = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">")

func parseUser(v Verb) func([]string) (Command, *UsageError) {
	return func(args []string) (Command, *UsageError) {
		if len(args) != 1 {
			return Command{}, &UsageError{Problem: fmt.Sprintf("`%s` takes exactly one @mention.", v)}
		}
		id, ok := MentionedUser(args[0])
		if !ok {
			return Command{}, &UsageError{Problem: "Mention the person with @ (pick them from Slack's list) so their user ID comes through."}
		}
		return Command{Verb: v, UserID: id}, nil
	}
}

// MentionedUser extracts the user ID from an escaped mention, <@U123|name>
// or <@U123>. Slack IDs are opaque: only "non-empty, no spaces, no markup"
// is checked.
func MentionedUser(s string) (string, bool) {
	if !strings.HasPrefix(s, "<@") || !strings.HasSuffix(s, ">") {
		return "", false
	}
	id := strings.TrimSuffix(strings.TrimPrefix(s, "<@"), ">")
	if i := strings.IndexByte(id, '|'); i >= 0 {
		id = id[:i]
	}
	if !ValidSlackID(id) {
		return "", false
	}
	return id, true
}

// ValidSlackID is [domain.ValidSlackID].
func ValidSlackID(id string) bool { return domain.ValidSlackID(id) }

func parseHistory(args []string) (Command, *UsageError) {
	switch len(args) {
	case 0:
		return Command{Verb: VerbHistory, Limit: DefaultHistory}, nil
	case 1:
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 || n > MaxHistory {
			return Command{}, &UsageError{Problem: fmt.Sprintf("N is a number from 1 to %d.", MaxHistory)}
		}
		return Command{Verb: VerbHistory, Limit: n}, nil
	default:
		return Command{}, &UsageError{Problem: "`history` takes at most one number."}
	}
}

// quote shows a short, harmless excerpt of user input in a message.
func quote(s string) string {
	const max = 24
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			b.WriteString("…")
			break
		}
		if unicode.IsPrint(r) && !strings.ContainsRune("<>&`*_~", r) {
			b.WriteRune(r)
		} else {
			b.WriteRune('?')
		}
		n++
	}
	return "`" + b.String() + "`"
}

// Help is the usage of every verb, generated from the grammar.
func Help(command string) Reply {
	lines := make([]string, 0, len(grammar))
	for _, s := range grammar {
		lines = append(lines, fmt.Sprintf("`%s` - %s", Usage(command, s.verb), s.summary))
	}
	return Reply{
		Visibility: Ephemeral,
		Text:       fmt.Sprintf("*%s* locks and unlocks a Huawei Cloud Meeting from this channel.", command),
		Details:    lines,
		Note:       "ID is the conference ID; pasted dashes are fine, and so are spaces except in bind. Without ID, the channel's bound meeting is used.",
	}
}

// UsageReply answers a malformed command: what was wrong, then the usage.
func UsageReply(command string, err error) Reply {
	var ue *UsageError
	if !errors.As(err, &ue) {
		return Help(command)
	}
	if ue.Usage == "" {
		h := Help(command)
		h.Text = ":grey_question: " + ue.Problem + " Here is what I can do:"
		return h
	}
	return Reply{
		Visibility: Ephemeral,
		Text:       ":grey_question: " + ue.Problem,
		Details:    []string{"Usage: `" + command + " " + ue.Usage + "`"},
	}
}
