package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/meetingbot/meetingbot/domain"
)

// Store is meetingbot's state over a [Backend]: it validates every argument,
// seals secrets before they reach the backend and opens them on the way
// back. It is safe for concurrent use.
type Store struct {
	b    Backend
	seal *sealer
}

// New checks key against the backend's key check (recording one on first
// use) and returns the Store. With another key it fails with a
// *WrongKeyError, which wraps ErrWrongKey. On error the backend is left
// open; the caller closes it.
func New(ctx context.Context, b Backend, key Key) (*Store, error) {
	if b == nil {
		return nil, errors.New("store: no backend")
	}
	if key.IsZero() {
		return nil, fmt.Errorf("store: %w: MEETINGBOT_SECRET_KEY is not set", ErrInvalid)
	}
	seal, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	s := &Store{b: b, seal: seal}
	if err := s.checkKey(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Backend returns the backend under the store, for tests and tools that
// work on ciphertext (the migration between databases).
func (s *Store) Backend() Backend { return s.b }

// WrongKeyError wraps ErrWrongKey with both key fingerprints (which are
// not secret: they identify a key without revealing it).
type WrongKeyError struct{ Stored, Given string }

func (e *WrongKeyError) Error() string {
	return fmt.Sprintf("%v (database key id %s, MEETINGBOT_SECRET_KEY key id %s); start with the key the database was created with, or use a new database",
		ErrWrongKey, e.Stored, e.Given)
}

func (e *WrongKeyError) Unwrap() error { return ErrWrongKey }

const metaKeyCheck = "key_check"

func (s *Store) checkKey(ctx context.Context) error {
	ct, err := s.seal.seal(keyCheckV, purposeKeyCheck)
	if err != nil {
		return err
	}
	stored, err := s.b.PutMetaIfAbsent(ctx, metaKeyCheck, ct)
	if err != nil {
		return fmt.Errorf("store: key check: %w", err)
	}
	pt, err := s.seal.open(stored, purposeKeyCheck)
	if err != nil || pt != keyCheckV {
		storedID := "unknown"
		if len(stored) >= sealHeaderLen {
			var id [4]byte
			copy(id[:], stored[1:sealHeaderLen])
			storedID = hexID(id)
		}
		return &WrongKeyError{Stored: storedID, Given: hexID(s.seal.keyID)}
	}
	return nil
}

// Close closes the backend.
func (s *Store) Close() error { return s.b.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return wrap("ping", s.b.Ping(ctx)) }

// ---- validation ----

// opError prefixes an error with the operation, without repeating "store: ".
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	return "store: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "store: ")
}

func (e *opError) Unwrap() error { return e.err }

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return &opError{op: op, err: err}
}

func invalid(what string) error { return fmt.Errorf("%w: %s", ErrInvalid, what) }

func checkChannel(ch Channel) error {
	if strings.TrimSpace(ch.Team) == "" {
		return invalid("team ID is empty")
	}
	if strings.TrimSpace(ch.ID) == "" {
		return invalid("channel ID is empty")
	}
	return nil
}

func checkID(id domain.ConferenceID) error {
	if err := id.Validate(); err != nil {
		return invalid("conference ID: " + strings.TrimPrefix(err.Error(), "invalid conference ID: "))
	}
	return nil
}

func checkMeeting(ch Channel, id domain.ConferenceID) error {
	if err := checkChannel(ch); err != nil {
		return err
	}
	return checkID(id)
}

func checkUser(what, id string) error {
	if strings.TrimSpace(id) == "" {
		return invalid(what + " is empty")
	}
	return nil
}

// orNow is t, or now when t is zero, in UTC.
func orNow(t time.Time) time.Time {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC()
}

// ---- bindings ----

// BindRequest is a binding to store.
type BindRequest struct {
	Channel      Channel
	ConferenceID domain.ConferenceID
	Password     domain.Password
	By           Actor
	At           time.Time // zero: now
	// Verified says the meeting service accepted the password.
	Verified bool
}

