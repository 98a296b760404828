// Package store keeps meetingbot's state: which meetings each channel has
// bound, the host passwords and control tokens (encrypted), the channel's
// controllers, what is known about each meeting (lock state, join
// restriction, scheduled end), the audit trail, and the claims on envelopes
// that make each command act once.
//
// The package has three parts:
//
//   - the records (Meeting, Controller, AuditRecord, MeetingState, …) and
//     errors every layer shares;
//   - [Store], the one encryption layer: secrets cross its API as plaintext
//     and leave it sealed with AES-256-GCM, bound to their team, channel,
//     meeting and purpose, so a backend only ever holds ciphertext it cannot
//     open;
//   - [Backend], what a database must provide. store/sqlite (the default)
//     and store/postgres (several replicas) implement it, and
//     store/storetest is the conformance suite both pass.
//
// [Open] picks the backend from MEETINGBOT_DB: a postgres:// or
// postgresql:// URL selects PostgreSQL, anything else is a SQLite file path.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/meetingbot/meetingbot/domain"
)

var (
	// ErrNotFound is returned when the requested row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrLastController is returned by Revoke for a channel's only
	// controller: a channel with none would let anyone re-bind it.
	ErrLastController = errors.New("store: a channel's last controller cannot be revoked")
	// ErrNotAllowed is returned when the acting user may not make a change:
	// the check is made in the same transaction as the write, so a user
	// revoked while their command was in flight changes nothing.
	ErrNotAllowed = errors.New("store: the acting user is not one of the channel's controllers")
	// ErrUndecryptable is returned when a stored secret cannot be decrypted:
	// MEETINGBOT_SECRET_KEY is not the key it was written with, or the row
	// was copied from another channel or meeting.
	ErrUndecryptable = errors.New("store: a stored credential cannot be decrypted with this MEETINGBOT_SECRET_KEY")
	// ErrWrongKey is returned by Open when MEETINGBOT_SECRET_KEY is not the
	// key the database was created with.
	ErrWrongKey = errors.New("MEETINGBOT_SECRET_KEY does not match the key this database was created with")
	// ErrInvalid is returned, wrapped with what is wrong, for a bad argument
	// (an empty ID, an unknown lock state, …). Nothing is written.
	ErrInvalid = errors.New("invalid argument")
)

// Channel is [domain.Channel].
type Channel = domain.Channel

// LockState is [domain.LockState].
type LockState = domain.LockState

const (
	LockUnknown  = domain.LockUnknown
	LockLocked   = domain.LockLocked
	LockUnlocked = domain.LockUnlocked
)

// Meeting is a conference bound in one channel, without its secrets.
type Meeting struct {
	Channel      Channel
	ConferenceID domain.ConferenceID
	BoundBy      string
	BoundAt      time.Time
	// Default is true for the channel's current meeting: the one that
	// commands without an ID act on (the most recent bind).
	Default bool
	// Verified is false when the host password could not be checked at
	// bind time (the meeting had not started), until a control token is
	// fetched with it.
	Verified bool

	TokenExpiresAt time.Time // zero when no token is cached
}

// Controller is a Slack user allowed to control a channel's meetings.
type Controller struct {
	UserID    string
	GrantedBy string
	GrantedAt time.Time
}

// Actor is who makes a change. Admins (MEETINGBOT_ADMINS) may control every
// channel; anyone else must be one of the channel's controllers at the
// moment of the write.
type Actor struct {
	UserID string
	Admin  bool
}

// Outcomes of an audited action.
const (
	OutcomeOK         = "ok"
	OutcomeRefused    = "refused"
	OutcomeError      = "error"
	OutcomeUnverified = "unverified"
)

// AuditRecord is one action or refusal. It never holds a secret.
type AuditRecord struct {
	At           time.Time
	Channel      Channel
	UserID       string
	Action       string // bind, unbind, lock, unlock, grant, revoke, ...
	ConferenceID domain.ConferenceID
	Outcome      string // ok, refused, error, unverified
	ErrorCode    string // the vendor's error code, if any
	RequestID    string // the vendor's X-Request-Id, if any
	Detail       string // short human text, e.g. the granted user
	// Count is how many identical refusals this record stands for: repeats
	// of a refusal by the same person for the same action within
	// RefusalWindow are folded into one record, so a flood of refusals
	// cannot push real actions out of the history. LastAt is the newest.
	Count  int
	LastAt time.Time
}

// RefusalWindow is how long identical refusals keep folding into one audit
// record.
const RefusalWindow = 10 * time.Minute

// MaxHistory is the most records History returns.
const MaxHistory = 50

// Where a recorded state came from.
const (
	SourceBot     = "bot"     // the bot set it, and the meeting service said OK
	SourceMeeting = "meeting" // the meeting's event socket reported it
	SourceEnded   = "ended"   // the meeting ended; what was set no longer holds
)

