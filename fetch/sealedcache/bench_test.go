package sealedcache

import (
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkGet reads cached entries the way a sealed scan does: the
// operator results' count, then each result, then the sentences (a 64 KiB
// body). The per-read cost of the checks (MAC, version, binding, object
// identity) shows here; run side by side with an earlier tree.
func BenchmarkGet(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "c")
	s, err := Open(Options{Dir: dir, SealKey: sealKey})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	env := seal(b, strings.Repeat("x", 64<<10))
	const results = 3
	keys := make([]string, results)
	for i := range keys {
		keys[i] = strings.Repeat(string(rune('a'+i)), 32)
	}
	for t := range 16 {
		s.PutCount(sid(t), v1, keys)
		s.Put(sid(t), Sentences, v1, env, "")
		for i := range results {
			s.Put(sid(t), OperatorResult(i), v1, env, keys[i])
		}
	}
	s.Flush()
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		t := sid(n % 16)
		ks, ok := s.Count(t, v1)
		if !ok || len(ks) != results {
			b.Fatal("count miss")
		}
		for i := range results {
			if _, _, ok := s.Get(t, OperatorResult(i), v1); !ok {
				b.Fatal("operator result miss")
			}
		}
		if _, _, ok := s.Get(t, Sentences, v1); !ok {
			b.Fatal("sentences miss")
		}
	}
}
