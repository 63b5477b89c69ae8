package catalog

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// Entry is what the catalog remembers about one transcript that was
// entered (not merely listed): its latest metadata, content sizes once
// known, operator-result counts and locations, back-offs of content missing
// upstream, and whether it was deleted upstream. The by-date and service
// paths share it. The filesystem keys the inodes showing it by SID.
type Entry struct {
	sid string

	mu      sync.Mutex
	t       record.Transcript
	meta    []byte                     // transcript.json of t, made once per version; nil until asked
	sizes   map[string]int64           // content key -> exact size, once fetched
	noTxt   bool                       // sentences.txt could not be derived
	gone    bool                       // deleted upstream; guarded by Catalog.tMu
	opCount int                        // number of operator results, -1 unknown
	ops     record.SealedResults       // encrypted operator results, nil until asked
	missing map[string]*missingContent // content keys failing with a missingError
}

// Entry returns the entry of t, creating it, and refreshes its metadata.
func (c *Catalog) Entry(t record.Transcript) *Entry {
	c.tMu.Lock()
	defer c.tMu.Unlock()
	e := c.entries[t.SID]
	if e == nil {
		e = newEntry(t.SID)
		e.t = t
		c.entries[t.SID] = e
		return e
	}
	e.setTranscript(t)
	return e
}

// lookup returns the entry of sid, or nil when it was never entered.
func (c *Catalog) lookup(sid string) *Entry {
	c.tMu.Lock()
	defer c.tMu.Unlock()
	return c.entries[sid]
}

// newEntry is the entry of a transcript nothing is known of yet.
func newEntry(sid string) *Entry {
	return &Entry{sid: sid, opCount: -1, sizes: map[string]int64{}}
}

// updateTranscript refreshes the metadata of an entered transcript.
func (c *Catalog) updateTranscript(t record.Transcript) {
	if e := c.lookup(t.SID); e != nil {
		e.setTranscript(t)
	}
}

// setTranscript replaces the metadata (a new version drops the old
// transcript.json, and the sealed operator results, which are bound to the
// version).
func (e *Entry) setTranscript(t record.Transcript) {
	e.mu.Lock()
	if !t.DateUpdated.Equal(e.t.DateUpdated) || t.EncryptionCredentialSID != e.t.EncryptionCredentialSID {
		e.ops = nil
	}
	e.t, e.meta = t, nil
	e.mu.Unlock()
}

// SID is the transcript's SID.
func (e *Entry) SID() string { return e.sid }

// MetaJSON returns transcript.json and its mtime. It is made once per
// version, not per READ: where the kernel reads without OPEN each READ
// asks for it, and a `cat` of it must not redo the work a page at a time.
// The caller must not modify it.
func (e *Entry) MetaJSON() ([]byte, time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.meta == nil {
		e.meta = e.t.JSON()
	}
	return e.meta, e.t.DateUpdated
}

// Transcript returns the latest metadata.
func (e *Entry) Transcript() record.Transcript {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.t
}

// Size returns the exact size of content key, once it was fetched.
func (e *Entry) Size(key string) (int64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := e.sizes[key]
	return n, ok
}

func (e *Entry) setSize(key string, n int64) {
	e.mu.Lock()
	e.sizes[key] = n
	e.mu.Unlock()
}

// NoTxt reports that sentences.txt cannot be derived (the file is absent).
func (e *Entry) NoTxt() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.noTxt
}

// missingContent is a content file whose last fetch failed with a
// missingError: reads fail at once until retryAt, then fetch again.
type missingContent struct {
	err     error
	retryAt time.Time
	delay   time.Duration
}

// backingOff returns the failure of key while its back-off lasts (no
// request, no new log line), else nil.
func (e *Entry) backingOff(key string, now time.Time) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m := e.missing[key]; m != nil && now.Before(m.retryAt) {
		return m.err
	}
	return nil
}

// failed records a missingError for key and starts (or doubles) its
// back-off, from first up to missingRetryMax.
func (e *Entry) failed(key string, err error, now time.Time, first time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.missing == nil {
		e.missing = map[string]*missingContent{}
	}
	d := first
	if m := e.missing[key]; m != nil {
		d = min(2*m.delay, missingRetryMax)
	}
	e.missing[key] = &missingContent{err: err, retryAt: now.Add(d), delay: d}
}

