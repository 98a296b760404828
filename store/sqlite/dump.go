package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"time"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
)

var (
	_ store.Dumper = (*DB)(nil)
	_ store.Loader = (*DB)(nil)
)

// Dump implements store.Dumper from one read transaction (one WAL snapshot).
func (d *DB) Dump(ctx context.Context) iter.Seq2[store.Row, error] {
	return func(yield func(store.Row, error) bool) {
		tx, err := d.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
		if err != nil {
			yield(store.Row{}, err)
			return
		}
		defer tx.Rollback() //nolint:errcheck // read only
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

func dumpQuery(ctx context.Context, tx *sql.Tx, query string, scan func(*sql.Rows) (store.Row, error),
	yield func(store.Row, error) bool) (stop bool, err error) {
	rows, err := tx.QueryContext(ctx, query)
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
	scan func(*sql.Rows) (store.Row, error)
}{
	{`SELECT name, value FROM meta ORDER BY name`, func(rows *sql.Rows) (store.Row, error) {
		var m store.MetaRow
		err := rows.Scan(&m.Name, &m.Value)
		return store.Row{Meta: &m}, err
	}},
	{`SELECT ` + meetingCols + `, password_ct, token_ct FROM meetings ORDER BY team, channel, bind_seq`, func(rows *sql.Rows) (store.Row, error) {
		var b store.BindingRow
		m, err := scanMeeting(rows, &b.PasswordCT, &b.TokenCT)
		b.Meeting = m
		return store.Row{Binding: &b}, err
	}},
	{`SELECT team, channel, user_id, granted_by, granted_at FROM controllers ORDER BY team, channel, granted_at, rowid`, func(rows *sql.Rows) (store.Row, error) {
		var (
			c  store.ControllerRow
			at int64
		)
		err := rows.Scan(&c.Channel.Team, &c.Channel.ID, &c.UserID, &c.GrantedBy, &at)
		c.GrantedAt = time.UnixMilli(at).UTC()
		return store.Row{Controller: &c}, err
	}},
	{`SELECT at, team, channel, user_id, action, conference_id, outcome, error_code, request_id, detail, count, last_at
		FROM audit ORDER BY id`, func(rows *sql.Rows) (store.Row, error) {
		var (
			r      store.AuditRecord
			id     string
			at     int64
			lastAt sql.NullInt64
		)
		err := rows.Scan(&at, &r.Channel.Team, &r.Channel.ID, &r.UserID, &r.Action, &id,
			&r.Outcome, &r.ErrorCode, &r.RequestID, &r.Detail, &r.Count, &lastAt)
		r.ConferenceID = domain.ConferenceID(id)
		r.At = time.UnixMilli(at).UTC()
		r.LastAt = r.At
		if lastAt.Valid {
			r.LastAt = fromMillis(lastAt)
		}
		return store.Row{Audit: &r}, err
	}},
	{`SELECT ` + stateCols + ` FROM meeting_state ORDER BY conference_id`, func(rows *sql.Rows) (store.Row, error) {
		st, err := scanState(rows)
		return store.Row{State: &st}, err
	}},
	{`SELECT id, claimed_at, holder, lease_until, payload_ct, done, takeovers FROM envelopes ORDER BY claimed_at, id`, func(rows *sql.Rows) (store.Row, error) {
		var (
			e               store.EnvelopeRow
			claimed, leased int64
		)
		err := rows.Scan(&e.EnvelopeID, &claimed, &e.Holder, &leased, &e.PayloadCT, &e.Done, &e.Takeovers)
		e.ClaimedAt, e.LeaseUntil = time.UnixMilli(claimed).UTC(), time.UnixMilli(leased).UTC()
		return store.Row{Envelope: &e}, err
	}},
	{`SELECT team, channel, conference_id, started_by, started_at FROM watches ORDER BY team, channel, conference_id`, func(rows *sql.Rows) (store.Row, error) {
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

// Load implements store.Loader in one write transaction. Bindings get new
// bind_seq values in the order they come, which keeps each channel's order.
func (d *DB) Load(ctx context.Context, rows iter.Seq2[store.Row, error]) error {
	return d.wr.write(ctx, func(ctx context.Context, t *tx) error {
		var n struct{ bindings, controllers, audit, states int }
		if err := t.queryRow(ctx, `SELECT
			(SELECT COUNT(*) FROM meetings), (SELECT COUNT(*) FROM controllers),
			(SELECT COUNT(*) FROM audit), (SELECT COUNT(*) FROM meeting_state)`).Scan(
			&n.bindings, &n.controllers, &n.audit, &n.states); err != nil {
			return err
		}
		if n.bindings+n.controllers+n.audit+n.states > 0 {
			return fmt.Errorf("%w: it holds %d bindings, %d controllers, %d audit records and %d meeting states; copy into a new database",
				store.ErrNotEmpty, n.bindings, n.controllers, n.audit, n.states)
		}
		var seq int64
		for r, err := range rows {
			if err != nil {
				return err
			}
			seq++
			if err := loadRow(ctx, t, r, seq); err != nil {
				return err
			}
		}
		return nil
	})
}

func loadRow(ctx context.Context, t *tx, r store.Row, seq int64) error {
	var err error
	switch {
	case r.Meta != nil:
		_, err = t.exec(ctx, `INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING`, r.Meta.Name, r.Meta.Value)
	case r.Binding != nil:
		m := r.Binding.Meeting
		var exp sql.NullInt64
		if r.Binding.TokenCT != nil {
			exp = nullMillis(m.TokenExpiresAt)
		}
		_, err = t.exec(ctx, `INSERT INTO meetings (team, channel, conference_id, password_ct, bound_by, bound_at, bind_seq, is_default, verified, token_ct, token_expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			m.Channel.Team, m.Channel.ID, string(m.ConferenceID), r.Binding.PasswordCT, m.BoundBy, millis(m.BoundAt),
			seq, m.Default, m.Verified, r.Binding.TokenCT, exp)
	case r.Controller != nil:
		c := r.Controller
		_, err = t.exec(ctx, `INSERT INTO controllers (team, channel, user_id, granted_by, granted_at) VALUES (?, ?, ?, ?, ?)`,
			c.Channel.Team, c.Channel.ID, c.UserID, c.GrantedBy, millis(c.GrantedAt))
	case r.Audit != nil:
		a := r.Audit
		last := a.LastAt
		if last.IsZero() {
			last = a.At
		}
		_, err = t.exec(ctx, `INSERT INTO audit (at, team, channel, user_id, action, conference_id, outcome, error_code, request_id, detail, count, last_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			millis(a.At), a.Channel.Team, a.Channel.ID, a.UserID, a.Action, string(a.ConferenceID), a.Outcome,
			a.ErrorCode, a.RequestID, a.Detail, max(a.Count, 1), millis(last))
	case r.State != nil:
		s := r.State
		_, err = t.exec(ctx, `INSERT INTO meeting_state (conference_id, lock_state, lock_by, lock_at, lock_source,
				restriction, restriction_by, restriction_at, scheduled_end, extended_minutes, extended_by, extended_at, fence)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			string(s.ConferenceID), s.Lock.String(), s.LockBy, nullMillis(s.LockAt), s.LockSource,
			s.Restriction.String(), s.RestrictionBy, nullMillis(s.RestrictionAt),
			nullMillis(s.ScheduledEnd), int64(s.Extended.Minutes()), s.ExtendedBy, nullMillis(s.ExtendedAt), s.Fence)
	case r.Envelope != nil:
		e := r.Envelope
		_, err = t.exec(ctx, `INSERT INTO envelopes (id, claimed_at, holder, lease_until, payload_ct, done, takeovers)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			e.EnvelopeID, millis(e.ClaimedAt), e.Holder, millis(e.LeaseUntil), e.PayloadCT, e.Done, e.Takeovers)
	case r.Watch != nil:
		w := r.Watch
		_, err = t.exec(ctx, `INSERT INTO watches (team, channel, conference_id, started_by, started_at) VALUES (?, ?, ?, ?, ?)`,
			w.Channel.Team, w.Channel.ID, string(w.ConferenceID), w.StartedBy, millis(w.StartedAt))
	default:
		err = fmt.Errorf("an empty row")
	}
	return err
}
