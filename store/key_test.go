package store

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestParseKey(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xA7}, 32)
	std := base64.StdEncoding.EncodeToString(raw)
	rawStd := base64.RawStdEncoding.EncodeToString(raw)
	short := base64.StdEncoding.EncodeToString(raw[:16])
	long := base64.StdEncoding.EncodeToString(append(raw, 1))

	tests := []struct {
		name    string
		in      string
		wantErr string // substring; empty means success
	}{
		{"accepts padded standard base64", std, ""},
		{"accepts unpadded standard base64", rawStd, ""},
		{"ignores surrounding white space", "  " + std + "\n", ""},
		{"rejects 16 bytes and says how many it got", short, "must be 32 bytes of standard base64 (got 16 bytes)"},
		{"rejects 33 bytes", long, "(got 33 bytes)"},
		{"rejects garbage as not base64", "this is not base64!!", "is not valid base64"},
		{"rejects URL-safe base64 as not standard base64", strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xFB, 0xFF}, 16))), "is not valid base64"},
		{"rejects the empty string", "", "is empty"},
		{"rejects white space only", " \t\n", "is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, err := ParseKey(tc.in)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseKey: %v", err)
				}
				if k.IsZero() {
					t.Fatal("ParseKey returned a zero Key")
				}
				if !bytes.Equal(k.b[:], raw) {
					t.Fatal("ParseKey decoded the wrong bytes")
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseKey succeeded, want an error containing %q", tc.wantErr)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantErr) {
				t.Errorf("error %q does not contain %q", msg, tc.wantErr)
			}
			if !strings.Contains(msg, "MEETINGBOT_SECRET_KEY") {
				t.Errorf("error %q does not name MEETINGBOT_SECRET_KEY", msg)
			}
			if in := strings.TrimSpace(tc.in); in != "" && strings.Contains(msg, in) {
				t.Errorf("error %q contains the input", msg)
			}
			if !k.IsZero() {
				t.Error("a failed ParseKey returned a non-zero Key")
			}
		})
	}
}

func TestEncodeRoundTripsThroughParseKey(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	k2, err := ParseKey(k.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if k2 != k {
		t.Fatal("ParseKey(k.Encode()) != k")
	}
}

func TestFingerprintIsShortStableAndDiffersBetweenKeys(t *testing.T) {
	t.Parallel()
	a, b := mustKey(t), mustKey(t)
	if len(a.Fingerprint()) != 8 {
		t.Errorf("fingerprint %q is not 8 hex digits", a.Fingerprint())
	}
	if a.Fingerprint() != a.Fingerprint() {
		t.Error("fingerprint is not stable")
	}
	if a.Fingerprint() == b.Fingerprint() {
		t.Error("two random keys have the same fingerprint")
	}
}

func TestPrintingOrLoggingAKeyNeverRevealsIt(t *testing.T) {
	t.Parallel()
	k := mustKey(t)
	holder := struct {
		Name string
		Key  Key
	}{"cfg", k}

	var outs []string
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		outs = append(outs, fmt.Sprintf(f, k), fmt.Sprintf(f, holder), fmt.Sprintf(f, &holder))
	}
	outs = append(outs, k.String(), k.GoString(), fmt.Sprint(k), fmt.Sprintln(k))
	for _, v := range []any{k, holder, &holder} {
		j, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, string(j))
	}
	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("config", "key", k)
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("config", "key", k)
	outs = append(outs, logBuf.String())

	for _, out := range outs {
		assertNoKey(t, out, k)
	}
	if !strings.Contains(fmt.Sprint(k), "REDACTED") {
		t.Errorf("fmt.Sprint(key) = %q, want it to say REDACTED", fmt.Sprint(k))
	}
}

func TestNewRandomKeyGivesDifferentUsableKeys(t *testing.T) {
	t.Parallel()
	a, b := mustKey(t), mustKey(t)
	if a.IsZero() || b.IsZero() {
		t.Fatal("NewRandomKey returned a zero key")
	}
	if a == b {
		t.Fatal("two random keys are equal")
	}
}

func mustKey(t testing.TB) Key {
	t.Helper()
	k, err := NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// assertNoKey fails if s contains k in raw, hex or base64 form.
func assertNoKey(t testing.TB, s string, k Key) {
	t.Helper()
	for name, form := range keyForms(k) {
		if strings.Contains(s, string(form)) {
			t.Errorf("output contains the key (%s): %q", name, s)
		}
	}
}

func keyForms(k Key) map[string][]byte {
	return map[string][]byte{
		"raw":            k.b[:],
		"hex":            []byte(fmt.Sprintf("%x", k.b[:])),
		"base64":         []byte(base64.StdEncoding.EncodeToString(k.b[:])),
		"base64 raw":     []byte(base64.RawStdEncoding.EncodeToString(k.b[:])),
		"base64 url raw": []byte(base64.RawURLEncoding.EncodeToString(k.b[:])),
	}
}
