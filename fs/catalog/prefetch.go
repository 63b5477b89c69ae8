package catalog

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// prefetcher fetches and decrypts what a walk of a transcripts folder will
// read next, so a cold `grep -r`, a shell glob, `tar`, `jq` over
// operator-results or a Python loop find the next files already in the
// cache.
//
// Any access to content reached through a listing moves the walk: a LOOKUP
// of a content file or of operator-results/, a GETATTR (stat, `ls -l`,
// Python's exists()), an OPEN or first READ, a listing of operator-results/.
// The walk is followed in two orders at once, the listing's (readdir: `grep
// -r`, `tar`, `find`) and the names' (a shell glob and sorted() sort by
// name); whichever the reader advances in is prefetched. While accesses
// advance, the window doubles from Options.Prefetch up to twice the
// Source's current request limit (Options.Limit) so the limit stays busy
// and can grow; a jump resets it to Options.Prefetch, so a single file read
// fetches only that many more, never a whole folder. A walk that lists
// inside the folder's first transcript with content (a recursive walk or a
// loop over the folder) opens the window at once to that width, and it
// then widens with the limit after each job, not only when the reader
// moves.
//
// What is fetched follows what the walk reads: each kind (sentences.json,
// sentences.txt, operator result bodies) once the walk has stat'ed, opened
// or read one; the operator-result locations once it has listed an
// operator-results/ folder or read a result; sentences.json and the
// locations before the walk has said anything. On a jump the transcript
// reached is fetched too, beside the reader: what it reads next of it
// (the locations while it reads the sentences). A `grep -r --include=sentences.json` thus gets
// sentences and locations, a glob over sentences.txt no locations, `jq`
// over operator results no sentences.
//
// Bounds: jobs wait in a queue of at most maxQueue transcripts (the oldest
// is dropped when it is full: under random access the newest requests are
// the ones still wanted); at most Options.Concurrency workers run them, and
// a worker's slot is taken before its goroutine starts, so goroutines never
// pile up behind a busy Source. Prefetched-but-unread plaintext, counting
// the estimate of what running jobs are bringing in, never exceeds half
// the cache. Decryption happens on the workers, off the FUSE request path,
// so both cores work. A stat of a file a worker is loading joins that load
// (Root.load shares one flight per file).
type prefetcher struct {
	c *Catalog

	mu            sync.Mutex
	walks         map[*Listing]*walkState
	pending       map[string]int64 // prefetched, not accessed yet: sid -> bytes
	pendingBytes  int64
	inflightBytes int64 // estimated plaintext of running jobs
	avg           int64 // running average plaintext per prefetched transcript
	queue         []*prefetchJob
	queued        map[string]*prefetchJob
	workers       int
	dropped       int64 // jobs dropped from a full queue or over budget

	files [NumKinds]atomic.Int64 // files the workers fetched, per kind
}

// KindMask is a set of content kinds a walk reads: MaskOf each kind, and
// MaskOpList for listing operator-results/ (its locations, not bodies).
// MaskInner marks a touch that listed a folder inside a transcript (its
// own folder or operator-results/); it says how the walk goes, not what
// it reads.
type KindMask uint8

// MaskOf is the mask of one kind.
func MaskOf(k Kind) KindMask { return 1 << k }

// MaskOpList and MaskInner: see KindMask.
const (
	MaskOpList KindMask = 1 << NumKinds
	MaskInner  KindMask = 1 << (NumKinds + 1)
)

// walkOrder is an order a walk can follow through a listing.
type walkOrder int

const (
	orderListing walkOrder = iota // readdir order
	orderName                     // sorted by name (glob, sorted())
	numOrders
)

// walk is the reader's position in one order of a listing.
type walk struct {
	last, ahead, window int
}

// walkState is the reader's progress through one listing.
type walkState struct {
	w      [numOrders]walk
	prefer walkOrder // the order last seen advancing
	kinds  KindMask  // what the walk has read
	wide   bool      // a walk from the folder's start: window opened at once
}

// prefetchJob is one transcript to fetch, with the kinds wanted.
type prefetchJob struct {
	t     record.Transcript
	kinds KindMask
}

func newPrefetcher(c *Catalog) *prefetcher {
	return &prefetcher{c: c, walks: map[*Listing]*walkState{}, pending: map[string]int64{},
		queued: map[string]*prefetchJob{}}
}

// budget is the most prefetched plaintext kept unread.
func (p *prefetcher) budget() int64 { return p.c.Budgets().Prefetch }

// maxQueue bounds the jobs waiting for a worker.
func (p *prefetcher) maxQueue() int { return 2 * p.c.opts.Concurrency }

