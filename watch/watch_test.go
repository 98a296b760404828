package watch_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
	_ "github.com/meetingbot/meetingbot/store/sqlite"
	"github.com/meetingbot/meetingbot/watch"
)

const (
	meetingID = domain.ConferenceID("914083136")
	password  = "123456"
	hostOrg   = "org-host"
)

var general = domain.Channel{Team: "T1", ID: "C1"}

// posts records what a runner posts, as Slack would show it in a channel.
type posts struct {
	mu         sync.Mutex
	msgs       []posted
	notMember  map[string]bool
	changed    chan struct{}
	failPosted int
}

type posted struct {
	channel string
	reply   commands.Reply
	at      time.Time
}

var errNotInChannel = errors.New("not_in_channel")

func newPosts() *posts { return &posts{notMember: map[string]bool{}, changed: make(chan struct{}, 1)} }

func (p *posts) Post(_ context.Context, channel string, r commands.Reply) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.notMember[channel] {
		return errNotInChannel
	}
	p.msgs = append(p.msgs, posted{channel, r, time.Now()})
	select {
	case p.changed <- struct{}{}:
	default:
	}
	return nil
}

func (p *posts) all() []posted {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]posted(nil), p.msgs...)
}

// waitFor polls until cond holds for the posts, with a deadline.
func (p *posts) waitFor(t *testing.T, what string, cond func([]posted) bool) []posted {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if ps := p.all(); cond(ps) {
			return ps
		}
		select {
		case <-p.changed:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; posted: %s", what, texts(p.all()))
		}
	}
}

func texts(ps []posted) string {
	var out []string
	for _, p := range ps {
		out = append(out, p.channel+": "+p.reply.PlainText())
	}
	return strings.Join(out, "\n---\n")
}

func alerts(ps []posted) []posted {
	var out []posted
	for _, p := range ps {
		if strings.Contains(p.reply.Text, "joined meeting") {
			out = append(out, p)
		}
	}
	return out
}

// fixture is a runner on a real SQLite file, the fake meeting API with its
// event socket over HTTP and WebSocket, and the commands service for tokens.
type fixture struct {
	fake  *meetingapitest.Server
	store *store.Store
	svc   *commands.Service
	api   *meetingapi.Client
	posts *posts
	key   store.Key
	path  string
	// ahead is how far the service's clock runs ahead of the real one.
	ahead atomic.Int64
}

func newFixture(t *testing.T) *fixture { return newFixtureB(t) }

func newFixtureB(t testing.TB) *fixture {
	t.Helper()
	return newFixtureOn(t, filepath.Join(t.TempDir(), "bot.db"))
}

