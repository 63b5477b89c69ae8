package fs

import (
	"sync"
)

// prefetcher fetches and decrypts the transcripts after an opened
// sentences.json, in the listing's order, so a cold `grep -r` finds the
// next files already in the cache. It follows the reader's walk: while
// opens advance through the listing the window doubles (from
// Options.Prefetch up to 2×Concurrency) so the request limit stays busy;
// a jump resets it. Background fetches never exceed Concurrency jobs (each
// job overlaps its sentences download with the operator-result locations
// the walk will ask for next), and prefetched-but-unread plaintext never
// exceeds half the cache. Decryption happens on these goroutines, off the
// FUSE request path, so both cores work.
type prefetcher struct {
	r   *Root
	sem chan struct{}

	mu           sync.Mutex
	walks        map[*listing]*walk
	pending      map[string]int64 // prefetched, not opened yet: sid -> bytes
	pendingBytes int64
	avg          int64 // running average sentences.json size
}

// walk is the reader's position in one listing.
type walk struct {
	last, ahead, window int
}

func newPrefetcher(r *Root) *prefetcher {
	return &prefetcher{r: r, sem: make(chan struct{}, r.opts.Concurrency),
		walks: map[*listing]*walk{}, pending: map[string]int64{}}
}

// budget is the most prefetched plaintext kept unread.
func (p *prefetcher) budget() int64 { return p.r.opts.CacheSize / 2 }

// opened moves the window after sid was opened in listing l.
func (p *prefetcher) opened(l *listing, sid string) {
	k := p.r.opts.Prefetch
	if k <= 0 {
		return
	}
	l.mu.Lock()
	g := l.cur
	var pos int32 = -1
	if g != nil {
		if i, ok := g.index[sid]; ok {
			pos = i
		}
	}
	l.mu.Unlock()

	p.mu.Lock()
	if n, ok := p.pending[sid]; ok {
		delete(p.pending, sid)
		p.pendingBytes -= n
	}
	if pos < 0 {
		p.mu.Unlock()
		return
	}
	w := p.walks[l]
	if w == nil {
		w = &walk{last: -2, ahead: -1, window: k}
		p.walks[l] = w
	}
	at := int(pos)
	maxWin := max(k, 2*p.r.opts.Concurrency)
	if at > w.last && at <= w.ahead+1 {
		w.window = min(w.window*2, maxWin)
	} else {
		w.window = k
		w.ahead = at
	}
	if p.avg > 0 {
		if lim := int(p.budget() / p.avg); w.window > lim {
			w.window = max(lim, 1)
		}
	}
	w.last = at
	from, to := max(at+1, w.ahead+1), at+w.window
	w.ahead = max(w.ahead, to)
	p.mu.Unlock()

	var todo []Transcript
	l.mu.Lock()
	if l.cur == g {
		for i := from; i <= to && i < len(g.items); i++ {
			if g.items[i].Completed() {
				todo = append(todo, g.items[i])
			}
		}
	}
	l.mu.Unlock()
	for _, t := range todo {
		p.schedule(t)
	}
}

// schedule fetches one transcript in the background.
func (p *prefetcher) schedule(t Transcript) {
	p.mu.Lock()
	over := p.pendingBytes >= p.budget()
	p.mu.Unlock()
	if over {
		return
	}
	r := p.r
	r.goBG(func() {
		select {
		case p.sem <- struct{}{}:
		case <-r.ctx.Done():
			return
		}
		defer func() { <-p.sem }()
		key := keySentences(t.SID)
		if r.inFlight(key) || r.isGone(t.SID) {
			return
		}
		if b, ok := r.cache.Get(key); ok {
			b.Release()
			return
		}
		ts := r.tstate(t)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = r.opCount(r.ctx, ts) // the walk lists operator-results next
		}()
		buf, err := r.loadContent(r.ctx, ts, kindSentences, 0)
		wg.Wait()
		if err != nil {
			return
		}
		n := int64(bufLen(buf))
		if buf != nil {
			buf.Release()
		}
		p.mu.Lock()
		if _, ok := p.pending[t.SID]; !ok {
			p.pending[t.SID] = n
			p.pendingBytes += n
		}
		if p.avg == 0 {
			p.avg = max(n, 1)
		} else {
			p.avg = max((p.avg*7+n)/8, 1)
		}
		p.mu.Unlock()
	})
}

// dropped forgets a prefetched transcript that left the cache unread.
func (p *prefetcher) dropped(sid string) {
	p.mu.Lock()
	if n, ok := p.pending[sid]; ok {
		delete(p.pending, sid)
		p.pendingBytes -= n
	}
	p.mu.Unlock()
}
