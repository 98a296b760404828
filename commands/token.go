package commands

import (
	"context"
	"errors"
	"time"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/meetingapi"
	"github.com/meetingbot/meetingbot/store"
)

// keepAliveWindow: only meetings controlled this recently have their
// tokens kept alive. A token lives 30 minutes; a meeting nobody touched in
// that long does not need one waiting.
const keepAliveWindow = 30 * time.Minute

// Token fetch kinds and results, for Metrics.TokenFetch.
const (
	fetchPassword  = "password"
	fetchKeepAlive = "keepalive"
	resultOK       = "ok"
	resultRejected = "rejected"
	resultError    = "error"
)

func fetchResult(err error) string {
	var ae *meetingapi.APIError
	switch {
	case err == nil:
		return resultOK
	case errors.As(err, &ae) && ae.StatusCode >= 400 && ae.StatusCode < 500:
		return resultRejected
	}
	return resultError
}

// withToken runs call with a valid control token for t's meeting: the
// cached one while it is valid for more than the margin, else a new one
// fetched with the host password; after a 401 it fetches once more and
// retries. The caller holds the meeting's lock (LockMeeting), so at most one
// fetch per meeting runs at a time, across every process.
func (s *Service) withToken(ctx context.Context, req Request, t store.Target, call func(domain.Token) error) error {
	ch, id := req.Channel, t.Meeting.ConferenceID
	s.markUsed(ch, id)
	tok, exp := t.Token, t.TokenExpires
	if !s.usable(tok, exp) {
		// Another command may have fetched one while this one queued.
		if cached, cexp, err := s.store.Token(ctx, ch, id); err == nil {
			tok, exp = cached, cexp
		}
	}
	if !s.usable(tok, exp) {
		fresh, err := s.fetchToken(ctx, ch, id)
		if err != nil {
			return err
		}
		tok = fresh.Token
	}
	err := call(tok)
	if !errors.Is(err, meetingapi.ErrTokenInvalid) {
		return err
	}
	// Commands queued behind the one that found the token dead still hold
	// it, as read before they queued; the fresh one it fetched is cached.
	if cached, cexp, cerr := s.store.Token(ctx, ch, id); cerr == nil && cached != tok && s.usable(cached, cexp) {
		if err = call(cached); !errors.Is(err, meetingapi.ErrTokenInvalid) {
			return err
		}
	}
	s.log.Debug().Str("conference_id", string(id)).Msg("control token rejected; fetching a fresh one")
	_ = s.store.DropToken(context.WithoutCancel(ctx), ch, id)
	fresh, err := s.fetchToken(ctx, ch, id)
	if err != nil {
		return err
	}
	return call(fresh.Token)
}

func (s *Service) usable(tok domain.Token, exp time.Time) bool {
	return tok != "" && exp.Sub(s.now()) > s.margin
}

// fetchToken gets a new control token with the binding's host password and
// caches it.
func (s *Service) fetchToken(ctx context.Context, ch domain.Channel, id domain.ConferenceID) (meetingapi.ControlToken, error) {
	pw, err := s.store.Password(ctx, ch, id)
	if err != nil {
		return meetingapi.ControlToken{}, internalErr{err}
	}
	ct, err := s.meetings.ControlToken(ctx, id, pw)
	s.metrics.TokenFetch(fetchPassword, fetchResult(err))
	if err != nil {
		return meetingapi.ControlToken{}, err
	}
	if err := s.store.PutToken(context.WithoutCancel(ctx), ch, id, ct.Token, ct.ExpiresAt); err != nil {
		// The token works even if caching it failed.
		s.log.Error().Err(err).Msg("caching control token failed")
	}
	return ct, nil
}

// WatchToken gives the join-alert watch of id in ch a control token with
// the socket address that comes with it: the cached token refreshed with
// the vendor's keep-alive (which answers with the address), or a new one
// fetched with the host password, under the meeting's lock. rejected is a
// token the socket refused; it is never handed out again.
func (s *Service) WatchToken(ctx context.Context, ch domain.Channel, id domain.ConferenceID, rejected domain.Token) (meetingapi.ControlToken, error) {
	_, unlock, err := s.store.LockMeeting(ctx, id)
	if err != nil {
		return meetingapi.ControlToken{}, err
	}
	defer unlock()
	s.markUsed(ch, id)
	if tok, exp, err := s.store.Token(ctx, ch, id); err == nil && tok != rejected && s.usable(tok, exp) {
		ct, err := s.meetings.KeepAlive(ctx, id, tok)
		s.metrics.TokenFetch(fetchKeepAlive, fetchResult(err))
		if err == nil {
			if err := s.store.PutToken(context.WithoutCancel(ctx), ch, id, ct.Token, ct.ExpiresAt); err != nil {
				s.log.Error().Err(err).Msg("caching control token failed")
			}
			return ct, nil
		}
		if !errors.Is(err, meetingapi.ErrTokenInvalid) {
			return meetingapi.ControlToken{}, err
		}
	}
	return s.fetchToken(ctx, ch, id)
}

// MarkInUse keeps the control token of a meeting alive (KeepTokensAlive)
// for the next 30 minutes, as if a command had just used it: a watch calls
// it while it follows the meeting.
func (s *Service) MarkInUse(ch domain.Channel, id domain.ConferenceID) { s.markUsed(ch, id) }

func (s *Service) markUsed(ch domain.Channel, id domain.ConferenceID) {
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
		if s.keepAlive(ctx, k, now, within) {
			refreshed++
		}
	}
	return refreshed
}

func (s *Service) keepAlive(ctx context.Context, k meetingKey, now time.Time, within time.Duration) bool {
	tok, exp, err := s.store.Token(ctx, k.ch, k.id)
	if err != nil || !exp.After(now) || exp.Sub(now) > within {
		return false // no token, expired already (a fetch will follow), or not due yet
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, unlock, err := s.store.LockMeeting(lctx, k.id)
	if err != nil {
		return false // busy: the command holding it has a token
	}
	defer unlock()
	// Re-read: a command may have refreshed it while we waited.
	if cur, _, err := s.store.Token(ctx, k.ch, k.id); err != nil || cur != tok {
		return false
	}
	ct, err := s.meetings.KeepAlive(lctx, k.id, tok)
	s.metrics.TokenFetch(fetchKeepAlive, fetchResult(err))
	switch {
	case err == nil:
		if err := s.store.PutToken(ctx, k.ch, k.id, ct.Token, ct.ExpiresAt); err != nil {
			s.log.Warn().Err(err).Str("conference_id", string(k.id)).Msg("caching the kept-alive token failed")
			return false
		}
		return true
	case errors.Is(err, meetingapi.ErrTokenInvalid):
		_ = s.store.DropToken(ctx, k.ch, k.id)
		s.log.Info().Str("conference_id", string(k.id)).Msg("control token no longer valid; dropped")
	default:
		s.log.Warn().Err(err).Str("conference_id", string(k.id)).Msg("keep-alive failed")
	}
	return false
}
