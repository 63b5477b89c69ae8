package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestSealOpenRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 15, 16, 17, 4 << 10, 64<<10 + 3}
	for _, bits := range []int{2048, 3072, 4096} {
		key := testKey(t, bits, 0)
		for _, n := range sizes {
			pt := randBytes(t, n)
			env, err := Seal(&key.PublicKey, pt)
			if err != nil {
				t.Fatal(err)
			}
			if len(env.IV) != 12 || len(env.WrappedKey) != bits/8 || env.PlaintextLen() != n {
				t.Fatalf("rsa%d/%d: IV %d, wrapped key %d, PlaintextLen %d", bits, n, len(env.IV), len(env.WrappedKey), env.PlaintextLen())
			}
			// Through the headers, as fetch hands it over.
			parsed, err := ParseEnvelope(env.EncodedKey(), env.EncodedIV(), env.Body)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Open(key, parsed, nil)
			if err != nil {
				t.Fatalf("rsa%d/%d: %v", bits, n, err)
			}
			if !bytes.Equal(got, pt) {
				t.Fatalf("rsa%d/%d: plaintext differs", bits, n)
			}
		}
	}
}

func TestOpen16MiB(t *testing.T) {
	key := testKey(t, 2048, 0)
	pt := randBytes(t, 16<<20)
	env, err := Seal(&key.PublicKey, pt)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, env.PlaintextLen())
	got, err := Open(key, env, buf)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pt) || &got[0] != &buf[:1][0] {
		t.Fatal("16 MiB: wrong plaintext or not decrypted into the caller's buffer")
	}
	// In place: the plaintext overwrites the ciphertext.
	body := bytes.Clone(env.Body)
	env.Body = body
	got, err = Open(key, env, body[:0])
	if err != nil || !bytes.Equal(got, pt) || &got[0] != &body[0] {
		t.Fatalf("in-place open: err %v", err)
	}
}

// flip returns a copy of b with one bit inverted.
func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func TestOpenMalformed(t *testing.T) {
	key := testKey(t, 2048, 0)
	other := testKey(t, 2048, 1)
	pt := []byte(`{"sentences":[{"transcript":"hello"}]}`)
	good, err := Seal(&key.PublicKey, pt)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString
	type headers struct {
		key, iv string
		body    []byte
	}
	h := func(e Envelope) headers { return headers{e.EncodedKey(), e.EncodedIV(), e.Body} }
	withBody := func(b []byte) headers { x := h(good); x.body = b; return x }
	withIV := func(iv []byte) headers { x := h(good); x.iv = b64(iv); return x }
	withKey := func(k []byte) headers { x := h(good); x.key = b64(k); return x }
	n := len(good.Body)
	otherEnv, _ := Seal(&other.PublicKey, pt)

	tests := []struct {
		name string
		in   headers
		want error // nil: opens to pt
	}{
		{"good", h(good), nil},
		{"unpadded base64 and surrounding space", headers{" " + strings.TrimRight(good.EncodedKey(), "=") + "\r\n", strings.TrimRight(good.EncodedIV(), "=") + "\n", good.Body}, nil},
		{"truncated body by one byte", withBody(good.Body[:n-1]), ErrAuth},
		{"truncated body to the tag", withBody(good.Body[n-TagSize:]), ErrAuth},
		{"body shorter than a tag", withBody(good.Body[:TagSize-1]), ErrMalformed},
		{"empty body", withBody(nil), ErrMalformed},
		{"extra byte after the tag", withBody(append(bytes.Clone(good.Body), 0)), ErrAuth},
		{"flipped tag bit", withBody(flip(good.Body, n-1)), ErrAuth},
		{"flipped first tag bit", withBody(flip(good.Body, n-TagSize)), ErrAuth},
		{"flipped ciphertext bit", withBody(flip(good.Body, 0)), ErrAuth},
		{"wrong IV", withIV(flip(good.IV, 5)), ErrAuth},
		{"IV one byte short", withIV(good.IV[:11]), ErrAuth},
		{"IV 7 bytes", withIV(good.IV[:7]), ErrMalformed},
		{"IV 129 bytes", withIV(make([]byte, 129)), ErrMalformed},
		{"wrong key (sealed for another key)", headers{otherEnv.EncodedKey(), otherEnv.EncodedIV(), otherEnv.Body}, ErrUnwrap},
		{"wrapped key of the other key with our body", withKey(otherEnv.WrappedKey), ErrUnwrap},
		{"flipped wrapped key bit", withKey(flip(good.WrappedKey, 100)), ErrUnwrap},
		{"truncated wrapped key", withKey(good.WrappedKey[:255]), ErrMalformed}, // shorter than any accepted key
		{"wrapped key too long", withKey(append(bytes.Clone(good.WrappedKey), 0)), ErrUnwrap},
		{"wrapped key all zero", withKey(make([]byte, 256)), ErrUnwrap},
		{"bad base64 key", headers{"%%%not base64%%%", good.EncodedIV(), good.Body}, ErrMalformed},
		{"bad base64 IV", headers{good.EncodedKey(), "****", good.Body}, ErrMalformed},
		{"base64url key", headers{strings.NewReplacer("+", "-", "/", "_").Replace(good.EncodedKey()), good.EncodedIV(), good.Body}, ErrMalformed},
		{"missing key header", headers{"", good.EncodedIV(), good.Body}, ErrMalformed},
		{"missing IV header", headers{good.EncodedKey(), "  ", good.Body}, ErrMalformed},
	}
	if !strings.ContainsAny(good.EncodedKey(), "+/") {
		t.Log("note: wrapped key has no + or /, base64url case degenerates")
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, err := ParseEnvelope(tc.in.key, tc.in.iv, tc.in.body)
			if err == nil {
				// A canary-filled buffer: after a failure no plaintext
				// byte may be left in its spare capacity.
				buf := bytes.Repeat([]byte{0xA5}, len(tc.in.body)+64)
				var got []byte
				got, err = Open(key, env, buf[:0])
				if err == nil {
					if !bytes.Equal(got, pt) {
						t.Fatalf("opened to wrong plaintext")
					}
				} else {
					if got != nil {
						t.Fatalf("error %v with %d bytes returned", err, len(got))
					}
					if bytes.Contains(buf, pt[:8]) {
						t.Fatalf("plaintext left in caller's buffer after %v", err)
					}
				}
			}
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if err != nil {
				msg := err.Error()
				if strings.Contains(msg, "\n") {
					t.Errorf("error is not one line: %q", msg)
				}
				for _, secret := range []string{tc.in.key, tc.in.iv} {
					if len(strings.TrimSpace(secret)) > 8 && strings.Contains(msg, strings.TrimSpace(secret)) {
						t.Errorf("error %q contains a header value", msg)
					}
				}
			}
		})
	}
}

