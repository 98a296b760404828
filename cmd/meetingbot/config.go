package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/kelseyhightower/envconfig"
	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/store"
)

// config is every setting, read once from the environment at start-up. The
// struct tags are the single list of variables: envconfig parses them, and
// `meetingbot help` and the start-up log are generated from them.
type config struct {
	Secrets
	Settings

	key store.Key // MEETINGBOT_SECRET_KEY once checked
}

// Secrets are what `run` and `doctor` need and nothing may print. They are
// plain strings, checked after parsing (checkSecrets), so no envconfig
// error can ever quote one.
type Secrets struct {
	SlackAppToken string `envconfig:"SLACK_APP_TOKEN" required:"true" secret:"true" desc:"app-level token xapp-… (scope connections:write)"`
	SlackBotToken string `envconfig:"SLACK_BOT_TOKEN" required:"true" secret:"true" desc:"bot token xoxb-…"`
	SecretKey     string `envconfig:"MEETINGBOT_SECRET_KEY" required:"true" secret:"true" desc:"32 random bytes, base64 (std encoding; openssl rand -base64 32); encrypts stored credentials"`
}

// Settings are the rest. Each type's Decode checks its value and says what
// is wrong without repeating it.
type Settings struct {
	SlackAPIURL   baseURL     `envconfig:"SLACK_API_URL" default:"https://slack.com/api/" desc:"Slack Web API base; tests and the sandbox point it at a fake"`
	MeetingAPIURL baseURL     `envconfig:"MEETING_API_URL" default:"https://api.meeting.huaweicloud.com" desc:"meeting API base (https://api-intl.meeting.huaweicloud.com for the international site, or a private deployment)"`
	DB            database    `envconfig:"MEETINGBOT_DB" default:"meetingbot.db" desc:"a SQLite file path; a postgres:// or postgresql:// URL selects PostgreSQL, so several replicas can share one database"`
	Admins        adminList   `envconfig:"MEETINGBOT_ADMINS" desc:"comma-separated Slack user IDs (U… or W…) who may control every channel's meeting"`
	Command       commandName `envconfig:"MEETINGBOT_COMMAND" default:"/meeting" desc:"the slash command name, in case a workspace already uses /meeting; must match the manifest"`
	HTTPAddr      httpAddr    `envconfig:"MEETINGBOT_HTTP_ADDR" default:"127.0.0.1:8080" desc:"health and metrics listener (/healthz, /readyz, /metrics); off disables it"`
	LogLevel      logLevel    `envconfig:"LOG_LEVEL" default:"info" desc:"trace, debug, info, warn or error"`
	LogFormat     logFormat   `envconfig:"LOG_FORMAT" default:"json" desc:"json or console (coloured only on a terminal)"`
	Lease         lease       `envconfig:"MEETINGBOT_LEASE" default:"30s" desc:"how long a replica's hold on a command it acknowledged, on a meeting it is controlling and on a watch lasts without renewal: when a replica dies, another finishes its commands and takes its watches after this (1s to 5m; renewed every third of it)"`
}

// configError names the variable and what is wrong with it, never its value.
type configError struct {
	Var     string
	Problem string
	// Transient is set for a problem with what the variable names that may
	// pass without a change of settings (a full disk, a server down); it
	// exits with status 1, so a process manager restarts the bot.
	Transient bool
}

func (e *configError) Error() string { return e.Var + " " + e.Problem }

// loadConfig reads and checks the environment. With needSecrets false (the
// sandbox, which makes its own), the Slack tokens and the key are not read.
func loadConfig(needSecrets bool) (config, error) {
	var c config
	var spec any = &c.Settings
	if needSecrets {
		spec = &c
	}
	if err := envconfig.Process("", spec); err != nil {
		return c, fromEnvconfig(err)
	}
	if !needSecrets {
		return c, nil
	}
	return c, c.checkSecrets()
}

// fromEnvconfig turns envconfig's errors, which quote the value, into a
// configError that names the variable only.
func fromEnvconfig(err error) error {
	var pe *envconfig.ParseError
	if errors.As(err, &pe) {
		problem := pe.Err.Error()
		if errors.Is(pe.Err, errEmpty) {
			if f, ok := varField(pe.KeyName); ok {
				problem += "; unset it to use the default (" + f.Tag.Get("default") + ")"
			}
		}
		return &configError{Var: pe.KeyName, Problem: problem}
	}
	// envconfig words a missing required variable "required key X missing value".
	if name, ok := strings.CutPrefix(err.Error(), "required key "); ok {
		name = strings.TrimSuffix(name, " missing value")
		if f, ok := varField(name); ok {
			return &configError{Var: name, Problem: "is required: " + f.Tag.Get("desc")}
		}
	}
	return err
}

