package plaincache

import (
	"strconv"
	"testing"
)

// BenchmarkGetHit is the warm read path: Get, Bytes, Release of a cached
// entry.
func BenchmarkGetHit(b *testing.B) {
	c := newCache(b, Options{MaxBytes: 64 << 20})
	keys := make([]string, 256)
	for i := range keys {
		keys[i] = "GT" + strconv.Itoa(i) + "/sentences.json"
		buf := fill(b, c, 50<<10, byte(i))
		c.Add(keys[i], buf)
		buf.Release()
	}
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			buf, ok := c.Get(keys[i&255])
			if !ok || len(buf.Bytes()) != 50<<10 {
				b.Fatal("miss")
			}
			buf.Release()
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				buf, ok := c.Get(keys[i&255])
				if !ok {
					b.Fatal("miss")
				}
				buf.Pin() // as a read reply would
				buf.Release()
				buf.Release()
				i++
			}
		})
	})
}

// BenchmarkChurn is the cold path at steady state: every Alloc+Add evicts
// one entry, which is zeroed and unmapped.
func BenchmarkChurn(b *testing.B) {
	for _, size := range []int{4 << 10, 50 << 10, 1 << 20} {
		for _, mode := range []MlockMode{MlockOff, MlockRequired} {
			b.Run(strconv.Itoa(size>>10)+"KiB/mlock="+mode.String(), func(b *testing.B) {
				maxBytes := int64(64 * roundPages(size))
				if mode != MlockOff {
					if budget, _ := systemLockBudget(); budget >= 0 && budget < 2*maxBytes {
						b.Skip("memlock limit too low")
					}
				}
				c := newCache(b, Options{MaxBytes: maxBytes, Mlock: mode, OnDrop: func(string) {}})
				keys := make([]string, 1024)
				for i := range keys {
					keys[i] = strconv.Itoa(i)
				}
				b.ReportAllocs()
				b.SetBytes(int64(size))
				i := 0
				for b.Loop() {
					buf, err := c.Alloc(size)
					if err != nil {
						b.Fatal(err)
					}
					buf.Bytes()[0] = 1
					c.Add(keys[i&1023], buf)
					buf.Release()
					i++
				}
			})
		}
	}
}
