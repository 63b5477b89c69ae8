package fs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
)

// walkEnv mounts one encrypted service of n transcripts with prefetch on
// and latency on every request, so the walker waits for what it fetches
// itself and the prefetcher can get ahead.
func walkEnv(t *testing.T, n int, tweak func(*Options)) (*env, string, []twiliosim.TranscriptInfo) {
	t.Helper()
	e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 21, TranscriptsPerService: n,
		NoPlainService: true, NoMixedService: true}}, fetch.Config{}, func(o *Options) {
		o.Prefetch = 8
		if tweak != nil {
			tweak(o)
		}
	})
	e.sim.SetFaults(twiliosim.Faults{APILatency: 10 * time.Millisecond, ObjectLatency: 10 * time.Millisecond})
	tis := e.completed(true)
	if len(tis) < n/2 {
		t.Fatalf("%d completed transcripts of %d", len(tis), n)
	}
	return e, filepath.Join(e.svcDir(tis[0].ServiceSID), "transcripts"), tis
}

// TestPrefetchFollowsEveryWalk runs the walks people use (a shell glob over
// sentences.txt, jq over operator results, a Python loop in sorted order,
// tar, ls -l) on a fresh mount and checks that the prefetcher, not the
// walker, fetched most of what was read, of the kinds read (operator
// result bodies included), that nothing was downloaded twice (a stat of a
// file being prefetched waits for that load), and the bytes.
func TestPrefetchFollowsEveryWalk(t *testing.T) {
	const n = 30
	hashes := `import hashlib, pathlib, sys
for t in sorted(pathlib.Path(".").iterdir()):
    if not (t / "sentences.json").exists():
        continue
    for f in [t / "sentences.json"] + sorted((t / "operator-results").iterdir()):
        print(f, hashlib.sha256(f.read_bytes()).hexdigest())
`
	for _, tc := range []struct {
		name  string
		cmd   string
		kinds []catalog.Kind // what the walk reads, so what must be prefetched
		check func(t *testing.T, e *env, dir string, out []byte, tis []twiliosim.TranscriptInfo)
	}{
		{name: "glob over sentences.txt", cmd: `grep -l -i e */sentences.txt`, kinds: []catalog.Kind{catalog.KindTxt},
			check: func(t *testing.T, e *env, dir string, out []byte, tis []twiliosim.TranscriptInfo) {
				var want []string
				for _, ti := range tis {
					if bytes.Contains(bytes.ToLower(e.expected(t, ti)["sentences.txt"]), []byte("e")) {
						want = append(want, ti.SID+"/sentences.txt")
					}
				}
				sort.Strings(want)
				if got := strings.Fields(string(out)); strings.Join(got, " ") != strings.Join(want, " ") {
					t.Errorf("grep -l listed %d files, want %d", len(got), len(want))
				}
			}},
		{name: "jq over operator results", cmd: `jq -c . */operator-results/*.json | wc -l`, kinds: []catalog.Kind{catalog.KindOpResult}},
		{name: "Python loop in sorted order", cmd: "python3 -c '" + hashes + "'", kinds: []catalog.Kind{catalog.KindSentences, catalog.KindOpResult},
			check: func(t *testing.T, e *env, dir string, out []byte, tis []twiliosim.TranscriptInfo) {
				want := map[string]string{}
				for _, ti := range tis {
					for name, b := range e.expected(t, ti) {
						if name != "transcript.json" && name != "sentences.txt" {
							h := sha256.Sum256(b)
							want[ti.SID+"/"+name] = hex.EncodeToString(h[:])
						}
					}
				}
				got := map[string]string{}
				for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
					if f := strings.Fields(line); len(f) == 2 {
						got[f[0]] = f[1]
					}
				}
				if len(got) != len(want) {
					t.Errorf("Python read %d files, want %d", len(got), len(want))
				}
				for k, w := range want {
					if got[k] != w {
						t.Errorf("%s: sha256 %s, want %s", k, got[k], w)
					}
				}
			}},
		{name: "tar", cmd: `tar -cf "$TARFILE" .`, kinds: []catalog.Kind{catalog.KindSentences, catalog.KindTxt, catalog.KindOpResult},
			check: func(t *testing.T, e *env, dir string, out []byte, tis []twiliosim.TranscriptInfo) {
				x := t.TempDir()
				run(t, x, "tar", "-xf", os.Getenv("TARFILE"))
				for _, ti := range tis {
					compareFiles(t, ti.SID, e.expected(t, ti), readTree(t, filepath.Join(x, ti.SID)))
				}
			}},
		{name: "ls -l", cmd: `ls -l */`, kinds: []catalog.Kind{catalog.KindSentences, catalog.KindTxt}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, dir, tis := walkEnv(t, n, nil)
			t.Setenv("TARFILE", filepath.Join(t.TempDir(), "walk.tar"))
			e.sim.ResetCounts()
			out := run(t, dir, "sh", "-c", tc.cmd)
			if tc.check != nil {
				tc.check(t, e, dir, out, tis)
			}
			st := e.srv.root.cat.PrefetchStats()
			c := e.sim.Counts()
			t.Logf("prefetched %v files (sentences, txt, operator results); requests %v", st.Files, c)
			for _, k := range tc.kinds {
				// The walker fetches the first transcript itself; the
				// prefetcher must have brought most of the rest.
				if st.Files[k] < int64(len(tis))/2 {
					t.Errorf("%s: the prefetcher fetched %d of %d transcripts' %s", tc.name, st.Files[k], len(tis), kindName(k))
				}
			}
			objects := int64(0)
			for _, ti := range tis {
				objects += 1 + int64(len(e.sim.OperatorResultPlaintexts(ti.SID, ti.Redaction)))
			}
			if got := c[twiliosim.EndpointObjectGet]; got > objects {
				t.Errorf("%d downloads for %d objects: something was fetched twice", got, objects)
			}
			if got := c[twiliosim.EndpointEncryptedSentences]; got > int64(len(tis)) {
				t.Errorf("%d sentences locations for %d transcripts", got, len(tis))
			}
			if got := c[twiliosim.EndpointEncryptedOperatorResults]; got > int64(len(tis)) {
				t.Errorf("%d operator-result locations for %d transcripts", got, len(tis))
			}
		})
	}
}

