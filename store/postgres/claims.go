package postgres

import (
	"context"
	"time"

	"github.com/meetingbot/meetingbot/store"
)

// ClaimEnvelope implements store.Backend: the primary key decides who is
// first, whichever replica asks.
func (d *DB) ClaimEnvelope(ctx context.Context, c store.ClaimRow) (bool, error) {
	tag, err := d.pool.Exec(ctx, `INSERT INTO envelopes (id, claimed_at, holder, lease_until, payload_ct)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		c.EnvelopeID, millis(c.ClaimedAt), c.Holder, millis(c.LeaseUntil), c.PayloadCT)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// RenewClaims implements store.Backend.
func (d *DB) RenewClaims(ctx context.Context, holder string, ids []string, until time.Time) error {
	_, err := d.pool.Exec(ctx, `UPDATE envelopes SET lease_until = $1
		WHERE id = ANY($2) AND holder = $3 AND NOT done`, millis(until), ids, holder)
	return err
}

// FinishEnvelope implements store.Backend.
func (d *DB) FinishEnvelope(ctx context.Context, id string) error {
	_, err := d.pool.Exec(ctx, `UPDATE envelopes SET done = true, payload_ct = NULL WHERE id = $1`, id)
	return err
}

// TakeExpiredClaims implements store.Backend. Rows another replica is taking
// at the same moment are skipped (SKIP LOCKED) rather than waited for; a
// row taken and committed since this statement's snapshot is re-checked
// against the lease after its lock, and so is not taken twice.
func (d *DB) TakeExpiredClaims(ctx context.Context, holder string, now, until time.Time, limit int) ([]store.ClaimRow, error) {
	rows, err := d.pool.Query(ctx, `UPDATE envelopes e SET holder = $1, lease_until = $2, takeovers = e.takeovers + 1
		FROM (SELECT id FROM envelopes WHERE NOT done AND lease_until < $3
			ORDER BY lease_until LIMIT $4 FOR UPDATE SKIP LOCKED) expired
		WHERE e.id = expired.id AND NOT e.done AND e.lease_until < $3
		RETURNING e.id, e.claimed_at, e.holder, e.lease_until, e.payload_ct, e.takeovers`,
		holder, millis(until), millis(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.ClaimRow
	for rows.Next() {
		var (
			c               store.ClaimRow
			claimed, leased int64
		)
		if err := rows.Scan(&c.EnvelopeID, &claimed, &c.Holder, &leased, &c.PayloadCT, &c.Takeovers); err != nil {
			return nil, err
		}
		c.ClaimedAt, c.LeaseUntil = time.UnixMilli(claimed).UTC(), time.UnixMilli(leased).UTC()
		out = append(out, c)
	}
	return out, rows.Err()
}

// PruneEnvelopes implements store.Backend. Unfinished claims whose lease is
// still live are kept.
func (d *DB) PruneEnvelopes(ctx context.Context, cutoff time.Time) (int64, error) {
	tag, err := d.pool.Exec(ctx, `DELETE FROM envelopes WHERE claimed_at < $1 AND (done OR lease_until < $1)`, millis(cutoff))
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
