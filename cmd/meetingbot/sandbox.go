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
  :user NAME      act as another user (default alice)
  :channel NAME   move to another channel (default general)
  :end / :start   end or restart the demo meeting on the fake meeting API
  :help           this text
  :quit           leave (so does end of input)
`

// sandbox runs the real bot against an in-process fake Slack and fake
// meeting API, with a throwaway database and key, and reads slash commands
// from stdin.
func sandbox(ctx context.Context, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	c, err := loadConfig(getenv, false)
	if err != nil {
		return err
	}
	// The bot's log would interleave with the conversation: show only
	// warnings unless LOG_LEVEL asks for more.
	if getenv("LOG_LEVEL") == "" {
		c.LogLevel = zerolog.WarnLevel
	}
	if getenv("LOG_FORMAT") == "" {
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
	if c.SecretKey, err = store.NewRandomKey(); err != nil {
		return err
	}
	c.DB = filepath.Join(dir, "sandbox.db")
	c.SlackAppToken, c.SlackBotToken = fakeSlack.AppToken(), fakeSlack.BotToken()
	c.SlackAPIURL, c.MeetingAPIURL = fakeSlack.APIURL(), fakeMeetings.URL

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
		command: c.Command, user: "alice", channel: "general"}
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
		if quit := s.handle(strings.TrimSpace(in.Text())); quit {
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
}

var sandboxName = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

// handle runs one input line and reports whether to quit.
func (s *sandboxSession) handle(line string) bool {
	if line == "" {
		return false
	}
	if strings.HasPrefix(line, ":") {
		verb, arg, _ := strings.Cut(strings.TrimPrefix(line, ":"), " ")
		arg = strings.ToLower(strings.TrimSpace(strings.TrimLeft(strings.TrimSpace(arg), "@#")))
		switch verb {
		case "quit", "q", "exit":
			return true
		case "help":
			fmt.Fprint(s.out, sandboxHelp)
		case "user", "channel":
			if !sandboxName.MatchString(arg) {
				fmt.Fprintf(s.out, "  sandbox: :%s takes a short name of lower-case letters and digits, like :%s bob\n", verb, verb)
				return false
			}
			if verb == "user" {
				s.user = arg
			} else {
				s.channel = arg
			}
			fmt.Fprintf(s.out, "  sandbox: you are %s in #%s\n", s.user, s.channel)
		case "end":
			s.meetings.SetState(demoMeetingID, meetingapitest.Ended)
			fmt.Fprintf(s.out, "  sandbox: meeting %s has ended\n", demoMeetingID)
		case "start":
			s.meetings.SetState(demoMeetingID, meetingapitest.InProgress)
			fmt.Fprintf(s.out, "  sandbox: meeting %s is in progress\n", demoMeetingID)
		default:
			fmt.Fprintf(s.out, "  sandbox: unknown control :%s (try :help)\n", verb)
		}
		return false
	}
	command, text := s.command, line
	if strings.HasPrefix(line, "/") {
		command, text, _ = strings.Cut(line, " ")
	}
	s.send(command, escapeLikeSlack(strings.TrimSpace(text)))
	return false
}

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
	ack, err := s.slack.WaitAck(ctx, envID)
	if err != nil {
		fmt.Fprintln(s.out, "  sandbox: the bot did not acknowledge the command (Slack would show the user dispatch_failed)")
		return
	}
	if len(ack.Payload) > 0 {
		s.print("ephemeral", payloadText(ack.Payload))
	}
	// The bot counts a command as in flight before it acks, so once the ack
	// is here, in-flight reaching zero means the reply has been posted.
	for s.bot.InFlight() > 0 && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(s.out, "  sandbox: no reply in time")
	}
	for _, m := range s.slack.MessagesFor(envID) {
		s.print(m.ResponseType, m.Text)
	}
	for _, v := range s.slack.Views() {
		if v.TriggerID == s.slack.TriggerID(envID) {
			fmt.Fprintln(s.out, "  sandbox: Slack would now show a form asking for the host password; here, type it inline: /meeting bind ID PASSWORD")
		}
	}
}

var (
	mentionPattern = regexp.MustCompile(`<@U([A-Z0-9]+)(\|[^>]*)?>`)
	channelPattern = regexp.MustCompile(`<#C([A-Z0-9]+)\|?([^>]*)>`)
)

func (s *sandboxSession) print(responseType, text string) {
	// Show mentions the way Slack would, as @name.
	text = mentionPattern.ReplaceAllStringFunc(text, func(m string) string {
		return "@" + strings.ToLower(mentionPattern.FindStringSubmatch(m)[1])
	})
	text = channelPattern.ReplaceAllString(text, "#$2")
	prefix := "  (only you) "
	if responseType == "in_channel" {
		prefix = "  [#" + s.channel + "] "
	}
	fmt.Fprintln(s.out, prefix+strings.ReplaceAll(text, "\n", "\n"+strings.Repeat(" ", len(prefix))))
}

func payloadText(raw json.RawMessage) string {
	var p struct {
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return string(raw)
	}
	return p.Text
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
