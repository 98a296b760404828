package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/meetingbot/meetingbot/bot/slacktest"
)

// What Slack would show the sandbox's user, and what their clicks and the
// bind form send.

// sandboxButton is a button shown under a message, which :press presses.
type sandboxButton struct {
	Label, ActionID, Value, BlockID string
	Confirm                         string // the confirm dialog, as one line; "" if none
	Channel                         string // where the message with the button is
	Ephemeral                       bool   // the message is shown only to its reader
	Message                         int    // which printed message holds it
}

// sandboxForm is the bind form views.open opened.
type sandboxForm struct {
	CallbackID, PrivateMetadata, User string
}

func (s *sandboxSession) send(command, text string) {
	ctx, cancel := context.WithTimeout(s.ctx, sandboxReplyTimeout)
	defer cancel()
	envID, err := s.slack.SendSlashCommand(ctx, slacktest.SlashCommand{
		ChannelID: sandboxID("C", s.channel), ChannelName: s.channel,
		UserID: sandboxID("U", s.user), UserName: s.user,
		Command: command, Text: text,
	})
	if err != nil {
		fmt.Fprintf(s.out, "  sandbox: could not send the command: %v\n", err)
		return
	}
	s.envChannel[envID] = s.channel
	if !s.waitAck(ctx, envID) {
		return
	}
	// The bot counts a command as in flight before it acks, so once the ack
	// is here, in-flight reaching zero means the reply has been posted.
	if !s.follow(ctx, envID, func() bool { return s.bot.InFlight() == 0 }) {
		s.say("no reply in time")
	}
	for _, v := range s.slack.Views() {
		if v.TriggerID == s.slack.TriggerID(envID) {
			s.openForm(v)
		}
	}
}

// waitAck waits for the bot's ack of envID and prints its payload, if any.
func (s *sandboxSession) waitAck(ctx context.Context, envID string) bool {
	ack, err := s.slack.WaitAck(ctx, envID)
	if err != nil {
		fmt.Fprintln(s.out, "  sandbox: the bot did not acknowledge (Slack would show the user dispatch_failed)")
		return false
	}
	if len(ack.Payload) > 0 {
		var p struct {
			Text         string            `json:"text"`
			Blocks       json.RawMessage   `json:"blocks"`
			ResponseType string            `json:"response_type"`
			Errors       map[string]string `json:"errors"`
		}
		if json.Unmarshal(ack.Payload, &p) == nil && p.Text != "" {
			s.print("(only you) ", p.Text, p.Blocks, s.channel, true, "")
		}
		for _, e := range p.Errors {
			fmt.Fprintf(s.out, "  (form) %s\n", emojify(e))
		}
	}
	return true
}