func kindName(k catalog.Kind) string {
	return [...]string{"sentences.json", "sentences.txt", "operator results"}[k]
}

// TestPrefetchSingleFile: reading one file (no walk) prefetches at most
// the --prefetch window, never the folder; a stat alone does the same.
func TestPrefetchSingleFile(t *testing.T) {
	e, dir, tis := walkEnv(t, 40, nil)
	ti := tis[len(tis)/2]
	run(t, dir, "ls") // the folder is listed: its order is known
	e.sim.ResetCounts()
	if _, err := os.Stat(filepath.Join(dir, ti.SID, "sentences.json")); err != nil {
		t.Fatal(err)
	}
	waitIdle(t, e)
	if got := e.sim.Count(twiliosim.EndpointEncryptedSentences); got < 2 || got > 1+int64(e.opts.Prefetch) {
		t.Errorf("a stat of one file fetched %d sentences, want 1 + at most --prefetch (%d)", got, e.opts.Prefetch)
	}
	if got := e.srv.root.cat.PrefetchStats().Files[catalog.KindOpResult]; got != 0 {
		t.Errorf("a stat of sentences.json prefetched %d operator results", got)
	}
}

// TestPrefetchWalkFromStart: listing inside the folder's first transcript
// (in listing or name order: grep -r, tar, a Python loop or a glob over
// operator-results/ begin so) opens the prefetch window at once to twice
// the request limit; the same listing inside a transcript in the middle
// (someone looking into one transcript) fetches at most --prefetch more.
// A wide window follows the request limit as it grows, before the reader
// moves on.
func TestPrefetchWalkFromStart(t *testing.T) {
	first := func(tis []twiliosim.TranscriptInfo) string {
		sids := make([]string, len(tis))
		for i, ti := range tis {
			sids[i] = ti.SID
		}
		return slices.Min(sids)
	}
	for _, tc := range []struct {
		name string
		pick func(tis []twiliosim.TranscriptInfo) string // the transcript listed
		wide bool
		grow bool // the request limit is 4 until the prefetcher fetched a file, then 16
	}{
		{"first by name", first, true, false},
		{"first by name, limit growing", first, true, true},
		{"in the middle", func(tis []twiliosim.TranscriptInfo) string { return tis[len(tis)/2].SID }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var root atomic.Pointer[Root]
			e, dir, tis := walkEnv(t, 40, func(o *Options) {
				o.Concurrency = 16
				if tc.grow {
					o.Limit = func() int {
						if r := root.Load(); r != nil && r.cat.PrefetchedFiles(catalog.KindSentences) > 0 {
							return 16
						}
						return 4
					}
				}
			})
			root.Store(e.srv.root)
			run(t, dir, "ls")
			e.sim.ResetCounts()
			run(t, filepath.Join(dir, tc.pick(tis)), "ls")
			waitIdle(t, e)
			got := e.sim.Count(twiliosim.EndpointEncryptedSentences)
			k := int64(e.opts.Prefetch)
			// Without the wide start a first step doubles the window
			// once: 1 + 2 × --prefetch at most.
			if tc.wide && got <= 1+2*k {
				t.Errorf("listing the first transcript fetched %d sentences, want more than 1 + 2 × --prefetch (%d): the window opens at once to 2 × the limit (%d transcripts)", got, 1+2*k, 2*e.opts.Concurrency)
			}
			if !tc.wide && (got < 2 || got > 1+k) {
				t.Errorf("listing a transcript in the middle fetched %d sentences, want 1 + at most --prefetch (%d)", got, k)
			}
		})
	}
}

