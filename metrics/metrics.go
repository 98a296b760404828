// Package metrics is meetingbot's Prometheus instrumentation: one Metrics
// value owns its own registry (never the global one), with the Go and
// process collectors, and small methods that the bot, the meeting-API
// client and the wiring call as things happen.
//
// Label values come from small closed sets (verbs, outcomes, operations,
// delivery paths). A value outside its set is recorded as "other", so a
// label can never carry a secret, a user ID or a conference ID, and the
// number of series stays bounded whatever callers pass.
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Outcomes of a command (CommandDone).
const (
	OutcomeOK       = "ok"        // the command did what was asked
	OutcomeRefused  = "refused"   // not allowed (not a controller, wrong channel, …)
	OutcomeAPIError = "api_error" // the meeting API answered with an error
	OutcomeUsage    = "usage"     // the command could not be parsed; usage was shown
	OutcomeError    = "error"     // an internal failure (database, …); nothing was changed
)

// Delivery paths of a reply (Delivered).
const (
	PathResponseURL   = "response_url"   // the command's response_url
	PathFallback      = "fallback"       // chat.postMessage / chat.postEphemeral
	PathDirectMessage = "direct_message" // a DM to the user when the channel refused the bot
)

// Token fetch kinds and results (TokenFetch).
const (
	TokenPassword  = "password"  // a new control token, with the host password
	TokenKeepAlive = "keepalive" // a live token refreshed without the password
	ResultOK       = "ok"
	ResultRejected = "rejected" // the API said no (4xx): wrong password, token invalid, meeting over
	ResultError    = "error"    // no usable answer: network, timeout, 5xx, circuit open
)

const other = "other"

var (
	outcomes = set(OutcomeOK, OutcomeRefused, OutcomeAPIError, OutcomeUsage, OutcomeError)
	paths    = set(PathResponseURL, PathFallback, PathDirectMessage)
	kinds    = set(TokenPassword, TokenKeepAlive)
	results  = set(ResultOK, ResultRejected, ResultError)
)

// Metrics records meetingbot's metrics. Its methods are safe for concurrent
// use; a nil *Metrics is not usable (callers keep a no-op of their own).
type Metrics struct {
	reg *prometheus.Registry

	commands        *prometheus.CounterVec
	commandDuration *prometheus.HistogramVec
	ackDuration     prometheus.Histogram
	apiRequests     *prometheus.CounterVec
	apiDuration     *prometheus.HistogramVec
	tokenFetches    *prometheus.CounterVec
	deliveries      *prometheus.CounterVec
	undelivered     prometheus.Counter
	watched         prometheus.Gauge

	connections atomic.Pointer[func() int]
	inFlight    atomic.Pointer[func() int]
}

// New builds the metrics on a fresh registry. version and revision label
// meetingbot_build_info.
func New(version, revision string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.commands = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meetingbot_commands_total",
		Help: "Commands and button presses handled, by verb and outcome (ok, refused, api_error, usage, error).",
	}, []string{"verb", "outcome"})
	m.commandDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "meetingbot_command_duration_seconds",
		Help:    "End-to-end time of a command, from receiving the envelope to its reply delivered.",
		Buckets: []float64{.025, .05, .1, .25, .5, 1, 2, 4, 8, 15, 30},
	}, []string{"verb"})
	m.ackDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "meetingbot_ack_duration_seconds",
		Help:    "Time from receiving an envelope to acknowledging it (Slack allows 3 s).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 3},
	})
	m.apiRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meetingbot_meeting_api_requests_total",
		Help: "Meeting API calls, by operation and HTTP status class (2xx, 4xx, 5xx, or error when there was no answer).",
	}, []string{"op", "status"})
	m.apiDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "meetingbot_meeting_api_request_duration_seconds",
		Help:    "Latency of meeting API calls, by operation.",
		Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"op"})
	m.tokenFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meetingbot_token_fetches_total",
		Help: "Control token fetches, by kind (password, keepalive) and result (ok, rejected, error).",
	}, []string{"kind", "result"})
	m.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "meetingbot_slack_deliveries_total",
		Help: "Attempts to post a reply to Slack, by path (response_url, fallback, direct_message) and result (ok, failed).",
	}, []string{"path", "result"})
	m.undelivered = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "meetingbot_slack_replies_undelivered_total",
		Help: "Replies that reached nobody: every path failed.",
	})
	m.watched = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "meetingbot_watched_meetings",
		Help: "Meetings whose event socket this process follows for join alerts.",
	})
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "meetingbot_build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		m.commands, m.commandDuration, m.ackDuration,
		m.apiRequests, m.apiDuration, m.tokenFetches,
		m.deliveries, m.undelivered, m.watched,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meetingbot_slack_connections",
			Help: "Live Socket Mode connections to Slack (the bot keeps two).",
		}, read(&m.connections)),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "meetingbot_commands_in_flight",
			Help: "Commands acknowledged but not yet answered.",
		}, read(&m.inFlight)),
	)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry behind Handler, for collectors of other packages.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// CommandDone counts a finished command (or button press) and observes its
