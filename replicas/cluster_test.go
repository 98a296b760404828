package replicas_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
	_ "github.com/meetingbot/meetingbot/store/postgres" // store.Open of the test's own view
	"github.com/meetingbot/meetingbot/store/postgres/pgtest"
)

// Generous deadlines: the machine has two cores shared with other work,
// and the replicas may run with the race detector.
const (
	startTimeout = 90 * time.Second
	waitTimeout  = 60 * time.Second
	stopTimeout  = 30 * time.Second
	pollEvery    = 10 * time.Millisecond
)

// meeting is one channel with its bound meeting and its controllers.
type meeting struct {
	channel  string
	id       string
	password string
	users    []string // controllers; users[0] bound the meeting
}

// cluster is the fakes, the database and the replicas of one test.
type cluster struct {
	t        *testing.T
	slack    *slacktest.Server
	api      *meetingapitest.Server
	gate     *gate
	dsn      string
	key      string
	lease    time.Duration
	db       *pgxpool.Pool // the test's own connection, for claims
	st       *store.Store  // the test's own view of the store
	meetings []meeting
	replicas []*replica
}

// newCluster starts the fakes, gives the test a fresh PostgreSQL schema (or
// skips it), and binds n meetings, one per channel, each with four
// controllers, through the store itself.
func newCluster(t *testing.T, n int, lease time.Duration) *cluster {
	t.Helper()
	dsn := pgtest.Schema(t)
	meetingbotBinary(t)
	c := &cluster{t: t, dsn: dsn, lease: lease}
	c.slack = slacktest.New()
	t.Cleanup(c.slack.Close)
	c.api = meetingapitest.NewServer()
	t.Cleanup(c.api.Close)
	c.gate = newGate(t, c.api.URL)

	var raw [32]byte
	_, _ = rand.Read(raw[:])
	c.key = base64.StdEncoding.EncodeToString(raw[:])
	key, err := store.ParseKey(c.key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if c.st, err = store.Open(ctx, dsn, key); err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() { c.st.Close() })
	if c.db, err = pgxpool.New(ctx, dsn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.db.Close)

	for i := range n {
		m := meeting{
			channel:  fmt.Sprintf("C%04d", i),
			id:       fmt.Sprintf("9%08d", i),
			password: fmt.Sprintf("pw%06d", i),
		}
		for u := range 4 {
			m.users = append(m.users, fmt.Sprintf("U%04d%c", i, 'A'+u))
		}
		c.api.AddMeeting(m.id, m.password, meetingapitest.InProgress)
		ch := c.channelOf(m)
		if err := c.st.Bind(ctx, store.BindRequest{Channel: ch, ConferenceID: domain.ConferenceID(m.id),
			Password: domain.Password(m.password), By: store.Actor{UserID: m.users[0]}, Verified: true}); err != nil {
			t.Fatalf("binding %s: %v", m.id, err)
		}
		for _, u := range m.users[1:] {
			if err := c.st.Grant(ctx, ch, u, store.Actor{UserID: m.users[0]}, time.Time{}); err != nil {
				t.Fatalf("granting %s: %v", u, err)
			}
		}
		c.meetings = append(c.meetings, m)
	}
	return c
}

// channelOf is how the bot keys a channel: by the installation's team,
// which auth.test reports.
func (c *cluster) channelOf(m meeting) domain.Channel {
	return domain.Channel{Team: c.slack.TeamID(), ID: m.channel}
}

// start runs one more `meetingbot run` and waits until its two Socket Mode
// connections are up and it has said which holder it is.
func (c *cluster) start(name string) *replica {
	t := c.t
	t.Helper()
	r := &replica{name: name, done: make(chan struct{})}
	r.cmd = exec.Command(binary.path, "run")
	r.cmd.Env = []string{
		"SLACK_APP_TOKEN=" + c.slack.AppToken(),
		"SLACK_BOT_TOKEN=" + c.slack.BotToken(),
		"SLACK_API_URL=" + c.slack.APIURL(),
		"MEETING_API_URL=" + c.gate.URL(),
		"MEETINGBOT_DB=" + c.dsn,
		"MEETINGBOT_SECRET_KEY=" + c.key,
		"MEETINGBOT_HTTP_ADDR=off",
		"MEETINGBOT_LEASE=" + c.lease.String(),
		"LOG_FORMAT=json",
		"LOG_LEVEL=info",
		"GORACE=halt_on_error=0 exitcode=66",
	}
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		r.err = r.cmd.Wait()
		close(r.done)
	}()
	t.Cleanup(func() { c.stop(r) })
	want := 2 * (c.live() + 1)
	c.replicas = append(c.replicas, r)
	c.poll(startTimeout, name+" to connect and name its holder", func() bool {
		select {
		case <-r.done:
			t.Fatalf("%s exited while starting: %v\n%s", name, r.err, r.tail())
		default:
		}
		r.holder = r.firstField("holder")
		return c.slack.Connections() >= want && r.holder != ""
	})
	return r
}

