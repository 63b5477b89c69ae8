package fetch

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
)

// OperatorResults are one transcript's encrypted operator results
// (record.SealedResults): their number and, per result, the envelope,
// from the sealed cache or downloaded. The value owns everything about
// where the objects are: the presigned locations (bearer credentials that
// never leave it), their expiry read from the URLs, one shared refresh
// when they expire or the store refuses one, and the identity of each
// object (objectKey, the hash of its path) by which a later answer, in
// whatever order, is matched. Results are numbered by their position in
// the first answer (or in the sealed cache's count); objects new to a
// later answer are numbered after the known ones.
//
// It is safe for concurrent use; keep it as long as the transcript's
// version does not change (Client.SealedOperatorResults makes a new one).
type OperatorResults struct {
	c      *Client
	t      record.Transcript
	v      sealedcache.Version
	cached bool // t's entries may be in the sealed cache

	mu        sync.Mutex
	keys      []string          // object identity of result i
	urls      map[string]string // object identity -> current presigned URL
	expires   time.Time         // earliest expiry among urls; zero: unknown
	answered  bool              // urls hold an answer of the API (not only the sealed count)
	fromCount bool              // keys came from the sealed cache's count
	refresh   *refreshCall      // the refresh of the locations in flight
}

// refreshCall is one request for the locations shared by every Open that
// needs it.
type refreshCall struct {
	done chan struct{}
	err  error
}

// Presigned locations are reused until locationMargin before they expire
// (read from the URL: record.LocationExpiry), or, when a URL does not say,
// until the object store refuses one.
const locationMargin = 30 * time.Second

// SealedOperatorResults returns t's encrypted operator results (a
// *OperatorResults). When the sealed cache holds t's current count it
// makes no request; otherwise it asks the API for the locations once and
// records the count and each object's identity in the cache. t is the
// transcript as the sealed content must see it (record.ContentPlan.Sealed).
func (c *Client) SealedOperatorResults(ctx context.Context, t record.Transcript) (record.SealedResults, error) {
	if !transcriptSIDPattern.MatchString(t.SID) {
		return nil, c.badSID("encrypted operator results locations", t.SID)
	}
	r := &OperatorResults{c: c, t: t, urls: map[string]string{}}
	r.v, r.cached = c.sealedVersion(t)
	if r.cached {
		if keys, ok := c.cfg.SealedCache.Count(t.SID, r.v); ok {
			r.keys, r.fromCount = keys, true
			return r, nil
		}
	}
	locs, err := c.operatorResultLocations(ctx, t.SID)
	if err != nil {
		return nil, err
	}
	r.merge(locs, time.Now())
	if r.cached {
		c.cfg.SealedCache.PutCount(t.SID, r.v, r.keys)
	}
	return r, nil
}

// Len is the number of operator results known.
func (r *OperatorResults) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.keys)
}

// Open hands result i (from 0) to open: from the sealed cache when it holds
// a current entry (no request), else downloaded from the object's current
// location (refreshed once when the store refuses it; a second refusal is
// ErrExpired). An envelope open accepts is kept in the sealed cache; one
// it refuses with a crypto error or record.ErrWrongTranscript is never
// kept, and such an entry from the cache is removed and the object
// downloaded again. open must not keep env or modify its slices.
func (r *OperatorResults) Open(ctx context.Context, i int, open func(env crypto.Envelope) error) error {
	const op = "download operator result"
	c, sid := r.c, r.t.SID
	r.mu.Lock()
	n := len(r.keys)
	var key string
	if i >= 0 && i < n {
		key = r.keys[i]
	}
	r.mu.Unlock()
	if i < 0 || i >= n {
		return c.newError(op, sid, 0, 0, record.ErrNotFound, "", fmt.Errorf("no operator result %d of %d", i+1, n))
	}
	obj := sealedcache.OperatorResult(i)
	if r.cached {
		if env, _, ok := c.cfg.SealedCache.Get(sid, obj, r.v); ok {
			err := open(env)
			if !isRejected(err) {
				return err
			}
			c.sealedRejected(sid, obj, err)
		}
	}
	loc, err := r.location(ctx, i, "")
	if err != nil {
		return err
	}
	env, err := c.download(ctx, op, sid, loc, false)
	if errors.Is(err, errLocationRefused) {
		c.log.Debug("fetch: presigned location refused, asking for a fresh one", "transcript", sid)
		if loc, err = r.location(ctx, i, loc); err != nil {
			return err
		}
		env, err = c.download(ctx, op, sid, loc, true)
	}
	if err != nil {
		return err
	}
	if err := open(env); err != nil {
		return err
	}
	if r.cached {
		c.cfg.SealedCache.Put(sid, obj, r.v, env, key)
	}
	return nil
}

