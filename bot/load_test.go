package bot_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/metrics"
	"github.com/meetingbot/meetingbot/store"
	"github.com/meetingbot/meetingbot/store/claimstore"
	_ "github.com/meetingbot/meetingbot/store/postgres"
	"github.com/meetingbot/meetingbot/store/postgres/pgtest"
)

// BenchmarkLoad is the load benchmark of issue 12. The bot runs in a process
// of its own (this test binary, started again), wired as `meetingbot run`
// wires it, so that its CPU time and allocations are its own: the fake
// Slack, the fake meeting API and the senders run in this process, over a
// real WebSocket and real HTTP on 127.0.0.1, and the store is a real SQLite
// file or a PostgreSQL schema (store/postgres/pgtest; skipped when no server
// is reachable). Every sender has its own channel, user and meeting, and
// alternates lock and unlock, so nothing is coalesced or queued behind
// another command for the same meeting. Rate limits are set far above the
// load (not switched off), so their bookkeeping is measured too.
//
//	go test -run '^$' -bench Load -benchtime 5000x ./bot/
//
// Scenarios: 64 commands in flight against an instant meeting API (the
// throughput), 64 in flight against a 300 ms API (the tail while commands
// wait on the meeting service), and one at a time (the ack and the
// overhead of a quiet moment). Each reports:
//
//   - commands/s;
//   - overhead-p50/p99-µs: the end-to-end time (envelope sent to the reply
//     arriving at the fake Slack) minus the API's latency;
//   - ack-wire-p50/p99-µs: from the envelope's last byte arriving at the
//     bot's socket to the ack's bytes leaving it (a tap in the bot's
//     process); ack-at-fake-p99-µs is the same seen from the fake Slack;
//   - cpu-µs/cmd and allocs/cmd: the bot process's user+system CPU time
//     (getrusage) and heap allocations per command.
//
// MEETINGBOT_LOAD_PROFILE=DIR writes the bot process's CPU and allocation
// profiles of each scenario to DIR.
func BenchmarkLoad(b *testing.B) {
	scenarios := []loadScenario{
		{inFlight: 64},
		{inFlight: 64, api: 300 * time.Millisecond},
		{inFlight: 1},
	}
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run("db="+db, func(b *testing.B) {
			for _, sc := range scenarios {
				// Each scenario has a database of its own.
				if db == "postgres" {
					sc.dsn = pgtest.Schema(b)
				} else {
					sc.dsn = filepath.Join(b.TempDir(), "meetingbot.db")
				}
				var env *loadEnv
				b.Run(sc.name(), func(b *testing.B) {
					if env == nil {
						env = startLoad(b, db, sc)
					}
					env.run(b)
				})
				if env != nil {
					env.close(b)
				}
			}
		})
	}
}

type loadScenario struct {
	inFlight int
	api      time.Duration
	dsn      string
}

func (s loadScenario) name() string { return fmt.Sprintf("in-flight=%d/api=%s", s.inFlight, s.api) }

// loadEnv is one scenario's fakes and bot process.
type loadEnv struct {
	sc       loadScenario
	slack    *slacktest.Server
	meetings *meetingapitest.Server
	child    *exec.Cmd
	stdin    io.WriteCloser
	stdout   *bufio.Reader
	senders  []loadSender
}

type loadSender struct {
	channel, user string
	n             int // commands sent, for alternating lock and unlock
}

const (
	loadChildEnv   = "MEETINGBOT_LOAD_CHILD"
	loadProfileEnv = "MEETINGBOT_LOAD_PROFILE"
)

// loadChildConfig is what the bot process is started with.
type loadChildConfig struct {
	AppToken, BotToken, SlackAPIURL string
	MeetingAPIURL                   string
	DB, Key                         string
	LogPath                         string
	Profile                         string // file prefix, or ""
}

// loadReport is what the bot process measured since the last mark.
type loadReport struct {
	CPUMicros int64
	Mallocs   uint64
	AckWire   []time.Duration
}

