// Package pgtest gives tests a PostgreSQL database of their own: a fresh
// schema on the server MEETINGBOT_TEST_POSTGRES names (default: the local
// server, user postgres, database test), dropped when the test ends.
// Without a reachable server a test skips with a clear message, unless
// MEETINGBOT_REQUIRE_POSTGRES=1 (as in CI), when it fails.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The variables that point the tests at a server.
const (
	EnvDSN     = "MEETINGBOT_TEST_POSTGRES"
	EnvRequire = "MEETINGBOT_REQUIRE_POSTGRES"
	DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

const timeout = 5 * time.Second

var server struct {
	once  sync.Once
	dsn   string
	admin *pgxpool.Pool
	err   error
}

// Admin connects once to the test server and returns a small pool on it,
// or skips (fails, with MEETINGBOT_REQUIRE_POSTGRES=1) the test.
func Admin(t testing.TB) *pgxpool.Pool {
	t.Helper()
	server.once.Do(func() {
		server.dsn = os.Getenv(EnvDSN)
		if server.dsn == "" {
			server.dsn = DefaultDSN
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		cfg, err := pgxpool.ParseConfig(server.dsn)
		if err != nil {
			server.err = err
			return
		}
		cfg.MaxConns = 4
		pool, err := pgxpool.NewWithConfig(ctx, cfg)
		if err == nil {
			err = pool.Ping(ctx)
		}
		if err != nil {
			if pool != nil {
				pool.Close()
			}
			server.err = err
			return
		}
		server.admin = pool
	})
	if server.err != nil {
		msg := "PostgreSQL not reachable at " + Redacted(server.dsn) + " (" + server.err.Error() + "); set " + EnvDSN + " or start one"
		if os.Getenv(EnvRequire) == "1" {
			t.Fatal(msg + " (" + EnvRequire + "=1 makes this a failure)")
		}
		t.Skip(msg)
	}
	return server.admin
}

// ServerDSN is the test server's DSN (call Admin first).
func ServerDSN(t testing.TB) string {
	t.Helper()
	Admin(t)
	return server.dsn
}

// Schema creates a schema for one test, dropped when it ends, and returns
// the test server's DSN with search_path set to it.
func Schema(t testing.TB) string {
	t.Helper()
	admin := Admin(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "meetingbot_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("creating schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return WithSearchPath(t, server.dsn, schema)
}

// WithSearchPath returns dsn with search_path set to schema.
func WithSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		t.Fatalf("%s must be a postgres:// URL for these tests", EnvDSN)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Redacted is dsn without its password, for messages.
func Redacted(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		return u.Redacted()
	}
	return "the configured server"
}
