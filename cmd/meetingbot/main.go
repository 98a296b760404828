// Command meetingbot is a Slack bot that locks and unlocks Huawei Cloud
// Meetings from a channel. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
)

// version and revision are set at build time with
// -ldflags "-X main.version=… -X main.revision=…"; without them the
// revision comes from the Go build info when the source was a git checkout.
var (
	version  = "dev"
	revision = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "meetingbot:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for an error that only a change of settings or invocation
// fixes (the systemd unit's RestartPreventExitStatus=2), 1 for anything
// else, such as a failed doctor check or a lost database.
func exitCode(err error) int {
	var ce *configError
	var ue usageError
	if errors.As(err, &ce) && !ce.Transient || errors.As(err, &ue) {
		return 2
	}
	return 1
}

type usageError string

func (e usageError) Error() string { return string(e) }

const usage = `usage: meetingbot [run | doctor | sandbox | migrate-db FROM TO | version | help]

  run       connect to Slack and serve /meeting (the default)
  doctor    check the settings: both Slack tokens and their scopes, the
            database and the key, and the meeting API; one line per check
  sandbox   the real bot against an in-process fake Slack and fake meeting
            API; type slash commands at the prompt
  migrate-db FROM TO
            copy everything from one database to a new one (a SQLite file to
            PostgreSQL, say), with the same MEETINGBOT_SECRET_KEY; stop the
            bot first
  version   print the version
  help      this text and the environment variables
`

// run is the whole program. Settings come from the process environment
// (envconfig); tests set it with t.Setenv and bring their own streams.
func run(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	sub := "run"
	if len(args) > 0 {
		sub = args[0]
		args = args[1:]
	}
	if sub == "migrate-db" {
		return migrateDB(ctx, args, stdout)
	}
	if len(args) > 0 {
		return usageError(fmt.Sprintf("%s takes no arguments\n%s", sub, usage))
	}
	switch sub {
	case "run":
		return serve(ctx, stdout)
	case "doctor":
		return doctor(ctx, stdout)
	case "sandbox":
		return sandbox(ctx, stdin, stdout)
	case "version", "--version", "-version":
		_, err := fmt.Fprintf(stdout, "meetingbot %s (%s, %s)\n", version, buildRevision(), runtime.Version())
		return err
	case "help", "--help", "-h":
		if _, err := fmt.Fprint(stdout, usage+"\n"); err != nil {
			return err
		}
		return writeHelp(stdout)
	default:
		return usageError(fmt.Sprintf("unknown subcommand %q\n%s", sub, usage))
	}
}

func buildRevision() string {
	if revision != "" {
		return revision
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return s.Value[:12]
			}
		}
	}
	return "unknown revision"
}