// limit is the Source's request limit now.
func (p *prefetcher) limit() int {
	if f := p.c.opts.Limit; f != nil {
		if n := f(); n > 0 {
			return min(n, p.c.opts.Concurrency)
		}
	}
	return p.c.opts.Concurrency
}

// touched moves the walk of listing l after content of sid was accessed.
// A lookup (kinds 0) moves the window only; a stat, open, read or listing
// also says which kind the walk reads.
func (p *prefetcher) touched(l *Listing, sid string, kinds KindMask) {
	k := p.c.opts.Prefetch
	if k <= 0 || l == nil {
		return
	}
	var pos [numOrders]int
	l.mu.Lock()
	g := l.cur
	found := false
	inner := kinds&(MaskInner|MaskOpList) != 0
	var first [numOrders]bool // sid is the order's first transcript with content
	if g != nil {
		if i, ok := g.index[sid]; ok {
			found = true
			pos[orderListing] = int(i)
			pos[orderName] = int(g.nameRanks()[i])
			if inner {
				first[orderListing] = g.firstCompleted(pos[orderListing], nil)
				first[orderName] = g.firstCompleted(pos[orderName], g.nameOrder())
			}
		}
	}
	l.mu.Unlock()

	p.mu.Lock()
	if n, ok := p.pending[sid]; ok {
		delete(p.pending, sid)
		p.pendingBytes -= n
	}
	if !found {
		p.mu.Unlock()
		return
	}
	ws := p.walks[l]
	if ws == nil {
		ws = &walkState{}
		for o := range ws.w {
			ws.w[o] = walk{last: -2, ahead: -1, window: k}
		}
		p.walks[l] = ws
	}
	kinds &^= MaskInner
	grew := ws.kinds|kinds != ws.kinds
	ws.kinds |= kinds
	maxWin := p.maxWindowLocked()
	// A walk that lists inside the folder's first transcript with content
	// (in either order), before reading further, is a recursive walk or a
	// loop over the folder (grep -r, tar, find, a Python loop, a glob over
	// operator-results/): open its window at once to the request limit's
	// width instead of doubling it per transcript read, which costs the
	// first transcripts' round trips with the limit idle. A single file
	// read, or a walk starting elsewhere, still starts at Prefetch.
	wide := false
	if !ws.wide {
		for o := range pos {
			if first[o] && ws.w[o].last <= pos[o] {
				wide = true
			}
		}
		ws.wide = wide
	}
	o, from, to := ws.prefer, 0, -1
	if pos[orderListing] == ws.w[orderListing].last {
		// The same transcript again: the window stands, unless the walk
		// now reads more kinds, which the window ahead must fetch too.
		if !grew && !wide {
			p.mu.Unlock()
			return
		}
		w := &ws.w[o]
		from, to = w.last+1, w.ahead
		if wide {
			w.window = maxWin
			to = w.last + w.window
			w.ahead = max(w.ahead, to)
		}
	} else {
		var seq [numOrders]bool
		for i := range ws.w {
			w, at := &ws.w[i], pos[i]
			seq[i] = at > w.last && at <= w.ahead+1
			switch {
			case wide:
				w.window = maxWin
			case seq[i]:
				w.window = min(w.window*2, maxWin)
			default:
				w.window, w.ahead = min(k, maxWin), at
			}
			w.last = at
		}
		switch {
		case seq[orderListing]:
			o = orderListing
		case seq[orderName]:
			o = orderName
		}
		ws.prefer = o
		w := &ws.w[o]
		from, to = max(w.last+1, w.ahead+1), w.last+w.window
		if grew {
			from = w.last + 1
		}
		if !seq[o] {
			// A jump (or the first step): the reader waits for this
			// transcript itself; fetch what it will read next of it
			// (its locations while it reads the sentences) beside it.
			from = w.last
		}
		w.ahead = max(w.ahead, to)
	}
	kinds = ws.fetchKinds()
	p.mu.Unlock()
	p.fetchRange(l, g, o, from, to, kinds)
}

// maxWindowLocked is the widest window: twice the request limit now (so
// the limit stays busy and can grow), within the budget. Call with p.mu
// held.
func (p *prefetcher) maxWindowLocked() int {
	maxWin := max(p.c.opts.Prefetch, 2*p.limit())
	if p.avg > 0 {
		maxWin = max(min(maxWin, int(p.budget()/p.avg)), 1)
	}
	return maxWin
}

// fetchKinds is what to fetch ahead of the walk: what it read, or before
// it said anything what `grep -r`, tar and a Python loop read first (the
// sentences, then the folder of operator results).
func (ws *walkState) fetchKinds() KindMask {
	if ws.kinds == 0 {
		return MaskOf(KindSentences) | MaskOpList
	}
	return ws.kinds
}

