package catalog

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// Listing is the model behind one transcripts folder (a service's
// transcripts/, or a by-date day folder): the transcripts of one query, in
// API order (newest first), kept compactly (no inode per entry, transcript.json
// rendered on demand).
//
// The first load is streamed: folders opened while it runs read entries as
// pages arrive. Later refreshes build a new generation copy-on-write, so an
// open directory stream keeps a consistent snapshot.
type Listing struct {
	c *Catalog
	q record.TranscriptQuery

	mu        sync.Mutex
	changed   chan struct{} // closed (and replaced) whenever cur grows or is replaced
	cur       *Generation
	checkedAt time.Time     // start of the last successful full or incremental listing
	fullAt    time.Time     // start of the last successful full listing
	refresh   chan struct{} // non-nil while an incremental refresh runs; closed at its end
	relisting bool
	extra     map[string]record.Transcript // looked up by SID, not in cur
}

// Generation is one snapshot of a listing.
type Generation struct {
	items    []record.Transcript
	index    map[string]int32
	complete bool
	err      error // the load filling this generation failed

	// byName and byNameRank are the name order of items and its inverse,
	// for the prefetcher (see nameOrder); stale when shorter than items.
	byName, byNameRank []int32
}

func newGeneration(capacity int) *Generation {
	return &Generation{items: make([]record.Transcript, 0, capacity), index: make(map[string]int32, capacity)}
}

func (g *Generation) add(t record.Transcript) {
	if i, ok := g.index[t.SID]; ok {
		g.items[i] = t
		return
	}
	g.index[t.SID] = int32(len(g.items))
	g.items = append(g.items, t)
}

// Listing returns the shared listing of q, creating it on first use; key
// distinguishes date-bounded listings of one service.
func (c *Catalog) Listing(q record.TranscriptQuery, key string) *Listing {
	k := q.ServiceSID + "/" + key
	c.listMu.Lock()
	defer c.listMu.Unlock()
	l := c.listings[k]
	if l == nil {
		l = &Listing{c: c, q: q, changed: make(chan struct{}), extra: map[string]record.Transcript{}}
		c.listings[k] = l
	}
	return l
}

// broadcastLocked wakes every stream waiting for more entries.
func (l *Listing) broadcastLocked() {
	close(l.changed)
	l.changed = make(chan struct{})
}

// Open returns the generation a new directory stream reads, starting a
// load or refresh as the timers say. It waits (interruptibly) only for an
// incremental refresh, which is normally one short request, so new
// transcripts show up in the very listing that asked.
func (l *Listing) Open(ctx context.Context) (*Generation, error) {
	l.mu.Lock()
	opts := l.c.opts
	now := time.Now()
	switch {
	case l.cur == nil || l.cur.err != nil:
		l.startLoadLocked()
	case l.cur.complete:
		if now.Sub(l.fullAt) >= opts.FullRelist && !l.relisting {
			l.relisting = true
			l.c.goBG(l.relist)
		}
		if now.Sub(l.checkedAt) >= opts.DirCacheTime && !l.relisting {
			if l.refresh == nil {
				done := make(chan struct{})
				l.refresh = done
				l.c.goBG(func() { l.incremental(done) })
			}
			done := l.refresh
			l.mu.Unlock()
			select {
			case <-done:
			case <-ctx.Done():
				return nil, ErrInterrupted
			}
			l.mu.Lock()
		}
	}
	g := l.cur
	l.mu.Unlock()
	return g, nil
}

