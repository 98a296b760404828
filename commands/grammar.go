package commands

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/meetingbot/meetingbot/domain"
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
	VerbWho         Verb = "who"
	VerbRemove      Verb = "remove"
	VerbMute        Verb = "mute"
	VerbUnmute      Verb = "unmute"
	VerbRestrict    Verb = "restrict"
	VerbEnd         Verb = "end"
	VerbExtend      Verb = "extend"
	VerbWatch       Verb = "watch"
	VerbUnwatch     Verb = "unwatch"

	// Verbs only buttons send: they act on one participant (Command.PID).
	VerbMuteOne     Verb = "mute-one"
	VerbWaitingRoom Verb = "waiting-room"
)

// MaxTextLen bounds the text after the slash command. Real commands are a
// few dozen characters; anything longer is a paste gone wrong.
const MaxTextLen = 200

// History limits.
const (
	DefaultHistory = 10
	MaxHistory     = 50
)

// Extend limits, in minutes.
const (
	DefaultExtendMinutes = 15
	MaxExtendMinutes     = 240
)

// MaxNameLen bounds a participant name given to remove.
const MaxNameLen = 64

// Command is a parsed /meeting invocation, or a button press.
type Command struct {
	Verb Verb
	// ConferenceID is empty when the channel's bound meeting is meant.
	ConferenceID domain.ConferenceID
	// Password is the host password given to bind; empty asks for it in a
	// form instead.
	Password domain.Password
	// UserID is the Slack user named by grant or revoke.
	UserID string
	// Limit is how many history records to show.
	Limit int
	// Minutes is how long extend prolongs the meeting.
	Minutes int
	// Restriction is who restrict lets join.
	Restriction domain.JoinRestriction
	// Name is whom remove is about, as typed.
	Name string
	// MaybeID is remove's first word when it could be a conference ID or
	// the start of a name made of digits: it is an ID only if that meeting
	// is bound in the channel (decided when the command runs).
	MaybeID domain.ConferenceID
	// PID is the participant a button acts on.
	PID string
	// Confirmed is set when end's danger button was pressed.
	Confirmed bool
	// Topic is the verb help was asked about.
	Topic Verb
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

// verbSpec declares one verb: the parser, the help text and the usage
// lines all come from this table.
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
		{VerbWho, "[ID]", "See who is in the meeting now, with buttons to remove or mute them (only you see the list).", parseOptionalID(VerbWho)},
		{VerbRemove, "[ID] NAME", "Remove the person whose name matches from the meeting.", parseRemove},
		{VerbMute, "[ID]", "Mute everyone but the host and stop them unmuting themselves.", parseOptionalID(VerbMute)},
		{VerbUnmute, "[ID]", "Unmute everyone and let them unmute themselves again.", parseOptionalID(VerbUnmute)},
		{VerbRestrict, "invited|company|everyone [ID]", "Choose who may join at all; stronger than lock for people who have the host link.", parseRestrict},
		{VerbEnd, "[ID]", "End the meeting (asks first). People may rejoin until its scheduled end.", parseOptionalID(VerbEnd)},
		{VerbExtend, "[MINUTES] [ID]", fmt.Sprintf("Prolong the meeting by MINUTES (default %d, at most %d).", DefaultExtendMinutes, MaxExtendMinutes), parseExtend},
		{VerbWatch, "[ID]", "Post in this channel whenever someone joins the meeting, with buttons to act on them.", parseOptionalID(VerbWatch)},
		{VerbUnwatch, "[ID]", "Stop posting joins.", parseOptionalID(VerbUnwatch)},
		{VerbBind, "ID [PASSWORD]", "Bind a meeting to this channel with its host password (stored encrypted, never shown). Without PASSWORD a form asks for it.", parseBind},
		{VerbUnbind, "[ID]", "Forget a meeting's stored credential and binding.", parseOptionalID(VerbUnbind)},
		{VerbStatus, "[ID]", "Show the bound meeting, its controllers, token and what meetingbot knows of its state.", parseOptionalID(VerbStatus)},
		{VerbGrant, "@user", "Let someone control this channel's meetings.", parseUser(VerbGrant)},
		{VerbRevoke, "@user", "Take that back.", parseUser(VerbRevoke)},
		{VerbControllers, "", "List who may control this channel's meetings.", parseNoArgs(VerbControllers)},
		{VerbHistory, "[N]", fmt.Sprintf("Show the last N actions in this channel (default %d, at most %d).", DefaultHistory, MaxHistory), parseHistory},
		{VerbHelp, "[COMMAND]", "Show this help, or the help of one command.", parseHelp},
	}
}

func specFor(v Verb) (verbSpec, bool) {
	for _, s := range grammar {
		if s.verb == v {
			return s, true
		}
	}
	return verbSpec{}, false
}

