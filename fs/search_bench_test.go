package fs

import (
	"context"
	"flag"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/search"
)

var (
	benchSearchN    = flag.Int("fs.searchN", 1000, "transcripts of the search-against-grep benchmark")
	benchSearchMemN = flag.String("fs.searchMemN", "1000,10000", "transcript counts of the search memory benchmark")
)

// searchAccount runs the search engine over the whole account of e with
// the CLI's settings (twice the client's concurrency in workers) for a
// pattern that never matches, as the grep it is compared with does.
func searchAccount(b *testing.B, e *env) (time.Duration, search.Summary) {
	eng := search.New(search.Options{Source: e.client, Decrypter: e.ring, Workers: 2 * fetch.DefaultMaxConcurrency})
	t0 := time.Now()
	sum, err := eng.Run(context.Background(), search.Query{Pattern: "zzzz-no-match", Fixed: true}, search.Handler{})
	d := time.Since(t0)
	if err != nil || sum.Failed != 0 {
		b.Fatalf("search: %v, %+v", err, sum)
	}
	return d, sum
}

// BenchmarkSearchVsGrep compares `intelligencefs search`'s engine over N
// transcripts (-fs.searchN, default 1,000) with a cold
// `grep -r --include=sentences.json` over a fresh mount of the same
// account, 20 ms on every request (-fs.latency), interleaved -fs.runs
// times; it reports both medians and their ratio (target ≥ 1.4×).
func BenchmarkSearchVsGrep(b *testing.B) {
	n := *benchSearchN
	lat := *benchLatency
	e, svc := newColdEnv(b, n)
	var greps, searches []time.Duration
	var grepReqs, searchReqs []int64
	for b.Loop() {
		for i := 0; i < max(*benchRuns, 1); i++ {
			e.sim.SetFaults(twiliosim.Faults{APILatency: lat, ObjectLatency: lat})
			mnt, _, stop := mountBench(b, e.opts)
			e.sim.ResetCounts()
			greps = append(greps, grepTree(b, filepath.Join(mnt, "services", svc, "transcripts"), "sentences.json"))
			grepReqs = append(grepReqs, requestCount(e.sim))
			stop()
			e.sim.ResetCounts()
			d, sum := searchAccount(b, e)
			if sum.Scanned != len(e.sim.Transcripts(svc)) {
				b.Fatalf("searched %d of %d", sum.Scanned, len(e.sim.Transcripts(svc)))
			}
			searches = append(searches, d)
			searchReqs = append(searchReqs, requestCount(e.sim))
			e.sim.SetFaults(twiliosim.Faults{})
		}
	}
	g, s := median(greps), median(searches)
	b.ReportMetric(g.Seconds(), "s_grep_mount")
	b.ReportMetric(s.Seconds(), "s_search")
	b.ReportMetric(float64(g)/float64(s), "x_faster")
	b.ReportMetric(float64(grepReqs[0]), "requests_grep")
	b.ReportMetric(float64(searchReqs[0]), "requests_search")
}

// BenchmarkSearchMemory runs the engine over N transcripts of 50 KiB for
// each N of -fs.searchMemN and reports the largest live heap (as marked by
// each garbage collection during the run, GOGC 25 for more samples) above
// the live heap before it: with no transcript held after it was searched,
// it does not grow with N. (The heap in use would: the simulator in this
// process keeps every sealed object live, and the collector lets garbage
// grow in proportion.)
func BenchmarkSearchMemory(b *testing.B) {
	for _, f := range strings.Split(*benchSearchMemN, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("-fs.searchMemN: %q", f)
		}
		b.Run("N="+strconv.Itoa(n), func(b *testing.B) {
			e := newEnv(b, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 48, TranscriptsPerService: n,
				NoPlainService: true, NoMixedService: true, SentencesBytes: 50 << 10}}, fetch.Config{}, nil)
			svc := e.completed(true)[0].ServiceSID
			sequentialScan(b, e, svc) // seal the objects once, untimed
			var peak, cycles uint64
			for b.Loop() {
				old := debug.SetGCPercent(25)
				runtime.GC()
				base, c0 := gcLive()
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					t := time.NewTicker(time.Millisecond)
					defer t.Stop()
					for {
						select {
						case <-stop:
							return
						case <-t.C:
							if live, _ := gcLive(); live > base && live-base > peak {
								peak = live - base
							}
						}
					}
				}()
				_, sum := searchAccount(b, e)
				close(stop)
				<-done
				_, c1 := gcLive()
				cycles = c1 - c0
				debug.SetGCPercent(old)
				if sum.Scanned != n {
					b.Fatalf("searched %d of %d", sum.Scanned, n)
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "MiB_peak_live_growth")
			b.ReportMetric(float64(cycles), "gc_cycles")
			b.ReportMetric(float64(n)*50/1024, "MiB_searched")
		})
	}
}

// gcLive is the live heap marked by the last garbage collection, and the
// number of collections so far.
func gcLive() (live, cycles uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}
