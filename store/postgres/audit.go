package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
)

// MeetingState implements store.Backend.
func (d *DB) MeetingState(ctx context.Context, id domain.ConferenceID) (store.MeetingState, error) {
	st, err := scanState(d.pool.QueryRow(ctx, `SELECT `+stateCols+` FROM meeting_state WHERE conference_id = $1`, string(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.MeetingState{ConferenceID: id}, nil
	}
	return st, err
}

const stateCols = `conference_id, lock_state, lock_by, lock_at, lock_source, restriction, restriction_by, restriction_at,
	scheduled_end, extended_minutes, extended_by, extended_at, fence`

func scanState(row pgx.Row) (store.MeetingState, error) {
	var (
		st                       store.MeetingState
		id, lock, restriction    string
		lockAt, restrictionAt    *int64
		scheduledEnd, extendedAt *int64
		extended                 int64
	)
	if err := row.Scan(&id, &lock, &st.LockBy, &lockAt, &st.LockSource, &restriction, &st.RestrictionBy, &restrictionAt,
		&scheduledEnd, &extended, &st.ExtendedBy, &extendedAt, &st.Fence); err != nil {
		return store.MeetingState{}, err
	}
	st.ConferenceID = domain.ConferenceID(id)
	st.Lock, st.LockAt = domain.ParseLockState(lock), fromMillis(lockAt)
	st.Restriction, st.RestrictionAt = parseRestriction(restriction), fromMillis(restrictionAt)
	st.ScheduledEnd, st.ExtendedAt = fromMillis(scheduledEnd), fromMillis(extendedAt)
	st.Extended = time.Duration(extended) * time.Minute
	return st, nil
}

// ApplyState implements store.Backend.
func (d *DB) ApplyState(ctx context.Context, change store.StateChange) error {
	_, err := d.pool.Exec(ctx, upsertState, stateArgs(change)...)
	return err
}

// Record implements store.Backend in one round trip: its statements go as
// one batch, which PostgreSQL runs as one implicit transaction. A refusal
// first takes the channel's lock, so that concurrent identical refusals
// fold into one record instead of each inserting its own.
func (d *DB) Record(ctx context.Context, r store.AuditRecord, change *store.StateChange) error {
	at := millis(r.At)
	b := &pgx.Batch{}
	args := []any{at, r.Channel.Team, r.Channel.ID, r.UserID, r.Action, string(r.ConferenceID),
		pgText(r.Detail), pgText(r.ErrorCode), pgText(r.RequestID)}
	if r.Outcome == store.OutcomeRefused {
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, d.channelKey(r.Channel))
		b.Queue(foldRefusal, append(args, at-store.RefusalWindow.Milliseconds())...)
	} else {
		b.Queue(insertAudit, append(args, r.Outcome)...)
	}
	if change != nil {
		b.Queue(upsertState, stateArgs(*change)...)
	}
	if b.Len() == 1 {
		qq := b.QueuedQueries[0]
		_, err := d.pool.Exec(ctx, qq.SQL, qq.Arguments...)
		return err
	}
	return d.pool.SendBatch(ctx, b).Close()
}

// Both take $1 at, $2 team, $3 channel, $4 user, $5 action, $6 conference,
// $7 detail, $8 error code, $9 request ID.
const (
	insertAudit = `INSERT INTO audit
		(at, team, channel, user_id, action, conference_id, detail, error_code, request_id, outcome, count, last_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 1, $1)`
	// foldRefusal counts a refusal into the newest identical one within
	// the window ($10 is its start), or inserts it.
	foldRefusal = `WITH folded AS (
		UPDATE audit SET count = count + 1, last_at = $1
		WHERE id = (SELECT id FROM audit
			WHERE team = $2 AND channel = $3 AND user_id = $4 AND action = $5 AND conference_id = $6
				AND outcome = 'refused' AND detail = $7 AND last_at >= $10
			ORDER BY id DESC LIMIT 1)
		RETURNING id)
	INSERT INTO audit
		(at, team, channel, user_id, action, conference_id, detail, error_code, request_id, outcome, count, last_at)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'refused', 1, $1
	WHERE NOT EXISTS (SELECT 1 FROM folded)`
)

// upsertState applies a state change in one statement. The upsert locks the
// meeting's row, so the fence check and the write are one step: a change
// with a fence lower than the stored one updates nothing, and fence 0 (a
// report from the meeting itself) always applies and keeps the stored
// fence. $3, $8 and $12 say which parts change, $14 is minutes to add and
// $17 marks the meeting over; the other parts keep their stored values (or,
// in a new row, the defaults stateArgs passes).
const upsertState = `INSERT INTO meeting_state AS s (conference_id, fence,
		lock_state, lock_by, lock_at, lock_source,
		restriction, restriction_by, restriction_at,
		scheduled_end, extended_minutes, extended_by, extended_at)
	VALUES ($1, $2, $4, $5, $6, $7, $9, $10, $11, $13, $14, $15, $16)
	ON CONFLICT (conference_id) DO UPDATE SET
		fence            = CASE WHEN $2 = 0 THEN s.fence ELSE $2 END,
		lock_state       = CASE WHEN $3 THEN excluded.lock_state ELSE s.lock_state END,
		lock_by          = CASE WHEN $3 THEN excluded.lock_by ELSE s.lock_by END,
		lock_at          = CASE WHEN $3 THEN excluded.lock_at ELSE s.lock_at END,
		lock_source      = CASE WHEN $3 THEN excluded.lock_source ELSE s.lock_source END,
		restriction      = CASE WHEN $8 THEN excluded.restriction ELSE s.restriction END,
		restriction_by   = CASE WHEN $8 THEN excluded.restriction_by ELSE s.restriction_by END,
		restriction_at   = CASE WHEN $8 THEN excluded.restriction_at ELSE s.restriction_at END,
		scheduled_end    = CASE WHEN $12 THEN excluded.scheduled_end
		                        WHEN $14 > 0 THEN s.scheduled_end + $14 * 60000
		                        ELSE s.scheduled_end END,
		extended_minutes = CASE WHEN $17 THEN 0 ELSE s.extended_minutes + $14 END,
		extended_by      = CASE WHEN $17 THEN '' WHEN $14 > 0 THEN excluded.extended_by ELSE s.extended_by END,
		extended_at      = CASE WHEN $17 THEN NULL WHEN $14 > 0 THEN excluded.extended_at ELSE s.extended_at END
	WHERE $2 = 0 OR s.fence <= $2`

// stateArgs are upsertState's arguments for c. An ended meeting sets every
// part: the lock state to unknown (source ended), the rest to nothing.
func stateArgs(c store.StateChange) []any {
	at := millis(c.At)
	type part struct {
		set   bool
		value any
		by    string
		at    *int64
	}
	lock := part{value: "unknown"}
	lockSource := ""
	restriction := part{value: "unknown"}
	end := part{value: (*int64)(nil)}
	var extend int64
	var extendAt *int64
	if c.Ended {
		lock = part{true, "unknown", c.By, &at}
		lockSource = store.SourceEnded
		restriction.set, end.set = true, true
	} else {
		if c.Lock != nil {
			lock = part{true, c.Lock.String(), c.By, &at}
			lockSource = c.LockSource
		}
		if c.Restriction != nil {
			restriction = part{true, c.Restriction.String(), c.By, &at}
		}
		if c.ScheduledEnd != nil {
			end = part{true, nullMillis(*c.ScheduledEnd), c.By, &at}
		}
		if c.Extend != nil {
			extend, extendAt = int64(c.Extend.Minutes()), &at
		}
	}
	extendBy := ""
	if extend > 0 {
		extendBy = c.By
	}
	return []any{string(c.ConferenceID), c.Fence,
		lock.set, lock.value, lock.by, lock.at, lockSource,
		restriction.set, restriction.value, restriction.by, restriction.at,
		end.set, end.value,
		extend, extendBy, extendAt,
		c.Ended}
}

// History implements store.Backend.
func (d *DB) History(ctx context.Context, ch store.Channel, n int) ([]store.AuditRecord, error) {
	rows, err := d.pool.Query(ctx, `SELECT `+auditCols+` FROM audit
		WHERE team = $1 AND channel = $2 ORDER BY at DESC, id DESC LIMIT $3`, ch.Team, ch.ID, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	rs := []store.AuditRecord{}
	for rows.Next() {
		r, err := scanAudit(rows)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	return rs, rows.Err()
}

const auditCols = `at, team, channel, user_id, action, conference_id, outcome, error_code, request_id, detail, count, last_at`

func scanAudit(row pgx.Row) (store.AuditRecord, error) {
	var (
		r          store.AuditRecord
		id         string
		at, lastAt int64
	)
	if err := row.Scan(&at, &r.Channel.Team, &r.Channel.ID, &r.UserID, &r.Action, &id,
		&r.Outcome, &r.ErrorCode, &r.RequestID, &r.Detail, &r.Count, &lastAt); err != nil {
		return store.AuditRecord{}, err
	}
	r.ConferenceID = domain.ConferenceID(id)
	r.At, r.LastAt = time.UnixMilli(at).UTC(), time.UnixMilli(lastAt).UTC()
	return r, nil
}

// pgText makes free text (a vendor's message, a request ID) storable:
// PostgreSQL's text holds neither NUL nor invalid UTF-8, which SQLite
// would keep. Such bytes become U+FFFD rather than failing the record.
func pgText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}
