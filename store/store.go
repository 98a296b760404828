// Package store keeps meetingbot's state: which meeting each channel is bound
// to, the host passwords and control tokens (encrypted), the channel's
// controllers, the last lock state the bot set, the audit trail and the IDs
// of envelopes already acted on.
//
// Secrets cross this package's API as plain strings and are encrypted with
// AES-256-GCM before they reach the database; the team, channel and
// conference ID are bound in as associated data, so a row copied to another
// channel cannot be decrypted.
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
	// ErrUndecryptable is returned when a stored secret cannot be decrypted:
	// MEETINGBOT_SECRET_KEY is not the key it was written with, or the row
	// was copied from another channel or meeting.
	// ErrLastController is returned by Revoke for a channel's only
	// controller: a channel with none would let anyone re-bind it.
	ErrLastController = errors.New("store: a channel's last controller cannot be revoked")
	ErrUndecryptable  = errors.New("store: a stored credential cannot be decrypted with this MEETINGBOT_SECRET_KEY")
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
	ConferenceID string
	BoundBy      string
	BoundAt      time.Time
	// Default is true for the channel's current meeting: the one that
	// commands without an ID act on (the most recent bind).
	Default bool

	TokenExpiresAt time.Time // zero when no token is cached

	LockState LockState
	LockSetBy string
	LockSetAt time.Time
}

// Controller is a Slack user allowed to control a channel's meetings.
type Controller struct {
	UserID    string
	GrantedBy string
	GrantedAt time.Time
}

// AuditRecord is one action or refusal. It never holds a secret.
type AuditRecord struct {
	At           time.Time
	Channel      Channel
	UserID       string
	Action       string // bind, unbind, lock, unlock, grant, revoke, ...
	ConferenceID string // may be empty
	Outcome      string // ok, refused, error
	ErrorCode    string // the vendor's error code, if any
	RequestID    string // the vendor's X-Request-Id, if any
	Detail       string // short human text, e.g. the granted user
}

// Store is the persistence the bot needs. SQLite implements it today; a
// PostgreSQL implementation can follow behind the same interface.
type Store interface {
	// Bind stores (or replaces) the host password for conferenceID in ch,
	// makes it ch's default meeting, and adds by to ch's controllers. A
	// re-bind clears any cached token and keeps the lock state.
	Bind(ctx context.Context, ch Channel, conferenceID, password, by string, at time.Time) error
	// Unbind deletes the meeting's credential and binding. If it was the
	// default, the most recently bound remaining meeting becomes default.
	Unbind(ctx context.Context, ch Channel, conferenceID string) error
	// Meeting returns conferenceID as bound in ch, or ErrNotFound.
	Meeting(ctx context.Context, ch Channel, conferenceID string) (Meeting, error)
	// DefaultMeeting returns ch's default meeting, or ErrNotFound.
	DefaultMeeting(ctx context.Context, ch Channel) (Meeting, error)
	// Meetings lists every meeting bound in ch, default first.
	Meetings(ctx context.Context, ch Channel) ([]Meeting, error)
	// Password decrypts the host password, or ErrNotFound / ErrUndecryptable.
	Password(ctx context.Context, ch Channel, conferenceID string) (string, error)

	// Token returns the cached control token and its expiry, or ErrNotFound.
	Token(ctx context.Context, ch Channel, conferenceID string) (token string, expiresAt time.Time, err error)
	// PutToken caches a control token; ErrNotFound if the meeting is not bound.
	PutToken(ctx context.Context, ch Channel, conferenceID, token string, expiresAt time.Time) error
	// DropToken forgets the cached token.
	DropToken(ctx context.Context, ch Channel, conferenceID string) error

	// SetLockState records the lock state the bot just set.
	SetLockState(ctx context.Context, ch Channel, conferenceID string, state LockState, by string, at time.Time) error

	// Controllers lists ch's controllers, oldest grant first.
	Controllers(ctx context.Context, ch Channel) ([]Controller, error)
	// Grant adds a controller; granting an existing one is a no-op.
	Grant(ctx context.Context, ch Channel, userID, by string, at time.Time) error
	// Revoke removes a controller, or returns ErrNotFound, or
	// ErrLastController if it is the channel's only one.
	Revoke(ctx context.Context, ch Channel, userID string) error

	// Audit appends a record.
	Audit(ctx context.Context, r AuditRecord) error
	// History returns ch's newest n records, newest first.
	History(ctx context.Context, ch Channel, n int) ([]AuditRecord, error)

	// ClaimEnvelope records an envelope ID and reports whether this is the
	// first time it was seen. Claiming is atomic across goroutines and
	// connections.
	ClaimEnvelope(ctx context.Context, envelopeID string, at time.Time) (first bool, err error)
	// PruneEnvelopes forgets envelope IDs claimed before cutoff.
	PruneEnvelopes(ctx context.Context, cutoff time.Time) (int64, error)

	Close() error
}
