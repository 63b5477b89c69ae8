package fs

// Benchmarks of issue 13: cold reads by every access pattern people use,
// against the reference pattern (grep -r --include=sentences.json) on the
// same account, and the cold reference against an account concurrency
// limit the simulator enforces as Twilio does.
//
//	go test ./fs/ -run '^$' -bench 'Walks|AccountLimit' -benchtime 1x
//
// No benchmark asserts a time; TestPrefetchFollowsEveryWalk and the fetch
// limiter tests assert what can be counted.

import (
	"flag"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

var (
	benchWalkN       = flag.Int("fs.walkN", 120, "transcripts in the walk benchmark")
	benchWalkLat     = flag.String("fs.walkLatency", "20ms,150ms", "latencies of the walk benchmark")
	benchLimitN      = flag.Int("fs.limitN", 270, "transcripts in the account-limit benchmark")
	benchLimits      = flag.String("fs.limits", "6,16,48,128", "account concurrency limits of the account-limit benchmark")
	benchLimitLat    = flag.Duration("fs.limitLatency", 150*time.Millisecond, "latency per request in the account-limit benchmark")
	benchLimitTraceN = flag.Int("fs.traceLimit", 48, "account limit whose scan is traced (the API limit over time); 0: none")
)

// walkPatterns are the walks people use, each a shell command run in a
// service's transcripts folder. The first is the reference.
var walkPatterns = []struct{ name, cmd string }{
	{"reference", `grep -r -c --include=sentences.json zzzz-no-match . >/dev/null; test $? -le 1`},
	{"glob_txt", `grep -l refund */sentences.txt >/dev/null; test $? -le 1`},
	{"jq_operator_results", `jq -c . */operator-results/*.json >/dev/null`},
	{"python_loop", `python3 -c '
import pathlib
for t in sorted(pathlib.Path(".").iterdir()):
    s = t / "sentences.json"
    if s.exists():
        s.read_bytes()
        for f in sorted((t / "operator-results").iterdir()):
            f.read_bytes()
'`},
	{"tar", `tar -cf - . >/dev/null`},
	{"ls_l", `ls -l */ >/dev/null`},
}

// timeShell runs cmd in dir with sh and returns its wall time. The child
// changes directory itself (see run).
func timeShell(b *testing.B, dir, cmd string) time.Duration {
	d, _ := timeShellCPU(b, dir, cmd)
	return d
}

// timeShellCPU is timeShell that also returns the CPU time spent meanwhile
// by this process (the mount, its fetches and decryption, and the
// simulator serving them) and by the command (its user and system time).
func timeShellCPU(b *testing.B, dir, cmd string) (time.Duration, time.Duration) {
	before := selfCPU()
	t := time.Now()
	c := exec.Command("sh", "-c", `cd "$0" && eval "$1"`, dir, cmd)
	c.Env = append(c.Environ(), "LC_ALL=C")
	if out, err := c.CombinedOutput(); err != nil {
		b.Fatalf("%s: %v: %s", cmd, err, out)
	}
	d := time.Since(t)
	return d, selfCPU() - before + c.ProcessState.UserTime() + c.ProcessState.SystemTime()
}

// selfCPU is this process's user and system time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWalks times each pattern on a fresh mount of the same account,
// interleaved with the reference, at each latency: medians of -fs.runs
// rounds, and each pattern's ratio to the reference.
func BenchmarkWalks(b *testing.B) {
	for _, f := range strings.Split(*benchWalkLat, ",") {
		lat, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil {
			b.Fatalf("-fs.walkLatency: %v", err)
		}
		b.Run("latency="+lat.String(), func(b *testing.B) {
			e := newEnv(b, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 47, TranscriptsPerService: *benchWalkN,
				NoPlainService: true, NoMixedService: true}}, fetch.Config{}, func(o *Options) {
				o.Prefetch = DefaultPrefetch
				o.CacheSize = DefaultCacheSize
			})
			svc := e.completed(true)[0].ServiceSID
			sequentialScan(b, e, svc) // the simulator seals every object once, untimed
			times := make([][]time.Duration, len(walkPatterns))
			cpus := make([][]time.Duration, len(walkPatterns))
			reqs := make([][]int64, len(walkPatterns))
			for b.Loop() {
				for range max(*benchRuns, 1) {
					for i, p := range walkPatterns {
						e.sim.SetFaults(twiliosim.Faults{APILatency: lat, ObjectLatency: lat})
						client, err := fetch.New(e.clientConfig())
						if err != nil {
							b.Fatal(err)
						}
						opts := e.opts
						opts.Source = client
						opts.Limit = func() int { return client.Stats().APILimit }
						mnt, _, stop := mountBench(b, opts)
						e.sim.ResetCounts()
						d, cpu := timeShellCPU(b, filepath.Join(mnt, "services", svc, "transcripts"), p.cmd)
						times[i] = append(times[i], d)
						cpus[i] = append(cpus[i], cpu)
						reqs[i] = append(reqs[i], requestCount(e.sim))
						stop()
						client.Close()
					}
				}
			}
			ref := median(times[0])
			for i, p := range walkPatterns {
				m := median(times[i])
				b.ReportMetric(m.Seconds(), "s_"+p.name)
				if i > 0 {
					b.ReportMetric(float64(m)/float64(ref), "x_"+p.name)
				}
				b.ReportMetric(float64(medianInt(reqs[i])), "requests_"+p.name)
				// CPU seconds of the scan, mount and simulator and
				// command together: on 2 cores a scan takes at least
				// half of it.
				b.ReportMetric(median(cpus[i]).Seconds(), "cpu_s_"+p.name)
			}
		})
	}
}