func startLoad(b *testing.B, db string, sc loadScenario) *loadEnv {
	b.Helper()
	e := &loadEnv{
		sc:       sc,
		slack:    slacktest.New(),
		meetings: meetingapitest.NewServer(),
	}
	key, err := store.NewRandomKey()
	if err != nil {
		b.Fatal(err)
	}
	cfg := loadChildConfig{
		AppToken: e.slack.AppToken(), BotToken: e.slack.BotToken(), SlackAPIURL: e.slack.APIURL(),
		MeetingAPIURL: e.meetings.URL, DB: sc.dsn, Key: key.Encode(),
		LogPath: filepath.Join(b.TempDir(), "bot.log"),
	}
	if dir := os.Getenv(loadProfileEnv); dir != "" {
		cfg.Profile = filepath.Join(dir, fmt.Sprintf("%s-in-flight-%d-api-%s", db, sc.inFlight, sc.api))
	}
	raw, _ := json.Marshal(cfg)
	e.child = exec.Command(os.Args[0])
	e.child.Env = append(os.Environ(), loadChildEnv+"="+string(raw))
	e.child.Stderr = os.Stderr
	if e.stdin, err = e.child.StdinPipe(); err != nil {
		b.Fatal(err)
	}
	out, err := e.child.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	e.stdout = bufio.NewReader(out)
	if err := e.child.Start(); err != nil {
		b.Fatal(err)
	}
	if line, err := e.stdout.ReadString('\n'); err != nil || line != "ready\n" {
		e.close(b)
		b.Fatalf("the bot process did not start: %q %v", line, err)
	}

	// One channel, person and meeting per sender: bind each, then lock it
	// once so its control token is cached before the measurement.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range sc.inFlight {
		s := loadSender{channel: fmt.Sprintf("CLOAD%03d", i), user: fmt.Sprintf("ULOAD%03d", i)}
		id := fmt.Sprintf("9141%05d", i)
		e.meetings.AddMeeting(id, password, meetingapitest.InProgress)
		for _, text := range []string{"bind " + id + " " + password, "lock"} {
			m, err := e.command(ctx, s, text)
			if err != nil {
				e.close(b)
				b.Fatalf("%s: %v", text, err)
			}
			if !strings.Contains(m.Text, "is now bound to this channel") && !strings.HasPrefix(m.Text, ":lock: Meeting") {
				e.close(b)
				b.Fatalf("%s: %q", text, m.Text)
			}
		}
		s.n = 1
		e.senders = append(e.senders, s)
	}
	e.meetings.SetLatency(sc.api)
	return e
}

// command sends text and waits for its reply.
func (e *loadEnv) command(ctx context.Context, s loadSender, text string) (slacktest.Message, error) {
	id, err := e.slack.SendSlashCommand(ctx, slacktest.SlashCommand{ChannelID: s.channel, UserID: s.user, Text: text})
	if err != nil {
		return slacktest.Message{}, err
	}
	msgs, err := e.slack.WaitMessages(ctx, id, 1)
	if err != nil {
		return slacktest.Message{}, err
	}
	return msgs[0], nil
}

// ask sends one request to the bot process and reads its one-line answer.
func (e *loadEnv) ask(b *testing.B, req string) string {
	b.Helper()
	if _, err := io.WriteString(e.stdin, req+"\n"); err != nil {
		b.Fatal(err)
	}
	line, err := e.stdout.ReadString('\n')
	if err != nil {
		b.Fatalf("the bot process did not answer %q: %v", req, err)
	}
	return strings.TrimSuffix(line, "\n")
}

