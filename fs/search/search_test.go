package search

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"testing"
	"unsafe"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
	"github.com/intelligencefs/intelligencefs/fs/sentencetext"
)

// newTestSource starts a simulator with corpus and returns a client for it
// and a keyring that opens its objects.
func newTestSource(t *testing.T, corpus twiliosim.CorpusOptions) (*twiliosim.Server, *fetch.Client, *crypto.Keyring) {
	t.Helper()
	k, err := crypto.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := twiliosim.NewServer(twiliosim.Options{Keys: []twiliosim.Credential{{PublicKey: &k.PublicKey}}, Corpus: corpus})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	c, err := fetch.New(fetch.Config{AccountSID: sim.AccountSID, AuthToken: sim.AuthToken, APIURL: sim.URL, WordTimestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ring := crypto.NewKeyring()
	ring.Add(k, sim.CredentialSIDs()[0])
	return sim, c, ring
}

const marker = "REF-ENGINE-0042"

// TestResultWipedAfterCallback: the documents a callback sees lie in the
// engine's off-heap arena (never on the Go heap) and are zeroed and
// unmapped once it returns, the match texts are zeroed (no transcript is
// held after it was matched), and each matching transcript is reported
// once.
func TestResultWipedAfterCallback(t *testing.T) {
	sim, c, ring := newTestSource(t, twiliosim.CorpusOptions{Seed: 3, TranscriptsPerService: 5, Markers: []string{marker}})
	var kept [][]byte
	type span struct{ at, n uintptr }
	var docs []span // the documents handed to callbacks
	var mu sync.Mutex
	var zeroed []span // arena mappings zeroed before they were unmapped
	eng := New(Options{Source: c, Decrypter: ring, Workers: 4})
	eng.tuneArena = func(o *plaincache.Options) {
		o.OnZeroed = func(mem []byte) {
			for _, x := range mem {
				if x != 0 {
					t.Error("an arena mapping was unmapped without being zeroed")
					break
				}
			}
			mu.Lock()
			zeroed = append(zeroed, span{uintptr(unsafe.Pointer(unsafe.SliceData(mem))), uintptr(len(mem))})
			mu.Unlock()
		}
	}
	seen := map[string]bool{}
	sum, err := eng.Run(context.Background(),
		Query{Pattern: marker, Fixed: true, OperatorResults: true}, Handler{Match: func(r *Result) error {
			if seen[r.Transcript.SID] {
				t.Errorf("%s reported twice", r.Transcript.SID)
			}
			seen[r.Transcript.SID] = true
			ops, err := r.OperatorResults(context.Background())
			if err != nil || len(ops) == 0 {
				t.Errorf("operator results: %v", err)
			}
			for _, d := range [][]byte{r.Sentences, ops[0]} {
				docs = append(docs, span{uintptr(unsafe.Pointer(unsafe.SliceData(d))), uintptr(len(d))})
			}
			for _, m := range r.Matches {
				if !regexp.MustCompile(marker).Match(m.Text) {
					t.Errorf("match text %q lacks the pattern", m.Text)
				}
				kept = append(kept, m.Text)
			}
			return nil
		}})
	if err != nil || sum.Failed != 0 {
		t.Fatalf("run: %v %+v", err, sum)
	}
	completed := 0
	for _, s := range sim.Services() {
		for _, tr := range sim.Transcripts(s.SID) {
			if tr.Status == twiliosim.StatusCompleted {
				completed++
			}
		}
	}
	if len(seen) != completed || sum.Matched != completed || sum.Listed != sum.Scanned || !sum.ListingDone {
		t.Errorf("matched %d (summary %+v), want every one of %d completed transcripts", len(seen), sum, completed)
	}
	for i, b := range kept {
		for _, x := range b {
			if x != 0 {
				t.Fatalf("match text %d (%d bytes) not wiped after the callback", i, len(b))
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for i, d := range docs {
		in := false
		for _, z := range zeroed {
			in = in || (d.at >= z.at && d.at+d.n <= z.at+z.n)
		}
		if !in {
			t.Fatalf("document %d (%d bytes) handed to the callback is not in an arena mapping zeroed after it", i, d.n)
		}
	}
	if len(docs) == 0 {
		t.Fatal("no document reached a callback")
	}
}

// TestListingStreams: transcripts are searched while the listing goes on,
// page by page; the listing never runs ahead of the search by more than a
// page and the workers' queue, so the engine's memory does not grow with
// the account.
func TestListingStreams(t *testing.T) {
	_, c, ring := newTestSource(t, twiliosim.CorpusOptions{Seed: 4, TranscriptsPerService: 150, NoMixedService: true, NoEncryptedService: true})
	const workers, pageSize = 4, 20
	ahead := 0
	sum, err := New(Options{Source: c, Decrypter: ring, Workers: workers, PageSize: pageSize}).Run(context.Background(),
		Query{Pattern: "zzzz-none", Fixed: true}, Handler{Progress: func(p Progress) {
			ahead = max(ahead, p.Listed-p.Scanned)
		}})
	if err != nil || sum.Scanned != 150 {
		t.Fatalf("run: %v %+v", err, sum)
	}
	if limit := pageSize + 2*workers + 1; ahead > limit {
		t.Errorf("the listing ran %d transcripts ahead of the search (limit %d)", ahead, limit)
	}
}

// TestFailuresGoOn: without keys every encrypted transcript is one
// Failure naming it and its credential, and the plain ones are searched.
func TestFailuresGoOn(t *testing.T) {
	sim, c, _ := newTestSource(t, twiliosim.CorpusOptions{Seed: 5, TranscriptsPerService: 4, Markers: []string{marker}})
	var failed []Failure
	matched := 0
	sum, err := New(Options{Source: c}).Run(context.Background(), Query{Pattern: marker, Fixed: true}, Handler{
		Match:   func(r *Result) error { matched++; return nil },
		Failure: func(f Failure) { failed = append(failed, f) },
	})
	if err != nil {
		t.Fatal(err)
	}
	enc, plain := 0, 0
	for _, s := range sim.Services() {
		for _, tr := range sim.Transcripts(s.SID) {
			switch {
			case tr.Status != twiliosim.StatusCompleted:
			case tr.EncryptionCredentialSID != "":
				enc++
			default:
				plain++
			}
		}
	}
	if len(failed) != enc || sum.Failed != enc || matched != plain || enc == 0 || plain == 0 {
		t.Fatalf("failed %d, matched %d; want %d and %d", len(failed), matched, enc, plain)
	}
	for _, f := range failed {
		if !errors.Is(f.Err, crypto.ErrUnwrap) || !regexp.MustCompile(f.Transcript.SID+`.*`+f.Transcript.EncryptionCredentialSID).MatchString(f.Err.Error()) {
			t.Errorf("failure %v", f.Err)
		}
	}
}

// TestServicesAndCompile: names resolve to SIDs (once each), unknown ones
// are ErrUnknownService; an empty or bad pattern is refused.
func TestServicesAndCompile(t *testing.T) {
	sim, c, _ := newTestSource(t, twiliosim.CorpusOptions{Seed: 6, TranscriptsPerService: 1})
	e := New(Options{Source: c})
	s := sim.Services()[0]
	got, err := e.Services(context.Background(), []string{s.UniqueName, s.SID})
	if err != nil || len(got) != 1 || got[0] != s.SID {
		t.Errorf("Services: %v %v", got, err)
	}
	if _, err := e.Services(context.Background(), []string{"nope"}); !errors.Is(err, ErrUnknownService) {
		t.Errorf("unknown: %v", err)
	}
	for _, q := range []Query{{}, {Pattern: "a(b"}} {
		if _, err := Compile(q); err == nil {
			t.Errorf("Compile(%+v): no error", q)
		}
	}
	if re, _ := Compile(Query{Pattern: "A.b", Fixed: true, IgnoreCase: true}); !re.MatchString("xa.B") || re.MatchString("axb") {
		t.Errorf("-F -i: %v", re)
	}
}

// TestMayMatch: the document-wide prefilter never rules out a document
// one of whose sentences matches (anchors, word boundaries, escapes), and
// does rule out one where nothing can.
func TestMayMatch(t *testing.T) {
	doc := []byte(`{"sentences":[{"sentence_index":0,"start_time":1.5,"media_channel":1,"transcript":"bye now"},{"sentence_index":1,"transcript":"call me at 555 0100"}]}`)
	esc := []byte(`{"sentences":[{"transcript":"say \"bye\"\nnow"}]}`)
	for _, tc := range []struct {
		pattern string
		doc     []byte
		want    bool // mayMatch
		matches bool // a sentence matches
	}{
		{"zzzz", doc, false, false},
		{"bye now", doc, true, true},
		{`\bbye\b`, doc, true, true},
		{`^bye`, doc, true, true},        // anchored: never ruled out
		{`0100$`, doc, true, true},       // anchored
		{`(?i)CALL ME`, doc, true, true}, // case
		{`now"`, doc, true, false},       // a document-only match is harmless
		{`bye" now`, esc, true, false},   // escapes: never ruled out
		{"bye\"\nnow", esc, true, true},  // the decoded text differs from the raw document
		{"start_time", doc, true, false}, // keys match the document only
		{`\d{3} \d{4}`, doc, true, true}, // classes
		{`bye nowhere|555 0199`, doc, false, false},
	} {
		re, pre, err := compile(Query{Pattern: tc.pattern})
		if err != nil {
			t.Fatal(err)
		}
		if got := mayMatch(re, pre, tc.doc); got != tc.want {
			t.Errorf("mayMatch(%q) = %v, want %v", tc.pattern, got, tc.want)
		}
		ss, err := sentencetext.Parse(tc.doc)
		if err != nil {
			t.Fatal(err)
		}
		any := false
		for _, s := range ss {
			any = any || re.Match(s.AppendText(nil))
		}
		if any != tc.matches || (any && !mayMatch(re, pre, tc.doc)) {
			t.Errorf("%q: a sentence matches %v, ruled out %v", tc.pattern, any, !mayMatch(re, pre, tc.doc))
		}
	}
}