// clientConfig is the fetch configuration of e's client, for a fresh
// client per mount (a new limiter starting where a new process starts).
func (e *env) clientConfig() fetch.Config {
	return fetch.Config{AccountSID: e.sim.AccountSID, AuthToken: e.sim.AuthToken, APIURL: e.sim.URL, WordTimestamps: true}
}

// BenchmarkAccountLimit scans cold with the reference pattern while the
// simulator enforces an account concurrency limit (429 / 20429 beyond it,
// no Retry-After): the adaptive limit against a fixed 16 (the mount before
// issue 13) and against the floor, API requests × latency / limit (the
// API requests served, refusals not counted; object downloads are not
// limited by the account and are not counted), and against the path floor,
// which adds the round trips no client can overlap (see below). It
// reports the time, the share of API requests refused, and for
// -fs.traceLimit the API limit every 100 ms of one scan
// (BenchmarkAccountLimit/trace/ms=…, for benchplot).
func BenchmarkAccountLimit(b *testing.B) {
	lat := *benchLimitLat
	e := newEnv(b, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 47, TranscriptsPerService: *benchLimitN,
		NoPlainService: true, NoMixedService: true}}, fetch.Config{}, func(o *Options) {
		o.Prefetch = DefaultPrefetch
		o.CacheSize = DefaultCacheSize
	})
	svc := e.completed(true)[0].ServiceSID
	sequentialScan(b, e, svc)
	var trace []int
	for _, f := range strings.Split(*benchLimits, ",") {
		limit, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || limit <= 0 {
			b.Fatalf("-fs.limits: %q", f)
		}
		b.Run("limit="+strconv.Itoa(limit), func(b *testing.B) {
			type run struct {
				d              time.Duration
				api, refused   int64
				objects, limit int64
			}
			scan := func(fixed bool, tr *[]int) run {
				cfg := e.clientConfig()
				// The ceiling leaves the account's limit within reach
				// (--max-concurrency 128 for an account allowing 128).
				cfg.MaxConcurrency = max(fetch.DefaultMaxConcurrency, limit)
				if fixed {
					cfg.MaxConcurrency, cfg.FixedConcurrency = concurrencyBefore, true
				}
				client, err := fetch.New(cfg)
				if err != nil {
					b.Fatal(err)
				}
				defer client.Close()
				opts := e.opts
				opts.Source = client
				opts.Concurrency = cfg.MaxConcurrency
				opts.Limit = func() int { return client.Stats().APILimit }
				e.sim.SetFaults(twiliosim.Faults{APILatency: lat, ObjectLatency: lat, ConcurrencyLimit: limit})
				mnt, _, stop := mountBench(b, opts)
				defer stop()
				e.sim.ResetCounts()
				done := make(chan struct{})
				var wg sync.WaitGroup
				if tr != nil {
					wg.Go(func() {
						tk := time.NewTicker(100 * time.Millisecond)
						defer tk.Stop()
						for {
							*tr = append(*tr, client.Stats().APILimit)
							select {
							case <-done:
								return
							case <-tk.C:
							}
						}
					})
				}
				d := timeShell(b, filepath.Join(mnt, "services", svc, "transcripts"), walkPatterns[0].cmd)
				close(done)
				wg.Wait()
				refused := e.sim.Count(twiliosim.CounterFaultPrefix + "ConcurrencyLimit")
				var api int64
				for k, v := range e.sim.Counts() {
					if !strings.HasPrefix(k, twiliosim.CounterFaultPrefix) && k != twiliosim.CounterAPIConcurrencyPeak && k != twiliosim.EndpointObjectGet {
						api += v
					}
				}
				return run{d: d, api: api, refused: refused, objects: e.sim.Count(twiliosim.EndpointObjectGet), limit: int64(client.Stats().APILimit)}
			}
			var adaptive, fixed []run
			for b.Loop() {
				for i := range max(*benchRuns, 1) {
					var tr *[]int
					if i == 0 && limit == *benchLimitTraceN {
						tr = &trace
					}
					adaptive = append(adaptive, scan(false, tr))
					fixed = append(fixed, scan(true, nil))
				}
			}
			med := func(rs []run) (time.Duration, float64, int64) {
				var ds []time.Duration
				var shares []time.Duration
				var served []int64
				for _, r := range rs {
					ds = append(ds, r.d)
					shares = append(shares, time.Duration(float64(r.refused)/float64(r.api)*1e6))
					served = append(served, r.api-r.refused)
				}
				return median(ds), float64(median(shares)) / 1e6, medianInt(served)
			}
			ad, adShare, served := med(adaptive)
			fd, fdShare, _ := med(fixed)
			floor := time.Duration(served) * lat / time.Duration(limit)
			// The least any client can take: the services and the
			// transcripts listings (one page) come one after the other
			// before any content request can start, and the last
			// object is downloaded after its location came.
			path := time.Duration(2+(served-2+int64(limit)-1)/int64(limit)+1) * lat
			b.ReportMetric(ad.Seconds(), "s_adaptive")
			b.ReportMetric(fd.Seconds(), "s_fixed16")
			b.ReportMetric(floor.Seconds(), "s_floor")
			b.ReportMetric(path.Seconds(), "s_floor_path")
			b.ReportMetric(float64(ad)/float64(path), "x_floor_path")
			b.ReportMetric(float64(fd)/float64(ad), "x_faster_than_fixed16")
			b.ReportMetric(float64(ad)/float64(floor), "x_floor")
			b.ReportMetric(100*adShare, "pct_refused")
			b.ReportMetric(100*fdShare, "pct_refused_fixed16")
			b.ReportMetric(float64(served), "api_requests_served")
		})
	}
	if len(trace) == 0 {
		return
	}
	b.Run("trace", func(b *testing.B) {
		for i, v := range trace {
			b.Run("ms="+strconv.Itoa(i*100), func(b *testing.B) {
				for b.Loop() {
				}
				b.ReportMetric(float64(v), "api_limit")
			})
		}
	})
}

// concurrencyBefore is the fixed request limit of the mount before
// adaptive concurrency (issue 13), for side-by-side figures.
const concurrencyBefore = 16
