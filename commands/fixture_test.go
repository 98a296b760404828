package commands_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
	_ "github.com/meetingbot/meetingbot/store/sqlite"
)

const (
	meetingID = "914083136"
	password  = "123456"
	// otherID is a second running meeting, for tests that need two.
	otherID       = "555000111"
	otherPassword = "654321"
	admin         = "U0ADMIN"
)

var (
	general = store.Channel{Team: "T1", ID: "C1"}
	random  = store.Channel{Team: "T1", ID: "C2"}
	// start is the fixed time every fixture begins at.
	start = time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
)

// manualClock is the one clock of a fixture: the service, the fake meeting
// API (token expiry) and the rate limiter all read it.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is commands.Service over a real SQLite file (store.Open) and the
// fake meeting API over HTTP, reached through a proxy that a test can use to
// hold a request or answer one itself.
type fixture struct {
	svc   *commands.Service
	fake  *meetingapitest.Server
	proxy *vendorProxy
	store *store.Store
	clock *manualClock
}

type fixtureConfig struct {
	cfg  commands.Config
	wrap func(*store.Store) commands.Store
}

type option func(*fixtureConfig)

// withStore puts a wrapper around the real store (a busy database).
func withStore(wrap func(*store.Store) commands.Store) option {
	return func(c *fixtureConfig) { c.wrap = wrap }
}

func withWatches(w commands.Watches) option {
	return func(c *fixtureConfig) { c.cfg.Watches = w }
}

func withLimits(l commands.Limits) option {
	return func(c *fixtureConfig) { c.cfg.Limits = l }
}

func withLogger(w io.Writer) option {
	return func(c *fixtureConfig) { c.cfg.Logger = zerolog.New(w).Level(zerolog.DebugLevel) }
}

func withoutAdmins() option {
	return func(c *fixtureConfig) { c.cfg.Admins = nil }
}

// newFixture wires the service. U0ADMIN is a meetingbot admin. Meetings
// meetingID (with a waiting room) and otherID are running, empty.
func newFixture(t testing.TB, opts ...option) *fixture {
	t.Helper()
	clock := &manualClock{t: start}
	fake := meetingapitest.NewServer(meetingapitest.WithClock(clock.Now))
	t.Cleanup(fake.Close)
	fake.AddMeeting(meetingID, password, meetingapitest.InProgress, meetingapitest.WithWaitingRoom())
	fake.AddMeeting(otherID, otherPassword, meetingapitest.InProgress)
	proxy := newVendorProxy(t, fake.URL)

	key, err := store.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "meetingbot.db"), key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	client, err := meetingapi.NewClient(meetingapi.WithBaseURL(proxy.URL))
	if err != nil {
		t.Fatal(err)
	}
	fc := fixtureConfig{cfg: commands.Config{
		Meetings: client, Store: st, Admins: []string{admin}, Now: clock.Now, Logger: zerolog.Nop(),
	}}
	for _, o := range opts {
		o(&fc)
	}
	if fc.wrap != nil {
		fc.cfg.Store = fc.wrap(st)
	}
	svc, err := commands.New(fc.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, fake: fake, proxy: proxy, store: st, clock: clock}
}

// run parses text and executes it as user in ch.
func (f *fixture) run(t testing.TB, ch store.Channel, user, text string) commands.Reply {
	t.Helper()
	cmd, err := commands.Parse(text)
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	return f.svc.Execute(context.Background(), commands.Request{Channel: ch, UserID: user, Command: cmd})
}

// click runs the command a button stands for, as user in ch.
func (f *fixture) click(t testing.TB, ch store.Channel, user string, a commands.Action) commands.Reply {
	t.Helper()
	cmd, ok := commands.ButtonCommand(a.ID, a.Value)
	if !ok {
		t.Fatalf("ButtonCommand(%q, %q) refused a button the bot made", a.ID, a.Value)
	}
	return f.svc.Execute(context.Background(), commands.Request{Channel: ch, UserID: user, Command: cmd, FromButton: true})
}

// bind binds meetingID in ch as user and checks it worked.
func (f *fixture) bind(t testing.TB, ch store.Channel, user string) {
	t.Helper()
	r := f.run(t, ch, user, "bind "+meetingID+" "+password)
	if !strings.HasPrefix(r.Text, ":white_check_mark:") {
		t.Fatalf("bind: %q", r.PlainText())
	}
}

