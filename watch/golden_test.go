package watch_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/watch"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The alerts, as Slack receives them, are locked by golden files, like the
// bot's replies (bot/testdata).
func TestGoldenAlerts(t *testing.T) {
	at := time.Date(2026, 11, 26, 14, 2, 0, 0, time.UTC)
	colleague := meetingapi.Participant{PID: "p-1", Name: "Alice Example", OrgID: hostOrg}
	guest := meetingapi.Participant{PID: "p-2", Name: "Guest <!channel>", Anonymous: true}
	outsider := meetingapi.Participant{PID: "p-3", Name: "Bob", OrgID: "org-elsewhere", Phone: "+1 555 010 9876"}
	var crowd []meetingapi.Participant
	for i := range 12 {
		crowd = append(crowd, meetingapi.Participant{PID: "c-" + string(rune('a'+i)), Name: "Person " + string(rune('A'+i)), OrgID: hostOrg})
	}
	for name, r := range map[string]commands.Reply{
		"alert_one":          watch.Alert(meetingID, []meetingapi.Participant{colleague}, hostOrg, false, at),
		"alert_one_stranger": watch.Alert(meetingID, []meetingapi.Participant{guest}, hostOrg, true, at),
		"alert_several":      watch.Alert(meetingID, []meetingapi.Participant{colleague, guest, outsider}, hostOrg, true, at),
		"alert_crowd":        watch.Alert(meetingID, crowd, hostOrg, false, at),
	} {
		t.Run(name, func(t *testing.T) {
			blocks, text := bot.Render(r)
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(map[string]any{"text": text, "blocks": blocks}); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".golden.json")
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./watch -run Golden -update to create it)", err)
			}
			if !bytes.Equal(buf.Bytes(), want) {
				t.Fatalf("%s changed; if intended, rerun with -update.\ngot:\n%s", path, buf.Bytes())
			}
		})
	}
}
