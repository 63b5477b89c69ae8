package crypto

import (
	"crypto/rsa"
	"fmt"
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

// candidates returns the keys to try for credentialSID, in order, and
// whether trial (and so learning) applies.
func (k *Keyring) candidates(credentialSID string) (keys []*rsa.PrivateKey, trial bool) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if key, ok := k.bound[credentialSID]; ok && credentialSID != "" {
		return []*rsa.PrivateKey{key}, false
	}
	if key, ok := k.learned[credentialSID]; ok && credentialSID != "" {
		keys = append(keys, key)
	}
	for _, key := range k.unbound {
		if len(keys) > 0 && key == keys[0] {
			continue
		}
		keys = append(keys, key)
	}
	return keys, true
}

// Open unwraps env's content key with the key for credentialSID (or by trial)
// and authenticates and decrypts env.Body, appending the plaintext to dst.
// Pass dst as buf[:0] with cap(buf) >= env.PlaintextLen() to decrypt in place
// without allocating. Nothing is appended unless the GCM tag verifies. The
// CEK is zeroed before Open returns.
//
// Errors wrap ErrUnwrap (no key, wrong key or damaged wrapped key), ErrAuth
// (tag mismatch) or ErrMalformed.
func (k *Keyring) Open(credentialSID string, env Envelope, dst []byte) ([]byte, error) {
	if err := env.check(); err != nil {
		return nil, err
	}
	keys, trial := k.candidates(credentialSID)
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no private key for credential %s", ErrUnwrap, credentialOrUnknown(credentialSID))
	}
	for _, key := range keys {
		cek, err := unwrap(key, env.WrappedKey)
		if err != nil {
			continue
		}
		out, err := openWithCEK(cek, env, dst)
		clear(cek)
		if err != nil {
			return nil, err
		}
		if trial && credentialSID != "" {
			k.mu.Lock()
			k.learned[credentialSID] = key
			k.mu.Unlock()
		}
		return out, nil
	}
	return nil, fmt.Errorf("%w: none of %d key(s) fits credential %s", ErrUnwrap, len(keys), credentialOrUnknown(credentialSID))
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
	cek, err := unwrap(key, env.WrappedKey)
	if err != nil {
		return nil, err
	}
	defer clear(cek)
	return openWithCEK(cek, env, dst)
}
