package crypto

import (
	"fmt"
	"testing"
)

// BenchmarkOpen measures Keyring.Open (ours) against the bare standard
// library doing the same work (bare: rsa.DecryptOAEP, aes.NewCipher,
// cipher.NewGCM, Open), both into a preallocated buffer, at each key size and
// payload size. Names pair up: BenchmarkOpen/ours/rsa2048/64KiB against
// BenchmarkOpen/bare/rsa2048/64KiB.
func BenchmarkOpen(b *testing.B) {
	sizes := []struct {
		name string
		n    int
	}{{"4KiB", 4 << 10}, {"64KiB", 64 << 10}, {"1MiB", 1 << 20}, {"16MiB", 16 << 20}}
	impls := []struct {
		name string
		open func(ring *Keyring, env Envelope, dst []byte) ([]byte, error)
	}{
		{"ours", func(ring *Keyring, env Envelope, dst []byte) ([]byte, error) {
			return ring.Open("CRbench", env, dst)
		}},
		{"bare", func(ring *Keyring, env Envelope, dst []byte) ([]byte, error) {
			return bareOpen(ring.bound["CRbench"], env, dst)
		}},
	}
	// Pairs run back to back (ours, then bare, for each key and size) so
	// that drift in machine load affects both sides alike.
	for _, bits := range []int{2048, 3072, 4096} {
		key := testKey(b, bits, 0)
		ring := NewKeyring()
		ring.Add(key, "CRbench")
		for _, size := range sizes {
			env, err := Seal(&key.PublicKey, make([]byte, size.n))
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, env.PlaintextLen())
			for _, impl := range impls {
				b.Run(fmt.Sprintf("%s/rsa%d/%s", impl.name, bits, size.name), func(b *testing.B) {
					b.SetBytes(int64(size.n))
					b.ReportAllocs()
					for b.Loop() {
						if _, err := impl.open(ring, env, buf); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