func (c *config) checkSecrets() error {
	for _, s := range []struct {
		name, value, prefix, what string
	}{
		{"SLACK_APP_TOKEN", c.SlackAppToken, "xapp-", "an app-level token starting with xapp- (Basic Information → App-Level Tokens)"},
		{"SLACK_BOT_TOKEN", c.SlackBotToken, "xoxb-", "a bot token starting with xoxb- (OAuth & Permissions → Bot User OAuth Token)"},
	} {
		switch {
		case strings.TrimSpace(s.value) == "":
			return &configError{Var: s.name, Problem: "is required: " + s.what}
		case strings.ContainsFunc(s.value, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
			return &configError{Var: s.name, Problem: "contains spaces or control characters; copy the token again, without quotes or a line break"}
		case !strings.HasPrefix(s.value, s.prefix):
			return &configError{Var: s.name, Problem: "must be " + s.what}
		}
	}
	if strings.TrimSpace(c.SecretKey) == "" {
		return &configError{Var: "MEETINGBOT_SECRET_KEY", Problem: "is required: 32 random bytes in standard base64 (generate one with `openssl rand -base64 32`)"}
	}
	key, err := store.ParseKey(c.SecretKey)
	if err != nil {
		return &configError{Var: "MEETINGBOT_SECRET_KEY", Problem: "must be 32 random bytes in standard base64 (generate one with `openssl rand -base64 32`)"}
	}
	c.key = key
	return nil
}

// errEmpty is what a variable with a default says when it is set to "".
var errEmpty = errors.New("is set but empty")

// errSpaces: a value pasted with a space around it would otherwise name
// another file (a new, empty database) or another URL.
var errSpaces = errors.New("has spaces or line breaks before or after it")

func padded(v string) bool { return v != strings.TrimSpace(v) }

// baseURL is an absolute http(s) URL without credentials. http:// is for
// local fakes.
type baseURL string

func (u *baseURL) Decode(v string) error {
	if v == "" {
		return errEmpty
	}
	if padded(v) {
		return errSpaces
	}
	p, err := url.Parse(v)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" || p.User != nil || p.RawQuery != "" || p.Fragment != "" {
		return errors.New("must be an absolute http:// or https:// URL without credentials, query or fragment")
	}
	*u = baseURL(v)
	return nil
}

// withSlash is the URL ending in "/", as slack-go's OptionAPIURL needs.
func (u baseURL) withSlash() string {
	if strings.HasSuffix(string(u), "/") {
		return string(u)
	}
	return string(u) + "/"
}

// database is MEETINGBOT_DB: a SQLite file path or a PostgreSQL URL. A URL
// may hold a password, so it is shown only through String, which redacts it.
type database string

func (d *database) Decode(v string) error {
	switch {
	case v == "":
		return errEmpty
	case padded(v):
		return errSpaces
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		if u, err := url.Parse(v); err != nil || u.Host == "" {
			return errors.New("is not a valid PostgreSQL URL (postgres://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full)")
		}
	case strings.Contains(v, "://"):
		return errors.New("must be a SQLite file path or a postgres:// or postgresql:// URL")
	case strings.ContainsFunc(v, unicode.IsControl):
		return errors.New("contains control characters")
	}
	*d = database(v)
	return nil
}

// postgres reports whether the value selects PostgreSQL.
func (d database) postgres() bool {
	return strings.HasPrefix(string(d), "postgres://") || strings.HasPrefix(string(d), "postgresql://")
}

// secretParams are the URL parameters pgx reads a password from.
var secretParams = []string{"password", "sslpassword"}

// String is the value with any password, in the user part or as a
// parameter, replaced by "xxxxx".
func (d database) String() string {
	if !d.postgres() {
		return string(d)
	}
	u, err := url.Parse(string(d))
	if err != nil {
		return "postgres://(unreadable)"
	}
	q := u.Query()
	for _, k := range secretParams {
		if q.Has(k) {
			q.Set(k, "xxxxx")
		}
	}
	u.RawQuery = q.Encode()
	return u.Redacted()
}

