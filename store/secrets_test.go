package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const (
	secretPassword = "Host-Pa55word-qz7XK"
	secretToken    = "ctl-token-9f8e7d6c5b4a39281706"
)

func TestACiphertextMovedToAnotherRowOrColumnCannotBeDecrypted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	tests := []struct {
		name string
		// copy moves a ciphertext with raw SQL, the way someone with write
		// access to the file might.
		copy string
		flip bool // instead of copy: flip a bit of A's password in place
		read func(s *SQLite) error
	}{
		{
			name: "a password copied from channel A to channel B",
			copy: `UPDATE meetings SET password_ct = (SELECT password_ct FROM meetings WHERE channel = 'C111' AND team = 'T1')
				WHERE channel = 'C222'`,
			read: func(s *SQLite) error { _, err := s.Password(ctx, chB, confID); return err },
		},
		{
			name: "a password copied to another workspace's channel with the same ID",
			copy: `UPDATE meetings SET password_ct = (SELECT password_ct FROM meetings WHERE channel = 'C111' AND team = 'T1')
				WHERE team = 'T2'`,
			read: func(s *SQLite) error { _, err := s.Password(ctx, chA2, confID); return err },
		},
		{
			name: "a password copied to another meeting in the same channel",
			copy: `UPDATE meetings SET password_ct = (SELECT password_ct FROM meetings WHERE channel = 'C111' AND team = 'T1' AND conference_id = '914083136')
				WHERE channel = 'C111' AND team = 'T1' AND conference_id = '111222333'`,
			read: func(s *SQLite) error { _, err := s.Password(ctx, chA, "111222333"); return err },
		},
		{
			name: "a token copied from channel A to channel B",
			copy: `UPDATE meetings SET token_ct = (SELECT token_ct FROM meetings WHERE channel = 'C111' AND team = 'T1' AND conference_id = '914083136'),
				token_expires_at = 1 WHERE channel = 'C222'`,
			read: func(s *SQLite) error { _, _, err := s.Token(ctx, chB, confID); return err },
		},
		{
			name: "a token copied into the password column of its own row",
			copy: `UPDATE meetings SET password_ct = token_ct WHERE channel = 'C111' AND team = 'T1' AND conference_id = '914083136'`,
			read: func(s *SQLite) error { _, err := s.Password(ctx, chA, confID); return err },
		},
		{
			name: "a password copied into the token column of its own row",
			copy: `UPDATE meetings SET token_ct = password_ct WHERE channel = 'C111' AND team = 'T1' AND conference_id = '914083136'`,
			read: func(s *SQLite) error { _, _, err := s.Token(ctx, chA, confID); return err },
		},
		{
			name: "a password with one flipped bit",
			flip: true,
			read: func(s *SQLite) error { _, err := s.Password(ctx, chA, confID); return err },
		},
		{
			name: "a truncated password",
			copy: `UPDATE meetings SET password_ct = substr(password_ct, 1, 10) WHERE channel = 'C111' AND conference_id = '914083136' AND team = 'T1'`,
			read: func(s *SQLite) error { _, err := s.Password(ctx, chA, confID); return err },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _, key := openTestStore(t)
			must(t, s.Bind(ctx, chA, confID, secretPassword, "U1", t0))
			must(t, s.Bind(ctx, chA, "111222333", "other-password", "U1", t0))
			must(t, s.Bind(ctx, chB, confID, "channel-B-password", "U1", t0))
			must(t, s.Bind(ctx, chA2, confID, "workspace-2-password", "U1", t0))
			must(t, s.PutToken(ctx, chA, confID, secretToken, t0.Add(time.Hour)))

			if tc.flip {
				var ct []byte
				must(t, s.w.QueryRowContext(ctx, `SELECT password_ct FROM meetings
					WHERE team = 'T1' AND channel = 'C111' AND conference_id = '914083136'`).Scan(&ct))
				ct[len(ct)-20] ^= 0x04
				tc.copy = `UPDATE meetings SET password_ct = ? WHERE team = 'T1' AND channel = 'C111' AND conference_id = '914083136'`
				res, err := s.w.ExecContext(ctx, tc.copy, ct)
				must(t, err)
				if n, _ := res.RowsAffected(); n != 1 {
					t.Fatalf("the raw UPDATE changed %d rows, want 1", n)
				}
			} else {
				res, err := s.w.ExecContext(ctx, tc.copy)
				must(t, err)
				if n, _ := res.RowsAffected(); n != 1 {
					t.Fatalf("the raw UPDATE changed %d rows, want 1", n)
				}
			}
			err := tc.read(s)
			if !errors.Is(err, ErrUndecryptable) {
				t.Fatalf("err = %v, want ErrUndecryptable", err)
			}
			msg := err.Error()
			for _, secret := range []string{secretPassword, secretToken, "other-password", "channel-B-password", "workspace-2-password"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q contains a secret", msg)
				}
			}
			assertNoKey(t, msg, key)
		})
	}
}

