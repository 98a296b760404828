package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
)

// The demo meeting the sandbox's fake meeting API runs.
const (
	demoMeetingID       = "914083136"
	demoMeetingPassword = "123456"
)

// sandboxReplyTimeout bounds how long the sandbox waits for one command.
const sandboxReplyTimeout = 30 * time.Second

const sandboxHelp = `Type slash commands as a Slack user would, e.g.
  /meeting bind 914083136 123456
  /meeting lock
Mention people and channels as in Slack: /meeting grant @bob
Sandbox controls:
  :user NAME          act as another user (default alice)
  :channel NAME       move to another channel (default general)
  :press N            press button [N] (Slack's confirm dialog is answered yes)
  :form PASSWORD      fill in and submit the open bind form (:cancel closes it)
  :end / :start       end or restart the demo meeting
  :slow 4.5s | :slow off  the meeting API answers that late (the bot says "Still trying"
                          after 4 s; a call gives up after 5 s and is retried)
  :fail N CODE [HTTP]     the next N lock/unlock calls fail with the vendor's CODE
                          (MMC.111072049 five times opens the circuit breaker)
  :flow N             flow control: the next N lock/unlock calls answer 429 100000429
  :expire             expire every control token (the bot fetches a new one)
  :password NEW       the host changes the meeting's password (then :expire to see it matter)
  :help               this text
  :quit               leave (so does end of input)
`

