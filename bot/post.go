package bot

import (
	"context"

	"github.com/slack-go/slack"

	"github.com/meetingbot/meetingbot/commands"
)

// Post posts r in a channel with chat.postMessage, as join alerts are
// posted: there is no command and so no response_url, and the bot must be
// a member of the channel (IsNotInChannel tells when it is not). It waits
// out Slack's rate limit (about one message a second per channel).
func (b *Bot) Post(ctx context.Context, channel string, r commands.Reply) error {
	blocks, text := Render(r)
	_, _, err := b.api.PostMessageContext(ctx, channel, slack.MsgOptionText(text, false), slack.MsgOptionBlocks(blocks...))
	b.metrics().Delivered(pathFallback, err == nil)
	return err
}

// IsNotInChannel reports whether a Web API error says the bot is not a
// member of the channel (or cannot see it).
func IsNotInChannel(err error) bool { return err != nil && isNotInChannel(err) }
