package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"
)

// botScopes are the bot token scopes the code needs: commands for the
// slash command; chat:write for the Web API fallbacks (chat.postMessage,
// chat.postEphemeral, chat.update) and for the direct message the bot
// sends when a channel refuses it (chat.postMessage to a user ID lands in
// the app's Messages tab, which needs no im:write). response_url posts and
// views.open need no scope. manifest.yaml grants exactly these.
var botScopes = []string{"commands", "chat:write"}

// appScope is the app-level token's scope for Socket Mode.
const appScope = "connections:write"

// check is the result of one check: what was checked, whether it passed,
// and one line that says what was found or what to do.
type check struct {
	Name   string // the variable (or thing) checked, e.g. SLACK_BOT_TOKEN
	OK     bool
	Detail string
	// Settings is true for a failure that only a change of settings fixes.
	// Start-up stops on it with exit status 2; anything else (Slack
	// unreachable, rate limited) is retried by the connection loop.
	Settings bool
}

func passed(name, detail string) check { return check{Name: name, OK: true, Detail: detail} }

func settingsFault(name, detail string) check {
	return check{Name: name, Detail: detail, Settings: true}
}

func transientFault(name, detail string) check { return check{Name: name, Detail: detail} }

// slackCallTimeout bounds one Web API call of a check.
const slackCallTimeout = 10 * time.Second

// slackAnswer is the part of a Web API answer the checks read.
type slackAnswer struct {
	OK     bool   `json:"ok"`
	Error  string `json:"error"`
	Needed string `json:"needed"`
	Team   string `json:"team"`
	TeamID string `json:"team_id"`
	User   string `json:"user"`
	scopes string // the X-OAuth-Scopes header
	status int
}

// callSlack POSTs a Web API method with token as a Bearer token. An error
// means no usable answer (network, timeout, 5xx, 429); a 404 or a non-JSON
// answer comes back as an answer with status set and OK false.
func callSlack(ctx context.Context, hc *http.Client, apiURL, method, token string) (slackAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, slackCallTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, apiURL+method, nil)
	if err != nil {
		return slackAnswer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		detail, _ := reachProblem(req.URL, err)
		return slackAnswer{}, errors.New(detail)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	a := slackAnswer{status: resp.StatusCode, scopes: resp.Header.Get("X-OAuth-Scopes")}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return a, fmt.Errorf("rate limited by Slack (retry after %ss)", resp.Header.Get("Retry-After"))
	case resp.StatusCode >= 500:
		return a, fmt.Errorf("Slack answered HTTP %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		return a, nil
	}
	if json.Unmarshal(body, &a) != nil {
		a.status = -1 // not JSON: not Slack's Web API
	}
	return a, nil
}

// wrongAPIURL explains an answer that did not come from Slack's Web API.
func wrongAPIURL(a slackAnswer, method string) (check, bool) {
	switch {
	case a.status == http.StatusNotFound:
		return settingsFault("SLACK_API_URL", fmt.Sprintf("answered HTTP 404 for %s: it is not Slack's Web API base; unset it for the default (https://slack.com/api/)", method)), true
	case a.status == -1:
		return settingsFault("SLACK_API_URL", fmt.Sprintf("did not answer %s in JSON: it is not Slack's Web API base; unset it for the default (https://slack.com/api/)", method)), true
	case a.status != http.StatusOK:
		return transientFault("SLACK_API_URL", fmt.Sprintf("answered HTTP %d for %s", a.status, method)), true
	}
	return check{}, false
}

// tokenRefusal says what to do about an answer that refuses a token for
// good; ok is false for other errors.
func tokenRefusal(code, where string) (string, bool) {
	switch code {
	case "invalid_auth", "not_authed":
		return "was refused by Slack (" + code + "): it is wrong or was replaced; copy it again from " + where, true
	case "token_revoked":
		return "was revoked (token_revoked); " + where + " has the current one (reinstall the app if there is none)", true
	case "account_inactive":
		return "belongs to a deleted app or a deactivated workspace (account_inactive); reinstall the app and copy the new token from " + where, true
	case "token_expired":
		return "has expired (token_expired): token rotation is on; turn it off (the manifest sets token_rotation_enabled: false) and reinstall the app", true
	case "not_allowed_token_type":
		return "is the wrong kind of token (not_allowed_token_type); copy the right one from " + where, true
	}
	return "", false
}

