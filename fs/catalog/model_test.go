package catalog

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// The model's own tests: an in-memory Source and Decrypter that count their
// calls, no mount, no /dev/fuse, no HTTP.

var base = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)

// fixture is a catalog on an in-memory source holding n completed plain
// transcripts of testService with ops operator results each.
type fixture struct {
	src    *memSource
	dec    *xorDecrypter
	c      *Catalog
	sids   []string // oldest first
	events chan Event
}

func newFixture(t *testing.T, n, ops int, cacheSize int64, tune ...func(*Options, *plaincache.Options)) *fixture {
	t.Helper()
	f := &fixture{src: newMemSource(), dec: &xorDecrypter{key: 0x5c}, events: make(chan Event, 1024)}
	f.src.services = []record.Service{{SID: testService, UniqueName: "test"}}
	f.sids = f.src.addTranscripts(base, 1, n, ops)
	f.c = newTestCatalog(t, f.src, f.dec, cacheSize, func(ev Event) { f.events <- ev }, tune...)
	return f
}

// entry is the catalog's entry of sid, as a lookup through a listing makes it.
func (f *fixture) entry(t *testing.T, sid string) *Entry {
	t.Helper()
	tr, err := f.c.Listing(record.TranscriptQuery{ServiceSID: testService}, "").Find(context.Background(), sid)
	if err != nil {
		t.Fatal(err)
	}
	return f.c.Entry(tr)
}

// read loads one content file and returns a copy of its bytes.
func (f *fixture) read(t *testing.T, e *Entry, kind Kind, n int) []byte {
	t.Helper()
	b, err := f.c.LoadContent(context.Background(), e, kind, n)
	if err != nil {
		t.Fatalf("load %s: %v", ContentKey(e.SID(), kind, n), err)
	}
	if b == nil {
		return nil
	}
	defer b.Release()
	return bytes.Clone(b.Bytes())
}

// waitEvent waits for the first event of kind about sid.
func (f *fixture) waitEvent(t *testing.T, kind EventKind, sid string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-f.events:
			if ev.Kind == kind && ev.SID == sid {
				return
			}
		case <-deadline:
			t.Fatalf("no event %d for %s", kind, sid)
		}
	}
}

// waitUntil polls cond (no timing assertion: the deadline only stops a hung test).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestLaziness: each step asks the Source for exactly what it needs and
// nothing is asked twice while cached; building the catalog, a listing or
// an entry, and rendering transcript.json, ask nothing.
func TestLaziness(t *testing.T) {
	f := newFixture(t, 5, 3, 8<<20)
	ctx := context.Background()
	l := f.c.Listing(record.TranscriptQuery{ServiceSID: testService}, "")
	var e *Entry
	steps := []struct {
		name string
		do   func(t *testing.T)
		want map[string]int64 // cumulative calls
	}{
		{"catalog and listing made", func(t *testing.T) {}, map[string]int64{}},
		{"listing opened and completed", func(t *testing.T) {
			if _, err := l.Open(ctx); err != nil {
				t.Fatal(err)
			}
			g, err := l.Completed(ctx)
			if err != nil || g.Len() != 5 {
				t.Fatalf("completed: %v, %v", g, err)
			}
		}, map[string]int64{"ListTranscripts": 1}},
		{"opened again within DirCacheTime", func(t *testing.T) {
			if _, err := l.Open(ctx); err != nil {
				t.Fatal(err)
			}
		}, map[string]int64{"ListTranscripts": 1}},
		{"entry made from the listing, transcript.json rendered", func(t *testing.T) {
			e = f.entry(t, f.sids[2])
			if js, _ := e.MetaJSON(); !bytes.Contains(js, []byte(f.sids[2])) {
				t.Fatalf("transcript.json %s", js)
			}
		}, map[string]int64{"ListTranscripts": 1}},
		{"sentences read", func(t *testing.T) {
			if got := f.read(t, e, KindSentences, 0); !bytes.Contains(got, []byte("hello from "+f.sids[2])) {
				t.Fatalf("sentences %q", got)
			}
		}, map[string]int64{"ListTranscripts": 1, "ListServices": 1, "PlainSentences": 1}},
		{"sentences read again", func(t *testing.T) { f.read(t, e, KindSentences, 0) },
			map[string]int64{"ListTranscripts": 1, "ListServices": 1, "PlainSentences": 1}},
		{"sentences.txt derived from the cached sentences", func(t *testing.T) {
			if got := f.read(t, e, KindTxt, 0); !bytes.Contains(got, []byte("hello from")) {
				t.Fatalf("sentences.txt %q", got)
			}
		}, map[string]int64{"ListTranscripts": 1, "ListServices": 1, "PlainSentences": 1}},
		{"operator results counted", func(t *testing.T) {
			if n, err := f.c.OpCount(ctx, e); err != nil || n != 3 {
				t.Fatalf("count %d, %v", n, err)
			}
		}, map[string]int64{"ListTranscripts": 1, "ListServices": 1, "PlainSentences": 1, "PlainOperatorResults": 1}},
		{"operator results read: cached with their count", func(t *testing.T) {
			for i := 1; i <= 3; i++ {
				if got := f.read(t, e, KindOpResult, i); !bytes.Contains(got, []byte(f.sids[2])) {
					t.Fatalf("result %d: %q", i, got)
				}
			}
		}, map[string]int64{"ListTranscripts": 1, "ListServices": 1, "PlainSentences": 1, "PlainOperatorResults": 1}},
	}
	all := []string{"ListServices", "FetchService", "ListTranscripts", "FetchTranscript", "OpenSentences",
		"SealedOperatorResults", "OpenOperatorResult", "PlainSentences", "PlainOperatorResults"}
	for _, st := range steps {
		st.do(t)
		for _, m := range all {
			if got := f.src.count(m); got != st.want[m] {
				t.Errorf("after %q: %s called %d times, want %d", st.name, m, got, st.want[m])
			}
		}
	}
	if !f.src.allCleared() {
		t.Error("a plain document handed out by the Source was not cleared from the heap")
	}
}