// Bind stores (or replaces) the host password for a meeting in a channel,
// makes it the channel's default meeting, clears any cached token and adds
// the binder to the channel's controllers (keeping an existing grant). The
// lock state, which belongs to the meeting, is kept. Unless By is an admin,
// it fails with ErrNotAllowed when the channel has controllers and By is not
// one of them at the moment of the write.
func (s *Store) Bind(ctx context.Context, r BindRequest) error {
	const op = "bind"
	if err := checkMeeting(r.Channel, r.ConferenceID); err != nil {
		return wrap(op, err)
	}
	if r.Password.Reveal() == "" {
		return wrap(op, invalid("the host password is empty"))
	}
	if err := checkUser("the binding user ID", r.By.UserID); err != nil {
		return wrap(op, err)
	}
	ct, err := s.seal.seal(r.Password.Reveal(), purposePassword, r.Channel.Team, r.Channel.ID, string(r.ConferenceID))
	if err != nil {
		return wrap(op, err)
	}
	return wrap(op, s.b.Bind(ctx, BindRow{
		Channel: r.Channel, ConferenceID: r.ConferenceID, PasswordCT: ct,
		By: r.By, At: orNow(r.At), Verified: r.Verified,
	}))
}

// Unbind deletes a meeting's credential and binding (controllers are kept).
// If it was the default, the most recently bound remaining meeting becomes
// the default.
func (s *Store) Unbind(ctx context.Context, ch Channel, id domain.ConferenceID, by Actor) error {
	const op = "unbind"
	if err := checkMeeting(ch, id); err != nil {
		return wrap(op, err)
	}
	if err := checkUser("the acting user ID", by.UserID); err != nil {
		return wrap(op, err)
	}
	return wrap(op, s.b.Unbind(ctx, ch, id, by))
}

// Meeting returns a meeting as bound in ch, or ErrNotFound.
func (s *Store) Meeting(ctx context.Context, ch Channel, id domain.ConferenceID) (Meeting, error) {
	const op = "meeting"
	if err := checkMeeting(ch, id); err != nil {
		return Meeting{}, wrap(op, err)
	}
	m, err := s.b.Meeting(ctx, ch, id)
	return m, wrap(op, err)
}

// DefaultMeeting returns ch's default meeting, or ErrNotFound.
func (s *Store) DefaultMeeting(ctx context.Context, ch Channel) (Meeting, error) {
	const op = "default meeting"
	if err := checkChannel(ch); err != nil {
		return Meeting{}, wrap(op, err)
	}
	m, err := s.b.DefaultMeeting(ctx, ch)
	return m, wrap(op, err)
}

// Meetings lists every meeting bound in ch, the default first; empty, not
// an error, when none is.
func (s *Store) Meetings(ctx context.Context, ch Channel) ([]Meeting, error) {
	const op = "meetings"
	if err := checkChannel(ch); err != nil {
		return nil, wrap(op, err)
	}
	ms, err := s.b.Meetings(ctx, ch)
	return ms, wrap(op, err)
}

// Target reads what a command needs, at once: the meeting (id, or the
// channel's default when id is empty; ErrNotFound when there is none),
// whether user is a controller, and the cached token. A cached token that
// cannot be decrypted is treated as no token: a fresh one will be fetched.
func (s *Store) Target(ctx context.Context, ch Channel, id domain.ConferenceID, user string) (Target, error) {
	const op = "target"
	if err := checkChannel(ch); err != nil {
		return Target{}, wrap(op, err)
	}
	if id != "" {
		if err := checkID(id); err != nil {
			return Target{}, wrap(op, err)
		}
	}
	row, err := s.b.Target(ctx, ch, id, user)
	if err != nil {
		return Target{}, wrap(op, err)
	}
	t := Target{Meeting: row.Meeting, IsController: row.IsController}
	if row.TokenCT != nil {
		m := row.Meeting
		if tok, err := s.seal.open(row.TokenCT, purposeToken, m.Channel.Team, m.Channel.ID, string(m.ConferenceID)); err == nil {
			t.Token, t.TokenExpires = domain.Token(tok), m.TokenExpiresAt
		}
	}
	return t, nil
}

// Password decrypts the host password, or ErrNotFound / ErrUndecryptable.
func (s *Store) Password(ctx context.Context, ch Channel, id domain.ConferenceID) (domain.Password, error) {
	const op = "password"
	if err := checkMeeting(ch, id); err != nil {
		return "", wrap(op, err)
	}
	ct, err := s.b.PasswordCT(ctx, ch, id)
	if err != nil {
		return "", wrap(op, err)
	}
	pw, err := s.seal.open(ct, purposePassword, ch.Team, ch.ID, string(id))
	if err != nil {
		return "", wrap(op, err)
	}
	return domain.Password(pw), nil
}

