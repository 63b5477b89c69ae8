package fs

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

// Cache keys: one per content file, shared by every path showing it.
func keySentences(sid string) string { return sid + "/sentences.json" }
func keyTxt(sid string) string       { return sid + "/sentences.txt" }
func keyOpResult(sid string, n int) string {
	return sid + "/operator-results/" + strconv.Itoa(n) + ".json"
}

// locationsTTL is how long operator-result locations are reused; presigned
// URLs live 15 minutes by default and fetch re-asks once on expiry anyway.
const locationsTTL = 10 * time.Minute

// flightGroup shares one fetch among concurrent misses of one key.
type flightGroup struct {
	mu    sync.Mutex
	m     map[string]*flight
	calls map[string]*sharedCall
}

// flight is one in-progress fetch. Its buffer carries one pin of its own,
// held until every waiter has taken its own pin or given up, so a file
// larger than the whole cache still reaches each reader.
type flight struct {
	done    chan struct{}
	buf     *plainBuffer
	err     error
	waiters int
	ended   bool
	cancel  context.CancelFunc // stops the fetch once nobody waits (abandon)
	dropped bool               // cancelled: a new miss starts afresh
}

// abandonAfter is how long a fetch goes on once its last waiter was
// interrupted: long enough for the interrupted tool (or the user) to try
// again and find it still running, short enough that a reader killed for
// good does not leave downloads running behind it.
const abandonAfter = 5 * time.Second

func (r *Root) abandonAfter() time.Duration {
	if r.opts.abandonAfter > 0 {
		return r.opts.abandonAfter
	}
	return abandonAfter
}

// abandon cancels f unless a waiter joins (or it ends) within
// abandonAfter. Called with fg.mu held, once f.waiters dropped to 0.
func (r *Root) abandon(f *flight) {
	time.AfterFunc(r.abandonAfter(), func() {
		fg := &r.flights
		fg.mu.Lock()
		defer fg.mu.Unlock()
		if f.waiters == 0 && !f.ended && !f.dropped {
			f.dropped = true
			f.cancel()
		}
	})
}

// load returns the plaintext of key, pinned (the caller Releases it; a nil
// buffer with a nil error is empty content). A cache hit returns at once.
// A miss joins or starts the shared fetch fn, which runs detached from the
// requester (bounded by the mount's lifetime): when the kernel interrupts
// the request, load returns errInterrupted (EINTR) and the fetch goes on
// and fills the cache for the retry.
func (r *Root) load(ctx context.Context, key string, fn func(context.Context) (*plainBuffer, error)) (*plainBuffer, error) {
	if b, ok := r.cache.Get(key); ok {
		return b, nil
	}
	fg := &r.flights
	fg.mu.Lock()
	f := fg.m[key]
	if f == nil || f.dropped {
		// Re-check under the lock: a flight may have just filled the cache.
		if b, ok := r.cache.Get(key); ok {
			fg.mu.Unlock()
			return b, nil
		}
		fctx, cancel := context.WithCancel(r.ctx)
		f = &flight{done: make(chan struct{}), cancel: cancel}
		fg.m[key] = f
		r.goBG(func() { r.runFlight(fctx, key, f, fn) })
	}
	f.waiters++
	fg.mu.Unlock()
	select {
	case <-f.done:
		return r.leave(f, true)
	case <-ctx.Done():
		r.leave(f, false)
		return nil, errInterrupted
	}
}

func (r *Root) runFlight(ctx context.Context, key string, f *flight, fn func(context.Context) (*plainBuffer, error)) {
	buf, err := fn(ctx)
	f.cancel()
	if err == nil && buf != nil {
		r.cache.Add(key, buf)
	}
	fg := &r.flights
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
func (r *Root) leave(f *flight, got bool) (*plainBuffer, error) {
	fg := &r.flights
	fg.mu.Lock()
	defer fg.mu.Unlock()
	f.waiters--
	var b *plainBuffer
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
			r.abandon(f)
		}
		return nil, errInterrupted
	}
	return b, err
}

// inFlight reports whether key is being fetched.
func (r *Root) inFlight(key string) bool {
	r.flights.mu.Lock()
	defer r.flights.mu.Unlock()
	return r.flights.m[key] != nil
}

// content kinds of a transcript folder.
type contentKind int

const (
	kindSentences contentKind = iota
	kindTxt
	kindOpResult
	numKinds
)

// contentKey names the cache entry of a content file.
func contentKey(sid string, kind contentKind, n int) string {
	switch kind {
	case kindSentences:
		return keySentences(sid)
	case kindTxt:
		return keyTxt(sid)
	}
	return keyOpResult(sid, n)
}

