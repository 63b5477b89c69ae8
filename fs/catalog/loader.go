package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// Loader gets one transcript's content and opens it into the off-heap
// arena: the plan (record.PlanContent), the plain endpoints, the fallback
// to the sealed ones, the sealed cache (through the Source), the
// decryption straight into an arena buffer, and every integrity check (an
// envelope that does not authenticate, an operator result naming another
// transcript: refused before anything is cached). It keeps no state but a
// counter: the Catalog wraps it with shared fetches, the plaintext cache
// and back-offs for the mount and the servers; cat and search use it as it
// is, one transcript at a time. The plaintext it returns never touches the
// Go heap, except plain documents, which the Source hands over on the heap
// and the Loader copies into the arena and clears.
type Loader struct {
	src      ContentSource
	dec      Decrypter
	alloc    func(n int) (*plaincache.Buffer, error)
	service  func(ctx context.Context, sid string) (record.Service, error)
	sealed   func(ctx context.Context, t record.Transcript) (record.SealedResults, error)
	failures atomic.Int64
}

// LoaderOptions configure a Loader.
type LoaderOptions struct {
	// Source serves the content. Required.
	Source ContentSource
	// Decrypter opens envelopes; nil makes encrypted content fail with
	// crypto.ErrUnwrap.
	Decrypter Decrypter
	// Alloc takes a fresh off-heap buffer (a plaincache.Cache's Alloc).
	// Required.
	Alloc func(n int) (*plaincache.Buffer, error)
	// Service gives a transcript's service when the plan needs it (the
	// transcript does not name its credential); nil: Source.FetchService.
	// When it fails, the plan is made from the transcript alone.
	Service func(ctx context.Context, sid string) (record.Service, error)
	// SealedResults gives a transcript's sealed operator results; nil:
	// Source.SealedOperatorResults. The Catalog keeps one per entry.
	SealedResults func(ctx context.Context, t record.Transcript) (record.SealedResults, error)
}

// NewLoader builds a Loader.
func NewLoader(o LoaderOptions) (*Loader, error) {
	if o.Source == nil || o.Alloc == nil {
		return nil, errors.New("catalog: LoaderOptions.Source and Alloc are required")
	}
	l := &Loader{src: o.Source, dec: o.Decrypter, alloc: o.Alloc, service: o.Service, sealed: o.SealedResults}
	if l.service == nil {
		l.service = o.Source.FetchService
	}
	if l.sealed == nil {
		l.sealed = o.Source.SealedOperatorResults
	}
	return l, nil
}

// DecryptFailures counts envelopes that did not open.
func (l *Loader) DecryptFailures() int64 { return l.failures.Load() }

// Plan decides how t's content is fetched: record.PlanContent with t's
// service, asked for only when t does not name its credential. A service
// that cannot be had leaves the decision to t alone (plain unless t names
// a credential), as the mount has always done.
func (l *Loader) Plan(ctx context.Context, t record.Transcript) record.ContentPlan {
	var svc record.Service
	if record.NeedsService(t) {
		if s, err := l.service(ctx, t.ServiceSID); err == nil {
			svc = s
		}
	}
	return record.PlanContent(t, svc)
}

// Sentences returns t's sentences document in an arena buffer, pinned
// (the caller Releases it; nil with a nil error is an empty document):
// sealed when the plan says so, plain otherwise, and sealed after all when
// a fallback plan's plain answer fails or is empty.
func (l *Loader) Sentences(ctx context.Context, t record.Transcript) (*plaincache.Buffer, error) {
	p := l.Plan(ctx, t)
	if p.Encrypted {
		return l.sealedSentences(ctx, p.Sealed(t))
	}
	doc, err := l.src.PlainSentences(ctx, t.SID)
	if p.PlainMissed(err, record.EmptySentences(doc)) {
		b, serr := l.sealedSentences(ctx, p.Sealed(t))
		if serr == nil {
			clear(doc)
			return b, nil
		}
		err = record.MissedErr(err, serr)
	}
	if err != nil {
		clear(doc)
		return nil, err
	}
	return l.copyIn(doc)
}