func TestOpenIVAndCEKLengths(t *testing.T) {
	key := testKey(t, 2048, 0)
	pt := []byte("operator result")
	tests := []struct {
		name       string
		cek, iv    int
		wantErr    error
		malformedP bool // rejected already by ParseEnvelope
	}{
		{"iv8", 32, 8, nil, false},
		{"iv12", 32, 12, nil, false},
		{"iv16", 32, 16, nil, false},
		{"iv128", 32, 128, nil, false},
		{"iv7", 32, 7, ErrMalformed, true},
		{"iv129", 32, 129, ErrMalformed, true},
		{"iv0", 32, 0, ErrMalformed, true},
		// Twilio seals with AES-256: a shorter key is a downgrade.
		{"cek16", 16, 12, ErrMalformed, false},
		{"cek24", 24, 12, ErrMalformed, false},
		{"cek32", 32, 12, nil, false},
		{"cek0", 0, 12, ErrMalformed, false},
		{"cek1", 1, 12, ErrMalformed, false},
		{"cek15", 15, 12, ErrMalformed, false},
		{"cek31", 31, 12, ErrMalformed, false},
		{"cek33", 33, 12, ErrMalformed, false},
		{"cek64", 64, 12, ErrMalformed, false},
	}
	ring := NewKeyring()
	ring.Add(key, "")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := sealWith(t, &key.PublicKey, randBytes(t, tc.cek), randBytes(t, tc.iv), pt)
			parsed, err := ParseEnvelope(env.EncodedKey(), env.EncodedIV(), env.Body)
			if tc.malformedP {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ParseEnvelope: got %v, want ErrMalformed", err)
				}
				// Open checks too, for envelopes built by hand.
				if _, err := Open(key, env, nil); !errors.Is(err, ErrMalformed) {
					t.Fatalf("Open: got %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, open := range map[string]func() ([]byte, error){
				"Open":         func() ([]byte, error) { return Open(key, parsed, nil) },
				"Keyring.Open": func() ([]byte, error) { return ring.Open("CR0000", parsed, nil) },
			} {
				got, err := open()
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) || got != nil {
						t.Fatalf("%s: got %v (%d bytes), want %v", name, err, len(got), tc.wantErr)
					}
					continue
				}
				if err != nil || !bytes.Equal(got, pt) {
					t.Fatalf("%s: %v", name, err)
				}
			}
		})
	}
}