// waitIdle waits until the prefetcher has no job queued or running.
func waitIdle(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st := e.srv.root.cat.PrefetchStats()
		if st.Workers == 0 && st.Queued == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prefetcher still busy after 2 minutes: %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPrefetchUnderRandomAccess (issue 18): 64 readers at random over a
// cache far smaller than the data. The prefetcher's queue is bounded and a
// worker's slot is taken before its goroutine starts, so goroutines do not
// pile up behind the request limit, and once the readers stop, the
// prefetcher stops after at most a queue's worth of jobs.
func TestPrefetchUnderRandomAccess(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 5, TranscriptsPerService: 300,
		NoPlainService: true}}, fetch.Config{}, func(o *Options) {
		o.Prefetch = 8
		o.CacheSize = 1 << 20
	})
	e.sim.SetFaults(twiliosim.Faults{APILatency: 5 * time.Millisecond, ObjectLatency: 5 * time.Millisecond})
	tis := e.completed(true)
	for _, s := range e.sim.Services() {
		run(t, filepath.Join(e.svcDir(s.SID), "transcripts"), "ls") // listed: prefetch knows the order
	}
	base := runtime.NumGoroutine()
	peaks := samplePeaks(2 * time.Millisecond)
	var wg sync.WaitGroup
	var reads atomic.Int64
	for r := range 64 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 2))
			for range 25 {
				ti := tis[rng.IntN(len(tis))]
				got, err := os.ReadFile(filepath.Join(e.tDir(ti.ServiceSID, ti.SID), "sentences.json"))
				if err != nil {
					t.Error(err)
					return
				}
				if !bytes.Equal(got, e.sim.SentencesPlaintext(ti.SID, ti.Redaction)) {
					t.Errorf("%s: wrong bytes", ti.SID)
					return
				}
				reads.Add(1)
			}
		})
	}
	wg.Wait()
	peak, _ := peaks()
	atStop := e.sim.Count(twiliosim.EndpointObjectGet)
	st := e.srv.root.cat.PrefetchStats()
	waitIdle(t, e)
	after := e.sim.Count(twiliosim.EndpointObjectGet) - atStop
	t.Logf("%d reads, %d downloads, goroutines %d before, peak %d; at stop %+v; %d downloads after the readers stopped",
		reads.Load(), atStop, base, peak, st, after)
	// The readers, their FUSE requests, the HTTP connections of both
	// limits and the prefetch workers: a few per slot, nothing per job.
	if bound := int64(base + 64*4 + 3*e.opts.Concurrency*4); peak > bound {
		t.Errorf("peak %d goroutines, want at most %d: prefetch jobs are piling up", peak, bound)
	}
	if max := int64(st.Queued + st.Workers); after > max {
		t.Errorf("%d downloads after the readers stopped, want at most the %d jobs queued or running then", after, max)
	}
	if bound := int64(e.srv.root.cat.PrefetchStats().MaxQueue); int64(st.Queued) > bound {
		t.Errorf("%d jobs queued, bound %d", st.Queued, bound)
	}
}
