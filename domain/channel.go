package domain

import (
	"strings"
	"unicode"
)

// Channel identifies a Slack conversation within a workspace. Both fields are
// opaque Slack IDs (T…, and C…, G… or D…); see DESIGN's note that IDs are
// never validated beyond "non-empty, no spaces".
//
// Team is the workspace the conversation belongs to. In an Enterprise Grid
// org-wide install and in a channel shared between workspaces, the team of
// the person typing can differ from the channel's; the bot always keys a
// channel by the team Slack reports for the command's conversation (see
// docs/ARCHITECTURE.md, "Workspaces").
type Channel struct {
	Team string
	ID   string
}

// Valid reports whether both IDs look like Slack IDs.
func (c Channel) Valid() bool { return ValidSlackID(c.Team) && ValidSlackID(c.ID) }

// ValidSlackID reports whether id can be a Slack ID: non-empty, at most 64
// bytes, and nothing that would break out of a mention.
func ValidSlackID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	return !strings.ContainsFunc(id, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("<>|&@#!`*_~", r)
	})
}