// end-to-end time.
func (m *Metrics) CommandDone(verb, outcome string, e2e time.Duration) {
	verb = word(verb)
	m.commands.WithLabelValues(verb, oneOf(outcomes, outcome)).Inc()
	m.commandDuration.WithLabelValues(verb).Observe(e2e.Seconds())
}

// Acked observes the time from receiving an envelope to acknowledging it.
func (m *Metrics) Acked(d time.Duration) { m.ackDuration.Observe(d.Seconds()) }

// Delivered counts one attempt to post a reply through path.
func (m *Metrics) Delivered(path string, ok bool) {
	result := "failed"
	if ok {
		result = "ok"
	}
	m.deliveries.WithLabelValues(oneOf(paths, path), result).Inc()
}

// Undelivered counts a reply that no path could deliver.
func (m *Metrics) Undelivered() { m.undelivered.Inc() }

// MeetingAPICall records one meeting API call: its operation, the HTTP
// status (0 when no answer came) and how long it took. Its signature is
// that of meetingapi's observer hook.
func (m *Metrics) MeetingAPICall(op string, status int, d time.Duration) {
	op = word(op)
	m.apiRequests.WithLabelValues(op, statusClass(status)).Inc()
	m.apiDuration.WithLabelValues(op).Observe(d.Seconds())
}

// TokenFetch counts a control-token fetch of kind (TokenPassword,
// TokenKeepAlive) with its result (ResultOK, ResultRejected, ResultError).
func (m *Metrics) TokenFetch(kind, result string) {
	m.tokenFetches.WithLabelValues(oneOf(kinds, kind), oneOf(results, result)).Inc()
}

// ConnectionsFrom makes meetingbot_slack_connections read f at each scrape.
func (m *Metrics) ConnectionsFrom(f func() int) { m.connections.Store(&f) }

// InFlightFrom makes meetingbot_commands_in_flight read f at each scrape.
func (m *Metrics) InFlightFrom(f func() int) { m.inFlight.Store(&f) }

// WatchedMeetings sets how many meetings this process watches.
func (m *Metrics) WatchedMeetings(n int) { m.watched.Set(float64(n)) }

func read(p *atomic.Pointer[func() int]) func() float64 {
	return func() float64 {
		if f := p.Load(); f != nil {
			return float64((*f)())
		}
		return 0
	}
}

func statusClass(status int) string {
	if status < 100 || status > 599 {
		return "error"
	}
	return strconv.Itoa(status/100) + "xx"
}

func set(values ...string) map[string]bool {
	m := make(map[string]bool, len(values))
	for _, v := range values {
		m[v] = true
	}
	return m
}

func oneOf(allowed map[string]bool, v string) string {
	if allowed[v] {
		return v
	}
	return other
}

// wordSeparators is built once: two of the metrics call word for every
// command, and a Replacer builds its tables on first use.
var wordSeparators = strings.NewReplacer(" ", "_", "-", "_")

// word turns a verb or an operation name ("control token", "keep-alive")
// into a label value: lower-case letters and underscores, at most 24.
// Anything else (digits, capitals, punctuation) is "other", so neither a
// conference ID nor a Slack ID (upper-case) can become a label.
func word(s string) string {
	s = wordSeparators.Replace(strings.TrimSpace(s))
	if s == "" || len(s) > 24 {
		return other
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '_' {
			return other
		}
	}
	return s
}
