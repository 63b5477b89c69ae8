package fs

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// soakSample is one reading of the process's resources.
type soakSample struct {
	at         time.Duration
	rssKB      int64
	goroutines int
	fds        int
	reads      int64
}

func sampleNow(start time.Time, reads int64) soakSample {
	s := soakSample{at: time.Since(start).Round(time.Second), goroutines: runtime.NumGoroutine(), reads: reads}
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		s.fds = len(ents)
	}
	if st, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(st), "\n") {
			if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				s.rssKB, _ = strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			}
		}
	}
	return s
}

// TestSoak runs 16 concurrent readers over a corpus ten times the cache
// for INTELLIGENCEFS_SOAK (e.g. 30m; unset: skipped), switching simulator
// faults on and off at random. Every successful read must be exact; a
// failed one must be EIO or EACCES (never ENOENT, never a short read). RSS,
// goroutines and descriptors are sampled every 10 s (INTELLIGENCEFS_SOAK_EVERY
// overrides) and must stay flat: the mean of the last third of the samples
// may exceed the mean of the first third (after the first minute of warm-up)
// by at most 25% plus a small constant.
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("INTELLIGENCEFS_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("soak: set INTELLIGENCEFS_SOAK to a duration (e.g. 30m) to run")
	}
	every := 10 * time.Second
	if v, err := time.ParseDuration(os.Getenv("INTELLIGENCEFS_SOAK_EVERY")); err == nil && v > 0 {
		every = v
	}
	const cacheSize = 2 << 20
	// The faults make the mount log a warning per failed read: count the
	// lines, keep none (the in-memory log buffer of the other tests would
	// grow with the run and show up as the test process's RSS).
	var logLines lineCounter
	logger := slog.New(slog.NewTextHandler(&logLines, &slog.HandlerOptions{Level: slog.LevelInfo}))
	e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 37, TranscriptsPerService: 500}},
		fetch.Config{MaxAttempts: 3, MaxRetryTime: 3 * time.Second, Timeout: 2 * time.Second, Logger: logger},
		func(o *Options) { o.CacheSize = cacheSize; o.Prefetch = 8; o.Logger = logger })
	defer func() { t.Logf("log lines written: %d", logLines.n.Load()) }()
	type file struct {
		path string
		want []byte
	}
	var files []file
	var corpus int
	for _, s := range e.sim.Services() {
		for _, ti := range e.sim.Transcripts(s.SID) {
			if ti.Status != "completed" {
				continue
			}
			for name, b := range e.expected(t, ti) {
				if name == "transcript.json" {
					continue
				}
				files = append(files, file{filepath.Join(e.tDir(ti.ServiceSID, ti.SID), name), b})
				corpus += len(b)
			}
		}
	}
	t.Logf("soak %v: %d files, %d bytes of content, cache %d bytes (%.1f×)", d, len(files), corpus, cacheSize, float64(corpus)/cacheSize)
	if corpus < 10*cacheSize {
		t.Fatalf("corpus %d bytes is less than 10× the cache", corpus)
	}

	faults := []func(r *rand.Rand) twiliosim.Faults{
		func(r *rand.Rand) twiliosim.Faults {
			return twiliosim.Faults{APILatency: time.Duration(r.IntN(500)) * time.Millisecond}
		},
		func(r *rand.Rand) twiliosim.Faults {
			return twiliosim.Faults{TooManyRequests: twiliosim.Rule{Fraction: 0.3}, RetryAfter: time.Second}
		},
		func(r *rand.Rand) twiliosim.Faults {
			return twiliosim.Faults{ServerError: twiliosim.Rule{Fraction: 0.3}}
		},
		func(r *rand.Rand) twiliosim.Faults {
			return twiliosim.Faults{ResetMidBody: twiliosim.Rule{Fraction: 0.2, Target: twiliosim.TargetObjects}}
		},
		func(r *rand.Rand) twiliosim.Faults {
			return twiliosim.Faults{TruncateBody: twiliosim.Rule{Fraction: 0.2, Target: twiliosim.TargetObjects}}
		},
		func(r *rand.Rand) twiliosim.Faults {
			return twiliosim.Faults{TamperCiphertext: twiliosim.Rule{Fraction: 0.2}}
		},
		func(r *rand.Rand) twiliosim.Faults {
			return twiliosim.Faults{MissingIVHeader: twiliosim.Rule{Fraction: 0.2}}
		},
		func(r *rand.Rand) twiliosim.Faults {
			return twiliosim.Faults{ExpiredURLs: twiliosim.Rule{Fraction: 0.3}}
		},
		func(r *rand.Rand) twiliosim.Faults { return twiliosim.Faults{WrongCredentials: true} },
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, failed atomic.Int64
	errs := make(chan error, 32)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				f := files[r.IntN(len(files))]
				got, err := os.ReadFile(f.path)
				reads.Add(1)
				var errno syscall.Errno
				switch {
				case err == nil && !bytes.Equal(got, f.want):
					report(fmt.Errorf("%s: %d bytes differ from the %d expected", f.path, len(got), len(f.want)))
				case err == nil:
				case errors.As(err, &errno) && (errno == syscall.EIO || errno == syscall.EACCES) && len(got) == 0:
					failed.Add(1)
				default:
					report(fmt.Errorf("%s: %v after %d bytes", f.path, err, len(got)))
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // the fault switcher
		defer wg.Done()
		r := rand.New(rand.NewPCG(99, 1))
		for {
			var f twiliosim.Faults
			if r.IntN(2) == 0 {
				f = faults[r.IntN(len(faults))](r)
			}
			e.sim.SetFaults(f)
			select {
			case <-stop:
				e.sim.SetFaults(twiliosim.Faults{})
				return
			case <-time.After(time.Duration(2+r.IntN(8)) * time.Second):
			}
		}
	}()

	start := time.Now()
	var samples []soakSample
	tick := time.NewTicker(every)
	defer tick.Stop()
	deadline := time.After(d)
loop:
	for {
		select {
		case <-tick.C:
			s := sampleNow(start, reads.Load())
			samples = append(samples, s)
			t.Logf("t=%v rss=%dKiB goroutines=%d fds=%d reads=%d failed=%d", s.at, s.rssKB, s.goroutines, s.fds, s.reads, failed.Load())
		case err := <-errs:
			t.Error(err)
			break loop
		case <-deadline:
			break loop
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// All clear: everything reads exactly again, from the same mount.
	for i := 0; i < len(files); i += max(1, len(files)/200) {
		if got, err := os.ReadFile(files[i].path); err != nil || !bytes.Equal(got, files[i].want) {
			t.Errorf("after the soak: %s: %v", files[i].path, err)
		}
	}
	st := e.srv.root.cache.Stats()
	t.Logf("reads %d (failed under faults %d), cache %+v", reads.Load(), failed.Load(), st)
	if st.Bytes > cacheSize {
		t.Errorf("cache holds %d bytes, bound %d", st.Bytes, cacheSize)
	}
	checkFlat(t, samples, every)
}

// checkFlat fails if a resource trends upward: after a minute of warm-up
// (or a sixth of the run), the mean of the last third of the samples may
// exceed that of the first third by 25% plus slack.
func checkFlat(t *testing.T, samples []soakSample, every time.Duration) {
	t.Helper()
	warm := max(int(time.Minute/every), len(samples)/6)
	if len(samples)-warm < 6 {
		t.Logf("only %d samples after warm-up: too few to judge a trend", len(samples)-warm)
		return
	}
	s := samples[warm:]
	third := len(s) / 3
	mean := func(part []soakSample, f func(soakSample) float64) float64 {
		var sum float64
		for _, x := range part {
			sum += f(x)
		}
		return sum / float64(len(part))
	}
	for _, m := range []struct {
		name  string
		f     func(soakSample) float64
		slack float64
	}{
		{"rss KiB", func(x soakSample) float64 { return float64(x.rssKB) }, 16 << 10},
		{"goroutines", func(x soakSample) float64 { return float64(x.goroutines) }, 40},
		{"descriptors", func(x soakSample) float64 { return float64(x.fds) }, 20},
	} {
		first, last := mean(s[:third], m.f), mean(s[len(s)-third:], m.f)
		t.Logf("%s: first third %.0f, last third %.0f", m.name, first, last)
		if last > first*1.25+m.slack {
			t.Errorf("%s trend upward: %.0f -> %.0f", m.name, first, last)
		}
	}
}

// lineCounter is a log sink that counts lines and keeps nothing.
type lineCounter struct{ n atomic.Int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}
