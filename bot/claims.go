package bot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/meetingbot/meetingbot/commands"
)

// Claims records which process acts on each envelope, in the database that
// every replica shares, so that an envelope is acted on once whichever
// connection (or replica) Slack hands it to, and a command acknowledged by
// a process that dies before answering is finished by another.
type Claims interface {
	// Claim records that holder acts on the envelope until leaseUntil and
	// keeps payload (sealed) so another holder can finish it. first is
	// false when the envelope was claimed before.
	Claim(ctx context.Context, envelopeID, holder string, leaseUntil time.Time, payload []byte) (first bool, err error)
	// Renew extends the leases of the holder's unfinished claims.
	Renew(ctx context.Context, holder string, envelopeIDs []string, until time.Time) error
	// Finish marks an envelope answered.
	Finish(ctx context.Context, envelopeID string) error
	// TakeExpired hands holder unfinished claims whose lease ran out.
	TakeExpired(ctx context.Context, holder string, now, until time.Time, limit int) ([]TakenClaim, error)
}

// TakenClaim is a command another holder acknowledged and did not finish.
type TakenClaim struct {
	EnvelopeID string
	Payload    []byte // nil when it cannot be read
	Takeovers  int
}

// Claim timing defaults.
const (
	DefaultClaimLease    = 30 * time.Second
	DefaultTakeoverEvery = 5 * time.Second
	// maxTakeovers: a command taken over this often kills whoever runs it;
	// it is given up (and logged) rather than passed on for ever.
	maxTakeovers = 3
)

// work is what a claim keeps to run a command again: a slash command or a
// button click, as Slack sent it, checked. It holds the response_url (a
// capability) and, for an inline bind, a password: the store seals it.
type work struct {
	Kind        string `json:"kind"` // "slash" or "button"
	Channel     string `json:"channel"`
	User        string `json:"user"`
	Text        string `json:"text,omitempty"`
	ActionID    string `json:"action_id,omitempty"`
	Value       string `json:"value,omitempty"`
	ResponseURL string `json:"response_url,omitempty"`
	Received    int64  `json:"received"` // unix ms
}

const (
	workSlash  = "slash"
	workButton = "button"
)

// Holder is the name this process goes by in claims and leases.
func (b *Bot) Holder() string { return b.holder }

func newHolderID() string {
	host, _ := os.Hostname()
	var b [6]byte
	_, _ = rand.Read(b[:])
	if len(host) > 40 {
		host = host[:40]
	}
	return host + "-" + hex.EncodeToString(b[:])
}

// held is the set of envelopes this process has claimed and not finished,
// whose leases the renewer keeps alive.
type held struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

func (h *held) add(id string) {
	h.mu.Lock()
	if h.ids == nil {
		h.ids = map[string]struct{}{}
	}
	h.ids[id] = struct{}{}
	h.mu.Unlock()
}

func (h *held) remove(id string) {
	h.mu.Lock()
	delete(h.ids, id)
	h.mu.Unlock()
}

func (h *held) has(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.ids[id]
	return ok
}

func (h *held) list() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.ids))
	for id := range h.ids {
		out = append(out, id)
	}
	return out
}

// claim records the envelope before it is acted on. It reports false when
// another holder has it (a redelivery). A claim that cannot be written is
// logged and the command runs anyway: acting twice is safe for the
// idempotent controls, never acting is not.
func (b *Bot) claim(ctx context.Context, log zerolog.Logger, envID string, w work) bool {
	payload, _ := json.Marshal(w)
	first, err := b.cfg.Claims.Claim(ctx, envID, b.holder, time.Now().Add(b.cfg.ClaimLease), payload)
	if err != nil {
		log.Error().Err(err).Msg("could not record the envelope; running it anyway")
		return true
	}
	if !first {
		log.Info().Msg("envelope already handled; ignoring the redelivery")
		return false
	}
	b.held.add(envID)
	return true
}

// finish marks an envelope answered.
func (b *Bot) finish(log zerolog.Logger, envID string) {
	b.held.remove(envID)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(b.work), 5*time.Second)
	defer cancel()
	if err := b.cfg.Claims.Finish(ctx, envID); err != nil {
		log.Warn().Err(err).Msg("could not mark the envelope answered; another replica may answer it again")
	}
}

