package fs

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
func keySentences(sid string) string { return sid + "/sentences.json" }
func keyTxt(sid string) string       { return sid + "/sentences.txt" }
func keyOpResult(sid string, n int) string {
	return sid + "/operator-results/" + strconv.Itoa(n) + ".json"
}

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

func (r *Root) abandonAfter() time.Duration {
	if r.opts.abandonAfter > 0 {
		return r.opts.abandonAfter
	}
	return abandonAfter
}

// abandon cancels d unless a waiter joins (or it ends) within
// abandonAfter. Called with fg.mu held, once d.waiters dropped to 0.
func (r *Root) abandon(d *detached) {
	time.AfterFunc(r.abandonAfter(), func() {
		fg := &r.flights
		fg.mu.Lock()
		defer fg.mu.Unlock()
		if d.waiters == 0 && !d.ended && !d.dropped {
			d.dropped = true
			d.cancel()
		}
	})
}

// load returns the plaintext of key, pinned (the caller Releases it; a nil
// buffer with a nil error is empty content). A cache hit returns at once.
// A miss joins or starts the shared fetch fn, which runs detached from the
// requester (bounded by the mount's lifetime): when the kernel interrupts
// the request, load returns errInterrupted (EINTR) and the fetch goes on
// and fills the cache for the retry.
func (r *Root) load(ctx context.Context, key string, fn func(context.Context) (*plaincache.Buffer, error)) (*plaincache.Buffer, error) {
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
		f = &flight{done: make(chan struct{}), detached: detached{cancel: cancel}}
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

func (r *Root) runFlight(ctx context.Context, key string, f *flight, fn func(context.Context) (*plaincache.Buffer, error)) {
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
func (r *Root) leave(f *flight, got bool) (*plaincache.Buffer, error) {
	fg := &r.flights
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
			r.abandon(&f.detached)
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
// DESIGN.md §5 on failure, and handles a not-found: only the Transcript
// resource's own 404 means deleted (contentMissing).
func (r *Root) loadContent(ctx context.Context, ts *tstate, kind contentKind, n int) (*plaincache.Buffer, error) {
	key := contentKey(ts.sid, kind, n)
	if err := r.denied.check(ts.sid); err != nil {
		if b, ok := r.cache.Get(key); ok { // cached before: still served
			return b, nil
		}
		return nil, err
	}
	if err := ts.backingOff(key, time.Now()); err != nil {
		return nil, err
	}
	buf, err := r.load(ctx, key, func(ctx context.Context) (*plaincache.Buffer, error) {
		t := ts.transcript()
		b, err := r.fetchContent(ctx, ts, t, kind, n)
		if errors.Is(err, crypto.ErrUnwrap) && !errors.As(err, new(loggedError)) {
			r.denied.add(ts.sid)
		}
		if errors.Is(err, record.ErrNotFound) {
			err = r.contentMissing(ctx, ts, key, err)
		}
		switch {
		case err == nil:
			ts.setSize(key, int64(bufLen(b)))
			ts.recovered(key)
		case errors.Is(err, record.ErrNotFound):
			// Deleted upstream: transcriptGone said so at info.
		case errors.Is(err, errNoTxt):
			r.log.Warn("sentences.txt left out: cannot parse the sentences document", "transcript", ts.sid, "err", err)
		case errors.As(err, new(loggedError)):
			// sentences.txt of a sentences.json that failed: that load
			// wrote the one line already.
		default:
			r.logFailure(ts.sid, r.plan(ctx, t).Credential, "fetch "+key[len(ts.sid)+1:], err)
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
func (r *Root) contentMissing(ctx context.Context, ts *tstate, key string, cause error) error {
	v, err := r.shared(ctx, ts.sid+"/verify", func(ctx context.Context) (any, error) {
		return r.src.FetchTranscript(ctx, ts.sid)
	})
	switch {
	case errors.Is(err, record.ErrNotFound):
		r.goBG(func() { r.transcriptGone(ts.sid) })
		return cause
	case err != nil:
		// Cannot tell: fail this read like any unavailable upstream.
		return fmt.Errorf("%w (and checking the transcript failed: %v)", &missingError{cause}, err)
	}
	r.updateTranscript(v.(record.Transcript))
	merr := &missingError{cause}
	ts.failed(key, merr, time.Now(), r.opts.MissingContentRetry)
	return merr
}

// plan decides how to fetch t's content: record.PlanContent with t's
// service (when t does not name its credential and the service cannot be
// had, only t decides, as before the service was known).
func (r *Root) plan(ctx context.Context, t record.Transcript) record.ContentPlan {
	var svc record.Service
	if record.NeedsService(t) {
		if s, err := r.service(ctx, t.ServiceSID); err == nil {
			svc = s
		}
	}
	return record.PlanContent(t, svc)
}

// fetchContent does the actual work of one miss.
func (r *Root) fetchContent(ctx context.Context, ts *tstate, t record.Transcript, kind contentKind, n int) (*plaincache.Buffer, error) {
	p := r.plan(ctx, t)
	switch kind {
	case kindSentences:
		if p.Encrypted {
			return r.encryptedSentences(ctx, t, p)
		}
		doc, err := r.src.PlainSentences(ctx, t.SID)
		if p.PlainMissed(err, record.EmptySentences(doc)) {
			b, eerr := r.encryptedSentences(ctx, t, p)
			if eerr == nil {
				clear(doc)
				return b, nil
			}
			err = record.MissedErr(err, eerr)
			r.log.Debug("content: the encrypted endpoint has no sentences either", "transcript", t.SID, "err", eerr)
		}
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
		if !p.Encrypted {
			docs, err := r.plainOpResults(ctx, ts, p)
			if err != nil {
				return nil, err
			}
			if docs != nil {
				return r.keepPlainResults(ts, docs, n)
			}
		}
		return r.encryptedResult(ctx, ts, p, n)
	}
}

// encryptedSentences gets (from the sealed cache or a download) and opens a
// transcript's sealed sentences, sealed to the credential p found.
func (r *Root) encryptedSentences(ctx context.Context, t record.Transcript, p record.ContentPlan) (*plaincache.Buffer, error) {
	t = p.Sealed(t)
	return r.openSealed(t, func(open func(crypto.Envelope) error) error { return r.src.OpenSentences(ctx, t, open) })
}

// sealedView is t with the credential its plan finds.
func (r *Root) sealedView(ctx context.Context, t record.Transcript) record.Transcript {
	return r.plan(ctx, t).Sealed(t)
}

// encryptedResult downloads and opens operator result n of ts. Files are
// named by position in the first answer of the locations and found by
// object key afterwards, and a result that names another transcript is
// refused: the order of locations is not documented, and a mix-up must
// never show one transcript's result under another's name.
func (r *Root) encryptedResult(ctx context.Context, ts *tstate, p record.ContentPlan, n int) (*plaincache.Buffer, error) {
	locs, err := r.locations(ctx, ts, false)
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
	t := p.Sealed(ts.transcript())
	b, err := r.openSealed(t, func(open func(crypto.Envelope) error) error {
		return r.src.OpenOperatorResult(ctx, t, n-1, u, func(ctx context.Context) (string, error) {
			return r.freshLocation(ctx, ts, key, u)
		}, open)
	})
	if err != nil {
		return nil, err
	}
	if other := resultTranscript(b); other != "" && other != ts.sid {
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
func (r *Root) keepPlainResults(ts *tstate, docs [][]byte, n int) (*plaincache.Buffer, error) {
	defer clearAll(docs)
	if n < 1 || n > len(docs) {
		return nil, errNotFoundResult
	}
	var mine *plaincache.Buffer
	for i, d := range docs {
		size := int64(len(d))
		b, err := r.copyIn(d)
		if err != nil {
			if mine != nil {
				mine.Release()
			}
			return nil, err
		}
		key := keyOpResult(ts.sid, i+1)
		ts.setSize(key, size)
		if i+1 == n {
			mine = b
			continue
		}
		if b != nil {
			r.cache.Add(key, b)
			b.Release()
		}
	}
	return mine, nil
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
// results and records their count. The caller clears the slices. Under a
// fallback plan, an error or an empty list gives (nil, nil) when the
// encrypted endpoint has locations: the caller goes there.
func (r *Root) plainOpResults(ctx context.Context, ts *tstate, p record.ContentPlan) ([][]byte, error) {
	docs, err := r.src.PlainOperatorResults(ctx, ts.sid)
	if p.PlainMissed(err, len(docs) == 0) {
		locs, lerr := r.locations(ctx, ts, false)
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
	ts.mu.Lock()
	ts.opCount = len(docs)
	ts.mu.Unlock()
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

// locations returns the encrypted operator-result locations of ts, asking
// the API when they are unknown, about to expire, or fresh is set (the
// object store refused one). Concurrent callers share one call.
func (r *Root) locations(ctx context.Context, ts *tstate, fresh bool) (*opLocations, error) {
	ts.mu.Lock()
	l := ts.ops
	ts.mu.Unlock()
	if !fresh && l.usable(time.Now()) {
		return l, nil
	}
	v, err := r.shared(ctx, ts.sid+"/locations", func(ctx context.Context) (any, error) {
		urls, err := r.src.OperatorResultLocations(ctx, r.sealedView(ctx, ts.transcript()))
		if err != nil {
			return nil, err
		}
		return ts.setLocations(urls, time.Now()), nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*opLocations), nil
}

// setLocations merges an answer of the locations into ts (see
// opLocations) and returns the new snapshot.
func (ts *tstate) setLocations(urls []string, now time.Time) *opLocations {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	next := &opLocations{urls: make(map[string]string, len(urls))}
	if ts.ops != nil {
		next.keys = slices.Clone(ts.ops.keys) // earlier snapshots stay as they were
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
	ts.ops = next
	ts.opCount = len(next.keys)
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
func (r *Root) freshLocation(ctx context.Context, ts *tstate, key, failed string) (string, error) {
	ts.mu.Lock()
	l := ts.ops
	ts.mu.Unlock()
	fresh := l == nil || l.urls[key] == failed
	l, err := r.locations(ctx, ts, fresh)
	if err != nil {
		return "", err
	}
	u, ok := l.urls[key]
	if !ok && !isPlaceholder(key) {
		return "", fmt.Errorf("the operator result is no longer among the locations: %w", record.ErrNotFound)
	}
	return u, nil // "" for a placeholder: the Source asks the API itself
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
	const key = "operator-results/"
	if err := ts.backingOff(ts.sid+"/"+key, time.Now()); err != nil {
		return 0, err
	}
	v, err := r.shared(ctx, ts.sid+"/opcount", func(ctx context.Context) (any, error) {
		p := r.plan(ctx, t)
		if !p.Encrypted {
			docs, err := r.plainOpResults(ctx, ts, p)
			if err != nil {
				return nil, err
			}
			if docs != nil {
				r.cachePlainResults(ts, docs)
				return len(docs), nil
			}
		}
		locs, err := r.locations(ctx, ts, false)
		if err != nil {
			return nil, err
		}
		return len(locs.keys), nil
	})
	if errors.Is(err, record.ErrNotFound) {
		err = r.contentMissing(ctx, ts, ts.sid+"/"+key, err)
	}
	if err != nil {
		if !errors.Is(err, record.ErrNotFound) {
			r.logFailure(ts.sid, r.plan(ctx, t).Credential, "list operator results", err)
		}
		return 0, err
	}
	ts.recovered(ts.sid + "/" + key)
	return v.(int), nil
}

// cachePlainResults puts every plain operator result in the cache (as far
// as memory allows) and clears the heap copies.
func (r *Root) cachePlainResults(ts *tstate, docs [][]byte) {
	defer clearAll(docs)
	for i, d := range docs {
		key := keyOpResult(ts.sid, i+1)
		ts.setSize(key, int64(len(d)))
		b, err := r.copyIn(d)
		if err != nil {
			return // the reads fetch them again
		}
		if b != nil {
			r.cache.Add(key, b)
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
func (r *Root) shared(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	fg := &r.flights
	fg.mu.Lock()
	if fg.calls == nil {
		fg.calls = map[string]*sharedCall{}
	}
	c := fg.calls[key]
	if c == nil || c.dropped {
		cctx, cancel := context.WithCancel(r.ctx)
		c = &sharedCall{done: make(chan struct{}), detached: detached{cancel: cancel}}
		fg.calls[key] = c
		r.goBG(func() {
			v, err := fn(cctx)
			cancel()
			fg.mu.Lock()
			c.v, c.err, c.ended = v, err, true
			if fg.calls[key] == c {
				delete(fg.calls, key)
			}
			fg.mu.Unlock()
			close(c.done)
		})
	}
	c.waiters++
	fg.mu.Unlock()
	select {
	case <-c.done:
		fg.mu.Lock()
		c.waiters--
		fg.mu.Unlock()
		return c.v, c.err
	case <-ctx.Done():
		fg.mu.Lock()
		c.waiters--
		if c.waiters == 0 && !c.ended {
			r.abandon(&c.detached)
		}
		fg.mu.Unlock()
		return nil, errInterrupted
	}
}

// openSealed runs get (one of the Source's Open methods) with an opener
// that decrypts into an off-heap buffer, and returns that buffer. The
// Source may call the opener twice (an entry of its sealed cache that did
// not open, then the download): a failed attempt holds no buffer.
func (r *Root) openSealed(t record.Transcript, get func(func(crypto.Envelope) error) error) (*plaincache.Buffer, error) {
	var buf *plaincache.Buffer
	err := get(func(env crypto.Envelope) error {
		b, err := r.decrypt(t.EncryptionCredentialSID, env)
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
func (r *Root) decrypt(cred string, env crypto.Envelope) (*plaincache.Buffer, error) {
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
		out, err := r.dec.Open(cred, env, nil)
		clear(out)
		if err != nil {
			r.decryptFailures.Add(1)
		}
		return nil, err
	}
	buf, err := r.alloc(n)
	if err != nil {
		return nil, err
	}
	dst := buf.Bytes()
	out, err := r.dec.Open(cred, env, dst[:0])
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
// copy, also when the buffer cannot be had (best effort: the decoder that
// produced it may have left others).
func (r *Root) copyIn(b []byte) (*plaincache.Buffer, error) {
	if len(b) == 0 {
		return nil, nil
	}
	buf, err := r.alloc(len(b))
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