// TestSingleFlight: concurrent callers of one thing share one call to the
// Source (and one decryption), all waiting on it at once.
func TestSingleFlight(t *testing.T) {
	const readers = 8
	cases := []struct {
		name    string
		method  string // the Source call that must happen once
		flight  func(c *Catalog, sid string) string
		do      func(c *Catalog, e *Entry) ([]byte, error)
		decrypt bool
	}{
		{"plain sentences", "PlainSentences", contentFlight(KindSentences, 0), loadBytes(KindSentences, 0), false},
		{"encrypted sentences, one decryption", "OpenSentences", contentFlight(KindSentences, 0), loadBytes(KindSentences, 0), true},
		{"operator-result count", "PlainOperatorResults", func(c *Catalog, sid string) string { return "call:" + sid + "/opcount" },
			func(c *Catalog, e *Entry) ([]byte, error) {
				n, err := c.OpCount(context.Background(), e)
				return []byte{byte(n)}, err
			}, false},
		{"services", "ListServices", func(c *Catalog, sid string) string { return "call:services" },
			func(c *Catalog, e *Entry) ([]byte, error) {
				l, err := c.Services(context.Background())
				if err != nil || len(l) == 0 {
					return nil, err
				}
				return []byte(l[0].SID), nil
			}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 2, 2, 8<<20)
			e := f.entry(t, f.sids[0])
			if tc.decrypt {
				tr := e.Transcript()
				tr.EncryptionCredentialSID = "CRtest"
				f.c.Entry(tr)
				f.src.sealedSent[tr.SID] = f.dec.seal(f.src.plainSent[tr.SID])
			}
			if tc.method != "ListServices" {
				if _, err := f.c.Services(context.Background()); err != nil { // the plan's service, fetched beforehand
					t.Fatal(err)
				}
			}
			gate := make(chan struct{})
			f.src.gate = gate
			before := f.src.count(tc.method)
			var wg sync.WaitGroup
			results := make([][]byte, readers)
			errs := make([]error, readers)
			for i := range readers {
				wg.Go(func() { results[i], errs[i] = tc.do(f.c, e) })
			}
			key := tc.flight(f.c, e.SID())
			waitUntil(t, "every reader waiting on one flight", func() bool { return f.c.waiters(key) == readers })
			close(gate)
			wg.Wait()
			for i := range readers {
				if errs[i] != nil || !bytes.Equal(results[i], results[0]) || len(results[i]) == 0 {
					t.Fatalf("reader %d: %q, %v (reader 0: %q)", i, results[i], errs[i], results[0])
				}
			}
			if got := f.src.count(tc.method) - before; got != 1 {
				t.Errorf("%d readers made %d %s calls, want 1", readers, got, tc.method)
			}
			if tc.decrypt && f.dec.calls.Load() != 1 {
				t.Errorf("%d decryptions, want 1", f.dec.calls.Load())
			}
		})
	}
}