// newFixtureOn is a fixture whose store is dsn (a MEETINGBOT_DB value).
func newFixtureOn(t testing.TB, dsn string, fakeOpts ...meetingapitest.Option) *fixture {
	t.Helper()
	fake := meetingapitest.NewServer(append([]meetingapitest.Option{meetingapitest.WithSocketHeartbeatTimeout(2 * time.Second)}, fakeOpts...)...)
	t.Cleanup(fake.Close)
	fake.AddMeeting(string(meetingID), password, meetingapitest.InProgress, meetingapitest.WithHostOrgID(hostOrg), meetingapitest.WithWaitingRoom())
	key, err := store.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{fake: fake, posts: newPosts(), key: key, path: dsn}
	f.store = f.openStore(t)
	f.api, err = meetingapi.NewClient(meetingapi.WithBaseURL(fake.URL))
	if err != nil {
		t.Fatal(err)
	}
	f.svc, err = commands.New(commands.Config{Meetings: f.api, Store: f.store, Logger: zerolog.Nop(),
		Now: func() time.Time { return time.Now().Add(time.Duration(f.ahead.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	if r := f.svc.Bind(t.Context(), general, "U1", meetingID, password); r.FieldProblem != "" {
		t.Fatalf("bind: %s", r.Reply.PlainText())
	}
	return f
}

func (f *fixture) openStore(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), f.path, f.key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// runner starts a runner named holder; stop it with the returned func.
func (f *fixture) runner(t *testing.T, holder string, st *store.Store) (*watch.Runner, func()) {
	t.Helper()
	return f.start(t, holder, st, 300*time.Millisecond)
}

func (f *fixture) runnerWithGather(t testing.TB, gather time.Duration) (*watch.Runner, func()) {
	t.Helper()
	return f.start(t, "bench", f.store, gather)
}

func (f *fixture) start(t testing.TB, holder string, st watch.Store, gather time.Duration) (*watch.Runner, func()) {
	t.Helper()
	r, err := watch.New(watch.Config{
		Meetings: f.api, Tokens: f.svc, Store: st, Poster: f.posts,
		IsNotInChannel: func(err error) bool { return errors.Is(err, errNotInChannel) },
		Holder:         holder, Lease: 2 * time.Second, ClaimEvery: 200 * time.Millisecond,
		Gather: gather, QuietAlarm: 3 * time.Second, MarkInUseEvery: 50 * time.Millisecond,
		Socket: meetingapi.WatchOptions{Heartbeat: 500 * time.Millisecond, MinBackoff: 50 * time.Millisecond, MaxBackoff: 200 * time.Millisecond},
		Logger: zerolog.Nop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return r, stop
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *fixture) join(t *testing.T, p meetingapitest.Person) string {
	t.Helper()
	pid, err := f.fake.AddParticipant(string(meetingID), p)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestAJoinIsPostedWithButtonsThatRemoveAndLock(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.join(t, meetingapitest.Person{Name: "Host Person", Account: "host", Role: meetingapitest.RoleHost})
	r, _ := f.runner(t, "h1", f.store)
	if err := r.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
		t.Fatal(err)
	}
	f.posts.waitFor(t, "the first line", func(ps []posted) bool { return len(ps) == 1 })
	waitUntil(t, "a live socket", func() bool { return r.Live(meetingID) })

	pid := f.join(t, meetingapitest.Person{Name: "Mallory <@U1>", Anonymous: true})
	ps := f.posts.waitFor(t, "an alert", func(ps []posted) bool { return len(alerts(ps)) == 1 })
	a := alerts(ps)[0]
	if a.channel != "C1" || a.reply.Visibility != commands.InChannel || !strings.Contains(a.reply.Text, "A stranger joined meeting 914083136") {
		t.Fatalf("alert = %+v", a)
	}
	if len(a.reply.Rows) != 1 || !strings.Contains(a.reply.Rows[0].Text, "not signed in") || strings.Contains(a.reply.PlainText(), "<@U1>") {
		t.Fatalf("alert rows = %+v (the name must be escaped)", a.reply.Rows)
	}
	if strings.Contains(a.reply.PlainText(), "Host Person") {
		t.Fatal("someone already in the meeting was announced")
	}
	var remove, lock commands.Action
	for _, act := range a.reply.Rows[0].Actions {
		if act.ID == commands.ActionRemove {
			remove = act
		}
	}
	for _, act := range a.reply.Actions {
		if act.ID == commands.ActionAlertLock {
			lock = act
		}
	}
	cmd, ok := commands.ButtonCommand(remove.ID, remove.Value)
	if !ok || cmd.Verb != commands.VerbRemove || cmd.PID != pid || cmd.ConferenceID != meetingID {
		t.Fatalf("the Remove button reads as %+v, %v", cmd, ok)
	}
	if cmd, ok := commands.ButtonCommand(lock.ID, lock.Value); !ok || cmd.Verb != commands.VerbLock || commands.ReplacesMessage(lock.ID) {
		t.Fatalf("the Lock meeting button reads as %+v, %v (and must not replace the alert)", cmd, ok)
	}
	// The buttons work: run them as the controller would by clicking.
	rep := f.svc.Execute(t.Context(), commands.Request{Channel: general, UserID: "U1", Command: cmd, FromButton: true})
	if !strings.Contains(rep.Text, "removed *Mallory &lt;@U1&gt;* from meeting 914083136") {
		t.Fatalf("the Remove click: %s", rep.PlainText())
	}
	lockCmd, _ := commands.ButtonCommand(lock.ID, lock.Value)
	if rep := f.svc.Execute(t.Context(), commands.Request{Channel: general, UserID: "U1", Command: lockCmd, FromButton: true}); !strings.Contains(rep.Text, "locked by <@U1>") {
		t.Fatalf("the Lock click: %s", rep.PlainText())
	}
	if locked, _ := f.fake.Locked(string(meetingID)); !locked {
		t.Fatal("the meeting is not locked")
	}
}

func TestFiftyJoinsInASecondAreAHandfulOfMessages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	// The default gather window, which the limit is about: with the other
	// tests' 300 ms, a loaded machine that stretches the second of joins
	// past 1.5 s would make six messages.
	r, _ := f.start(t, "h1", f.store, time.Second)
	if err := r.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a live socket", func() bool { return r.Live(meetingID) })
	for i := range 50 {
		org := hostOrg
		if i%10 == 0 {
			org = "org-elsewhere"
		}
		f.join(t, meetingapitest.Person{Name: fmt.Sprintf("Person %02d", i), Account: fmt.Sprintf("p%d", i), OrgID: org})
		time.Sleep(20 * time.Millisecond)
	}
	count := func(ps []posted) int {
		n := 0
		for _, a := range alerts(ps) {
			for _, row := range a.reply.Rows {
				n += strings.Count(row.Text, "*Person ")
			}
		}
		return n
	}
	ps := f.posts.waitFor(t, "all 50 announced", func(ps []posted) bool { return count(ps) >= 50 })
	as := alerts(ps)
	if len(as) > 5 {
		t.Fatalf("50 joins in a second gave %d messages, want at most 5", len(as))
	}
	if count(ps) != 50 {
		t.Fatalf("%d people announced, want 50", count(ps))
	}
	strangers := 0
	for _, a := range as {
		strangers += strings.Count(a.reply.PlainText(), "from another organisation")
	}
	if strangers != 5 {
		t.Errorf("%d strangers marked, want 5", strangers)
	}
	t.Logf("50 joins in about a second: %d messages", len(as))
}

// gatedStore holds the first watch removal until the test lets it go.
type gatedStore struct {
	*store.Store
	once             sync.Once
	entered, release chan struct{}
}

func (g *gatedStore) wait() {
	g.once.Do(func() {
		close(g.entered)
		<-g.release
	})
}

func (g *gatedStore) EndWatch(ctx context.Context, w store.Watch) error {
	g.wait()
	return g.Store.EndWatch(ctx, w)
}

func (g *gatedStore) DeleteWatch(ctx context.Context, ch store.Channel, id domain.ConferenceID) error {
	g.wait()
	return g.Store.DeleteWatch(ctx, ch, id)
}

// The meeting ends, and while the bot is still ending its watch the host
// starts it again and someone turns the alerts back on: the new watch is
// kept and followed, and the channel is not told that alerts are off.
func TestAWatchTurnedOnAgainAsItsMeetingEndsIsFollowed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gate := &gatedStore{Store: f.store, entered: make(chan struct{}), release: make(chan struct{})}
	r, _ := f.start(t, "h1", gate, 300*time.Millisecond)
	if err := r.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a live socket", func() bool { return r.Live(meetingID) })
	if rep := f.svc.Execute(t.Context(), commands.Request{Channel: general, UserID: "U1", Command: commands.Command{Verb: commands.VerbEnd, Confirmed: true}}); !strings.Contains(rep.Text, "was ended by") {
		t.Fatalf("end: %s", rep.PlainText())
	}
	select {
	case <-gate.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the watch of the ended meeting was never removed")
	}
	f.fake.SetState(string(meetingID), meetingapitest.InProgress)
	if err := r.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U2"}); err != nil {
		t.Fatal(err)
	}
	close(gate.release)

	waitUntil(t, "the new watch to follow the meeting", func() bool { return r.Live(meetingID) })
	f.join(t, meetingapitest.Person{Name: "Mallory", Anonymous: true})
	ps := f.posts.waitFor(t, "Mallory's alert", func(ps []posted) bool { return strings.Contains(texts(alerts(ps)), "Mallory") })
	if strings.Contains(texts(ps), "join alerts are off") {
		t.Errorf("the channel was told alerts are off while they are on:\n%s", texts(ps))
	}
}

// Someone who joins while the event socket is down is announced once it is
// back: the list the new socket starts with is compared with the old one.
func TestAJoinWhileTheSocketIsDownIsAnnouncedWhenItIsBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r, _ := f.runner(t, "h1", f.store)
	if err := r.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a live socket", func() bool { return r.Live(meetingID) })
	f.join(t, meetingapitest.Person{Name: "Alice", Account: "alice", OrgID: hostOrg})
	f.posts.waitFor(t, "Alice's alert", func(ps []posted) bool { return len(alerts(ps)) == 1 })

	f.fake.FailNext(meetingapitest.EndpointSocket, 1000, http.StatusServiceUnavailable, "")
	if n := f.fake.DropSockets(string(meetingID)); n != 1 {
		t.Fatalf("dropped %d sockets, want 1", n)
	}
	waitUntil(t, "the watch to notice", func() bool { return !r.Live(meetingID) })
	f.join(t, meetingapitest.Person{Name: "Mallory", Anonymous: true})
	f.fake.FailNext(meetingapitest.EndpointSocket, 0, 0, "")

	ps := f.posts.waitFor(t, "Mallory's alert", func(ps []posted) bool { return strings.Contains(texts(alerts(ps)), "Mallory") })
	if all := texts(alerts(ps)); strings.Count(all, "Alice") != 1 || strings.Count(all, "Mallory") != 1 {
		t.Fatalf("after the socket came back:\n%s", all)
	}
}

func TestADroppedSocketResumesWithoutAnnouncingAnyoneTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r, _ := f.runner(t, "h1", f.store)
	if err := r.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a live socket", func() bool { return r.Live(meetingID) })
	f.join(t, meetingapitest.Person{Name: "Alice", Account: "alice", OrgID: hostOrg})
	f.posts.waitFor(t, "Alice's alert", func(ps []posted) bool { return len(alerts(ps)) == 1 })
	before := f.fake.SocketConnections()
	if n := f.fake.DropSockets(string(meetingID)); n != 1 {
		t.Fatalf("dropped %d sockets, want 1", n)
	}
	waitUntil(t, "a reconnect", func() bool { return f.fake.SocketConnections() > before && r.Live(meetingID) })
	f.join(t, meetingapitest.Person{Name: "Bob", Account: "bob", OrgID: hostOrg})
	ps := f.posts.waitFor(t, "Bob's alert", func(ps []posted) bool { return len(alerts(ps)) == 2 })
	if all := texts(ps); strings.Count(all, "Alice") != 1 || strings.Count(all, "Bob") != 1 {
		t.Fatalf("after a drop:\n%s", all)
	}
}

func TestAStoppedMeetingEndsTheWatchWithOneLineAndNoReconnects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r, _ := f.runner(t, "h1", f.store)
	if err := r.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a live socket", func() bool { return r.Live(meetingID) })
	if rep := f.svc.Execute(t.Context(), commands.Request{Channel: general, UserID: "U1", Command: commands.Command{Verb: commands.VerbEnd, Confirmed: true}}); !strings.Contains(rep.Text, "was ended by") {
		t.Fatalf("end: %s", rep.PlainText())
	}
	ps := f.posts.waitFor(t, "the closing line", func(ps []posted) bool {
		return strings.Contains(texts(ps), "has ended, so its join alerts are off")
	})
	conns := f.fake.SocketConnections()
	// Give a reconnect loop every chance to show itself: several backoffs.
	time.Sleep(time.Second)
	if n := f.fake.SocketConnections(); n != conns {
		t.Fatalf("%d more socket connections after the meeting ended", n-conns)
	}
	if n := strings.Count(texts(f.posts.all()), "has ended"); n != 1 {
		t.Fatalf("%d closing lines:\n%s", n, texts(ps))
	}
	if r.Live(meetingID) {
		t.Fatal("the watch of an ended meeting is still live")
	}
	left, err := f.store.ClaimWatches(t.Context(), "someone", time.Now(), time.Now().Add(time.Minute))
	if err != nil || len(left) != 0 {
		t.Fatalf("watches left after the meeting ended: %+v, %v", left, err)
	}
}

func TestALockSetOutsideSlackShowsInStatusAndMakesAClickStale(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r, _ := f.runner(t, "h1", f.store)
	f.svc.UseWatches(r)
	if err := r.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a live socket", func() bool { return r.Live(meetingID) })
	// The host locks the meeting in the meeting itself: another client of
	// the meeting API, not meetingbot.
	ct, err := f.api.ControlToken(t.Context(), meetingID, password)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.api.Lock(t.Context(), meetingID, ct.Token); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the reported lock", func() bool {
		st, err := f.store.MeetingState(t.Context(), meetingID)
		return err == nil && st.Lock == domain.LockLocked && st.LockSource == store.SourceMeeting
	})
	st := f.svc.Execute(t.Context(), commands.Request{Channel: general, UserID: "U1", Command: commands.Command{Verb: commands.VerbStatus}})
	if !strings.Contains(st.PlainText(), "Lock state: locked, as the meeting service reports") {
		t.Fatalf("status: %s", st.PlainText())
	}
	f.fake.ResetCalls()
	click := f.svc.Execute(t.Context(), commands.Request{Channel: general, UserID: "U1", Command: commands.Command{Verb: commands.VerbLock}, FromButton: true})
	if !strings.Contains(click.Text, "Nothing to do for meeting 914083136") || f.fake.CallCount(meetingapitest.EndpointLock) != 0 {
		t.Fatalf("a Lock click on a meeting the service reports locked: %s (%d lock calls)", click.PlainText(), f.fake.CallCount(meetingapitest.EndpointLock))
	}
}

