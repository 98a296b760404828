package bot

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"

	"github.com/meetingbot/meetingbot/commands"
)

// deliveryTimeout bounds posting one reply. Replies get their own budget:
// a command that used all of its time must still be able to say so.
const deliveryTimeout = 10 * time.Second

// deliveryContext is detached from the command's deadline and from the
// drain, so the outcome of work that was done is always reported.
func deliveryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), deliveryTimeout)
}

// deliver posts the reply through response_url, which works in private
// channels and channels the bot has not joined; if that fails, it falls back
// to chat.postMessage or chat.postEphemeral.
//
// replaceOriginal edits the message behind a button click instead of
// posting a new one.
func (b *Bot) deliver(ctx context.Context, log zerolog.Logger, responseURL, channel, user string, r commands.Reply, replaceOriginal bool) {
	ctx, cancel := deliveryContext(ctx)
	defer cancel()
	blocks, text := Render(r)
	if responseURL != "" {
		err := slack.PostWebhookCustomHTTPContext(ctx, responseURL, b.http, &slack.WebhookMessage{
			Text: text, Blocks: &slack.Blocks{BlockSet: blocks}, ResponseType: responseType(r.Visibility),
			ReplaceOriginal: replaceOriginal,
		})
		b.metrics().Delivered(pathResponseURL, err == nil)
		if err == nil {
			return
		}
		// A transport error quotes the URL, which is a capability: log
		// what went wrong without it.
		log.Warn().Str("error", withoutURL(err)).Msg("response_url failed; falling back to the Web API")
	}
	opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)}
	var err error
	if r.Visibility == commands.InChannel {
		_, _, err = b.api.PostMessageContext(ctx, channel, opts...)
	} else {
		_, err = b.api.PostEphemeralContext(ctx, channel, user, opts...)
	}
	b.metrics().Delivered(pathFallback, err == nil)
	if err == nil {
		return
	}
	if isNotInChannel(err) {
		// Nothing can post in that conversation: tell the person directly.
		dm := commands.Reply{Text: fmt.Sprintf(":warning: I could not post in <#%s>: I am not a member there and its reply link had expired. Invite me with `/invite @meetingbot`. The reply was:", channel),
			Details: []string{text}}
		dmBlocks, dmText := Render(dm)
		_, _, dmErr := b.api.PostMessageContext(ctx, user, slack.MsgOptionText(dmText, false), slack.MsgOptionBlocks(dmBlocks...))
		b.metrics().Delivered(pathDirectMessage, dmErr == nil)
		if dmErr == nil {
			log.Warn().Msg("bot is not in the channel; told the user by direct message")
			return
		}
	}
	b.deliveryFailures.Add(1)
	b.metrics().Undelivered()
	log.Error().Err(err).Msg("could not deliver the reply")
}

func isNotInChannel(err error) bool {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err == "not_in_channel" || se.Err == "channel_not_found"
	}
	return strings.Contains(err.Error(), "not_in_channel") || strings.Contains(err.Error(), "channel_not_found")
}

// progressNote posts a "still trying" line if a command runs past
// ProgressAfter, and makes sure it never lands after the final reply.
type progressNote struct {
	mu    sync.Mutex
	done  bool
	timer *time.Timer
}

func (b *Bot) progressLater(ctx context.Context, log zerolog.Logger, sc slack.SlashCommand) *progressNote {
	p := &progressNote{}
	p.timer = time.AfterFunc(b.cfg.ProgressAfter, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.done {
			return
		}
		b.deliver(ctx, log, sc.ResponseURL, sc.ChannelID, sc.UserID, commands.Reply{
			Text: ":hourglass: Still trying: the meeting service is slow to answer. You will see the outcome here.",
		}, false)
	})
	return p
}

// finish runs the final delivery, after any progress line already started.
func (p *progressNote) finish(deliver func()) {
	p.timer.Stop()
	p.mu.Lock()
	p.done = true
	p.mu.Unlock()
	deliver()
}

func withoutURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}