// checkBotToken calls auth.test and checks the scopes Slack lists for the
// token in X-OAuth-Scopes.
func checkBotToken(ctx context.Context, hc *http.Client, apiURL, token string) check {
	const name, where = "SLACK_BOT_TOKEN", "OAuth & Permissions → Bot User OAuth Token (xoxb-…)"
	a, err := callSlack(ctx, hc, apiURL, "auth.test", token)
	if err != nil {
		return transientFault(name, "could not be checked: "+err.Error())
	}
	if c, bad := wrongAPIURL(a, "auth.test"); bad {
		return c
	}
	if !a.OK {
		if what, refused := tokenRefusal(a.Error, where); refused {
			return settingsFault(name, what)
		}
		return transientFault(name, "could not be checked: auth.test answered "+safeCode(a.Error))
	}
	found := fmt.Sprintf("bot @%s in workspace %s (%s)", a.User, a.Team, a.TeamID)
	if a.scopes == "" {
		return passed(name, found+"; Slack did not list the token's scopes")
	}
	var missing []string
	have := strings.Split(a.scopes, ",")
	for i := range have {
		have[i] = strings.TrimSpace(have[i])
	}
	for _, s := range botScopes {
		if !slices.Contains(have, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return settingsFault(name, fmt.Sprintf("lacks the scope %s (%s has %s): add it under OAuth & Permissions → Bot Token Scopes (or re-create the app from manifest.yaml), reinstall the app and copy the new token",
			strings.Join(missing, ", "), found, strings.Join(have, ", ")))
	}
	return passed(name, found+"; scopes "+strings.Join(botScopes, ", "))
}

// checkAppToken asks for a Socket Mode URL with the app-level token. The
// URL is not used; Slack lets it expire.
func checkAppToken(ctx context.Context, hc *http.Client, apiURL, token string) check {
	const name, where = "SLACK_APP_TOKEN", "Basic Information → App-Level Tokens (xapp-…, scope connections:write)"
	a, err := callSlack(ctx, hc, apiURL, "apps.connections.open", token)
	if err != nil {
		return transientFault(name, "could not be checked: "+err.Error())
	}
	if c, bad := wrongAPIURL(a, "apps.connections.open"); bad {
		return c
	}
	switch {
	case a.OK:
		return passed(name, "opens Socket Mode connections ("+appScope+")")
	case a.Error == "missing_scope":
		return settingsFault(name, "lacks "+appScope+"; generate an app-level token with that scope under Basic Information → App-Level Tokens and set it here")
	}
	if what, refused := tokenRefusal(a.Error, where); refused {
		return settingsFault(name, what)
	}
	return transientFault(name, "could not be checked: apps.connections.open answered "+safeCode(a.Error))
}

// safeCode keeps a Slack error code printable: a short word of letters,
// digits and underscores, or "an unreadable error".
func safeCode(code string) string {
	if code == "" || len(code) > 64 || strings.ContainsFunc(code, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_')
	}) {
		return "an unreadable error"
	}
	return code
}

// checkSlack checks both tokens at start-up. A refused token or a missing
// scope stops start-up with a configError (exit 2); a Slack that cannot be
// reached now is logged, and the bot's connection loop keeps trying.
func checkSlack(ctx context.Context, c config, hc *http.Client, warn func(check)) error {
	for _, ch := range []check{
		checkBotToken(ctx, hc, c.SlackAPIURL.withSlash(), c.SlackBotToken),
		checkAppToken(ctx, hc, c.SlackAPIURL.withSlash(), c.SlackAppToken),
	} {
		switch {
		case ch.OK:
		case ch.Settings:
			return &configError{Var: ch.Name, Problem: ch.Detail}
		default:
			warn(ch)
		}
	}
	return nil
}