// current returns the generation without triggering anything.
func (l *Listing) current() *Generation {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// startLoadLocked starts the first (streamed) full load into a fresh
// generation.
func (l *Listing) startLoadLocked() {
	g := newGeneration(0)
	l.cur = g
	l.broadcastLocked()
	start := time.Now()
	l.c.goBG(func() {
		q := l.q
		q.PageSize = l.c.opts.PageSize
		f := newSIDFilter("GT")
		err := l.c.src.ListTranscripts(l.c.ctx, q, func(page []record.Transcript) error {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.cur != g {
				return errSuperseded
			}
			for _, t := range page {
				if f.keep(t.SID) && !l.c.IsGone(t.SID) {
					g.add(t)
				}
			}
			l.broadcastLocked()
			return nil
		})
		f.warn(l.c.log, "transcripts of "+l.q.ServiceSID)
		l.mu.Lock()
		defer l.mu.Unlock()
		if errors.Is(err, errSuperseded) {
			return
		}
		if err != nil {
			g.err = err
			l.c.LogFailure("", "", "list transcripts of "+l.q.ServiceSID, err)
		} else {
			g.complete = true
			l.checkedAt, l.fullAt = start, start
		}
		l.broadcastLocked()
	})
}

var errSuperseded = errors.New("listing superseded")

// listAll runs q to the end and returns everything with a well-formed
// SID, once each.
func (l *Listing) listAll(q record.TranscriptQuery) ([]record.Transcript, error) {
	var all []record.Transcript
	q.PageSize = l.c.opts.PageSize
	f := newSIDFilter("GT")
	err := l.c.src.ListTranscripts(l.c.ctx, q, func(page []record.Transcript) error {
		for _, t := range page {
			if f.keep(t.SID) {
				all = append(all, t)
			}
		}
		return nil
	})
	f.warn(l.c.log, "transcripts of "+l.q.ServiceSID)
	return all, err
}

// incremental asks only for transcripts created since the newest one known
// (minus a safety margin) and re-reads those not finished, then publishes a
// new generation.
func (l *Listing) incremental(done chan struct{}) {
	defer func() {
		l.mu.Lock()
		l.refresh = nil
		l.mu.Unlock()
		close(done)
	}()
	start := time.Now()
	l.mu.Lock()
	old := l.cur
	l.mu.Unlock()
	var newest time.Time
	var unfinished []string
	for _, t := range old.items {
		if t.DateCreated.After(newest) {
			newest = t.DateCreated
		}
		if !t.Completed() && !finalStatus(t.Status) {
			unfinished = append(unfinished, t.SID)
		}
	}
	q := l.q
	if !newest.IsZero() {
		after := newest.Add(-l.c.opts.RefreshMargin)
		if after.After(q.AfterDateCreated) {
			q.AfterDateCreated = after
		}
	}
	fresh, err := l.listAll(q)
	if err != nil {
		l.c.log.Warn("refreshing a transcripts listing failed; serving the previous one", "service", l.q.ServiceSID, "err", err)
		return
	}
	updated, gone := l.reread(unfinished)
	g := newGeneration(len(old.items) + len(fresh))
	for _, t := range fresh {
		if _, known := old.index[t.SID]; !known {
			g.add(t)
		}
	}
	for _, t := range old.items {
		if gone[t.SID] || l.c.IsGone(t.SID) {
			continue
		}
		if u, ok := updated[t.SID]; ok {
			t = u
		}
		g.add(t)
	}
	for _, t := range fresh { // updates of known ones
		if i, ok := g.index[t.SID]; ok {
			g.items[i] = t
		}
	}
	g.complete = true
	for _, t := range g.items {
		l.c.updateTranscript(t)
	}
	l.mu.Lock()
	if l.cur == old {
		l.cur = g
		l.checkedAt = start
		l.broadcastLocked()
	}
	l.mu.Unlock()
	for sid := range gone {
		l.c.transcriptGone(sid)
	}
}

// reread fetches transcripts that were not finished, a few at a time.
func (l *Listing) reread(sids []string) (map[string]record.Transcript, map[string]bool) {
	updated := map[string]record.Transcript{}
	gone := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, l.c.opts.Concurrency)
	for _, sid := range sids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t, err := l.c.src.FetchTranscript(l.c.ctx, sid)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, record.ErrNotFound):
				gone[sid] = true
			case err == nil:
				updated[sid] = t
			}
		}()
	}
	wg.Wait()
	return updated, gone
}

// relist lists everything again in the background (the only way to see
// deletions), then swaps generations and invalidates what disappeared.
func (l *Listing) relist() {
	start := time.Now()
	all, err := l.listAll(l.q)
	l.mu.Lock()
	l.relisting = false
	if err != nil {
		l.mu.Unlock()
		l.c.log.Warn("full relist failed; serving the previous listing", "service", l.q.ServiceSID, "err", err)
		return
	}
	old := l.cur
	g := newGeneration(len(all))
	for _, t := range all {
		if !l.c.IsGone(t.SID) {
			g.add(t)
		}
	}
	var gone []string
	for _, t := range old.items {
		if _, ok := g.index[t.SID]; ok {
			continue
		}
		// Created after the relist started: paging may not have reached it.
		if !t.DateCreated.Before(start.Add(-l.c.opts.RefreshMargin)) {
			g.add(t)
			continue
		}
		gone = append(gone, t.SID)
	}
	g.complete = true
	l.cur = g
	l.checkedAt, l.fullAt = start, start
	l.extra = map[string]record.Transcript{}
	l.broadcastLocked()
	l.mu.Unlock()
	for _, t := range g.items {
		l.c.updateTranscript(t)
	}
	for _, sid := range gone {
		l.c.transcriptGone(sid)
	}
}

