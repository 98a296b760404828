package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
)

// PutWatch implements store.Backend.
func (d *DB) PutWatch(ctx context.Context, w store.Watch) error {
	tag, err := d.pool.Exec(ctx, `INSERT INTO watches (team, channel, conference_id, started_by, started_at)
		SELECT team, channel, conference_id, $4, $5 FROM meetings WHERE team = $1 AND channel = $2 AND conference_id = $3
		ON CONFLICT (team, channel, conference_id) DO UPDATE SET started_by = excluded.started_by, started_at = excluded.started_at`,
		w.Channel.Team, w.Channel.ID, string(w.ConferenceID), w.StartedBy, millis(w.StartedAt))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// EndWatch implements store.Backend.
func (d *DB) EndWatch(ctx context.Context, w store.Watch) error {
	tag, err := d.pool.Exec(ctx, `DELETE FROM watches WHERE team = $1 AND channel = $2 AND conference_id = $3 AND started_at = $4`,
		w.Channel.Team, w.Channel.ID, string(w.ConferenceID), millis(w.StartedAt))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// DeleteWatch implements store.Backend.
func (d *DB) DeleteWatch(ctx context.Context, ch store.Channel, id domain.ConferenceID) error {
	tag, err := d.pool.Exec(ctx, `DELETE FROM watches WHERE team = $1 AND channel = $2 AND conference_id = $3`, ch.Team, ch.ID, string(id))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ClaimWatches implements store.Backend. The holder's own watches are
// renewed, waiting for a row another statement has locked (someone turning
// the same watch on again): skipped, the watch would look lost and its
// follower would stop. Free and expired watches are taken with SKIP LOCKED,
// and the lease condition is checked again on the locked row, so each goes
// to one holder.
func (d *DB) ClaimWatches(ctx context.Context, holder string, now, until time.Time) ([]store.Watch, error) {
	rows, err := d.pool.Query(ctx, `WITH renewed AS (
			UPDATE watches SET lease_until = $2 WHERE holder = $1
			RETURNING team, channel, conference_id, started_by, started_at, holder, lease_until
		), taken AS (
			UPDATE watches w SET holder = $1, lease_until = $2
			FROM (SELECT team, channel, conference_id FROM watches
				WHERE holder <> $1 AND (holder = '' OR lease_until < $3)
				FOR UPDATE SKIP LOCKED) free
			WHERE w.team = free.team AND w.channel = free.channel AND w.conference_id = free.conference_id
				AND w.holder <> $1 AND (w.holder = '' OR w.lease_until < $3)
			RETURNING w.team, w.channel, w.conference_id, w.started_by, w.started_at, w.holder, w.lease_until
		)
		SELECT * FROM renewed UNION ALL SELECT * FROM taken`,
		holder, millis(until), millis(now))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Watch, error) {
		var (
			w         store.Watch
			id        string
			at, lease int64
		)
		err := row.Scan(&w.Channel.Team, &w.Channel.ID, &id, &w.StartedBy, &at, &w.Holder, &lease)
		w.ConferenceID, w.StartedAt, w.LeaseUntil = domain.ConferenceID(id), time.UnixMilli(at).UTC(), time.UnixMilli(lease).UTC()
		return w, err
	})
}

// ReleaseWatch implements store.Backend.
func (d *DB) ReleaseWatch(ctx context.Context, ch store.Channel, id domain.ConferenceID, holder string) error {
	_, err := d.pool.Exec(ctx, `UPDATE watches SET holder = '', lease_until = 0
		WHERE team = $1 AND channel = $2 AND conference_id = $3 AND holder = $4`, ch.Team, ch.ID, string(id), holder)
	return err
}
