package main

import (
	"bufio"
	"context"
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

// The sandbox is three files: this one (start-up, the input loop and the
// controls), sandbox_slack.go (what Slack shows and what a click or the
// form sends) and sandbox_meeting.go (the demo meeting, its people and the
// join alerts).

// sandboxReplyTimeout bounds how long the sandbox waits for one command.
const sandboxReplyTimeout = 30 * time.Second

const sandboxHelp = `Type slash commands as a Slack user would, e.g.
  /meeting bind 914083136 123456
  /meeting who
Mention people and channels as in Slack: /meeting grant @bob
Sandbox controls:
  :user NAME          act as another user (default alice)
  :channel NAME       move to another channel (default general)
  :press N            press button [N] (Slack's confirm dialog is answered yes)
  :form PASSWORD      fill in and submit the open bind form (:cancel closes it)
  :join NAME [--anonymous | --org ORG] [--invited]
                      someone joins the demo meeting (a stranger: --anonymous, or
                      from another organisation); a watched meeting posts an alert
  :leave NAME         someone leaves the demo meeting
  :people             the demo meeting as the meeting service sees it
  :end / :start       end the demo meeting for good, or start it again
  :kick               remove meetingbot from this channel (/invite @meetingbot
                      brings it back)
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

// sandbox runs the real bot and its join-alert runner against an
// in-process fake Slack and fake meeting API, with a throwaway database and
// key, and reads slash commands and controls from stdin.
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
	fakeMeetings.AddMeeting(demoMeetingID, demoMeetingPassword, meetingapitest.InProgress, meetingapitest.WithWaitingRoom())
	if _, refused := seatDemoCast(fakeMeetings); len(refused) > 0 {
		return fmt.Errorf("sandbox: the demo meeting refused %s", strings.Join(refused, ", "))
	}

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
	// The service starts and stops watches through this, so the sandbox
	// knows which channels watch the demo meeting and when to wait for
	// the runner.
	watches := &sandboxWatches{Runner: a.watches, slack: fakeSlack, channels: map[string]int{}}
	a.svc.UseWatches(watches)

	botCtx, stopBot := context.WithCancel(ctx)
	botDone := make(chan error, 1)
	go func() { botDone <- b.Run(botCtx) }()
	defer func() {
		stopBot()
		<-botDone
	}()
	// As serve does: the runner stops (giving its leases up) before the
	// store closes.
	watchCtx, stopWatching := context.WithCancel(ctx)
	watching := make(chan struct{})
	go func() { defer close(watching); _ = a.watches.Run(watchCtx) }()
	defer func() { stopWatching(); <-watching }()

	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = fakeSlack.WaitConnections(wctx, 1)
	cancel()
	if err != nil {
		return fmt.Errorf("sandbox: the bot did not connect to the fake Slack: %w", err)
	}

	fmt.Fprintf(stdout, `meetingbot sandbox: the real bot, connected over Socket Mode to a fake Slack, with a fake meeting API.
Demo meeting %s is in progress; its host password is %s.
In it: %s.
Nothing here reaches the internet, and everything is thrown away on exit.

%s
`, demoMeetingID, demoMeetingPassword, demoCastLine, sandboxHelp)

	s := &sandboxSession{ctx: ctx, slack: fakeSlack, meetings: fakeMeetings, bot: b, watches: watches, out: stdout,
		command: string(c.Command), user: "alice", channel: "general",
		envChannel: map[string]string{}, printedEarly: map[int]bool{}, buttons: map[int]sandboxButton{}}
	interactive := isTerminal(stdin)
	in := bufio.NewScanner(stdin)
	in.Buffer(make([]byte, 64*1024), 64*1024)
	for {
		// Posts that came on their own (join alerts) show before the
		// prompt, never in the middle of a line being typed.
		s.printNew("")
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
		before := s.observe()
		if quit := s.handle(line); quit {
			break
		}
		s.settle(before)
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
	watches       *sandboxWatches
	out           io.Writer
	command       string
	user, channel string

	printed      int               // messages of the fake Slack shown so far
	printedEarly map[int]bool      // messages shown ahead of earlier ones
	envChannel   map[string]string // envelope → channel name, for response_url posts
	buttons      map[int]sandboxButton
	nextButton   int
	pressed      int          // the button pressed last
	messages     int          // messages printed
	form         *sandboxForm // the bind form Slack would show, if any
}

var sandboxName = regexp.MustCompile(`^[a-z0-9]{1,20}$`)

func (s *sandboxSession) say(format string, a ...any) {
	fmt.Fprintf(s.out, "  sandbox: "+format+"\n", a...)
}

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
		if command == "/invite" {
			s.invite(text)
			return false
		}
		s.send(command, escapeLikeSlack(strings.TrimSpace(text)))
		return false
	}
	verb, rest, _ := strings.Cut(strings.TrimPrefix(line, ":"), " ")
	args := strings.Fields(rest)
	say := s.say
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
	case "join":
		s.join(args)
	case "leave":
		s.leave(strings.Join(args, " "))
	case "people":
		s.showPeople()
	case "end":
		s.meetings.SetState(demoMeetingID, meetingapitest.Ended)
		say("meeting %s has ended, and everyone in it has left", demoMeetingID)
	case "start":
		s.start()
	case "kick":
		s.slack.SetNotInChannel(sandboxID("C", s.channel))
		say("meetingbot is no longer a member of #%s: commands still work (their replies use the command's response_url), but it cannot post here on its own; /invite @meetingbot brings it back", s.channel)
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

// invite does what Slack's /invite does for the bot: it becomes a member
// of the channel again.
func (s *sandboxSession) invite(text string) {
	if strings.TrimSpace(text) != "@meetingbot" {
		s.say("in the sandbox, /invite only takes @meetingbot")
		return
	}
	s.slack.SetInChannel(sandboxID("C", s.channel))
	s.say("meetingbot is a member of #%s again", s.channel)
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