func contentFlight(kind Kind, n int) func(c *Catalog, sid string) string {
	return func(c *Catalog, sid string) string { return "flight:" + ContentKey(sid, kind, n) }
}

func loadBytes(kind Kind, n int) func(c *Catalog, e *Entry) ([]byte, error) {
	return func(c *Catalog, e *Entry) ([]byte, error) {
		b, err := c.LoadContent(context.Background(), e, kind, n)
		if err != nil || b == nil {
			return nil, err
		}
		defer b.Release()
		return bytes.Clone(b.Bytes()), nil
	}
}

// waiters counts the callers waiting on a content flight ("flight:KEY") or
// a shared call ("call:KEY").
func (c *Catalog) waiters(key string) int {
	fg := &c.flights
	fg.mu.Lock()
	defer fg.mu.Unlock()
	if k, ok := cutPrefix(key, "flight:"); ok {
		if fl := fg.m[k]; fl != nil {
			return fl.waiters
		}
		return 0
	}
	k, _ := cutPrefix(key, "call:")
	if call := fg.calls[k]; call != nil {
		return call.waiters
	}
	return 0
}

func cutPrefix(s, p string) (string, bool) {
	if len(s) >= len(p) && s[:len(p)] == p {
		return s[len(p):], true
	}
	return s, false
}

// TestPinEvictZero: plaintext a reader holds pinned stays intact while the
// cache evicts or removes it (the drop is published as Dropped), is zeroed
// once released, and the next read fetches it again.
func TestPinEvictZero(t *testing.T) {
	for _, how := range []string{"evicted by newer content", "removed"} {
		t.Run(how, func(t *testing.T) {
			var zeroed, dirty atomic.Int64
			f := newFixture(t, 6, 0, 3*4096, func(o *Options, co *plaincache.Options) {
				co.OnZeroed = func(mem []byte) {
					zeroed.Add(1)
					for _, b := range mem {
						if b != 0 {
							dirty.Add(1)
							return
						}
					}
				}
			})
			ctx := context.Background()
			first := f.entry(t, f.sids[0])
			held, err := f.c.LoadContent(ctx, first, KindSentences, 0)
			if err != nil {
				t.Fatal(err)
			}
			want := bytes.Clone(held.Bytes())
			key := KeySentences(f.sids[0])
			if how == "removed" {
				f.c.cache.Remove(key)
			} else {
				for _, sid := range f.sids[1:] {
					f.read(t, f.entry(t, sid), KindSentences, 0)
				}
			}
			f.waitEvent(t, Dropped, f.sids[0])
			if _, ok := f.c.cache.Peek(key); ok {
				t.Fatal("still cached")
			}
			if !bytes.Equal(held.Bytes(), want) {
				t.Fatal("pinned plaintext changed under its reader")
			}
			before := zeroed.Load()
			held.Release()
			if zeroed.Load() == before {
				t.Error("released plaintext was not zeroed and unmapped")
			}
			if dirty.Load() != 0 {
				t.Error("a buffer was unmapped with plaintext left in it")
			}
			calls := f.src.count("PlainSentences")
			if got := f.read(t, first, KindSentences, 0); !bytes.Equal(got, want) {
				t.Fatalf("read again: %q", got)
			}
			if f.src.count("PlainSentences") != calls+1 {
				t.Error("dropped content was not fetched again")
			}
		})
	}
}

