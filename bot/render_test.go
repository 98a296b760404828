package bot

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/meetingbot/meetingbot/commands"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// layouts are the reply shapes the bot sends. Each one's Block Kit is locked
// by testdata/<name>.golden.json, so a change to a message shows in review.
var layouts = map[string]commands.Reply{
	"lock_confirmation":   commands.Confirmation("914083136", "U123", true),
	"unlock_confirmation": commands.Confirmation("914083136", "U123", false),
	"api_error": {Visibility: commands.InChannel,
		Text: ":warning: Could not lock meeting 914083136: MMC.111070005 (HTTP 400) - the meeting does not exist or has ended."},
	"progress": {Text: ":hourglass_flowing_sand: Locking meeting 914083136…"},
	"help":     commands.Help("/meeting"),
	"usage_error": func() commands.Reply {
		_, err := commands.Parse("lock 12")
		return commands.UsageReply("/meeting", err)
	}(),
	"refusal": {Text: ":no_entry: Only this channel's controllers can lock meeting 914083136: <@U1>.",
		Details: []string{"meetingbot admins can too: <@U0ADMIN>.", "Ask a controller to run `/meeting grant @you`."}},
	"status": {Text: ":information_source: Meeting 914083136 was bound to this channel by <@U1> on 2026-11-26 14:02 UTC.",
		Details: []string{"Control token: valid until 14:32 UTC.", "Lock state: locked by <@U1> at 2026-11-26 14:05 UTC.", "Controllers: <@U1>, <@U2>."},
		Note:    commands.StatusNote},
	"history": {Text: ":scroll: The last 2 actions in this channel, newest first:",
		Details: []string{"2026-11-26 14:05 UTC <@U1> lock 914083136: ok", "2026-11-26 14:04 UTC <@U2> lock 914083136: refused"}},
}

func TestGoldenBindForm(t *testing.T) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(BindModal("/meeting", "914083136", `{"team":"T1","channel":"C1","conference_id":"914083136"}`)); err != nil {
		t.Fatal(err)
	}
	golden(t, "bind_modal", buf.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./bot -run Golden -update to create it)", err)
	}
	if string(got) != string(want) {
		t.Fatalf("%s changed; if intended, rerun with -update.\ngot:\n%s", path, got)
	}
}

func TestGoldenLayouts(t *testing.T) {
	for name, reply := range layouts {
		t.Run(name, func(t *testing.T) {
			blocks, text := Render(reply)
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(map[string]any{"text": text, "response_type": responseType(reply.Visibility), "blocks": blocks}); err != nil {
				t.Fatal(err)
			}
			golden(t, name, buf.Bytes())
		})
	}
}

// The words in the blocks are the words of the text fallback.
func TestBlocksSayWhatTheFallbackSays(t *testing.T) {
	t.Parallel()
	for name, reply := range layouts {
		blocks, text := Render(reply)
		raw, _ := json.Marshal(blocks)
		var decoded []struct {
			Text     *struct{ Text string } `json:"text"`
			Type     string                 `json:"type"`
			Elements []struct {
				Text any `json:"text"`
			} `json:"elements"`
		}
		if err := json.Unmarshal(raw, &decoded); err != nil {
			t.Fatal(err)
		}
		var words []string
		for _, b := range decoded {
			if b.Text != nil {
				words = append(words, b.Text.Text)
			}
			if b.Type != "context" {
				continue
			}
			for _, e := range b.Elements {
				if s, ok := e.Text.(string); ok {
					words = append(words, s)
				}
			}
		}
		if got := strings.Join(words, "\n"); got != text {
			t.Errorf("%s: blocks say %q, fallback says %q", name, got, text)
		}
	}
}

func TestLongRepliesStayWithinSlackLimits(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 5000)
	var details []string
	for i := range 200 {
		details = append(details, fmt.Sprintf("%d %s", i, strings.Repeat("y", 150)))
	}
	blocks, text := Render(commands.Reply{Text: long, Details: details, Note: long})
	if len(blocks) > maxBlocks {
		t.Fatalf("%d blocks", len(blocks))
	}
	raw, _ := json.Marshal(blocks)
	var decoded []struct {
		Text *struct{ Text string } `json:"text"`
	}
	_ = json.Unmarshal(raw, &decoded)
	for _, b := range decoded {
		if b.Text != nil && utf8.RuneCountInString(b.Text.Text) > maxSectionText {
			t.Fatalf("a section has %d characters", utf8.RuneCountInString(b.Text.Text))
		}
	}
	if utf8.RuneCountInString(text) > maxFallback {
		t.Fatalf("fallback has %d characters", utf8.RuneCountInString(text))
	}
	p := ackPayload(commands.Reply{Text: long, Details: details})
	b, _ := json.Marshal(p)
	if len(b) > maxAckBytes {
		t.Fatalf("an ack payload is %d bytes, over %d", len(b), maxAckBytes)
	}
}