// renewClaims renews the leases of the envelopes this process holds until
// ctx ends. Run stops it only after the drain, so a command still running
// at shutdown keeps its lease and is not taken over and answered twice.
func (b *Bot) renewClaims(ctx context.Context) {
	renew := time.NewTicker(b.cfg.ClaimLease / 3)
	defer renew.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-renew.C:
		}
		if ids := b.held.list(); len(ids) > 0 {
			rctx, cancel := context.WithTimeout(ctx, b.cfg.ClaimLease/3)
			if err := b.cfg.Claims.Renew(rctx, b.holder, ids, time.Now().Add(b.cfg.ClaimLease)); err != nil && ctx.Err() == nil {
				b.log.Warn().Err(err).Int("held", len(ids)).Msg("could not renew envelope leases")
			}
			cancel()
		}
	}
}

// takeOvers takes over the envelopes of processes that died, until ctx
// ends; a restart first picks up what the previous run left.
func (b *Bot) takeOvers(ctx context.Context) {
	take := time.NewTicker(b.cfg.TakeoverEvery)
	defer take.Stop()
	for {
		b.takeOver(ctx)
		select {
		case <-ctx.Done():
			return
		case <-take.C:
		}
	}
}

// takeoverBatchSize is how many expired claims one statement takes.
const takeoverBatchSize = 16

// takeOver takes every expired claim, a batch at a time: a replica that
// died holding many commands leaves them all to this look, not 16 per
// TakeoverEvery.
func (b *Bot) takeOver(ctx context.Context) {
	for {
		if b.takeOverBatch(ctx) < takeoverBatchSize {
			return
		}
	}
}

// takeOverBatch takes up to takeoverBatchSize expired claims, starts their
// replays, and says how many it took.
func (b *Bot) takeOverBatch(ctx context.Context) int {
	tctx, cancel := context.WithTimeout(ctx, b.cfg.TakeoverEvery)
	defer cancel()
	now := time.Now()
	taken, err := b.cfg.Claims.TakeExpired(tctx, b.holder, now, now.Add(b.cfg.ClaimLease), takeoverBatchSize)
	if err != nil {
		if ctx.Err() == nil {
			b.log.Warn().Err(err).Msg("could not look for commands left by a stopped replica")
		}
		return 0
	}
	for _, c := range taken {
		if b.held.has(c.EnvelopeID) {
			// Its lease ran out while this process still runs it (a renewal
			// came late): taking it renewed the lease, and it is answered
			// once, by the run under way.
			continue
		}
		if !b.track() {
			return 0 // shutting down: its lease runs out again and someone else takes it
		}
		go func() {
			defer b.untrack()
			b.replay(c)
		}()
	}
	return len(taken)
}

// replay finishes a command another process acknowledged: it runs it again
// (the controls are safe to repeat) and answers through the same
// response_url.
func (b *Bot) replay(c TakenClaim) {
	log := b.log.With().Str("envelope", c.EnvelopeID).Int("takeover", c.Takeovers).Logger()
	defer func() {
		if v := recover(); v != nil {
			b.logPanic(log, v)
			b.finish(log, c.EnvelopeID)
		}
	}()
	var w work
	if c.Payload == nil || json.Unmarshal(c.Payload, &w) != nil || c.Takeovers > maxTakeovers {
		log.Error().Msg("a command left by a stopped replica cannot be run again; giving it up")
		b.finish(log, c.EnvelopeID)
		return
	}
	b.held.add(c.EnvelopeID)
	log.Warn().Str("kind", w.Kind).Msg("finishing a command that a stopped replica acknowledged")
	received := time.UnixMilli(w.Received)
	switch w.Kind {
	case workSlash:
		cmd, err := commands.Parse(w.Text)
		if err != nil {
			b.finish(log, c.EnvelopeID)
			return
		}
		sc := slack.SlashCommand{ChannelID: w.Channel, UserID: w.User, Text: w.Text, ResponseURL: w.ResponseURL}
		b.execute(c.EnvelopeID, sc, cmd, received, true)
	case workButton:
		cmd, ok := commands.ButtonCommand(w.ActionID, w.Value)
		if !ok {
			b.finish(log, c.EnvelopeID)
			return
		}
		b.runClick(c.EnvelopeID, click{cmd: cmd, actionID: w.ActionID, value: w.Value, channel: w.Channel, user: w.User},
			b.checkedTarget(w.ResponseURL, w.Channel, w.User), received, true)
	default:
		b.finish(log, c.EnvelopeID)
	}
}
