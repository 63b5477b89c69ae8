// Package search finds text in every transcript of a Twilio account, or of
// some of its services, without a mount: it lists transcripts, fetches and
// decrypts their sentences concurrently through the caller's
// catalog.ContentSource (a *fetch.Client: the same limits, retries, keys and
// sealed-object cache as the mount), matches them in memory and hands each matching transcript to
// a callback as it is found.
//
// It is the engine of `intelligencefs search` and of the web viewer's
// search. It lives under fs/ as a package of its own because it needs the
// transcript model's pieces — the record types, the catalog's Source
// interfaces and the sentences.txt renderer (package fs/sentencetext) — but
// not FUSE: it imports neither go-fuse nor twilio-go, so it builds and runs
// on macOS and Windows, where there is no mount. Output formats and files
// on disk are its callers' business, except Export, the one writer of an
// access request's copy.
//
// Memory is bounded by the number of workers, not by the account: the
// listing is consumed page by page, each worker holds one transcript's
// documents while it matches them and while the callback runs, and wipes
// them (best effort: clear) before taking the next one.
package search

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

// Query is what to look for and where.
type Query struct {
	// Pattern is a Go regular expression (RE2 syntax), or a fixed string
	// with Fixed.
	Pattern string
	// Fixed takes Pattern literally (grep -F).
	Fixed bool
	// IgnoreCase matches without regard to case (grep -i).
	IgnoreCase bool
	// Services limits the search to these services, each a SID (GA…) or a
	// unique_name; empty searches every transcript of the account.
	Services []string
	// Since and Until bound date_created (UTC): Since inclusive, Until
	// exclusive; zero means unbounded.
	Since, Until time.Time
	// OperatorResults also searches the operator results (every string in
	// them). Without it no operator result is requested at all.
	OperatorResults bool
	// Metadata also searches the transcript's metadata: customer_key and
	// every string of its channel's participants.
	Metadata bool
}

// Compile turns the pattern of q into the regular expression the engine
// matches with. An empty pattern is refused: it would match everything.
func Compile(q Query) (*regexp.Regexp, error) {
	re, _, err := compile(q)
	return re, err
}

// compile is Compile, also saying whether the expression can rule out a
// whole sentences document at once (see mayMatch).
func compile(q Query) (*regexp.Regexp, bool, error) {
	if q.Pattern == "" {
		return nil, false, errors.New("empty pattern: it would match every sentence")
	}
	p := q.Pattern
	if q.Fixed {
		p = regexp.QuoteMeta(p)
	}
	if q.IgnoreCase {
		p = "(?i)" + p
	}
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, false, fmt.Errorf("pattern: %w", err)
	}
	st, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return nil, false, fmt.Errorf("pattern: %w", err)
	}
	return re, !anchored(st), nil
}

// anchored reports whether re holds a line or text anchor (^ $ \A \z),
// which can match at a sentence's ends but not inside the document.
func anchored(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText:
		return true
	}
	for _, s := range re.Sub {
		if anchored(s) {
			return true
		}
	}
	return false
}

// mayMatch reports whether some sentence of doc may match re. When doc
// holds no backslash, every JSON string in it is its decoded text byte for
// byte, so a sentence's text is a substring of doc, bounded by quotes
// (non-word characters, as the ends of a text are for \b); an unanchored
// expression that matches the text then matches doc too. Finding nothing
// in the raw document thus rules it out without parsing it, which is most
// of the CPU a search spends beside the decryption.
func mayMatch(re *regexp.Regexp, prefilter bool, doc []byte) bool {
	if !prefilter || bytes.IndexByte(doc, '\\') >= 0 {
		return true
	}
	return re.Match(doc)
}

// Kind says where a match was found.
type Kind int

const (
	// InSentence is a match in a sentence's text.
	InSentence Kind = iota
	// InOperatorResult is a match in a string of an operator result.
	InOperatorResult
	// InMetadata is a match in the transcript's metadata.
	InMetadata
)

// Match is one match in a transcript.
type Match struct {
	Kind Kind
	// Sentence is the matching sentence (InSentence). Its text lies in the
	// Result's sentences document: valid during the callback only.
	Sentence sentencetext.Sentence
	// OperatorResult is the 1-based number of the operator result, as the
	// mount names operator-results/<n>.json (InOperatorResult).
	OperatorResult int
	// Field is where in the operator result or metadata the text is, a
	// dotted path with [i] for array elements, e.g. "customer_key" or
	// "channel.participants[0].full_name" (InOperatorResult, InMetadata).
	Field string
	// Text is the matching text, decoded (a sentence's, a field's value).
	// It is wiped after the callback returns: copy what must outlive it.
	Text []byte
}

