package catalog

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// TestReadLeases drives LeaseSet with buffers that are in no cache, so a
// buffer is zeroed and freed exactly when its last pin goes: the lease's
// pin keeps it, and its end frees it.
func TestReadLeases(t *testing.T) {
	var freed atomic.Int64
	cache, err := plaincache.New(plaincache.Options{MaxBytes: 1 << 20, Mlock: plaincache.MlockOff,
		OnZeroed: func([]byte) { freed.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cache.Close)
	// leased allocates a buffer, grants it to l and drops the caller's
	// pin: only the lease holds it then.
	leased := func(s *LeaseSet, l *Lease, size int) *plaincache.Buffer {
		t.Helper()
		b, err := cache.Alloc(size)
		if err != nil {
			t.Fatal(err)
		}
		b.Bytes()[0] = 1
		s.Grant(l, b)
		b.Release()
		return b
	}
	waitFreed := func(want int64, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for freed.Load() < want {
			if time.Now().After(deadline) {
				t.Fatalf("%d buffers freed, want %d within %v", freed.Load(), want, within)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	t.Run("a lease keeps the buffer until it ends", func(t *testing.T) {
		freed.Store(0)
		s := &LeaseSet{budget: 1 << 20}
		var l Lease
		b := leased(s, &l, 4096)
		if freed.Load() != 0 || b.Bytes() == nil {
			t.Fatal("the leased buffer was freed")
		}
		p := s.Pinned(&l) // a READ reply's pin
		if p != b {
			t.Fatal("pinned returned another buffer")
		}
		s.End(&l)
		if freed.Load() != 0 {
			t.Fatal("freed while a reply still held its pin")
		}
		p.Release()
		waitFreed(1, time.Second)
		if s.Pinned(&l) != nil || s.Held() != 0 {
			t.Error("an ended lease still holds a buffer")
		}
	})

	t.Run("a READ that reached the end ends the lease after leaseTail, not before", func(t *testing.T) {
		freed.Store(0)
		s := &LeaseSet{budget: 1 << 20}
		var l Lease
		leased(s, &l, 4096)
		s.Finish(&l)
		if p := s.Pinned(&l); p == nil { // a READ sent with the last one
			t.Fatal("lease gone right after the end was read")
		} else {
			p.Release()
		}
		waitFreed(1, leaseTail+time.Second)
	})

	t.Run("a new pass from offset 0 keeps the lease", func(t *testing.T) {
		freed.Store(0)
		s := &LeaseSet{budget: 1 << 20}
		var l Lease
		leased(s, &l, 4096)
		s.Finish(&l)
		s.Restart(&l)
		time.Sleep(leaseTail + 100*time.Millisecond)
		if freed.Load() != 0 || s.Held() != 1 {
			t.Errorf("restarted lease ended after leaseTail (freed %d, held %d)", freed.Load(), s.Held())
		}
		s.close()
		waitFreed(1, time.Second)
	})

	t.Run("at most maxLeases, the least recently read ends first", func(t *testing.T) {
		freed.Store(0)
		s := &LeaseSet{budget: 1 << 20}
		ls := make([]Lease, maxLeases+3)
		for i := range ls {
			if i == maxLeases {
				s.Pinned(&ls[0]).Release() // read again: the most recent now
			}
			leased(s, &ls[i], 4096)
		}
		waitFreed(3, time.Second)
		if s.Held() != maxLeases {
			t.Errorf("%d leases held, want %d", s.Held(), maxLeases)
		}
		for i, want := range map[int]bool{0: true, 1: false, 2: false, 3: false, 4: true} {
			if got := ls[i].buf != nil; got != want {
				t.Errorf("lease %d held %v, want %v", i, got, want)
			}
		}
		s.close()
		waitFreed(int64(len(ls)), time.Second)
	})

	t.Run("the byte budget bounds leases, but the newest always holds", func(t *testing.T) {
		freed.Store(0)
		s := &LeaseSet{budget: 3 * 4096}
		ls := make([]Lease, 5)
		for i := range ls {
			leased(s, &ls[i], 4096)
		}
		waitFreed(2, time.Second)
		if s.Held() != 3 {
			t.Errorf("%d leases held, want 3 within the budget", s.Held())
		}
		var big Lease
		leased(s, &big, 64<<10) // larger than the budget alone
		waitFreed(5, time.Second)
		if s.Held() != 1 || big.buf == nil {
			t.Errorf("%d leases held (big one: %v), want only the newest", s.Held(), big.buf != nil)
		}
		s.close()
		waitFreed(6, time.Second)
	})

	t.Run("for room, a lease read to the end goes before a half-read one", func(t *testing.T) {
		freed.Store(0)
		s := &LeaseSet{budget: 2 * 4096}
		var half, done, next Lease
		leased(s, &half, 4096)
		leased(s, &done, 4096)
		s.Finish(&done) // newer than half, but its reader is done
		leased(s, &next, 4096)
		waitFreed(1, time.Second)
		if half.buf == nil || done.buf != nil || next.buf == nil {
			t.Errorf("held: half-read %v, read to the end %v, newest %v; want true false true", half.buf != nil, done.buf != nil, next.buf != nil)
		}
		s.close()
		waitFreed(3, time.Second)
	})

	t.Run("after close a grant keeps nothing", func(t *testing.T) {
		freed.Store(0)
		s := &LeaseSet{budget: 1 << 20}
		s.close()
		var l Lease
		leased(s, &l, 4096)
		waitFreed(1, time.Second)
		if s.Held() != 0 {
			t.Error("a lease was granted after close")
		}
	})
}
