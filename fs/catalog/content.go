package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

// Cache keys: one per content file, shared by every path showing it.
func KeySentences(sid string) string { return sid + "/sentences.json" }
func KeyTxt(sid string) string       { return sid + "/sentences.txt" }
func KeyOpResult(sid string, n int) string {
	return sid + "/operator-results/" + strconv.Itoa(n) + ".json"
}

// flightGroup shares one fetch among concurrent misses of one key.
type flightGroup struct {
	mu    sync.Mutex
	m     map[string]*flight
	calls map[string]*sharedCall
	// timers are the pending abandon timers, stopped by Close so none
	// outlives the catalog.
	timers map[*time.Timer]struct{}
	closed bool
}

// flight is one in-progress fetch. Its buffer carries one pin of its own,
// held until every waiter has taken its own pin or given up, so a file
// larger than the whole cache still reaches each reader.
type flight struct {
	detached
	done chan struct{}
	buf  *plaincache.Buffer
	err  error
}

// detached is what a fetch running apart from its requesters (a content
// flight or a shared metadata call) needs to stop once nobody waits for it.
// Its fields are guarded by flights.mu.
type detached struct {
	waiters int
	ended   bool
	cancel  context.CancelFunc // stops the fetch once nobody waits (abandon)
	dropped bool               // cancelled: a new caller starts afresh
}

// abandonAfter is how long a fetch goes on once its last waiter was
// interrupted: long enough for the interrupted tool (or the user) to try
// again and find it still running, short enough that a reader killed for
// good does not leave downloads running behind it.
const abandonAfter = 5 * time.Second

// abandon cancels d unless a waiter joins (or it ends) within
// abandonAfter. Called with fg.mu held, once d.waiters dropped to 0.
func (c *Catalog) abandon(d *detached) {
	fg := &c.flights
	if fg.closed {
		return // Close cancelled every fetch already
	}
	var t *time.Timer
	t = time.AfterFunc(c.opts.AbandonAfter, func() {
		fg.mu.Lock()
		defer fg.mu.Unlock()
		delete(fg.timers, t)
		if d.waiters == 0 && !d.ended && !d.dropped {
			d.dropped = true
			d.cancel()
		}
	})
	fg.timers[t] = struct{}{}
}

// stopTimers stops every pending abandon timer (Close: the catalog's
// context has cancelled their fetches already) and refuses new ones.
func (fg *flightGroup) stopTimers() {
	fg.mu.Lock()
	defer fg.mu.Unlock()
	fg.closed = true
	for t := range fg.timers {
		t.Stop()
	}
	clear(fg.timers)
}

// pendingTimers is how many abandon timers are pending (tests).
func (fg *flightGroup) pendingTimers() int {
	fg.mu.Lock()
	defer fg.mu.Unlock()
	return len(fg.timers)
}

// load returns the plaintext of key, pinned (the caller Releases it; a nil
// buffer with a nil error is empty content). A cache hit returns at once.
// A miss joins or starts the shared fetch fn, which runs detached from the
// requester (bounded by the mount's lifetime): when the kernel interrupts
// the request, load returns ErrInterrupted (EINTR) and the fetch goes on
// and fills the cache for the retry.
func (c *Catalog) load(ctx context.Context, key string, fn func(context.Context) (*plaincache.Buffer, error)) (*plaincache.Buffer, error) {
	if b, ok := c.cache.Get(key); ok {
		return b, nil
	}
	fg := &c.flights
	fg.mu.Lock()
	f := fg.m[key]
	if f == nil || f.dropped {
		// Re-check under the lock: a flight may have just filled the cache.
		if b, ok := c.cache.Get(key); ok {
			fg.mu.Unlock()
			return b, nil
		}
		fctx, cancel := context.WithCancel(c.ctx)
		f = &flight{done: make(chan struct{}), detached: detached{cancel: cancel}}
		fg.m[key] = f
		c.goBG(func() { c.runFlight(fctx, key, f, fn) })
	}
	f.waiters++
	fg.mu.Unlock()
	select {
	case <-f.done:
		return c.leave(f, true)
	case <-ctx.Done():
		c.leave(f, false)
		return nil, ErrInterrupted
	}
}

