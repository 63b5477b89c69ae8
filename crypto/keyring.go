package crypto

import (
	"crypto/hkdf"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// Keyring holds the private keys a mount can decrypt with. A key may be bound
// to the Twilio credential SID (CR…) whose public half encrypted the content;
// an unbound key is found by trial, since RSA-OAEP rejects a wrong key.
//
// Rules: a bound credential never falls back to trial; a mapping found by
// trial is remembered only once the GCM tag verified; key rotation works
// because each object names its credential and each credential finds its key.
// A Keyring is safe for concurrent use.
type Keyring struct {
	mu      sync.RWMutex
	bound   map[string]*rsa.PrivateKey // credential SID -> key, given by the user
	learned map[string]*rsa.PrivateKey // credential SID -> key, found by trial
	unbound []*rsa.PrivateKey          // keys to try for credentials not bound
}

// NewKeyring returns an empty keyring.
func NewKeyring() *Keyring {
	return &Keyring{bound: map[string]*rsa.PrivateKey{}, learned: map[string]*rsa.PrivateKey{}}
}

// Add puts key on the ring, bound to credentialSID, or unbound (found by
// trial) when credentialSID is empty.
func (k *Keyring) Add(key *rsa.PrivateKey, credentialSID string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if credentialSID == "" {
		k.unbound = append(k.unbound, key)
		return
	}
	k.bound[credentialSID] = key
}

// Len reports how many keys the ring holds.
func (k *Keyring) Len() int {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return len(k.bound) + len(k.unbound)
}

// Open unwraps env's content key with the key for credentialSID (or by trial)
// and authenticates and decrypts env.Body, appending the plaintext to dst.
// Pass dst as buf[:0] with cap(buf) >= env.PlaintextLen() to decrypt without
// allocating; dst may also be env.Body[:0] to decrypt in place (any other
// overlap of dst and env.Body panics, as cipher.AEAD does). Nothing is
// appended unless the GCM tag verifies; on failure the spare capacity of dst
// that decryption may have touched is zeroed. The CEK is zeroed before Open
// returns.
//
// A key bound to credentialSID is the only one tried. Otherwise the key
// learned earlier for credentialSID is tried first, then every unbound key;
// the first whose RSA-OAEP unwrap succeeds decides the outcome (another key
// is not tried after a tag failure), and it is remembered for credentialSID
// only once the tag verified.
//
// Errors wrap ErrUnwrap (no key, wrong key or damaged wrapped key), ErrAuth
// (tag mismatch) or ErrMalformed.
func (k *Keyring) Open(credentialSID string, env Envelope, dst []byte) ([]byte, error) {
	if err := env.check(); err != nil {
		return nil, err
	}
	var bound, learned *rsa.PrivateKey
	k.mu.RLock()
	if credentialSID != "" {
		bound = k.bound[credentialSID]
		learned = k.learned[credentialSID]
	}
	// Add only appends, so the elements within this slice header's length
	// never change and can be read after the lock is released.
	unbound := k.unbound
	k.mu.RUnlock()

	if bound != nil {
		if !sizeFits(bound, env.WrappedKey) {
			return nil, errWrappedSize(len(env.WrappedKey), []int{bound.Size()})
		}
		out, err := Open(bound, env, dst)
		if errors.Is(err, ErrUnwrap) {
			return nil, fmt.Errorf("%w: the key bound to credential %s does not fit", ErrUnwrap, credentialSID)
		}
		return out, err
	}
	tried := 0
	var sizes []int // of the keys tried, when none fits the wrapped key's size
	for i := -1; i < len(unbound); i++ {
		var key *rsa.PrivateKey
		if i < 0 {
			key = learned
		} else if key = unbound[i]; key == learned {
			continue
		}
		if key == nil {
			continue
		}
		if !sizeFits(key, env.WrappedKey) {
			sizes = append(sizes, key.Size())
			continue
		}
		tried++
		cek, err := unwrap(key, env.WrappedKey)
		if err != nil {
			continue
		}
		out, err := openWithCEK(cek, env, dst)
		clear(cek)
		if err != nil {
			return nil, err
		}
		if credentialSID != "" && key != learned {
			k.mu.Lock()
			k.learned[credentialSID] = key
			k.mu.Unlock()
		}
		return out, nil
	}
	if tried == 0 && len(sizes) > 0 {
		return nil, errWrappedSize(len(env.WrappedKey), sizes)
	}
	if tried == 0 {
		return nil, fmt.Errorf("%w: no private key for credential %s", ErrUnwrap, credentialOrUnknown(credentialSID))
	}
	return nil, fmt.Errorf("%w: none of %d key(s) fits credential %s", ErrUnwrap, tried, credentialOrUnknown(credentialSID))
}

func credentialOrUnknown(sid string) string {
	if sid == "" {
		return "(unknown)"
	}
	return sid
}

// Open decrypts env with a single private key; a convenience for the
// decrypt command and tests. See Keyring.Open.
func Open(key *rsa.PrivateKey, env Envelope, dst []byte) ([]byte, error) {
	if err := env.check(); err != nil {
		return nil, err
	}
	if !sizeFits(key, env.WrappedKey) {
		return nil, errWrappedSize(len(env.WrappedKey), []int{key.Size()})
	}
	cek, err := unwrap(key, env.WrappedKey)
	if err != nil {
		return nil, err
	}
	defer clear(cek)
	return openWithCEK(cek, env, dst)
}

// Zero overwrites every private key on the ring with ZeroPrivateKey and
// empties it, for the ring's owner to call when it is done (at unmount or
// exit). Best effort, as ZeroPrivateKey explains: copies the standard
// library keeps inside rsa.PrivateKey (its precomputed FIPS key) and
// garbage-collected temporaries of past operations are out of reach.
// Call it only once no Open is running or can start: a concurrent Open
// would fail with ErrUnwrap.
func (k *Keyring) Zero() {
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := map[*rsa.PrivateKey]bool{}
	zero := func(key *rsa.PrivateKey) {
		if key != nil && !seen[key] {
			seen[key] = true
			ZeroPrivateKey(key)
		}
	}
	for _, key := range k.bound {
		zero(key)
	}
	for _, key := range k.learned {
		zero(key)
	}
	for _, key := range k.unbound {
		zero(key)
	}
	clear(k.bound)
	clear(k.learned)
	clear(k.unbound)
	k.unbound = nil
}

// DeriveSecret returns 32 bytes derived (HKDF-SHA256, label as info) from
// every private key on the ring, in an order that does not depend on how
// they were added: a secret only the holder of these keys can compute, for
// authenticating what this program keeps on disk (the sealed cache's
// entries). It is nil for an empty ring. The caller zeroes it when done.
func (k *Keyring) DeriveSecret(label string) []byte {
	k.mu.RLock()
	keys := append([]*rsa.PrivateKey(nil), k.unbound...)
	for _, key := range k.bound {
		keys = append(keys, key)
	}
	k.mu.RUnlock()
	if len(keys) == 0 {
		return nil
	}
	slices.SortFunc(keys, func(a, b *rsa.PrivateKey) int { return a.N.Cmp(b.N) })
	keys = slices.CompactFunc(keys, func(a, b *rsa.PrivateKey) bool { return a.N.Cmp(b.N) == 0 })
	var ikm []byte
	for _, key := range keys {
		ikm = append(ikm, key.D.Bytes()...)
	}
	defer clear(ikm)
	out, err := hkdf.Key(sha256.New, ikm, nil, label, 32)
	if err != nil { // only for lengths hkdf cannot produce
		panic(err)
	}
	return out
}
