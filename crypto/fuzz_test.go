package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// canary fills a fresh buffer so the fuzz targets can see what Open wrote.
const canary = 0xA5

func canaryBuf(n int) []byte { return bytes.Repeat([]byte{canary}, n) }

// checkUntouched fails unless every byte of buf is the canary or zero: after
// a failed Open no byte of (unauthenticated) plaintext may remain.
func checkUntouched(t *testing.T, buf []byte, err error) {
	t.Helper()
	for i, b := range buf {
		if b != canary && b != 0 {
			t.Fatalf("after %v, byte %d of the caller's buffer holds %#x", err, i, b)
		}
	}
}

// isOpenError reports whether err is one of Open's documented failures.
func isOpenError(err error) bool {
	return errors.Is(err, ErrUnwrap) || errors.Is(err, ErrAuth) || errors.Is(err, ErrMalformed)
}

// fuzzSeeds are envelopes made at run time under the fuzz key; each comes
// with its CEK so the target can also open it below the RSA layer.
func fuzzSeeds(f *testing.F, key *rsa.PrivateKey) {
	for _, c := range []struct{ cek, iv, n int }{{32, 12, 5}, {32, 12, 0}, {16, 8, 40}, {24, 16, 17}, {32, 128, 64}, {31, 12, 3}} {
		cek := randBytes(f, c.cek)
		env := sealWith(f, &key.PublicKey, cek, randBytes(f, c.iv), randBytes(f, c.n))
		f.Add(env.EncodedKey(), env.EncodedIV(), env.Body, cek)
	}
}

// FuzzOpen drives ParseEnvelope and Open with arbitrary headers, body and
// content key. Whatever the input: no panic; errors are the documented
// ones; a failure returns nothing and leaves no plaintext in the caller's
// buffer; a success returns exactly what authenticates (checked against the
// standard library, and by re-sealing to the very same body).
//
// The RSA key is generated per run, so committed corpus entries cannot
// unwrap; they exercise the GCM layer through the fourth input, a CEK used
// directly.
func FuzzOpen(f *testing.F) {
	key := testKey(f, 2048, 0)
	ring := NewKeyring()
	ring.Add(key, "")
	fuzzSeeds(f, key)

	f.Fuzz(func(t *testing.T, keyB64, ivB64 string, body, cek []byte) {
		env, err := ParseEnvelope(keyB64, ivB64, body)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseEnvelope: %v is not ErrMalformed", err)
			}
			return
		}
		// Through the keyring, with RSA-OAEP.
		buf := canaryBuf(len(body) + 8)
		out, err := ring.Open("CRfuzz", env, buf[:0])
		if err != nil {
			if !isOpenError(err) || out != nil {
				t.Fatalf("Keyring.Open: %v, %d bytes", err, len(out))
			}
			checkUntouched(t, buf, err)
		} else {
			want, werr := bareOpenAnyIV(key, env)
			if werr != nil || !bytes.Equal(out, want) {
				t.Fatalf("Keyring.Open returned bytes the stdlib does not authenticate (%v)", werr)
			}
		}
		// Below RSA, with the fuzzer's CEK.
		buf = canaryBuf(len(body) + 8)
		out, err = openWithCEK(cek, env, buf[:0])
		if err != nil {
			if !(errors.Is(err, ErrAuth) || errors.Is(err, ErrMalformed)) || out != nil {
				t.Fatalf("openWithCEK: %v, %d bytes", err, len(out))
			}
			checkUntouched(t, buf, err)
			return
		}
		block, _ := aes.NewCipher(cek)
		aead, _ := cipher.NewGCMWithNonceSize(block, len(env.IV))
		if !bytes.Equal(aead.Seal(nil, env.IV, out, nil), env.Body) {
			t.Fatal("openWithCEK returned plaintext that does not seal back to the body")
		}
	})
}

// bareOpenAnyIV is the stdlib reference for the fuzz oracle.
func bareOpenAnyIV(key *rsa.PrivateKey, env Envelope) ([]byte, error) {
	cek, err := rsa.DecryptOAEP(sha256.New(), nil, key, env.WrappedKey, nil)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCMWithNonceSize(block, len(env.IV))
	if err != nil {
		return nil, err
	}
	return aead.Open(nil, env.IV, env.Body, nil)
}

// FuzzParseEnvelope checks header parsing: no panic; success means lengths
// in range and headers that re-encode to the same bytes; failure is
// ErrMalformed in one line that does not echo the header values.
func FuzzParseEnvelope(f *testing.F) {
	key := testKey(f, 2048, 0)
	fuzzSeeds(f, key)
	f.Fuzz(func(t *testing.T, keyB64, ivB64 string, body, _ []byte) {
		env, err := ParseEnvelope(keyB64, ivB64, body)
		if err != nil {
			msg := err.Error()
			if !errors.Is(err, ErrMalformed) || strings.Contains(msg, "\n") {
				t.Fatalf("bad error %q", msg)
			}
			for _, h := range []string{strings.TrimSpace(keyB64), strings.TrimSpace(ivB64)} {
				if len(h) >= 12 && strings.Contains(msg, h) {
					t.Fatalf("error %q echoes a header value", msg)
				}
			}
			return
		}
		if len(env.WrappedKey) == 0 || len(env.IV) < MinIVSize || len(env.IV) > MaxIVSize || env.PlaintextLen() != len(body)-TagSize || env.PlaintextLen() < 0 {
			t.Fatalf("accepted lengths: key %d, IV %d, body %d", len(env.WrappedKey), len(env.IV), len(body))
		}
		again, err := ParseEnvelope(env.EncodedKey(), env.EncodedIV(), env.Body)
		if err != nil || !bytes.Equal(again.WrappedKey, env.WrappedKey) || !bytes.Equal(again.IV, env.IV) {
			t.Fatalf("re-encoded headers do not parse back: %v", err)
		}
	})
}

