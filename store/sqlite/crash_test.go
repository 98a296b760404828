package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
)

// Environment of the crash helper process.
const (
	crashHelperEnv = "MEETINGBOT_CRASH_HELPER"
	crashDBEnv     = "MEETINGBOT_CRASH_DB"
	crashKeyEnv    = "MEETINGBOT_CRASH_KEY"
	crashRoundEnv  = "MEETINGBOT_CRASH_ROUND"
)

// What the helper writes in round r, iteration i. The parent derives the same
// values to check what survived.
func crashChannel(round int) store.Channel {
	return store.Channel{Team: "T1", ID: fmt.Sprintf("Ccrash%d", round)}
}
func crashConf(i int) domain.ConferenceID { return domain.ConferenceID(fmt.Sprintf("9%08d", i)) }
func crashPassword(round, i int) string {
	return fmt.Sprintf("pw-%d-%d", round, i)
}
func crashToken(round, i int) string    { return fmt.Sprintf("tok-%d-%d", round, i) }
func crashEnvelope(round, i int) string { return fmt.Sprintf("env-%d-%d", round, i) }

// crashHelperOutput collects what a helper process reports on stdout:
// "ready" after its first committed write, then "committed N" after every
// iteration whose writes have all committed.
type crashHelperOutput struct {
	ready chan struct{} // closed on the first "committed N"
	done  chan struct{} // closed at EOF

	mu        sync.Mutex
	committed int // last "committed N"; -1 before the first
	other     []string
}

func readCrashHelper(f *os.File) *crashHelperOutput {
	o := &crashHelperOutput{ready: make(chan struct{}), done: make(chan struct{}), committed: -1}
	go func() {
		defer close(o.done)
		defer f.Close()
		readyClosed := false
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := sc.Text()
			o.mu.Lock()
			switch {
			case line == "ready":
			case strings.HasPrefix(line, "committed "):
				if n, err := strconv.Atoi(strings.TrimPrefix(line, "committed ")); err == nil {
					o.committed = n
					// Ready once an iteration has committed, so a kill always
					// has one to check, however slow the machine.
					if !readyClosed {
						close(o.ready)
						readyClosed = true
					}
				}
			default:
				o.other = append(o.other, line)
			}
			o.mu.Unlock()
		}
	}()
	return o
}

