package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/bot/slacktest"
	"github.com/meetingbot/meetingbot/commands"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/meetingapi/meetingapitest"
	"github.com/meetingbot/meetingbot/store"
	"github.com/meetingbot/meetingbot/store/claimstore"
)

// Statements is what a backend ran, as its driver saw it: one entry per
// statement sent to the database, in order, with BEGIN and COMMIT (or
// SAVEPOINT and RELEASE) as statements of their own.
type Statements interface {
	// Take returns the statements run since the last Take and forgets them.
	Take() []string
}

// LockStatements are the statements of one /meeting lock.
type LockStatements struct {
	// Cold is the first lock of a meeting, which fetches a control token
	// with the host password and caches it.
	Cold []string
	// Warm is a later lock, with the token cached.
	Warm []string
}

// CountLock runs /meeting lock through the real bot, connected to a fake
// Slack and calling a fake meeting API, on backend, and returns the
// statements each lock ran from the moment its envelope arrived until its
// claim was marked finished. Nothing else runs meanwhile: the bot's
// periodic claim work is pushed out of the way.
func CountLock(t *testing.T, backend store.Backend, counted Statements) LockStatements {
	t.Helper()
	const (
		id       = "914083136"
		password = "123456"
		channel  = "C0HOT"
		user     = "U0HOT"
	)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	key, err := store.NewRandomKey()
	must(t, err)
	st, err := store.New(ctx, backend, key)
	must(t, err)
	t.Cleanup(func() { st.Close() })

	sl := slacktest.New()
	t.Cleanup(sl.Close)
	api := meetingapitest.NewServer()
	t.Cleanup(api.Close)
	api.AddMeeting(id, password, meetingapitest.InProgress)

	client, err := meetingapi.NewClient(meetingapi.WithBaseURL(api.URL))
	must(t, err)
	svc, err := commands.New(commands.Config{Meetings: client, Store: st, Logger: zerolog.Nop()})
	must(t, err)
	b, err := bot.New(bot.Config{
		AppToken: sl.AppToken(), BotToken: sl.BotToken(), APIURL: sl.APIURL(),
		Service: svc, Claims: claimstore.New(st), Logger: zerolog.Nop(),
		ClaimLease: time.Hour, TakeoverEvery: time.Hour,
	})
	must(t, err)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	must(t, sl.WaitConnections(ctx, 2))

	must(t, st.Bind(ctx, store.BindRequest{Channel: store.Channel{Team: sl.TeamID(), ID: channel},
		ConferenceID: id, Password: password, By: store.Actor{UserID: user}, Verified: true}))

	lock := func(verb string) []string {
		t.Helper()
		counted.Take()
		env, err := sl.SendSlashCommand(ctx, slacktest.SlashCommand{ChannelID: channel, UserID: user, Text: verb})
		must(t, err)
		msgs, err := sl.WaitMessages(ctx, env, 1)
		must(t, err)
		if want := fmt.Sprintf(":%s: Meeting %s %sed by <@%s>.", verb, id, verb, user); !strings.HasPrefix(msgs[0].Text, want) {
			t.Fatalf("%s answered %q, want %q", verb, msgs[0].Text, want)
		}
		// The claim is marked finished after the answer: wait for it.
		var stmts []string
		deadline := time.Now().Add(30 * time.Second)
		for {
			stmts = append(stmts, counted.Take()...)
			if finished(stmts) {
				return stmts
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the claim was not marked finished; statements so far:\n%s", verb, strings.Join(stmts, "\n"))
			}
			time.Sleep(time.Millisecond)
		}
	}
	var out LockStatements
	out.Cold = lock("lock")
	lock("unlock")
	out.Warm = lock("lock")
	return out
}

// finished reports whether the statements include marking the claim
// finished and, if that ran in a transaction, its commit.
func finished(stmts []string) bool {
	for i, s := range stmts {
		u := strings.ToUpper(s)
		if strings.Contains(u, "UPDATE ENVELOPES SET DONE") {
			return !inTransaction(stmts[:i]) || !inTransaction(stmts)
		}
	}
	return false
}

// inTransaction reports whether the statements end inside an open
// transaction.
func inTransaction(stmts []string) bool {
	open := false
	for _, s := range stmts {
		switch u := strings.ToUpper(strings.TrimSpace(s)); {
		case strings.HasPrefix(u, "BEGIN"):
			open = true
		case u == "COMMIT", u == "ROLLBACK":
			open = false
		}
	}
	return open
}

// Count is what a list of statements from a Statements amounts to.
type Count struct {
	Statements int // SQL statements, not counting BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE
	Reads      int // SELECTs among them
	Writes     int // the rest
	// WriteTransactions counts the transactions that write: an explicit
	// BEGIN … COMMIT, a batch sent at once (marked by a "[batch] " prefix,
	// one implicit transaction), or a write on its own (autocommit).
	WriteTransactions int
}

func (c Count) String() string {
	return fmt.Sprintf("%d statements (%d reads, %d writes) in %d write transactions", c.Statements, c.Reads, c.Writes, c.WriteTransactions)
}

// CountOf counts statements as Statements.Take returned them.
func CountOf(stmts []string) Count {
	var c Count
	inTx, txWrites, inBatch, batchWrites := false, false, false, false
	endBatch := func() {
		if inBatch && batchWrites {
			c.WriteTransactions++
		}
		inBatch, batchWrites = false, false
	}
	for _, s := range stmts {
		if s == BatchStart {
			endBatch()
			continue
		}
		batch := strings.HasPrefix(s, BatchPrefix)
		if !batch {
			endBatch()
		}
		u := strings.ToUpper(strings.TrimSpace(strings.TrimPrefix(s, BatchPrefix)))
		switch {
		case strings.HasPrefix(u, "BEGIN"):
			inTx, txWrites = true, false
			continue
		case u == "COMMIT" || u == "ROLLBACK":
			if inTx && txWrites && u == "COMMIT" {
				c.WriteTransactions++
			}
			inTx = false
			continue
		case strings.HasPrefix(u, "SAVEPOINT"), strings.HasPrefix(u, "RELEASE"), strings.HasPrefix(u, "ROLLBACK TO"):
			continue
		}
		c.Statements++
		if strings.HasPrefix(u, "SELECT") {
			c.Reads++
			continue
		}
		c.Writes++
		switch {
		case inTx:
			txWrites = true
		case batch:
			inBatch, batchWrites = true, true
		default:
			c.WriteTransactions++
		}
	}
	endBatch()
	return c
}

// BatchPrefix marks statements a backend sent together in one batch, and
// BatchStart is the line that opens each batch, so that two batches sent one
// after the other count as two round trips and two transactions.
const (
	BatchPrefix = "[batch] "
	BatchStart  = "[batch start]"
)
