package web

import (
	"context"
	"strconv"
	"sync"

	"golang.org/x/sync/singleflight"

	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
	"github.com/intelligencefs/intelligencefs/fs/search"
)

// content keeps what the viewer decrypted, as the mount does: the
// documents of completed transcripts (immutable) in the off-heap,
// byte-bounded plaintext cache (zeroed when dropped), transcript records
// seen in listings (so a page opened from a listing fetches no metadata),
// and each listing's order, which prefetch follows.
type content struct {
	src    Source
	dec    catalog.Decrypter
	cache  *plaincache.Cache
	flight singleflight.Group

	mu      sync.Mutex
	meta    map[string]record.Transcript // from listings, bounded by metaMax
	next    map[string][]string          // SID -> the SIDs after it in its listing page
	opCount map[string]int
	sem     chan struct{} // bounds prefetch fetches
}

// metaMax bounds the transcript records kept from listings.
const metaMax = 20000

func newContent(src Source, dec catalog.Decrypter, c *plaincache.Cache, prefetch int) *content {
	return &content{src: src, dec: dec, cache: c, meta: map[string]record.Transcript{},
		next: map[string][]string{}, opCount: map[string]int{}, sem: make(chan struct{}, max(prefetch, 1))}
}

// listed records a listing page: its records and its order.
func (c *content) listed(ts []record.Transcript) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.meta) > metaMax {
		clear(c.meta)
		clear(c.next)
	}
	for i, t := range ts {
		c.meta[t.SID] = t
		var after []string
		for _, u := range ts[i+1:] {
			after = append(after, u.SID)
		}
		c.next[t.SID] = after
	}
}

// transcript returns the record of sid: kept from a listing or an
// earlier fetch if it was completed (final), else fetched.
func (c *content) transcript(ctx context.Context, sid string) (record.Transcript, error) {
	c.mu.Lock()
	t, ok := c.meta[sid]
	c.mu.Unlock()
	if ok && t.Completed() {
		return t, nil
	}
	t, err := c.src.FetchTranscript(ctx, sid)
	if err == nil && t.Completed() {
		c.mu.Lock()
		if len(c.meta) > metaMax {
			clear(c.meta)
			clear(c.next)
		}
		c.meta[sid] = t
		c.mu.Unlock()
	}
	return t, err
}

// docs is one transcript's decrypted documents, pinned until release.
type docs struct {
	sentences []byte
	ops       [][]byte
	bufs      []*plaincache.Buffer
	heap      bool // fetched for one request: wiped on release
}

func (d *docs) release() {
	for _, b := range d.bufs {
		b.Release()
	}
	d.bufs = nil
	if d.heap {
		clear(d.sentences)
		for _, o := range d.ops {
			clear(o)
		}
	}
}

// load returns t's documents, from the cache or fetched and decrypted once
// (concurrent callers share the fetch). Errors name the transcript, never
// carry content.
func (c *content) load(ctx context.Context, t record.Transcript) (*docs, error) {
	if d, ok := c.cached(t.SID); ok {
		return d, nil
	}
	_, err, _ := c.flight.Do(t.SID, func() (any, error) {
		if _, ok := c.cached(t.SID); ok {
			return nil, nil // filled meanwhile; the caller looks again
		}
		doc, err := search.Sentences(context.WithoutCancel(ctx), c.src, c.dec, t)
		if err != nil {
			return nil, err
		}
		ops, err := search.OperatorResults(context.WithoutCancel(ctx), c.src, c.dec, t)
		if err != nil {
			clear(doc)
			return nil, err
		}
		c.put(t.SID+"/s", doc)
		for i, o := range ops {
			c.put(t.SID+"/o/"+strconv.Itoa(i), o)
		}
		c.mu.Lock()
		c.opCount[t.SID] = len(ops)
		c.mu.Unlock()
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	if d, ok := c.cached(t.SID); ok {
		return d, nil
	}
	// Evicted at once (a cache smaller than this transcript): fetch for
	// this request only.
	doc, err := search.Sentences(ctx, c.src, c.dec, t)
	if err != nil {
		return nil, err
	}
	ops, err := search.OperatorResults(ctx, c.src, c.dec, t)
	if err != nil {
		clear(doc)
		return nil, err
	}
	return &docs{sentences: doc, ops: ops, heap: true}, nil
}

// put copies plain into the off-heap cache under key and wipes it.
func (c *content) put(key string, plain []byte) {
	defer clear(plain)
	b, err := c.cache.Alloc(len(plain))
	if err != nil {
		return
	}
	copy(b.Bytes(), plain)
	c.cache.Add(key, b)
	b.Release()
}

// cached returns sid's documents if every one is in the cache, pinned.
func (c *content) cached(sid string) (*docs, bool) {
	c.mu.Lock()
	n, ok := c.opCount[sid]
	c.mu.Unlock()
	if !ok {
		return nil, false
	}
	d := &docs{}
	keys := []string{sid + "/s"}
	for i := range n {
		keys = append(keys, sid+"/o/"+strconv.Itoa(i))
	}
	for i, k := range keys {
		b, ok := c.cache.Get(k)
		if !ok {
			d.release()
			return nil, false
		}
		d.bufs = append(d.bufs, b)
		if i == 0 {
			d.sentences = b.Bytes()
		} else {
			d.ops = append(d.ops, b.Bytes())
		}
	}
	return d, true
}

// prefetch warms the cache with the transcripts listed after sid, in the
// listing's order, as the mount's prefetch follows a walk; at most n.
func (c *content) prefetch(sid string, n int) {
	c.mu.Lock()
	after := c.next[sid]
	var ts []record.Transcript
	for _, s := range after {
		if len(ts) == n {
			break
		}
		if t, ok := c.meta[s]; ok && t.Completed() {
			ts = append(ts, t)
		}
	}
	c.mu.Unlock()
	for _, t := range ts {
		select {
		case c.sem <- struct{}{}:
		default:
			return // prefetch is busy: never queue behind it
		}
		go func() {
			defer func() { <-c.sem }()
			if d, err := c.load(context.Background(), t); err == nil {
				d.release()
			}
		}()
	}
}
