package catalog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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

// plan decides how to fetch t's content (Loader.Plan, with the services
// snapshot).
func (c *Catalog) plan(ctx context.Context, t record.Transcript) record.ContentPlan {
	return c.loader.Plan(ctx, t)
}

// fetchContent does the actual work of one miss.
func (c *Catalog) fetchContent(ctx context.Context, e *Entry, t record.Transcript, kind Kind, n int) (*plaincache.Buffer, error) {
	switch kind {
	case KindSentences:
		return c.loader.Sentences(ctx, t)
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
		rs, err := c.loader.OperatorResults(ctx, t)
		if rs != nil {
			defer rs.Release()
		}
		if err != nil {
			return nil, err
		}
		if rs.Plain() {
			c.keepPlainResults(e, rs, n)
		}
		return rs.Open(ctx, n-1)
	}
}

// errNotFoundResult is an operator result index past the end: ENOENT, but
// not a deletion of the transcript.
var errNotFoundResult = fmt.Errorf("no such operator result: %w", ErrAbsent)

// keepPlainResults records the count and sizes of a transcript's plain
// operator results and puts every one but result skip (the reader's, which
// the caller's own cache entry gets) in the cache: they came in one answer.
func (c *Catalog) keepPlainResults(e *Entry, rs *Results, skip int) {
	e.mu.Lock()
	e.opCount = rs.Len()
	e.mu.Unlock()
	for i := range rs.Len() {
		key := KeyOpResult(e.sid, i+1)
		e.setSize(key, int64(rs.Size(i)))
		if i+1 == skip {
			continue
		}
		b, err := rs.Open(context.Background(), i)
		if err != nil {
			continue // not copied into the arena: the read fetches it again
		}
		if b != nil {
			c.cache.Add(key, b)
			b.Release()
		}
	}
}

// sealedResults is the Loader's source of a transcript's sealed operator
// results: kept in the entry (the value refreshes its own locations), asked
// for once for concurrent callers.
func (c *Catalog) sealedResults(ctx context.Context, t record.Transcript) (record.SealedResults, error) {
	e := c.lookup(t.SID)
	if e == nil {
		return c.src.SealedOperatorResults(ctx, t)
	}
	e.mu.Lock()
	rs := e.ops
	e.mu.Unlock()
	if rs != nil {
		return rs, nil
	}
	v, err := c.shared(ctx, e.sid+"/locations", func(ctx context.Context) (any, error) {
		rs, err := c.src.SealedOperatorResults(ctx, t)
		if err != nil {
			return nil, err
		}
		e.mu.Lock()
		e.ops, e.opCount = rs, rs.Len()
		e.mu.Unlock()
		return rs, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(record.SealedResults), nil
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
		rs, err := c.loader.OperatorResults(ctx, t)
		if rs == nil {
			return nil, err
		}
		defer rs.Release()
		if rs.Plain() {
			// A result that could not be copied (err) is fetched by its read.
			c.keepPlainResults(e, rs, 0)
		}
		return rs.Len(), nil
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