func TestAWatchWhereTheBotIsNotAMemberSaysHowToInviteItAndStoresNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.posts.notMember["C1"] = true
	r, _ := f.runner(t, "h1", f.store)
	err := r.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"})
	var we *commands.WatchError
	if !errors.As(err, &we) || !strings.Contains(we.Reply.PlainText(), "/invite @meetingbot") || we.Reply.Visibility != commands.Ephemeral {
		t.Fatalf("Start = %v", err)
	}
	left, err := f.store.ClaimWatches(t.Context(), "someone", time.Now(), time.Now().Add(time.Minute))
	if err != nil || len(left) != 0 {
		t.Fatalf("a watch was stored: %+v, %v", left, err)
	}
}

// A watch is stored: after a restart the new process follows the meeting
// again, and the people already in are not announced again.
func TestAWatchSurvivesARestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r, stop := f.runner(t, "first-run", f.store)
	if err := r.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a live socket", func() bool { return r.Live(meetingID) })
	f.join(t, meetingapitest.Person{Name: "Alice", Account: "alice", OrgID: hostOrg})
	f.posts.waitFor(t, "Alice's alert", func(ps []posted) bool { return len(alerts(ps)) == 1 })
	stop()

	r2, _ := f.runner(t, "second-run", f.store)
	waitUntil(t, "the watch to resume", func() bool { return r2.Live(meetingID) })
	f.join(t, meetingapitest.Person{Name: "Bob", Account: "bob", OrgID: hostOrg})
	ps := f.posts.waitFor(t, "Bob's alert", func(ps []posted) bool { return len(alerts(ps)) == 2 })
	if all := texts(ps); strings.Count(all, "Alice") != 1 {
		t.Fatalf("Alice was announced again after the restart:\n%s", all)
	}
}