func (c *Catalog) runFlight(ctx context.Context, key string, f *flight, fn func(context.Context) (*plaincache.Buffer, error)) {
	buf, err := fn(ctx)
	f.cancel()
	if err == nil && buf != nil {
		c.cache.Add(key, buf)
	}
	fg := &c.flights
	fg.mu.Lock()
	f.buf, f.err, f.ended = buf, err, true
	if fg.m[key] == f {
		delete(fg.m, key)
	}
	close(f.done)
	if f.waiters == 0 && f.buf != nil {
		f.buf.Release()
		f.buf = nil
	}
	fg.mu.Unlock()
}

// leave detaches one waiter, taking its own pin when it got the result.
func (c *Catalog) leave(f *flight, got bool) (*plaincache.Buffer, error) {
	fg := &c.flights
	fg.mu.Lock()
	defer fg.mu.Unlock()
	f.waiters--
	var b *plaincache.Buffer
	if got && f.err == nil && f.buf != nil {
		b = f.buf
		b.Pin()
	}
	err := f.err
	if f.waiters == 0 && f.ended && f.buf != nil {
		f.buf.Release()
		f.buf = nil
	}
	if !got {
		if f.waiters == 0 && !f.ended {
			c.abandon(&f.detached)
		}
		return nil, ErrInterrupted
	}
	return b, err
}

// inFlight reports whether key is being fetched.
func (c *Catalog) inFlight(key string) bool {
	c.flights.mu.Lock()
	defer c.flights.mu.Unlock()
	return c.flights.m[key] != nil
}

// content kinds of a transcript folder.
type Kind int

const (
	KindSentences Kind = iota
	KindTxt
	KindOpResult
	NumKinds
)

// ContentKey names the cache entry of a content file.
func ContentKey(sid string, kind Kind, n int) string {
	switch kind {
	case KindSentences:
		return KeySentences(sid)
	case KindTxt:
		return KeyTxt(sid)
	}
	return KeyOpResult(sid, n)
}

// LoadContent returns one content file of e, pinned, fetching and
// decrypting it on a miss. It records the exact size, logs the one line of
// DESIGN.md §5 on failure, and handles a not-found: only the Transcript
// resource's own 404 means deleted (contentMissing).
func (c *Catalog) LoadContent(ctx context.Context, e *Entry, kind Kind, n int) (*plaincache.Buffer, error) {
	key := ContentKey(e.sid, kind, n)
	if err := c.denied.check(e.sid); err != nil {
		if b, ok := c.cache.Get(key); ok { // cached before: still served
			return b, nil
		}
		return nil, err
	}
	if err := e.backingOff(key, time.Now()); err != nil {
		return nil, err
	}
	buf, err := c.load(ctx, key, func(ctx context.Context) (*plaincache.Buffer, error) {
		t := e.Transcript()
		b, err := c.fetchContent(ctx, e, t, kind, n)
		if errors.Is(err, crypto.ErrUnwrap) && !errors.As(err, new(loggedError)) {
			c.denied.add(e.sid)
		}
		if errors.Is(err, record.ErrNotFound) {
			err = c.contentMissing(ctx, e, key, err)
		}
		switch {
		case err == nil:
			e.setSize(key, int64(bufLen(b)))
			e.recovered(key)
		case errors.Is(err, record.ErrNotFound):
			// Deleted upstream: transcriptGone said so at info.
		case errors.Is(err, errNoTxt):
			c.log.Warn("sentences.txt left out: cannot parse the sentences document", "transcript", e.sid, "err", err)
		case errors.As(err, new(loggedError)):
			// sentences.txt of a sentences.json that failed: that load
			// wrote the one line already.
		default:
			c.LogFailure(e.sid, c.plan(ctx, t).Credential, "fetch "+key[len(e.sid)+1:], err)
		}
		return b, err
	})
	return buf, err
}

// loggedError wraps an error whose log line was already written.
type loggedError struct{ error }

func (e loggedError) Unwrap() error { return e.error }