func (l *Loader) sealedSentences(ctx context.Context, t record.Transcript) (*plaincache.Buffer, error) {
	return l.openSealed(t, nil, func(open func(crypto.Envelope) error) error { return l.src.OpenSentences(ctx, t, open) })
}

// Results are one transcript's operator results as the Loader found them:
// every plain one already copied into the arena, or the sealed ones, each
// opened on demand. Release them when done.
type Results struct {
	l      *Loader
	t      record.Transcript // the transcript (sealed view for sealed results)
	sealed record.SealedResults
	plain  []*plaincache.Buffer // plain results, pinned; nil: empty or not copied
	sizes  []int                // each plain result's size
	err    error                // why a plain result was not copied
}

// OperatorResults returns t's operator results (an empty list for a
// transcript that has none): plain or sealed as the plan says; under a
// fallback plan a plain error or empty list goes to the sealed results
// when they can be listed and are not empty, else the plain answer stands
// (an empty list is 0 results, as the mount shows it). A plain answer is
// copied into the arena at once and its heap copies cleared; when a copy
// fails, the Results (with the count) are returned with that error.
func (l *Loader) OperatorResults(ctx context.Context, t record.Transcript) (*Results, error) {
	p := l.Plan(ctx, t)
	if p.Encrypted {
		st := p.Sealed(t)
		rs, err := l.sealed(ctx, st)
		if err != nil {
			return nil, err
		}
		return &Results{l: l, t: st, sealed: rs}, nil
	}
	docs, err := l.src.PlainOperatorResults(ctx, t.SID)
	if p.PlainMissed(err, len(docs) == 0) {
		st := p.Sealed(t)
		if rs, serr := l.sealed(ctx, st); serr == nil && rs.Len() > 0 {
			clearAll(docs)
			return &Results{l: l, t: st, sealed: rs}, nil
		}
	}
	if err != nil {
		clearAll(docs)
		return nil, err
	}
	return l.plainResults(t, docs)
}

// plainResults copies docs into the arena, checking each names t, and
// clears them.
func (l *Loader) plainResults(t record.Transcript, docs [][]byte) (*Results, error) {
	defer clearAll(docs)
	r := &Results{l: l, t: t, plain: make([]*plaincache.Buffer, len(docs)), sizes: make([]int, len(docs))}
	for i, d := range docs {
		r.sizes[i] = len(d)
		if r.err != nil {
			continue
		}
		b, err := l.copyIn(d)
		if err == nil {
			if err = checkResult(b, t.SID, i+1); err != nil && b != nil {
				b.Release() // zeroed: not ours to serve
			}
		}
		if err != nil {
			r.err = err
			continue
		}
		r.plain[i] = b
	}
	return r, r.err
}

// Len is the number of operator results.
func (r *Results) Len() int {
	if r.sealed != nil {
		return r.sealed.Len()
	}
	return len(r.plain)
}

// Plain reports results that came from the plain endpoint, all in the
// arena already (Size and Open cost nothing).
func (r *Results) Plain() bool { return r.sealed == nil }

// Size is the size of plain result i (from 0).
func (r *Results) Size(i int) int { return r.sizes[i] }

// Open returns result i (from 0) in an arena buffer, pinned (the caller
// Releases it; nil with a nil error is an empty document). A sealed result
// is fetched and decrypted, and refused with record.ErrWrongTranscript
// when it names another transcript; the Source then drops it from its
// sealed cache, and nothing of it is kept.
func (r *Results) Open(ctx context.Context, i int) (*plaincache.Buffer, error) {
	if i < 0 || i >= r.Len() {
		return nil, errNotFoundResult
	}
	if r.sealed == nil {
		b := r.plain[i]
		if b == nil && r.err != nil {
			return nil, r.err
		}
		if b != nil {
			b.Pin()
		}
		return b, nil
	}
	return r.l.openSealed(r.t, func(b *plaincache.Buffer) error { return checkResult(b, r.t.SID, i+1) },
		func(open func(crypto.Envelope) error) error { return r.sealed.Open(ctx, i, open) })
}