// TestRefreshAndRelist: an incremental refresh asks only for what is new
// (AfterDateCreated) and shows it in the listing that asked; a full relist
// finds deletions and publishes Gone; a failed refresh serves the previous
// listing.
func TestRefreshAndRelist(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		tune func(*Options, *plaincache.Options)
		// change is done upstream after the first complete listing; check
		// runs after the next Open.
		change func(f *fixture)
		check  func(t *testing.T, f *fixture, l *Listing, g *Generation)
	}{
		{"incremental refresh", func(o *Options, _ *plaincache.Options) { o.DirCacheTime = time.Nanosecond },
			func(f *fixture) { f.src.addTranscripts(base, 100, 2, 0) },
			func(t *testing.T, f *fixture, l *Listing, g *Generation) {
				if got := sidsOf(t, l, g); len(got) != 5 || got[0] != gtSID(101) {
					t.Fatalf("listing after refresh %v, want the 2 new ones first", got)
				}
				f.src.mu.Lock()
				q := f.src.queries[len(f.src.queries)-1]
				f.src.mu.Unlock()
				if q.AfterDateCreated.IsZero() || !q.AfterDateCreated.Before(base.Add(3*time.Minute)) {
					t.Errorf("refresh asked %+v, want AfterDateCreated at the newest known minus the margin", q)
				}
			}},
		{"full relist finds a deletion", func(o *Options, _ *plaincache.Options) { o.FullRelist = time.Nanosecond },
			func(f *fixture) { f.src.remove(f.sids[1]) },
			func(t *testing.T, f *fixture, l *Listing, g *Generation) {
				f.waitEvent(t, Gone, f.sids[1])
				if !f.c.IsGone(f.sids[1]) {
					t.Error("not gone")
				}
				g, err := l.Open(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, sid := range sidsOf(t, l, g) {
					if sid == f.sids[1] {
						t.Error("the deleted transcript is still listed")
					}
				}
				if _, err := l.Find(ctx, f.sids[1]); !errors.Is(err, record.ErrNotFound) {
					t.Errorf("find: %v, want ErrNotFound", err)
				}
			}},
		{"failed refresh serves the previous listing", func(o *Options, _ *plaincache.Options) { o.DirCacheTime = time.Nanosecond },
			func(f *fixture) {
				f.src.mu.Lock()
				f.src.failList = record.ErrUnavailable
				f.src.mu.Unlock()
			},
			func(t *testing.T, f *fixture, l *Listing, g *Generation) {
				if got := sidsOf(t, l, g); len(got) != 3 {
					t.Fatalf("listing %v, want the 3 known", got)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 3, 0, 8<<20, tc.tune)
			l := f.c.Listing(record.TranscriptQuery{ServiceSID: testService}, "")
			if _, err := l.Open(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Completed(ctx); err != nil {
				t.Fatal(err)
			}
			tc.change(f)
			g, err := l.Open(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, f, l, g)
		})
	}
}

// sidsOf reads a generation as a folder stream does.
func sidsOf(t *testing.T, l *Listing, g *Generation) []string {
	t.Helper()
	var out []string
	for pos := 0; ; {
		sid, next, more, err := l.Next(context.Background(), g, pos)
		if err != nil {
			t.Fatal(err)
		}
		if !more {
			return out
		}
		out, pos = append(out, sid), next
	}
}

// TestDeletion: content of a transcript deleted upstream is a not-found that
// removes the transcript (Gone, its plaintext out of the cache, the
// Source's sealed copies dropped); content missing while the transcript
// exists is an EIO-class error that backs off without asking again.
func TestDeletion(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		upstr func(s *memSource, sid string)
		check func(t *testing.T, f *fixture, e *Entry, err error)
	}{
		{"transcript deleted", func(s *memSource, sid string) { s.remove(sid) },
			func(t *testing.T, f *fixture, e *Entry, err error) {
				if !errors.Is(err, record.ErrNotFound) {
					t.Fatalf("load: %v, want ErrNotFound", err)
				}
				f.waitEvent(t, Gone, e.SID())
				if !f.c.IsGone(e.SID()) {
					t.Error("not gone")
				}
				if _, ok := f.c.cache.Peek(KeySentences(e.SID())); ok {
					t.Error("the sentences of a deleted transcript are still cached")
				}
				f.src.mu.Lock()
				defer f.src.mu.Unlock()
				if len(f.src.dropped) != 1 || f.src.dropped[0] != e.SID() {
					t.Errorf("sealed copies dropped for %v", f.src.dropped)
				}
			}},
		{"content missing, transcript exists", func(s *memSource, sid string) {
			s.mu.Lock()
			delete(s.plainOps, sid)
			s.mu.Unlock()
		},
			func(t *testing.T, f *fixture, e *Entry, err error) {
				if !errors.As(err, new(*missingError)) || classify(err) != failIO {
					t.Fatalf("load: %v, want a missing-content EIO", err)
				}
				calls := f.src.count("PlainOperatorResults")
				if _, err2 := f.c.LoadContent(ctx, e, KindOpResult, 1); err2 == nil || f.src.count("PlainOperatorResults") != calls {
					t.Errorf("retry during the back-off: %v, %d calls more", err2, f.src.count("PlainOperatorResults")-calls)
				}
				if f.c.IsGone(e.SID()) {
					t.Error("a transcript that exists was taken for deleted")
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, 3, 2, 8<<20, func(o *Options, _ *plaincache.Options) { o.MissingContentRetry = time.Hour })
			e := f.entry(t, f.sids[1])
			f.read(t, e, KindSentences, 0)
			tc.upstr(f.src, e.SID())
			b, err := f.c.LoadContent(ctx, e, KindOpResult, 1)
			if b != nil {
				b.Release()
			}
			tc.check(t, f, e, err)
		})
	}
}