// errNoTxt marks a sentences document the text view cannot parse; the
// file is then absent (ENOENT), never EIO.
var errNoTxt = fmt.Errorf("sentences.txt not derivable: %w", ErrAbsent)

// Back-off after content went missing although its transcript exists: the
// first retry waits missingRetryFirst (Options.MissingContentRetry), each
// further failure doubles it up to missingRetryMax.
const (
	missingRetryFirst = 2 * time.Second
	missingRetryMax   = time.Minute
)

// missingError is content the API or the object store could not find
// while the Transcript resource exists: a fault upstream (a null location,
// a 404 from an encrypted endpoint or the store), not a deletion. It is EIO,
// never ENOENT (which the kernel and tools would cache as "no such file").
type missingError struct{ cause error }

func (e *missingError) Error() string {
	return "content not found although the transcript exists (not a deletion): " + e.cause.Error()
}

// contentMissing decides what a not-found from a content path means, by
// fetching the Transcript resource (once for concurrent callers): its 404
// is a deletion (ENOENT, the transcript leaves the mount); otherwise the
// file fails with a *missingError and the next read waits out a back-off.
func (c *Catalog) contentMissing(ctx context.Context, e *Entry, key string, cause error) error {
	v, err := c.shared(ctx, e.sid+"/verify", func(ctx context.Context) (any, error) {
		return c.src.FetchTranscript(ctx, e.sid)
	})
	switch {
	case errors.Is(err, record.ErrNotFound):
		c.goBG(func() { c.transcriptGone(e.sid) })
		return cause
	case err != nil:
		// Cannot tell: fail this read like any unavailable upstream.
		return fmt.Errorf("%w (and checking the transcript failed: %v)", &missingError{cause}, err)
	}
	c.updateTranscript(v.(record.Transcript))
	merr := &missingError{cause}
	e.failed(key, merr, time.Now(), c.opts.MissingContentRetry)
	return merr
}

// plan decides how to fetch t's content: record.PlanContent with t's
// service (when t does not name its credential and the service cannot be
// had, only t decides, as before the service was known).
func (c *Catalog) plan(ctx context.Context, t record.Transcript) record.ContentPlan {
	var svc record.Service
	if record.NeedsService(t) {
		if s, err := c.Service(ctx, t.ServiceSID); err == nil {
			svc = s
		}
	}
	return record.PlanContent(t, svc)
}

// fetchContent does the actual work of one miss.
func (c *Catalog) fetchContent(ctx context.Context, e *Entry, t record.Transcript, kind Kind, n int) (*plaincache.Buffer, error) {
	p := c.plan(ctx, t)
	switch kind {
	case KindSentences:
		if p.Encrypted {
			return c.encryptedSentences(ctx, t, p)
		}
		doc, err := c.src.PlainSentences(ctx, t.SID)
		if p.PlainMissed(err, record.EmptySentences(doc)) {
			b, eerr := c.encryptedSentences(ctx, t, p)
			if eerr == nil {
				clear(doc)
				return b, nil
			}
			err = record.MissedErr(err, eerr)
			c.log.Debug("content: the encrypted endpoint has no sentences either", "transcript", t.SID, "err", eerr)
		}
		if err != nil {
			return nil, err
		}
		return c.copyIn(doc)
	case KindTxt:
		src, err := c.LoadContent(ctx, e, KindSentences, 0)
		if err != nil {
			return nil, loggedError{err}
		}
		var doc []byte
		if src != nil {
			doc = src.Bytes()
		}
		txt, err := c.deriveTxt(doc, sentencetext.LabelsFromChannel(t.Channel())) // straight into the arena
		if src != nil {
			src.Release()
		}
		if errors.Is(err, errNoTxt) {
			c.txtAbsent(e)
		}
		return txt, err
	default:
		if !p.Encrypted {
			docs, err := c.plainOpResults(ctx, e, p)
			if err != nil {
				return nil, err
			}
			if docs != nil {
				return c.keepPlainResults(e, docs, n)
			}
		}
		return c.encryptedResult(ctx, e, p, n)
	}
}

