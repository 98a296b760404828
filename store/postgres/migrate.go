package postgres

import (
	"context"
	"embed"
	"fmt"
	"github.com/meetingbot/meetingbot/store"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrationFS holds the schema migrations, NNNN_name.sql, applied in order.
// A released migration is never edited; changes go in a new file.
//
//go:embed migrations/*.sql
var migrationFS embed.FS

// loadMigrations reads this backend's embedded migrations.
func loadMigrations() ([]store.Migration, error) {
	return store.LoadMigrations(migrationFS, "migrations")
}

// SchemaVersion is the schema version this build migrates databases to.
func SchemaVersion() int {
	ms, err := loadMigrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrate brings the schema up to date in one transaction that first takes
// a transaction-level advisory lock on lockKey (a hash of the schema name):
// replicas starting together wait for the first one's migrations and then
// find nothing left to do, and two schemas in one database migrate
// independently. DDL is transactional in PostgreSQL, so a failed migration
// leaves the schema as it was.
func migrate(ctx context.Context, pool *pgxpool.Pool, lockKey int64) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text    NOT NULL,
			applied_at bigint  NOT NULL
		)`); err != nil {
			return err
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return err
		}
		if current > len(ms) {
			return fmt.Errorf("the database schema is version %d, newer than this build of meetingbot supports (%d); run a newer meetingbot", current, len(ms))
		}
		for _, m := range ms[current:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, time.Now().UnixMilli()); err != nil {
				return fmt.Errorf("migration %s: %w", m.Name, err)
			}
		}
		return nil
	})
}