// widen extends the windows of walks that opened wide to twice the request
// limit now. The limit grows in slow start faster than a reader of the
// first transcripts advances; a window sized by the limit when the walk
// last moved would leave the grown limit idle until it moves again.
func (p *prefetcher) widen() {
	type span struct {
		l        *Listing
		o        walkOrder
		from, to int
		kinds    KindMask
	}
	var todo []span
	p.mu.Lock()
	maxWin := p.maxWindowLocked()
	for l, ws := range p.walks {
		w := &ws.w[ws.prefer]
		if !ws.wide || maxWin <= w.window {
			continue
		}
		w.window = maxWin
		if to := w.last + w.window; to > w.ahead {
			todo = append(todo, span{l, ws.prefer, w.ahead + 1, to, ws.fetchKinds()})
			w.ahead = to
		}
	}
	p.mu.Unlock()
	for _, sp := range todo {
		p.fetchRange(sp.l, nil, sp.o, sp.from, sp.to, sp.kinds)
	}
}

// fetchRange queues the completed transcripts at positions from…to of
// order o of listing l's Generation g (nil: the current one; if l moved
// on from g, nothing).
func (p *prefetcher) fetchRange(l *Listing, g *Generation, o walkOrder, from, to int, kinds KindMask) {
	var todo []record.Transcript
	l.mu.Lock()
	if g == nil {
		g = l.cur
	}
	if g != nil && l.cur == g {
		var byName []int32
		if o == orderName {
			byName = g.nameOrder()
		}
		for i := from; i <= to && i < len(g.items); i++ {
			j := i
			if byName != nil {
				j = int(byName[i])
			}
			if g.items[j].Completed() {
				todo = append(todo, g.items[j])
			}
		}
	}
	l.mu.Unlock()
	for _, t := range todo {
		p.enqueue(t, kinds)
	}
}

// enqueue queues one transcript, dropping the oldest job when the queue
// is full, and starts a worker if fewer than Concurrency run. The worker's
// slot is counted before its goroutine starts.
func (p *prefetcher) enqueue(t record.Transcript, kinds KindMask) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if j := p.queued[t.SID]; j != nil {
		j.kinds |= kinds
		return
	}
	if len(p.queue) >= p.maxQueue() {
		old := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		delete(p.queued, old.t.SID)
		p.dropped++
	}
	j := &prefetchJob{t: t, kinds: kinds}
	p.queue = append(p.queue, j)
	p.queued[t.SID] = j
	if p.workers < p.c.opts.Concurrency && p.c.ctx.Err() == nil {
		p.workers++
		p.c.goBG(p.work)
	}
}

// work runs queued jobs until the queue is empty.
func (p *prefetcher) work() {
	for {
		p.mu.Lock()
		if len(p.queue) == 0 || p.c.ctx.Err() != nil {
			p.workers--
			p.mu.Unlock()
			return
		}
		j := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		delete(p.queued, j.t.SID)
		if p.pendingBytes+p.inflightBytes >= p.budget() {
			p.dropped++
			p.mu.Unlock()
			continue
		}
		est := max(p.avg, 1)
		p.inflightBytes += est
		p.mu.Unlock()

		n, ok := p.run(j)
		p.widen()

		p.mu.Lock()
		p.inflightBytes -= est
		if ok {
			if _, seen := p.pending[j.t.SID]; !seen && n > 0 {
				p.pending[j.t.SID] = n
				p.pendingBytes += n
			}
			if p.avg == 0 {
				p.avg = max(n, 1)
			} else {
				p.avg = max((p.avg*7+n)/8, 1)
			}
		}
		p.mu.Unlock()
	}
}

