package bot

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/meetingbot/meetingbot/commands"
)

// An ack is {"envelope_id":…} with the payload, if any, as it was
// rendered: marshalled once, and refused when Slack would drop it.
func TestAckFrames(t *testing.T) {
	t.Parallel()
	bare, err := ackFrame(`id-"1"`, nil)
	if err != nil || string(bare) != `{"envelope_id":"id-\"1\""}` {
		t.Fatalf("bare ack = %s, %v", bare, err)
	}
	p := ackPayload(commands.Reply{Text: "Locking meeting 914083136…"})
	framed, err := ackFrame("id-2", p)
	if err != nil || !strings.HasPrefix(string(framed), `{"envelope_id":"id-2","payload":{`) || !json.Valid(framed) {
		t.Fatalf("ack with a payload = %s, %v", framed, err)
	}
	var back struct {
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(framed, &back); err != nil || string(back.Payload) != string(p) {
		t.Fatalf("the payload was not sent as rendered: %s", back.Payload)
	}
	form, err := ackFrame("id-3", formError("Enter the meeting's host password."))
	if err != nil || !strings.Contains(string(form), `"response_action":"errors"`) {
		t.Fatalf("form ack = %s, %v", form, err)
	}
	huge := json.RawMessage(`{"text":"` + strings.Repeat("x", slackDropsAcks) + `"}`)
	if f, err := ackFrame("id-4", huge); err == nil || f != nil {
		t.Fatalf("an ack of %d bytes was not refused", len(huge))
	}
}
