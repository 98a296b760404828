package commands

import "strings"

// Visibility says who sees a reply.
type Visibility int

const (
	// Ephemeral replies are shown only to the person who typed the command:
	// usage errors, refusals and anything about credentials.
	Ephemeral Visibility = iota
	// InChannel replies are shown to the whole channel: the outcome of a
	// meeting-API call, so the room sees who locked the meeting.
	InChannel
)

func (v Visibility) String() string {
	if v == InChannel {
		return "in_channel"
	}
	return "ephemeral"
}

// Outcome classifies a reply for metrics and logs.
type Outcome string

const (
	OutcomeOK       Outcome = "ok"        // done, or a question answered
	OutcomeRefused  Outcome = "refused"   // not allowed, stale, rate-limited
	OutcomeAPIError Outcome = "api_error" // the meeting service said no
	OutcomeUsage    Outcome = "usage"     // the command was malformed
	OutcomeError    Outcome = "error"     // meetingbot's own fault
)

// Reply is a platform-neutral answer to a command. The bot renders it to
// Block Kit; Text plus Details, one per line, is the plain-text form.
type Reply struct {
	Visibility Visibility
	Outcome    Outcome
	// Text is the headline, in Slack mrkdwn (mentions as <@U123>).
	Text string
	// Details are further lines, shown under the headline.
	Details []string
	// Note is small print, shown last (e.g. "the vendor API does not report
	// lock state").
	Note string
	// Rows are lines with buttons of their own (the people in a meeting),
	// shown after the details.
	Rows []Row
	// Actions are buttons offered with the reply.
	Actions []Action
	// StateChange marks the confirmation of a change to the meeting. When
	// it answers a button click on a message in the channel, it replaces
	// that message, so the channel shows the current state and who set it.
	StateChange bool
}

// Action is a button that runs a command when clicked.
type Action struct {
	ID      string // stable action ID, e.g. "meeting_unlock"; see the Action* constants
	Label   string
	Value   string // opaque to the user; parsed back by the bot
	Danger  bool
	Confirm *Confirm
}

// Row is one line of a list with its own buttons.
type Row struct {
	Text    string
	Actions []Action
}

// Confirm is the dialog a button asks before it acts.
type Confirm struct {
	Title, Text, Yes, No string
}

// PlainText is the reply as plain lines: the text fallback of the rendered
// message, and what the sandbox prints.
func (r Reply) PlainText() string {
	var b strings.Builder
	b.WriteString(r.Text)
	for _, d := range r.Details {
		b.WriteString("\n")
		b.WriteString(d)
	}
	for _, row := range r.Rows {
		b.WriteString("\n")
		b.WriteString(row.Text)
	}
	if r.Note != "" {
		b.WriteString("\n")
		b.WriteString(r.Note)
	}
	return b.String()
}