// TestCrashDuringWritesLeavesADatabaseThatReopens kills (SIGKILL) a process
// in the middle of a stream of writes, three times on the same file, and
// checks after each kill that the database opens with the same key, passes
// PRAGMA integrity_check, still holds every write the process reported as
// committed, and accepts new writes.
func TestCrashDuringWritesLeavesADatabaseThatReopens(t *testing.T) {
	t.Parallel()
	if os.Getenv(crashHelperEnv) != "" {
		t.Skip("running as the crash helper")
	}
	ctx := context.Background()
	key := mustKey(t)
	path := filepath.Join(t.TempDir(), "crash.db")

	const rounds = 3
	for round := range rounds {
		last := runAndKillCrashHelper(t, path, key, round)
		t.Logf("round %d: killed after %d committed iterations", round, last+1)

		// The crashed file opens with the same key, and what was reported
		// committed is there.
		s, err := store.Open(ctx, path, key)
		if err != nil {
			t.Fatalf("round %d: reopening after kill -9: %v", round, err)
		}
		for r := 0; r <= round; r++ {
			pw, err := s.Password(ctx, crashChannel(r), crashConf(0))
			if err != nil || pw.Reveal() != crashPassword(r, 0) {
				s.Close()
				t.Fatalf("round %d: first bind of round %d: Password = %q, %v; want %q", round, r, pw, err, crashPassword(r, 0))
			}
		}
		ch := crashChannel(round)
		if pw, err := s.Password(ctx, ch, crashConf(last)); err != nil || pw.Reveal() != crashPassword(round, last) {
			s.Close()
			t.Fatalf("round %d: last committed bind (%d): Password = %q, %v; want %q", round, last, pw, err, crashPassword(round, last))
		}
		if tok, _, err := s.Token(ctx, ch, crashConf(last)); err != nil || tok.Reveal() != crashToken(round, last) {
			s.Close()
			t.Fatalf("round %d: last committed token (%d): Token = %q, %v; want %q", round, last, tok, err, crashToken(round, last))
		}
		if first, err := s.ClaimEnvelope(ctx, store.Claim{EnvelopeID: crashEnvelope(round, last), Holder: "check"}); err != nil || first {
			s.Close()
			t.Fatalf("round %d: last committed envelope (%d): ClaimEnvelope = %v, %v; want already claimed", round, last, first, err)
		}
		if h, err := s.History(ctx, ch, 1); err != nil || len(h) == 0 {
			s.Close()
			t.Fatalf("round %d: History = %v, %v; want the helper's audit records", round, h, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: close: %v", round, err)
		}

		checkIntegrity(t, path, round)

		// And it takes new writes.
		s, err = store.Open(ctx, path, key)
		if err != nil {
			t.Fatalf("round %d: reopening after integrity check: %v", round, err)
		}
		after := crashChannel(100 + round)
		if err := s.Bind(ctx, store.BindRequest{Channel: after, ConferenceID: "123456789", Password: "after-crash", By: store.Actor{UserID: "U1"}}); err != nil {
			s.Close()
			t.Fatalf("round %d: Bind after crash: %v", round, err)
		}
		if err := s.PutToken(ctx, after, "123456789", "tok-after", time.Now().Add(time.Hour)); err != nil {
			s.Close()
			t.Fatalf("round %d: PutToken after crash: %v", round, err)
		}
		if err := s.Record(ctx, store.AuditRecord{Channel: after, UserID: "U1", Action: "bind", ConferenceID: "123456789", Outcome: "ok"}, nil); err != nil {
			s.Close()
			t.Fatalf("round %d: Audit after crash: %v", round, err)
		}
		if first, err := s.ClaimEnvelope(ctx, store.Claim{EnvelopeID: fmt.Sprintf("after-%d", round), Holder: "check"}); err != nil || !first {
			s.Close()
			t.Fatalf("round %d: ClaimEnvelope after crash = %v, %v; want a first claim", round, first, err)
		}
		if pw, err := s.Password(ctx, after, "123456789"); err != nil || pw.Reveal() != "after-crash" {
			s.Close()
			t.Fatalf("round %d: Password after crash = %q, %v", round, pw, err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("round %d: close after new writes: %v", round, err)
		}
	}
	checkIntegrity(t, path, rounds)
}

// runAndKillCrashHelper starts the helper on path, waits until it has
// committed a write, lets it write for a while more, kills it with SIGKILL
// and returns the last iteration it reported committed.
func runAndKillCrashHelper(t *testing.T, path string, key store.Key, round int) int {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$", "-test.count=1", "-test.timeout=60s")
	cmd.Env = append(os.Environ(),
		crashHelperEnv+"=1",
		crashDBEnv+"="+path,
		crashKeyEnv+"="+key.Encode(),
		crashRoundEnv+"="+strconv.Itoa(round),
	)
	cmd.Stdout = pw
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		t.Fatalf("round %d: starting the helper: %v", round, err)
	}
	pw.Close() // the child holds the write end now
	out := readCrashHelper(pr)

	kill := func() {
		_ = cmd.Process.Kill()
		select {
		case <-out.done:
		case <-time.After(5 * time.Second):
			t.Errorf("round %d: the helper's stdout stayed open after kill", round)
		}
		_ = cmd.Wait() // "signal: killed"
	}

	select {
	case <-out.ready:
	case <-out.done:
		_ = cmd.Wait()
		t.Fatalf("round %d: the helper exited before its first write (%v)\nstdout: %q\nstderr: %s", round, cmd.ProcessState, out.other, stderr.Bytes())
	case <-time.After(8 * time.Second):
		kill()
		t.Fatalf("round %d: the helper was not ready after 8s\nstdout: %q\nstderr: %s", round, out.other, stderr.Bytes())
	}
	// Let writes be in flight when the kill lands; nothing depends on how
	// many happen.
	time.Sleep(200 * time.Millisecond)
	kill()

	out.mu.Lock()
	defer out.mu.Unlock()
	// A helper that failed a write prints "--- FAIL" and exits on its own
	// (ExitCode is -1 only for a process ended by a signal).
	if (runtime.GOOS != "windows" && cmd.ProcessState.ExitCode() != -1) || slices.ContainsFunc(out.other, func(l string) bool { return strings.Contains(l, "FAIL") }) {
		t.Fatalf("round %d: the helper was not killed but exited: %v\nstdout: %q\nstderr: %s", round, cmd.ProcessState, out.other, stderr.Bytes())
	}
	if out.committed < 0 {
		t.Fatalf("round %d: the helper reported ready but no committed iteration\nstderr: %s", round, stderr.Bytes())
	}
	return out.committed
}

// checkIntegrity runs PRAGMA integrity_check on a raw handle on the file.
func checkIntegrity(t *testing.T, path string, round int) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatalf("round %d: raw open: %v", round, err)
	}
	defer db.Close()
	rows, err := db.Query(`PRAGMA integrity_check`)
	if err != nil {
		t.Fatalf("round %d: integrity_check: %v", round, err)
	}
	defer rows.Close()
	var results []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatalf("round %d: integrity_check: %v", round, err)
		}
		results = append(results, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("round %d: integrity_check: %v", round, err)
	}
	if len(results) != 1 || results[0] != "ok" {
		t.Fatalf("round %d: integrity_check = %q; want [ok]", round, results)
	}
}