// join lets a person into meetingID and returns their pid.
func (f *fixture) join(t testing.TB, p meetingapitest.Person) string {
	t.Helper()
	pid, err := f.fake.AddParticipant(meetingID, p)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func (f *fixture) snapshot(t testing.TB, id string) meetingapitest.Snapshot {
	t.Helper()
	s, ok := f.fake.Snapshot(id)
	if !ok {
		t.Fatalf("the fake does not know meeting %s", id)
	}
	return s
}

func (f *fixture) state(t testing.TB, id string) store.MeetingState {
	t.Helper()
	st, err := f.store.MeetingState(t.Context(), domain.ConferenceID(id))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (f *fixture) history(t testing.TB, ch store.Channel) []store.AuditRecord {
	t.Helper()
	recs, err := f.store.History(t.Context(), ch, store.MaxHistory)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// controlCalls counts the calls that reached the fake, token fetches aside.
func (f *fixture) controlCalls() int {
	n := 0
	for _, c := range f.fake.Calls() {
		if c.Endpoint != meetingapitest.EndpointToken {
			n++
		}
	}
	return n
}

func wantReply(t testing.TB, r commands.Reply, vis commands.Visibility, text string) {
	t.Helper()
	if r.Visibility != vis || !strings.Contains(r.PlainText(), text) {
		t.Fatalf("reply = %v %q\nwant %v containing %q", r.Visibility, r.PlainText(), vis, text)
	}
}

func wantOutcome(t testing.TB, r commands.Reply, o commands.Outcome) {
	t.Helper()
	if r.Outcome != o {
		t.Fatalf("outcome = %q, want %q (reply %q)", r.Outcome, o, r.PlainText())
	}
}

// replyJSON is every field of a reply, buttons and confirm dialogs included.
func replyJSON(t testing.TB, r commands.Reply) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// action finds a reply's button (in Actions or any row) by action ID.
func action(t testing.TB, r commands.Reply, id string) commands.Action {
	t.Helper()
	for _, a := range r.Actions {
		if a.ID == id {
			return a
		}
	}
	t.Fatalf("reply %q has no %s button", r.PlainText(), id)
	return commands.Action{}
}

// rowAction finds the button id on the row that mentions name.
func rowAction(t testing.TB, r commands.Reply, name, id string) commands.Action {
	t.Helper()
	for _, row := range r.Rows {
		if !strings.Contains(row.Text, name) {
			continue
		}
		for _, a := range row.Actions {
			if a.ID == id {
				return a
			}
		}
	}
	t.Fatalf("no row of %q mentions %q with a %s button", r.PlainText(), name, id)
	return commands.Action{}
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// vendorProxy stands between the client and the fake meeting API. By
// default it forwards every request; a test can install a hook that holds
// a request or answers it instead of the fake.
type vendorProxy struct {
	URL string

	rp   *httputil.ReverseProxy
	mu   sync.Mutex
	hook func(w http.ResponseWriter, r *http.Request) bool // true: answered
}

func newVendorProxy(t testing.TB, target string) *vendorProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &vendorProxy{rp: httputil.NewSingleHostReverseProxy(u)}
	p.rp.ErrorLog = nil
	p.rp.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	p.URL = srv.URL
	return p
}

func (p *vendorProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	hook := p.hook
	p.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	p.rp.ServeHTTP(w, r)
}

func (p *vendorProxy) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	p.mu.Lock()
	p.hook = h
	p.mu.Unlock()
}

// is reports whether r is a call to the fake's path for meeting id ("" any).
func is(r *http.Request, path, id string) bool {
	return strings.HasSuffix(r.URL.Path, path) && (id == "" || r.URL.Query().Get("conferenceID") == id)
}

// hold makes the proxy hold the first request that match accepts until
// release is called (then it goes on to the fake). arrived is closed when
// that request has reached the proxy.
func (p *vendorProxy) hold(match func(*http.Request) bool) (arrived <-chan struct{}, release func()) {
	in, gate := make(chan struct{}), make(chan struct{})
	var once, rel sync.Once
	p.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !match(r) {
			return false
		}
		held := false
		once.Do(func() { held = true; close(in) })
		if held {
			select {
			case <-gate:
			case <-r.Context().Done():
				return true
			}
		}
		return false
	})
	return in, func() { rel.Do(func() { close(gate) }) }
}

// answer makes the proxy answer requests that match accepts with a vendor
// error of its own (status, error_code, error_msg, X-Request-Id), as long as
// it is installed. msg may use the request (to echo a header).
func (p *vendorProxy) answer(match func(*http.Request) bool, status int, code string, msg func(*http.Request) string, requestID string) {
	p.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if !match(r) {
			return false
		}
		_, _ = io.Copy(io.Discard, r.Body)
		body, _ := json.Marshal(map[string]string{"error_code": code, "error_msg": msg(r)})
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-Id", requestID)
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return true
	})
}

// syncBuffer collects log lines from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// watchStub is a Watches whose Live answer a test sets.
type watchStub struct {
	mu      sync.Mutex
	live    map[domain.ConferenceID]bool
	started []commands.WatchRequest
	stopped []domain.ConferenceID
}

func (w *watchStub) Start(_ context.Context, r commands.WatchRequest) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.started = append(w.started, r)
	return nil
}

func (w *watchStub) Stop(_ context.Context, _ domain.Channel, id domain.ConferenceID) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = append(w.stopped, id)
	return nil
}

func (w *watchStub) Live(id domain.ConferenceID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.live[id]
}

func (w *watchStub) setLive(id domain.ConferenceID, live bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.live == nil {
		w.live = map[domain.ConferenceID]bool{}
	}
	w.live[id] = live
}

// status is the plain text of `status` run by user in ch.
func (f *fixture) status(t testing.TB, ch store.Channel, user string) string {
	t.Helper()
	return f.run(t, ch, user, "status").PlainText()
}