// ---- tokens ----

// Token returns the cached control token and its expiry, or ErrNotFound. An
// expired token is still returned, with its expiry; the caller decides.
func (s *Store) Token(ctx context.Context, ch Channel, id domain.ConferenceID) (domain.Token, time.Time, error) {
	const op = "token"
	if err := checkMeeting(ch, id); err != nil {
		return "", time.Time{}, wrap(op, err)
	}
	ct, exp, err := s.b.TokenCT(ctx, ch, id)
	if err != nil {
		return "", time.Time{}, wrap(op, err)
	}
	tok, err := s.seal.open(ct, purposeToken, ch.Team, ch.ID, string(id))
	if err != nil {
		return "", time.Time{}, wrap(op, err)
	}
	return domain.Token(tok), exp, nil
}

// PutToken caches a control token; ErrNotFound if the meeting is not bound.
func (s *Store) PutToken(ctx context.Context, ch Channel, id domain.ConferenceID, tok domain.Token, expires time.Time) error {
	const op = "put token"
	if err := checkMeeting(ch, id); err != nil {
		return wrap(op, err)
	}
	if tok.Reveal() == "" {
		return wrap(op, invalid("the control token is empty"))
	}
	if expires.IsZero() {
		return wrap(op, invalid("the control token's expiry is zero"))
	}
	ct, err := s.seal.seal(tok.Reveal(), purposeToken, ch.Team, ch.ID, string(id))
	if err != nil {
		return wrap(op, err)
	}
	return wrap(op, s.b.PutTokenCT(ctx, ch, id, ct, expires.UTC()))
}

// DropToken forgets the cached token; a no-op when there is none.
func (s *Store) DropToken(ctx context.Context, ch Channel, id domain.ConferenceID) error {
	const op = "drop token"
	if err := checkMeeting(ch, id); err != nil {
		return wrap(op, err)
	}
	return wrap(op, s.b.DropToken(ctx, ch, id))
}

// ---- controllers ----

// Controllers lists ch's controllers, oldest grant first; empty when none.
func (s *Store) Controllers(ctx context.Context, ch Channel) ([]Controller, error) {
	const op = "controllers"
	if err := checkChannel(ch); err != nil {
		return nil, wrap(op, err)
	}
	cs, err := s.b.Controllers(ctx, ch)
	return cs, wrap(op, err)
}

// Grant adds a controller; granting an existing one keeps the original
// grant. ErrNotAllowed unless by is an admin or a controller.
func (s *Store) Grant(ctx context.Context, ch Channel, user string, by Actor, at time.Time) error {
	const op = "grant"
	if err := checkChannel(ch); err != nil {
		return wrap(op, err)
	}
	if err := checkUser("user ID", user); err != nil {
		return wrap(op, err)
	}
	if err := checkUser("the acting user ID", by.UserID); err != nil {
		return wrap(op, err)
	}
	return wrap(op, s.b.Grant(ctx, ch, user, by, orNow(at)))
}

// Revoke removes a controller, or returns ErrNotFound, ErrNotAllowed, or
// ErrLastController for the channel's only one.
func (s *Store) Revoke(ctx context.Context, ch Channel, user string, by Actor) error {
	const op = "revoke"
	if err := checkChannel(ch); err != nil {
		return wrap(op, err)
	}
	if err := checkUser("user ID", user); err != nil {
		return wrap(op, err)
	}
	if err := checkUser("the acting user ID", by.UserID); err != nil {
		return wrap(op, err)
	}
	return wrap(op, s.b.Revoke(ctx, ch, user, by))
}

// ---- meeting state and audit ----

// MeetingState returns what is known of a conference (the zero state when
// nothing is).
func (s *Store) MeetingState(ctx context.Context, id domain.ConferenceID) (MeetingState, error) {
	const op = "meeting state"
	if err := checkID(id); err != nil {
		return MeetingState{}, wrap(op, err)
	}
	st, err := s.b.MeetingState(ctx, id)
	return st, wrap(op, err)
}