// TestCrashHelperProcess is the process TestCrashDuringWritesLeavesADatabaseThatReopens
// kills. It writes until killed (or for at most 30 s).
func TestCrashHelperProcess(t *testing.T) {
	if os.Getenv(crashHelperEnv) != "1" {
		t.Skip("only run as a helper process by TestCrashDuringWritesLeavesADatabaseThatReopens")
	}
	ctx := context.Background()
	key, err := store.ParseKey(os.Getenv(crashKeyEnv))
	if err != nil {
		t.Fatal(err)
	}
	round, err := strconv.Atoi(os.Getenv(crashRoundEnv))
	if err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(ctx, os.Getenv(crashDBEnv), key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	ch := crashChannel(round)
	stop := time.Now().Add(30 * time.Second)
	for i := 0; time.Now().Before(stop); i++ {
		now := time.Now()
		conf := crashConf(i)
		if err := s.Bind(ctx, store.BindRequest{Channel: ch, ConferenceID: conf, Password: domain.Password(crashPassword(round, i)), By: store.Actor{UserID: "U1"}, At: now}); err != nil {
			t.Fatalf("Bind %d: %v", i, err)
		}
		if i == 0 {
			fmt.Fprintln(os.Stdout, "ready")
		}
		if err := s.PutToken(ctx, ch, conf, domain.Token(crashToken(round, i)), now.Add(time.Hour)); err != nil {
			t.Fatalf("PutToken %d: %v", i, err)
		}
		if err := s.Record(ctx, store.AuditRecord{At: now, Channel: ch, UserID: "U1", Action: "bind", ConferenceID: conf,
			Outcome: "ok", Detail: strings.Repeat("d", i%200)}, nil); err != nil {
			t.Fatalf("Audit %d: %v", i, err)
		}
		if _, err := s.ClaimEnvelope(ctx, store.Claim{EnvelopeID: crashEnvelope(round, i), Holder: "helper", ClaimedAt: now}); err != nil {
			t.Fatalf("ClaimEnvelope %d: %v", i, err)
		}
		fmt.Fprintf(os.Stdout, "committed %d\n", i)
	}
	t.Fatal("the helper was not killed within 30 s")
}
