package main

import (
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// slackManifest is the part of Slack's app manifest (major version 1) the
// bot depends on.
type slackManifest struct {
	Metadata struct {
		MajorVersion int `yaml:"major_version"`
	} `yaml:"_metadata"`
	DisplayInformation struct {
		Name            string `yaml:"name"`
		Description     string `yaml:"description"`
		LongDescription string `yaml:"long_description"`
	} `yaml:"display_information"`
	Features struct {
		AppHome *struct {
			HomeTabEnabled             bool `yaml:"home_tab_enabled"`
			MessagesTabEnabled         bool `yaml:"messages_tab_enabled"`
			MessagesTabReadOnlyEnabled bool `yaml:"messages_tab_read_only_enabled"`
		} `yaml:"app_home"`
		BotUser struct {
			DisplayName string `yaml:"display_name"`
		} `yaml:"bot_user"`
		SlashCommands []struct {
			Command      string `yaml:"command"`
			Description  string `yaml:"description"`
			URL          string `yaml:"url"`
			ShouldEscape bool   `yaml:"should_escape"`
		} `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuthConfig struct {
		Scopes struct {
			Bot  []string `yaml:"bot"`
			User []string `yaml:"user"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		EventSubscriptions *struct{} `yaml:"event_subscriptions"`
		Interactivity      struct {
			IsEnabled  bool   `yaml:"is_enabled"`
			RequestURL string `yaml:"request_url"`
		} `yaml:"interactivity"`
		OrgDeployEnabled     *bool `yaml:"org_deploy_enabled"`
		SocketModeEnabled    bool  `yaml:"socket_mode_enabled"`
		TokenRotationEnabled bool  `yaml:"token_rotation_enabled"`
	} `yaml:"settings"`
}

func readManifest(t *testing.T) slackManifest {
	t.Helper()
	raw, err := os.ReadFile("../../manifest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var m slackManifest
	dec := yaml.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("manifest.yaml does not parse: %v", err)
	}
	return m
}

func TestTheManifestAgreesWithTheCode(t *testing.T) {
	t.Parallel()
	m := readManifest(t)
	if m.Metadata.MajorVersion != 1 {
		t.Errorf("manifest major version %d, want 1", m.Metadata.MajorVersion)
	}
	if n := utf8.RuneCountInString(m.DisplayInformation.Name); n == 0 || n > 35 {
		t.Errorf("display name has %d characters (1 to 35)", n)
	}

	// The slash command is the default of MEETINGBOT_COMMAND, delivered
	// over the socket, with mentions escaped (the grammar parses <@U…>).
	cmdField, _ := varField("MEETINGBOT_COMMAND")
	if len(m.Features.SlashCommands) != 1 {
		t.Fatalf("%d slash commands, want 1", len(m.Features.SlashCommands))
	}
	sc := m.Features.SlashCommands[0]
	if sc.Command != cmdField.Tag.Get("default") || sc.URL != "" || !sc.ShouldEscape || sc.Description == "" {
		t.Errorf("slash command %+v: want %s, no url, should_escape", sc, cmdField.Tag.Get("default"))
	}

	// Exactly the scopes the start-up check requires: least privilege,
	// and nothing the bot needs is missing.
	got, want := slices.Clone(m.OAuthConfig.Scopes.Bot), slices.Clone(botScopes)
	slices.Sort(got)
	slices.Sort(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("bot scopes %v, the code needs %v", got, want)
	}
	if len(m.OAuthConfig.Scopes.User) > 0 {
		t.Errorf("user scopes %v: the bot needs none", m.OAuthConfig.Scopes.User)
	}

	s := m.Settings
	if !s.SocketModeEnabled || !s.Interactivity.IsEnabled || s.Interactivity.RequestURL != "" {
		t.Errorf("settings %+v: want Socket Mode and interactivity without a request URL", s)
	}
	if s.EventSubscriptions != nil {
		t.Error("the bot handles no events: event_subscriptions must be absent")
	}
	if s.TokenRotationEnabled {
		t.Error("token rotation would expire SLACK_BOT_TOKEN; the bot does not refresh it")
	}
}

func TestTheManifestTurnsOnTheMessagesTabTheBotFallsBackTo(t *testing.T) {
	t.Parallel()
	m := readManifest(t)
	home := m.Features.AppHome
	if home == nil || !home.MessagesTabEnabled {
		t.Fatal("app_home.messages_tab_enabled must be true: the bot sends a direct message when it cannot post in a channel")
	}
	if !home.MessagesTabReadOnlyEnabled {
		t.Error("the Messages tab should be read-only: the bot does not read direct messages")
	}
	if n := utf8.RuneCountInString(m.DisplayInformation.LongDescription); n < 175 || n > 4000 {
		t.Errorf("long_description has %d characters; Slack wants 175 to 4000", n)
	}
}

func TestTheEnterpriseGridChoiceIsDeliberateAndDocumented(t *testing.T) {
	t.Parallel()
	m := readManifest(t)
	if m.Settings.OrgDeployEnabled == nil || *m.Settings.OrgDeployEnabled {
		t.Fatal("org_deploy_enabled must be set, to false: see the reason in manifest.yaml")
	}
	raw, _ := os.ReadFile("../../manifest.yaml")
	doc, _ := os.ReadFile("../../docs/DEPLOYMENT.md")
	for name, text := range map[string]string{"manifest.yaml": string(raw), "docs/DEPLOYMENT.md": string(doc)} {
		if !strings.Contains(text, "Enterprise Grid") || !strings.Contains(text, "org_deploy_enabled") {
			t.Errorf("%s does not explain the Enterprise Grid choice", name)
		}
	}
}
