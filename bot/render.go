package bot

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/meetingbot/meetingbot/commands"
)

// Slack's limits for the blocks we use.
const (
	maxSectionText = 3000
	maxContextText = 2000
	maxButtonText  = 75
	maxBlocks      = 50
	maxFallback    = 4000
	// maxAckBytes keeps an acknowledgement well under the 20 KB that Slack
	// silently drops.
	maxAckBytes = 16 * 1024
)

// Render turns a reply into Block Kit and its plain-text fallback, with the
// same words in both.
func Render(r commands.Reply) ([]slack.Block, string) {
	reserved := 0 // blocks after the details: the rows, the note, the buttons
	for _, row := range r.Rows {
		reserved++
		if len(row.Actions) > 0 {
			reserved++
		}
	}
	if r.Note != "" {
		reserved++
	}
	if len(r.Actions) > 0 {
		reserved++
	}
	reserved = min(reserved, maxBlocks-2)
	blocks := []slack.Block{section(r.Text)}
	for _, chunk := range chunkLines(r.Details, maxSectionText) {
		if len(blocks) >= maxBlocks-reserved-1 {
			break
		}
		blocks = append(blocks, section(chunk))
	}
	for i, row := range r.Rows {
		need := 1
		if len(row.Actions) > 0 {
			need = 2
		}
		if len(blocks)+need > maxBlocks-btoi(r.Note != "")-btoi(len(r.Actions) > 0) {
			break
		}
		blocks = append(blocks, section(row.Text))
		if len(row.Actions) > 0 {
			blocks = append(blocks, slack.NewActionBlock(fmt.Sprintf("row_%d", i+1), buttons(row.Actions)...))
		}
	}
	if r.Note != "" {
		blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, truncate(r.Note, maxContextText), false, false)))
	}
	if len(r.Actions) > 0 {
		blocks = append(blocks, slack.NewActionBlock("meeting_actions", buttons(r.Actions)...))
	}
	return blocks, truncate(r.PlainText(), maxFallback)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func buttons(actions []commands.Action) []slack.BlockElement {
	var elems []slack.BlockElement
	for _, a := range actions {
		btn := slack.NewButtonBlockElement(a.ID, a.Value, slack.NewTextBlockObject(slack.PlainTextType, truncate(a.Label, maxButtonText), true, false))
		if a.Danger {
			btn.Style = slack.StyleDanger
		}
		if a.Confirm != nil {
			btn.Confirm = slack.NewConfirmationBlockObject(
				slack.NewTextBlockObject(slack.PlainTextType, a.Confirm.Title, false, false),
				slack.NewTextBlockObject(slack.MarkdownType, a.Confirm.Text, false, false),
				slack.NewTextBlockObject(slack.PlainTextType, a.Confirm.Yes, false, false),
				slack.NewTextBlockObject(slack.PlainTextType, a.Confirm.No, false, false),
			)
			if a.Danger {
				btn.Confirm.Style = slack.StyleDanger
			}
		}
		elems = append(elems, btn)
	}
	return elems
}

func section(text string) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, truncate(text, maxSectionText), false, false), nil, nil)
}

// chunkLines joins lines into chunks of at most max characters, so a long
// history splits into several sections instead of being cut.
func chunkLines(lines []string, max int) []string {
	var chunks []string
	var cur strings.Builder
	runes := 0 // in cur
	for _, l := range lines {
		l = truncate(l, max)
		n := utf8.RuneCountInString(l)
		if cur.Len() > 0 && runes+1+n > max {
			chunks = append(chunks, cur.String())
			cur.Reset()
			runes = 0
		}
		if cur.Len() > 0 {
			cur.WriteByte('\n')
			runes++
		}
		cur.WriteString(l)
		runes += n
	}
	if cur.Len() > 0 {
		chunks = append(chunks, cur.String())
	}
	return chunks
}

func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// messagePayload is what goes to Slack as an ack payload or a response_url
// post.
type messagePayload struct {
	ResponseType string        `json:"response_type,omitempty"`
	Text         string        `json:"text"`
	Blocks       []slack.Block `json:"blocks,omitempty"`
}

func responseType(v commands.Visibility) string {
	if v == commands.InChannel {
		return slack.ResponseTypeInChannel
	}
	return slack.ResponseTypeEphemeral
}

// ackPayload renders a reply for an acknowledgement, keeping it under the
// size Slack accepts: if the blocks would not fit, the text alone goes. It
// returns the payload marshalled, as the ack sends it.
func ackPayload(r commands.Reply) json.RawMessage {
	blocks, text := Render(r)
	p := messagePayload{ResponseType: responseType(r.Visibility), Text: text, Blocks: blocks}
	if b, err := json.Marshal(p); err == nil && len(b) <= maxAckBytes {
		return b
	}
	p.Blocks = nil
	p.Text = truncate(text, maxAckBytes/8)
	b, _ := json.Marshal(p) // text alone always marshals
	return b
}
