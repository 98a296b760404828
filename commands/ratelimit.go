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

// allowUser takes one token from the person's bucket, or says how long to
// wait. It is asked first, before anything is read, so that one person
// cannot flood the database or the history either.
func (l *limiter) allowUser(user string) (bool, time.Duration) {
	return take(l, l.users, user, l.cfg.UserBurst, l.cfg.UserPerMinute)
}

// allowChannel takes one token from the channel's bucket. It is asked only
// once the person may act, so people who may not cannot use up the
// channel's allowance and get its controllers told to slow down.
func (l *limiter) allowChannel(ch domain.Channel) (bool, time.Duration) {
	return take(l, l.channels, ch, l.cfg.ChannelBurst, l.cfg.ChannelPerMinute)
}

func take[K comparable](l *limiter, buckets map[K]*bucket, key K, burst, perMinute int) (bool, time.Duration) {
	if l.cfg.Off {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := buckets[key]
	if b == nil {
		b = &bucket{tokens: float64(burst), at: now}
		buckets[key] = b
	}
	refill(b, now, burst, perMinute)
	if b.tokens < 1 {
		return false, untilToken(b, perMinute)
	}
	b.tokens--
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

// sweep forgets full buckets now and then, so the maps stay small: a
// bucket that has refilled is the same as none.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < 10*time.Minute {
		return
	}
	l.swept = now
	sweepFull(l.users, now, l.cfg.UserBurst, l.cfg.UserPerMinute)
	sweepFull(l.channels, now, l.cfg.ChannelBurst, l.cfg.ChannelPerMinute)
}

func sweepFull[K comparable](buckets map[K]*bucket, now time.Time, burst, perMinute int) {
	for k, b := range buckets {
		refill(b, now, burst, perMinute)
		if b.tokens >= float64(burst) {
			delete(buckets, k)
		}
	}
}
