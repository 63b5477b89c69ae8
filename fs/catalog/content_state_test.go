package catalog

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fetch/sealedcache"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// recordingSource is a fetch.Client that keeps the plain operator results
// it handed out (to check they were cleared) and can shorten the list of
// encrypted locations.
type recordingSource struct {
	*fetch.Client
	mu    sync.Mutex
	docs  [][]byte
	limit atomic.Int64 // >0: answer only the first limit locations
}

func (s *recordingSource) PlainOperatorResults(ctx context.Context, sid string) ([][]byte, error) {
	docs, err := s.Client.PlainOperatorResults(ctx, sid)
	s.mu.Lock()
	s.docs = append(s.docs, docs...)
	s.mu.Unlock()
	return docs, err
}

func (s *recordingSource) SealedOperatorResults(ctx context.Context, t record.Transcript) (record.SealedResults, error) {
	rs, err := s.Client.SealedOperatorResults(ctx, t)
	if n := int(s.limit.Load()); err == nil && n > 0 && n < rs.Len() {
		rs = shortResults{rs, n}
	}
	return rs, err
}

// shortResults are the first n of some sealed operator results (a later
// answer listing fewer of them).
type shortResults struct {
	record.SealedResults
	n int
}

func (r shortResults) Len() int { return r.n }

// allCleared reports whether every handed-out document is all zeros.
func (s *recordingSource) allCleared() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range s.docs {
		for _, c := range d {
			if c != 0 {
				return false
			}
		}
	}
	return len(s.docs) > 0
}