// Usage is the usage line of a verb, e.g. "/meeting lock [ID]".
func Usage(command string, v Verb) string {
	s, _ := specFor(v)
	return command + " " + string(v) + argsSuffix(s.args)
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
	s, ok := specFor(verb)
	if !ok {
		problem := fmt.Sprintf("I don't know the command %s.", quote(fields[0]))
		if near, ok := closestVerb(string(verb)); ok {
			s, _ := specFor(near)
			return Command{}, &UsageError{Problem: problem + fmt.Sprintf(" Did you mean `%s`?", near), Usage: string(near) + argsSuffix(s.args)}
		}
		return Command{}, &UsageError{Problem: problem}
	}
	cmd, uerr := s.parse(fields[1:])
	if uerr != nil {
		if uerr.Usage == "" {
			uerr.Usage = string(verb) + argsSuffix(s.args)
		}
		return Command{}, uerr
	}
	return cmd, nil
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

// closestVerb finds the verb a typo most likely meant: within two edits
// (a swap of neighbours counts as one), at most one edit per two letters
// typed (so "un" does not become "end"), and only one such verb.
func closestVerb(typed string) (Verb, bool) {
	if typed == "" || len(typed) > 20 {
		return "", false
	}
	best, bestD, ties := Verb(""), 3, 0
	for _, s := range grammar {
		d := editDistance(typed, string(s.verb))
		if limit := min(2, len(s.verb)/3+1, utf8.RuneCountInString(typed)/2); d > limit {
			continue
		}
		switch {
		case d < bestD:
			best, bestD, ties = s.verb, d, 1
		case d == bestD:
			ties++
		}
	}
	return best, best != "" && ties == 1
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of adjacent letters.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

func parseNoArgs(v Verb) func([]string) (Command, *UsageError) {
	return func(args []string) (Command, *UsageError) {
		if len(args) > 0 {
			return Command{}, &UsageError{Problem: fmt.Sprintf("`%s` takes no arguments; %s is one too many.", v, quote(args[0]))}
		}
		return Command{Verb: v}, nil
	}
}

func parseHelp(args []string) (Command, *UsageError) {
	switch len(args) {
	case 0:
		return Command{Verb: VerbHelp}, nil
	case 1:
		topic := Verb(strings.ToLower(strings.TrimPrefix(args[0], "/")))
		if _, ok := specFor(topic); ok {
			return Command{Verb: VerbHelp, Topic: topic}, nil
		}
		problem := fmt.Sprintf("There is no command %s.", quote(args[0]))
		if near, ok := closestVerb(string(topic)); ok {
			problem += fmt.Sprintf(" Did you mean `%s`?", near)
		}
		return Command{}, &UsageError{Problem: problem}
	default:
		return Command{}, &UsageError{Problem: "`help` takes at most one command name."}
	}
}

func parseOptionalID(v Verb) func([]string) (Command, *UsageError) {
	return func(args []string) (Command, *UsageError) {
		if len(args) == 0 {
			return Command{Verb: v}, nil
		}
		id, uerr := conferenceIDArg(v, args)
		if uerr != nil {
			return Command{}, uerr
		}
		return Command{Verb: v, ConferenceID: id}, nil
	}
}

// conferenceIDArg reads the words after a verb that takes at most an ID. An
// ID people paste in groups ("914 083 136") is joined; several full-length
// numbers are several IDs, refused rather than glued into one wrong ID; an ID
// followed by anything else is one argument too many.
func conferenceIDArg(v Verb, args []string) (domain.ConferenceID, *UsageError) {
	joined := strings.Join(args, "")
	allDigits := !strings.ContainsFunc(joined, func(r rune) bool { return r != '-' && (r < '0' || r > '9') })
	if len(args) > 1 && allDigits {
		for _, a := range args {
			if len(strings.ReplaceAll(a, "-", "")) > 4 {
				return "", &UsageError{Problem: "Give one conference ID at a time."}
			}
		}
	}
	if len(args) > 1 && !allDigits {
		if _, err := domain.ParseConferenceID(args[0]); err == nil {
			return "", &UsageError{Problem: fmt.Sprintf("`%s` takes at most one argument, the conference ID; %s is one too many.", v, quote(args[1]))}
		}
	}
	id, err := domain.ParseConferenceID(joined)
	if err != nil {
		return "", &UsageError{Problem: "That is not a conference ID: " + reasonOf(err)}
	}
	return id, nil
}

func reasonOf(err error) string {
	var ie *domain.InvalidConferenceIDError
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
	id, err := domain.ParseConferenceID(args[0])
	if err != nil {
		return Command{}, &UsageError{Problem: "That is not a conference ID: " + reasonOf(err)}
	}
	cmd := Command{Verb: VerbBind, ConferenceID: id}
	if len(args) == 2 {
		if utf8.RuneCountInString(args[1]) > MaxPasswordLen {
			return Command{}, &UsageError{Problem: fmt.Sprintf("That host password is too long (over %d characters).", MaxPasswordLen)}
		}
		// Slack escapes &, < and > in slash-command text.
		cmd.Password = domain.Password(slackUnescape.Replace(args[1]))
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

func parseRemove(args []string) (Command, *UsageError) {
	if len(args) == 0 {
		return Command{}, &UsageError{Problem: "Whom? Give the person's name as the meeting shows it (or run `who` to see the list)."}
	}
	cmd := Command{Verb: VerbRemove, Name: strings.Join(args, " ")}
	if id, err := domain.ParseConferenceID(args[0]); err == nil {
		cmd.MaybeID = id
	}
	name := slackUnescape.Replace(cmd.Name)
	if utf8.RuneCountInString(name) > MaxNameLen {
		return Command{}, &UsageError{Problem: fmt.Sprintf("That name is too long (over %d characters).", MaxNameLen)}
	}
	if strings.ContainsAny(name, "<>") {
		return Command{}, &UsageError{Problem: "Give the person's name as the meeting shows it, not a Slack mention or a link."}
	}
	cmd.Name = name
	return cmd, nil
}

func parseRestrict(args []string) (Command, *UsageError) {
	if len(args) == 0 {
		return Command{}, &UsageError{Problem: "Who may join? Say `invited`, `company` or `everyone`."}
	}
	r, ok := domain.ParseJoinRestriction(strings.ToLower(args[0]))
	if !ok {
		return Command{}, &UsageError{Problem: fmt.Sprintf("%s is not one of `invited`, `company` or `everyone`.", quote(args[0]))}
	}
	cmd := Command{Verb: VerbRestrict, Restriction: r}
	if len(args) > 1 {
		id, uerr := conferenceIDArg(VerbRestrict, args[1:])
		if uerr != nil {
			return Command{}, uerr
		}
		cmd.ConferenceID = id
	}
	return cmd, nil
}

// parseExtend reads `extend [MINUTES] [ID]`. Minutes have at most three
// digits and conference IDs at least six, so the two cannot be confused.
func parseExtend(args []string) (Command, *UsageError) {
	cmd := Command{Verb: VerbExtend, Minutes: DefaultExtendMinutes}
	if len(args) > 0 && len(args[0]) <= 3 && !strings.ContainsFunc(args[0], func(r rune) bool { return r < '0' || r > '9' }) {
		n, _ := strconv.Atoi(args[0])
		if n < 1 || n > MaxExtendMinutes {
			return Command{}, &UsageError{Problem: fmt.Sprintf("MINUTES is a number from 1 to %d.", MaxExtendMinutes)}
		}
		cmd.Minutes = n
		args = args[1:]
	}
	if len(args) > 0 {
		id, uerr := conferenceIDArg(VerbExtend, args)
		if uerr != nil {
			if len(args) == 1 {
				uerr.Problem = fmt.Sprintf("%s is neither a number of minutes (1 to %d) nor a conference ID.", quote(args[0]), MaxExtendMinutes)
			}
			return Command{}, uerr
		}
		cmd.ConferenceID = id
	}
	return cmd, nil
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
		Outcome:    OutcomeOK,
		Text:       fmt.Sprintf("*%s* controls a Huawei Cloud Meeting from this channel: lock it, see who is in, remove people, and more.", command),
		Details:    lines,
		Note:       "ID is the conference ID; pasted dashes are fine, and so are spaces, except in bind and remove. Without ID, the channel's bound meeting is used. `" + command + " help COMMAND` shows one command.",
	}
}

// HelpFor is the help of one verb.
func HelpFor(command string, v Verb) Reply {
	s, ok := specFor(v)
	if !ok {
		return Help(command)
	}
	return Reply{
		Visibility: Ephemeral,
		Outcome:    OutcomeOK,
		Text:       fmt.Sprintf("`%s` - %s", Usage(command, v), s.summary),
		Details:    verbNotes[v],
	}
}

// verbNotes say more than the one-line summary, for `help VERB`.
var verbNotes = map[Verb][]string{
	VerbLock:     {"Locking stops new guests from joining. People with the host password or host link, and people the host invites, still get in; someone already inside stays: see `who` and `remove`, or `restrict invited`."},
	VerbRemove:   {"The name is matched without regard to case: an exact match first, else a unique part of a name. With several matches, or none, you get the list of who is in, with Remove buttons."},
	VerbRestrict: {"`invited`: invited people only. `company`: people of the host's enterprise. `everyone`: anyone with the ID and password."},
	VerbEnd:      {"Ending is not a way to keep strangers out: people can rejoin until the meeting's scheduled end. Lock it or `restrict invited` first."},
	VerbBind:     {"Anyone may bind the first meeting of a channel and becomes its first controller; after that, only its controllers may bind. The form keeps the password out of the channel's message history."},
	VerbWatch:    {"The bot must be a member of the channel to post joins (`/invite @meetingbot`). Strangers (not signed in, or from another organisation) are marked."},
}

// UsageReply answers a malformed command: what was wrong, then the usage.
func UsageReply(command string, err error) Reply {
	var ue *UsageError
	if !errors.As(err, &ue) {
		return Help(command)
	}
	if ue.Usage == "" {
		h := Help(command)
		h.Outcome = OutcomeUsage
		h.Text = ":grey_question: " + ue.Problem + " Here is what I can do:"
		return h
	}
	return Reply{
		Visibility: Ephemeral,
		Outcome:    OutcomeUsage,
		Text:       ":grey_question: " + ue.Problem,
		Details:    []string{"Usage: `" + command + " " + ue.Usage + "`"},
	}
}
