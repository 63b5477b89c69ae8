package crypto

import (
	"bytes"
	"crypto/rsa"
	"errors"
	"fmt"
	"sync"
	"testing"
)

type rsaKey = rsa.PrivateKey

// learnedKey reports the key the ring learned for sid, if any.
func (k *Keyring) learnedKey(sid string) *rsaKey {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.learned[sid]
}

func seal(t *testing.T, key *rsaKey, pt []byte) Envelope {
	t.Helper()
	env, err := Seal(&key.PublicKey, pt)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func TestKeyringBoundKeyNeverFallsBackToTrial(t *testing.T) {
	a, b := testKey(t, 2048, 0), testKey(t, 2048, 1)
	ring := NewKeyring()
	ring.Add(a, "CRa")
	ring.Add(b, "") // would fit, but CRa is bound to a
	env := seal(t, b, []byte("x"))
	if _, err := ring.Open("CRa", env, nil); !errors.Is(err, ErrUnwrap) {
		t.Fatalf("got %v, want ErrUnwrap", err)
	}
	if ring.learnedKey("CRa") != nil {
		t.Fatal("a bound credential learned a mapping")
	}
	// The unbound key still serves other credentials.
	if _, err := ring.Open("CRother", env, nil); err != nil {
		t.Fatal(err)
	}
}

func TestKeyringTrialLearnsOnlyAfterTagVerifies(t *testing.T) {
	a, b := testKey(t, 2048, 0), testKey(t, 2048, 1)
	ring := NewKeyring()
	ring.Add(a, "")
	ring.Add(b, "")

	// Damaged body under b: b unwraps, the tag fails, nothing is learned
	// and the error is ErrAuth (a is not tried after b unwrapped).
	bad := seal(t, b, []byte("payload"))
	bad.Body = flip(bad.Body, 0)
	if _, err := ring.Open("CRb", bad, nil); !errors.Is(err, ErrAuth) {
		t.Fatalf("damaged: got %v, want ErrAuth", err)
	}
	if ring.learnedKey("CRb") != nil {
		t.Fatal("learned a mapping from an envelope whose tag failed")
	}

	// Intact: found by trial (a fails OAEP, b fits) and then remembered.
	good := seal(t, b, []byte("payload"))
	got, err := ring.Open("CRb", good, nil)
	if err != nil || string(got) != "payload" {
		t.Fatalf("trial open: %v", err)
	}
	if ring.learnedKey("CRb") != b {
		t.Fatal("mapping CRb -> b not learned")
	}
	// An unknown credential ("") never learns.
	if _, err := ring.Open("", seal(t, a, []byte("p")), nil); err != nil {
		t.Fatal(err)
	}
	if ring.learnedKey("") != nil {
		t.Fatal("learned a mapping for the empty credential")
	}
	// A learned mapping is a preference, not a binding: if the credential
	// turns out to use another key, trial still finds it.
	if _, err := ring.Open("CRb", seal(t, a, []byte("p")), nil); err != nil {
		t.Fatal(err)
	}
	if ring.learnedKey("CRb") != a {
		t.Fatal("mapping not updated to the key that verified")
	}
}

func TestKeyringRotation(t *testing.T) {
	old, cur := testKey(t, 2048, 0), testKey(t, 3072, 0)
	oldEnv := seal(t, old, []byte("old transcript"))
	newEnv := seal(t, cur, []byte("new transcript"))
	for _, bind := range []bool{true, false} {
		t.Run(fmt.Sprintf("bound=%v", bind), func(t *testing.T) {
			ring := NewKeyring()
			sidOld, sidNew := "", ""
			if bind {
				sidOld, sidNew = "CRold", "CRnew"
			}
			ring.Add(old, sidOld)
			ring.Add(cur, sidNew)
			for i := 0; i < 2; i++ { // second round goes through learned mappings
				for sid, c := range map[string]struct {
					env  Envelope
					want string
				}{"CRold": {oldEnv, "old transcript"}, "CRnew": {newEnv, "new transcript"}} {
					got, err := ring.Open(sid, c.env, nil)
					if err != nil || string(got) != c.want {
						t.Fatalf("round %d %s: %q, %v", i, sid, got, err)
					}
				}
			}
			if ring.Len() != 2 {
				t.Fatalf("Len = %d", ring.Len())
			}
		})
	}
}

func TestKeyringNoKeys(t *testing.T) {
	env := seal(t, testKey(t, 2048, 0), []byte("x"))
	for _, sid := range []string{"", "CR123"} {
		if _, err := NewKeyring().Open(sid, env, nil); !errors.Is(err, ErrUnwrap) {
			t.Fatalf("%q: got %v, want ErrUnwrap", sid, err)
		}
	}
	// No unbound keys, only a binding for another credential.
	ring := NewKeyring()
	ring.Add(testKey(t, 2048, 0), "CRa")
	if _, err := ring.Open("CRb", env, nil); !errors.Is(err, ErrUnwrap) {
		t.Fatalf("got %v, want ErrUnwrap", err)
	}
}

func TestKeyringMalformedBeforeAnyKey(t *testing.T) {
	ring := NewKeyring()
	if _, err := ring.Open("CRa", Envelope{WrappedKey: []byte{1}, IV: make([]byte, 12)}, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("got %v, want ErrMalformed", err)
	}
}

func TestKeyringConcurrent(t *testing.T) {
	a, b := testKey(t, 2048, 0), testKey(t, 2048, 1)
	ring := NewKeyring()
	ring.Add(a, "")
	envs := []Envelope{seal(t, a, []byte("a")), seal(t, b, []byte("b"))}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				if g == 0 && i == 5 {
					ring.Add(b, "") // keys added while others open
				}
				sid := fmt.Sprintf("CR%d", i%3)
				got, err := ring.Open(sid, envs[0], nil)
				if err != nil || !bytes.Equal(got, []byte("a")) {
					t.Errorf("open: %v", err)
				}
				ring.Open(sid, envs[1], nil) // may or may not have b yet
			}
		}()
	}
	wg.Wait()
}
