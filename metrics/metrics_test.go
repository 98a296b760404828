package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"

	"github.com/meetingbot/meetingbot/metrics"
)

// scrape fetches the handler over HTTP and parses the exposition text.
func scrape(t *testing.T, m *metrics.Metrics) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: HTTP %d\n%s", resp.StatusCode, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("the exposition does not parse: %v\n%s", err, body)
	}
	return fams, string(body)
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	f := fams[name]
	if f == nil {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range f.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

func TestEveryMetricHasItsNameAndType(t *testing.T) {
	t.Parallel()
	m := metrics.New("1.2.3", "abcdef012345")
	// Vectors appear once they have a series.
	m.CommandDone("lock", metrics.OutcomeOK, 300*time.Millisecond)
	m.Acked(time.Millisecond)
	m.Delivered(metrics.PathResponseURL, true)
	m.Undelivered()
	m.MeetingAPICall("lock", 200, 80*time.Millisecond)
	m.TokenFetch(metrics.TokenPassword, metrics.ResultOK)
	m.WatchedMeetings(2)
	m.ConnectionsFrom(func() int { return 2 })
	m.InFlightFrom(func() int { return 1 })

	fams, _ := scrape(t, m)
	want := map[string]dto.MetricType{
		"meetingbot_build_info":                           dto.MetricType_GAUGE,
		"meetingbot_commands_total":                       dto.MetricType_COUNTER,
		"meetingbot_command_duration_seconds":             dto.MetricType_HISTOGRAM,
		"meetingbot_ack_duration_seconds":                 dto.MetricType_HISTOGRAM,
		"meetingbot_meeting_api_requests_total":           dto.MetricType_COUNTER,
		"meetingbot_meeting_api_request_duration_seconds": dto.MetricType_HISTOGRAM,
		"meetingbot_token_fetches_total":                  dto.MetricType_COUNTER,
		"meetingbot_slack_deliveries_total":               dto.MetricType_COUNTER,
		"meetingbot_slack_replies_undelivered_total":      dto.MetricType_COUNTER,
		"meetingbot_slack_connections":                    dto.MetricType_GAUGE,
		"meetingbot_commands_in_flight":                   dto.MetricType_GAUGE,
		"meetingbot_watched_meetings":                     dto.MetricType_GAUGE,
		"go_goroutines":                                   dto.MetricType_GAUGE,
		"process_resident_memory_bytes":                   dto.MetricType_GAUGE,
	}
	for name, typ := range want {
		f := fams[name]
		if f == nil {
			t.Errorf("%s is missing", name)
			continue
		}
		if f.GetType() != typ {
			t.Errorf("%s is a %v, want %v", name, f.GetType(), typ)
		}
		if f.GetHelp() == "" {
			t.Errorf("%s has no help", name)
		}
	}
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"meetingbot_build_info", map[string]string{"version": "1.2.3", "revision": "abcdef012345"}, 1},
		{"meetingbot_commands_total", map[string]string{"verb": "lock", "outcome": "ok"}, 1},
		{"meetingbot_command_duration_seconds", map[string]string{"verb": "lock"}, 1},
		{"meetingbot_ack_duration_seconds", nil, 1},
		{"meetingbot_meeting_api_requests_total", map[string]string{"op": "lock", "status": "2xx"}, 1},
		{"meetingbot_token_fetches_total", map[string]string{"kind": "password", "result": "ok"}, 1},
		{"meetingbot_slack_deliveries_total", map[string]string{"path": "response_url", "result": "ok"}, 1},
		{"meetingbot_slack_replies_undelivered_total", nil, 1},
		{"meetingbot_slack_connections", nil, 2},
		{"meetingbot_commands_in_flight", nil, 1},
		{"meetingbot_watched_meetings", nil, 2},
	}
	for _, c := range checks {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestGaugesReadTheirSourceAtEachScrape(t *testing.T) {
	t.Parallel()
	m := metrics.New("dev", "")
	fams, _ := scrape(t, m)
	if got := value(t, fams, "meetingbot_slack_connections", nil); got != 0 {
		t.Fatalf("connections before a source = %v, want 0", got)
	}
	n := 1
	m.ConnectionsFrom(func() int { return n })
	n = 2
	fams, _ = scrape(t, m)
	if got := value(t, fams, "meetingbot_slack_connections", nil); got != 2 {
		t.Fatalf("connections = %v, want 2", got)
	}
}

func TestLabelsNeverCarryIDsOrArbitraryText(t *testing.T) {
	t.Parallel()
	m := metrics.New("dev", "")
	m.CommandDone("914083136", "s3cret-password", time.Second) // a conference ID and a secret where a verb and outcome go
	m.CommandDone("UALICE", metrics.OutcomeOK, time.Second)    // a user ID
	m.MeetingAPICall("lock 914083136", 400, time.Second)
	m.MeetingAPICall("keep-alive", 0, time.Second)
	m.MeetingAPICall("control token", 503, time.Second)
	m.Delivered("https://hooks.slack.com/commands/T1/2/abc", false)
	m.TokenFetch("xoxb-token", "maybe")

	fams, body := scrape(t, m)
	for _, leak := range []string{"914083136", "s3cret", "UALICE", "hooks.slack.com", "xoxb"} {
		if strings.Contains(body, leak) {
			t.Errorf("%q reached the exposition", leak)
		}
	}
	if got := value(t, fams, "meetingbot_commands_total", map[string]string{"verb": "other", "outcome": "other"}); got != 1 {
		t.Errorf("commands{other,other} = %v", got)
	}
	if got := value(t, fams, "meetingbot_commands_total", map[string]string{"verb": "other", "outcome": "ok"}); got != 1 {
		t.Errorf("commands{other,ok} = %v", got)
	}
	for _, c := range []struct{ op, status string }{{"other", "4xx"}, {"keep_alive", "error"}, {"control_token", "5xx"}} {
		if got := value(t, fams, "meetingbot_meeting_api_requests_total", map[string]string{"op": c.op, "status": c.status}); got != 1 {
			t.Errorf("api requests{%s,%s} = %v", c.op, c.status, got)
		}
	}
	if got := value(t, fams, "meetingbot_slack_deliveries_total", map[string]string{"path": "other", "result": "failed"}); got != 1 {
		t.Errorf("deliveries{other,failed} = %v", got)
	}
	if got := value(t, fams, "meetingbot_token_fetches_total", map[string]string{"kind": "other", "result": "other"}); got != 1 {
		t.Errorf("token fetches{other,other} = %v", got)
	}
}

func TestTwoInstancesDoNotShareARegistry(t *testing.T) {
	t.Parallel()
	a, b := metrics.New("dev", ""), metrics.New("dev", "")
	a.Undelivered()
	fams, _ := scrape(t, b)
	if got := value(t, fams, "meetingbot_slack_replies_undelivered_total", nil); got != 0 {
		t.Fatalf("b saw a's counter: %v", got)
	}
}
