package sqlite

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meetingbot/meetingbot/domain"
	"github.com/meetingbot/meetingbot/store"
)

const (
	secretPassword = "Host-Pa55word-qz7XK"
	secretToken    = "ctl-token-9f8e7d6c5b4a39281706"
	secretHook     = "https://hooks.slack.com/commands/T1/123/SeCrEtHoOk"
)

// keyForms are the ways a key could appear in a file or a message.
func keyForms(k store.Key) map[string][]byte {
	raw, _ := base64.StdEncoding.DecodeString(k.Encode())
	return map[string][]byte{
		"raw":            raw,
		"hex":            []byte(fmt.Sprintf("%x", raw)),
		"base64":         []byte(k.Encode()),
		"base64 raw":     []byte(base64.RawStdEncoding.EncodeToString(raw)),
		"base64 url raw": []byte(base64.RawURLEncoding.EncodeToString(raw)),
	}
}

func TestTheDatabaseFilesNeverContainTheSecrets(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path, key := openTestStore(t)

	must(t, s.Bind(ctx, store.BindRequest{Channel: chA, ConferenceID: confID, Password: secretPassword, By: store.Actor{UserID: "U-binder-1"}, At: t0}))
	must(t, s.PutToken(ctx, chA, confID, secretToken, t0.Add(30*time.Minute)))
	must(t, s.Bind(ctx, store.BindRequest{Channel: chB, ConferenceID: confID, Password: secretPassword, By: store.Actor{UserID: "U-binder-1"}, At: t0}))
	must(t, s.PutToken(ctx, chB, confID, secretToken, t0.Add(30*time.Minute)))
	must(t, s.Record(ctx, store.AuditRecord{At: t0, Channel: chA, UserID: "U-binder-1", Action: "bind", Outcome: "ok"}, nil))
	_, err := s.ClaimEnvelope(ctx, store.Claim{EnvelopeID: "env-1", Holder: "h", LeaseUntil: t0, Payload: []byte(`{"response_url":"` + secretHook + `"}`)})
	must(t, err)
	// Re-bind and drop so that old ciphertexts sit in free pages / WAL frames.
	must(t, s.Bind(ctx, store.BindRequest{Channel: chA, ConferenceID: confID, Password: secretPassword + "-2", By: store.Actor{UserID: "U-binder-1"}, At: t0}))
	must(t, s.DropToken(ctx, chB, confID))

	secrets := keyForms(key)
	secrets["password"] = []byte(secretPassword)
	secrets["token"] = []byte(secretToken)
	secrets["response_url"] = []byte(secretHook)

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
	bind := func(ctx context.Context, id domain.ConferenceID) error {
		return s.Bind(ctx, store.BindRequest{Channel: chA, ConferenceID: id, Password: secretPassword, By: store.Actor{UserID: "U1"}, At: t0})
	}
	must(t, bind(ctx, confID))
	must(t, s.PutToken(ctx, chA, confID, secretToken, t0.Add(time.Hour)))

	var errs []error
	b := s.Backend()
	tokCT, _, err := b.TokenCT(ctx, chA, confID)
	must(t, err)
	must(t, b.Bind(ctx, store.BindRow{Channel: chA, ConferenceID: confID, PasswordCT: tokCT, By: store.Actor{UserID: "U1", Admin: true}, At: t0}))
	_, err = s.Password(ctx, chA, confID)
	errs = append(errs, err)
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	errs = append(errs,
		bind(canceled, confID),
		s.PutToken(canceled, chA, confID, secretToken, t0),
		s.PutToken(ctx, chA, "000000", secretToken, t0),
		bind(ctx, ""),
	)
	must(t, s.Close())
	_, err = store.Open(ctx, path, mustKey(t))
	errs = append(errs, err, bind(ctx, confID))

	for i, err := range errs {
		if err == nil {
			t.Errorf("call %d: no error", i)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, secretPassword) || strings.Contains(msg, secretToken) {
			t.Errorf("call %d: error %q contains a secret", i, msg)
		}
		for name, form := range keyForms(key) {
			if strings.Contains(msg, string(form)) {
				t.Errorf("call %d: error contains the key (%s)", i, name)
			}
		}
	}
}
