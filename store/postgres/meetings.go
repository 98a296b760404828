package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
)

// allowed reports whether by may change ch's bindings or controllers. It
// runs inside the write transaction, after the channel's lock: an admin, a
// controller, or (when open is true, for a bind) anyone while the channel
// has no controllers.
func allowed(ctx context.Context, tx pgx.Tx, ch store.Channel, by store.Actor, open bool) error {
	if by.Admin {
		return nil
	}
	var (
		isCtrl bool
		n      int
	)
	if err := tx.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM controllers WHERE team = $1 AND channel = $2 AND user_id = $3),
		(SELECT COUNT(*) FROM controllers WHERE team = $1 AND channel = $2)`,
		ch.Team, ch.ID, by.UserID).Scan(&isCtrl, &n); err != nil {
		return err
	}
	if isCtrl || open && n == 0 {
		return nil
	}
	return store.ErrNotAllowed
}

// Bind implements store.Backend.
func (d *DB) Bind(ctx context.Context, b store.BindRow) error {
	ch, id, ts := b.Channel, string(b.ConferenceID), millis(b.At)
	return d.inTx(ctx, d.channelKey(ch), func(tx pgx.Tx) error {
		if err := allowed(ctx, tx, ch, b.By, true); err != nil {
			return err
		}
		batch := &pgx.Batch{}
		batch.Queue(`UPDATE meetings SET is_default = false
			WHERE team = $1 AND channel = $2 AND is_default AND conference_id <> $3`, ch.Team, ch.ID, id)
		batch.Queue(`INSERT INTO meetings AS m (team, channel, conference_id, password_ct, bound_by, bound_at, is_default, verified)
			VALUES ($1, $2, $3, $4, $5, $6, true, $7)
			ON CONFLICT (team, channel, conference_id) DO UPDATE SET
				password_ct = excluded.password_ct,
				bound_by = excluded.bound_by,
				bound_at = excluded.bound_at,
				bind_seq = nextval('bind_seq'),
				is_default = true,
				verified = excluded.verified,
				token_ct = NULL,
				token_expires_at = NULL`,
			ch.Team, ch.ID, id, b.PasswordCT, b.By.UserID, ts, b.Verified)
		batch.Queue(`INSERT INTO controllers (team, channel, user_id, granted_by, granted_at)
			VALUES ($1, $2, $3, $3, $4) ON CONFLICT DO NOTHING`, ch.Team, ch.ID, b.By.UserID, ts)
		return tx.SendBatch(ctx, batch).Close()
	})
}

// Unbind implements store.Backend.
func (d *DB) Unbind(ctx context.Context, ch store.Channel, id domain.ConferenceID, by store.Actor) error {
	return d.inTx(ctx, d.channelKey(ch), func(tx pgx.Tx) error {
		if err := allowed(ctx, tx, ch, by, false); err != nil {
			return err
		}
		var wasDefault bool
		err := tx.QueryRow(ctx, `DELETE FROM meetings
			WHERE team = $1 AND channel = $2 AND conference_id = $3 RETURNING is_default`,
			ch.Team, ch.ID, string(id)).Scan(&wasDefault)
		if err != nil || !wasDefault {
			return notFound(err)
		}
		_, err = tx.Exec(ctx, `UPDATE meetings SET is_default = true
			WHERE team = $1 AND channel = $2 AND conference_id = (
				SELECT conference_id FROM meetings WHERE team = $1 AND channel = $2
				ORDER BY bind_seq DESC LIMIT 1)`, ch.Team, ch.ID)
		return err
	})
}

const meetingCols = `team, channel, conference_id, bound_by, bound_at, is_default, verified, token_expires_at`

func scanMeeting(row pgx.Row, extra ...any) (store.Meeting, error) {
	var (
		m        store.Meeting
		id       string
		boundAt  int64
		tokenExp *int64
	)
	dest := append([]any{&m.Channel.Team, &m.Channel.ID, &id, &m.BoundBy, &boundAt, &m.Default, &m.Verified, &tokenExp}, extra...)
	if err := row.Scan(dest...); err != nil {
		return store.Meeting{}, notFound(err)
	}
	m.ConferenceID = domain.ConferenceID(id)
	m.BoundAt = time.UnixMilli(boundAt).UTC()
	m.TokenExpiresAt = fromMillis(tokenExp)
	return m, nil
}

// Meeting implements store.Backend.
func (d *DB) Meeting(ctx context.Context, ch store.Channel, id domain.ConferenceID) (store.Meeting, error) {
	return scanMeeting(d.pool.QueryRow(ctx, `SELECT `+meetingCols+` FROM meetings
		WHERE team = $1 AND channel = $2 AND conference_id = $3`, ch.Team, ch.ID, string(id)))
}

// DefaultMeeting implements store.Backend.
func (d *DB) DefaultMeeting(ctx context.Context, ch store.Channel) (store.Meeting, error) {
	return scanMeeting(d.pool.QueryRow(ctx, `SELECT `+meetingCols+` FROM meetings
		WHERE team = $1 AND channel = $2 AND is_default`, ch.Team, ch.ID))
}

// Meetings implements store.Backend.
func (d *DB) Meetings(ctx context.Context, ch store.Channel) ([]store.Meeting, error) {
	rows, err := d.pool.Query(ctx, `SELECT `+meetingCols+` FROM meetings
		WHERE team = $1 AND channel = $2 ORDER BY is_default DESC, bind_seq DESC`, ch.Team, ch.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	ms := []store.Meeting{}
	for rows.Next() {
		m, err := scanMeeting(rows)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, rows.Err()
}

// Target implements store.Backend in one statement, so one snapshot.
func (d *DB) Target(ctx context.Context, ch store.Channel, id domain.ConferenceID, user string) (store.TargetRow, error) {
	const cols = `SELECT ` + meetingCols + `, token_ct,
		EXISTS (SELECT 1 FROM controllers c WHERE c.team = $1 AND c.channel = $2 AND c.user_id = $3)
		FROM meetings WHERE team = $1 AND channel = $2 AND `
	var row pgx.Row
	if id == "" {
		row = d.pool.QueryRow(ctx, cols+`is_default`, ch.Team, ch.ID, user)
	} else {
		row = d.pool.QueryRow(ctx, cols+`conference_id = $4`, ch.Team, ch.ID, user, string(id))
	}
	var t store.TargetRow
	m, err := scanMeeting(row, &t.TokenCT, &t.IsController)
	if err != nil {
		return store.TargetRow{}, err
	}
	t.Meeting = m
	return t, nil
}

// PasswordCT implements store.Backend.
func (d *DB) PasswordCT(ctx context.Context, ch store.Channel, id domain.ConferenceID) ([]byte, error) {
	var ct []byte
	err := d.pool.QueryRow(ctx, `SELECT password_ct FROM meetings WHERE team = $1 AND channel = $2 AND conference_id = $3`,
		ch.Team, ch.ID, string(id)).Scan(&ct)
	return ct, notFound(err)
}

// ---- tokens ----

// TokenCT implements store.Backend.
func (d *DB) TokenCT(ctx context.Context, ch store.Channel, id domain.ConferenceID) ([]byte, time.Time, error) {
	var (
		ct  []byte
		exp *int64
	)
	err := d.pool.QueryRow(ctx, `SELECT token_ct, token_expires_at FROM meetings WHERE team = $1 AND channel = $2 AND conference_id = $3`,
		ch.Team, ch.ID, string(id)).Scan(&ct, &exp)
	if err == nil && ct == nil {
		err = store.ErrNotFound
	}
	if err != nil {
		return nil, time.Time{}, notFound(err)
	}
	return ct, fromMillis(exp), nil
}

// PutTokenCT implements store.Backend.
func (d *DB) PutTokenCT(ctx context.Context, ch store.Channel, id domain.ConferenceID, ct []byte, expires time.Time) error {
	return mustAffect(d.pool.Exec(ctx, `UPDATE meetings SET token_ct = $1, token_expires_at = $2, verified = true
		WHERE team = $3 AND channel = $4 AND conference_id = $5`, ct, millis(expires), ch.Team, ch.ID, string(id)))
}

// DropToken implements store.Backend.
func (d *DB) DropToken(ctx context.Context, ch store.Channel, id domain.ConferenceID) error {
	_, err := d.pool.Exec(ctx, `UPDATE meetings SET token_ct = NULL, token_expires_at = NULL
		WHERE team = $1 AND channel = $2 AND conference_id = $3 AND token_ct IS NOT NULL`, ch.Team, ch.ID, string(id))
	return err
}

// ---- controllers ----

// Controllers implements store.Backend.
func (d *DB) Controllers(ctx context.Context, ch store.Channel) ([]store.Controller, error) {
	rows, err := d.pool.Query(ctx, `SELECT user_id, granted_by, granted_at FROM controllers
		WHERE team = $1 AND channel = $2 ORDER BY granted_at, seq`, ch.Team, ch.ID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cs := []store.Controller{}
	for rows.Next() {
		var (
			c  store.Controller
			at int64
		)
		if err := rows.Scan(&c.UserID, &c.GrantedBy, &at); err != nil {
			return nil, err
		}
		c.GrantedAt = time.UnixMilli(at).UTC()
		cs = append(cs, c)
	}
	return cs, rows.Err()
}

// Grant implements store.Backend.
func (d *DB) Grant(ctx context.Context, ch store.Channel, user string, by store.Actor, at time.Time) error {
	return d.inTx(ctx, d.channelKey(ch), func(tx pgx.Tx) error {
		if err := allowed(ctx, tx, ch, by, false); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO controllers (team, channel, user_id, granted_by, granted_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, ch.Team, ch.ID, user, by.UserID, millis(at))
		return err
	})
}

// Revoke implements store.Backend. The channel's lock makes the
// authorization, the "not the last one" count and the delete one step for
// every replica.
func (d *DB) Revoke(ctx context.Context, ch store.Channel, user string, by store.Actor) error {
	return d.inTx(ctx, d.channelKey(ch), func(tx pgx.Tx) error {
		if err := allowed(ctx, tx, ch, by, false); err != nil {
			return err
		}
		var (
			exists bool
			n      int
		)
		if err := tx.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM controllers WHERE team = $1 AND channel = $2 AND user_id = $3),
			(SELECT COUNT(*) FROM controllers WHERE team = $1 AND channel = $2)`,
			ch.Team, ch.ID, user).Scan(&exists, &n); err != nil {
			return err
		}
		switch {
		case !exists:
			return store.ErrNotFound
		case n <= 1:
			return store.ErrLastController
		}
		_, err := tx.Exec(ctx, `DELETE FROM controllers WHERE team = $1 AND channel = $2 AND user_id = $3`, ch.Team, ch.ID, user)
		return err
	})
}