// Find returns the transcript sid of this listing: listed, looked up
// before, or fetched once (a SID not listed yet). Only a 404 or a transcript
// of another service/date range is "not found".
func (l *Listing) Find(ctx context.Context, sid string) (record.Transcript, error) {
	if l.c.IsGone(sid) {
		return record.Transcript{}, record.ErrNotFound
	}
	l.mu.Lock()
	if g := l.cur; g != nil {
		if i, ok := g.index[sid]; ok {
			t := g.items[i]
			l.mu.Unlock()
			return t, nil
		}
	}
	if t, ok := l.extra[sid]; ok {
		l.mu.Unlock()
		return t, nil
	}
	l.mu.Unlock()
	t, err := l.c.fetchTranscript(ctx, sid)
	if err != nil {
		return record.Transcript{}, err
	}
	if t.ServiceSID != l.q.ServiceSID ||
		(!l.q.AfterDateCreated.IsZero() && t.DateCreated.Before(l.q.AfterDateCreated)) ||
		(!l.q.BeforeDateCreated.IsZero() && !t.DateCreated.Before(l.q.BeforeDateCreated)) {
		return record.Transcript{}, record.ErrNotFound
	}
	l.mu.Lock()
	l.extra[sid] = t
	l.mu.Unlock()
	return t, nil
}

// drop removes sid from the current generation (copy-on-write) after an
// upstream deletion.
func (l *Listing) drop(sid string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.extra, sid)
	g := l.cur
	if g == nil {
		return false
	}
	if _, ok := g.index[sid]; !ok {
		return false
	}
	if !g.complete {
		// Still streaming: isGone filters the rest; streams skip it too.
		return true
	}
	ng := newGeneration(len(g.items))
	for _, t := range g.items {
		if t.SID != sid {
			ng.add(t)
		}
	}
	ng.complete = true
	l.cur = ng
	l.broadcastLocked()
	return true
}

// finalStatus reports statuses that will not change any more.
func finalStatus(s string) bool {
	switch s {
	case "completed", "failed", "canceled", "error":
		return true
	}
	return false
}

// Next returns the SID at position pos of g (a generation Open returned),
// waiting (interruptibly: ErrInterrupted) for the next page while the
// first load is still running, so a folder read shows entries after the
// first page. more is false at the end of g; err is the error of a load
// that failed. Transcripts deleted upstream meanwhile are skipped: next is
// the position to ask for after sid.
func (l *Listing) Next(ctx context.Context, g *Generation, pos int) (sid string, next int, more bool, err error) {
	for {
		l.mu.Lock()
		for pos >= len(g.items) && !g.complete && g.err == nil {
			ch := l.changed
			l.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return "", pos, false, ErrInterrupted
			}
			l.mu.Lock()
		}
		if pos < len(g.items) {
			sid := g.items[pos].SID
			pos++
			l.mu.Unlock()
			if l.c.IsGone(sid) {
				continue
			}
			return sid, pos, true, nil
		}
		err := g.err
		l.mu.Unlock()
		return "", pos, false, err
	}
}

// Completed waits (interruptibly) until the current generation is
// complete, starting the first load if none ran, and returns it.
func (l *Listing) Completed(ctx context.Context) (*Generation, error) {
	l.mu.Lock()
	for {
		g := l.cur
		if g == nil {
			l.startLoadLocked()
			continue
		}
		if g.err != nil {
			l.mu.Unlock()
			return nil, g.err
		}
		if g.complete {
			l.mu.Unlock()
			return g, nil
		}
		ch := l.changed
		l.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ErrInterrupted
		}
		l.mu.Lock()
	}
}

// Checked is when the listing was last checked with Twilio.
func (l *Listing) Checked() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.checkedAt
}

// forget drops a complete listing: the next open starts a new full load.
// A load still running is left to finish (it is as fresh as can be).
func (l *Listing) forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil || !l.cur.complete {
		return
	}
	l.cur = nil
	l.extra = map[string]record.Transcript{}
	l.broadcastLocked()
}

// listed returns sid from the current generation, if it is there.
func (l *Listing) listed(sid string) (record.Transcript, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if g := l.cur; g != nil {
		if i, ok := g.index[sid]; ok {
			return g.items[i], true
		}
	}
	return record.Transcript{}, false
}

// Len is the number of transcripts of a complete generation (Completed).
// A complete generation never changes.
func (g *Generation) Len() int { return len(g.items) }

// At returns transcript i of a complete generation, in listing order.
func (g *Generation) At(i int) record.Transcript { return g.items[i] }