// Release releases the plain results' buffers.
func (r *Results) Release() {
	for i, b := range r.plain {
		if b != nil {
			b.Release()
			r.plain[i] = nil
		}
	}
}

// checkResult refuses operator result n of transcript sid when it names
// another transcript at its top level (one without transcript_sid cannot
// be checked and is served).
func checkResult(b *plaincache.Buffer, sid string, n int) error {
	if other := resultTranscript(b); other != "" && other != sid {
		name := other
		if !record.IsSID(other, "GT") {
			name = fmt.Sprintf("%.40q (not a transcript SID)", other)
		}
		return fmt.Errorf("operator result %d of transcript %s names transcript %s: %w", n, sid, name, record.ErrWrongTranscript)
	}
	return nil
}

// resultTranscript returns the transcript_sid a decrypted operator result
// names at its top level, or "" when it names none or is not an object.
// Only that one value is copied; the rest of the plaintext is scanned in
// place (inPlace).
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

// openSealed runs get (one of the Source's open methods) with an opener
// that decrypts into an arena buffer and runs check on it (nil: none)
// before the Source may cache the envelope, and returns that buffer. The
// Source may call the opener twice (an entry of its sealed cache that did
// not open or was refused, then the download): a failed attempt holds no
// buffer.
func (l *Loader) openSealed(t record.Transcript, check func(*plaincache.Buffer) error, get func(func(crypto.Envelope) error) error) (*plaincache.Buffer, error) {
	var buf *plaincache.Buffer
	err := get(func(env crypto.Envelope) error {
		if buf != nil {
			buf.Release()
			buf = nil
		}
		b, err := l.decrypt(t.EncryptionCredentialSID, env)
		if err == nil && check != nil {
			if err = check(b); err != nil && b != nil {
				b.Release() // zeroed: not ours to serve
				b = nil
			}
		}
		buf = b
		return err
	})
	if err != nil && buf != nil {
		buf.Release()
		buf = nil
	}
	return buf, err
}

// decrypt opens env straight into an arena buffer: the plaintext never
// touches the Go heap.
func (l *Loader) decrypt(cred string, env crypto.Envelope) (*plaincache.Buffer, error) {
	n := env.PlaintextLen()
	if n < 0 {
		l.failures.Add(1)
		return nil, fmt.Errorf("envelope body shorter than the GCM tag: %w", crypto.ErrMalformed)
	}
	if l.dec == nil {
		l.failures.Add(1)
		return nil, fmt.Errorf("no private keys loaded: %w", crypto.ErrUnwrap)
	}
	if n == 0 {
		out, err := l.dec.Open(cred, env, nil)
		clear(out)
		if err != nil {
			l.failures.Add(1)
		}
		return nil, err
	}
	buf, err := l.alloc(n)
	if err != nil {
		return nil, err
	}
	dst := buf.Bytes()
	out, err := l.dec.Open(cred, env, dst[:0])
	if err != nil {
		l.failures.Add(1)
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

// copyIn moves plain content into an arena buffer and clears the heap
// copy, also when the buffer cannot be had (best effort: the decoder that
// produced it may have left others).
func (l *Loader) copyIn(b []byte) (*plaincache.Buffer, error) {
	if len(b) == 0 {
		return nil, nil
	}
	buf, err := l.alloc(len(b))
	if err != nil {
		clear(b)
		return nil, err
	}
	copy(buf.Bytes(), b)
	clear(b)
	return buf, nil
}

func clearAll(docs [][]byte) {
	for _, d := range docs {
		clear(d)
	}
}
