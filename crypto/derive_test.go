package crypto

import (
	"bytes"
	"testing"
)

func TestDeriveSecret(t *testing.T) {
	a, b := testKey(t, 2048, 0), testKey(t, 2048, 1)
	if NewKeyring().DeriveSecret("x") != nil {
		t.Error("an empty ring derives a secret")
	}
	ab := NewKeyring()
	ab.Add(a, "")
	ab.Add(b, "CR"+string(bytes.Repeat([]byte("1"), 32)))
	ba := NewKeyring()
	ba.Add(b, "")
	ba.Add(a, "")
	onlyA := NewKeyring()
	onlyA.Add(a, "")
	s1, s2 := ab.DeriveSecret("l"), ba.DeriveSecret("l")
	if len(s1) != 32 || !bytes.Equal(s1, s2) {
		t.Error("the same keys, added otherwise, derive another secret")
	}
	if bytes.Equal(s1, onlyA.DeriveSecret("l")) || bytes.Equal(s1, ab.DeriveSecret("m")) {
		t.Error("another key set or label derives the same secret")
	}
}