// catalogOnSim builds a Catalog on a simulator through the real fetch
// client, and the entry of a completed transcript of the service with that
// unique name having at least three operator results.
func catalogOnSim(t *testing.T, simOpts twiliosim.Options, unique string) (*Catalog, *recordingSource, *Entry, *twiliosim.Server) {
	t.Helper()
	k := testKey(t)
	simOpts.Keys = []twiliosim.Credential{{PublicKey: &k.PublicKey}}
	if simOpts.Corpus.Seed == 0 {
		simOpts.Corpus = twiliosim.CorpusOptions{Seed: 37, TranscriptsPerService: 8}
	}
	sim, err := twiliosim.NewServer(simOpts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	c, err := fetch.New(fetch.Config{AccountSID: sim.AccountSID, AuthToken: sim.AuthToken, APIURL: sim.URL, WordTimestamps: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	src := &recordingSource{Client: c}
	ring := crypto.NewKeyring()
	ring.Add(k, sim.CredentialSIDs()[0])
	r := newTestCatalog(t, src, ring, 16<<20, nil)
	for _, ti := range sim.Transcripts(sim.ServiceSID(unique)) {
		if ti.Status == "completed" && len(sim.OperatorResultPlaintexts(ti.SID, ti.Redaction)) >= 3 {
			tr, err := c.FetchTranscript(context.Background(), ti.SID)
			if err != nil {
				t.Fatal(err)
			}
			return r, src, r.Entry(tr), sim
		}
	}
	t.Fatalf("no completed transcript with 3 operator results in %s", unique)
	return nil, nil, nil, nil
}

// TestPlainResultsAllocFailure: when an operator result cannot be copied
// into the arena (an allocation refused, e.g. under --mlock required), the
// result already taken for the reader is released (its plaintext zeroed,
// not pinned forever), and the heap copies of every result are cleared, on
// the read path and on the listing path alike.
func TestPlainResultsAllocFailure(t *testing.T) {
	for _, path := range []string{"read", "listing"} {
		t.Run(path, func(t *testing.T) {
			r, src, e, _ := catalogOnSim(t, twiliosim.Options{}, "call-centre-plain")
			var calls atomic.Int64
			refused := errors.New("allocation refused")
			r.alloc = func(n int) (*plaincache.Buffer, error) {
				if calls.Add(1) == 2 {
					return nil, refused
				}
				return r.cache.Alloc(n)
			}
			ctx := context.Background()
			if path == "read" {
				b, err := r.LoadContent(ctx, e, KindOpResult, 1)
				if !errors.Is(err, refused) || b != nil {
					t.Fatalf("load: %v, %v", b, err)
				}
			} else if _, err := r.OpCount(ctx, e); err != nil {
				t.Fatal(err)
			}
			if st := r.cache.Stats(); st.LiveBytes != st.Bytes {
				t.Errorf("%d bytes of plaintext live outside the cache (%d cached): a buffer stayed pinned", st.LiveBytes-st.Bytes, st.Bytes)
			}
			if !src.allCleared() {
				t.Error("a heap copy of an operator result was not cleared")
			}
		})
	}
}

// TestGoneRemovesEveryCachedResult: a transcript deleted upstream leaves no
// operator result in the cache, also when a later answer of the locations
// listed fewer of them than were read.
func TestGoneRemovesEveryCachedResult(t *testing.T) {
	r, src, e, sim := catalogOnSim(t, twiliosim.Options{}, "call-centre-encrypted")
	ctx := context.Background()
	n := len(sim.OperatorResultPlaintexts(e.SID(), e.Transcript().Redaction))
	for i := 1; i <= n; i++ {
		b, err := r.LoadContent(ctx, e, KindOpResult, i)
		if err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	src.limit.Store(1)
	e.mu.Lock()
	e.ops, e.opCount = nil, -1 // a new version of the transcript lists fewer
	e.mu.Unlock()
	if n, err := r.OpCount(ctx, e); err != nil || n != 1 {
		t.Fatalf("count after the shorter answer: %d, %v", n, err)
	}
	r.transcriptGone(e.SID())
	for i := 1; i <= n; i++ {
		if _, ok := r.cache.Peek(KeyOpResult(e.SID(), i)); ok {
			t.Errorf("operator result %d of a deleted transcript is still cached", i)
		}
	}
}

// TestLocationsExpiryFromURL: locations are reused while their URLs say
// they are valid, and asked again once they say they have expired (not
// after a fixed time, and without a timer).
func TestLocationsExpiryFromURL(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset time.Duration // of the simulator's clock, which signs the URLs
		asked  int64         // locations requests for reading every result
	}{
		{"valid", 0, 1},
		{"expired-by-their-dates", -20 * time.Minute, -1},
		// -1: once per result, and the first answer (which gave the count)
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := func() time.Time { return time.Now().Add(tc.offset) }
			r, _, e, sim := catalogOnSim(t, twiliosim.Options{Now: now}, "call-centre-encrypted")
			ctx := context.Background()
			n := len(sim.OperatorResultPlaintexts(e.SID(), e.Transcript().Redaction))
			sim.ResetCounts()
			for i := 1; i <= n; i++ {
				b, err := r.LoadContent(ctx, e, KindOpResult, i)
				if err != nil {
					t.Fatal(err)
				}
				b.Release()
			}
			want := tc.asked
			if want < 0 {
				want = int64(n) + 1
			}
			if got := sim.Count(twiliosim.EndpointEncryptedOperatorResults); got != want {
				t.Errorf("%d locations requests for %d results, want %d", got, n, want)
			}
		})
	}
}

// TestSwappedResultWithSealedCache (issue 26): an operator result of
// another transcript, served by the object store with a sealed cache on,
// is one error naming both transcripts (EIO on the mount), nothing of it
// is kept (neither plaintext nor the sealed entry), and once the store
// serves the right object the next read gets it, also in a fresh process
// on the same sealed cache.
func TestSwappedResultWithSealedCache(t *testing.T) {
	k := testKey(t)
	sim, err := twiliosim.NewServer(twiliosim.Options{Keys: []twiliosim.Credential{{PublicKey: &k.PublicKey}},
		Corpus: twiliosim.CorpusOptions{Seed: 37, TranscriptsPerService: 8}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	ring := crypto.NewKeyring()
	ring.Add(k, sim.CredentialSIDs()[0])
	dir := filepath.Join(t.TempDir(), "sealed")
	open := func() (*Catalog, *fetch.Client) {
		st, err := sealedcache.Open(sealedcache.Options{Dir: dir, SealKey: ring.DeriveSecret(sealedcache.SealKeyLabel)})
		if err != nil {
			t.Fatal(err)
		}
		c, err := fetch.New(fetch.Config{AccountSID: sim.AccountSID, AuthToken: sim.AuthToken, APIURL: sim.URL, WordTimestamps: true, SealedCache: st})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		return newTestCatalog(t, c, ring, 16<<20, nil), c
	}
	var ti twiliosim.TranscriptInfo
	for _, x := range sim.Transcripts(sim.ServiceSID("call-centre-encrypted")) {
		if x.Status == "completed" && len(sim.OperatorResultPlaintexts(x.SID, x.Redaction)) >= 2 {
			ti = x
			break
		}
	}
	if ti.SID == "" {
		t.Fatal("no completed encrypted transcript with two operator results")
	}
	want := sim.OperatorResultPlaintexts(ti.SID, ti.Redaction)[0]
	ctx := context.Background()
	read := func(r *Catalog, c *fetch.Client) ([]byte, error) {
		tr, err := c.FetchTranscript(ctx, ti.SID)
		if err != nil {
			t.Fatal(err)
		}
		b, err := r.LoadContent(ctx, r.Entry(tr), KindOpResult, 1)
		if err != nil {
			return nil, err
		}
		defer b.Release()
		return bytes.Clone(b.Bytes()), nil
	}

	r1, c1 := open()
	sim.SetFaults(twiliosim.Faults{SwapOperatorResults: twiliosim.Rule{Fraction: 1, TranscriptSID: ti.SID}})
	_, err = read(r1, c1)
	if !errors.Is(err, record.ErrWrongTranscript) || !strings.Contains(err.Error(), ti.SID) || !strings.Contains(err.Error(), "names transcript GT") {
		t.Fatalf("swapped result: %v, want an error naming both transcripts", err)
	}
	if classify(err) != failIO {
		t.Errorf("swapped result classified %v, want an I/O error (EIO)", classify(err))
	}
	if _, ok := r1.cache.Peek(KeyOpResult(ti.SID, 1)); ok {
		t.Error("the swapped result's plaintext is cached")
	}
	sim.SetFaults(twiliosim.Faults{})
	c1.Close() // flushes the sealed cache

	r2, c2 := open()
	sim.ResetCounts()
	got, err := read(r2, c2)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after the swap stopped, in a fresh process: %v (%d bytes)", err, len(got))
	}
	if n := sim.Count(twiliosim.EndpointObjectGet); n != 1 {
		t.Errorf("%d downloads in the fresh process, want 1: the swapped object was kept on disk", n)
	}
}