// run fetches one transcript's content of the kinds wanted and reports the
// plaintext bytes it brought into the cache, and whether it fetched
// anything.
func (p *prefetcher) run(j *prefetchJob) (int64, bool) {
	c := p.c
	if c.IsGone(j.t.SID) {
		return 0, false
	}
	e := c.Entry(j.t)
	var (
		mu      sync.Mutex
		n       int64
		fetched bool
	)
	get := func(kind Kind, i int) {
		key := ContentKey(e.sid, kind, i)
		if c.inFlight(key) {
			return // a reader (or another job) is loading it
		}
		if b, ok := c.cache.Get(key); ok {
			b.Release()
			return
		}
		buf, err := c.LoadContent(c.ctx, e, kind, i)
		if err != nil {
			return
		}
		p.files[kind].Add(1)
		mu.Lock()
		n += int64(bufLen(buf))
		fetched = true
		mu.Unlock()
		if buf != nil {
			buf.Release()
		}
	}
	// The locations (or a plain transcript's results) alongside the
	// sentences.
	var wg sync.WaitGroup
	count := -1
	if j.kinds&(MaskOpList|MaskOf(KindOpResult)) != 0 {
		wg.Go(func() {
			if c, err := c.OpCount(c.ctx, e); err == nil {
				count = c
			}
		})
	}
	if j.kinds&MaskOf(KindSentences) != 0 {
		get(KindSentences, 0)
	}
	if j.kinds&MaskOf(KindTxt) != 0 {
		get(KindTxt, 0)
	}
	wg.Wait()
	if j.kinds&MaskOf(KindOpResult) != 0 && count > 0 && c.plan(c.ctx, e.Transcript()).Encrypted {
		// Plain results came into the cache with their count.
		for i := 1; i <= count; i++ {
			wg.Go(func() { get(KindOpResult, i) })
		}
		wg.Wait()
	}
	return n, fetched
}

// forget drops a prefetched transcript that left the cache unread.
func (p *prefetcher) forget(sid string) {
	p.mu.Lock()
	if n, ok := p.pending[sid]; ok {
		delete(p.pending, sid)
		p.pendingBytes -= n
	}
	p.mu.Unlock()
}

// prefetchStats is a snapshot for tests and benchmarks.
type prefetchStats struct {
	queued, workers int
	dropped         int64
	pendingBytes    int64
	inflightBytes   int64
	files           [NumKinds]int64 // fetched by the workers, per kind
}

func (p *prefetcher) stats() prefetchStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	st := prefetchStats{queued: len(p.queue), workers: p.workers, dropped: p.dropped,
		pendingBytes: p.pendingBytes, inflightBytes: p.inflightBytes}
	for k := range st.files {
		st.files[k] = p.files[k].Load()
	}
	return st
}

// nameRanks returns, for each listing position, its rank among the
// entries sorted by SID: the order of a shell glob or Python's sorted().
// Computed on first use and again after the Generation grew. Call with
// the listing's lock held.
func (g *Generation) nameRanks() []int32 {
	g.sortByName()
	return g.byNameRank
}

// nameOrder returns the listing positions sorted by SID. Call with the
// listing's lock held.
func (g *Generation) nameOrder() []int32 {
	g.sortByName()
	return g.byName
}

// firstCompleted reports whether no transcript before position at, in the
// order given (listing positions by rank; nil: the listing's), is
// completed: the one at is the first a walk in that order reads content
// of. Call with the listing's lock held.
func (g *Generation) firstCompleted(at int, order []int32) bool {
	for i := range at {
		j := i
		if order != nil {
			j = int(order[i])
		}
		if g.items[j].Completed() {
			return false
		}
	}
	return true
}

func (g *Generation) sortByName() {
	if len(g.byName) == len(g.items) {
		return
	}
	order := make([]int32, len(g.items))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(g.items[a].SID, g.items[b].SID) })
	rank := make([]int32, len(order))
	for r, i := range order {
		rank[i] = int32(r)
	}
	g.byName, g.byNameRank = order, rank
}

// Touched tells the prefetcher that content of transcript sid, reached
// through listing l, was accessed: kinds says what (MaskOf a Kind, or
// MaskOpList for a listing of operator-results/, MaskInner for a listing
// inside a transcript); 0 is a lookup, which moves the window without
// saying what is read. A nil l (content reached outside a listing) does
// nothing.
func (c *Catalog) Touched(l *Listing, sid string, kinds KindMask) {
	c.prefetcher.touched(l, sid, kinds)
}

// PrefetchStats is a snapshot of the prefetcher (tests and benchmarks).
type PrefetchStats struct {
	Queued, Workers int
	// MaxQueue bounds Queued.
	MaxQueue      int
	Dropped       int64
	PendingBytes  int64
	InflightBytes int64
	Files         [NumKinds]int64 // fetched by the workers, per kind
}

// PrefetchStats returns the prefetcher's counters.
func (c *Catalog) PrefetchStats() PrefetchStats {
	st := c.prefetcher.stats()
	return PrefetchStats{Queued: st.queued, Workers: st.workers, MaxQueue: c.prefetcher.maxQueue(), Dropped: st.dropped,
		PendingBytes: st.pendingBytes, InflightBytes: st.inflightBytes, Files: st.files}
}

// PrefetchedFiles is how many files of kind the prefetch workers fetched.
// It takes no lock, so an Options.Limit (called with the prefetcher's lock
// held) may ask it.
func (c *Catalog) PrefetchedFiles(k Kind) int64 { return c.prefetcher.files[k].Load() }