// sandbox runs the real bot against an in-process fake Slack and fake
// meeting API, with a throwaway database and key, and reads slash commands
// and controls from stdin.
func sandbox(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	c, err := loadConfig(false)
	if err != nil {
		return err
	}
	// The bot's log would interleave with the conversation: show only
	// warnings unless LOG_LEVEL asks for more.
	if _, set := os.LookupEnv("LOG_LEVEL"); !set {
		c.LogLevel = logLevel(zerolog.WarnLevel)
	}
	if _, set := os.LookupEnv("LOG_FORMAT"); !set {
		c.LogFormat = "console"
	}
	log := newLogger(c, stdout)

	fakeSlack := slacktest.New()
	defer fakeSlack.Close()
	fakeMeetings := meetingapitest.NewServer()
	defer fakeMeetings.Close()
	fakeMeetings.AddMeeting(demoMeetingID, demoMeetingPassword, meetingapitest.InProgress)

	dir, err := os.MkdirTemp("", "meetingbot-sandbox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if c.key, err = store.NewRandomKey(); err != nil {
		return err
	}
	c.DB = database(filepath.Join(dir, "sandbox.db"))
	c.SlackAppToken, c.SlackBotToken = fakeSlack.AppToken(), fakeSlack.BotToken()
	c.SlackAPIURL, c.MeetingAPIURL = baseURL(fakeSlack.APIURL()), baseURL(fakeMeetings.URL)

	a, err := assemble(ctx, c, log)
	if err != nil {
		return err
	}
	defer a.store.Close()
	b := a.bot

	botCtx, stopBot := context.WithCancel(ctx)
	botDone := make(chan error, 1)
	go func() { botDone <- b.Run(botCtx) }()
	defer func() {
		stopBot()
		<-botDone
	}()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = fakeSlack.WaitConnections(wctx, 1)
	cancel()
	if err != nil {
		return fmt.Errorf("sandbox: the bot did not connect to the fake Slack: %w", err)
	}

	fmt.Fprintf(stdout, `meetingbot sandbox: the real bot, connected over Socket Mode to a fake Slack, with a fake meeting API.
Demo meeting %s is in progress; its host password is %s.
Nothing here reaches the internet, and everything is thrown away on exit.

%s
`, demoMeetingID, demoMeetingPassword, sandboxHelp)

	s := &sandboxSession{ctx: ctx, slack: fakeSlack, meetings: fakeMeetings, bot: b, out: stdout,
		command: string(c.Command), user: "alice", channel: "general",
		envChannel: map[string]string{}, buttons: map[int]sandboxButton{}}
	interactive := isTerminal(stdin)
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 64*1024), 64*1024)
	for {
		if interactive {
			fmt.Fprintf(stdout, "%s in #%s> ", s.user, s.channel)
		}
		if !in.Scan() {
			break
		}
		line := strings.TrimSpace(in.Text())
		if !interactive && line != "" {
			// Echo what a terminal would show, so a scripted run reads as
			// a transcript.
			fmt.Fprintf(stdout, "%s in #%s> %s\n", s.user, s.channel, line)
		}
		if quit := s.handle(line); quit {
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err := in.Err(); err != nil {
		return fmt.Errorf("sandbox: reading input: %w", err)
	}
	return nil
}

type sandboxSession struct {
	ctx           context.Context
	slack         *slacktest.Server
	meetings      *meetingapitest.Server
	bot           *bot.Bot
	out           io.Writer
	command       string
	user, channel string

	printed    int               // messages of the fake Slack shown so far
	envChannel map[string]string // envelope → channel name, for response_url posts
	buttons    map[int]sandboxButton
	nextButton int
	pressed    int          // the button pressed last
	messages   int          // messages printed
	form       *sandboxForm // the bind form Slack would show, if any
}

// sandboxButton is a button shown under a message, which :press presses.
type sandboxButton struct {
	Label, ActionID, Value string
	Confirm                string // the confirm dialog, as one line; "" if none
	Channel                string // where the message with the button is
	Message                int    // which printed message holds it
}

// sandboxForm is the bind form views.open opened.
type sandboxForm struct {
	CallbackID, PrivateMetadata, User string
}

var sandboxName = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

// handle runs one input line and reports whether to quit.
func (s *sandboxSession) handle(line string) bool {
	if line == "" {
		return false
	}
	if !strings.HasPrefix(line, ":") {
		command, text := s.command, line
		if strings.HasPrefix(line, "/") {
			command, text, _ = strings.Cut(line, " ")
		}
		s.send(command, escapeLikeSlack(strings.TrimSpace(text)))
		return false
	}
	verb, rest, _ := strings.Cut(strings.TrimPrefix(line, ":"), " ")
	args := strings.Fields(rest)
	say := func(format string, a ...any) { fmt.Fprintf(s.out, "  sandbox: "+format+"\n", a...) }
	switch verb {
	case "quit", "q", "exit":
		return true
	case "help":
		fmt.Fprint(s.out, sandboxHelp)
	case "user", "channel":
		arg := ""
		if len(args) == 1 {
			arg = strings.ToLower(strings.TrimLeft(args[0], "@#"))
		}
		if !sandboxName.MatchString(arg) {
			say(":%s takes a short name of lower-case letters and digits, like :%s bob", verb, verb)
			return false
		}
		if verb == "user" {
			s.user = arg
		} else {
			s.channel = arg
		}
		say("you are %s in #%s", s.user, s.channel)
	case "end":
		s.meetings.SetState(demoMeetingID, meetingapitest.Ended)
		say("meeting %s has ended", demoMeetingID)
	case "start":
		s.meetings.SetState(demoMeetingID, meetingapitest.InProgress)
		say("meeting %s is in progress", demoMeetingID)
	case "slow":
		d, err := time.ParseDuration(strings.Join(args, ""))
		if len(args) == 1 && (args[0] == "off" || args[0] == "0") {
			d, err = 0, nil
		}
		if err != nil || d < 0 || d > time.Minute {
			say(":slow takes a duration up to 1m, like :slow 4.5s, or off")
			return false
		}
		s.meetings.SetLatency(d)
		if d == 0 {
			say("the meeting API answers at once again")
		} else {
			say("the meeting API now takes %s to answer each call", d)
		}
	case "fail":
		n, code, status, ok := parseFail(args)
		if !ok {
			say(":fail takes a count, a vendor error code and optionally an HTTP status, like :fail 5 MMC.111072049 or :fail 1 MMC.111070002 403")
			return false
		}
		s.meetings.FailNext(meetingapitest.EndpointLock, n, status, code)
		say("%s HTTP %d %s", nextCalls(n), status, code)
	case "flow":
		n := 1
		if len(args) == 1 {
			if v, err := strconv.Atoi(args[0]); err == nil && v >= 1 && v <= 100 {
				n = v
			} else {
				n = 0
			}
		}
		if n == 0 || len(args) > 1 {
			say(":flow takes a count from 1 to 100, like :flow 2")
			return false
		}
		s.meetings.FailNext(meetingapitest.EndpointLock, n, 429, "100000429")
		say("%s HTTP 429 100000429 (flow control; the bot waits as Retry-After says and tries again)", nextCalls(n))
	case "expire":
		s.meetings.ExpireTokens()
		say("every control token issued so far has expired")
	case "password":
		if len(args) != 1 || len(args[0]) > 64 {
			say(":password takes the new host password, like :password 654321")
			return false
		}
		s.meetings.SetPassword(demoMeetingID, args[0])
		say("the host changed meeting %s's password; tokens already issued work until they expire (:expire ends them now)", demoMeetingID)
	case "press":
		n, err := strconv.Atoi(strings.Join(args, ""))
		btn, ok := s.buttons[n]
		if err != nil || !ok {
			say("there is no button [%s]; buttons show under messages as [1] Unlock, and a replaced message loses its buttons", strings.Join(args, " "))
			return false
		}
		s.pressed = n
		s.press(btn)
	case "form":
		if s.form == nil {
			say("no form is open; /meeting bind %s opens one", demoMeetingID)
			return false
		}
		s.submitForm(strings.Join(args, " "))
	case "cancel":
		if s.form == nil {
			say("no form is open")
			return false
		}
		s.form = nil
		say("form closed; nothing was stored")
	default:
		say("unknown control :%s (try :help)", verb)
	}
	return false
}

// parseFail reads ":fail N CODE [STATUS]". Without a status, the code's
// usual one is used.
func parseFail(args []string) (n int, code string, status int, ok bool) {
	if len(args) < 2 || len(args) > 3 {
		return 0, "", 0, false
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > 100 || !vendorCode.MatchString(args[1]) {
		return 0, "", 0, false
	}
	code = args[1]
	switch code {
	case "100000429":
		status = 429
	case "MMC.111072049":
		status = 500
	case "MMC.111070004", "USG.000000004":
		status = 401
	case "MMC.111070002":
		status = 403
	default:
		status = 400
	}
	if len(args) == 3 {
		if status, err = strconv.Atoi(args[2]); err != nil || status < 400 || status > 599 {
			return 0, "", 0, false
		}
	}
	return n, code, status, true
}

func nextCalls(n int) string {
	if n == 1 {
		return "the next lock/unlock call answers"
	}
	return fmt.Sprintf("the next %d lock/unlock calls answer", n)
}

var vendorCode = regexp.MustCompile(`^[A-Za-z0-9.]{1,32}$`)

func sandboxID(prefix, name string) string {
	return prefix + strings.ToUpper(name)
}

var (
	userMention    = regexp.MustCompile(`(^|\s)@([a-z0-9]{1,20})\b`)
	channelMention = regexp.MustCompile(`(^|\s)#([a-z0-9]{1,20})\b`)
)

// escapeLikeSlack does what Slack does to slash-command text with
// should_escape: & < > become entities, and @name / #channel become
// <@U…|name> / <#C…|channel>.
func escapeLikeSlack(text string) string {
	text = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(text)
	text = userMention.ReplaceAllStringFunc(text, func(m string) string {
		sub := userMention.FindStringSubmatch(m)
		return sub[1] + "<@" + sandboxID("U", sub[2]) + "|" + sub[2] + ">"
	})
	return channelMention.ReplaceAllStringFunc(text, func(m string) string {
		sub := channelMention.FindStringSubmatch(m)
		return sub[1] + "<#" + sandboxID("C", sub[2]) + "|" + sub[2] + ">"
	})
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
	s.follow(ctx, func() bool { return s.bot.InFlight() == 0 })
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
			s.print("(only you) ", p.Text, p.Blocks, s.channel)
		}
		for _, e := range p.Errors {
			fmt.Fprintf(s.out, "  (form) %s\n", emojify(e))
		}
	}
	return true
}

