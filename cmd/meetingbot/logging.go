package main

import (
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
)

// newLogger logs JSON, or with LOG_FORMAT=console human-readable lines,
// coloured only when w is a terminal (a pipe or a file gets no escape codes).
func newLogger(c config, w io.Writer) zerolog.Logger {
	if c.LogFormat == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339, NoColor: !isTerminal(w)}
	}
	return zerolog.New(w).Level(zerolog.Level(c.LogLevel)).With().Timestamp().Logger()
}

// isTerminal reports whether f is an *os.File on a character device.
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	if !ok {
		return false
	}
	fi, err := file.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
