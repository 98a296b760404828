package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
	"github.com/meetingbot/meetingbot/store/postgres/pgtest"
)

// migrate-db moves a SQLite database to PostgreSQL: every binding reads
// back with the same key, and a second copy into the now full database is
// refused without writing anything.
func TestMigrateDBMovesASQLiteDatabaseToPostgreSQL(t *testing.T) {
	e := validEnv(t)
	setEnv(t, e)
	key, err := store.ParseKey(e["MEETINGBOT_SECRET_KEY"])
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	from := filepath.Join(t.TempDir(), "old.db")
	src, err := store.Open(ctx, from, key)
	if err != nil {
		t.Fatal(err)
	}
	ch := domain.Channel{Team: "T1", ID: "C1"}
	if err := src.Bind(ctx, store.BindRequest{Channel: ch, ConferenceID: "914083136", Password: "host-pw-9", By: store.Actor{UserID: "U1"}, Verified: true}); err != nil {
		t.Fatal(err)
	}
	if err := src.PutToken(ctx, ch, "914083136", "a-control-token-1234", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	src.Close()
	to := pgtest.Schema(t)

	var out bytes.Buffer
	if err := run(ctx, []string{"migrate-db", from, to}, nil, &out); err != nil {
		t.Fatalf("migrate-db: %v", err)
	}
	if !strings.Contains(out.String(), "copied 1 bindings, 1 controllers") || strings.Contains(out.String(), "host-pw-9") {
		t.Errorf("migrate-db said %q", out.String())
	}
	dst, err := store.Open(ctx, to, key)
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	pw, err := dst.Password(ctx, ch, "914083136")
	if err != nil || pw.Reveal() != "host-pw-9" {
		t.Fatalf("the password after the move: %v", err)
	}
	tok, _, err := dst.Token(ctx, ch, "914083136")
	if err != nil || tok.Reveal() != "a-control-token-1234" {
		t.Fatalf("the token after the move: %v", err)
	}

	err = run(ctx, []string{"migrate-db", from, to}, nil, &out)
	if err == nil || !strings.Contains(err.Error(), "already holds data") {
		t.Fatalf("a second copy into the same database: %v", err)
	}
	for _, args := range [][]string{{"migrate-db"}, {"migrate-db", from}, {"migrate-db", from, from}} {
		if err := run(ctx, args, nil, &out); exitCode(err) != 2 {
			t.Errorf("%q: %v (exit %d), want a usage error", args, err, exitCode(err))
		}
	}
}