// FuzzParsePrivateKeyPEM: key parsing never panics (youmark/pkcs8 panics on
// some damaged input; we must not), errors are the documented sentinels,
// and whatever parses is a valid RSA key of at least MinRSABits.
func FuzzParsePrivateKeyPEM(f *testing.F) {
	old := pbkdf2Iterations
	pbkdf2Iterations = 1000
	key := testKey(f, 2048, 0)
	pw := []byte(testPassphrase)
	enc, err := MarshalPrivateKeyPEM(key, pw)
	pbkdf2Iterations = old
	if err != nil {
		f.Fatal(err)
	}
	plain, _ := MarshalPrivateKeyPEM(key, nil)
	pub, _ := MarshalPublicKeyPEM(&key.PublicKey)
	f.Add(plain)
	f.Add(enc)
	f.Add(pub)
	f.Add(legacyPEM(f, key, testPassphrase))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nMA==\n-----END RSA PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		passphrase := func() ([]byte, error) { return pw, nil }
		if bytes.Contains(data, []byte("ENCRYPTED PRIVATE KEY")) {
			// The input chooses the PBKDF2 work factor; a mutated count in
			// the billions would stall the fuzzer. Parse without a
			// passphrase, unless the body is small enough to be the seed.
			passphrase = nil
			if bytes.Equal(data, enc) {
				passphrase = func() ([]byte, error) { return pw, nil }
			}
		}
		k, err := ParsePrivateKeyPEM(data, passphrase)
		if err != nil {
			for _, s := range []error{ErrNotPEM, ErrNotRSA, ErrKeyTooShort, ErrWrongPassphrase, ErrPublicKeyGiven, ErrPassphraseRequired, ErrInvalidKey} {
				if errors.Is(err, s) {
					return
				}
			}
			t.Fatalf("undocumented error: %v", err)
		}
		if k.N.BitLen() < MinRSABits || k.Validate() != nil {
			t.Fatalf("accepted a %d-bit or invalid key", k.N.BitLen())
		}
	})
}

// TestWriteFuzzCorpus regenerates the committed seed corpora in
// testdata/fuzz when INTELLIGENCEFS_WRITE_FUZZ_CORPUS=1. The entries hold
// random CEKs and test plaintext, never an RSA private key.
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("INTELLIGENCEFS_WRITE_FUZZ_CORPUS") != "1" {
		t.Skip("set INTELLIGENCEFS_WRITE_FUZZ_CORPUS=1 to regenerate testdata/fuzz")
	}
	b64 := base64.StdEncoding.EncodeToString
	type entry struct {
		name, key, iv string
		body, cek     []byte
	}
	wrapped := b64(randBytes(t, 256)) // unwraps under no key
	var entries []entry
	for _, c := range []struct {
		cek, iv int
		pt      string
	}{{32, 12, `{"sentences":[{"transcript":"hello"}]}`}, {32, 12, ""}, {16, 8, "short iv"}, {24, 16, "aes-192"}, {32, 128, "long iv"}} {
		cek, iv := randBytes(t, c.cek), randBytes(t, c.iv)
		block, _ := aes.NewCipher(cek)
		aead, _ := cipher.NewGCMWithNonceSize(block, c.iv)
		entries = append(entries, entry{fmt.Sprintf("valid-cek%d-iv%d-%dB", c.cek, c.iv, len(c.pt)), wrapped, b64(iv), aead.Seal(nil, iv, []byte(c.pt), nil), cek})
	}
	good := entries[0]
	entries = append(entries,
		entry{"flipped-tag", good.key, good.iv, flip(good.body, len(good.body)-1), good.cek},
		entry{"truncated-body", good.key, good.iv, good.body[:len(good.body)-1], good.cek},
		entry{"short-body", good.key, good.iv, good.body[:TagSize-1], good.cek},
		entry{"empty", "", "", nil, nil},
		entry{"bad-base64", "!!!!", "@@@@", good.body, good.cek},
		entry{"unpadded-with-space", " " + strings.TrimRight(wrapped, "=") + "\n", strings.TrimRight(good.iv, "=") + "\r\n", good.body, good.cek},
		entry{"iv7", good.key, b64(make([]byte, 7)), good.body, good.cek},
		entry{"iv129", good.key, b64(make([]byte, 129)), good.body, good.cek},
		entry{"cek31", good.key, good.iv, good.body, good.cek[:31]},
		entry{"cek0", good.key, good.iv, good.body, nil},
	)
	for _, target := range []string{"FuzzOpen", "FuzzParseEnvelope"} {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			data := fmt.Sprintf("go test fuzz v1\nstring(%q)\nstring(%q)\n[]byte(%q)\n[]byte(%q)\n", e.key, e.iv, e.body, e.cek)
			if err := os.WriteFile(filepath.Join(dir, e.name), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
