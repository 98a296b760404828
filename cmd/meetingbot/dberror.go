package main

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/meetingbot/meetingbot/store"
)

// dbError turns a failure to open the database into one line that names
// MEETINGBOT_DB (or the key), says what is wrong and what to do, and gives
// the path once. It reads the cause from wrapped errors only (os errors,
// SQLite result codes, PostgreSQL SQLSTATEs, network errors), so it does
// not depend on how a backend words its messages. Problems only a change
// of settings or of the file system fixes are a configError (exit 2).
func dbError(dsn database, err error) error {
	where := dsn.String() // a PostgreSQL password is redacted
	settings := func(problem string) error { return &configError{Var: "MEETINGBOT_DB", Problem: problem} }
	other := func(problem string) error {
		return &configError{Var: "MEETINGBOT_DB", Problem: problem, Transient: true}
	}

	var wk *store.WrongKeyError
	if errors.As(err, &wk) {
		return &configError{Var: "MEETINGBOT_SECRET_KEY", Problem: "does not match the key the database " + where + " was created with (database key id " + wk.Stored + ", this key's id " + wk.Given + "); use the original key, or move the database aside to start over"}
	}
	if errors.Is(err, store.ErrWrongKey) {
		return &configError{Var: "MEETINGBOT_SECRET_KEY", Problem: "does not match the key the database " + where + " was created with; use the original key, or move the database aside to start over"}
	}

	dir := filepath.Dir(string(dsn))
	switch {
	case errors.Is(err, syscall.EROFS):
		return settings("is on a read-only file system (" + where + "); put the database on a writable volume")
	case errors.Is(err, fs.ErrPermission):
		return settings("cannot be opened: permission denied for " + where + "; the bot's user must be able to write it and its directory " + dir)
	case errors.Is(err, syscall.ENOTDIR):
		return settings("cannot be opened: a part of the path " + where + " is a file, not a directory")
	case errors.Is(err, syscall.EISDIR) || !dsn.postgres() && isDir(string(dsn)):
		return settings("names a directory (" + where + "); name a database file in it, such as meetingbot.db")
	case errors.Is(err, fs.ErrNotExist) && !dsn.postgres():
		return settings("cannot be created: the directory " + dir + " does not exist; create it (writable by the bot's user) or point MEETINGBOT_DB elsewhere")
	case errors.Is(err, syscall.ENOSPC):
		return other("cannot be written: no space left on the device holding " + where)
	}

	var coded interface{ Code() int } // modernc.org/sqlite's *sqlite.Error
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff { // the primary result code
		case 8: // SQLITE_READONLY
			return settings("cannot be written: " + where + " is read-only for the bot's user, who must be able to write it and its directory " + dir)
		case 26: // SQLITE_NOTADB
			return settings("names " + where + ", which is not a SQLite database; point it at the bot's database, or move that file aside")
		case 11: // SQLITE_CORRUPT
			return other("names a damaged database (" + where + ": SQLite reports corruption); restore it from a backup (docs/DEPLOYMENT.md#backups)")
		case 5, 6: // SQLITE_BUSY, SQLITE_LOCKED
			return other("is locked by another process (" + where + "); run one meetingbot per SQLite file")
		case 13: // SQLITE_FULL
			return other("cannot be written: no space left on the device holding " + where)
		case 14: // SQLITE_CANTOPEN
			return settings("cannot be opened (" + where + "); check that its directory " + dir + " exists and is writable by the bot's user")
		}
	}

	var sqlState interface{ SQLState() string } // pgx's *pgconn.PgError
	if errors.As(err, &sqlState) {
		switch s := sqlState.SQLState(); {
		case s == "28P01" || s == "28000":
			return settings("was refused by PostgreSQL (" + where + "): wrong user or password")
		case s == "3D000":
			return settings("names a database that does not exist (" + where + ")")
		case strings.HasPrefix(s, "42"):
			return settings("names a user who lacks a privilege the bot needs (SQLSTATE " + s + " at " + where + "); it must own the bot's schema")
		}
	}
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &dnsErr):
		return other("names a host that does not resolve (" + where + ")")
	case errors.Is(err, syscall.ECONNREFUSED):
		return other("names a server that refuses connections (" + where + ")")
	}
	return other("cannot be opened (" + where + "): " + cause(dsn, err))
}

// cause is the innermost message of err, which (unlike the wrapping layers)
// does not repeat the path, with any PostgreSQL password scrubbed.
func cause(dsn database, err error) string {
	for {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
			continue
		}
		inner := errors.Unwrap(err)
		if inner == nil {
			break
		}
		err = inner
	}
	msg := strings.ReplaceAll(err.Error(), string(dsn), dsn.String())
	for _, pw := range dsn.passwords() {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
