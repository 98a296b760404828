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

// Every kind of reply the commands package gives, rendered, is locked by
// testdata/<name>.golden.json, so a change to a message shows in review.
func TestGoldenReplies(t *testing.T) {
	for _, name := range sortedKeys(replyScenarios) {
		sc := replyScenarios[name]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newReplyWorld(t, sc.opts...)
			golden(t, name, w.stable(renderJSON(t, sc.reply(w))))
		})
	}
}

// Every golden file belongs to a scenario (or the bind form).
func TestNoStaleGoldens(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".golden.json")
		if _, ok := replyScenarios[name]; !ok && name != "bind_modal" {
			t.Errorf("%s matches no reply: remove it", f)
		}
	}
}

// The words in the blocks are the words of the text fallback.
func TestBlocksSayWhatTheFallbackSays(t *testing.T) {
	replies := goldenReplies(t)
	for _, name := range sortedKeys(replies) {
		var msg struct {
			Text   string `json:"text"`
			Blocks []struct {
				Text     *struct{ Text string } `json:"text"`
				Type     string                 `json:"type"`
				Elements []struct {
					Text any `json:"text"`
				} `json:"elements"`
			} `json:"blocks"`
		}
		if err := json.Unmarshal(replies[name], &msg); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var words []string
		for _, b := range msg.Blocks {
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
		if got := strings.Join(words, "\n"); got != msg.Text {
			t.Errorf("%s: blocks say %q, fallback says %q", name, got, msg.Text)
		}
	}
}

// Slack refuses a message beyond its Block Kit limits; every real reply
// stays within them.
func TestRealRepliesKeepSlackLimits(t *testing.T) {
	replies := goldenReplies(t)
	for _, name := range sortedKeys(replies) {
		raw := replies[name]
		var msg struct {
			Text   string `json:"text"`
			Blocks []struct {
				Type     string `json:"type"`
				BlockID  string `json:"block_id"`
				Text     *struct{ Text string }
				Elements []struct {
					Type     string `json:"type"`
					ActionID string `json:"action_id"`
					Value    string `json:"value"`
					Text     json.RawMessage
					Confirm  *struct {
						Title, Text, Confirm, Deny struct{ Text string }
					} `json:"confirm"`
				} `json:"elements"`
			} `json:"blocks"`
		}
		if err := json.Unmarshal(raw, &msg); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		fail := func(format string, args ...any) { t.Errorf("%s: "+format, append([]any{name}, args...)...) }
		if n := len(msg.Blocks); n == 0 || n > 50 {
			fail("%d blocks", n)
		}
		if n := utf8.RuneCountInString(msg.Text); n == 0 || n > maxFallback {
			fail("fallback of %d characters", n)
		}
		blockIDs := map[string]bool{}
		for i, b := range msg.Blocks {
			if b.BlockID != "" {
				if blockIDs[b.BlockID] {
					fail("block_id %q twice", b.BlockID)
				}
				blockIDs[b.BlockID] = true
			}
			switch b.Type {
			case "section":
				if b.Text == nil || utf8.RuneCountInString(b.Text.Text) > 3000 || strings.TrimSpace(b.Text.Text) == "" {
					fail("block %d: a section must have 1 to 3000 characters", i)
				}
			case "context":
				if len(b.Elements) == 0 || len(b.Elements) > 10 {
					fail("block %d: %d context elements", i, len(b.Elements))
				}
			case "actions":
				if len(b.Elements) == 0 || len(b.Elements) > 25 {
					fail("block %d: %d elements in an actions block", i, len(b.Elements))
				}
				actionIDs := map[string]bool{}
				for _, e := range b.Elements {
					var label struct{ Text string }
					_ = json.Unmarshal(e.Text, &label)
					switch {
					case e.Type != "button":
						fail("block %d: a %s in an actions block", i, e.Type)
					case actionIDs[e.ActionID]:
						fail("block %d: action_id %q twice", i, e.ActionID)
					case e.ActionID == "" || len(e.ActionID) > 255:
						fail("block %d: action_id %q", i, e.ActionID)
					case len(e.Value) > 2000:
						fail("block %d: a button value of %d characters", i, len(e.Value))
					case label.Text == "" || utf8.RuneCountInString(label.Text) > 75:
						fail("block %d: button text %q", i, label.Text)
					}
					actionIDs[e.ActionID] = true
					if _, ok := commands.ButtonCommand(e.ActionID, e.Value); !ok {
						fail("block %d: the bot cannot read back its own button %s %q", i, e.ActionID, e.Value)
					}
					if c := e.Confirm; c != nil && (utf8.RuneCountInString(c.Title.Text) > 100 || utf8.RuneCountInString(c.Text.Text) > 300 ||
						utf8.RuneCountInString(c.Confirm.Text) > 30 || utf8.RuneCountInString(c.Deny.Text) > 30) {
						fail("block %d: a confirm dialog beyond Slack's limits: %+v", i, *c)
					}
				}
			default:
				fail("block %d: type %q", i, b.Type)
			}
		}
		// A full phone number never reaches Slack, and no vendor markup is
		// obeyed.
		for _, leak := range []string{"7777 2468", "8765 4321", "7946 0958", "<!channel>", "<!here>", "<@U999>"} {
			if strings.Contains(string(raw), leak) {
				fail("holds %q", leak)
			}
		}
		if strings.Contains(string(raw), goldenPassword) || strings.Contains(string(raw), "654321") {
			fail("holds a host password")
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