// bareOpen is the stdlib baseline: what Open does, with nothing around it.
func bareOpen(key *rsa.PrivateKey, env Envelope, dst []byte) ([]byte, error) {
	cek, err := rsa.DecryptOAEP(sha256.New(), nil, key, env.WrappedKey, nil)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(cek)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return aead.Open(dst, env.IV, env.Body, nil)
}

func TestOpenAppendsWithoutAllocating(t *testing.T) {
	key := testKey(t, 2048, 0)
	ring := NewKeyring()
	ring.Add(key, "CRbound")
	ring.Add(key, "")

	allocs := map[int]float64{}
	for _, n := range []int{4 << 10, 1 << 20} {
		env, err := Seal(&key.PublicKey, randBytes(t, n))
		if err != nil {
			t.Fatal(err)
		}
		prefix := []byte("prefix:")
		buf := make([]byte, len(prefix), len(prefix)+n)
		copy(buf, prefix)
		got, err := ring.Open("CRbound", env, buf)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(prefix)+n || &got[0] != &buf[0] || !bytes.HasPrefix(got, prefix) {
			t.Fatal("Open did not append into the caller's buffer")
		}

		ours := testing.AllocsPerRun(20, func() { ring.Open("CRbound", env, buf[:0]) })
		trial := testing.AllocsPerRun(20, func() { ring.Open("CRlearned", env, buf[:0]) })
		bare := testing.AllocsPerRun(20, func() { bareOpen(key, env, buf[:0]) })
		t.Logf("%d bytes: allocs ours %.0f, by trial %.0f, bare %.0f", n, ours, trial, bare)
		// Open allocates no more than the bare primitives
		// (the CEK is unwrapped the same way; GCM is built the same way).
		if ours > bare || trial > bare {
			t.Errorf("%d bytes: Open allocates %.0f (trial %.0f) times, bare primitives %.0f", n, ours, trial, bare)
		}
		allocs[n] = ours
	}
	if allocs[4<<10] != allocs[1<<20] {
		t.Errorf("allocations grow with the payload: %v", allocs)
	}
}

// TestWrappedKeyLength: a wrapped key is exactly an RSA modulus long. An
// absurd length (3 MB, or shorter than any accepted key) is malformed (EIO)
// before any RSA operation; a plausible length that no key held has is "no
// key fits" (EACCES) and says both sizes.
func TestWrappedKeyLength(t *testing.T) {
	key := testKey(t, 2048, 0)
	good, err := Seal(&key.PublicKey, []byte("sentences"))
	if err != nil {
		t.Fatal(err)
	}
	ringUnbound := NewKeyring()
	ringUnbound.Add(key, "")
	ringBound := NewKeyring()
	ringBound.Add(key, "CRbound")
	tests := []struct {
		name    string
		wrapped []byte
		want    error
		parse   bool // ParseEnvelope already refuses it
		say     string
	}{
		{"3MB", make([]byte, 3<<20), ErrMalformed, true, "3145728 bytes"},
		{"1025B", make([]byte, MaxWrappedKeySize+1), ErrMalformed, true, "want 256 to 1024"},
		{"255B", good.WrappedKey[:255], ErrMalformed, true, "255 bytes"},
		{"4096-bit", make([]byte, 512), ErrUnwrap, false, "a 4096-bit key"},
		{"2048-bit-damaged", flip(good.WrappedKey, 3), ErrUnwrap, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := Envelope{WrappedKey: tc.wrapped, IV: good.IV, Body: good.Body}
			_, err := ParseEnvelope(env.EncodedKey(), env.EncodedIV(), env.Body)
			if tc.parse != (err != nil) || (err != nil && !errors.Is(err, ErrMalformed)) {
				t.Fatalf("ParseEnvelope: %v (refusal expected: %v)", err, tc.parse)
			}
			for name, open := range map[string]func() ([]byte, error){
				"Open":          func() ([]byte, error) { return Open(key, env, nil) },
				"Keyring/bound": func() ([]byte, error) { return ringBound.Open("CRbound", env, nil) },
				"Keyring/trial": func() ([]byte, error) { return ringUnbound.Open("CRother", env, nil) },
			} {
				got, err := open()
				if !errors.Is(err, tc.want) || got != nil {
					t.Fatalf("%s: %v, %d bytes; want %v", name, err, len(got), tc.want)
				}
				if !strings.Contains(err.Error(), tc.say) {
					t.Errorf("%s: %q does not say %q", name, err, tc.say)
				}
			}
		})
	}
}
