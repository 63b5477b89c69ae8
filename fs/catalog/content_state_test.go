package catalog

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
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

func (s *recordingSource) EncryptedOperatorResultLocations(ctx context.Context, sid string) ([]string, error) {
	locs, err := s.Client.EncryptedOperatorResultLocations(ctx, sid)
	if n := int(s.limit.Load()); err == nil && n > 0 && n < len(locs) {
		locs = locs[:n]
	}
	return locs, err
}

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
	if _, err := r.locations(ctx, e, true); err != nil {
		t.Fatal(err)
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
		{"expired-by-their-dates", -20 * time.Minute, -1}, // -1: once per result
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
				want = int64(n)
			}
			if got := sim.Count(twiliosim.EndpointEncryptedOperatorResults); got != want {
				t.Errorf("%d locations requests for %d results, want %d", got, n, want)
			}
		})
	}
}
