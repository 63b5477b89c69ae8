package catalog

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

var (
	keyOnce sync.Once
	theKey  *rsa.PrivateKey
)

// testKey is one RSA key for the tests that run on the simulator.
func testKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := crypto.GenerateKey(2048)
		if err != nil {
			panic(err)
		}
		theKey = k
	})
	return theKey
}

// newTestCatalog builds a Catalog on src and dec with a plaintext cache of
// cacheSize whose drops reach the catalog, as the filesystem wires them.
// Events go to events (nil: discarded). Both are closed at the test's end.
func newTestCatalog(t testing.TB, src Source, dec Decrypter, cacheSize int64, events func(Event), tune ...func(*Options, *plaincache.Options)) *Catalog {
	t.Helper()
	var c *Catalog
	var ready atomic.Bool
	co := plaincache.Options{MaxBytes: cacheSize, Mlock: plaincache.MlockOff, OnDrop: func(key string) {
		if ready.Load() {
			c.CacheDropped(key)
		}
	}}
	o := Options{
		Source: src, Decrypter: dec,
		DirCacheTime: time.Minute, FullRelist: time.Hour, RefreshMargin: 10 * time.Minute,
		PageSize: 1000, Concurrency: 4, CacheSize: cacheSize, Events: events,
	}
	for _, f := range tune {
		f(&o, &co)
	}
	cache, err := plaincache.New(co)
	if err != nil {
		t.Fatal(err)
	}
	o.Cache = cache
	c, err = New(o)
	if err != nil {
		t.Fatal(err)
	}
	ready.Store(true)
	t.Cleanup(func() {
		c.Close()
		cache.Close()
	})
	return c
}

// memSource is an in-memory Source: services, transcripts (listed newest
// first, paged and filtered as the API does), plain documents and sealed
// envelopes, counting every call so tests can prove laziness. gate, when
// set, is waited on by every call (to hold calls in flight).
type memSource struct {
	mu          sync.Mutex
	services    []record.Service
	transcripts []record.Transcript // newest first
	plainSent   map[string][]byte
	plainOps    map[string][][]byte
	sealedSent  map[string]crypto.Envelope
	sealedOps   map[string][]crypto.Envelope
	failList    error // ListServices and ListTranscripts fail with it when set
	failPlain   error // PlainSentences and PlainOperatorResults fail with it when set
	failSealed  error // SealedOperatorResults fails with it when set
	handedOut   [][]byte
	dropped     []string
	rejected    []string                 // sealed operator results an open refused as another transcript's
	queries     []record.TranscriptQuery // every ListTranscripts query

	gate  chan struct{}
	calls sync.Map // name -> *atomic.Int64
}

func newMemSource() *memSource {
	return &memSource{plainSent: map[string][]byte{}, plainOps: map[string][][]byte{},
		sealedSent: map[string]crypto.Envelope{}, sealedOps: map[string][]crypto.Envelope{}}
}