// recovered forgets the back-off of key after a successful fetch.
func (e *Entry) recovered(key string) {
	e.mu.Lock()
	delete(e.missing, key)
	e.mu.Unlock()
}

// contentKeys returns the cache keys of every content file of e that may
// be cached: the sentences, the text view, and each file whose size was
// recorded (every fetched operator result, also one fetched as part of a
// plain transcript's whole list), and every operator result the known
// count or locations name.
func (e *Entry) contentKeys() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	keys := []string{KeySentences(e.sid), KeyTxt(e.sid)}
	seen := map[string]bool{keys[0]: true, keys[1]: true}
	for k := range e.sizes {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	n := e.opCount
	if e.ops != nil {
		n = max(n, e.ops.Len())
	}
	for i := 1; i <= n; i++ {
		if k := KeyOpResult(e.sid, i); !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// IsGone reports a transcript seen deleted upstream.
func (c *Catalog) IsGone(sid string) bool {
	c.tMu.Lock()
	defer c.tMu.Unlock()
	e := c.entries[sid]
	return e != nil && e.gone
}

// fetchTranscript fetches one transcript resource.
func (c *Catalog) fetchTranscript(ctx context.Context, sid string) (record.Transcript, error) {
	t, err := c.src.FetchTranscript(ctx, sid)
	if err != nil {
		if errors.Is(err, record.ErrNotFound) {
			// Gone upstream, as far as the mount can tell: its sealed
			// objects go too (fetch's reads change nothing on disk).
			c.src.DropSealed(sid)
		}
		c.LogFailure(sid, "", "fetch transcript", err)
		return record.Transcript{}, err
	}
	return t, nil
}

// TranscriptByID finds a transcript anywhere: entered, listed, or fetched.
func (c *Catalog) TranscriptByID(ctx context.Context, sid string) (record.Transcript, error) {
	if c.IsGone(sid) {
		return record.Transcript{}, record.ErrNotFound
	}
	if e := c.lookup(sid); e != nil {
		return e.Transcript(), nil
	}
	for _, l := range c.allListings() {
		if t, ok := l.listed(sid); ok {
			return t, nil
		}
	}
	return c.fetchTranscript(ctx, sid)
}

// allListings returns every listing made so far.
func (c *Catalog) allListings() []*Listing {
	c.listMu.Lock()
	defer c.listMu.Unlock()
	ls := make([]*Listing, 0, len(c.listings))
	for _, l := range c.listings {
		ls = append(ls, l)
	}
	return ls
}

// transcriptGone handles a transcript deleted upstream (a 404 on refresh or
// fetch): it disappears from listings, its plaintext is removed from the
// cache (zeroed once unpinned), its locations are forgotten, and a Gone
// event tells the filesystem to drop the folders showing it.
func (c *Catalog) transcriptGone(sid string) {
	c.tMu.Lock()
	e := c.entries[sid]
	if e == nil {
		e = newEntry(sid)
		c.entries[sid] = e
	}
	already := e.gone
	e.gone = true
	keys := e.contentKeys()
	e.mu.Lock()
	e.ops = nil
	e.mu.Unlock()
	c.tMu.Unlock()
	if already {
		return
	}
	c.log.Info("transcript deleted upstream; removed from the mount and the cache", "transcript", sid)
	c.src.DropSealed(sid)
	for _, l := range c.allListings() {
		l.drop(sid)
	}
	for _, k := range keys {
		c.cache.Remove(k)
	}
	c.events.publish(Event{Kind: Gone, SID: sid})
}

// CacheDropped is the plaintext cache's OnDrop hook: an entry left the
// cache (evicted, expired, removed). A prefetched transcript no longer
// counts against the prefetch budget, and a Dropped event tells the
// filesystem to drop the kernel's pages of the files showing it (keeping
// the memory bound real).
func (c *Catalog) CacheDropped(key string) {
	sid, rest, ok := strings.Cut(key, "/")
	if !ok {
		return
	}
	if rest == "sentences.json" {
		c.prefetcher.forget(sid)
	}
	c.events.publish(Event{Kind: Dropped, SID: sid, Key: key})
}
