package domain

import (
	"strings"
	"unicode"
)

// Channel identifies a Slack conversation within a workspace. Both fields are
// opaque Slack IDs (T…, and C…, G… or D…); see DESIGN's note that IDs are
// never validated beyond "non-empty, no spaces".
//
// Team is the scope of the installation the bot serves: the org's ID for an
// Enterprise Grid org-wide install, else the workspace the app is installed
// in. It is not the team of the person typing, which differs in channels
// shared between workspaces (see docs/ARCHITECTURE.md, "Workspaces").
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
