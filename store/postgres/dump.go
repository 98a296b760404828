package postgres

import (
	"context"
	"fmt"
	"iter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
)

var (
	_ store.Dumper = (*DB)(nil)
	_ store.Loader = (*DB)(nil)
)

// Dump implements store.Dumper from one REPEATABLE READ snapshot. Text
// sorts byte-wise (COLLATE "C"), as in SQLite, so both backends dump the
// same data in the same order.
func (d *DB) Dump(ctx context.Context) iter.Seq2[store.Row, error] {
	return func(yield func(store.Row, error) bool) {
		tx, err := d.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			yield(store.Row{}, err)
			return
		}
		defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // read only
		for _, q := range dumpQueries {
			stop, err := dumpQuery(ctx, tx, q.sql, q.scan, yield)
			if err != nil {
				yield(store.Row{}, err)
				return
			}
			if stop {
				return
			}
		}
	}
}

// dumpQuery yields a row for each result of query; stop is true when the
// consumer stopped.
func dumpQuery(ctx context.Context, tx pgx.Tx, query string, scan func(pgx.Rows) (store.Row, error),
	yield func(store.Row, error) bool) (stop bool, err error) {
	rows, err := tx.Query(ctx, query)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scan(rows)
		if err != nil {
			return false, err
		}
		if !yield(r, nil) {
			return true, nil
		}
	}
	return false, rows.Err()
}

var dumpQueries = []struct {
	sql  string
	scan func(pgx.Rows) (store.Row, error)
}{
	{`SELECT name, value FROM meta ORDER BY name COLLATE "C"`, func(rows pgx.Rows) (store.Row, error) {
		var m store.MetaRow
		err := rows.Scan(&m.Name, &m.Value)
		return store.Row{Meta: &m}, err
	}},
	{`SELECT ` + meetingCols + `, password_ct, token_ct FROM meetings
		ORDER BY team COLLATE "C", channel COLLATE "C", bind_seq`, func(rows pgx.Rows) (store.Row, error) {
		var b store.BindingRow
		m, err := scanMeeting(rows, &b.PasswordCT, &b.TokenCT)
		b.Meeting = m
		return store.Row{Binding: &b}, err
	}},
	{`SELECT team, channel, user_id, granted_by, granted_at FROM controllers
		ORDER BY team COLLATE "C", channel COLLATE "C", granted_at, seq`, func(rows pgx.Rows) (store.Row, error) {
		var (
			c  store.ControllerRow
			at int64
		)
		err := rows.Scan(&c.Channel.Team, &c.Channel.ID, &c.UserID, &c.GrantedBy, &at)
		c.GrantedAt = time.UnixMilli(at).UTC()
		return store.Row{Controller: &c}, err
	}},
	{`SELECT ` + auditCols + ` FROM audit ORDER BY id`, func(rows pgx.Rows) (store.Row, error) {
		r, err := scanAudit(rows)
		return store.Row{Audit: &r}, err
	}},
	{`SELECT ` + stateCols + ` FROM meeting_state ORDER BY conference_id COLLATE "C"`, func(rows pgx.Rows) (store.Row, error) {
		st, err := scanState(rows)
		return store.Row{State: &st}, err
	}},
	{`SELECT id, claimed_at, holder, lease_until, payload_ct, done, takeovers FROM envelopes ORDER BY claimed_at, id COLLATE "C"`, func(rows pgx.Rows) (store.Row, error) {
		var (
			e               store.EnvelopeRow
			claimed, leased int64
		)
		err := rows.Scan(&e.EnvelopeID, &claimed, &e.Holder, &leased, &e.PayloadCT, &e.Done, &e.Takeovers)
		e.ClaimedAt, e.LeaseUntil = time.UnixMilli(claimed).UTC(), time.UnixMilli(leased).UTC()
		return store.Row{Envelope: &e}, err
	}},
	{`SELECT team, channel, conference_id, started_by, started_at FROM watches ORDER BY team COLLATE "C", channel COLLATE "C", conference_id COLLATE "C"`, func(rows pgx.Rows) (store.Row, error) {
		var (
			w  store.Watch
			id string
			at int64
		)
		err := rows.Scan(&w.Channel.Team, &w.Channel.ID, &id, &w.StartedBy, &at)
		w.ConferenceID, w.StartedAt = domain.ConferenceID(id), time.UnixMilli(at).UTC()
		return store.Row{Watch: &w}, err
	}},
}

// loadBatch is how many rows Load sends per round trip.
const loadBatch = 500