// encryptedSentences gets (from the sealed cache or a download) and opens a
// transcript's sealed sentences, sealed to the credential p found.
func (c *Catalog) encryptedSentences(ctx context.Context, t record.Transcript, p record.ContentPlan) (*plaincache.Buffer, error) {
	t = p.Sealed(t)
	return c.openSealed(t, func(open func(crypto.Envelope) error) error { return c.src.OpenSentences(ctx, t, open) })
}

// sealedView is t with the credential its plan finds.
func (c *Catalog) sealedView(ctx context.Context, t record.Transcript) record.Transcript {
	return c.plan(ctx, t).Sealed(t)
}

// encryptedResult downloads and opens operator result n of e. Files are
// named by position in the first answer of the locations and found by
// object key afterwards, and a result that names another transcript is
// refused: the order of locations is not documented, and a mix-up must
// never show one transcript's result under another's name.
func (c *Catalog) encryptedResult(ctx context.Context, e *Entry, p record.ContentPlan, n int) (*plaincache.Buffer, error) {
	locs, err := c.locations(ctx, e, false)
	if err != nil {
		return nil, err
	}
	if n < 1 || n > len(locs.keys) {
		return nil, errNotFoundResult
	}
	key := locs.keys[n-1]
	u, ok := locs.urls[key]
	if !ok && !isPlaceholder(key) {
		return nil, fmt.Errorf("operator result %d is no longer among the locations: %w", n, record.ErrNotFound)
	}
	t := p.Sealed(e.Transcript())
	b, err := c.openSealed(t, func(open func(crypto.Envelope) error) error {
		return c.src.OpenOperatorResult(ctx, t, n-1, u, func(ctx context.Context) (string, error) {
			return c.freshLocation(ctx, e, key, u)
		}, open)
	})
	if err != nil {
		return nil, err
	}
	if other := resultTranscript(b); other != "" && other != e.sid {
		b.Release() // zeroed: not ours to serve
		return nil, fmt.Errorf("%w: operator result %d names transcript %s", errSwapped, n, other)
	}
	return b, nil
}

// errSwapped is a decrypted operator result of another transcript (EIO).
var errSwapped = errors.New("operator result belongs to another transcript; refused")

// resultTranscript returns the transcript_sid a decrypted operator result
// names at its top level, or "" when it names none or is not an object.
// Only that one value is copied; the rest of the plaintext is scanned in
// place (rawJSON).
func resultTranscript(b *plaincache.Buffer) string {
	if b == nil {
		return ""
	}
	var doc struct {
		TranscriptSID inPlace `json:"transcript_sid"`
	}
	var sid string
	if json.Unmarshal(b.Bytes(), &doc) != nil || json.Unmarshal(doc.TranscriptSID, &sid) != nil {
		return "" // absent, null, not a string, or not an object at all
	}
	return sid
}

// inPlace is a JSON value as it stands in the document: its UnmarshalJSON
// keeps the slice encoding/json hands over (part of the caller's input)
// instead of copying it, so skipping over the rest of a decrypted document
// leaves no copy of it on the Go heap.
type inPlace []byte

// UnmarshalJSON keeps b (see inPlace).
func (v *inPlace) UnmarshalJSON(b []byte) error {
	*v = b
	return nil
}

// keepPlainResults puts plain operator results in the cache and returns
// result n, pinned. The heap copies are cleared whatever happens, and a
// failure releases what was already taken.
func (c *Catalog) keepPlainResults(e *Entry, docs [][]byte, n int) (*plaincache.Buffer, error) {
	defer clearAll(docs)
	if n < 1 || n > len(docs) {
		return nil, errNotFoundResult
	}
	var mine *plaincache.Buffer
	for i, d := range docs {
		size := int64(len(d))
		b, err := c.copyIn(d)
		if err != nil {
			if mine != nil {
				mine.Release()
			}
			return nil, err
		}
		key := KeyOpResult(e.sid, i+1)
		e.setSize(key, size)
		if i+1 == n {
			mine = b
			continue
		}
		if b != nil {
			c.cache.Add(key, b)
			b.Release()
		}
	}
	return mine, nil
}

