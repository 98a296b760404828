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

// deliveryContext bounds one way of posting a reply by d. It is detached
// from the command's deadline (a command that used all of its time must
// still be able to say so) and ends when the shutdown grace does.
func (b *Bot) deliveryContext(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.replies, d)
}

// deliver posts the reply through response_url, which works in private
// channels and channels the bot has not joined; if that fails, it falls back
// to chat.postMessage or chat.postEphemeral, and if the bot is not in the
// channel, to a direct message. Each of the three has its own time bound
// (Config.Delivery), so a hanging response_url cannot starve the fallback.
//
// replaceOriginal edits the message behind a button click instead of
// posting a new one.
func (b *Bot) deliver(log zerolog.Logger, to replyTo, r commands.Reply, replaceOriginal bool) {
	blocks, text := Render(r)
	if to.responseURL != "" {
		ctx, cancel := b.deliveryContext(b.cfg.Delivery.ResponseURL)
		err := slack.PostWebhookCustomHTTPContext(ctx, to.responseURL, b.http, &slack.WebhookMessage{
			Text: text, Blocks: &slack.Blocks{BlockSet: blocks}, ResponseType: responseType(r.Visibility),
			ReplaceOriginal: replaceOriginal,
		})
		cancel()
		b.metrics().Delivered(pathResponseURL, err == nil)
		if err == nil {
			return
		}
		// A transport error quotes the URL, which is a capability: log
		// what went wrong without it.
		log.Warn().Str("error", withoutURL(err)).Msg("response_url failed; falling back to the Web API")
	}
	if to.channel == "" || to.user == "" {
		b.deliveryFailures.Add(1)
		log.Error().Msg("could not deliver the reply: no usable response_url, channel or user")
		return
	}
	opts := []slack.MsgOption{slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...)}
	ctx, cancel := b.deliveryContext(b.cfg.Delivery.WebAPI)
	var err error
	if r.Visibility == commands.InChannel {
		_, _, err = b.api.PostMessageContext(ctx, to.channel, opts...)
	} else {
		_, err = b.api.PostEphemeralContext(ctx, to.channel, to.user, opts...)
	}
	cancel()
	b.metrics().Delivered(pathFallback, err == nil)
	if err == nil {
		return
	}
	if isNotInChannel(err) {
		// Nothing can post in that conversation: tell the person directly.
		dm := commands.Reply{Text: fmt.Sprintf(":warning: I could not post in <#%s>: I am not a member there and its reply link had expired. Invite me with `/invite @meetingbot`. The reply was:", to.channel),
			Details: []string{text}}
		dmBlocks, dmText := Render(dm)
		ctx, cancel := b.deliveryContext(b.cfg.Delivery.DirectMessage)
		_, _, dmErr := b.api.PostMessageContext(ctx, to.user, slack.MsgOptionText(dmText, false), slack.MsgOptionBlocks(dmBlocks...))
		cancel()
		b.metrics().Delivered(pathDirectMessage, dmErr == nil)
		if dmErr == nil {
			log.Warn().Msg("bot is not in the channel; told the user by direct message")
			return
		}
	}
	b.deliveryFailures.Add(1)
	b.metrics().Undelivered()
	log.Error().Str("error", withoutURL(err)).Msg("could not deliver the reply")
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

func (b *Bot) progressLater(log zerolog.Logger, to replyTo, progress *commands.Progress) *progressNote {
	p := &progressNote{}
	p.timer = time.AfterFunc(b.cfg.ProgressAfter, func() {
		defer func() { // a timer's goroutine is no handler's: guard it too
			if v := recover(); v != nil {
				b.logPanic(log, v)
			}
		}()
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.done {
			return
		}
		b.deliver(log, to, commands.Reply{Text: commands.StillTrying(progress.Phase())}, false)
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