// Record appends an audit record and applies change (if not nil) in one
// transaction, so the record of something that happened and the state it
// left are written together or not at all.
func (s *Store) Record(ctx context.Context, r AuditRecord, change *StateChange) error {
	const op = "record"
	if strings.TrimSpace(r.Action) == "" {
		return wrap(op, invalid("action is empty"))
	}
	if err := checkChannel(r.Channel); err != nil {
		return wrap(op, err)
	}
	if r.ConferenceID != "" {
		if err := checkID(r.ConferenceID); err != nil {
			return wrap(op, err)
		}
	}
	r.At = orNow(r.At)
	r.Count, r.LastAt = 1, r.At
	if change != nil {
		c, err := checkChange(*change)
		if err != nil {
			return wrap(op, err)
		}
		change = &c
	}
	return wrap(op, s.b.Record(ctx, r, change))
}

// ApplyState records a state the meeting service reported, such as a lock
// set in the meeting itself. No audit record is written: it is not an
// action anyone took through meetingbot.
func (s *Store) ApplyState(ctx context.Context, change StateChange) error {
	const op = "apply state"
	c, err := checkChange(change)
	if err != nil {
		return wrap(op, err)
	}
	return wrap(op, s.b.ApplyState(ctx, c))
}

func checkChange(c StateChange) (StateChange, error) {
	if err := checkID(c.ConferenceID); err != nil {
		return c, err
	}
	if c.Lock != nil {
		switch *c.Lock {
		case domain.LockLocked, domain.LockUnlocked, domain.LockUnknown:
		default:
			return c, invalid(fmt.Sprintf("unknown lock state %d", int(*c.Lock)))
		}
	}
	if c.Restriction != nil && (*c.Restriction < domain.RestrictionUnknown || *c.Restriction > domain.RestrictionInvited) {
		return c, invalid(fmt.Sprintf("unknown join restriction %d", int(*c.Restriction)))
	}
	if c.LockSource == "" {
		c.LockSource = SourceBot
	}
	c.At = orNow(c.At)
	return c, nil
}

// PutWatch starts (or restarts) join alerts for a meeting bound in ch.
func (s *Store) PutWatch(ctx context.Context, w Watch) error {
	const op = "put watch"
	if err := checkMeeting(w.Channel, w.ConferenceID); err != nil {
		return wrap(op, err)
	}
	if err := checkUser("the watching user ID", w.StartedBy); err != nil {
		return wrap(op, err)
	}
	w.StartedAt = orNow(w.StartedAt)
	return wrap(op, s.b.PutWatch(ctx, w))
}

// DeleteWatch ends join alerts for a meeting in ch, or returns ErrNotFound.
func (s *Store) DeleteWatch(ctx context.Context, ch Channel, id domain.ConferenceID) error {
	const op = "delete watch"
	if err := checkMeeting(ch, id); err != nil {
		return wrap(op, err)
	}
	return wrap(op, s.b.DeleteWatch(ctx, ch, id))
}

// EndWatch ends the watch w if it has not been started again since (a
// watch of a meeting that ended, while someone turns alerts on again), or
// returns ErrNotFound.
func (s *Store) EndWatch(ctx context.Context, w Watch) error {
	const op = "end watch"
	if err := checkMeeting(w.Channel, w.ConferenceID); err != nil {
		return wrap(op, err)
	}
	return wrap(op, s.b.EndWatch(ctx, w))
}

// ClaimWatches renews holder's watches and takes the ones nobody holds,
// and returns every watch holder now holds.
func (s *Store) ClaimWatches(ctx context.Context, holder string, now, until time.Time) ([]Watch, error) {
	const op = "claim watches"
	if err := checkUser("holder", holder); err != nil {
		return nil, wrap(op, err)
	}
	ws, err := s.b.ClaimWatches(ctx, holder, now.UTC(), until.UTC())
	return ws, wrap(op, err)
}

// ReleaseWatch gives up holder's lease on a watch.
func (s *Store) ReleaseWatch(ctx context.Context, ch Channel, id domain.ConferenceID, holder string) error {
	return wrap("release watch", s.b.ReleaseWatch(ctx, ch, id, holder))
}

// History returns ch's newest n records, newest first, n clamped to
// [1, MaxHistory].
func (s *Store) History(ctx context.Context, ch Channel, n int) ([]AuditRecord, error) {
	const op = "history"
	if err := checkChannel(ch); err != nil {
		return nil, wrap(op, err)
	}
	rs, err := s.b.History(ctx, ch, min(max(n, 1), MaxHistory))
	return rs, wrap(op, err)
}

// ---- envelope claims ----