// loadContent returns one content file of ts, pinned, fetching and
// decrypting it on a miss. It records the exact size, logs the one line of
// DESIGN.md §5 on failure, and handles a deletion upstream.
func (r *Root) loadContent(ctx context.Context, ts *tstate, kind contentKind, n int) (*plainBuffer, error) {
	key := contentKey(ts.sid, kind, n)
	if err := r.denied.check(ts.sid); err != nil {
		if b, ok := r.cache.Get(key); ok { // cached before: still served
			return b, nil
		}
		return nil, err
	}
	buf, err := r.load(ctx, key, func(ctx context.Context) (*plainBuffer, error) {
		t := ts.transcript()
		b, err := r.fetchContent(ctx, ts, t, kind, n)
		if errors.Is(err, crypto.ErrUnwrap) && !errors.As(err, new(loggedError)) {
			r.denied.add(ts.sid)
		}
		switch {
		case err == nil:
			ts.setSize(key, int64(bufLen(b)))
		case errors.Is(err, errNotFound):
			r.goBG(func() { r.transcriptGone(ts.sid) })
		case errors.Is(err, errNoTxt):
			r.log.Warn("sentences.txt left out: cannot parse the sentences document", "transcript", ts.sid, "err", err)
		case errors.As(err, new(loggedError)):
			// sentences.txt of a sentences.json that failed: that load
			// wrote the one line already.
		default:
			r.logFailure(ts.sid, t.EncryptionCredentialSID, "fetch "+key[len(ts.sid)+1:], err)
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
var errNoTxt = fmt.Errorf("sentences.txt not derivable: %w", errAbsent)

// fetchContent does the actual work of one miss.
func (r *Root) fetchContent(ctx context.Context, ts *tstate, t Transcript, kind contentKind, n int) (*plainBuffer, error) {
	switch kind {
	case kindSentences:
		if t.Encrypted() {
			return r.openSealed(t, func(open opener) error { return r.src.OpenSentences(ctx, t, open) })
		}
		doc, err := r.src.PlainSentences(ctx, t.SID)
		if err != nil {
			return nil, err
		}
		return r.copyIn(doc)
	case kindTxt:
		src, err := r.loadContent(ctx, ts, kindSentences, 0)
		if err != nil {
			return nil, loggedError{err}
		}
		var doc []byte
		if src != nil {
			doc = src.Bytes()
		}
		txt, err := r.deriveTxt(doc, sentencetext.LabelsFromChannel(t.Channel())) // straight into the arena
		if src != nil {
			src.Release()
		}
		if errors.Is(err, errNoTxt) {
			r.txtAbsent(ts)
		}
		return txt, err
	default:
		if t.Encrypted() {
			locs, err := r.locations(ctx, ts, false)
			if err != nil {
				return nil, err
			}
			if n < 1 || n > len(locs) {
				return nil, errNotFoundResult
			}
			return r.openSealed(t, func(open opener) error {
				return r.src.OpenOperatorResult(ctx, t, n-1, locs[n-1], open)
			})
		}
		docs, err := r.plainOpResults(ctx, ts)
		if err != nil {
			return nil, err
		}
		if n < 1 || n > len(docs) {
			clearAll(docs)
			return nil, errNotFoundResult
		}
		// Keep the one asked for; put the others in the cache on the way.
		var mine *plainBuffer
		for i, d := range docs {
			b, err := r.copyIn(d)
			if err != nil {
				clearAll(docs)
				return nil, err
			}
			ts.setSize(keyOpResult(t.SID, i+1), int64(len(d)))
			if i+1 == n {
				mine = b
				continue
			}
			if b != nil {
				r.cache.Add(keyOpResult(t.SID, i+1), b)
				b.Release()
			}
		}
		return mine, nil
	}
}

// errNotFoundResult is an operator result index past the end: ENOENT, but
// not a deletion of the transcript.
var errNotFoundResult = fmt.Errorf("no such operator result: %w", errAbsent)

func clearAll(docs [][]byte) {
	for _, d := range docs {
		clear(d)
	}
}

// plainOpResults fetches all pages of a plain transcript's operator
// results and records their count. The caller clears the slices.
func (r *Root) plainOpResults(ctx context.Context, ts *tstate) ([][]byte, error) {
	docs, err := r.src.PlainOperatorResults(ctx, ts.sid)
	if err != nil {
		return nil, err
	}
	ts.mu.Lock()
	ts.opCount = len(docs)
	ts.mu.Unlock()
	return docs, nil
}

// locations returns the encrypted operator-result locations of ts, asking
// the API when they are unknown or old. Concurrent callers share one call.
func (r *Root) locations(ctx context.Context, ts *tstate, fresh bool) ([]string, error) {
	ts.mu.Lock()
	if ts.locs != nil && !fresh {
		l := ts.locs
		ts.mu.Unlock()
		return l, nil
	}
	ts.mu.Unlock()
	v, err := r.shared(ctx, ts.sid+"/locations", func(ctx context.Context) (any, error) {
		locs, err := r.src.OperatorResultLocations(ctx, ts.transcript())
		if err != nil {
			return nil, err
		}
		if locs == nil {
			locs = []string{}
		}
		ts.mu.Lock()
		ts.locs = locs
		ts.opCount = len(locs)
		ts.mu.Unlock()
		// Presigned URLs expire; forget them before they do.
		time.AfterFunc(locationsTTL, func() {
			ts.mu.Lock()
			ts.locs = nil
			ts.mu.Unlock()
		})
		return locs, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]string), nil
}

// opCount returns the number of operator results of ts (one API call the
// first time a transcript's operator-results folder is listed).
func (r *Root) opCount(ctx context.Context, ts *tstate) (int, error) {
	ts.mu.Lock()
	c := ts.opCount
	t := ts.t
	ts.mu.Unlock()
	if c >= 0 {
		return c, nil
	}
	if t.Encrypted() {
		locs, err := r.locations(ctx, ts, false)
		if err != nil {
			r.logFailure(ts.sid, t.EncryptionCredentialSID, "operator-result locations", err)
			if errors.Is(err, errNotFound) {
				r.goBG(func() { r.transcriptGone(ts.sid) })
			}
			return 0, err
		}
		return len(locs), nil
	}
	v, err := r.shared(ctx, ts.sid+"/plainops", func(ctx context.Context) (any, error) {
		docs, err := r.plainOpResults(ctx, ts)
		if err != nil {
			return nil, err
		}
		for i, d := range docs {
			key := keyOpResult(ts.sid, i+1)
			ts.setSize(key, int64(len(d)))
			if b, err := r.copyIn(d); err == nil && b != nil {
				r.cache.Add(key, b)
				b.Release()
			}
		}
		return len(docs), nil
	})
	if err != nil {
		r.logFailure(ts.sid, "", "plain operator results", err)
		return 0, err
	}
	return v.(int), nil
}

// sharedCall is a detached single-flight call for metadata.
type sharedCall struct {
	done chan struct{}
	v    any
	err  error
}

// shared runs fn once for concurrent callers of key, detached from ctx.
func (r *Root) shared(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	fg := &r.flights
	fg.mu.Lock()
	if fg.calls == nil {
		fg.calls = map[string]*sharedCall{}
	}
	c := fg.calls[key]
	if c == nil {
		c = &sharedCall{done: make(chan struct{})}
		fg.calls[key] = c
		r.goBG(func() {
			v, err := fn(r.ctx)
			fg.mu.Lock()
			c.v, c.err = v, err
			delete(fg.calls, key)
			fg.mu.Unlock()
			close(c.done)
		})
	}
	fg.mu.Unlock()
	select {
	case <-c.done:
		return c.v, c.err
	case <-ctx.Done():
		return nil, errInterrupted
	}
}

// openSealed runs get (one of the Source's Open methods) with an opener
// that decrypts into an off-heap buffer, and returns that buffer. The
// Source may call the opener twice (an entry of its sealed cache that did
// not open, then the download): a failed attempt holds no buffer.
func (r *Root) openSealed(t Transcript, get func(opener) error) (*plainBuffer, error) {
	var buf *plainBuffer
	err := get(func(env crypto.Envelope) error {
		b, err := r.decrypt(t, env)
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
func (r *Root) decrypt(t Transcript, env crypto.Envelope) (*plainBuffer, error) {
	n := env.PlaintextLen()
	if n < 0 {
		r.decryptFailures.Add(1)
		return nil, fmt.Errorf("envelope body shorter than the GCM tag: %w", crypto.ErrMalformed)
	}
	if r.dec == nil {
		r.decryptFailures.Add(1)
		return nil, fmt.Errorf("no private keys loaded: %w", crypto.ErrUnwrap)
	}
	if n == 0 {
		out, err := r.dec.Open(t.EncryptionCredentialSID, env, nil)
		clear(out)
		if err != nil {
			r.decryptFailures.Add(1)
		}
		return nil, err
	}
	buf, err := r.cache.Alloc(n)
	if err != nil {
		return nil, err
	}
	dst := buf.Bytes()
	out, err := r.dec.Open(t.EncryptionCredentialSID, env, dst[:0])
	if err != nil {
		r.decryptFailures.Add(1)
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
// copy (best effort: the decoder that produced it may have left others).
func (r *Root) copyIn(b []byte) (*plainBuffer, error) {
	if len(b) == 0 {
		return nil, nil
	}
	buf, err := r.cache.Alloc(len(b))
	if err != nil {
		return nil, err
	}
	copy(buf.Bytes(), b)
	clear(b)
	return buf, nil
}

// bufLen is the length of possibly-nil (empty) content.
func bufLen(b *plainBuffer) int {
	if b == nil {
		return 0
	}
	return len(b.Bytes())
}

// txtAbsent records that sentences.txt cannot be derived for ts and makes
// the kernel forget the entry and the cached folder listings showing it.
func (r *Root) txtAbsent(ts *tstate) {
	ts.mu.Lock()
	already := ts.noTxt
	ts.noTxt = true
	ts.mu.Unlock()
	if already {
		return
	}
	dirs := ts.dirNodes()
	r.notifier.queue(func() {
		for _, d := range dirs {
			if ch := d.GetChild("sentences.txt"); ch != nil {
				d.RmChild("sentences.txt")
				d.NotifyDelete("sentences.txt", ch)
			} else {
				d.NotifyEntry("sentences.txt")
			}
			d.NotifyContent(0, 0) // the cached listing (FOPEN_CACHE_DIR)
		}
	})
}