// Two replicas share one database: exactly one follows the meeting, and
// when it stops the other takes the watch over.
func TestOneReplicaHoldsAWatchAndAnotherTakesItOver(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	other := f.openStore(t) // a second process on the same file
	r1, stop1 := f.runner(t, "replica-1", f.store)
	if err := r1.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "replica-1 to follow", func() bool { return r1.Live(meetingID) })
	r2, _ := f.runner(t, "replica-2", other)
	// Several claim periods pass: replica-2 must not follow too.
	time.Sleep(time.Second)
	if r2.Live(meetingID) || f.fake.Sockets(string(meetingID)) != 1 {
		t.Fatalf("two replicas follow the meeting (sockets: %d)", f.fake.Sockets(string(meetingID)))
	}
	stop1() // gives its lease up
	waitUntil(t, "replica-2 to take over", func() bool { return r2.Live(meetingID) })
	f.join(t, meetingapitest.Person{Name: "Carol", Account: "carol", OrgID: hostOrg})
	f.posts.waitFor(t, "Carol's alert", func(ps []posted) bool { return strings.Contains(texts(alerts(ps)), "Carol") })
}

func TestUnwatchStopsFollowing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r, _ := f.runner(t, "h1", f.store)
	if err := r.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a live socket", func() bool { return r.Live(meetingID) })
	if err := r.Stop(t.Context(), general, meetingID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the socket to close", func() bool { return !r.Live(meetingID) && f.fake.Sockets(string(meetingID)) == 0 })
	var we *commands.WatchError
	if err := r.Stop(t.Context(), general, meetingID); !errors.As(err, &we) {
		t.Fatalf("a second unwatch: %v", err)
	}
}