// TestPrefetchWindow: a step of a walk through a listing prefetches a
// window ahead of it, never the whole folder; walking on moves the window
// along; Prefetch 0 fetches nothing the reader did not ask for.
func TestPrefetchWindow(t *testing.T) {
	const n = 40
	cases := []struct {
		name     string
		prefetch int
		walk     int // positions touched, from the first
		// fetched must lie in [lo, hi] positions; min is the least fetched.
		lo, hi, min int
	}{
		{"off", 0, 3, 0, -1, 0},
		{"one step", 2, 1, 1, 8, 1},
		{"a walk of 6", 2, 6, 1, 5 + 8, 6},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, n, 0, 64<<20, func(o *Options, _ *plaincache.Options) {
				o.Prefetch = tc.prefetch
				o.Concurrency = 4 // the window grows to at most 2×4
			})
			ctx := context.Background()
			l := f.c.Listing(record.TranscriptQuery{ServiceSID: testService}, "")
			if _, err := l.Open(ctx); err != nil {
				t.Fatal(err)
			}
			g, err := l.Completed(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.c.Services(ctx); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < tc.walk; i++ {
				f.c.Touched(l, g.At(i).SID, MaskOf(KindSentences))
				waitUntil(t, "prefetch idle", func() bool {
					st := f.c.PrefetchStats()
					return st.Workers == 0 && st.Queued == 0
				})
			}
			var fetched []int
			for i := range g.Len() {
				if _, ok := f.c.cache.Peek(KeySentences(g.At(i).SID)); ok {
					fetched = append(fetched, i)
				}
			}
			if int64(len(fetched)) != f.src.count("PlainSentences") {
				t.Errorf("%d cached, %d fetched", len(fetched), f.src.count("PlainSentences"))
			}
			if len(fetched) < tc.min {
				t.Errorf("prefetched positions %v, want at least %d", fetched, tc.min)
			}
			for _, p := range fetched {
				if p < tc.lo || p > tc.hi {
					t.Errorf("prefetched position %d, outside the window [%d, %d] (all: %v)", p, tc.lo, tc.hi, fetched)
				}
			}
			if st := f.c.PrefetchStats(); st.Files[KindSentences] != int64(len(fetched)) {
				t.Errorf("prefetcher counted %d files, %d fetched", st.Files[KindSentences], len(fetched))
			}
		})
	}
}

// TestLeaseBudget: the catalog derives every memory budget from the cache
// size (prefetch half, leases a quarter); read leases keep at most their
// budget pinned (always the newest), and ending them leaves no pin behind.
func TestLeaseBudget(t *testing.T) {
	const size = 20 << 10 // each sentences document
	cases := []struct {
		cache int64
		files int
	}{
		{256 << 10, 8}, // lease budget 64 KiB: 3 files of 20 KiB
		{64 << 10, 4},  // lease budget 16 KiB: less than one file, the newest is kept anyway
	}
	for _, tc := range cases {
		t.Run("", func(t *testing.T) {
			f := newFixture(t, tc.files, 0, tc.cache)
			b := f.c.Budgets()
			if b.Cache != tc.cache || b.Prefetch != tc.cache/2 || b.Leases != tc.cache/4 {
				t.Fatalf("budgets %+v for a cache of %d", b, tc.cache)
			}
			for _, sid := range f.sids {
				f.src.plainSent[sid] = append([]byte(`{"sentences":[]`), bytes.Repeat([]byte{' '}, size-16)...)
				f.src.plainSent[sid] = append(f.src.plainSent[sid], '}')
			}
			leases := make([]Lease, tc.files)
			ls := f.c.Leases()
			for i, sid := range f.sids {
				buf, err := f.c.LoadContent(context.Background(), f.entry(t, sid), KindSentences, 0)
				if err != nil {
					t.Fatal(err)
				}
				ls.Grant(&leases[i], buf)
				buf.Release()
				held := ls.Held()
				if held < 1 || int64(held-1)*size > b.Leases {
					t.Fatalf("after %d grants %d leases held (%d bytes beyond the newest), budget %d", i+1, held, (held-1)*size, b.Leases)
				}
			}
			if got := ls.Pinned(&leases[tc.files-1]); got == nil {
				t.Fatal("the newest lease was ended")
			} else {
				got.Release()
			}
			for i := range leases {
				ls.End(&leases[i])
			}
			if st := f.c.cache.Stats(); st.LiveBytes != st.Bytes {
				t.Errorf("%d bytes still pinned after every lease ended", st.LiveBytes-st.Bytes)
			}
		})
	}
}