// ClaimEnvelope records that c.Holder is acting on an envelope and reports
// whether it is the first to. The payload is sealed.
func (s *Store) ClaimEnvelope(ctx context.Context, c Claim) (bool, error) {
	const op = "claim envelope"
	if strings.TrimSpace(c.EnvelopeID) == "" {
		return false, wrap(op, invalid("envelope ID is empty"))
	}
	if err := checkUser("holder", c.Holder); err != nil {
		return false, wrap(op, err)
	}
	row := ClaimRow{EnvelopeID: c.EnvelopeID, Holder: c.Holder, ClaimedAt: orNow(c.ClaimedAt), LeaseUntil: c.LeaseUntil.UTC()}
	if row.LeaseUntil.IsZero() {
		row.LeaseUntil = row.ClaimedAt
	}
	if len(c.Payload) > 0 {
		ct, err := s.seal.seal(string(c.Payload), purposeEnvelope, c.EnvelopeID)
		if err != nil {
			return false, wrap(op, err)
		}
		row.PayloadCT = ct
	}
	first, err := s.b.ClaimEnvelope(ctx, row)
	return first, wrap(op, err)
}

// RenewClaims extends the leases of holder's unfinished claims.
func (s *Store) RenewClaims(ctx context.Context, holder string, ids []string, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return wrap("renew claims", s.b.RenewClaims(ctx, holder, ids, until.UTC()))
}

// FinishEnvelope marks a claim done: its command was answered.
func (s *Store) FinishEnvelope(ctx context.Context, id string) error {
	return wrap("finish envelope", s.b.FinishEnvelope(ctx, id))
}

// TakeExpiredClaims hands holder up to limit unfinished claims whose lease
// ended before now, with new leases until `until`, payloads opened. A claim
// whose payload cannot be opened comes back with a nil Payload.
func (s *Store) TakeExpiredClaims(ctx context.Context, holder string, now, until time.Time, limit int) ([]Claim, error) {
	const op = "take expired claims"
	rows, err := s.b.TakeExpiredClaims(ctx, holder, now.UTC(), until.UTC(), max(limit, 1))
	if err != nil {
		return nil, wrap(op, err)
	}
	out := make([]Claim, 0, len(rows))
	for _, r := range rows {
		c := Claim{EnvelopeID: r.EnvelopeID, Holder: r.Holder, ClaimedAt: r.ClaimedAt, LeaseUntil: r.LeaseUntil, Takeovers: r.Takeovers}
		if r.PayloadCT != nil {
			if p, err := s.seal.open(r.PayloadCT, purposeEnvelope, r.EnvelopeID); err == nil {
				c.Payload = []byte(p)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// PruneEnvelopes forgets claims made before cutoff.
func (s *Store) PruneEnvelopes(ctx context.Context, cutoff time.Time) (int64, error) {
	n, err := s.b.PruneEnvelopes(ctx, cutoff.UTC())
	return n, wrap("prune envelopes", err)
}

// LockMeeting serialises control calls for one conference across every
// process on the database, until unlock is called.
func (s *Store) LockMeeting(ctx context.Context, id domain.ConferenceID) (int64, func(), error) {
	const op = "lock meeting"
	if err := checkID(id); err != nil {
		return 0, nil, wrap(op, err)
	}
	fence, unlock, err := s.b.LockMeeting(ctx, id)
	return fence, unlock, wrap(op, err)
}

// LockMeetingState is LockMeeting followed by MeetingState, in one round
// trip where the backend can (StateLocker): the state as it is once the
// lock is held.
func (s *Store) LockMeetingState(ctx context.Context, id domain.ConferenceID) (int64, MeetingState, func(), error) {
	const op = "lock meeting"
	if err := checkID(id); err != nil {
		return 0, MeetingState{}, nil, wrap(op, err)
	}
	if sl, ok := s.b.(StateLocker); ok {
		fence, st, unlock, err := sl.LockMeetingState(ctx, id)
		return fence, st, unlock, wrap(op, err)
	}
	fence, unlock, err := s.b.LockMeeting(ctx, id)
	if err != nil {
		return 0, MeetingState{}, nil, wrap(op, err)
	}
	st, err := s.b.MeetingState(ctx, id)
	if err != nil {
		unlock()
		return 0, MeetingState{}, nil, wrap("meeting state", err)
	}
	return fence, st, unlock, nil
}