// Result is one transcript that matched, handed to the callback. Its
// documents are valid during the callback only: the engine wipes them when
// the callback returns.
type Result struct {
	// Transcript is the transcript's resource from the listing.
	Transcript record.Transcript
	// Matches are its matches: metadata first, then sentences in sentence
	// order, then operator results in order.
	Matches []Match
	// Sentences is the decrypted sentences document (nil for a transcript
	// that is not completed). It lies in the off-heap arena, as every
	// document the engine decrypts.
	Sentences []byte

	ld      *catalog.Loader
	bufs    []*plaincache.Buffer // the arena buffers of Sentences and opDocs
	opDocs  [][]byte
	opFetch bool
}

// OperatorResults returns the transcript's operator results (each document
// byte for byte, as the mount serves operator-results/<n>.json), fetching
// and decrypting them unless the search already did. They lie in the
// off-heap arena and are wiped with the rest of the Result.
func (r *Result) OperatorResults(ctx context.Context) ([][]byte, error) {
	if !r.opFetch {
		bufs, err := operatorResults(ctx, r.ld, r.Transcript)
		for _, b := range bufs {
			r.bufs = append(r.bufs, b)
			r.opDocs = append(r.opDocs, bytesOf(b))
		}
		if err != nil {
			return nil, err
		}
		r.opFetch = true
	}
	return r.opDocs, nil
}

// wipe releases (and so zeroes) every document the Result holds and clears
// the matches' text.
func (r *Result) wipe() {
	for _, b := range r.bufs {
		if b != nil {
			b.Release()
		}
	}
	r.bufs, r.opDocs, r.Sentences = nil, nil, nil
	for _, m := range r.Matches {
		clear(m.Text)
	}
}

// Failure is a transcript that could not be searched: the search goes on
// without it.
type Failure struct {
	Transcript record.Transcript
	// Err says why, one line, naming the transcript and (for a key problem)
	// the credential; it never carries content or a presigned URL.
	Err error
}

// Progress is a snapshot of a running search.
type Progress struct {
	// Listed is how many transcripts the listing has given so far, and
	// ListingDone whether it is complete (then Listed is the total).
	Listed      int
	ListingDone bool
	// Scanned counts transcripts searched (failures included).
	Scanned int
	// Matched counts transcripts with at least one match, Matches their
	// matches.
	Matched, Matches int
	// Failed counts transcripts that could not be searched.
	Failed int
	// Elapsed is the time since the search started.
	Elapsed time.Duration
}

// Handler receives what a search finds. Its functions are called one at a
// time (never concurrently), from the engine's workers.
type Handler struct {
	// Match is called once per matching transcript. An error stops the
	// search and is returned by Run.
	Match func(*Result) error
	// Failure is called once per transcript that could not be searched
	// (nil: ignored; the count is in the Summary anyway).
	Failure func(Failure)
	// Progress is called after each transcript is searched (nil: ignored).
	Progress func(Progress)
}

// Summary is what a finished search did.
type Summary = Progress

// Options configure an Engine.
type Options struct {
	// Source lists and fetches; required.
	Source catalog.ContentSource
	// Decrypter opens encrypted transcripts; nil fails each encrypted
	// transcript (one Failure each) and searches the plain ones.
	Decrypter catalog.Decrypter
	// Workers is how many transcripts are fetched and searched at once
	// (default 16). The Source's own limits still bound the requests.
	Workers int
	// Now is the clock for Progress (default time.Now).
	Now func() time.Time
	// PageSize is the listing's page size (default and maximum: the API's,
	// 1000).
	PageSize int
	// Mlock is the locking policy of the arena the documents are decrypted
	// into (the zero value: auto).
	Mlock plaincache.MlockMode
}

// Engine runs searches. It is safe for concurrent use.
type Engine struct {
	src      catalog.ContentSource
	svc      *serviceMemo
	dec      catalog.Decrypter
	workers  int
	now      func() time.Time
	pageSize int
	mlock    plaincache.MlockMode
	// tuneArena adjusts the arena's options before each Run builds it
	// (tests: watch its buffers being zeroed).
	tuneArena func(*plaincache.Options)
}

// DefaultWorkers is the default number of transcripts searched at once.
const DefaultWorkers = 16