// When the bot is removed from a watching channel, nobody there can be
// told: the watch there ends, and the person who started it hears why.
func TestABotRemovedFromTheChannelEndsTheWatchAndTellsWhoStartedIt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	r, _ := f.runner(t, "h1", f.store)
	if err := r.Start(t.Context(), commands.WatchRequest{Channel: general, ConferenceID: meetingID, By: "U1"}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a live socket", func() bool { return r.Live(meetingID) })
	f.posts.mu.Lock()
	f.posts.notMember["C1"] = true
	f.posts.mu.Unlock()
	f.join(t, meetingapitest.Person{Name: "Eve", Anonymous: true})
	ps := f.posts.waitFor(t, "a message to the one who started it", func(ps []posted) bool {
		for _, p := range ps {
			if p.channel == "U1" {
				return true
			}
		}
		return false
	})
	if all := texts(ps); !strings.Contains(all, "no longer a member of <#C1>") || !strings.Contains(all, "/invite @meetingbot") {
		t.Fatalf("posted:\n%s", all)
	}
	waitUntil(t, "the watch to stop", func() bool { return !r.Live(meetingID) && f.fake.Sockets(string(meetingID)) == 0 })
	left, err := f.store.ClaimWatches(t.Context(), "someone", time.Now(), time.Now().Add(time.Minute))
	if err != nil || len(left) != 0 {
		t.Fatalf("watches left: %+v, %v", left, err)
	}
}