// passwords are the secrets the value holds, for scrubbing messages.
func (d database) passwords() []string {
	if !d.postgres() {
		return nil
	}
	u, err := url.Parse(string(d))
	if err != nil {
		return nil
	}
	var out []string
	if pw, ok := u.User.Password(); ok && pw != "" {
		out = append(out, pw)
	}
	q := u.Query()
	for _, k := range secretParams {
		for _, v := range q[k] {
			if v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// adminList is MEETINGBOT_ADMINS. Admins are not secret, so an error may
// name the entry that is wrong.
type adminList []string

func (a *adminList) Decode(v string) error {
	var ids adminList
	for i, id := range strings.Split(v, ",") {
		id = strings.TrimSpace(id)
		if id == "" {
			continue // "U1,U2," and an empty variable are fine
		}
		if !slackUserID(id) {
			if len([]rune(id)) > 24 {
				id = string([]rune(id)[:24]) + "…"
			}
			return fmt.Errorf("entry %d (%q) is not a Slack user ID: user IDs are U or W followed by upper-case letters and digits, like U012AB3CD (in Slack: the person's profile → ⋮ → Copy member ID)", i+1, id)
		}
		ids = append(ids, id)
	}
	*a = ids
	return nil
}

func slackUserID(s string) bool {
	if len(s) < 3 || len(s) > 32 || (s[0] != 'U' && s[0] != 'W') {
		return false
	}
	for _, r := range s[1:] {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// commandName is a slash command: "/" then up to 31 lower-case letters,
// digits, - or _.
type commandName string

func (c *commandName) Decode(v string) error {
	if v == "" {
		return errEmpty
	}
	ok := len(v) >= 2 && len(v) <= 32 && v[0] == '/'
	for _, r := range v[1:] {
		ok = ok && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}
	if !ok {
		return errors.New("must be a slash command like /meeting: a leading /, then up to 31 lower-case letters, digits, - or _")
	}
	*c = commandName(v)
	return nil
}

// httpAddr is host:port, or "" once MEETINGBOT_HTTP_ADDR=off disabled it.
type httpAddr string

func (h *httpAddr) Decode(v string) error {
	switch v {
	case "off":
		*h = ""
		return nil
	case "":
		return errors.New("is set but empty; unset it for the default (127.0.0.1:8080), or set it to off to disable the listener")
	}
	if padded(v) {
		return errSpaces
	}
	_, port, err := net.SplitHostPort(v)
	if err == nil {
		_, err = strconv.ParseUint(port, 10, 16)
	}
	if err != nil {
		return errors.New("must be host:port with a port from 0 to 65535 (like 127.0.0.1:8080 or :8080), or off to disable the listener")
	}
	*h = httpAddr(v)
	return nil
}

func (h httpAddr) String() string {
	if h == "" {
		return "off"
	}
	return string(h)
}

// logLevel is a zerolog level that logs something: not disabled, and not
// panic or fatal, which would hide every warning and error.
type logLevel zerolog.Level

func (l *logLevel) Decode(v string) error {
	for _, lv := range []zerolog.Level{zerolog.TraceLevel, zerolog.DebugLevel, zerolog.InfoLevel, zerolog.WarnLevel, zerolog.ErrorLevel} {
		if strings.EqualFold(v, lv.String()) {
			*l = logLevel(lv)
			return nil
		}
	}
	if v == "" {
		return errEmpty
	}
	return errors.New("must be trace, debug, info, warn or error")
}

func (l logLevel) String() string { return zerolog.Level(l).String() }

type logFormat string

func (f *logFormat) Decode(v string) error {
	switch strings.ToLower(v) {
	case "json", "console":
		*f = logFormat(strings.ToLower(v))
		return nil
	case "":
		return errEmpty
	}
	return errors.New("must be json or console")
}

// lease is MEETINGBOT_LEASE: a duration from 1 s to 5 min. Shorter would
// take work from a replica that is merely slow (leases are renewed every
// third of it); longer would block a meeting for that long after a replica
// dies.
type lease time.Duration

const (
	minLease = time.Second
	maxLease = 5 * time.Minute
)

func (l *lease) Decode(v string) error {
	if v == "" {
		return errEmpty
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < minLease || d > maxLease {
		return errors.New("must be a duration from 1s to 5m, like 30s")
	}
	*l = lease(d)
	return nil
}

func (l lease) String() string { return time.Duration(l).String() }

// eachVar calls f for every variable of c, in declaration order, with the
// field's tags and value.
func eachVar(c *config, f func(name string, field reflect.StructField, v reflect.Value)) {
	for _, group := range []any{&c.Secrets, &c.Settings} {
		v := reflect.ValueOf(group).Elem()
		for i := range v.NumField() {
			sf := v.Type().Field(i)
			f(sf.Tag.Get("envconfig"), sf, v.Field(i))
		}
	}
}

// varField finds a variable's struct field by name.
func varField(name string) (reflect.StructField, bool) {
	var found reflect.StructField
	ok := false
	eachVar(&config{}, func(n string, sf reflect.StructField, _ reflect.Value) {
		if n == name {
			found, ok = sf, true
		}
	})
	return found, ok
}

// mask shows that a token is set, and of which kind, without showing it.
func mask(v string) string {
	if v == "" {
		return "(unset)"
	}
	if i := strings.IndexByte(v, '-'); i > 0 && i <= 4 {
		return v[:i+1] + "****"
	}
	return "****"
}

// log writes the effective configuration as one line, secrets masked.
func (c *config) log(l zerolog.Logger) {
	ev := l.Info()
	eachVar(c, func(name string, sf reflect.StructField, v reflect.Value) {
		switch {
		case name == "MEETINGBOT_SECRET_KEY":
			ev.Str(name, "**** (fingerprint "+c.key.Fingerprint()+")")
		case sf.Tag.Get("secret") == "true":
			ev.Str(name, mask(v.String()))
		case sf.Type == reflect.TypeFor[adminList]():
			ev.Strs(name, v.Interface().(adminList))
		default:
			ev.Str(name, fmt.Sprint(v.Interface()))
		}
	})
	ev.Msg("configuration")
}

const helpTemplate = `Environment (read once at start; only run and doctor need the required ones):
{{range .}}
  {{usage_key .}}{{if usage_required .}}  required{{else if usage_default .}}  default {{usage_default .}}{{else}}  default empty{{end}}
      {{usage_description .}}{{end}}
`

// writeHelp prints the variables from the struct's tags.
func writeHelp(w io.Writer) error {
	return envconfig.Usagef("", &config{}, w, helpTemplate)
}