// live is the number of replicas still running.
func (c *cluster) live() int {
	n := 0
	for _, r := range c.replicas {
		if !r.exited() {
			n++
		}
	}
	return n
}

// kill ends r with SIGKILL, as a crash or an OOM kill would, and waits until
// the fake Slack has seen its connections go.
func (c *cluster) kill(r *replica) {
	c.t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatalf("killing %s: %v", r.name, err)
	}
	c.poll(waitTimeout, r.name+" to exit", r.exited)
	want := 2 * c.live()
	c.poll(waitTimeout, "the fake Slack to drop "+r.name+"'s connections", func() bool { return c.slack.Connections() == want })
}

// stop ends r with SIGTERM, as a deploy does, and checks that it stopped
// cleanly; a replica the test killed is checked for data races, panics and
// error lines up to its death.
func (c *cluster) stop(r *replica) {
	t := c.t
	if !r.exited() {
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(stopTimeout):
			_ = r.cmd.Process.Kill()
			<-r.done
			t.Errorf("%s did not stop within %v of SIGTERM\n%s", r.name, stopTimeout, r.tail())
		}
		if r.err != nil {
			t.Errorf("%s exited with %v after SIGTERM\n%s", r.name, r.err, r.tail())
		}
	}
	if strings.Contains(r.stderr.String(), "DATA RACE") {
		t.Errorf("%s had a data race:\n%s", r.name, r.stderr.String())
	}
	if strings.Contains(r.stderr.String(), "panic:") {
		t.Errorf("%s panicked:\n%s", r.name, r.stderr.String())
	}
	for _, l := range r.lines() {
		if l.Level == "error" || l.Level == "fatal" || l.Level == "panic" {
			t.Errorf("%s logged an error: %s", r.name, l.raw)
		}
	}
}

// poll checks cond every few milliseconds until it holds, or fails the test
// after timeout.
func (c *cluster) poll(timeout time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pollEvery)
	}
}

// claims are the unfinished envelope claims in the database, by holder.
func (c *cluster) unfinishedClaims(ctx context.Context) (map[string]string, error) {
	rows, err := c.db.Query(ctx, `SELECT id, holder FROM envelopes WHERE NOT done`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, holder string
		if err := rows.Scan(&id, &holder); err != nil {
			return nil, err
		}
		out[id] = holder
	}
	return out, rows.Err()
}

// takenOver are the envelopes some replica took over from another.
func (c *cluster) takenOver(ctx context.Context) (map[string]int, error) {
	rows, err := c.db.Query(ctx, `SELECT id, takeovers FROM envelopes WHERE takeovers > 0`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		out[id] = n
	}
	return out, rows.Err()
}

// replica is one `meetingbot run` process.
type replica struct {
	name   string
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	done   chan struct{}
	err    error  // from Wait, once done is closed
	holder string // its name in claims, from its start-up log

	logMu  sync.Mutex
	parsed []logLine // the log's complete lines so far
	off    int       // how much of stdout parsed holds
}

func (r *replica) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// logLine is one line of a replica's JSON log, with the fields the tests
// read.
type logLine struct {
	Level    string `json:"level"`
	Message  string `json:"message"`
	Envelope string `json:"envelope"`
	Verb     string `json:"verb"`
	Holder   string `json:"holder"`
	raw      string
}

// lines is the replica's log so far, parsing only what is new.
func (r *replica) lines() []logLine {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	data := r.stdout.from(r.off)
	if end := bytes.LastIndexByte(data, '\n'); end >= 0 {
		r.off += end + 1
		for _, s := range strings.Split(string(data[:end]), "\n") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			var l logLine
			if json.Unmarshal([]byte(s), &l) != nil {
				l = logLine{Level: "unparsed", Message: s}
			}
			l.raw = s
			r.parsed = append(r.parsed, l)
		}
	}
	return r.parsed[:len(r.parsed):len(r.parsed)]
}

// firstField is the first value of a field in the log ("holder").
func (r *replica) firstField(field string) string {
	for _, l := range r.lines() {
		if field == "holder" && l.Holder != "" {
			return l.Holder
		}
	}
	return ""
}

