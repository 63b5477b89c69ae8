package crypto

import (
	"crypto/rsa"
	"errors"
	"testing"
)

// TestKeyringZero: Zero wipes the private parts of every key on the ring
// (bound, learned by trial, unbound) and empties it, so Open fails after.
func TestKeyringZero(t *testing.T) {
	fresh := func() *rsa.PrivateKey {
		k, err := GenerateKey(2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	bound, unbound := fresh(), fresh()
	const cr = "CR0123456789abcdef0123456789abcdef"
	const cr2 = "CRfedcba9876543210fedcba9876543210"
	ring := NewKeyring()
	ring.Add(bound, cr)
	ring.Add(unbound, "")
	env, err := Seal(&unbound.PublicKey, []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Open(cr2, env, nil); err != nil { // learned by trial
		t.Fatal(err)
	}
	ring.Zero()
	for name, k := range map[string]*rsa.PrivateKey{"bound": bound, "unbound": unbound} {
		if k.D.Sign() != 0 || k.Primes[0].Sign() != 0 || k.Primes[1].Sign() != 0 || k.Precomputed.Dp.Sign() != 0 {
			t.Errorf("%s key not zeroed", name)
		}
	}
	if ring.Len() != 0 {
		t.Errorf("ring holds %d keys after Zero", ring.Len())
	}
	if _, err := ring.Open(cr2, env, nil); !errors.Is(err, ErrUnwrap) {
		t.Errorf("Open after Zero: %v, want ErrUnwrap", err)
	}
}