// MeetingState is what meetingbot knows about a conference, whichever
// channel it is bound in: a meeting bound in two channels has one state.
type MeetingState struct {
	ConferenceID domain.ConferenceID

	Lock       domain.LockState
	LockBy     string // a Slack user ID, or "" when the meeting service reported it
	LockAt     time.Time
	LockSource string // SourceBot, SourceMeeting or SourceEnded; "" when unknown

	Restriction   domain.JoinRestriction
	RestrictionBy string
	RestrictionAt time.Time

	// ScheduledEnd is when the meeting is scheduled to end, when known (the
	// meeting's event socket reports it); zero otherwise.
	ScheduledEnd time.Time
	// Extended is how much meetingbot has prolonged the meeting since it was
	// last seen to end, and who did it last and when.
	Extended   time.Duration
	ExtendedBy string
	ExtendedAt time.Time

	// Fence is the fence of the newest change written under LockMeeting.
	Fence int64
}

// StateChange is a change to a MeetingState. Nil parts are left alone.
type StateChange struct {
	ConferenceID domain.ConferenceID
	// Fence is the value LockMeeting returned to the writer. A change with a
	// fence lower than the stored one is a late write from a holder whose
	// lease expired, and is dropped. Zero (a report from the meeting's own
	// event socket) always applies and leaves the stored fence alone.
	Fence int64
	At    time.Time
	By    string

	Lock         *domain.LockState
	LockSource   string // default SourceBot
	Restriction  *domain.JoinRestriction
	ScheduledEnd *time.Time // as reported; zero forgets it
	// Extend adds to Extended (and to a known ScheduledEnd), by By at At.
	Extend *time.Duration
	// Ended marks the meeting over: the lock state becomes unknown (source
	// SourceEnded) and the restriction, scheduled end and extensions are
	// forgotten.
	Ended bool
}

// Target is what a command needs to act on a meeting, read at once: the
// meeting, whether the user is one of the channel's controllers, and the
// cached control token.
type Target struct {
	Meeting      Meeting
	IsController bool
	Token        domain.Token
	TokenExpires time.Time
}

// Claim is an envelope acted on by one holder (a process) under a lease.
// A claim whose lease ran out before it was finished is taken over by
// another holder, which runs the command again and answers.
type Claim struct {
	EnvelopeID string
	Holder     string
	ClaimedAt  time.Time
	LeaseUntil time.Time
	// Payload is what the holder needs to run the command again (sealed at
	// rest: it holds the response_url).
	Payload []byte
	// Takeovers counts how often another holder took it over.
	Takeovers int
}

