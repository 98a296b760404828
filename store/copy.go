package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
)

// ErrNotEmpty is returned by Copy (through a Loader) when the target
// database already holds bindings, controllers, audit records or meeting
// state: a copy never merges two databases.
var ErrNotEmpty = errors.New("store: the target database is not empty")

// Row is one row of a database as a backend stores it, ciphertexts as they
// are: what Copy moves from one database to another. Exactly one field is
// set.
type Row struct {
	Meta       *MetaRow
	Binding    *BindingRow
	Controller *ControllerRow
	Audit      *AuditRecord
	State      *MeetingState
	Envelope   *EnvelopeRow
	Watch      *Watch // without holder and lease: any replica takes it
}

// MetaRow is a named value (the key check).
type MetaRow struct {
	Name  string
	Value []byte
}

// BindingRow is a meeting bound in a channel with its sealed password and
// cached token (TokenCT nil when none; its expiry is Meeting.TokenExpiresAt).
type BindingRow struct {
	Meeting    Meeting
	PasswordCT []byte
	TokenCT    []byte
}

// ControllerRow is a controller of a channel.
type ControllerRow struct {
	Channel Channel
	Controller
}

// EnvelopeRow is a claim on an envelope, finished or not.
type EnvelopeRow struct {
	ClaimRow
	Done bool
}

// Dumper is a Backend that can list everything it holds.
type Dumper interface {
	// Dump yields every row from one consistent snapshot, in this order:
	// meta; bindings, each channel's in the order they were bound;
	// controllers, each channel's oldest grant first; audit records,
	// oldest first; meeting states; envelope claims; watches. It stops at the
	// first error, which it yields.
	Dump(ctx context.Context) iter.Seq2[Row, error]
}

// Loader is a Backend that can take rows as Dump yields them.
type Loader interface {
	// Load writes rows as they are, keeping their order, in one
	// transaction: all of them or, on error, none. It fails with
	// ErrNotEmpty (wrapped with what is there) when the database holds
	// bindings, controllers, audit records or meeting state. A meta value
	// already present is kept; claims already present are kept.
	Load(ctx context.Context, rows iter.Seq2[Row, error]) error
}

// CopyCounts is how many rows of each kind Copy moved.
type CopyCounts struct {
	Meta, Bindings, Controllers, AuditRecords, MeetingStates, Envelopes, Watches int
}

func (c CopyCounts) String() string {
	return fmt.Sprintf("%d bindings, %d controllers, %d audit records, %d meeting states, %d envelope claims, %d watches",
		c.Bindings, c.Controllers, c.AuditRecords, c.MeetingStates, c.Envelopes, c.Watches)
}

// Copy copies every row of from into to: bindings with their sealed
// passwords and cached tokens, controllers, the audit trail (folded counts
// included), meeting states with their fences, envelope claims (unfinished
// ones keep their holder and lease, so a replica can take them over) and the
// key check. Ciphertexts are copied byte for byte: they are bound to their
// team, channel, meeting and purpose, not to the database, so the same
// MEETINGBOT_SECRET_KEY opens them in to. Nothing is decrypted.
//
// Copy refuses (ErrNotEmpty) to copy into a database that holds any data,
// and (ErrWrongKey) into one created with another key. Both backends must
// implement Dumper and Loader. Stop the bot while copying: rows written to
// from after the snapshot are not copied.
func Copy(ctx context.Context, from, to Backend) (CopyCounts, error) {
	var counts CopyCounts
	d, ok := from.(Dumper)
	if !ok {
		return counts, fmt.Errorf("store: copy: the source backend (%T) cannot list its rows", from)
	}
	l, ok := to.(Loader)
	if !ok {
		return counts, fmt.Errorf("store: copy: the target backend (%T) cannot load rows", to)
	}
	if err := sameKey(ctx, from, to); err != nil {
		return counts, err
	}
	rows := func(yield func(Row, error) bool) {
		for r, err := range d.Dump(ctx) {
			if err == nil {
				counts.add(r)
			}
			if !yield(r, err) || err != nil {
				return
			}
		}
	}
	if err := l.Load(ctx, rows); err != nil {
		return CopyCounts{}, wrap("copy", err)
	}
	return counts, nil
}

func (c *CopyCounts) add(r Row) {
	switch {
	case r.Meta != nil:
		c.Meta++
	case r.Binding != nil:
		c.Bindings++
	case r.Controller != nil:
		c.Controllers++
	case r.Audit != nil:
		c.AuditRecords++
	case r.State != nil:
		c.MeetingStates++
	case r.Envelope != nil:
		c.Envelopes++
	case r.Watch != nil:
		c.Watches++
	}
}

// sameKey refuses a target whose key check was made with another key than
// the source's (the key id in the sealed header tells, without the key).
func sameKey(ctx context.Context, from, to Backend) error {
	src, err := from.Meta(ctx, metaKeyCheck)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return wrap("copy: source key check", err)
	}
	dst, err := to.Meta(ctx, metaKeyCheck)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return wrap("copy: target key check", err)
	}
	if len(src) < sealHeaderLen || len(dst) < sealHeaderLen || !bytes.Equal(src[1:sealHeaderLen], dst[1:sealHeaderLen]) {
		var s, d [4]byte
		if len(src) >= sealHeaderLen {
			copy(s[:], src[1:sealHeaderLen])
		}
		if len(dst) >= sealHeaderLen {
			copy(d[:], dst[1:sealHeaderLen])
		}
		return fmt.Errorf("store: copy: %w: the target database was created with key id %s, the source with key id %s; copy into a new database",
			ErrWrongKey, hexID(d), hexID(s))
	}
	return nil
}
