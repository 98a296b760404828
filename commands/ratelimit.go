package commands

import (
	"math"
	"sync"
	"time"

	"github.com/meetingbot/meetingbot/domain"
)

// Limits bound how often one person and one channel may run commands that
// reach the meeting service, so one person (or a script) cannot flood it and
// get every channel's locks refused by its flow control. Each is a token
// bucket: Burst commands at once, then Per more per minute.
type Limits struct {
	UserBurst, UserPerMinute       int
	ChannelBurst, ChannelPerMinute int
	// Off disables the limits (load tests).
	Off bool
}

// DefaultLimits leave room for a moderator's busiest minute (lock, who,
// three removals, restrict, mute…) and a channel where several people act.
var DefaultLimits = Limits{UserBurst: 20, UserPerMinute: 30, ChannelBurst: 40, ChannelPerMinute: 60}

type limiter struct {
	cfg Limits
	now func() time.Time

	mu       sync.Mutex
	users    map[string]*bucket
	channels map[domain.Channel]*bucket
	swept    time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(cfg Limits, now func() time.Time) *limiter {
	d := DefaultLimits
	if cfg.UserBurst <= 0 {
		cfg.UserBurst = d.UserBurst
	}
	if cfg.UserPerMinute <= 0 {
		cfg.UserPerMinute = d.UserPerMinute
	}
	if cfg.ChannelBurst <= 0 {
		cfg.ChannelBurst = d.ChannelBurst
	}
	if cfg.ChannelPerMinute <= 0 {
		cfg.ChannelPerMinute = d.ChannelPerMinute
	}
	return &limiter{cfg: cfg, now: now, users: map[string]*bucket{}, channels: map[domain.Channel]*bucket{}}
}

// allow takes one token from the person's and the channel's buckets, or
// neither, and says how long to wait when it cannot.
func (l *limiter) allow(ch domain.Channel, user string) (bool, time.Duration) {
	if l.cfg.Off {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	u := l.users[user]
	if u == nil {
		u = &bucket{tokens: float64(l.cfg.UserBurst), at: now}
		l.users[user] = u
	}
	c := l.channels[ch]
	if c == nil {
		c = &bucket{tokens: float64(l.cfg.ChannelBurst), at: now}
		l.channels[ch] = c
	}
	refill(u, now, l.cfg.UserBurst, l.cfg.UserPerMinute)
	refill(c, now, l.cfg.ChannelBurst, l.cfg.ChannelPerMinute)
	if u.tokens < 1 || c.tokens < 1 {
		wait := max(untilToken(u, l.cfg.UserPerMinute), untilToken(c, l.cfg.ChannelPerMinute))
		return false, wait
	}
	u.tokens--
	c.tokens--
	return true, 0
}

func refill(b *bucket, now time.Time, burst, perMinute int) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens = math.Min(float64(burst), b.tokens+el.Minutes()*float64(perMinute))
		b.at = now
	}
}

func untilToken(b *bucket, perMinute int) time.Duration {
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / float64(perMinute) * float64(time.Minute))
}

// sweep forgets full buckets now and then, so the maps stay small.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < 10*time.Minute {
		return
	}
	l.swept = now
	for k, b := range l.users {
		if now.Sub(b.at) > 10*time.Minute {
			delete(l.users, k)
		}
	}
	for k, b := range l.channels {
		if now.Sub(b.at) > 10*time.Minute {
			delete(l.channels, k)
		}
	}
}
