package fetch

import (
	"context"
	"fmt"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// BenchmarkListTranscripts10k lists one service of 10,000 transcripts
// (10 pages of 1000) and reports requests per listing and the live heap each
// listed Transcript costs.
func BenchmarkListTranscripts10k(b *testing.B) {
	s, _ := newSim(b, twiliosim.Options{Corpus: twiliosim.CorpusOptions{
		TranscriptsPerService: 10000, NoMixedService: true, NoEncryptedService: true}})
	c, _ := simClient(b, s, nil)
	svc := s.Services()[0].SID
	list := func() []record.Transcript {
		var all []record.Transcript
		err := c.ListTranscripts(context.Background(), record.TranscriptQuery{ServiceSID: svc}, func(ts []record.Transcript) error {
			all = append(all, ts...)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		if len(all) != 10000 {
			b.Fatalf("listed %d", len(all))
		}
		return all
	}
	// Live heap per transcript, measured once outside the timed loop.
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	kept := list()
	runtime.GC()
	runtime.ReadMemStats(&after)
	perTranscript := float64(after.HeapAlloc-before.HeapAlloc) / float64(len(kept))
	runtime.KeepAlive(kept)
	kept = nil

	s.ResetCounts()
	b.ResetTimer()
	for b.Loop() {
		list()
	}
	b.ReportMetric(float64(s.Count(twiliosim.EndpointListTranscripts))/float64(b.N), "requests/op")
	b.ReportMetric(perTranscript, "heapB/transcript")
}

// BenchmarkFetchSentences1k fetches and opens the sentences of 1,000
// encrypted transcripts with 20 ms of latency on every API request and every
// object download, at the default concurrency, and reports the wall time
// against the ideal: API requests and object downloads each have a limit of
// the default concurrency, so the floor is max(API, objects) × latency /
// concurrency. The errgroup limit is twice the default concurrency (32:
// each goroutine's location and download run one after the other, so 32 of
// them keep both 16-slot limits busy) or larger (64), where the client's own
// semaphores are what bound the requests. fetch-only leaves out the
// RSA-OAEP unwrap and AES-GCM open, to separate the client's overhead from
// the CPU cost of decryption.
func BenchmarkFetchSentences1k(b *testing.B) {
	const (
		n       = 1000
		latency = 20 * time.Millisecond
	)
	s, kr := newSim(b, twiliosim.Options{Corpus: twiliosim.CorpusOptions{
		TranscriptsPerService: 1600, NoMixedService: true, NoPlainService: true}})
	var trs []twiliosim.TranscriptInfo
	for _, tr := range s.Transcripts(s.ServiceSID("call-centre-encrypted")) {
		if tr.Status == twiliosim.StatusCompleted && len(trs) < n {
			trs = append(trs, tr)
		}
	}
	if len(trs) < n {
		b.Fatalf("only %d completed transcripts", len(trs))
	}
	s.SetFaults(twiliosim.Faults{APILatency: latency, ObjectLatency: latency})
	for _, bc := range []struct {
		open  bool
		group int
	}{{true, 2 * DefaultMaxConcurrency}, {true, 64}, {false, 2 * DefaultMaxConcurrency}} {
		group := bc.group
		name := fmt.Sprintf("open/group=%d", group)
		if !bc.open {
			name = fmt.Sprintf("fetch-only/group=%d", group)
		}
		b.Run(name, func(b *testing.B) {
			c, _ := simClient(b, s, nil)
			var wall time.Duration
			for b.Loop() {
				start := time.Now()
				g, ctx := errgroup.WithContext(context.Background())
				g.SetLimit(group)
				for _, tr := range trs {
					g.Go(func() error {
						env, err := c.EncryptedSentences(ctx, tr.SID)
						if err != nil || !bc.open {
							return err
						}
						_, err = kr.Open(tr.EncryptionCredentialSID, env, make([]byte, 0, env.PlaintextLen()))
						return err
					})
				}
				if err := g.Wait(); err != nil {
					b.Fatal(err)
				}
				wall += time.Since(start)
			}
			st := c.Stats()
			reqs := float64(st.APIRequests+st.ObjectDownloads) / float64(b.N)
			// API requests and object downloads each have their own limit
			// of DefaultMaxConcurrency: the busier kind sets the floor.
			busiest := float64(max(st.APIRequests, st.ObjectDownloads)) / float64(b.N)
			ideal := time.Duration(busiest * float64(latency) / DefaultMaxConcurrency)
			perOp := wall / time.Duration(b.N)
			b.ReportMetric(reqs, "requests/op")
			b.ReportMetric(perOp.Seconds(), "wall-s/op")
			b.ReportMetric(ideal.Seconds(), "ideal-s/op")
			b.ReportMetric(perOp.Seconds()/ideal.Seconds(), "wall/ideal")
		})
	}
}
