package plaincache

import (
	"container/list"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Defaults for [Options]. DefaultMaxAge is what the CLI's --cache-max-age
// defaults to; a zero [Options.MaxAge] means no age bound.
const (
	DefaultMaxBytes int64         = 256 << 20
	DefaultMaxAge   time.Duration = time.Hour
)

// ErrClosed is returned by [Cache.Alloc] after [Cache.Close].
var ErrClosed = errors.New("plaincache: cache is closed")

// MlockMode says whether cache memory must be locked in RAM (kept out of
// swap).
type MlockMode int

const (
	// MlockAuto locks what RLIMIT_MEMLOCK and CAP_IPC_LOCK allow, logs one
	// warning with the bytes needed and the fix if that is less than the
	// whole cache, and goes on unlocked for the rest.
	MlockAuto MlockMode = iota
	// MlockRequired makes New fail unless the whole cache can be locked, and
	// an allocation fail if its memory cannot be locked.
	MlockRequired
	// MlockOff never locks.
	MlockOff
)

// String returns the flag spelling of m.
func (m MlockMode) String() string {
	switch m {
	case MlockAuto:
		return "auto"
	case MlockRequired:
		return "required"
	case MlockOff:
		return "off"
	}
	return fmt.Sprintf("MlockMode(%d)", int(m))
}

// ParseMlockMode parses "auto", "required" or "off".
func ParseMlockMode(s string) (MlockMode, error) {
	switch s {
	case "auto":
		return MlockAuto, nil
	case "required":
		return MlockRequired, nil
	case "off":
		return MlockOff, nil
	}
	return 0, fmt.Errorf("plaincache: invalid mlock mode %q (want auto, required or off)", s)
}

// Options configure a [Cache]. The zero value is usable: 256 MiB, no age
// bound, mlock auto, no logging, no drop callback.
type Options struct {
	// MaxBytes bounds the memory the cache holds, counted in whole pages per
	// buffer (what the buffers really cost, and what mlock is charged). 0
	// means DefaultMaxBytes.
	MaxBytes int64
	// MaxAge drops entries this long after they were added, however often
	// they are read, so plaintext does not linger. 0 means no age bound.
	MaxAge time.Duration
	// Mlock says whether buffers are locked in RAM.
	Mlock MlockMode
	// Logger receives the one mlock warning and debug events; nil discards.
	Logger *slog.Logger
	// OnDrop, if set, is called with the key of every entry that leaves the
	// cache (evicted, expired, removed, replaced by Add) except at Close,
	// and with the key of a buffer Add did not retain because it is larger
	// than MaxBytes once its last pin is released. It
	// runs on one goroutine owned by the cache, in order, never under a
	// lock of the cache and never synchronously inside a cache method, so
	// it may block briefly or call into the cache; a slow OnDrop delays
	// later callbacks only.
	OnDrop func(key string)
	// OnZeroed, if set, is called with a buffer's whole mapping after it has
	// been zeroed and just before it is unmapped, on the goroutine that
	// freed it. It exists so tests (here and in package fs) can prove that
	// plaintext does not outlive a buffer; it must not retain mem.
	OnZeroed func(mem []byte)

	// now replaces time.Now in tests.
	now func() time.Time
	// lockBudget replaces systemLockBudget in tests.
	lockBudget func() (int64, string)
	// sweepEvery overrides the expiry sweeper's period in tests.
	sweepEvery time.Duration
}

// Stats is a snapshot of cache counters.
type Stats struct {
	Hits, Misses uint64 // Get results
	// Bytes is the memory held by cached entries, in whole pages per buffer;
	// it is what MaxBytes bounds. Buffers that were evicted but are still
	// pinned, or allocated and not yet added, are not in Bytes but in
	// LiveBytes: they are bounded by what the cache's user pins (files open
	// or being read, reads in flight), not by the cache.
	Bytes     int64
	LiveBytes int64 // bytes (whole pages) of all buffers not yet freed, cached or pinned
	Entries   int   // cached entries
	// Evictions counts entries dropped to respect MaxBytes, Expirations
	// those dropped for MaxAge, Removals those dropped by Remove or replaced
	// by Add.
	Evictions, Expirations, Removals uint64
	LockedBytes                      int64 // live buffer bytes locked in RAM
	// Locked is true when every live buffer is locked; LockShort when
	// locking was asked for (auto) but the limit did not allow all of it.
	Locked, LockShort bool
}

// Cache is a byte- and age-bounded LRU of off-heap plaintext buffers. All
// methods are safe for concurrent use.
type Cache struct {
	maxBytes int64
	maxAge   time.Duration
	mlock    MlockMode
	log      *slog.Logger
	now      func() time.Time
	onZeroed func([]byte)

	// lockBudget is the bytes this cache may still mlock (-1 = unlimited);
	// lockDesc names the limit for messages. Guarded by mu.
	lockBudget int64
	lockDesc   string
	warnedLock atomic.Bool

	mu      sync.Mutex
	lru     *simplelru.LRU[string, *entry]
	byAge   list.List // of *entry, oldest added first
	bytes   int64
	closed  bool
	reason  dropReason // why the entry the LRU is removing leaves
	toFree  []*entry   // unpinned entries that left; freed after unlock
	stats   Stats      // counters only; the rest is filled by Stats()
	dropped dropQueue

	live      atomic.Int64
	locked    atomic.Int64
	lockShort atomic.Bool

	stop chan struct{}
	wg   sync.WaitGroup
}

type dropReason int

const (
	dropEvicted dropReason = iota
	dropExpired
	dropRemoved
	dropClosed
)

// entry is one allocation; handles (*Buffer) point to it.
type entry struct {
	c      *Cache
	mem    []byte // the whole mapping; nil for a zero-length buffer
	data   []byte // mem[:size]; immutable
	cost   int64  // len(mem)
	locked bool
	refs   atomic.Int64 // pins over all handles

	// Guarded by c.mu.
	key    string
	cached bool
	freed  bool
	added  time.Time
	ageEl  *list.Element
	// servedKey is the key of a buffer Add did not retain for its size:
	// OnDrop gets it when the buffer is freed, once its readers are done,
	// so the user can drop what it showed of it (kernel pages).
	servedKey string
}

// Buffer is a handle on off-heap bytes holding one or more pins. Each Alloc
// and each Get hit returns a new handle; release every pin it holds.
type Buffer struct {
	e    *entry
	pins atomic.Int64
}

// New returns a cache. With MlockRequired it fails if the whole MaxBytes
// cannot be locked under RLIMIT_MEMLOCK and CAP_IPC_LOCK; with MlockAuto it
// logs one warning if it cannot and goes on.
func New(opts Options) (*Cache, error) {
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("plaincache: negative MaxBytes %d", opts.MaxBytes)
	}
	if opts.MaxAge < 0 {
		return nil, fmt.Errorf("plaincache: negative MaxAge %v", opts.MaxAge)
	}
	if opts.Mlock < MlockAuto || opts.Mlock > MlockOff {
		return nil, fmt.Errorf("plaincache: invalid mlock mode %d", int(opts.Mlock))
	}
	c := &Cache{
		maxBytes: opts.MaxBytes,
		maxAge:   opts.MaxAge,
		mlock:    opts.Mlock,
		log:      opts.Logger,
		now:      opts.now,
		onZeroed: opts.OnZeroed,
		stop:     make(chan struct{}),
	}
	if c.maxBytes == 0 {
		c.maxBytes = DefaultMaxBytes
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	lru, err := simplelru.NewLRU[string, *entry](math.MaxInt, c.onEvict)
	if err != nil {
		return nil, err
	}
	c.lru = lru

	if c.mlock != MlockOff {
		budget := opts.lockBudget
		if budget == nil {
			budget = systemLockBudget
		}
		c.lockBudget, c.lockDesc = budget()
		need := int64(roundPages64(c.maxBytes))
		if c.lockBudget >= 0 && c.lockBudget < need {
			if c.mlock == MlockRequired {
				return nil, fmt.Errorf("plaincache: mlock required but %d bytes of cache cannot be locked (%s, %d bytes available); raise the limit (ulimit -l, systemd LimitMEMLOCK=) or grant CAP_IPC_LOCK", need, c.lockDesc, c.lockBudget)
			}
			c.warnLockShort()
		}
	}

	if opts.OnDrop != nil {
		c.dropped.init()
		c.wg.Add(1)
		go c.dropped.run(opts.OnDrop, c.stop, &c.wg)
	}
	if c.maxAge > 0 {
		every := opts.sweepEvery
		if every <= 0 {
			every = min(max(c.maxAge/4, 10*time.Millisecond), time.Minute)
		}
		c.wg.Add(1)
		go c.sweeper(every)
	}
	return c, nil
}

// warnLockShort logs, once per cache, that not all cache memory can be
// locked, and marks the shortfall in Stats.
func (c *Cache) warnLockShort() {
	c.lockShort.Store(true)
	if c.warnedLock.Swap(true) {
		return
	}
	c.log.Warn("plaintext cache cannot be fully locked in RAM; the part that does not fit may be written to swap",
		"needed_bytes", roundPages64(c.maxBytes),
		"limit", c.lockDesc,
		"available_bytes", c.lockBudget,
		"fix", "raise RLIMIT_MEMLOCK (ulimit -l, or LimitMEMLOCK= in the systemd unit) or grant CAP_IPC_LOCK; --mlock=off silences this")
}

// Alloc returns a new buffer of size bytes, pinned once, not yet in the
// cache. Its memory is zero. size may be 0. It is freed when released unless
// Add made it findable.
func (c *Cache) Alloc(size int) (*Buffer, error) {
	if size < 0 {
		return nil, fmt.Errorf("plaincache: negative size %d", size)
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	e := &entry{c: c}
	if size > 0 {
		mem, err := mapRegion(size)
		if err != nil {
			return nil, err
		}
		e.mem, e.data, e.cost = mem, mem[:size:size], int64(len(mem))
		if err := c.lock(e); err != nil {
			clear(mem) // fresh, but cheap insurance
			_ = unmapRegion(mem)
			return nil, err
		}
	} else {
		e.data = []byte{}
	}
	c.live.Add(e.cost)
	e.refs.Store(1)
	b := &Buffer{e: e}
	b.pins.Store(1)
	return b, nil
}

// lock applies the mlock policy to a fresh mapping.
func (c *Cache) lock(e *entry) error {
	switch c.mlock {
	case MlockOff:
		return nil
	case MlockRequired:
		if err := lockRegion(e.mem); err != nil {
			return fmt.Errorf("%w (mlock required; raise RLIMIT_MEMLOCK or grant CAP_IPC_LOCK)", err)
		}
		e.locked = true
		c.locked.Add(e.cost)
		return nil
	}
	// Auto: reserve budget, then try; what does not fit goes on unlocked.
	c.mu.Lock()
	ok := c.lockBudget < 0 || c.locked.Load()+e.cost <= c.lockBudget
	if ok {
		c.locked.Add(e.cost)
	}
	c.mu.Unlock()
	if ok {
		if err := lockRegion(e.mem); err == nil {
			e.locked = true
			return nil
		}
		c.locked.Add(-e.cost)
	}
	c.warnLockShort()
	return nil
}

// Get returns the buffer cached under key in a new handle holding one pin,
// and marks it most recently used. The caller must Release it. An entry
// older than MaxAge is dropped and reported as a miss.
func (c *Cache) Get(key string) (*Buffer, bool) {
	c.mu.Lock()
	e, ok := c.lru.Get(key)
	if ok && c.maxAge > 0 && c.now().Sub(e.added) >= c.maxAge {
		c.reason = dropExpired
		c.lru.Remove(key)
		ok = false
	}
	if !ok {
		c.stats.Misses++
		c.unlockAndFree()
		return nil, false
	}
	c.stats.Hits++
	e.refs.Add(1)
	c.mu.Unlock()
	b := &Buffer{e: e}
	b.pins.Store(1)
	return b, true
}

// Peek reports the size of the buffer cached under key without pinning it,
// marking it used or counting a hit or miss, e.g. to answer GETATTR with the
// exact size when the content is already decrypted. An entry older than
// MaxAge reports false.
func (c *Cache) Peek(key string) (size int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.lru.Peek(key)
	if !ok || (c.maxAge > 0 && c.now().Sub(e.added) >= c.maxAge) {
		return 0, false
	}
	return len(e.data), true
}

// Add makes b findable under key as the most recently used entry, evicting
// the least recently used entries until the cache holds at most MaxBytes.
// The caller keeps its pin. An entry already under key is replaced (and
// dropped as by Remove). A buffer larger than MaxBytes, or added after
// Close, is not retained: it stays valid while pinned and is freed when
// released. Adding a buffer that is already cached under another key, or
// that holds no pin, panics.
func (c *Cache) Add(key string, b *Buffer) {
	if b.pins.Load() <= 0 {
		panic("plaincache: Add of a released Buffer")
	}
	e := b.e
	c.mu.Lock()
	if e.cached {
		if e.key != key {
			c.mu.Unlock()
			panic("plaincache: Add of a Buffer already cached under another key")
		}
		c.lru.Get(key) // already there: only refresh its recency
		c.mu.Unlock()
		return
	}
	if c.lru.Contains(key) {
		c.reason = dropRemoved
		c.lru.Remove(key)
	}
	if c.closed || e.cost > c.maxBytes {
		if !c.closed {
			c.log.Debug("plaincache: buffer larger than the cache, served but not retained", "key", key, "bytes", e.cost, "max_bytes", c.maxBytes)
			e.servedKey = key
		}
		c.unlockAndFree()
		return
	}
	e.key, e.cached, e.added = key, true, c.now()
	e.ageEl = c.byAge.PushBack(e)
	c.bytes += e.cost
	c.lru.Add(key, e)
	c.reason = dropEvicted
	for c.bytes > c.maxBytes {
		c.lru.RemoveOldest()
	}
	c.unlockAndFree()
}

// Remove drops the entry under key now (upstream deletion). Its memory is
// zeroed at once if unpinned, else when the last pin is released.
func (c *Cache) Remove(key string) {
	c.mu.Lock()
	c.reason = dropRemoved
	c.lru.Remove(key)
	c.unlockAndFree()
}

// Stats returns a snapshot of the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	s := c.stats
	s.Bytes = c.bytes
	s.Entries = c.lru.Len()
	c.mu.Unlock()
	s.LiveBytes = c.live.Load()
	s.LockedBytes = c.locked.Load()
	s.LockShort = c.lockShort.Load()
	s.Locked = c.mlock != MlockOff && !s.LockShort
	return s
}

// Close drops every entry (without OnDrop), zeroes and unmaps those not
// pinned, and stops the cache's goroutines, waiting for a running OnDrop to
// return; pending OnDrop calls are discarded. Calling Close from OnDrop
// deadlocks. Buffers still pinned are
// zeroed and unmapped when released. After Close, Get misses, Add retains
// nothing and Alloc returns ErrClosed. Close is idempotent.
func (c *Cache) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.reason = dropClosed
	c.lru.Purge()
	c.unlockAndFree()
	close(c.stop)
	c.wg.Wait()
}

