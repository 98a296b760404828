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
	err := run(ctx, os.Args[1:], osGetenv, os.Stdin, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "meetingbot:", err)
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for a configuration or usage error (fix the invocation),
// 1 for anything else.
func exitCode(err error) int {
	var ce *configError
	var ue usageError
	if errors.As(err, &ce) || errors.As(err, &ue) {
		return 2
	}
	return 1
}

// osGetenv is os.Getenv, except that MEETINGBOT_HTTP_ADDR set to empty
// reads as "off" (disabled) rather than as unset (the default).
func osGetenv(name string) string {
	v, ok := os.LookupEnv(name)
	if ok && v == "" && name == "MEETINGBOT_HTTP_ADDR" {
		return httpAddrOff
	}
	return v
}

type usageError string

func (e usageError) Error() string { return string(e) }

const usage = `usage: meetingbot [run | sandbox | version | help]

  run       connect to Slack and serve /meeting (the default)
  sandbox   the real bot against an in-process fake Slack and fake meeting
            API; type slash commands at the prompt
  version   print the version
`

// run is the whole program, driven by tests with their own args,
// environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	sub := "run"
	if len(args) > 0 {
		sub = args[0]
		args = args[1:]
	}
	if len(args) > 0 {
		return usageError(fmt.Sprintf("%s takes no arguments\n%s", sub, usage))
	}
	switch sub {
	case "run":
		return serve(ctx, getenv, stdout)
	case "sandbox":
		return sandbox(ctx, getenv, stdin, stdout)
	case "version", "--version", "-version":
		_, err := fmt.Fprintf(stdout, "meetingbot %s (%s, %s)\n", version, buildRevision(), runtime.Version())
		return err
	case "help", "--help", "-h":
		_, err := fmt.Fprint(stdout, usage+"\n"+configHelp())
		return err
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