// handled maps each envelope whose command this replica answered to its
// verb, from its "command handled" lines.
func (r *replica) handled() map[string]string {
	out := map[string]string{}
	for _, l := range r.lines() {
		if l.Message == "command handled" && l.Envelope != "" {
			out[l.Envelope] = l.Verb
		}
	}
	return out
}

// tookOver are the envelopes this replica finished for a stopped one.
func (r *replica) tookOver() map[string]bool {
	out := map[string]bool{}
	for _, l := range r.lines() {
		if l.Message == "finishing a command that a stopped replica acknowledged" {
			out[l.Envelope] = true
		}
	}
	return out
}

// tail is the end of the replica's output, for failure messages.
func (r *replica) tail() string {
	out := r.stdout.String()
	if len(out) > 4000 {
		out = "…" + out[len(out)-4000:]
	}
	return "stdout:\n" + out + "\nstderr:\n" + r.stderr.String()
}

// syncBuffer collects a process's output.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// from is a copy of what was written after the first off bytes.
func (b *syncBuffer) from(off int) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes()[off:])
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// gate is a proxy between the replicas and the fake meeting API. Open, it
// forwards every request. Closed, it holds each call, either before the
// meeting service sees it (holdCalls) or after the meeting service acted on
// it and before its answer goes back (holdAnswers), until it opens again or
// the caller goes away: a killed replica's calls then never reach the
// meeting service, or never learn that it acted. The test closes the gate
// to bring every command in flight to a known point before it kills a
// replica, so the kill never lands between two steps of a command whose
// outcome the test could not then predict.
type gate struct {
	srv   *httptest.Server
	proxy *httputil.ReverseProxy

	mu         sync.Mutex
	closed     bool
	hold       holdMode
	open       chan struct{} // closed when the gate opens
	held       int           // calls waiting at the closed gate
	forwarding int           // calls passed on and not yet answered
	dropped    int           // calls whose caller went away while held
}

type holdMode int

const (
	holdCalls   holdMode = iota // before the meeting service sees them
	holdAnswers                 // after it acted on them
)

func (m holdMode) String() string {
	if m == holdAnswers {
		return "answers held after the meeting service acted"
	}
	return "calls held before the meeting service"
}

func newGate(t *testing.T, target string) *gate {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	g := &gate{proxy: httputil.NewSingleHostReverseProxy(u)}
	g.proxy.Transport = tr
	g.proxy.ErrorLog = log.New(io.Discard, "", 0) // canceled calls of a killed replica
	g.srv = httptest.NewServer(g)
	t.Cleanup(func() {
		g.Open()
		g.srv.Close()
		tr.CloseIdleConnections()
	})
	return g
}

// URL is what MEETING_API_URL points at.
func (g *gate) URL() string { return g.srv.URL }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Reading the body to its end lets net/http notice, and cancel the
	// request's context, when the caller's connection closes.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	g.mu.Lock()
	closed, hold := g.closed, g.hold
	g.mu.Unlock()
	if closed && hold == holdCalls && !g.wait(r) {
		return
	}
	g.mu.Lock()
	g.forwarding++
	g.mu.Unlock()
	answer := httptest.NewRecorder()
	// The call goes on even if the caller goes away meanwhile: the meeting
	// service does not know.
	g.proxy.ServeHTTP(answer, r.WithContext(context.WithoutCancel(r.Context())))
	g.mu.Lock()
	g.forwarding--
	closed, hold = g.closed, g.hold
	g.mu.Unlock()
	if closed && hold == holdAnswers && !g.wait(r) {
		return
	}
	for k, v := range answer.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(answer.Code)
	_, _ = w.Write(answer.Body.Bytes())
}

// wait holds a call until the gate opens (true) or its caller goes away.
func (g *gate) wait(r *http.Request) bool {
	g.mu.Lock()
	open := g.open
	g.held++
	g.mu.Unlock()
	select {
	case <-open:
		g.mu.Lock()
		g.held--
		g.mu.Unlock()
		return true
	case <-r.Context().Done():
		g.mu.Lock()
		g.held--
		g.dropped++
		g.mu.Unlock()
		return false
	}
}

// Close makes the gate hold every new call as mode says.
func (g *gate) Close(mode holdMode) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.closed {
		g.closed, g.hold = true, mode
		g.open = make(chan struct{})
	}
}

// Open lets the held calls, and every new one, through.
func (g *gate) Open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		g.closed = false
		close(g.open)
	}
}

func (g *gate) state() (held, forwarding, dropped int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held, g.forwarding, g.dropped
}