// sweeper drops expired entries periodically, so plaintext nobody reads
// does not outlive MaxAge by more than a period.
func (c *Cache) sweeper(every time.Duration) {
	defer c.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.sweep()
		}
	}
}

// sweep drops every entry older than MaxAge.
func (c *Cache) sweep() {
	c.mu.Lock()
	now := c.now()
	c.reason = dropExpired
	for el := c.byAge.Front(); el != nil; el = c.byAge.Front() {
		e := el.Value.(*entry)
		if now.Sub(e.added) < c.maxAge {
			break
		}
		c.lru.Remove(e.key)
	}
	c.unlockAndFree()
}

// onEvict is the LRU's callback for every entry leaving it; it runs under
// c.mu with c.reason saying why.
func (c *Cache) onEvict(key string, e *entry) {
	e.cached = false
	c.byAge.Remove(e.ageEl)
	e.ageEl = nil
	c.bytes -= e.cost
	switch c.reason {
	case dropEvicted:
		c.stats.Evictions++
	case dropExpired:
		c.stats.Expirations++
	case dropRemoved:
		c.stats.Removals++
	}
	if c.reason != dropClosed {
		c.dropped.push(key)
	}
	if e.refs.Load() == 0 && !e.freed {
		e.freed = true
		c.toFree = append(c.toFree, e)
	}
}

