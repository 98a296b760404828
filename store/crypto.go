package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// Stored secrets are sealed with AES-256-GCM under a key derived (HKDF-SHA256)
// from MEETINGBOT_SECRET_KEY. A stored value is
//
//	0x01 (format version) | key id (4 bytes) | nonce (12 bytes) | ciphertext+tag
//
// and the GCM associated data is the 5-byte header followed by a canonical,
// length-prefixed encoding of (purpose, team, channel, conference ID), so a
// value moved to another row, another channel or another column fails to
// open.
const (
	sealVersion   byte = 0x01
	sealHeaderLen      = 1 + 4
	nonceLen           = 12

	purposePassword = "password"
	purposeToken    = "token"
	purposeKeyCheck = "key-check"
	purposeEnvelope = "envelope"

	adDomain  = "meetingbot/store/v1"
	hkdfInfo  = "meetingbot store aes-256-gcm v1"
	keyCheckV = "meetingbot key check v1"
)

func hexID(id [4]byte) string { return hex.EncodeToString(id[:]) }

// sealer encrypts and decrypts the secrets of one database.
type sealer struct {
	aead  cipher.AEAD
	keyID [4]byte
}

func newSealer(k Key) (*sealer, error) {
	dk, err := hkdf.Key(sha256.New, k.b[:], nil, hkdfInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("store: deriving the encryption key: %w", err)
	}
	defer clear(dk)
	block, err := aes.NewCipher(dk)
	if err != nil {
		return nil, fmt.Errorf("store: creating the cipher: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("store: creating the cipher: %w", err)
	}
	return &sealer{aead: aead, keyID: k.id()}, nil
}

// associatedData returns header || domain || len-prefixed fields.
func associatedData(header []byte, purpose string, fields ...string) []byte {
	n := len(header) + 4 + len(adDomain) + 4 + len(purpose)
	for _, f := range fields {
		n += 4 + len(f)
	}
	ad := make([]byte, 0, n)
	ad = append(ad, header...)
	for _, s := range append([]string{adDomain, purpose}, fields...) {
		ad = binary.BigEndian.AppendUint32(ad, uint32(len(s)))
		ad = append(ad, s...)
	}
	return ad
}

// seal encrypts plaintext for purpose, bound to the given context fields.
func (s *sealer) seal(plaintext, purpose string, fields ...string) ([]byte, error) {
	out := make([]byte, sealHeaderLen+nonceLen, sealHeaderLen+nonceLen+len(plaintext)+s.aead.Overhead())
	out[0] = sealVersion
	copy(out[1:sealHeaderLen], s.keyID[:])
	if _, err := rand.Read(out[sealHeaderLen:]); err != nil {
		return nil, fmt.Errorf("generating a nonce: %w", err)
	}
	ad := associatedData(out[:sealHeaderLen], purpose, fields...)
	return s.aead.Seal(out, out[sealHeaderLen:], []byte(plaintext), ad), nil
}

// open decrypts a value written by seal with the same purpose and fields.
// Every failure wraps ErrUndecryptable and says nothing about the secret.
func (s *sealer) open(stored []byte, purpose string, fields ...string) (string, error) {
	if len(stored) < sealHeaderLen+nonceLen+s.aead.Overhead() {
		return "", fmt.Errorf("%w (stored value is truncated)", ErrUndecryptable)
	}
	if stored[0] != sealVersion {
		return "", fmt.Errorf("%w (unknown stored format version %d)", ErrUndecryptable, stored[0])
	}
	if id := stored[1:sealHeaderLen]; !bytes.Equal(id, s.keyID[:]) {
		return "", fmt.Errorf("%w (written with key id %s, MEETINGBOT_SECRET_KEY has key id %s)",
			ErrUndecryptable, hex.EncodeToString(id), hex.EncodeToString(s.keyID[:]))
	}
	ad := associatedData(stored[:sealHeaderLen], purpose, fields...)
	nonce := stored[sealHeaderLen : sealHeaderLen+nonceLen]
	pt, err := s.aead.Open(nil, nonce, stored[sealHeaderLen+nonceLen:], ad)
	if err != nil {
		return "", fmt.Errorf("%w (it was written for another channel, meeting or purpose, or has been altered)", ErrUndecryptable)
	}
	out := string(pt)
	clear(pt)
	return out, nil
}
