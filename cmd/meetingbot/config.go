package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/store"
)

// config is every setting, read once from the environment at start-up.
type config struct {
	SlackAppToken string
	SlackBotToken string
	SlackAPIURL   string
	MeetingAPIURL string
	DB            string
	SecretKey     store.Key
	Admins        []string
	Command       string
	HTTPAddr      string
	LogLevel      zerolog.Level
	LogFormat     string
}

// configError names the variable and what is wrong with it, never its value.
type configError struct {
	Var     string
	Problem string
}

func (e *configError) Error() string { return e.Var + " " + e.Problem }

// envVar describes one variable: its default, whether it is a secret, and
// how it is checked. The table is also the source of `meetingbot help`.
type envVar struct {
	name     string
	def      string
	secret   bool
	required bool // for `run`
	meaning  string
}

var envVars = []envVar{
	{"SLACK_APP_TOKEN", "", true, true, "app-level token xapp-… with connections:write"},
	{"SLACK_BOT_TOKEN", "", true, true, "bot token xoxb-…"},
	{"SLACK_API_URL", "https://slack.com/api/", false, false, "Slack Web API base"},
	{"MEETING_API_URL", meetingapi.DefaultBaseURL, false, false, "Huawei Cloud Meeting API base"},
	{"MEETINGBOT_DB", "meetingbot.db", false, false, "SQLite database file"},
	{"MEETINGBOT_SECRET_KEY", "", true, true, "32 random bytes, base64; encrypts stored credentials"},
	{"MEETINGBOT_ADMINS", "", false, false, "comma-separated Slack user IDs who may control every channel's meeting"},
	{"MEETINGBOT_COMMAND", "/meeting", false, false, "the slash command's name"},
	{"MEETINGBOT_HTTP_ADDR", "127.0.0.1:8080", false, false, "health and metrics listener; empty or off disables it"},
	{"LOG_LEVEL", "info", false, false, "debug, info, warn or error"},
	{"LOG_FORMAT", "json", false, false, "json or console"},
}

// loadConfig reads and checks the environment. With requireSecrets false
// (the sandbox), the Slack tokens and the key may be absent.
func loadConfig(getenv func(string) string, requireSecrets bool) (config, error) {
	get := func(name string) string {
		v := strings.TrimSpace(getenv(name))
		if v == "" {
			for _, e := range envVars {
				if e.name == name {
					return e.def
				}
			}
		}
		return v
	}
	var c config
	if requireSecrets {
		for _, e := range envVars {
			if e.required && get(e.name) == "" {
				return c, &configError{e.name, "is required (" + e.meaning + ")"}
			}
		}
	}

	c.SlackAppToken = get("SLACK_APP_TOKEN")
	if c.SlackAppToken != "" && !strings.HasPrefix(c.SlackAppToken, "xapp-") {
		return c, &configError{"SLACK_APP_TOKEN", "must be an app-level token starting with xapp-"}
	}
	c.SlackBotToken = get("SLACK_BOT_TOKEN")
	if c.SlackBotToken != "" && !strings.HasPrefix(c.SlackBotToken, "xoxb-") {
		return c, &configError{"SLACK_BOT_TOKEN", "must be a bot token starting with xoxb-"}
	}
	var err error
	if c.SlackAPIURL, err = httpURL("SLACK_API_URL", get("SLACK_API_URL")); err != nil {
		return c, err
	}
	if !strings.HasSuffix(c.SlackAPIURL, "/") {
		c.SlackAPIURL += "/"
	}
	if c.MeetingAPIURL, err = httpURL("MEETING_API_URL", get("MEETING_API_URL")); err != nil {
		return c, err
	}

	c.DB = get("MEETINGBOT_DB")
	if strings.HasPrefix(c.DB, "postgres://") || strings.HasPrefix(c.DB, "postgresql://") {
		return c, &configError{"MEETINGBOT_DB", "selects PostgreSQL, which this version does not support yet; use a SQLite file path"}
	}
	if k := get("MEETINGBOT_SECRET_KEY"); k != "" {
		if c.SecretKey, err = store.ParseKey(k); err != nil {
			return c, &configError{"MEETINGBOT_SECRET_KEY", "must be 32 random bytes in standard base64 (generate one with `openssl rand -base64 32`)"}
		}
	}

	if a := get("MEETINGBOT_ADMINS"); a != "" {
		for _, id := range strings.Split(a, ",") {
			id = strings.TrimSpace(id)
			if id == "" {
				continue
			}
			if !commands.ValidSlackID(id) {
				return c, &configError{"MEETINGBOT_ADMINS", "must be comma-separated Slack user IDs (like U012AB3CD)"}
			}
			c.Admins = append(c.Admins, id)
		}
	}

	c.Command = get("MEETINGBOT_COMMAND")
	if !validCommandName(c.Command) {
		return c, &configError{"MEETINGBOT_COMMAND", "must be a slash command like /meeting: a leading /, then up to 31 lower-case letters, digits, - or _"}
	}

	c.HTTPAddr = get("MEETINGBOT_HTTP_ADDR")
	if c.HTTPAddr == httpAddrOff {
		c.HTTPAddr = ""
	} else {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			return c, &configError{"MEETINGBOT_HTTP_ADDR", "must be host:port (like 127.0.0.1:8080 or :8080), or empty to disable"}
		}
	}

	if c.LogLevel, err = zerolog.ParseLevel(strings.ToLower(get("LOG_LEVEL"))); err != nil || c.LogLevel == zerolog.NoLevel {
		return c, &configError{"LOG_LEVEL", "must be one of debug, info, warn, error"}
	}
	c.LogFormat = strings.ToLower(get("LOG_FORMAT"))
	if c.LogFormat != "json" && c.LogFormat != "console" {
		return c, &configError{"LOG_FORMAT", "must be json or console"}
	}
	return c, nil
}

