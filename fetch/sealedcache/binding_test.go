package sealedcache

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestBoundToAccountAndOrigin: an entry stored for one account and API
// origin is served to that pair only; under another account or from
// another API (a run against an untrusted --api-url) it is a miss and is
// removed, however current its version otherwise is. Before, the header
// named neither, and what any API had answered was served to every run.
func TestBoundToAccountAndOrigin(t *testing.T) {
	acct, other := "AC"+strings.Repeat("a", 32), "AC"+strings.Repeat("b", 32)
	bound := v1
	bound.Account, bound.Origin = acct, "https://intelligence.twilio.com"
	for _, tc := range []struct {
		name    string
		account string
		origin  string
	}{
		{"another API", acct, "http://127.0.0.1:9999"},
		{"another account", other, "https://intelligence.twilio.com"},
		{"another region", acct, "https://intelligence.dublin.ie1.twilio.com"},
		{"neither named", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := open(t, filepath.Join(t.TempDir(), "c"), 0)
			s.Put(sid(1), Sentences, bound, seal(t, "planted"), "")
			s.Flush()
			w := bound
			w.Account, w.Origin = tc.account, tc.origin
			if _, _, ok := s.Get(sid(1), Sentences, w); ok {
				t.Fatalf("an entry of %s/%s served to %s/%s", bound.Account, bound.Origin, w.Account, w.Origin)
			}
			if _, _, ok := s.Get(sid(1), Sentences, bound); ok {
				t.Error("the entry was not removed")
			}
		})
	}
	s, _ := open(t, filepath.Join(t.TempDir(), "c"), 0)
	s.Put(sid(2), Sentences, bound, seal(t, "mine"), "")
	s.Flush()
	env, _, ok := s.Get(sid(2), Sentences, bound)
	if !ok {
		t.Fatal("the entry is not served to its own account and API")
	}
	mustOpen(t, env, "mine")
}

// TestOperatorResultIdentity: an operator result entry is served only when
// its object is the one the count lists at its position; one stored for
// another object (locations that came in another order), or without a
// count, is a miss and removed. Before, the stored object key was ignored
// on read and results were bound by position alone.
func TestOperatorResultIdentity(t *testing.T) {
	const k0, k1 = "00000000000000000000000000000000", "11111111111111111111111111111111"
	s, _ := open(t, filepath.Join(t.TempDir(), "c"), 0)
	s.PutCount(sid(1), v1, []string{k0, k1})
	s.Put(sid(1), OperatorResult(0), v1, seal(t, "result one"), k1) // position 0 holds object 1
	s.Put(sid(1), OperatorResult(1), v1, seal(t, "result one"), k1)
	s.Put(sid(2), OperatorResult(0), v1, seal(t, "no count"), k0)
	s.Flush()
	if _, _, ok := s.Get(sid(1), OperatorResult(0), v1); ok {
		t.Error("operator result 0 served with the object the count lists at 1")
	}
	if _, _, ok := s.Get(sid(2), OperatorResult(0), v1); ok {
		t.Error("an operator result served without a count")
	}
	env, key, ok := s.Get(sid(1), OperatorResult(1), v1)
	if !ok || key != k1 {
		t.Fatalf("operator result 1: ok %v key %q", ok, key)
	}
	mustOpen(t, env, "result one")
	// The mismatched entries are gone: a later correct copy is stored.
	s.Put(sid(1), OperatorResult(0), v1, seal(t, "result zero"), k0)
	s.Flush()
	if env, _, ok := s.Get(sid(1), OperatorResult(0), v1); !ok {
		t.Error("a correct copy was not stored after the mismatch")
	} else {
		mustOpen(t, env, "result zero")
	}
	// A second store sharing the directory (no memo) checks the same.
	s2, _ := open(t, s.Dir(), 0)
	if _, _, ok := s2.Get(sid(1), OperatorResult(0), v1); !ok {
		t.Error("another process's store does not serve the correct entry")
	}
}