// TestTxtAbsentEvent: a sentences document sentences.txt cannot be derived
// from makes the file absent (ErrAbsent) and publishes TxtAbsent once.
func TestTxtAbsentEvent(t *testing.T) {
	f := newFixture(t, 1, 0, 8<<20)
	f.src.plainSent[f.sids[0]] = []byte(`{"sentences":5}`)
	e := f.entry(t, f.sids[0])
	for range 2 {
		if _, err := f.c.LoadContent(context.Background(), e, KindTxt, 0); !errors.Is(err, ErrAbsent) || classify(err) != failQuiet {
			t.Fatalf("sentences.txt: %v, want ErrAbsent", err)
		}
	}
	f.waitEvent(t, TxtAbsent, f.sids[0])
	if !e.NoTxt() {
		t.Error("NoTxt not set")
	}
}

// TestNoKeyDenied: content no key opens is an access failure, remembered for
// a while so a folder's other files do not ask again.
func TestNoKeyDenied(t *testing.T) {
	f := newFixture(t, 1, 0, 8<<20)
	e := f.entry(t, f.sids[0])
	tr := e.Transcript()
	tr.EncryptionCredentialSID = "CRnone"
	f.c.Entry(tr)
	f.src.sealedSent[tr.SID] = f.dec.seal([]byte(`{"sentences":[]}`))
	for i := range 3 {
		_, err := f.c.LoadContent(context.Background(), e, KindSentences, 0)
		if !errors.Is(err, crypto.ErrUnwrap) || classify(err) != failAccess {
			t.Fatalf("read %d: %v, want an unwrap failure", i, err)
		}
	}
	if got := f.src.count("OpenSentences"); got != 1 {
		t.Errorf("%d downloads for 3 reads of content no key opens, want 1", got)
	}
	if f.c.DecryptFailures() != 1 {
		t.Errorf("%d decrypt failures counted, want 1", f.c.DecryptFailures())
	}
}

// TestCloseStopsAbandonTimers: a fetch whose reader was interrupted waits
// AbandonAfter for it to come back; Close stops that timer with the fetch,
// so no timer of the catalog outlives it.
func TestCloseStopsAbandonTimers(t *testing.T) {
	f := newFixture(t, 1, 0, 8<<20, func(o *Options, _ *plaincache.Options) { o.AbandonAfter = time.Hour })
	e := f.entry(t, f.sids[0])
	if _, err := f.c.Services(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.src.gate = make(chan struct{}) // the fetch never ends by itself
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := f.c.LoadContent(ctx, e, KindSentences, 0)
		done <- err
	}()
	waitUntil(t, "the reader waiting on the fetch", func() bool { return f.c.waiters("flight:"+KeySentences(e.SID())) == 1 })
	cancel()
	if err := <-done; !errors.Is(err, ErrInterrupted) {
		t.Fatalf("interrupted read: %v, want ErrInterrupted", err)
	}
	if n := f.c.flights.pendingTimers(); n != 1 {
		t.Fatalf("%d abandon timers pending, want 1", n)
	}
	f.c.Close()
	if n := f.c.flights.pendingTimers(); n != 0 {
		t.Errorf("%d abandon timers outlive Close", n)
	}
}

// TestEventQueueCloseRacesPublish: closing the queue while events are
// being published never hangs (a publish that filled the wake-up slot after
// the queue's goroutine had returned made close wait for it forever).
func TestEventQueueCloseRacesPublish(t *testing.T) {
	for range 20000 {
		q := newEventQueue(func(Event) {})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 8 {
					q.publish(Event{Kind: Dropped})
				}
			})
		}
		q.close()
		wg.Wait()
	}
}