// count returns the calls of one method so far.
func (s *memSource) count(name string) int64 {
	v, ok := s.calls.Load(name)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

func (s *memSource) call(ctx context.Context, name string) error {
	v, _ := s.calls.LoadOrStore(name, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
	if g := s.gate; g != nil {
		select {
		case <-g:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func gtSID(i int) string { return fmt.Sprintf("GT%032x", i) }

const testService = "GA0123456789abcdef0123456789abcdef"

// addTranscripts adds n completed transcripts of testService, created one
// minute apart after base (newer ones first in listings), each with plain
// sentences and ops plain operator results. It returns their SIDs, oldest
// first.
func (s *memSource) addTranscripts(base time.Time, first, n, ops int) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sids []string
	for i := range n {
		sid := gtSID(first + i)
		t := record.Transcript{SID: sid, ServiceSID: testService, Status: "completed",
			DateCreated: base.Add(time.Duration(first+i) * time.Minute), DateUpdated: base.Add(time.Duration(first+i)*time.Minute + time.Second)}
		s.transcripts = append([]record.Transcript{t}, s.transcripts...)
		s.plainSent[sid] = []byte(fmt.Sprintf(`{"sentences":[{"transcript":"hello from %s","media_channel":1,"sentence_index":0}]}`, sid))
		var docs [][]byte
		for j := 1; j <= ops; j++ {
			docs = append(docs, []byte(fmt.Sprintf(`{"name":"op%d","transcript_sid":%q}`, j, sid)))
		}
		s.plainOps[sid] = docs
		sids = append(sids, sid)
	}
	return sids
}

// remove deletes a transcript upstream.
func (s *memSource) remove(sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.transcripts = slices.DeleteFunc(s.transcripts, func(t record.Transcript) bool { return t.SID == sid })
	delete(s.plainSent, sid)
	delete(s.plainOps, sid)
}

func (s *memSource) ListServices(ctx context.Context) ([]record.Service, error) {
	if err := s.call(ctx, "ListServices"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failList != nil {
		return nil, s.failList
	}
	return slices.Clone(s.services), nil
}

func (s *memSource) FetchService(ctx context.Context, sid string) (record.Service, error) {
	if err := s.call(ctx, "FetchService"); err != nil {
		return record.Service{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sv := range s.services {
		if sv.SID == sid {
			return sv, nil
		}
	}
	return record.Service{}, record.ErrNotFound
}

func (s *memSource) ListTranscripts(ctx context.Context, q record.TranscriptQuery, page func([]record.Transcript) error) error {
	if err := s.call(ctx, "ListTranscripts"); err != nil {
		return err
	}
	s.mu.Lock()
	s.queries = append(s.queries, q)
	if s.failList != nil {
		s.mu.Unlock()
		return s.failList
	}
	var all []record.Transcript
	for _, t := range s.transcripts {
		if (q.ServiceSID == "" || t.ServiceSID == q.ServiceSID) && q.CreatedWithin(t.DateCreated) {
			all = append(all, t)
		}
	}
	s.mu.Unlock()
	size := q.PageSize
	if size <= 0 {
		size = 1000
	}
	for len(all) > 0 {
		n := min(size, len(all))
		if err := page(slices.Clone(all[:n])); err != nil {
			return err
		}
		all = all[n:]
	}
	return nil
}

func (s *memSource) FetchTranscript(ctx context.Context, sid string) (record.Transcript, error) {
	if err := s.call(ctx, "FetchTranscript"); err != nil {
		return record.Transcript{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.transcripts {
		if t.SID == sid {
			return t, nil
		}
	}
	return record.Transcript{}, record.ErrNotFound
}

func (s *memSource) OpenSentences(ctx context.Context, t record.Transcript, open func(crypto.Envelope) error) error {
	if err := s.call(ctx, "OpenSentences"); err != nil {
		return err
	}
	s.mu.Lock()
	env, ok := s.sealedSent[t.SID]
	s.mu.Unlock()
	if !ok {
		return record.ErrNotFound
	}
	return open(env)
}

func (s *memSource) SealedOperatorResults(ctx context.Context, t record.Transcript) (record.SealedResults, error) {
	if err := s.call(ctx, "SealedOperatorResults"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failSealed != nil {
		return nil, s.failSealed
	}
	envs, ok := s.sealedOps[t.SID]
	if !ok {
		return nil, record.ErrNotFound
	}
	return &memResults{s: s, sid: t.SID, n: len(envs)}, nil
}

// memResults are a memSource's sealed operator results of one transcript;
// an open refusing an envelope with record.ErrWrongTranscript is recorded
// in rejected (a sealed cache would drop it).
type memResults struct {
	s   *memSource
	sid string
	n   int
}

func (r *memResults) Len() int { return r.n }

func (r *memResults) Open(ctx context.Context, i int, open func(crypto.Envelope) error) error {
	if err := r.s.call(ctx, "OpenOperatorResult"); err != nil {
		return err
	}
	r.s.mu.Lock()
	envs := r.s.sealedOps[r.sid]
	r.s.mu.Unlock()
	if i < 0 || i >= len(envs) {
		return record.ErrNotFound
	}
	err := open(envs[i])
	if errors.Is(err, record.ErrWrongTranscript) {
		r.s.mu.Lock()
		r.s.rejected = append(r.s.rejected, fmt.Sprintf("%s/%d", r.sid, i))
		r.s.mu.Unlock()
	}
	return err
}

func (s *memSource) PlainSentences(ctx context.Context, sid string) ([]byte, error) {
	if err := s.call(ctx, "PlainSentences"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failPlain != nil {
		return nil, s.failPlain
	}
	doc, ok := s.plainSent[sid]
	if !ok {
		return nil, record.ErrNotFound
	}
	out := slices.Clone(doc)
	s.handedOut = append(s.handedOut, out)
	return out, nil
}

func (s *memSource) PlainOperatorResults(ctx context.Context, sid string) ([][]byte, error) {
	if err := s.call(ctx, "PlainOperatorResults"); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failPlain != nil {
		return nil, s.failPlain
	}
	docs, ok := s.plainOps[sid]
	if !ok {
		return nil, record.ErrNotFound
	}
	out := make([][]byte, len(docs))
	for i, d := range docs {
		out[i] = slices.Clone(d)
		s.handedOut = append(s.handedOut, out[i])
	}
	return out, nil
}

func (s *memSource) DropSealed(sid string) {
	s.mu.Lock()
	s.dropped = append(s.dropped, sid)
	s.mu.Unlock()
}

// allCleared reports whether every plain document handed out was zeroed.
func (s *memSource) allCleared() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.handedOut {
		for _, b := range d {
			if b != 0 {
				return false
			}
		}
	}
	return true
}

// xorDecrypter is a Decrypter for the model tests: an envelope's body is
// the plaintext XORed with key, followed by a 16-byte "tag" that must be
// all 0xAA (else crypto.ErrAuth); credential "CRnone" has no key
// (crypto.ErrUnwrap). It counts its calls.
type xorDecrypter struct {
	key   byte
	calls atomic.Int64
}

func (d *xorDecrypter) seal(plain []byte) crypto.Envelope {
	body := make([]byte, len(plain)+crypto.TagSize)
	for i, b := range plain {
		body[i] = b ^ d.key
	}
	for i := len(plain); i < len(body); i++ {
		body[i] = 0xAA
	}
	return crypto.Envelope{WrappedKey: []byte{1}, IV: make([]byte, 12), Body: body}
}

func (d *xorDecrypter) Open(cred string, env crypto.Envelope, dst []byte) ([]byte, error) {
	d.calls.Add(1)
	if cred == "CRnone" {
		return nil, fmt.Errorf("no key for %s: %w", cred, crypto.ErrUnwrap)
	}
	n := env.PlaintextLen()
	for _, b := range env.Body[n:] {
		if b != 0xAA {
			return nil, crypto.ErrAuth
		}
	}
	for _, b := range env.Body[:n] {
		dst = append(dst, b^d.key)
	}
	return dst, nil
}