func TestACredentialWrittenUnderAnotherKeyIsUndecryptableAndSaysWhichKey(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	other, err := newSealer(mustKey(t))
	must(t, err)
	s, _, key := openTestStore(t)
	must(t, s.Bind(ctx, chA, confID, "pw", "U1", t0))
	foreign, err := other.seal("pw", purposePassword, chA.Team, chA.ID, confID)
	must(t, err)
	_, err = s.w.ExecContext(ctx, `UPDATE meetings SET password_ct = ?`, foreign)
	must(t, err)

	_, err = s.Password(ctx, chA, confID)
	if !errors.Is(err, ErrUndecryptable) {
		t.Fatalf("err = %v, want ErrUndecryptable", err)
	}
	if !strings.Contains(err.Error(), key.Fingerprint()) || !strings.Contains(err.Error(), hexID(other.keyID)) {
		t.Errorf("err = %q, want both key ids", err)
	}
}

func TestTheDatabaseFilesNeverContainTheSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path, key := openTestStore(t)

	must(t, s.Bind(ctx, chA, confID, secretPassword, "U-binder-1", t0))
	must(t, s.PutToken(ctx, chA, confID, secretToken, t0.Add(30*time.Minute)))
	must(t, s.Bind(ctx, chB, confID, secretPassword, "U-binder-1", t0))
	must(t, s.PutToken(ctx, chB, confID, secretToken, t0.Add(30*time.Minute)))
	must(t, s.Audit(ctx, AuditRecord{At: t0, Channel: chA, UserID: "U-binder-1", Action: "bind", Outcome: "ok"}))
	// Re-bind and drop so that old ciphertexts sit in free pages / WAL frames.
	must(t, s.Bind(ctx, chA, confID, secretPassword+"-2", "U-binder-1", t0))
	must(t, s.DropToken(ctx, chB, confID))

	secrets := keyForms(key)
	secrets["password"] = []byte(secretPassword)
	secrets["token"] = []byte(secretToken)

	scan := func(when string) {
		t.Helper()
		var all []byte
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			b, err := os.ReadFile(path + suffix)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			must(t, err)
			all = append(all, b...)
			for name, secret := range secrets {
				if bytes.Contains(b, secret) {
					t.Errorf("%s: %s contains the %s", when, filepath.Base(path+suffix), name)
				}
			}
		}
		// Sanity: the files hold the data, so the scan above is meaningful.
		if !bytes.Contains(all, []byte("U-binder-1")) {
			t.Errorf("%s: the database files do not contain a plain (non-secret) value; the scan proves nothing", when)
		}
	}

	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("no -wal file while open: %v", err)
	}
	scan("while open")
	must(t, s.Close())
	scan("after Close")
}

func TestErrorsFromEveryPathNeverContainTheSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path, key := openTestStore(t)
	must(t, s.Bind(ctx, chA, confID, secretPassword, "U1", t0))
	must(t, s.PutToken(ctx, chA, confID, secretToken, t0.Add(time.Hour)))

	var errs []error
	_, err := s.w.ExecContext(ctx, `UPDATE meetings SET password_ct = token_ct`)
	must(t, err)
	_, err = s.Password(ctx, chA, confID)
	errs = append(errs, err)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	errs = append(errs,
		s.Bind(canceled, chA, confID, secretPassword, "U1", t0),
		s.PutToken(canceled, chA, confID, secretToken, t0),
		s.PutToken(ctx, chA, "000000", secretToken, t0),
		s.Bind(ctx, chA, "", secretPassword, "U1", t0),
	)
	must(t, s.Close())
	_, err = OpenSQLite(ctx, path, mustKey(t))
	errs = append(errs, err, s.Bind(ctx, chA, confID, secretPassword, "U1", t0))

	for i, err := range errs {
		if err == nil {
			t.Errorf("call %d: no error", i)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, secretPassword) || strings.Contains(msg, secretToken) {
			t.Errorf("call %d: error %q contains a secret", i, msg)
		}
		assertNoKey(t, msg, key)
	}
}