// follow prints the bot's messages as they arrive until done reports true
// (checked after the messages so far are printed) or time runs out.
func (s *sandboxSession) follow(ctx context.Context, done func() bool) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		s.printNew()
		if done() {
			s.printNew()
			return
		}
		select {
		case <-ctx.Done():
			fmt.Fprintln(s.out, "  sandbox: no reply in time")
			return
		case <-tick.C:
		}
	}
}

func (s *sandboxSession) printNew() {
	msgs := s.slack.Messages()
	for _, m := range msgs[s.printed:] {
		channel := s.envChannel[m.EnvelopeID]
		if m.Channel != "" {
			channel = strings.ToLower(strings.TrimPrefix(m.Channel, "C"))
		}
		var prefix string
		switch {
		case m.Via == "response_url" && m.ResponseType == "in_channel":
			prefix = "[#" + channel + "] "
		case m.Via == "response_url", m.Via == "chat.postEphemeral":
			prefix = "(only you) "
		case m.Via == "chat.postMessage" && strings.HasPrefix(m.Channel, "U"):
			prefix = "(direct message) "
		case m.Via == "chat.update":
			prefix = "[#" + channel + "] (updated) "
		default:
			prefix = "[#" + channel + "] "
		}
		text := m.Text
		if m.ReplaceOriginal {
			text = fmt.Sprintf("(replaces the message with [%d]) %s", s.pressed, text)
			// The old message, and every button on it, is gone.
			gone := s.buttons[s.pressed].Message
			for n, b := range s.buttons {
				if b.Message == gone {
					delete(s.buttons, n)
				}
			}
		}
		s.print(prefix, text, m.Blocks, channel)
	}
	s.printed = len(msgs)
}

