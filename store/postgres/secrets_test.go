package postgres

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/meetingbot/meetingbot/store"
)

const (
	secretPassword = "Host-Pa55word-qz7XK"
	secretToken    = "ctl-token-9f8e7d6c5b4a39281706"
	secretHook     = "https://hooks.slack.com/commands/T1/123/SeCrEtHoOk"
)

// everything reads every row of every table in d's schema, twice: each row
// as PostgreSQL's text form (bytea as hex), and each value as pgx decodes
// it (bytea as raw bytes).
func everything(t *testing.T, d *DB) (text, raw []byte, tables []string) {
	t.Helper()
	ctx := t.Context()
	rows, err := d.pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, d.schema)
	must(t, err)
	tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	must(t, err)
	for _, table := range tables {
		name := pgx.Identifier{d.schema, table}.Sanitize()
		rows, err := d.pool.Query(ctx, `SELECT t::text FROM `+name+` t`)
		must(t, err)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		must(t, err)
		text = append(text, strings.Join(lines, "\n")...)

		rows, err = d.pool.Query(ctx, `SELECT * FROM `+name)
		must(t, err)
		for rows.Next() {
			vals, err := rows.Values()
			must(t, err)
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					raw = append(raw, b...)
				} else {
					raw = append(raw, fmt.Sprint(v)...)
				}
				raw = append(raw, 0)
			}
		}
		must(t, rows.Err())
	}
	return text, raw, tables
}

func TestNoTableEverHoldsASecretInPlaintext(t *testing.T) {
	t.Parallel()
	d := openDB(t, freshSchema(t))
	key := mustKey(t)
	s := newStore(t, d, key)
	ctx := t.Context()
	chB := store.Channel{Team: "T1", ID: "C222"}
	by := store.Actor{UserID: "U-binder-1"}
	must(t, s.Bind(ctx, store.BindRequest{Channel: chA, ConferenceID: confID, Password: secretPassword, By: by, At: t0}))
	must(t, s.Bind(ctx, store.BindRequest{Channel: chB, ConferenceID: confID, Password: secretPassword, By: by, At: t0}))
	must(t, s.PutToken(ctx, chA, confID, secretToken, t0.Add(30*time.Minute)))
	must(t, s.PutToken(ctx, chB, confID, secretToken, t0.Add(30*time.Minute)))
	must(t, s.Record(ctx, store.AuditRecord{At: t0, Channel: chA, UserID: by.UserID, Action: "bind", ConferenceID: confID, Outcome: "ok"}, nil))
	for _, id := range []string{"env-1", "env-2"} {
		_, err := s.ClaimEnvelope(ctx, store.Claim{EnvelopeID: id, Holder: "h", LeaseUntil: t0,
			Payload: []byte(`{"response_url":"` + secretHook + `","text":"bind 914083136 ` + secretPassword + `"}`)})
		must(t, err)
	}
	must(t, s.FinishEnvelope(ctx, "env-2"))
	_, unlock, err := s.LockMeeting(ctx, confID)
	must(t, err)
	defer unlock()

	raw, _ := base64.StdEncoding.DecodeString(key.Encode())
	secrets := map[string][]byte{
		"the password":       []byte(secretPassword),
		"the token":          []byte(secretToken),
		"the response_url":   []byte(secretHook),
		"the key":            raw,
		"the key (base64)":   []byte(key.Encode()),
		"the key (raw b64)":  []byte(base64.RawStdEncoding.EncodeToString(raw)),
		"the key (url b64)":  []byte(base64.RawURLEncoding.EncodeToString(raw)),
		"the key (hex)":      []byte(hex.EncodeToString(raw)),
		"the password (hex)": []byte(hex.EncodeToString([]byte(secretPassword))),
		"the token (hex)":    []byte(hex.EncodeToString([]byte(secretToken))),
	}
	text, values, tables := everything(t, d)
	for name, secret := range secrets {
		if bytes.Contains(text, secret) {
			t.Errorf("a row's text holds %s", name)
		}
		if bytes.Contains(values, secret) {
			t.Errorf("a stored value holds %s", name)
		}
	}
	// The scan sees the data: every table, and plain values in them.
	for _, want := range []string{"meetings", "controllers", "audit", "envelopes", "meeting_leases", "meta"} {
		if !strings.Contains(strings.Join(tables, " "), want) {
			t.Errorf("the scan did not read table %s (read %v)", want, tables)
		}
	}
	for _, plain := range []string{"U-binder-1", "env-1", string(confID)} {
		if !bytes.Contains(text, []byte(plain)) || !bytes.Contains(values, []byte(plain)) {
			t.Errorf("the scan does not see the plain value %q; it proves nothing", plain)
		}
	}
}

func TestConcurrentIdenticalRefusalsFoldIntoOneRecord(t *testing.T) {
	t.Parallel()
	dsn := freshSchema(t)
	key := mustKey(t)
	replicas := []*store.Store{newStore(t, openDB(t, dsn), key), newStore(t, openDB(t, dsn), key)}
	const each = 20
	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for _, st := range replicas {
		for i := range each {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				err := st.Record(t.Context(), store.AuditRecord{At: t0.Add(time.Duration(i) * time.Millisecond), Channel: chA, UserID: "UMAL",
					Action: "lock", ConferenceID: confID, Outcome: store.OutcomeRefused, Detail: "not a controller"}, nil)
				if err != nil {
					t.Error(err)
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	h, err := replicas[1].History(t.Context(), chA, 10)
	must(t, err)
	if len(h) != 1 || h[0].Count != 2*each {
		var counts []int
		for _, r := range h {
			counts = append(counts, r.Count)
		}
		t.Errorf("%d identical refusals from two replicas made records with counts %v, want one record of %d", 2*each, counts, 2*each)
	}
}
