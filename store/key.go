package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// KeySize is the length in bytes of MEETINGBOT_SECRET_KEY once decoded.
const KeySize = 32

const redacted = "[REDACTED]"

// Key is the 32-byte MEETINGBOT_SECRET_KEY. Its String, GoString, Format,
// MarshalText, MarshalJSON and LogValue are redacted, so printing or logging
// a Key (or a struct holding one) never reveals it.
//
// The zero Key is not usable: obtain one from ParseKey or NewRandomKey.
type Key struct {
	b  [KeySize]byte
	ok bool
}

// ParseKey decodes MEETINGBOT_SECRET_KEY: standard base64 (padded, or
// unpadded) of exactly 32 bytes. Surrounding white space is ignored. Errors
// name the variable and what is wrong, never the value.
func ParseKey(b64 string) (Key, error) {
	s := strings.TrimSpace(b64)
	if s == "" {
		return Key{}, errors.New("MEETINGBOT_SECRET_KEY is empty; it must be 32 random bytes in standard base64 (e.g. `openssl rand -base64 32`)")
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		raw, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil {
		// The decoder's error carries an offset only, but keep ours fixed
		// so nothing about the value can leak.
		return Key{}, errors.New("MEETINGBOT_SECRET_KEY is not valid base64 (standard encoding); it must be 32 random bytes in standard base64")
	}
	if len(raw) != KeySize {
		n := len(raw)
		clear(raw)
		return Key{}, fmt.Errorf("MEETINGBOT_SECRET_KEY must be %d bytes of standard base64 (got %d bytes)", KeySize, n)
	}
	var k Key
	copy(k.b[:], raw)
	clear(raw)
	k.ok = true
	return k, nil
}

// NewRandomKey returns a fresh random key, for the sandbox, tests and key
// generation.
func NewRandomKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k.b[:]); err != nil {
		return Key{}, fmt.Errorf("store: generating a random key: %w", err)
	}
	k.ok = true
	return k, nil
}

// Encode returns the key in standard base64, the form ParseKey accepts. It is
// meant only for a key-generation helper; never log it.
func (k Key) Encode() string { return base64.StdEncoding.EncodeToString(k.b[:]) }

// Fingerprint is a short, non-secret identifier of the key: the first 8 hex
// digits of SHA-256("meetingbot key id" || key). It lets operators tell keys
// apart (e.g. in the wrong-key error) without revealing them.
func (k Key) Fingerprint() string {
	id := k.id()
	return hex.EncodeToString(id[:])
}

// IsZero reports whether k is the zero Key (not obtained from ParseKey or
// NewRandomKey).
func (k Key) IsZero() bool { return !k.ok }

// id is the 4-byte key identifier stored in every ciphertext header.
func (k Key) id() [4]byte {
	h := sha256.New()
	h.Write([]byte("meetingbot key id"))
	h.Write(k.b[:])
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var id [4]byte
	copy(id[:], sum[:4])
	return id
}

// String is redacted.
func (k Key) String() string { return redacted }

// GoString is redacted.
func (k Key) GoString() string { return "store.Key{" + redacted + "}" }

// Format is redacted for every verb, including %x, %q and %#v.
func (k Key) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(k.GoString()))
		return
	}
	_, _ = f.Write([]byte(redacted))
}

// MarshalText is redacted.
func (k Key) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MarshalJSON is redacted.
func (k Key) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// LogValue is redacted (log/slog).
func (k Key) LogValue() slog.Value { return slog.StringValue(redacted) }
