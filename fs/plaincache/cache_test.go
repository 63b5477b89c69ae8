package plaincache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// fakeClock is a settable clock for age tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// recordHandler keeps slog records for assertions.
type recordHandler struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.recs = append(h.recs, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func (h *recordHandler) warnings() []slog.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []slog.Record
	for _, r := range h.recs {
		if r.Level == slog.LevelWarn {
			out = append(out, r)
		}
	}
	return out
}

func attr(r slog.Record, key string) (slog.Value, bool) {
	var v slog.Value
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v, found = a.Value, true
			return false
		}
		return true
	})
	return v, found
}

// zeroLog records every buffer handed to OnZeroed and whether it was all
// zeros at that moment.
type zeroLog struct {
	mu    sync.Mutex
	n     int
	dirty int
	addrs map[*byte]bool
}

func (z *zeroLog) hook(mem []byte) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.n++
	if z.addrs == nil {
		z.addrs = map[*byte]bool{}
	}
	z.addrs[&mem[0]] = true
	for _, c := range mem {
		if c != 0 {
			z.dirty++
			return
		}
	}
}

func (z *zeroLog) zeroed(b []byte) bool {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.addrs[&b[0]]
}

func (z *zeroLog) counts() (n, dirty int) {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.n, z.dirty
}