// httpAddrOff disables the health listener. A getenv function cannot tell
// an empty variable from an unset one, so main maps MEETINGBOT_HTTP_ADDR=""
// to this value (see osGetenv).
const httpAddrOff = "off"

func httpURL(name, v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return "", &configError{name, "must be an absolute http:// or https:// URL without credentials"}
	}
	return v, nil
}

func validCommandName(s string) bool {
	if len(s) < 2 || len(s) > 32 || s[0] != '/' {
		return false
	}
	for _, r := range s[1:] {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// mask shows that a secret is set without showing it.
func mask(v string) string {
	if v == "" {
		return "(unset)"
	}
	if i := strings.IndexByte(v, '-'); i > 0 && i <= 5 {
		return v[:i+1] + "****"
	}
	return "****"
}

// logConfig logs the effective configuration once, secrets masked.
func (c config) log(l zerolog.Logger) {
	l.Info().
		Str("SLACK_APP_TOKEN", mask(c.SlackAppToken)).
		Str("SLACK_BOT_TOKEN", mask(c.SlackBotToken)).
		Str("SLACK_API_URL", c.SlackAPIURL).
		Str("MEETING_API_URL", c.MeetingAPIURL).
		Str("MEETINGBOT_DB", c.DB).
		Str("MEETINGBOT_SECRET_KEY", "**** (fingerprint "+c.SecretKey.Fingerprint()+")").
		Strs("MEETINGBOT_ADMINS", c.Admins).
		Str("MEETINGBOT_COMMAND", c.Command).
		Str("MEETINGBOT_HTTP_ADDR", c.HTTPAddr).
		Str("LOG_LEVEL", c.LogLevel.String()).
		Str("LOG_FORMAT", c.LogFormat).
		Msg("configuration")
}

func configHelp() string {
	var b strings.Builder
	b.WriteString("Environment:\n")
	for _, e := range envVars {
		def := e.def
		if e.required {
			def = "required"
		} else if def == "" {
			def = "empty"
		}
		fmt.Fprintf(&b, "  %-22s %s (%s)\n", e.name, e.meaning, def)
	}
	return b.String()
}