// Load implements store.Loader in one transaction, under the migration lock
// so that two copies into one database do not interleave. Bindings,
// controllers and audit records get new sequence values in the order they
// come, which keeps each channel's order; meeting_fence is moved past the
// highest fence loaded, so new fences stay above every stored one.
func (d *DB) Load(ctx context.Context, rows iter.Seq2[store.Row, error]) error {
	return d.inTx(ctx, d.lockKey("migrate"), func(tx pgx.Tx) error {
		var n struct{ bindings, controllers, audit, states int }
		if err := tx.QueryRow(ctx, `SELECT
			(SELECT COUNT(*) FROM meetings), (SELECT COUNT(*) FROM controllers),
			(SELECT COUNT(*) FROM audit), (SELECT COUNT(*) FROM meeting_state)`).Scan(
			&n.bindings, &n.controllers, &n.audit, &n.states); err != nil {
			return err
		}
		if n.bindings+n.controllers+n.audit+n.states > 0 {
			return fmt.Errorf("%w: it holds %d bindings, %d controllers, %d audit records and %d meeting states; copy into a new database",
				store.ErrNotEmpty, n.bindings, n.controllers, n.audit, n.states)
		}
		b := &pgx.Batch{}
		flush := func() error {
			if b.Len() == 0 {
				return nil
			}
			err := tx.SendBatch(ctx, b).Close()
			b = &pgx.Batch{}
			return err
		}
		for r, err := range rows {
			if err != nil {
				return err
			}
			if err := queueRow(b, r); err != nil {
				return err
			}
			if b.Len() >= loadBatch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT setval('meeting_fence', GREATEST(nextval('meeting_fence'), MAX(fence))) FROM meeting_state`)
		return err
	})
}

func queueRow(b *pgx.Batch, r store.Row) error {
	switch {
	case r.Meta != nil:
		b.Queue(`INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING`, r.Meta.Name, r.Meta.Value)
	case r.Binding != nil:
		m := r.Binding.Meeting
		b.Queue(`INSERT INTO meetings (team, channel, conference_id, password_ct, bound_by, bound_at, is_default, verified, token_ct, token_expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			m.Channel.Team, m.Channel.ID, string(m.ConferenceID), r.Binding.PasswordCT, m.BoundBy, millis(m.BoundAt),
			m.Default, m.Verified, r.Binding.TokenCT, tokenExpiry(r.Binding))
	case r.Controller != nil:
		c := r.Controller
		b.Queue(`INSERT INTO controllers (team, channel, user_id, granted_by, granted_at) VALUES ($1, $2, $3, $4, $5)`,
			c.Channel.Team, c.Channel.ID, c.UserID, c.GrantedBy, millis(c.GrantedAt))
	case r.Audit != nil:
		a := r.Audit
		b.Queue(`INSERT INTO audit (at, team, channel, user_id, action, conference_id, outcome, error_code, request_id, detail, count, last_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			millis(a.At), a.Channel.Team, a.Channel.ID, a.UserID, a.Action, string(a.ConferenceID), a.Outcome,
			pgText(a.ErrorCode), pgText(a.RequestID), pgText(a.Detail), max(a.Count, 1), millis(lastAt(a)))
	case r.State != nil:
		s := r.State
		b.Queue(`INSERT INTO meeting_state (conference_id, lock_state, lock_by, lock_at, lock_source,
				restriction, restriction_by, restriction_at, scheduled_end, extended_minutes, extended_by, extended_at, fence)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			string(s.ConferenceID), s.Lock.String(), s.LockBy, nullMillis(s.LockAt), s.LockSource,
			s.Restriction.String(), s.RestrictionBy, nullMillis(s.RestrictionAt),
			nullMillis(s.ScheduledEnd), int64(s.Extended.Minutes()), s.ExtendedBy, nullMillis(s.ExtendedAt), s.Fence)
	case r.Envelope != nil:
		e := r.Envelope
		b.Queue(`INSERT INTO envelopes (id, claimed_at, holder, lease_until, payload_ct, done, takeovers)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			e.EnvelopeID, millis(e.ClaimedAt), e.Holder, millis(e.LeaseUntil), e.PayloadCT, e.Done, e.Takeovers)
	case r.Watch != nil:
		w := r.Watch
		b.Queue(`INSERT INTO watches (team, channel, conference_id, started_by, started_at) VALUES ($1, $2, $3, $4, $5)`,
			w.Channel.Team, w.Channel.ID, string(w.ConferenceID), w.StartedBy, millis(w.StartedAt))
	default:
		return fmt.Errorf("an empty row")
	}
	return nil
}

func tokenExpiry(b *store.BindingRow) *int64 {
	if b.TokenCT == nil {
		return nil
	}
	return nullMillis(b.Meeting.TokenExpiresAt)
}

func lastAt(a *store.AuditRecord) time.Time {
	if a.LastAt.IsZero() {
		return a.At
	}
	return a.LastAt
}