func newCache(t testing.TB, opts Options) *Cache {
	t.Helper()
	if opts.Mlock == MlockAuto && opts.lockBudget == nil {
		opts.Mlock = MlockOff // keep unrelated tests independent of the machine's limits
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func page(n int) int64 { return int64(n * pageSize) }

// fill allocates a buffer of size bytes filled with v.
func fill(t testing.TB, c *Cache, size int, v byte) *Buffer {
	t.Helper()
	b, err := c.Alloc(size)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b.Bytes() {
		b.Bytes()[i] = v
	}
	return b
}

func TestParseMlockMode(t *testing.T) {
	for _, m := range []MlockMode{MlockAuto, MlockRequired, MlockOff} {
		got, err := ParseMlockMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMlockMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMlockMode("yes"); err == nil {
		t.Error("ParseMlockMode(yes): no error")
	}
}

func TestAllocSizes(t *testing.T) {
	var z zeroLog
	c := newCache(t, Options{OnZeroed: z.hook})
	for _, size := range []int{0, 1, pageSize - 1, pageSize, pageSize + 1, 3*pageSize + 7} {
		b, err := c.Alloc(size)
		if err != nil {
			t.Fatalf("Alloc(%d): %v", size, err)
		}
		got := b.Bytes()
		if got == nil || len(got) != size || b.Len() != size {
			t.Fatalf("Alloc(%d): Bytes() len %d (nil %v), Len %d", size, len(got), got == nil, b.Len())
		}
		if bytes.Count(got, []byte{0}) != size {
			t.Fatalf("Alloc(%d): fresh memory not zero", size)
		}
		for i := range got {
			got[i] = 0xA5
		}
		if s := c.Stats(); s.LiveBytes != roundPages64(int64(size)) {
			t.Fatalf("Alloc(%d): LiveBytes %d", size, s.LiveBytes)
		}
		b.Release()
		if b.Bytes() != nil {
			t.Fatalf("Alloc(%d): Bytes() after Release not nil", size)
		}
		if size > 0 && !z.zeroed(got) {
			t.Fatalf("Alloc(%d): released unadded buffer was not zeroed", size)
		}
	}
	if _, err := c.Alloc(-1); err == nil {
		t.Error("Alloc(-1): no error")
	}
	if n, dirty := z.counts(); n != 5 || dirty != 0 {
		t.Errorf("OnZeroed: %d calls, %d not zero; want 5, 0", n, dirty)
	}
	if s := c.Stats(); s.LiveBytes != 0 {
		t.Errorf("LiveBytes after all released = %d", s.LiveBytes)
	}
}

func TestLRUOrder(t *testing.T) {
	var drops dropRecorder
	c := newCache(t, Options{MaxBytes: page(3), OnDrop: drops.record})
	for i, k := range []string{"a", "b", "c"} {
		b := fill(t, c, pageSize, byte('a'+i))
		c.Add(k, b)
		b.Release()
	}
	if b, ok := c.Get("a"); !ok { // a is now the most recent
		t.Fatal("a missing")
	} else {
		b.Release()
	}
	d := fill(t, c, pageSize, 'd')
	c.Add("d", d)
	d.Release()
	for k, want := range map[string]bool{"a": true, "b": false, "c": true, "d": true} {
		b, ok := c.Get(k)
		if ok != want {
			t.Errorf("Get(%q) = %v, want %v", k, ok, want)
		}
		if ok {
			if b.Bytes()[0] != k[0] || b.Bytes()[pageSize-1] != k[0] {
				t.Errorf("Get(%q): wrong content %q", k, b.Bytes()[0])
			}
			b.Release()
		}
	}
	s := c.Stats()
	if s.Evictions != 1 || s.Entries != 3 || s.Bytes != page(3) || s.Hits != 4 || s.Misses != 1 {
		t.Errorf("Stats = %+v", s)
	}
	if got := drops.wait(t, 1); got[0] != "b" {
		t.Errorf("OnDrop keys %v, want [b]", got)
	}
}

// TestByteBoundConcurrent hammers the cache from 16 goroutines and checks,
// after every operation, that the cache holds at most MaxBytes and that no
// reader ever sees a buffer changed under its pin.
func TestByteBoundConcurrent(t *testing.T) {
	var z zeroLog
	const maxPages = 32
	c := newCache(t, Options{MaxBytes: page(maxPages), OnZeroed: z.hook, OnDrop: func(string) {}})
	var wg sync.WaitGroup
	errc := make(chan error, 16)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			var held []*Buffer
			check := func(b *Buffer, v byte) error {
				for _, x := range b.Bytes() {
					if x != v {
						return fmt.Errorf("pinned buffer changed: %d != %d", x, v)
					}
				}
				return nil
			}
			for range 2000 {
				key := fmt.Sprintf("k%d", rng.IntN(64))
				v := key[1] // content is derived from the key
				switch op := rng.IntN(10); {
				case op < 4:
					size := rng.IntN(4 * pageSize)
					b, err := c.Alloc(size)
					if err != nil {
						errc <- err
						return
					}
					for i := range b.Bytes() {
						b.Bytes()[i] = v
					}
					c.Add(key, b)
					if rng.IntN(2) == 0 {
						b.Release()
					} else {
						held = append(held, b)
					}
				case op < 8:
					if b, ok := c.Get(key); ok {
						if err := check(b, v); err != nil {
							errc <- err
							return
						}
						b.Pin()
						b.Release()
						held = append(held, b)
					}
				case op < 9:
					c.Remove(key)
				default:
					for _, b := range held {
						if len(b.Bytes()) > 0 {
							if err := check(b, b.Bytes()[0]); err != nil {
								errc <- err
								return
							}
						}
						b.Release()
					}
					held = held[:0]
				}
				if s := c.Stats(); s.Bytes > page(maxPages) || s.Bytes < 0 {
					errc <- fmt.Errorf("cache holds %d bytes, bound %d", s.Bytes, page(maxPages))
					return
				}
			}
			for _, b := range held {
				b.Release()
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	s := c.Stats()
	if s.Evictions == 0 || s.Hits == 0 {
		t.Errorf("workload too weak: %+v", s)
	}
	if s.LiveBytes != s.Bytes {
		t.Errorf("all released, yet LiveBytes %d != Bytes %d", s.LiveBytes, s.Bytes)
	}
	c.Close()
	if s := c.Stats(); s.LiveBytes != 0 || s.Entries != 0 || s.Bytes != 0 {
		t.Errorf("after Close: %+v", s)
	}
	if n, dirty := z.counts(); n == 0 || dirty != 0 {
		t.Errorf("OnZeroed: %d calls, %d not zero", n, dirty)
	}
}

func TestMaxAge(t *testing.T) {
	clk := newFakeClock()
	var drops dropRecorder
	c := newCache(t, Options{MaxAge: time.Minute, now: clk.Now, sweepEvery: time.Hour, OnDrop: drops.record})
	add := func(k string) {
		b := fill(t, c, 10, 'x')
		c.Add(k, b)
		b.Release()
	}
	add("old")
	clk.Advance(40 * time.Second)
	add("new")
	if b, ok := c.Get("old"); !ok { // reads do not extend the age
		t.Fatal("old expired early")
	} else {
		b.Release()
	}
	clk.Advance(20 * time.Second) // old is 60s: expired; new is 20s
	if _, ok := c.Get("old"); ok {
		t.Fatal("Get returned an expired entry")
	}
	if b, ok := c.Get("new"); !ok {
		t.Fatal("new expired early")
	} else {
		b.Release()
	}
	clk.Advance(45 * time.Second)
	c.sweep() // the sweeper's work, without waiting for it
	if s := c.Stats(); s.Entries != 0 || s.Expirations != 2 || s.Bytes != 0 {
		t.Errorf("after sweep: %+v", s)
	}
	got := drops.wait(t, 2)
	if got[0] != "old" || got[1] != "new" {
		t.Errorf("OnDrop keys %v", got)
	}
}

func TestSweeperRuns(t *testing.T) {
	clk := newFakeClock()
	var z zeroLog
	c := newCache(t, Options{MaxAge: time.Minute, now: clk.Now, sweepEvery: time.Millisecond, OnZeroed: z.hook})
	b := fill(t, c, 10, 'x')
	c.Add("k", b)
	b.Release()
	clk.Advance(time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Expirations == 0 {
		if time.Now().After(deadline) {
			t.Fatal("sweeper did not expire the entry")
		}
		time.Sleep(time.Millisecond)
	}
	if n, dirty := z.counts(); n != 1 || dirty != 0 {
		t.Errorf("OnZeroed %d calls, %d dirty", n, dirty)
	}
}

// TestPinnedNotZeroed checks every way out of the cache: while a pin is
// held the bytes stay intact; after the last Release they are zero.
func TestPinnedNotZeroed(t *testing.T) {
	ways := map[string]func(c *Cache){
		"evict": func(c *Cache) {
			b := fill(t, c, pageSize, 'o')
			c.Add("other", b)
			b.Release()
		},
		"expire": func(c *Cache) { c.sweep() },
		"remove": func(c *Cache) { c.Remove("k") },
		"replace": func(c *Cache) {
			b := fill(t, c, 5, 'r')
			c.Add("k", b)
			b.Release()
		},
		"close": func(c *Cache) { c.Close() },
	}
	for name, leave := range ways {
		t.Run(name, func(t *testing.T) {
			var z zeroLog
			clk := newFakeClock()
			c := newCache(t, Options{MaxBytes: page(1), MaxAge: time.Second, sweepEvery: time.Hour, now: clk.Now, OnZeroed: z.hook})
			b := fill(t, c, 100, 'p')
			view := b.Bytes()
			c.Add("k", b)
			r, ok := c.Get("k") // a second holder
			if !ok {
				t.Fatal("miss")
			}
			r.Pin() // e.g. a reply go-fuse still writes
			b.Release()
			clk.Advance(time.Second)
			leave(c)
			if got, ok := c.Get("k"); ok && got.e == b.e {
				t.Fatal("entry still cached")
			} else if ok {
				got.Release()
			}
			for _, h := range []func(){r.Release, func() {}} {
				if z.zeroed(view) || bytes.Count(view, []byte{'p'}) != 100 || !bytes.Equal(r.Bytes(), view) {
					t.Fatal("pinned buffer was zeroed or changed")
				}
				h()
			}
			r.Release() // last pin
			if !z.zeroed(view) {
				t.Fatal("buffer not zeroed after last Release")
			}
			if n, dirty := z.counts(); dirty != 0 || n < 1 {
				t.Fatalf("OnZeroed %d calls, %d dirty", n, dirty)
			}
			if r.Bytes() != nil || b.Bytes() != nil {
				t.Error("Bytes() after Release not nil")
			}
		})
	}
}

// TestOversized: a buffer larger than the cache is served while pinned but
// not retained, zeroed on release, and OnDrop hears of it only then (its
// readers are done: the user may now drop what it showed of it).
func TestOversized(t *testing.T) {
	var z zeroLog
	drops := make(chan string, 8)
	c := newCache(t, Options{MaxBytes: page(2), OnZeroed: z.hook, OnDrop: func(k string) { drops <- k }})
	small := fill(t, c, 10, 's')
	c.Add("big", small) // an old entry under the same key goes away
	small.Release()
	b := fill(t, c, 2*pageSize+1, 'B')
	c.Add("big", b)
	if _, ok := c.Get("big"); ok {
		t.Fatal("oversized buffer retained")
	}
	if s := c.Stats(); s.Bytes != 0 || s.Entries != 0 || s.LiveBytes != page(3) {
		t.Fatalf("Stats %+v", s)
	}
	if bytes.Count(b.Bytes(), []byte{'B'}) != 2*pageSize+1 {
		t.Fatal("oversized buffer not served while pinned")
	}
	if k := <-drops; k != "big" { // the small entry it replaced
		t.Fatalf("OnDrop(%q)", k)
	}
	select {
	case k := <-drops:
		t.Fatalf("OnDrop(%q) while the oversized buffer is still pinned", k)
	case <-time.After(50 * time.Millisecond):
	}
	view := b.Bytes()
	b.Release()
	if !z.zeroed(view) {
		t.Fatal("oversized buffer not zeroed on release")
	}
	select {
	case k := <-drops:
		if k != "big" {
			t.Fatalf("OnDrop(%q) after release, want big", k)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OnDrop once the oversized buffer was released")
	}
	if s := c.Stats(); s.LiveBytes != 0 {
		t.Fatalf("LiveBytes %d", s.LiveBytes)
	}
}

func TestPeek(t *testing.T) {
	clk := newFakeClock()
	c := newCache(t, Options{MaxBytes: page(2), MaxAge: time.Minute, sweepEvery: time.Hour, now: clk.Now})
	for _, k := range []string{"a", "b"} {
		b := fill(t, c, 123, 'x')
		c.Add(k, b)
		b.Release()
	}
	if n, ok := c.Peek("a"); !ok || n != 123 {
		t.Fatalf("Peek(a) = %d, %v", n, ok)
	}
	b := fill(t, c, 1, 'c')
	c.Add("c", b) // Peek did not make a recent: a is evicted
	b.Release()
	if _, ok := c.Peek("a"); ok {
		t.Error("Peek refreshed recency")
	}
	if s := c.Stats(); s.Hits != 0 || s.Misses != 0 {
		t.Errorf("Peek counted: %+v", s)
	}
	clk.Advance(time.Minute)
	if _, ok := c.Peek("b"); ok {
		t.Error("Peek of an expired entry")
	}
}

func TestZeroLengthCached(t *testing.T) {
	c := newCache(t, Options{MaxBytes: page(1)})
	b := fill(t, c, 0, 0)
	c.Add("empty", b)
	b.Release()
	g, ok := c.Get("empty")
	if !ok || g.Bytes() == nil || len(g.Bytes()) != 0 {
		t.Fatalf("Get(empty) = %v, %v", g, ok)
	}
	g.Release()
}

func TestMisuse(t *testing.T) {
	c := newCache(t, Options{})
	mustPanic := func(name, want string, f func()) {
		t.Helper()
		defer func() {
			r := recover()
			if r == nil || !strings.Contains(fmt.Sprint(r), want) {
				t.Errorf("%s: panic %v, want one mentioning %q", name, r, want)
			}
		}()
		f()
	}
	b := fill(t, c, 10, 1)
	c.Add("k", b)
	b.Release()
	mustPanic("double Release", "double Release", b.Release)
	mustPanic("Pin after Release", "Pin of a released", b.Pin)
	mustPanic("Add after Release", "Add of a released", func() { c.Add("k2", b) })
	g, _ := c.Get("k")
	mustPanic("Add under a second key", "another key", func() { c.Add("k2", g) })
	c.Add("k", g) // same key: just a touch
	g.Release()
	// The cache's entry survived every misuse.
	g, ok := c.Get("k")
	if !ok || g.Bytes()[0] != 1 {
		t.Fatal("misuse corrupted the entry")
	}
	g.Release()
	c.Close()
	c.Close()
	if _, err := c.Alloc(1); !errors.Is(err, ErrClosed) {
		t.Errorf("Alloc after Close: %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{{MaxBytes: -1}, {MaxAge: -1}, {Mlock: 7}} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v): no error", o)
		}
	}
}

// dropRecorder collects OnDrop keys.
type dropRecorder struct {
	mu   sync.Mutex
	keys []string
}

func (d *dropRecorder) record(k string) {
	d.mu.Lock()
	d.keys = append(d.keys, k)
	d.mu.Unlock()
}

func (d *dropRecorder) snapshot() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.keys...)
}

// wait returns the keys once at least n arrived, and fails if more arrive
// shortly after.
func (d *dropRecorder) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(d.snapshot()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("OnDrop: got %v, want %d keys", d.snapshot(), n)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	got := d.snapshot()
	if len(got) != n {
		t.Fatalf("OnDrop: got %v, want %d keys", got, n)
	}
	return got
}

func TestOnDrop(t *testing.T) {
	clk := newFakeClock()
	var drops dropRecorder
	c := newCache(t, Options{MaxBytes: page(2), MaxAge: time.Minute, sweepEvery: time.Hour, now: clk.Now, OnDrop: drops.record})
	add := func(k string) {
		b := fill(t, c, pageSize, 'x')
		c.Add(k, b)
		b.Release()
	}
	add("evicted")
	add("got")
	for range 3 {
		b, _ := c.Get("got")
		b.Release()
	}
	add("x") // evicts "evicted"
	c.Remove("x")
	c.Remove("absent") // nothing leaves: no callback
	add("replaced")
	add("replaced")
	clk.Advance(time.Minute)
	c.sweep() // expires "got" and "replaced"
	got := drops.wait(t, 5)
	want := []string{"evicted", "x", "replaced", "got", "replaced"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("OnDrop keys %v, want %v", got, want)
	}
	add("closed")
	c.Close()
	time.Sleep(20 * time.Millisecond)
	if got := drops.snapshot(); len(got) != 5 {
		t.Errorf("OnDrop after Close: %v", got)
	}
}

// TestOnDropAsync: a blocked OnDrop does not block the cache, and OnDrop may
// call back into the cache.
func TestOnDropAsync(t *testing.T) {
	release := make(chan struct{})
	called := make(chan string, 10)
	var c *Cache
	c = newCache(t, Options{MaxBytes: page(1), OnDrop: func(k string) {
		if b, ok := c.Get(k); ok { // re-entrancy must not deadlock
			b.Release()
		}
		called <- k
		<-release
	}})
	for i := range 4 {
		b := fill(t, c, pageSize, 'x')
		c.Add(fmt.Sprint(i), b) // evicts the previous one
		b.Release()
		c.Remove("none")
	}
	select {
	case k := <-called:
		if k != "0" {
			t.Errorf("first drop %q", k)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnDrop not called")
	}
	close(release)
	for _, want := range []string{"1", "2"} {
		if k := <-called; k != want {
			t.Errorf("drop %q, want %q", k, want)
		}
	}
}

func TestGoroutinesStop(t *testing.T) {
	c, err := New(Options{MaxAge: time.Second, OnDrop: func(string) {}, Mlock: MlockOff})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
}

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(childMain(mode))
	}
	goleak.VerifyTestMain(m)
}