func (e *loadEnv) run(b *testing.B) {
	if e.ask(b, "mark") != "ok" {
		b.Fatal("mark failed")
	}
	slackConns, apiConns := e.slack.TCPConnections(), e.meetings.Connections()
	var (
		next           sync.Mutex
		remaining      = b.N
		ackFake, overh sampler
		wg             sync.WaitGroup
		ctx, cancel    = context.WithTimeout(context.Background(), 10*time.Minute)
		stagger        = e.sc.api / time.Duration(e.sc.inFlight)
		take           = func() bool { next.Lock(); defer next.Unlock(); remaining--; return remaining >= 0 }
		errOnce        sync.Once
		firstErr       error
		fail           = func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }
	)
	defer cancel()
	b.ResetTimer()
	for i := range e.senders {
		s := &e.senders[i]
		wg.Go(func() {
			// With a slow API, senders that start together stay in
			// lockstep and turn a steady load into bursts.
			time.Sleep(time.Duration(i) * stagger)
			for take() {
				text, want := "lock", ":lock: Meeting"
				if s.n%2 == 1 {
					text, want = "unlock", ":unlock: Meeting"
				}
				s.n++
				start := time.Now()
				id, err := e.slack.SendSlashCommand(ctx, slacktest.SlashCommand{ChannelID: s.channel, UserID: s.user, Text: text})
				if err != nil {
					fail(err)
					return
				}
				ack, err := e.slack.WaitAck(ctx, id)
				if err != nil {
					fail(err)
					return
				}
				msgs, err := e.slack.WaitMessages(ctx, id, 1)
				if err != nil {
					fail(err)
					return
				}
				if !strings.HasPrefix(msgs[0].Text, want) {
					fail(fmt.Errorf("%s: reply %q", text, msgs[0].Text))
					return
				}
				ackFake.add(ack.Latency)
				overh.add(msgs[0].At.Sub(start) - e.sc.api)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	var rep loadReport
	if err := json.Unmarshal([]byte(e.ask(b, "report")), &rep); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commands/s")
	reportLatencies(b, "overhead", overh.d)
	reportLatencies(b, "ack-wire", rep.AckWire)
	b.ReportMetric(float64(percentile(ackFake.d, 0.99).Microseconds()), "ack-at-fake-p99-µs")
	b.ReportMetric(float64(rep.CPUMicros)/float64(b.N), "cpu-µs/cmd")
	b.ReportMetric(float64(rep.Mallocs)/float64(b.N), "allocs/cmd")
	// New TCP connections per command, to Slack (response_url) and to the
	// meeting API: a client that keeps its connections alive opens none.
	b.ReportMetric(float64(e.slack.TCPConnections()-slackConns)/float64(b.N), "slack-dials/cmd")
	b.ReportMetric(float64(e.meetings.Connections()-apiConns)/float64(b.N), "api-dials/cmd")
	b.ReportMetric(0, "ns/op") // commands/s says it, per command
}

func (e *loadEnv) close(b *testing.B) {
	if e.stdin != nil {
		e.stdin.Close()
	}
	if e.child != nil && e.child.Process != nil {
		done := make(chan error, 1)
		go func() { done <- e.child.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				b.Errorf("the bot process: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = e.child.Process.Kill()
			b.Error("the bot process did not stop")
		}
	}
	e.slack.Close()
	e.meetings.Close()
}

// TestMain runs the bot process of BenchmarkLoad when this binary is
// started as one; otherwise the tests.
func TestMain(m *testing.M) {
	if raw := os.Getenv(loadChildEnv); raw != "" {
		if err := runLoadChild(raw); err != nil {
			fmt.Fprintln(os.Stderr, "bot process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runLoadChild wires the bot as `meetingbot run` does (store, meeting API
// client, metrics, service, bot with two connections), logs at info level
// to a file, and answers the benchmark's requests on stdin until it closes:
// "mark" starts a measurement, "report" ends it with a loadReport.
func runLoadChild(raw string) error {
	var cfg loadChildConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		return err
	}
	key, err := store.ParseKey(cfg.Key)
	if err != nil {
		return err
	}
	logFile, err := os.Create(cfg.LogPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	log := zerolog.New(logFile).Level(zerolog.InfoLevel).With().Timestamp().Logger()

	ctx := context.Background()
	st, err := store.Open(ctx, cfg.DB, key)
	if err != nil {
		return err
	}
	defer st.Close()
	m := metrics.New("bench", "bench")
	api, err := meetingapi.NewClient(meetingapi.WithBaseURL(cfg.MeetingAPIURL), meetingapi.WithLogger(log),
		meetingapi.WithObserver(m.MeetingAPICall))
	if err != nil {
		return err
	}
	const unlimited = 1 << 30
	svc, err := commands.New(commands.Config{Meetings: api, Store: st, Logger: log, Metrics: m,
		Limits: commands.Limits{UserBurst: unlimited, UserPerMinute: unlimited, ChannelBurst: unlimited, ChannelPerMinute: unlimited}})
	if err != nil {
		return err
	}
	tap := newWireTap()
	bc := bot.Config{AppToken: cfg.AppToken, BotToken: cfg.BotToken, APIURL: cfg.SlackAPIURL,
		Service: svc, Claims: claimstore.New(st), Logger: log, Metrics: m}
	tap.option(&bc)
	b, err := bot.New(bc)
	if err != nil {
		return err
	}
	m.ConnectionsFrom(b.ConnectedCount)
	m.InFlightFrom(b.InFlight)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()
	for deadline := time.Now().Add(30 * time.Second); b.ConnectedCount() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			stop()
			return errors.New("not connected to the fake Slack")
		}
	}
	fmt.Println("ready")

	var (
		cpu0     int64
		mallocs0 uint64
		profile  *os.File
	)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "mark":
			tap.reset()
			cpu0, mallocs0 = cpuMicros(), mallocs()
			if cfg.Profile != "" {
				if profile, err = os.Create(cfg.Profile + ".cpu.pprof"); err == nil {
					err = pprof.StartCPUProfile(profile)
				}
				if err != nil {
					stop()
					return err
				}
			}
			fmt.Println("ok")
		case "report":
			rep := loadReport{CPUMicros: cpuMicros() - cpu0, Mallocs: mallocs() - mallocs0, AckWire: tap.latencies()}
			if profile != nil {
				pprof.StopCPUProfile()
				profile.Close()
				profile = nil
				if f, err := os.Create(cfg.Profile + ".allocs.pprof"); err == nil {
					_ = pprof.Lookup("allocs").WriteTo(f, 0)
					f.Close()
				}
			}
			out, _ := json.Marshal(rep)
			fmt.Println(string(out))
		}
	}
	stop()
	return <-done
}

func cpuMicros() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano()/1000 + ru.Stime.Nano()/1000
}

func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}
