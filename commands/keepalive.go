package commands

import (
	"context"
	"errors"
	"time"

	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/store"
)

// keepAliveWindow: only meetings controlled this recently have their
// tokens kept alive. A token lives 30 minutes; a meeting nobody touched in
// that long does not need one waiting.
const keepAliveWindow = 30 * time.Minute

func (s *Service) markUsed(ch store.Channel, id meetingapi.ConferenceID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.recent == nil {
		s.recent = make(map[meetingKey]time.Time)
	}
	s.recent[meetingKey{ch, id}] = s.now()
}

// KeepTokensAlive refreshes, with the vendor's keep-alive call, the cached
// control tokens of meetings controlled in the last 30 minutes that expire
// within `within`, so the next command does not pay for a token fetch. It
// returns how many it refreshed. A token the API no longer accepts is
// dropped; the next command fetches a new one with the host password.
func (s *Service) KeepTokensAlive(ctx context.Context, within time.Duration) int {
	now := s.now()
	s.mu.Lock()
	var due []meetingKey
	for k, used := range s.recent {
		if now.Sub(used) > keepAliveWindow {
			delete(s.recent, k)
			continue
		}
		due = append(due, k)
	}
	s.mu.Unlock()

	refreshed := 0
	for _, k := range due {
		v, exp, err := s.store.Token(ctx, k.ch, string(k.id))
		if err != nil || !exp.After(now) || exp.Sub(now) > within {
			continue // no token, expired already (a fetch will follow), or not due yet
		}
		// Not the key commands use: a command that needs a fresh token
		// after a 401 must not join a keep-alive of that same dead token.
		key := k.ch.Team + "\x00" + k.ch.ID + "\x00" + string(k.id) + "\x00keep-alive"
		_, err = s.tokens.do(ctx, key, func(fctx context.Context) (meetingapi.Token, error) {
			ct, err := s.meetings.KeepAlive(fctx, k.id, meetingapi.Token(v))
			if err != nil {
				return "", err
			}
			return ct.Token, s.store.PutToken(fctx, k.ch, string(k.id), ct.Token.Reveal(), ct.ExpiresAt)
		})
		switch {
		case err == nil:
			refreshed++
		case errors.Is(err, meetingapi.ErrTokenInvalid):
			_ = s.store.DropToken(ctx, k.ch, string(k.id))
			s.log.Info().Str("conference", string(k.id)).Msg("control token no longer valid; dropped")
		default:
			s.log.Warn().Err(err).Str("conference", string(k.id)).Msg("keep-alive failed")
		}
	}
	return refreshed
}
