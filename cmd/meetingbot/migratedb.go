package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/kelseyhightower/envconfig"

	"github.com/meetingbot/meetingbot/store"
)

// migrateDB is `meetingbot migrate-db FROM TO`: it copies every binding,
// ciphertext, controller, audit record, meeting state, unfinished command
// and watch from one database to a new, empty one (typically a SQLite file
// to PostgreSQL), with the same MEETINGBOT_SECRET_KEY. Nothing is decrypted:
// ciphertexts are bound to their channel and meeting, not to the database.
// Stop the bot first.
func migrateDB(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 2 {
		return usageError("migrate-db takes two databases, FROM and TO (a SQLite file or a postgres:// URL)\n" + usage)
	}
	var key struct {
		SecretKey string `envconfig:"MEETINGBOT_SECRET_KEY" required:"true"`
	}
	if err := envconfig.Process("", &key); err != nil {
		return fromEnvconfig(err)
	}
	k, err := store.ParseKey(key.SecretKey)
	if err != nil {
		return &configError{Var: "MEETINGBOT_SECRET_KEY", Problem: "must be 32 random bytes in standard base64"}
	}
	var dbs [2]database
	for i, a := range args {
		if err := dbs[i].Decode(strings.TrimSpace(a)); err != nil {
			return usageError(fmt.Sprintf("%s: %v", []string{"FROM", "TO"}[i], err))
		}
	}
	if store.Kind(string(dbs[0])) == "sqlite" && store.Kind(string(dbs[1])) == "sqlite" && dbs[0] == dbs[1] {
		return usageError("FROM and TO are the same database")
	}
	from, err := store.Open(ctx, string(dbs[0]), k)
	if err != nil {
		return fmt.Errorf("FROM %s: %w", dbs[0], dbError(dbs[0], err))
	}
	defer from.Close()
	to, err := store.Open(ctx, string(dbs[1]), k)
	if err != nil {
		return fmt.Errorf("TO %s: %w", dbs[1], dbError(dbs[1], err))
	}
	defer to.Close()
	counts, err := store.Copy(ctx, from.Backend(), to.Backend())
	switch {
	case errors.Is(err, store.ErrNotEmpty):
		return fmt.Errorf("TO %s already holds data, so nothing was copied: copy into a new, empty database", dbs[1])
	case err != nil:
		return fmt.Errorf("copying %s to %s: %w (nothing was written)", dbs[0], dbs[1], err)
	}
	_, err = fmt.Fprintf(stdout, "copied %s from %s to %s; point MEETINGBOT_DB at %s and start meetingbot\n", counts, dbs[0], dbs[1], dbs[1])
	return err
}
