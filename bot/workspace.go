package bot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/meetingbot/meetingbot/domain"
)

// installation is the Slack installation the bot token belongs to, as
// auth.test reports it. meetingbot serves exactly one: a workspace, or a
// whole Enterprise org when the app is installed org-wide.
type installation struct {
	team       string // the workspace
	enterprise string // the Enterprise org, "" outside one
	orgWide    bool   // installed on the whole org (is_enterprise_install)
}

// scope is the namespace every channel's binding is kept under: the org
// for an org-wide install, else the workspace the app is installed in.
func (i installation) scope() string {
	if i.orgWide && i.enterprise != "" {
		return i.enterprise
	}
	return i.team
}

// channelKey is what identifies a conversation's binding, for slash
// commands, buttons and the bind form alike: the installation's scope and
// the conversation's ID.
//
// A conversation's ID is the same for everyone in it: a channel shared
// between workspaces, inside an Enterprise org or through Slack Connect,
// keeps one ID, and channel IDs are unique across an org. The team fields
// of a payload, on the other hand, describe the person and the client, not
// the conversation: a member of another workspace typing in a shared
// channel brings their own team_id, org-wide installs send "team": null on
// interactive payloads, and buttons in shared channels can carry an empty
// team.id. Keying by them would give one channel several bindings, or none.
// The scope comes from the bot's own token instead, which is the same for
// every envelope; for a single-workspace install it is the workspace's
// team ID, which is what bindings were keyed by before, so nothing moves.
// See docs/ARCHITECTURE.md, "Workspaces".
func (b *Bot) channelKey(conversationID string) domain.Channel {
	return domain.Channel{Team: b.install.scope(), ID: conversationID}
}

// fatalAuthErrors are auth.test answers that no retry will change.
var fatalAuthErrors = map[string]bool{
	"invalid_auth": true, "not_authed": true, "account_inactive": true,
	"token_revoked": true, "token_expired": true, "no_permission": true,
	"team_access_not_granted": true, "missing_scope": true,
}

// identify asks Slack which installation the bot token belongs to
// (auth.test). It retries transient failures (Slack unreachable, rate
// limits, 5xx) with backoff until ctx ends, and gives up at once on a
// refused token. slack-go's AuthTest does not read is_enterprise_install,
// so this reads the answer itself.
func (b *Bot) identify(ctx context.Context) (installation, error) {
	wait := 200 * time.Millisecond
	for {
		in, fatal, err := b.authTest(ctx)
		switch {
		case err == nil:
			return in, nil
		case fatal:
			return installation{}, err
		case ctx.Err() != nil:
			return installation{}, ctx.Err()
		}
		b.log.Warn().Str("error", err.Error()).Dur("retry_in", wait).Msg("could not ask Slack who the bot is (auth.test); retrying")
		select {
		case <-ctx.Done():
			return installation{}, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 30*time.Second)
	}
}

func (b *Bot) authTest(ctx context.Context) (in installation, fatal bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.cfg.APIURL+"auth.test", strings.NewReader(""))
	if err != nil {
		return installation{}, true, fmt.Errorf("SLACK_API_URL: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+b.cfg.BotToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := b.http.Do(req)
	if err != nil {
		return installation{}, false, errors.New(withoutURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return installation{}, false, fmt.Errorf("auth.test: HTTP %d", resp.StatusCode)
	}
	var r struct {
		OK                  bool   `json:"ok"`
		Error               string `json:"error"`
		TeamID              string `json:"team_id"`
		EnterpriseID        string `json:"enterprise_id"`
		IsEnterpriseInstall bool   `json:"is_enterprise_install"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&r); err != nil {
		return installation{}, false, fmt.Errorf("auth.test: unreadable answer: %w", err)
	}
	if !r.OK {
		if fatalAuthErrors[r.Error] {
			return installation{}, true, fmt.Errorf("Slack refused the bot token (SLACK_BOT_TOKEN): %s", r.Error)
		}
		return installation{}, false, fmt.Errorf("auth.test: %s", r.Error)
	}
	in = installation{team: r.TeamID, enterprise: r.EnterpriseID, orgWide: r.IsEnterpriseInstall}
	if !domain.ValidSlackID(in.scope()) {
		return installation{}, true, errors.New("Slack's auth.test named no valid workspace or org for the bot token")
	}
	return in, false, nil
}