// errNotFoundResult is an operator result index past the end: ENOENT, but
// not a deletion of the transcript.
var errNotFoundResult = fmt.Errorf("no such operator result: %w", ErrAbsent)

func clearAll(docs [][]byte) {
	for _, d := range docs {
		clear(d)
	}
}

// plainOpResults fetches all pages of a plain transcript's operator
// results and records their count. The caller clears the slices. Under a
// fallback plan, an error or an empty list gives (nil, nil) when the
// encrypted endpoint has locations: the caller goes there.
func (c *Catalog) plainOpResults(ctx context.Context, e *Entry, p record.ContentPlan) ([][]byte, error) {
	docs, err := c.src.PlainOperatorResults(ctx, e.sid)
	if p.PlainMissed(err, len(docs) == 0) {
		locs, lerr := c.locations(ctx, e, false)
		if lerr == nil && len(locs.keys) > 0 {
			clearAll(docs)
			return nil, nil
		}
	}
	if err != nil {
		return nil, err
	}
	if docs == nil {
		docs = [][]byte{}
	}
	e.mu.Lock()
	e.opCount = len(docs)
	e.mu.Unlock()
	return docs, nil
}

// Presigned locations are reused until locationMargin before they expire
// (read from the URL: record.LocationExpiry), or, when a URL does not say,
// until the object store refuses one.
const locationMargin = 30 * time.Second

// opLocations are the encrypted operator-result locations of a transcript.
// Files are numbered by position in the first answer (keys); later answers,
// in whatever order, update the URL of each object by its key, and objects
// new to a later answer are numbered after the known ones.
type opLocations struct {
	keys    []string          // object keys (record.LocationKey), file n is keys[n-1]
	urls    map[string]string // object key -> current presigned URL (a bearer credential: never logged)
	expires time.Time         // earliest expiry among urls; zero: unknown
}

// usable reports whether the locations can be used at now.
func (l *opLocations) usable(now time.Time) bool {
	return l != nil && (l.expires.IsZero() || now.Before(l.expires))
}

