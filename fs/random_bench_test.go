package fs

import (
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

var (
	benchRandomN   = flag.Int("fs.randomN", 2500, "transcripts per service in the random-readers benchmark (two encrypted services)")
	benchRandomFor = flag.Duration("fs.randomFor", 30*time.Second, "how long the random readers read")
)

// BenchmarkRandomReaders (issue 18): 64 readers open sentences.json of
// random transcripts of two listed services through a mount with an 8 MiB
// cache and prefetch on, for -fs.randomFor. It reports the peak of
// goroutines and of the process's RSS (simulator included), downloads per
// read, and what the prefetcher did after the readers stopped: the
// downloads made then and how long until none came for a second.
func BenchmarkRandomReaders(b *testing.B) {
	e := newEnv(b, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 9, TranscriptsPerService: *benchRandomN,
		NoPlainService: true}}, fetch.Config{}, func(o *Options) {
		o.Prefetch = DefaultPrefetch
		o.CacheSize = 8 << 20
	})
	e.sim.SetFaults(twiliosim.Faults{APILatency: 20 * time.Millisecond, ObjectLatency: 20 * time.Millisecond})
	var paths []string
	for _, s := range e.sim.Services() {
		dir := filepath.Join(e.svcDir(s.SID), "transcripts")
		run(b, dir, "ls") // listed, so prefetch knows an order
		for _, ti := range e.sim.Transcripts(s.SID) {
			if ti.Status == "completed" {
				paths = append(paths, filepath.Join(dir, ti.SID, "sentences.json"))
			}
		}
	}
	for b.Loop() {
		e.sim.ResetCounts()
		peaks := samplePeaks(20 * time.Millisecond)
		var reads atomic.Int64
		var wg sync.WaitGroup
		end := time.Now().Add(*benchRandomFor)
		for r := range 64 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(r), 7))
				for time.Now().Before(end) {
					if _, err := os.ReadFile(paths[rng.IntN(len(paths))]); err != nil {
						b.Error(err)
						return
					}
					reads.Add(1)
				}
			})
		}
		wg.Wait()
		stopped := time.Now()
		atStop := e.sim.Count(twiliosim.EndpointObjectGet)
		// The backlog: wait until no download came for a second.
		last, lastAt := atStop, time.Now()
		for time.Since(lastAt) < time.Second && time.Since(stopped) < 5*time.Minute {
			time.Sleep(100 * time.Millisecond)
			if n := e.sim.Count(twiliosim.EndpointObjectGet); n != last {
				last, lastAt = n, time.Now()
			}
		}
		peakG, peakRSS := peaks()
		b.ReportMetric(float64(reads.Load()), "reads")
		b.ReportMetric(float64(atStop)/float64(reads.Load()), "downloads/read")
		b.ReportMetric(float64(peakG), "peak_goroutines")
		b.ReportMetric(float64(peakRSS)/1024, "peak_RSS_MiB")
		b.ReportMetric(float64(last-atStop), "downloads_after_stop")
		b.ReportMetric(lastAt.Sub(stopped).Seconds(), "s_fetching_after_stop")
	}
}

// samplePeaks samples the number of goroutines and this process's RSS
// every interval until the returned function is called, which reports
// their peaks (RSS in KiB).
func samplePeaks(every time.Duration) func() (goroutines, rssKiB int64) {
	var g, rss int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			g = max(g, int64(runtime.NumGoroutine()))
			if _, r, err := procMemKB(os.Getpid()); err == nil {
				rss = max(rss, r)
			}
			select {
			case <-done:
				return
			case <-time.After(every):
			}
		}
	})
	return func() (int64, int64) {
		close(done)
		wg.Wait()
		return g, rss
	}
}
