package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Header names under which the object store returns the wrapped content key
// and the IV of an envelope, both standard base64.
const (
	HeaderWrappedKey = "x-amz-meta-x-amz-key"
	HeaderIV         = "x-amz-meta-x-amz-iv"
)

// TagSize is the length of the AES-GCM authentication tag appended to the
// ciphertext.
const TagSize = 16

// IV lengths accepted by Open: the reference decryptors (Python cryptography
// and Java's GCMParameterSpec) accept these; 12 bytes is what Twilio sends.
const (
	MinIVSize = 8
	MaxIVSize = 128
)

// CEKSize is the only content key length Open accepts: Twilio seals with
// AES-256-GCM. A shorter key that unwraps is a downgrade, not a variant.
const CEKSize = 32

// Wrapped content key lengths ParseEnvelope and Open accept before any key
// is tried: RSA-OAEP output is exactly the modulus size, from MinRSABits
// (2,048 bits) to 8,192 bits, beyond any key Twilio accepts. Anything else
// (a server sending megabytes there) is garbage, not a key for some other
// modulus, and is ErrMalformed rather than "no key fits".
const (
	MinWrappedKeySize = MinRSABits / 8
	MaxWrappedKeySize = 1024
)

// Errors returned by Open and ParseEnvelope; test with errors.Is.
var (
	// ErrUnwrap means the content key could not be unwrapped: no key in the
	// keyring matches, the key is wrong, or the wrapped key is damaged. RSA-OAEP
	// makes these indistinguishable on purpose.
	ErrUnwrap = errors.New("cannot unwrap the content key")
	// ErrAuth means the AES-GCM tag did not verify: the body, IV or key was
	// altered. No plaintext is returned.
	ErrAuth = errors.New("content failed authentication")
	// ErrMalformed means the envelope cannot be valid: bad base64, a body
	// shorter than the tag, an IV or content key of an impossible length, a
	// wrapped key whose length is no private key's modulus size.
	ErrMalformed = errors.New("malformed envelope")
)

// Envelope is one encrypted object as the object store serves it, decoded.
type Envelope struct {
	// WrappedKey is the RSA-OAEP encrypted content key (header x-amz-meta-x-amz-key).
	WrappedKey []byte
	// IV is the GCM nonce (header x-amz-meta-x-amz-iv).
	IV []byte
	// Body is the ciphertext followed by the 16-byte GCM tag.
	Body []byte
}

// ParseEnvelope decodes the two base64 header values and checks the lengths
// that can be checked without a key. It returns an error wrapping ErrMalformed
// naming what was wrong; header values never appear in the error.
func ParseEnvelope(wrappedKeyB64, ivB64 string, body []byte) (Envelope, error) {
	if strings.TrimSpace(wrappedKeyB64) == "" {
		return Envelope{}, fmt.Errorf("%w: missing %s header", ErrMalformed, HeaderWrappedKey)
	}
	if strings.TrimSpace(ivB64) == "" {
		return Envelope{}, fmt.Errorf("%w: missing %s header", ErrMalformed, HeaderIV)
	}
	key, err := decodeBase64(wrappedKeyB64)
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: %s is not valid base64", ErrMalformed, HeaderWrappedKey)
	}
	iv, err := decodeBase64(ivB64)
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: %s is not valid base64", ErrMalformed, HeaderIV)
	}
	env := Envelope{WrappedKey: key, IV: iv, Body: body}
	if err := env.check(); err != nil {
		return Envelope{}, err
	}
	return env, nil
}

// decodeBase64 accepts standard base64 with or without padding, ignoring
// surrounding white space (headers copied by hand often carry a newline).
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// check validates the lengths of a decoded envelope.
func (e Envelope) check() error {
	switch {
	case len(e.WrappedKey) == 0:
		return fmt.Errorf("%w: empty wrapped key", ErrMalformed)
	case len(e.WrappedKey) < MinWrappedKeySize || len(e.WrappedKey) > MaxWrappedKeySize:
		return fmt.Errorf("%w: wrapped key is %d bytes, want %d to %d (an RSA modulus)", ErrMalformed, len(e.WrappedKey), MinWrappedKeySize, MaxWrappedKeySize)
	case len(e.IV) < MinIVSize || len(e.IV) > MaxIVSize:
		return fmt.Errorf("%w: IV is %d bytes, want %d to %d", ErrMalformed, len(e.IV), MinIVSize, MaxIVSize)
	case len(e.Body) < TagSize:
		return fmt.Errorf("%w: body is %d bytes, shorter than the %d-byte tag", ErrMalformed, len(e.Body), TagSize)
	}
	return nil
}

