package store

import "context"

// Ping checks that the database answers a query that reads the file, for
// readiness probes. It uses the read pool, so a long write does not make
// the bot look down.
func (s *SQLite) Ping(ctx context.Context) error {
	var n int
	return s.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n)
}
