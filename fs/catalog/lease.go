package catalog

import (
	"container/list"
	"sync"
	"time"

	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// Read leases. Where the kernel supports it (FUSE_NO_OPEN_SUPPORT), content
// files are read without OPEN and RELEASE (see contentFile.Open), so no
// request marks the span in which a file is being read. A lease stands in
// for the open handle's pin: the first GETATTR or READ that loads a file
// pins its plaintext, and the lease keeps that pin until shortly after a
// READ reached the end of the file (leaseTail: the kernel's readahead sends
// several READs at once and the last may be served before the others),
// until leaseIdle passes without a READ, or until more recently read files
// need the place (at most maxLeases files and the budget in bytes, but
// always the newest; leases of files read to the end go first). Without it
// a file evicted between its READs (by prefetch, or because it is larger
// than the whole cache) would be fetched and decrypted again for each READ.

// leaseIdle is how long a lease outlives its file's last READ.
const leaseIdle = 5 * time.Second

// leaseTail is how long a lease outlives the READ that reached the end.
const leaseTail = 200 * time.Millisecond

// maxLeases bounds the files whose plaintext a lease keeps pinned (files
// being read at once by different readers, or left half-read).
const maxLeases = 16

// LeaseSet holds the mount's leases, least recently read at the back.
type LeaseSet struct {
	mu     sync.Mutex
	lru    list.List // of *Lease
	bytes  int64     // Held by leases
	budget int64     // bytes the leases may hold beyond the newest one
	closed bool
}

// Lease is one content file's lease (the zero value holds nothing).
type Lease struct {
	buf    *plaincache.Buffer
	elem   *list.Element
	timer  *time.Timer
	ending bool // a READ reached the end; the lease ends after leaseTail
}

// Pinned returns the leased buffer with one more pin for the caller (a
// READ reply), or nil when l holds nothing.
func (s *LeaseSet) Pinned(l *Lease) *plaincache.Buffer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.buf == nil {
		return nil
	}
	l.buf.Pin()
	s.lru.MoveToFront(l.elem)
	if !l.ending {
		l.timer.Reset(leaseIdle)
	}
	return l.buf
}

// Finish shortens l to leaseTail: a READ reached the end of the file.
func (s *LeaseSet) Finish(l *Lease) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.buf != nil && !l.ending {
		l.ending = true
		l.timer.Reset(leaseTail)
	}
}

// Restart undoes finish: a new pass over the file (a READ at offset 0).
func (s *LeaseSet) Restart(l *Lease) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l.buf != nil && l.ending {
		l.ending = false
		l.timer.Reset(leaseIdle)
	}
}

// Grant makes l keep a pin of its own on buf (the caller holds one) unless
// it holds a buffer already; the least recently read lease beyond
// maxLeases ends.
func (s *LeaseSet) Grant(l *Lease, buf *plaincache.Buffer) {
	s.mu.Lock()
	if s.closed || l.buf != nil {
		s.mu.Unlock()
		return
	}
	buf.Pin()
	l.buf, l.ending = buf, false
	l.elem = s.lru.PushFront(l)
	s.bytes += int64(buf.Len())
	if l.timer == nil {
		l.timer = time.AfterFunc(leaseIdle, func() { s.End(l) })
	} else {
		l.timer.Reset(leaseIdle)
	}
	var ended []*plaincache.Buffer
	for s.lru.Len() > maxLeases || s.lru.Len() > 1 && s.bytes > s.budget {
		ended = append(ended, s.takeLocked(s.victimLocked()))
	}
	s.mu.Unlock()
	for _, b := range ended {
		b.Release()
	}
}

// victimLocked picks the lease to end for room: the least recently read of
// those whose reader reached the end already, else the least recently read.
func (s *LeaseSet) victimLocked() *Lease {
	for el := s.lru.Back(); el != nil; el = el.Prev() {
		if l := el.Value.(*Lease); l.ending {
			return l
		}
	}
	return s.lru.Back().Value.(*Lease)
}

// End drops l's pin, if it holds one.
func (s *LeaseSet) End(l *Lease) {
	s.mu.Lock()
	b := s.takeLocked(l)
	s.mu.Unlock()
	if b != nil {
		b.Release()
	}
}

// takeLocked detaches l's buffer (nil when none) for the caller to release.
func (s *LeaseSet) takeLocked(l *Lease) *plaincache.Buffer {
	if l.buf == nil {
		return nil
	}
	s.lru.Remove(l.elem)
	l.elem = nil
	l.timer.Stop()
	b := l.buf
	l.buf = nil
	s.bytes -= int64(b.Len())
	return b
}

// Held reports how many leases hold a buffer (tests).
func (s *LeaseSet) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

// close ends every lease; later grants keep nothing.
func (s *LeaseSet) close() {
	s.mu.Lock()
	s.closed = true
	var ended []*plaincache.Buffer
	for s.lru.Len() > 0 {
		ended = append(ended, s.takeLocked(s.lru.Back().Value.(*Lease)))
	}
	s.mu.Unlock()
	for _, b := range ended {
		b.Release()
	}
}

// Leases returns the catalog's read leases: their budget is derived with
// the others (Budgets), so one owner holds every memory budget of the
// plaintext cache.
func (c *Catalog) Leases() *LeaseSet { return &c.leases }