// EncodedKey returns the wrapped key as the object store's header carries it.
func (e Envelope) EncodedKey() string { return base64.StdEncoding.EncodeToString(e.WrappedKey) }

// EncodedIV returns the IV as the object store's header carries it.
func (e Envelope) EncodedIV() string { return base64.StdEncoding.EncodeToString(e.IV) }

// PlaintextLen is the size Open will produce, or -1 if the body is shorter
// than a tag.
func (e Envelope) PlaintextLen() int {
	if len(e.Body) < TagSize {
		return -1
	}
	return len(e.Body) - TagSize
}

// oaepHash is the hash Twilio uses for both OAEP and MGF1.
var oaepHash = sha256.New

// Seal encrypts plaintext the way Twilio does: a fresh random 32-byte CEK and
// 12-byte IV, AES-256-GCM with the tag appended, the CEK wrapped with
// RSA-OAEP-SHA256 (MGF1-SHA256, empty label) under pub. Used by the
// simulator and tests.
func Seal(pub *rsa.PublicKey, plaintext []byte) (Envelope, error) {
	cek := make([]byte, 32)
	defer clear(cek)
	iv := make([]byte, 12)
	if _, err := rand.Read(cek); err != nil {
		return Envelope{}, err
	}
	if _, err := rand.Read(iv); err != nil {
		return Envelope{}, err
	}
	aead, err := newGCM(cek, len(iv))
	if err != nil {
		return Envelope{}, err
	}
	wrapped, err := rsa.EncryptOAEP(oaepHash(), rand.Reader, pub, cek, nil)
	if err != nil {
		return Envelope{}, fmt.Errorf("wrap content key: %w", err)
	}
	return Envelope{WrappedKey: wrapped, IV: iv, Body: aead.Seal(nil, iv, plaintext, nil)}, nil
}

// newGCM builds AES-256-GCM for a CEK of CEKSize bytes and the given nonce
// size.
func newGCM(cek []byte, ivSize int) (cipher.AEAD, error) {
	if len(cek) != CEKSize {
		return nil, fmt.Errorf("%w: content key is %d bytes, want %d (AES-256)", ErrMalformed, len(cek), CEKSize)
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if ivSize == 12 {
		return cipher.NewGCM(block)
	}
	return cipher.NewGCMWithNonceSize(block, ivSize)
}

// openWithCEK authenticates and decrypts env.Body with an unwrapped CEK,
// appending the plaintext to dst. Nothing is appended unless the tag verifies.
func openWithCEK(cek []byte, env Envelope, dst []byte) ([]byte, error) {
	aead, err := newGCM(cek, len(env.IV))
	if err != nil {
		return nil, err
	}
	out, err := aead.Open(dst, env.IV, env.Body, nil)
	if err != nil {
		// cipher.AEAD.Open may have written into dst's spare capacity before
		// the tag check failed; wipe it so no unauthenticated byte survives.
		clear(dst[len(dst):cap(dst)][:min(cap(dst)-len(dst), len(env.Body))])
		return nil, ErrAuth
	}
	return out, nil
}

// unwrap decrypts a wrapped CEK with one private key. The caller checked
// that the wrapped key is as long as the key's modulus (sizeFits).
func unwrap(key *rsa.PrivateKey, wrapped []byte) ([]byte, error) {
	cek, err := rsa.DecryptOAEP(oaepHash(), nil, key, wrapped, nil)
	if err != nil {
		return nil, ErrUnwrap
	}
	return cek, nil
}

// sizeFits reports whether wrapped can be an RSA-OAEP ciphertext under key:
// OAEP output is exactly the modulus size.
func sizeFits(key *rsa.PrivateKey, wrapped []byte) bool { return len(wrapped) == key.Size() }

// errWrappedSize is the ErrUnwrap for a wrapped key of a plausible size
// that no key tried has: it was sealed for another (larger or smaller) key.
// No RSA operation is spent on it.
func errWrappedSize(n int, sizes []int) error {
	return fmt.Errorf("%w: wrapped key is %d bytes (a %d-bit key), the private key(s) tried are %v bytes", ErrUnwrap, n, 8*n, sizes)
}
