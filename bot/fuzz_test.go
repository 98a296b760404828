package bot

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/meetingbot/meetingbot/commands"
)

// renderedBlock is the part of a Block Kit block the limits apply to.
type renderedBlock struct {
	Type     string            `json:"type"`
	Text     *renderedText     `json:"text"`
	Elements []renderedElement `json:"elements"`
}

// renderedElement is a context element (a text object) or an action
// element (a button, whose label is a text object).
type renderedElement struct {
	Type string          `json:"type"`
	Text json.RawMessage `json:"text"`
}

type renderedText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// FuzzRender checks that Render and ackPayload keep any reply within Slack's
// limits: block count, section, context and button text lengths, the
// fallback length and the acknowledgement size.
func FuzzRender(f *testing.F) {
	// Seeds stay small enough that fuzzing (and minimizing what it finds)
	// is fast; nDetails multiplies a detail to reach the section and block
	// limits.
	f.Add(":lock: Meeting 914083136 locked by <@U123>.", "", uint8(0), "", "Unlock")
	f.Add(":scroll: The last 2 actions", "2026-11-26 14:05 UTC <@U1> lock 914083136: ok", uint8(2), "", "")
	f.Add("", "", uint8(0), "", "")
	f.Add(strings.Repeat("x", maxSectionText+1), strings.Repeat("y", 40), uint8(79), strings.Repeat("z", maxContextText+1), strings.Repeat("b", maxButtonText+1))
	f.Add(strings.Repeat("é", maxSectionText+1), strings.Repeat("🔒", 80), uint8(60), strings.Repeat("<", maxContextText+1), strings.Repeat("🔓", maxButtonText+1))
	f.Add("ack", strings.Repeat("<&>", 1000), uint8(3), "note", "Lock")
	f.Add("\xff\xfe\xfd", "\x80", uint8(3), "\xc3", "\xe2\x82")
	f.Add("headline", strings.Repeat("d", maxSectionText), uint8(60), "small print", "Unlock")
	f.Add("a\nb\nc", "line\nwith\nnewlines\u2028", uint8(50), "\x00\x01", "\u202eevil")

	f.Fuzz(func(t *testing.T, text, detail string, nDetails uint8, note, label string) {
		validInput := utf8.ValidString(text) && utf8.ValidString(detail) && utf8.ValidString(note) && utf8.ValidString(label)
		r := commands.Reply{
			Text:    text,
			Details: make([]string, int(nDetails)%80),
			Note:    note,
			Actions: []commands.Action{{
				ID: "meeting_unlock", Label: label, Value: "914083136", Danger: true,
				Confirm: &commands.Confirm{Title: "Unlock the meeting?", Text: "Anyone with the link can join again.", Yes: "Unlock", No: "Cancel"},
			}},
		}
		if nDetails&0x80 != 0 {
			r.Visibility = commands.InChannel
		}
		for i := range r.Details {
			r.Details[i] = detail
		}

		blocks, fallback := Render(r)
		if len(blocks) > maxBlocks {
			t.Fatalf("Render gave %d blocks; Slack takes at most %d", len(blocks), maxBlocks)
		}
		if n := utf8.RuneCountInString(fallback); n > maxFallback {
			t.Fatalf("fallback text is %d characters; want at most %d", n, maxFallback)
		}
		if validInput && !utf8.ValidString(fallback) {
			t.Fatalf("fallback text of valid UTF-8 input is not valid UTF-8: %q", fallback)
		}

		raw, err := json.Marshal(blocks)
		if err != nil {
			t.Fatalf("marshal blocks: %v", err)
		}
		var decoded []renderedBlock
		if err := json.Unmarshal(raw, &decoded); err != nil {
			t.Fatalf("unmarshal blocks: %v\n%s", err, raw)
		}
		if len(decoded) != len(blocks) {
			t.Fatalf("decoded %d blocks from %d", len(decoded), len(blocks))
		}
		for i, b := range decoded {
			switch b.Type {
			case "section":
				if b.Text == nil {
					t.Fatalf("block %d: section without text", i)
				}
				if n := utf8.RuneCountInString(b.Text.Text); n > maxSectionText {
					t.Fatalf("block %d: section text is %d characters; Slack takes at most %d", i, n, maxSectionText)
				}
			case "context":
				for j, e := range b.Elements {
					// A context element is itself a text object.
					var txt string
					if err := json.Unmarshal(e.Text, &txt); err != nil {
						t.Fatalf("block %d element %d: context text: %v", i, j, err)
					}
					if n := utf8.RuneCountInString(txt); n > maxContextText {
						t.Fatalf("block %d element %d: context text is %d characters; Slack takes at most %d", i, j, n, maxContextText)
					}
				}
			case "actions":
				for j, e := range b.Elements {
					if e.Type != "button" {
						continue
					}
					var txt renderedText
					if err := json.Unmarshal(e.Text, &txt); err != nil {
						t.Fatalf("block %d element %d: button text: %v", i, j, err)
					}
					if n := utf8.RuneCountInString(txt.Text); n > maxButtonText {
						t.Fatalf("block %d element %d: button text is %d characters; Slack takes at most %d", i, j, n, maxButtonText)
					}
				}
			default:
				t.Fatalf("block %d: unexpected block type %q", i, b.Type)
			}
		}

		ack, err := json.Marshal(ackPayload(r))
		if err != nil {
			t.Fatalf("marshal ack payload: %v", err)
		}
		if len(ack) >= slackDropsAcks {
			t.Fatalf("ack payload is %d bytes; Slack drops acks of %d bytes or more", len(ack), slackDropsAcks)
		}
		if len(ack) > maxAckBytes {
			t.Fatalf("ack payload is %d bytes; want at most maxAckBytes = %d", len(ack), maxAckBytes)
		}
	})
}