// New builds an Engine.
func New(o Options) *Engine {
	e := &Engine{src: o.Source, svc: &serviceMemo{src: o.Source}, dec: o.Decrypter, workers: o.Workers, now: o.Now, pageSize: o.PageSize, mlock: o.Mlock}
	if e.workers < 1 {
		e.workers = DefaultWorkers
	}
	if e.now == nil {
		e.now = time.Now
	}
	return e
}

// ErrUnknownService is a --service that names no service of the account.
var ErrUnknownService = errors.New("no such service")

// Services resolves q.Services (SIDs or unique names) to service SIDs, in
// the order given, without duplicates. With no services it returns nil
// (the whole account) and makes no request.
func (e *Engine) Services(ctx context.Context, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	all, err := e.src.ListServices(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, n := range names {
		sid := ""
		for _, s := range all {
			if s.SID == n || (s.UniqueName != "" && s.UniqueName == n) {
				sid = s.SID
				break
			}
		}
		if sid == "" {
			return nil, fmt.Errorf("service %q: %w (give a GA… SID or a unique_name; see intelligencefs services list)", n, ErrUnknownService)
		}
		if !seen[sid] {
			seen[sid] = true
			out = append(out, sid)
		}
	}
	return out, nil
}

// Run searches every transcript q selects and reports to h as it goes. It
// returns the summary and the first error that stopped the search (a
// listing that failed, a callback's error, ctx ending); a transcript that
// could not be searched does not stop it (see Handler.Failure).
func (e *Engine) Run(ctx context.Context, q Query, h Handler) (Summary, error) {
	re, prefilter, err := compile(q)
	if err != nil {
		return Summary{}, err
	}
	services, err := e.Services(ctx, q.Services)
	if err != nil {
		return Summary{}, err
	}
	// Every document is decrypted into this arena and released (zeroed)
	// once its transcript is done: the engine's memory is bounded by its
	// workers, and no plaintext it decrypts is on the Go heap.
	ao := plaincache.Options{Mlock: e.mlock}
	if e.tuneArena != nil {
		e.tuneArena(&ao)
	}
	arena, err := plaincache.New(ao)
	if err != nil {
		return Summary{}, fmt.Errorf("plaintext arena: %w", err)
	}
	defer arena.Close()
	ld, err := catalog.NewLoader(catalog.LoaderOptions{Source: e.src, Decrypter: e.dec, Alloc: arena.Alloc, Service: e.svc.FetchService})
	if err != nil {
		return Summary{}, err
	}
	r := &run{e: e, ld: ld, q: q, re: re, prefilter: prefilter, h: h, start: e.now()}
	g, gctx := errgroup.WithContext(ctx)
	work := make(chan record.Transcript, e.workers)
	g.Go(func() error {
		defer close(work)
		err := e.list(gctx, q, services, func(t record.Transcript) error {
			r.listed()
			select {
			case work <- t:
				return nil
			case <-gctx.Done():
				return gctx.Err()
			}
		})
		r.mu.Lock()
		r.p.ListingDone = err == nil
		r.mu.Unlock()
		return err
	})
	for range e.workers {
		g.Go(func() error {
			for t := range work {
				if err := r.one(gctx, t); err != nil {
					return err
				}
			}
			return nil
		})
	}
	err = g.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.p.Elapsed = e.now().Sub(r.start)
	if err == nil {
		err = ctx.Err()
	}
	return r.p, err
}

// list calls fn with each transcript q selects, service by service (or
// account-wide), page by page, filtering on date_created here too so the
// bounds hold whatever the API's own inclusivity.
func (e *Engine) list(ctx context.Context, q Query, services []string, fn func(record.Transcript) error) error {
	query := record.TranscriptQuery{AfterDateCreated: q.Since, BeforeDateCreated: q.Until, PageSize: e.pageSize}
	each := func(page []record.Transcript) error {
		for _, t := range page {
			if !q.Since.IsZero() && t.DateCreated.Before(q.Since) {
				continue
			}
			if !q.Until.IsZero() && !t.DateCreated.Before(q.Until) {
				continue
			}
			if err := fn(t); err != nil {
				return err
			}
		}
		return nil
	}
	if len(services) == 0 {
		return e.src.ListTranscripts(ctx, query, each)
	}
	for _, s := range services {
		query.ServiceSID = s
		if err := e.src.ListTranscripts(ctx, query, each); err != nil {
			return err
		}
	}
	return nil
}

// run is the state of one Run.
type run struct {
	e         *Engine
	ld        *catalog.Loader
	q         Query
	re        *regexp.Regexp
	prefilter bool // re can rule out a whole document (mayMatch)
	h         Handler
	start     time.Time

	mu sync.Mutex // serializes the Handler and guards p
	p  Progress
}

func (r *run) listed() {
	r.mu.Lock()
	r.p.Listed++
	r.mu.Unlock()
}

// one searches transcript t and reports it.
func (r *run) one(ctx context.Context, t record.Transcript) error {
	res, err := r.search(ctx, t)
	if res != nil {
		defer res.wipe()
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.p.Scanned++
	if err != nil {
		r.p.Failed++
		if r.h.Failure != nil {
			r.h.Failure(Failure{Transcript: t, Err: err})
		}
	} else if len(res.Matches) > 0 {
		r.p.Matched++
		r.p.Matches += len(res.Matches)
		if r.h.Match != nil {
			if err := r.h.Match(res); err != nil {
				return err
			}
		}
	}
	if r.h.Progress != nil {
		p := r.p
		p.Elapsed = r.e.now().Sub(r.start)
		r.h.Progress(p)
	}
	return nil
}

// search fetches what q asks of t and matches it. The Result it returns
// (also with an error, to be wiped) holds the plaintext fetched.
func (r *run) search(ctx context.Context, t record.Transcript) (*Result, error) {
	res := &Result{Transcript: t, ld: r.ld}
	if r.q.Metadata {
		res.Matches = append(res.Matches, matchMetadata(r.re, t)...)
	}
	if !t.Completed() {
		return res, nil // no content until it is completed
	}
	b, err := r.ld.Sentences(ctx, t)
	if err != nil {
		return res, describe(ctx, r.ld, t, "sentences", err)
	}
	res.bufs = append(res.bufs, b)
	doc := bytesOf(b)
	res.Sentences = doc
	if len(doc) > 0 && mayMatch(r.re, r.prefilter, doc) {
		ss, err := sentencetext.Parse(doc)
		if err != nil {
			return res, fmt.Errorf("transcript %s: %w", t.SID, err)
		}
		// The speakers as the mount's sentences.txt names them.
		sentencetext.LabelsFromChannel(t.Channel()).Apply(ss)
		var text []byte
		for _, s := range ss {
			text = s.AppendText(text[:0])
			if r.re.Match(text) {
				res.Matches = append(res.Matches, Match{Kind: InSentence, Sentence: s, Text: s.AppendText(nil)})
			}
		}
		clear(text)
	}
	if r.q.OperatorResults {
		docs, err := res.OperatorResults(ctx)
		if err != nil {
			return res, err
		}
		for i, d := range docs {
			ms, err := matchJSONStrings(r.re, d)
			if err != nil {
				return res, fmt.Errorf("transcript %s: operator result %d: %w", t.SID, i+1, err)
			}
			for _, m := range ms {
				m.Kind, m.OperatorResult = InOperatorResult, i+1
				res.Matches = append(res.Matches, m)
			}
		}
	}
	return res, nil
}

// operatorResults opens every operator result of the completed transcript
// t through ld, each in an arena buffer (nil for an empty one) the caller
// releases, also those returned with an error.
func operatorResults(ctx context.Context, ld *catalog.Loader, t record.Transcript) ([]*plaincache.Buffer, error) {
	if !t.Completed() {
		return nil, nil
	}
	rs, err := ld.OperatorResults(ctx, t)
	if rs != nil {
		defer rs.Release()
	}
	if err != nil {
		return nil, describe(ctx, ld, t, "operator results", err)
	}
	var bufs []*plaincache.Buffer
	for i := range rs.Len() {
		b, err := rs.Open(ctx, i)
		if err != nil {
			return bufs, describe(ctx, ld, t, fmt.Sprintf("operator result %d", i+1), err)
		}
		bufs = append(bufs, b)
	}
	return bufs, nil
}

// bytesOf is the document in b; an empty one (nil b) is empty, not nil.
func bytesOf(b *plaincache.Buffer) []byte {
	if b == nil {
		return []byte{}
	}
	return b.Bytes()
}

// Sentences returns the sentences document of the completed transcript t
// through the one loader (catalog.Loader), byte for byte as the mount
// serves sentences.json, copied onto the heap for the caller to wipe.
//
// Deprecated: it exists until cat reads through a catalog.Loader of its
// own (the decrypted document then stays in the arena).
func Sentences(ctx context.Context, src catalog.ContentSource, dec catalog.Decrypter, t record.Transcript) ([]byte, error) {
	ld, done, err := heapLoader(src, dec)
	if err != nil {
		return nil, err
	}
	defer done()
	b, err := ld.Sentences(ctx, t)
	if err != nil {
		return nil, describe(ctx, ld, t, "sentences", err)
	}
	defer release(b)
	return bytes.Clone(bytesOf(b)), nil
}

// OperatorResults returns the operator results of t, each byte for byte
// as the mount serves operator-results/<n>.json, copied onto the heap for
// the caller to wipe.
//
// Deprecated: as Sentences.
func OperatorResults(ctx context.Context, src catalog.ContentSource, dec catalog.Decrypter, t record.Transcript) ([][]byte, error) {
	ld, done, err := heapLoader(src, dec)
	if err != nil {
		return nil, err
	}
	defer done()
	bufs, err := operatorResults(ctx, ld, t)
	defer func() {
		for _, b := range bufs {
			release(b)
		}
	}()
	if err != nil {
		return nil, err
	}
	docs := make([][]byte, len(bufs))
	for i, b := range bufs {
		docs[i] = bytes.Clone(bytesOf(b))
	}
	return docs, nil
}

func heapLoader(src catalog.ContentSource, dec catalog.Decrypter) (*catalog.Loader, func(), error) {
	arena, err := plaincache.New(plaincache.Options{Mlock: plaincache.MlockOff})
	if err != nil {
		return nil, nil, err
	}
	ld, err := catalog.NewLoader(catalog.LoaderOptions{Source: src, Decrypter: dec, Alloc: arena.Alloc})
	if err != nil {
		arena.Close()
		return nil, nil, err
	}
	return ld, arena.Close, nil
}

func release(b *plaincache.Buffer) {
	if b != nil {
		b.Release()
	}
}

// describe says which key a document of t needs when it did not open (the
// credential its plan finds), or that it was damaged; other errors (which
// name the transcript already) pass as they are. It never carries content.
func describe(ctx context.Context, ld *catalog.Loader, t record.Transcript, what string, err error) error {
	switch {
	case errors.Is(err, crypto.ErrUnwrap):
		cred := ld.Plan(ctx, t).Credential
		return fmt.Errorf("transcript %s: %s: %w (it was encrypted for credential %s: give its private key with --private-key %s=PATH)", t.SID, what, err, cred, cred)
	case errors.Is(err, crypto.ErrAuth):
		return fmt.Errorf("transcript %s: %s: %w (the object was altered or damaged)", t.SID, what, err)
	case errors.Is(err, crypto.ErrMalformed):
		return fmt.Errorf("transcript %s: %s: %w", t.SID, what, err)
	}
	return err
}

// serviceMemo fetches each service once: an Engine's plan asks for the
// service of every transcript that does not name its credential, from
// several workers at once.
type serviceMemo struct {
	src    catalog.ContentSource
	flight singleflight.Group
	mu     sync.Mutex
	svcs   map[string]record.Service
}

// FetchService is src's, once per service.
func (m *serviceMemo) FetchService(ctx context.Context, sid string) (record.Service, error) {
	m.mu.Lock()
	s, ok := m.svcs[sid]
	m.mu.Unlock()
	if ok {
		return s, nil
	}
	v, err, _ := m.flight.Do(sid, func() (any, error) {
		s, err := m.src.FetchService(ctx, sid)
		if err != nil {
			return s, err
		}
		m.mu.Lock()
		if m.svcs == nil {
			m.svcs = make(map[string]record.Service)
		}
		m.svcs[sid] = s
		m.mu.Unlock()
		return s, nil
	})
	return v.(record.Service), err
}

// matchMetadata matches t's customer_key and the strings of its channel's
// participants.
func matchMetadata(re *regexp.Regexp, t record.Transcript) []Match {
	var out []Match
	if t.CustomerKey != "" && re.MatchString(t.CustomerKey) {
		out = append(out, Match{Kind: InMetadata, Field: "customer_key", Text: []byte(t.CustomerKey)})
	}
	if ch := t.Channel(); ch != nil {
		ms, err := matchJSONStrings(re, ch)
		if err == nil {
			for _, m := range ms {
				if strings.HasPrefix(m.Field, "participants") {
					m.Kind, m.Field = InMetadata, "channel."+m.Field
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// matchJSONStrings matches every string value of the JSON document doc
// (arrays in order, object keys sorted), naming each match's path.
func matchJSONStrings(re *regexp.Regexp, doc []byte) ([]Match, error) {
	v, err := decodeJSON(doc)
	if err != nil {
		return nil, err
	}
	var out []Match
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case string:
			if re.MatchString(x) {
				out = append(out, Match{Field: path, Text: []byte(x)})
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, x[k])
			}
		}
	}
	walk("", v)
	return out, nil
}

func clearAll(docs [][]byte) {
	for _, d := range docs {
		clear(d)
	}
}
