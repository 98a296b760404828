package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
	"github.com/meetingbot/meetingbot/store/postgres/pgtest"
	"github.com/meetingbot/meetingbot/store/storetest"
)

var (
	chA    = store.Channel{Team: "T1", ID: "C111"}
	t0     = time.Date(2025, 3, 14, 9, 26, 53, 589_000_000, time.UTC)
	confID = domain.ConferenceID("914083136")
)

// Each test runs in a fresh schema of its own on the test server (pgtest).
func adminPool(t testing.TB) *pgxpool.Pool { return pgtest.Admin(t) }
func freshSchema(t testing.TB) string      { return pgtest.Schema(t) }
func redactedDSN(dsn string) string        { return pgtest.Redacted(dsn) }

func openDB(t testing.TB, dsn string, opts ...Option) *DB {
	t.Helper()
	d, err := Open(context.Background(), dsn, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mustKey(t testing.TB) store.Key {
	t.Helper()
	k, err := store.NewRandomKey()
	must(t, err)
	return k
}

func newStore(t testing.TB, b store.Backend, key store.Key) *store.Store {
	t.Helper()
	st, err := store.New(context.Background(), b, key)
	must(t, err)
	return st
}

func TestConformance(t *testing.T) {
	t.Parallel()
	adminPool(t)
	storetest.Run(t, func(t *testing.T) store.Backend {
		d, err := Open(t.Context(), freshSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func TestOpenSelectsPostgresForPostgresURLs(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	key := mustKey(t)
	for _, u := range []string{dsn, "postgresql" + strings.TrimPrefix(dsn, "postgres")} {
		if store.Kind(u) != "postgres" {
			t.Fatalf("Kind(%s) = %s", redactedDSN(u), store.Kind(u))
		}
		st, err := store.Open(t.Context(), u, key)
		if err != nil {
			t.Fatalf("store.Open(%s): %v", redactedDSN(u), err)
		}
		if _, ok := st.Backend().(*DB); !ok {
			t.Errorf("store.Open(%s) opened a %T", redactedDSN(u), st.Backend())
		}
		must(t, st.Close())
	}
}

func TestABadURLOrAnUnreachableServerFailsWithoutThePassword(t *testing.T) {
	t.Parallel()
	const password = "pg-Pa55-never-shown"
	for _, dsn := range []string{
		"postgres://meetingbot:" + password + "@127.0.0.1:1/meetingbot?sslmode=disable&connect_timeout=2",
		"postgres://meetingbot:" + password + "@127.0.0.1:5432/meetingbot?sslmode=bogus",
		"postgres://meetingbot:" + password + "@[::1/x",
		// pgx also takes the password as a parameter.
		"postgres://meetingbot@127.0.0.1:1/meetingbot?sslmode=disable&connect_timeout=2&password=" + password,
		"postgres://meetingbot@127.0.0.1:5432/meetingbot?sslmode=bogus&password=" + password,
		"postgres://meetingbot@127.0.0.1:1/meetingbot?sslmode=disable&connect_timeout=2&sslpassword=" + password,
	} {
		_, err := Open(t.Context(), dsn)
		if err == nil {
			t.Errorf("Open of a bad URL succeeded")
			continue
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("the error %q contains the password", err)
		}
		if !strings.HasPrefix(err.Error(), "store: open: ") {
			t.Errorf("the error %q does not say where it comes from", err)
		}
	}
	if _, err := Open(t.Context(), " "); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Open of an empty URL: err = %v, want ErrInvalid", err)
	}
}

func TestASchemaThatDoesNotExistIsNamedAsTheProblem(t *testing.T) {
	t.Parallel()
	adminPool(t)
	_, err := Open(t.Context(), pgtest.WithSearchPath(t, pgtest.ServerDSN(t), "meetingbot_test_missing_schema"))
	if err == nil || !strings.Contains(err.Error(), "search_path") {
		t.Errorf("Open with a search_path naming no schema: err = %v, want it to name search_path", err)
	}
}

func TestReplicasStartingTogetherMigrateOnce(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	const replicas = 4
	var (
		wg    sync.WaitGroup
		errs  = make([]error, replicas)
		start = make(chan struct{})
	)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			d, err := Open(context.Background(), dsn)
			if err == nil {
				err = d.Close()
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	d := openDB(t, dsn)
	var versions []int
	rows, err := d.pool.Query(t.Context(), `SELECT version FROM schema_migrations ORDER BY version`)
	must(t, err)
	versions, err = pgx.CollectRows(rows, pgx.RowTo[int])
	must(t, err)
	if len(versions) != SchemaVersion() || versions[len(versions)-1] != SchemaVersion() {
		t.Errorf("schema_migrations holds %v, want 1..%d once each", versions, SchemaVersion())
	}
}

func TestMigrationsOfAnotherSchemaDoNotWait(t *testing.T) {
	t.Parallel()
	dsnA, dsnB := freshSchema(t), freshSchema(t)
	a := openDB(t, dsnA)
	// Hold schema A's migration lock, as a replica in the middle of a long
	// migration would.
	tx, err := a.pool.Begin(t.Context())
	must(t, err)
	defer tx.Rollback(context.Background()) //nolint:errcheck
	_, err = tx.Exec(t.Context(), `SELECT pg_advisory_xact_lock($1)`, a.lockKey("migrate"))
	must(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	b, err := Open(ctx, dsnB)
	if err != nil {
		t.Fatalf("opening schema B while schema A's migration lock is held: %v", err)
	}
	b.Close()

	// Schema A itself waits for its lock.
	short, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := Open(short, dsnA); err == nil {
		t.Error("a replica of schema A started while A's migration lock was held")
	}
}

func TestADatabaseFromANewerBuildIsRefused(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	d := openDB(t, dsn)
	_, err := d.pool.Exec(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, 'future.sql', 0)`, SchemaVersion()+1)
	must(t, err)
	_, err = Open(t.Context(), dsn)
	if err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Errorf("Open of a newer schema: err = %v", err)
	}
}
