// Package claimstore keeps the bot's envelope claims (bot.Claims) in the
// store, so every replica sees them. It is the one place that knows both.
package claimstore

import (
	"context"
	"time"

	"github.com/meetingbot/meetingbot/bot"
	"github.com/meetingbot/meetingbot/store"
)

// New returns st as the bot's claims.
func New(st *store.Store) bot.Claims { return claims{st} }

type claims struct{ st *store.Store }

func (c claims) Claim(ctx context.Context, envelopeID, holder string, leaseUntil time.Time, payload []byte) (bool, error) {
	return c.st.ClaimEnvelope(ctx, store.Claim{EnvelopeID: envelopeID, Holder: holder, ClaimedAt: time.Now(), LeaseUntil: leaseUntil, Payload: payload})
}

func (c claims) Renew(ctx context.Context, holder string, ids []string, until time.Time) error {
	return c.st.RenewClaims(ctx, holder, ids, until)
}

func (c claims) Finish(ctx context.Context, envelopeID string) error {
	return c.st.FinishEnvelope(ctx, envelopeID)
}

func (c claims) TakeExpired(ctx context.Context, holder string, now, until time.Time, limit int) ([]bot.TakenClaim, error) {
	cs, err := c.st.TakeExpiredClaims(ctx, holder, now, until, limit)
	if err != nil {
		return nil, err
	}
	out := make([]bot.TakenClaim, len(cs))
	for i, c := range cs {
		out[i] = bot.TakenClaim{EnvelopeID: c.EnvelopeID, Payload: c.Payload, Takeovers: c.Takeovers}
	}
	return out, nil
}