var (
	mentionPattern = regexp.MustCompile(`<@U([A-Z0-9]+)(\|[^>]*)?>`)
	channelPattern = regexp.MustCompile(`<#C([A-Z0-9]+)\|?([^>]*)>`)
)

// print shows a message as Slack would: mentions as @name, emoji as emoji,
// and its buttons numbered for :press.
func (s *sandboxSession) print(prefix, text string, blocks json.RawMessage, channel string) {
	text = mentionPattern.ReplaceAllStringFunc(text, func(m string) string {
		return "@" + strings.ToLower(mentionPattern.FindStringSubmatch(m)[1])
	})
	text = channelPattern.ReplaceAllString(text, "#$2")
	text = emojify(text)
	prefix = "  " + prefix
	indent := strings.Repeat(" ", len([]rune(prefix)))
	fmt.Fprintln(s.out, prefix+strings.ReplaceAll(text, "\n", "\n"+indent))
	s.messages++
	var labels []string
	for _, btn := range buttonsIn(blocks) {
		s.nextButton++
		btn.Channel, btn.Message = channel, s.messages
		s.buttons[s.nextButton] = btn
		labels = append(labels, fmt.Sprintf("[%d] %s", s.nextButton, btn.Label))
	}
	if len(labels) > 0 {
		fmt.Fprintln(s.out, indent+strings.Join(labels, "   ")+"   (:press N)")
	}
}

// buttonsIn lists the buttons of a message's actions blocks.
func buttonsIn(blocks json.RawMessage) []sandboxButton {
	type text struct {
		Text string `json:"text"`
	}
	var bs []struct {
		Type     string `json:"type"`
		Elements []struct {
			Type     string `json:"type"`
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
			Text     text   `json:"text"`
			Confirm  *struct {
				Title   text `json:"title"`
				Text    text `json:"text"`
				Confirm text `json:"confirm"`
				Deny    text `json:"deny"`
			} `json:"confirm"`
		} `json:"elements"`
	}
	if len(blocks) == 0 || json.Unmarshal(blocks, &bs) != nil {
		return nil
	}
	var out []sandboxButton
	for _, b := range bs {
		if b.Type != "actions" {
			continue
		}
		for _, e := range b.Elements {
			if e.Type != "button" {
				continue
			}
			btn := sandboxButton{Label: e.Text.Text, ActionID: e.ActionID, Value: e.Value}
			if c := e.Confirm; c != nil {
				btn.Confirm = fmt.Sprintf("%q %s [%s] [%s]", c.Title.Text, c.Text.Text, c.Confirm.Text, c.Deny.Text)
			}
			out = append(out, btn)
		}
	}
	return out
}

// press clicks a button as the current user, answering Slack's confirm
// dialog yes, and shows what follows.
func (s *sandboxSession) press(btn sandboxButton) {
	if btn.Confirm != "" {
		fmt.Fprintf(s.out, "  sandbox: Slack asks first: %s; answering %s\n", emojify(btn.Confirm), "yes")
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
			"container":    map[string]any{"type": "message", "channel_id": sandboxID("C", btn.Channel), "is_ephemeral": false},
			"trigger_id":   info.TriggerID,
			"channel":      map[string]any{"id": sandboxID("C", btn.Channel), "name": btn.Channel},
			"response_url": info.ResponseURL,
			"actions": []any{map[string]any{
				"action_id": btn.ActionID, "block_id": "meeting_actions", "type": "button", "value": btn.Value,
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
	s.follow(ctx, func() bool { return len(s.slack.Messages()) > before && s.bot.InFlight() == 0 })
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
	s.follow(ctx, func() bool { return s.bot.InFlight() == 0 })
}

// emoji maps the shortcodes meetingbot writes to what Slack shows. A
// shortcode not listed stays as it is.
var emoji = map[string]string{
	":lock:":                   "🔒",
	":unlock:":                 "🔓",
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
	":sound:":                  "🔉",
	":door:":                   "🚪",
	":stopwatch:":              "⏱️",
	":eyes:":                   "👀",
	":rotating_light:":         "🚨",
	":octagonal_sign:":         "🛑",
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