// unlockAndFree releases c.mu, then zeroes and unmaps the entries that left
// the cache unpinned, outside the lock since zeroing a large buffer is slow.
func (c *Cache) unlockAndFree() {
	f := c.toFree
	c.toFree = nil
	c.mu.Unlock()
	for _, e := range f {
		e.free()
	}
}

// unref drops one pin from the entry and frees it if that was the last and
// the cache no longer holds it.
func (e *entry) unref() {
	if e.refs.Add(-1) != 0 {
		return
	}
	c := e.c
	c.mu.Lock()
	// A Get may have pinned it again meanwhile (only while cached), or an
	// eviction may have freed it already.
	if e.cached || e.freed || e.refs.Load() != 0 {
		c.mu.Unlock()
		return
	}
	e.freed = true
	if e.servedKey != "" && !c.closed {
		c.dropped.push(e.servedKey)
	}
	c.mu.Unlock()
	e.free()
}

// free zeroes the memory and gives it back to the kernel. It runs once per
// entry, with no pins left.
func (e *entry) free() {
	if e.mem == nil {
		return
	}
	clear(e.mem)
	if e.c.onZeroed != nil {
		e.c.onZeroed(e.mem)
	}
	if err := unmapRegion(e.mem); err != nil {
		// The memory is zero already; a failed munmap only leaks it.
		e.c.log.Error("plaincache: munmap failed", "bytes", e.cost, "err", err)
	}
	e.c.live.Add(-e.cost)
	if e.locked {
		e.c.locked.Add(-e.cost)
	}
}