// location returns a current location of result i: the known one while
// the answer it came from has not expired (and it is not failed, the one
// the store just refused), else the one of a fresh answer, asked for once
// by whichever Open needs it first while the others wait for it.
func (r *OperatorResults) location(ctx context.Context, i int, failed string) (string, error) {
	for refreshed := false; ; refreshed = true {
		r.mu.Lock()
		key := r.keys[i]
		u, ok := r.urls[key]
		current := r.answered && (r.expires.IsZero() || time.Now().Before(r.expires))
		if refreshed || (current && u != failed) {
			fromCount := r.fromCount
			r.mu.Unlock()
			if ok {
				return u, nil
			}
			return "", r.unlisted(i, fromCount)
		}
		call := r.refresh
		if call == nil {
			call = &refreshCall{done: make(chan struct{})}
			r.refresh = call
			r.mu.Unlock()
			locs, err := r.c.operatorResultLocations(ctx, r.t.SID)
			r.mu.Lock()
			if err == nil {
				r.merge(locs, time.Now())
			}
			call.err = err
			r.refresh = nil
			close(call.done)
		}
		r.mu.Unlock()
		select {
		case <-call.done:
		case <-ctx.Done():
			return "", r.c.newError("encrypted operator results locations", r.t.SID, 0, 0, nil, "", ctx.Err())
		}
		if call.err != nil {
			return "", call.err
		}
	}
}

// unlisted is the error for result i missing from a fresh answer: a count
// from the sealed cache that no longer holds (dropped, so the next listing
// asks afresh), or an object no longer listed.
func (r *OperatorResults) unlisted(i int, fromCount bool) error {
	const op = "download operator result"
	if fromCount {
		r.c.DropSealed(r.t.SID)
		return r.c.newError(op, r.t.SID, 0, 0, record.ErrUnavailable, "",
			fmt.Errorf("operator result %d of the cached list is no longer listed", i+1))
	}
	return r.c.newError(op, r.t.SID, 0, 0, record.ErrNotFound, "",
		fmt.Errorf("operator result %d is no longer among the locations", i+1))
}

// merge takes an answer of the locations (with r.mu held or before r is
// shared): known objects get their new URL, new ones are numbered after
// the known ones (up to record.MaxOperatorResults), and the expiry is the
// earliest any URL states, minus a margin.
func (r *OperatorResults) merge(locs []string, now time.Time) {
	known := make(map[string]bool, len(r.keys))
	for _, k := range r.keys {
		known[k] = true
	}
	r.urls = make(map[string]string, len(locs))
	r.expires = time.Time{}
	for _, u := range locs {
		k := objectKey(u)
		if !known[k] {
			if len(r.keys) >= record.MaxOperatorResults {
				continue // a server inventing new objects on every answer
			}
			known[k] = true
			r.keys = append(r.keys, k)
		}
		r.urls[k] = u
		if exp, ok := record.LocationExpiry(u); ok {
			margin := min(locationMargin, exp.Sub(now)/4)
			if at := exp.Add(-margin); r.expires.IsZero() || at.Before(r.expires) {
				r.expires = at
			}
		}
	}
	r.answered = true
}

// isRejected reports an error of open refusing an envelope (it did not
// open, or its content names another transcript), as opposed to one of
// the caller, such as running out of cache memory.
func isRejected(err error) bool {
	return isEnvelopeError(err) || errors.Is(err, record.ErrWrongTranscript)
}