// Backend is what a database provides to [Store]. Every secret it sees is
// ciphertext; every argument has been validated by Store. Implementations
// must keep the invariants under concurrent writers, including other
// processes on the same database: a revoked controller cannot come back
// through a bind in flight, a channel's last controller cannot be revoked,
// and a state change with an older fence never overwrites a newer one.
type Backend interface {
	// Meta returns a named value, or ErrNotFound.
	Meta(ctx context.Context, name string) ([]byte, error)
	// PutMetaIfAbsent stores value under name unless one is there, and
	// returns the value that is stored after the call.
	PutMetaIfAbsent(ctx context.Context, name string, value []byte) ([]byte, error)

	// Bind stores the sealed password, makes the meeting the channel's
	// default, clears a cached token and adds the actor to the channel's
	// controllers. Unless the actor is an admin, it fails with ErrNotAllowed
	// when the channel has controllers and the actor is not one of them.
	Bind(ctx context.Context, b BindRow) error
	// Unbind deletes a binding (ErrNotFound, ErrNotAllowed as for Bind). If
	// it was the default, the most recently bound remaining meeting becomes
	// the default.
	Unbind(ctx context.Context, ch Channel, id domain.ConferenceID, by Actor) error
	Meeting(ctx context.Context, ch Channel, id domain.ConferenceID) (Meeting, error)
	DefaultMeeting(ctx context.Context, ch Channel) (Meeting, error)
	// Meetings lists the channel's meetings, the default first, then the
	// most recently bound.
	Meetings(ctx context.Context, ch Channel) ([]Meeting, error)
	// Target reads the meeting (id, or the channel's default when id is
	// empty), whether user is a controller, how many controllers the
	// channel has, and the sealed token, in one consistent read.
	Target(ctx context.Context, ch Channel, id domain.ConferenceID, user string) (TargetRow, error)
	PasswordCT(ctx context.Context, ch Channel, id domain.ConferenceID) ([]byte, error)

	TokenCT(ctx context.Context, ch Channel, id domain.ConferenceID) ([]byte, time.Time, error)
	// PutTokenCT caches a sealed token and marks the binding verified (a
	// token proves the password worked); ErrNotFound if the meeting is not
	// bound.
	PutTokenCT(ctx context.Context, ch Channel, id domain.ConferenceID, ct []byte, expires time.Time) error
	// DropToken forgets a cached token; a no-op when there is none.
	DropToken(ctx context.Context, ch Channel, id domain.ConferenceID) error

	// Controllers lists the channel's controllers, oldest grant first.
	Controllers(ctx context.Context, ch Channel) ([]Controller, error)
	// Grant adds a controller (a no-op if they are one); ErrNotAllowed
	// unless the actor is an admin or a controller.
	Grant(ctx context.Context, ch Channel, user string, by Actor, at time.Time) error
	// Revoke removes a controller: ErrNotFound, ErrNotAllowed, or
	// ErrLastController for the channel's only one.
	Revoke(ctx context.Context, ch Channel, user string, by Actor) error

	// MeetingState returns what is known of a conference; a conference never
	// recorded has the zero state (lock unknown), not ErrNotFound.
	MeetingState(ctx context.Context, id domain.ConferenceID) (MeetingState, error)
	// Record appends an audit record (folding a repeated refusal into its
	// predecessor, see RefusalWindow) and applies change, if not nil, in
	// the same transaction.
	Record(ctx context.Context, r AuditRecord, change *StateChange) error
	// History returns the channel's newest n records, newest first.
	History(ctx context.Context, ch Channel, n int) ([]AuditRecord, error)
	// ApplyState applies a change the meeting service reported (no audit
	// record: it is not anyone's action), with the same fence rule.
	ApplyState(ctx context.Context, change StateChange) error

	Watches

	// ClaimEnvelope records a claim and reports whether it is the first
	// for that envelope ID.
	ClaimEnvelope(ctx context.Context, c ClaimRow) (first bool, err error)
	// RenewClaims extends the leases of the holder's unfinished claims.
	RenewClaims(ctx context.Context, holder string, ids []string, until time.Time) error
	// FinishEnvelope marks a claim done, so it is never taken over.
	FinishEnvelope(ctx context.Context, id string) error
	// TakeExpiredClaims hands the holder up to limit unfinished claims whose
	// lease ended before now, each with a new lease until `until`.
	TakeExpiredClaims(ctx context.Context, holder string, now, until time.Time, limit int) ([]ClaimRow, error)
	// PruneEnvelopes forgets claims made before cutoff.
	PruneEnvelopes(ctx context.Context, cutoff time.Time) (int64, error)

	// LockMeeting serialises control calls for one conference, across
	// every process on the database, until unlock is called. The fence
	// grows with every acquisition.
	LockMeeting(ctx context.Context, id domain.ConferenceID) (fence int64, unlock func(), err error)

	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	Close() error
}

// StateLocker is a Backend that can take a meeting's lock and read its
// state in one round trip (LockMeeting, then MeetingState), which saves a
// network round trip per control on a database server. The state must be
// read after the lock is held, so that it shows every change made under
// the lock before.
type StateLocker interface {
	LockMeetingState(ctx context.Context, id domain.ConferenceID) (fence int64, st MeetingState, unlock func(), err error)
}

// BindRow is a binding as a backend stores it.
type BindRow struct {
	Channel      Channel
	ConferenceID domain.ConferenceID
	PasswordCT   []byte
	By           Actor
	At           time.Time
	Verified     bool
}

// TargetRow is Target as a backend returns it, the token still sealed.
type TargetRow struct {
	Meeting      Meeting
	IsController bool
	TokenCT      []byte
}

// ClaimRow is a Claim as a backend stores it, the payload sealed.
type ClaimRow struct {
	EnvelopeID string
	Holder     string
	ClaimedAt  time.Time
	LeaseUntil time.Time
	PayloadCT  []byte
	Takeovers  int
}

// Watch is a meeting whose joins are posted in a channel (join alerts). It
// is held by one process at a time under a lease, so one replica follows
// each meeting and another takes over when it dies.
type Watch struct {
	Channel      Channel
	ConferenceID domain.ConferenceID
	StartedBy    string
	StartedAt    time.Time
	Holder       string
	LeaseUntil   time.Time
}

// Watches is what a backend keeps of join alerts.
type Watches interface {
	// PutWatch starts (or restarts) a watch; the holder and lease are left
	// as they are.
	PutWatch(ctx context.Context, w Watch) error
	// DeleteWatch ends a watch, or returns ErrNotFound.
	DeleteWatch(ctx context.Context, ch Channel, id domain.ConferenceID) error
	// EndWatch ends the watch w as it was started (its StartedAt, to the
	// millisecond): a watch started again since stays. It returns
	// ErrNotFound when there was no such watch.
	EndWatch(ctx context.Context, w Watch) error
	// ClaimWatches renews the leases of the watches holder holds and takes
	// those nobody holds or whose lease ended before now, all until
	// `until`, and returns every watch holder now holds.
	ClaimWatches(ctx context.Context, holder string, now, until time.Time) ([]Watch, error)
	// ReleaseWatch gives up holder's lease on a watch (shutting down).
	ReleaseWatch(ctx context.Context, ch Channel, id domain.ConferenceID, holder string) error
}