// Bytes returns the buffer's contents (len is the size given to Alloc). It
// is valid only while this handle holds a pin; once the handle's last pin is
// released it returns nil rather than memory that may be unmapped.
func (b *Buffer) Bytes() []byte {
	if b.pins.Load() <= 0 {
		return nil
	}
	return b.e.data
}

// Len returns the size given to Alloc (also after release).
func (b *Buffer) Len() int { return len(b.e.data) }

// Pin adds a pin to this handle, e.g. while go-fuse still writes a reply
// from Bytes. The caller must already hold a pin on it; pinning a released
// handle panics.
func (b *Buffer) Pin() {
	if b.pins.Add(1) <= 1 {
		b.pins.Add(-1)
		panic("plaincache: Pin of a released Buffer")
	}
	b.e.refs.Add(1)
}

// Release drops one pin of this handle. When no handle holds a pin and the
// cache no longer holds the buffer, it is zeroed and unmapped. Releasing
// more pins than the handle holds panics (a double Release is a bug that
// would otherwise free memory another reader is using); because every Get
// returns its own handle, one holder's double Release cannot take another
// holder's pin.
func (b *Buffer) Release() {
	if b.pins.Add(-1) < 0 {
		b.pins.Add(1)
		panic("plaincache: Release of a Buffer that holds no pin (double Release)")
	}
	b.e.unref()
}

// pageSize is the granularity of mappings and of the byte accounting.
var pageSize = os.Getpagesize()

// roundPages rounds n up to whole pages.
func roundPages(n int) int { return (n + pageSize - 1) &^ (pageSize - 1) }

// roundPages64 rounds n up to whole pages.
func roundPages64(n int64) int64 {
	p := int64(pageSize)
	return (n + p - 1) &^ (p - 1)
}