// locations returns the encrypted operator-result locations of e, asking
// the API when they are unknown, about to expire, or fresh is set (the
// object store refused one). Concurrent callers share one call.
func (c *Catalog) locations(ctx context.Context, e *Entry, fresh bool) (*opLocations, error) {
	e.mu.Lock()
	l := e.ops
	e.mu.Unlock()
	if !fresh && l.usable(time.Now()) {
		return l, nil
	}
	v, err := c.shared(ctx, e.sid+"/locations", func(ctx context.Context) (any, error) {
		urls, err := c.src.OperatorResultLocations(ctx, c.sealedView(ctx, e.Transcript()))
		if err != nil {
			return nil, err
		}
		return e.setLocations(urls, time.Now()), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*opLocations), nil
}

// setLocations merges an answer of the locations into ts (see
// opLocations) and returns the new snapshot.
func (e *Entry) setLocations(urls []string, now time.Time) *opLocations {
	e.mu.Lock()
	defer e.mu.Unlock()
	next := &opLocations{urls: make(map[string]string, len(urls))}
	if e.ops != nil {
		next.keys = slices.Clone(e.ops.keys) // earlier snapshots stay as they were
	}
	known := make(map[string]bool, len(next.keys))
	for _, k := range next.keys {
		known[k] = true
	}
	for i, u := range urls {
		if u == "" {
			// The Source's sealed cache knows the count, not the URLs:
			// the file at this position is served from that cache (or
			// the Source asks for the locations itself).
			if i >= len(next.keys) {
				next.keys = append(next.keys, placeholderKey(i))
			}
			continue
		}
		k := record.LocationKey(u)
		switch {
		case known[k]:
		case i < len(next.keys) && isPlaceholder(next.keys[i]):
			next.keys[i] = k // a real answer after a cached count: same order
			known[k] = true
		case len(next.keys) >= record.MaxOperatorResults:
			continue // a server inventing new objects on every answer
		default:
			known[k] = true
			next.keys = append(next.keys, k)
		}
		next.urls[k] = u
		if exp, ok := record.LocationExpiry(u); ok {
			margin := min(locationMargin, exp.Sub(now)/4)
			if at := exp.Add(-margin); next.expires.IsZero() || at.Before(next.expires) {
				next.expires = at
			}
		}
	}
	e.ops = next
	e.opCount = len(next.keys)
	return next
}

// placeholderKey stands for the object at position i while only the sealed
// cache's count of them is known.
func placeholderKey(i int) string { return "#" + strconv.Itoa(i) }

// isPlaceholder reports a placeholderKey.
func isPlaceholder(k string) bool { return strings.HasPrefix(k, "#") }

// freshLocation is the fetch refresh of one object's location after the
// store refused failed: a refresh of the locations, unless another reader
// already refreshed them, matched by object key.
func (c *Catalog) freshLocation(ctx context.Context, e *Entry, key, failed string) (string, error) {
	e.mu.Lock()
	l := e.ops
	e.mu.Unlock()
	fresh := l == nil || l.urls[key] == failed
	l, err := c.locations(ctx, e, fresh)
	if err != nil {
		return "", err
	}
	u, ok := l.urls[key]
	if !ok && !isPlaceholder(key) {
		return "", fmt.Errorf("the operator result is no longer among the locations: %w", record.ErrNotFound)
	}
	return u, nil // "" for a placeholder: the Source asks the API itself
}

// OpCount returns the number of operator results of e (one API call the
// first time a transcript's operator-results folder is listed).
func (c *Catalog) OpCount(ctx context.Context, e *Entry) (int, error) {
	e.mu.Lock()
	n := e.opCount
	t := e.t
	e.mu.Unlock()
	if n >= 0 {
		return n, nil
	}
	const key = "operator-results/"
	if err := e.backingOff(e.sid+"/"+key, time.Now()); err != nil {
		return 0, err
	}
	v, err := c.shared(ctx, e.sid+"/opcount", func(ctx context.Context) (any, error) {
		p := c.plan(ctx, t)
		if !p.Encrypted {
			docs, err := c.plainOpResults(ctx, e, p)
			if err != nil {
				return nil, err
			}
			if docs != nil {
				c.cachePlainResults(e, docs)
				return len(docs), nil
			}
		}
		locs, err := c.locations(ctx, e, false)
		if err != nil {
			return nil, err
		}
		return len(locs.keys), nil
	})
	if errors.Is(err, record.ErrNotFound) {
		err = c.contentMissing(ctx, e, e.sid+"/"+key, err)
	}
	if err != nil {
		if !errors.Is(err, record.ErrNotFound) {
			c.LogFailure(e.sid, c.plan(ctx, t).Credential, "list operator results", err)
		}
		return 0, err
	}
	e.recovered(e.sid + "/" + key)
	return v.(int), nil
}

// cachePlainResults puts every plain operator result in the cache (as far
// as memory allows) and clears the heap copies.
func (c *Catalog) cachePlainResults(e *Entry, docs [][]byte) {
	defer clearAll(docs)
	for i, d := range docs {
		key := KeyOpResult(e.sid, i+1)
		e.setSize(key, int64(len(d)))
		b, err := c.copyIn(d)
		if err != nil {
			return // the reads fetch them again
		}
		if b != nil {
			c.cache.Add(key, b)
			b.Release()
		}
	}
}

// sharedCall is a detached single-flight call for metadata.
type sharedCall struct {
	detached
	done chan struct{}
	v    any
	err  error
}

// shared runs fn once for concurrent callers of key, detached from ctx:
// an interrupted caller returns EINTR and the call goes on for the retry,
// unless nobody waits for it again within abandonAfter (as for content).
func (c *Catalog) shared(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	fg := &c.flights
	fg.mu.Lock()
	if fg.calls == nil {
		fg.calls = map[string]*sharedCall{}
	}
	call := fg.calls[key]
	if call == nil || call.dropped {
		cctx, cancel := context.WithCancel(c.ctx)
		call = &sharedCall{done: make(chan struct{}), detached: detached{cancel: cancel}}
		fg.calls[key] = call
		c.goBG(func() {
			v, err := fn(cctx)
			cancel()
			fg.mu.Lock()
			call.v, call.err, call.ended = v, err, true
			if fg.calls[key] == call {
				delete(fg.calls, key)
			}
			fg.mu.Unlock()
			close(call.done)
		})
	}
	call.waiters++
	fg.mu.Unlock()
	select {
	case <-call.done:
		fg.mu.Lock()
		call.waiters--
		fg.mu.Unlock()
		return call.v, call.err
	case <-ctx.Done():
		fg.mu.Lock()
		call.waiters--
		if call.waiters == 0 && !call.ended {
			c.abandon(&call.detached)
		}
		fg.mu.Unlock()
		return nil, ErrInterrupted
	}
}

// openSealed runs get (one of the Source's Open methods) with an opener
// that decrypts into an off-heap buffer, and returns that buffer. The
// Source may call the opener twice (an entry of its sealed cache that did
// not open, then the download): a failed attempt holds no buffer.
func (c *Catalog) openSealed(t record.Transcript, get func(func(crypto.Envelope) error) error) (*plaincache.Buffer, error) {
	var buf *plaincache.Buffer
	err := get(func(env crypto.Envelope) error {
		b, err := c.decrypt(t.EncryptionCredentialSID, env)
		buf = b
		return err
	})
	if err != nil && buf != nil {
		buf.Release()
		buf = nil
	}
	return buf, err
}

// decrypt opens env straight into an off-heap buffer: the plaintext never
// touches the Go heap.
func (c *Catalog) decrypt(cred string, env crypto.Envelope) (*plaincache.Buffer, error) {
	n := env.PlaintextLen()
	if n < 0 {
		c.decryptFailures.Add(1)
		return nil, fmt.Errorf("envelope body shorter than the GCM tag: %w", crypto.ErrMalformed)
	}
	if c.dec == nil {
		c.decryptFailures.Add(1)
		return nil, fmt.Errorf("no private keys loaded: %w", crypto.ErrUnwrap)
	}
	if n == 0 {
		out, err := c.dec.Open(cred, env, nil)
		clear(out)
		if err != nil {
			c.decryptFailures.Add(1)
		}
		return nil, err
	}
	buf, err := c.alloc(n)
	if err != nil {
		return nil, err
	}
	dst := buf.Bytes()
	out, err := c.dec.Open(cred, env, dst[:0])
	if err != nil {
		c.decryptFailures.Add(1)
		buf.Release()
		return nil, err
	}
	if len(out) != n || &out[0] != &dst[0] {
		// The decrypter did not write in place; copy and wipe its copy.
		copy(dst, out)
		clear(out)
		if len(out) != n {
			buf.Release()
			return nil, fmt.Errorf("plaintext length %d, want %d: %w", len(out), n, crypto.ErrMalformed)
		}
	}
	return buf, nil
}

// copyIn moves plain content into an off-heap buffer and clears the heap
// copy, also when the buffer cannot be had (best effort: the decoder that
// produced it may have left others).
func (c *Catalog) copyIn(b []byte) (*plaincache.Buffer, error) {
	if len(b) == 0 {
		return nil, nil
	}
	buf, err := c.alloc(len(b))
	if err != nil {
		clear(b)
		return nil, err
	}
	copy(buf.Bytes(), b)
	clear(b)
	return buf, nil
}

// bufLen is the length of possibly-nil (empty) content.
func bufLen(b *plaincache.Buffer) int {
	if b == nil {
		return 0
	}
	return len(b.Bytes())
}

// txtAbsent records that sentences.txt cannot be derived for e and
// publishes TxtAbsent, so the filesystem drops the entry and the cached
// folder listings showing it.
func (c *Catalog) txtAbsent(e *Entry) {
	e.mu.Lock()
	already := e.noTxt
	e.noTxt = true
	e.mu.Unlock()
	if already {
		return
	}
	c.events.publish(Event{Kind: TxtAbsent, SID: e.sid})
}