// follow prints the bot's messages as they arrive until done reports true
// (checked after the messages so far are printed) or time runs out, and
// reports which. While it waits for the answer to one envelope (envID not
// ""), it prints that envelope's replies first and anything else the bot
// posts meanwhile (a join alert, the line a watch ends with) after them,
// so a transcript does not depend on which came first.
func (s *sandboxSession) follow(ctx context.Context, envID string, done func() bool) bool {
	defer s.printNew("")
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		s.printNew(envID)
		if done() {
			s.printNew(envID)
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

// channelOf names the channel a message went to.
func (s *sandboxSession) channelOf(m slacktest.Message) string {
	if m.Channel != "" {
		return strings.ToLower(strings.TrimPrefix(m.Channel, "C"))
	}
	return s.envChannel[m.EnvelopeID]
}

// printNew prints the messages not printed yet: all of them, or with
// envID only the replies to that envelope (the others wait).
func (s *sandboxSession) printNew(envID string) {
	msgs := s.slack.Messages()
	for i := s.printed; i < len(msgs); i++ {
		m := msgs[i]
		if s.printedEarly[i] || envID != "" && m.EnvelopeID != envID {
			continue
		}
		s.printedEarly[i] = true
		channel := s.channelOf(m)
		var prefix string
		ephemeral := false
		switch {
		case m.Via == "response_url" && m.ResponseType == "in_channel":
			prefix = "[#" + channel + "] "
		case m.Via == "response_url", m.Via == "chat.postEphemeral":
			prefix, ephemeral = "(only you) ", true
		case m.Via == "chat.postMessage" && strings.HasPrefix(m.Channel, "U"):
			prefix, ephemeral = "(direct message) ", true
		case m.Via == "chat.update":
			prefix = "[#" + channel + "] (updated) "
		default:
			prefix = "[#" + channel + "] "
		}
		lead := ""
		if m.ReplaceOriginal {
			lead = fmt.Sprintf("(replaces the message with [%d]) ", s.pressed)
			// The old message, and every button on it, is gone.
			gone := s.buttons[s.pressed].Message
			for n, b := range s.buttons {
				if b.Message == gone {
					delete(s.buttons, n)
				}
			}
		}
		s.print(prefix, m.Text, m.Blocks, channel, ephemeral, lead)
	}
	for s.printed < len(msgs) && s.printedEarly[s.printed] {
		delete(s.printedEarly, s.printed)
		s.printed++
	}
}

var (
	mentionPattern = regexp.MustCompile(`<@U([A-Z0-9]+)(\|[^>]*)?>`)
	channelPattern = regexp.MustCompile(`<#C([A-Z0-9]+)\|?([^>]*)>`)
	boldPattern    = regexp.MustCompile(`\*([^*\n]+)\*`)
	unescapeSlack  = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")
)

// shown is a message's text as Slack shows it: mentions as @name,
// channels as #name, *bold* without its stars (a terminal has no bold),
// entities decoded, emoji as emoji.
func shown(text string) string {
	text = boldPattern.ReplaceAllString(text, "$1")
	text = mentionPattern.ReplaceAllStringFunc(text, func(m string) string {
		return "@" + strings.ToLower(mentionPattern.FindStringSubmatch(m)[1])
	})
	text = channelPattern.ReplaceAllString(text, "#$2")
	return emojify(unescapeSlack.Replace(text))
}

// print shows a message as Slack would, block by block when it has
// blocks: its lines, and under the lines they belong to its buttons,
// numbered for :press. lead goes before its first line.
func (s *sandboxSession) print(prefix, text string, blocks json.RawMessage, channel string, ephemeral bool, lead string) {
	s.messages++
	parts := layout(text, blocks)
	if len(parts[0].buttons) == 0 {
		parts[0].text = lead + parts[0].text
	} else if lead != "" {
		parts = append([]messagePart{{text: lead}}, parts...)
	}
	var lines []string
	lastButtons := -1
	for _, p := range parts {
		if len(p.buttons) == 0 {
			lines = append(lines, strings.Split(shown(p.text), "\n")...)
			continue
		}
		var labels []string
		for _, btn := range p.buttons {
			s.nextButton++
			btn.Channel, btn.Ephemeral, btn.Message = channel, ephemeral, s.messages
			s.buttons[s.nextButton] = btn
			labels = append(labels, fmt.Sprintf("[%d] %s", s.nextButton, btn.Label))
		}
		lastButtons = len(lines)
		lines = append(lines, strings.Join(labels, "   "))
	}
	if lastButtons >= 0 {
		lines[lastButtons] += "   (:press N)"
	}
	prefix = "  " + prefix
	indent := strings.Repeat(" ", len([]rune(prefix)))
	fmt.Fprintln(s.out, prefix+strings.Join(lines, "\n"+indent))
}

// messagePart is a run of text, or a row of buttons.
type messagePart struct {
	text    string
	buttons []sandboxButton
}

// layout splits a message into what Slack shows, in order: the sections'
// and contexts' text, and the actions blocks' buttons. Without blocks, or
// with blocks it cannot read, it is the text alone.
func layout(text string, blocks json.RawMessage) []messagePart {
	type textObject struct {
		Text string `json:"text"`
	}
	var bs []struct {
		Type     string      `json:"type"`
		BlockID  string      `json:"block_id"`
		Text     *textObject `json:"text"`
		Elements []struct {
			Type     string `json:"type"`
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
			// A button's text is an object; a context element is a text
			// object itself, so its text is a string.
			Text    json.RawMessage `json:"text"`
			Confirm *struct {
				Title   textObject `json:"title"`
				Text    textObject `json:"text"`
				Confirm textObject `json:"confirm"`
				Deny    textObject `json:"deny"`
			} `json:"confirm"`
		} `json:"elements"`
	}
	if len(blocks) == 0 || json.Unmarshal(blocks, &bs) != nil || len(bs) == 0 {
		return []messagePart{{text: text}}
	}
	var parts []messagePart
	for _, b := range bs {
		switch b.Type {
		case "section":
			if b.Text != nil {
				parts = append(parts, messagePart{text: b.Text.Text})
			}
		case "context":
			var texts []string
			for _, e := range b.Elements {
				var t string
				if json.Unmarshal(e.Text, &t) == nil && t != "" {
					texts = append(texts, t)
				}
			}
			if len(texts) > 0 {
				parts = append(parts, messagePart{text: strings.Join(texts, " ")})
			}
		case "actions":
			var row []sandboxButton
			for _, e := range b.Elements {
				if e.Type != "button" {
					continue
				}
				var label textObject
				_ = json.Unmarshal(e.Text, &label)
				btn := sandboxButton{Label: label.Text, ActionID: e.ActionID, Value: e.Value, BlockID: b.BlockID}
				if c := e.Confirm; c != nil {
					btn.Confirm = fmt.Sprintf("%q %s [%s] [%s]", c.Title.Text, c.Text.Text, c.Confirm.Text, c.Deny.Text)
				}
				row = append(row, btn)
			}
			if len(row) > 0 {
				parts = append(parts, messagePart{buttons: row})
			}
		}
	}
	if len(parts) == 0 {
		return []messagePart{{text: text}}
	}
	return parts
}

// press clicks a button as the current user, answering Slack's confirm
// dialog yes, and shows what follows.
func (s *sandboxSession) press(btn sandboxButton) {
	if btn.Confirm != "" {
		fmt.Fprintf(s.out, "  sandbox: Slack asks first: %s; answering yes\n", shown(btn.Confirm))
	}
	ctx, cancel := context.WithTimeout(s.ctx, sandboxReplyTimeout)
	defer cancel()
	before := len(s.slack.Messages())
	team := s.slack.TeamID()
	envID, err := s.slack.SendEnvelopeFunc(ctx, "interactive", func(info slacktest.EnvelopeInfo) any {
		return map[string]any{
			"type":         "block_actions",
			"team":         map[string]any{"id": team, "domain": s.slack.TeamDomain()},
			"user":         map[string]any{"id": sandboxID("U", s.user), "username": s.user, "team_id": team},
			"api_app_id":   s.slack.AppID(),
			"token":        slacktest.VerificationToken,
			"container":    map[string]any{"type": "message", "channel_id": sandboxID("C", btn.Channel), "is_ephemeral": btn.Ephemeral},
			"trigger_id":   info.TriggerID,
			"channel":      map[string]any{"id": sandboxID("C", btn.Channel), "name": btn.Channel},
			"response_url": info.ResponseURL,
			"actions": []any{map[string]any{
				"action_id": btn.ActionID, "block_id": btn.BlockID, "type": "button", "value": btn.Value,
				"text": map[string]any{"type": "plain_text", "text": btn.Label},
			}},
			"is_enterprise_install": false,
		}
	})
	if err != nil {
		fmt.Fprintf(s.out, "  sandbox: could not press the button: %v\n", err)
		return
	}
	s.envChannel[envID] = btn.Channel
	if !s.waitAck(ctx, envID) {
		return
	}
	// A click is acked before the bot starts on it: wait for its reply.
	if !s.follow(ctx, envID, func() bool { return len(s.slack.Messages()) > before && s.bot.InFlight() == 0 }) {
		s.say("no reply in time")
	}
}

func (s *sandboxSession) openForm(v slacktest.View) {
	var view struct {
		CallbackID      string `json:"callback_id"`
		PrivateMetadata string `json:"private_metadata"`
		Title           struct {
			Text string `json:"text"`
		} `json:"title"`
	}
	if json.Unmarshal(v.View, &view) != nil {
		return
	}
	s.form = &sandboxForm{CallbackID: view.CallbackID, PrivateMetadata: view.PrivateMetadata, User: s.user}
	fmt.Fprintf(s.out, "  sandbox: Slack now shows %s the form %q with a Host password field.\n"+
		"           Fill it in with :form PASSWORD (or close it with :cancel).\n", s.user, view.Title.Text)
}

// submitForm submits the open bind form with password, as the user who
// opened it.
func (s *sandboxSession) submitForm(password string) {
	f := s.form
	ctx, cancel := context.WithTimeout(s.ctx, sandboxReplyTimeout)
	defer cancel()
	team := s.slack.TeamID()
	envID, err := s.slack.SendEnvelopeFunc(ctx, "interactive", func(info slacktest.EnvelopeInfo) any {
		return map[string]any{
			"type":       "view_submission",
			"team":       map[string]any{"id": team, "domain": s.slack.TeamDomain()},
			"user":       map[string]any{"id": sandboxID("U", f.User), "username": f.User, "team_id": team},
			"api_app_id": s.slack.AppID(),
			"token":      slacktest.VerificationToken,
			"trigger_id": info.TriggerID,
			"view": map[string]any{
				"id": "V0SANDBOX", "type": "modal", "callback_id": f.CallbackID, "private_metadata": f.PrivateMetadata,
				"state": map[string]any{"values": map[string]any{
					"password": map[string]any{"password": map[string]any{"type": "plain_text_input", "value": password}},
				}},
			},
			"is_enterprise_install": false,
		}
	})
	if err != nil {
		fmt.Fprintf(s.out, "  sandbox: could not submit the form: %v\n", err)
		return
	}
	ack, err := s.slack.WaitAck(ctx, envID)
	if err != nil {
		fmt.Fprintln(s.out, "  sandbox: the bot did not acknowledge the form")
		return
	}
	var p struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
	}
	if len(ack.Payload) > 0 && json.Unmarshal(ack.Payload, &p) == nil && p.ResponseAction == "errors" {
		for _, e := range p.Errors {
			fmt.Fprintf(s.out, "  (form) %s\n", emojify(e))
		}
		fmt.Fprintln(s.out, "  sandbox: the form stays open; try :form again, or :cancel")
		return
	}
	s.form = nil
	fmt.Fprintln(s.out, "  sandbox: the form closed")
	if !s.follow(ctx, "", func() bool { return s.bot.InFlight() == 0 }) {
		s.say("no reply in time")
	}
}

// emoji maps the shortcodes meetingbot writes to what Slack shows. A
// shortcode not listed stays as it is; a test keeps the table complete.
var emoji = map[string]string{
	":lock:":                   "🔒",
	":unlock:":                 "🔓",
	":closed_lock_with_key:":   "🔐",
	":warning:":                "⚠️",
	":no_entry:":               "⛔",
	":white_check_mark:":       "✅",
	":x:":                      "❌",
	":key:":                    "🔑",
	":hourglass:":              "⌛",
	":hourglass_flowing_sand:": "⏳",
	":grey_question:":          "❔",
	":information_source:":     "ℹ️",
	":busts_in_silhouette:":    "👥",
	":bust_in_silhouette:":     "👤",
	":scroll:":                 "📜",
	":wastebasket:":            "🗑️",
	":bulb:":                   "💡",
	":mute:":                   "🔇",
	":speaker:":                "🔈",
	":sound:":                  "🔉",
	":door:":                   "🚪",
	":office:":                 "🏢",
	":stopwatch:":              "⏱️",
	":eyes:":                   "👀",
	":see_no_evil:":            "🙈",
	":rotating_light:":         "🚨",
	":octagonal_sign:":         "🛑",
	":stop_sign:":              "🛑",
	":checkered_flag:":         "🏁",
	":wave:":                   "👋",
	":turtle:":                 "🐢",
	":bell:":                   "🔔",
	":no_bell:":                "🔕",
}

var shortcode = regexp.MustCompile(`:[a-z0-9_+-]+:`)

func emojify(text string) string {
	return shortcode.ReplaceAllStringFunc(text, func(code string) string {
		if e, ok := emoji[code]; ok {
			return e
		}
		return code
	})
}
