package fs

import (
	"context"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

var (
	benchColdN    = flag.Int("fs.coldN", 1000, "transcripts in the cold grep benchmark")
	benchWarmN    = flag.Int("fs.warmN", 2000, "files in the warm grep benchmark")
	benchLatency  = flag.Duration("fs.latency", 20*time.Millisecond, "injected latency per API and object request (cold benchmark)")
	benchCatBytes = flag.Int("fs.catBytes", 64<<20, "size of the file in the warm cat benchmark")
)

// shmDir returns a directory on tmpfs, removed at cleanup.
func shmDir(b *testing.B) string {
	d, err := os.MkdirTemp("/dev/shm", "intelligencefs-bench-")
	if err != nil {
		b.Skipf("no /dev/shm: %v", err)
	}
	b.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// readAll reads a file like cat does (128 KiB reads).
func readAll(b *testing.B, p string, buf []byte) int64 {
	f, err := os.Open(p)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
	if err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkWarmCat reads a 64 MiB file already in the cache (and the
// kernel's page cache) through the mount and from /dev/shm.
func BenchmarkWarmCat(b *testing.B) {
	e := newEnv(b, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 41, TranscriptsPerService: 1,
		NoPlainService: true, NoMixedService: true, SentencesBytes: *benchCatBytes}}, fetch.Config{}, func(o *Options) {
		o.CacheSize = int64(*benchCatBytes)*2 + 64<<20
	})
	ti := e.completed(true)[0]
	p := filepath.Join(e.tDir(ti.ServiceSID, ti.SID), "sentences.json")
	ref := filepath.Join(shmDir(b), "sentences.json")
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(ref, data, 0600); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 128<<10)
	readAll(b, p, buf)
	readAll(b, ref, buf)
	var mount, shm time.Duration
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		readAll(b, p, buf)
		t1 := time.Now()
		readAll(b, ref, buf)
		mount += t1.Sub(t0)
		shm += time.Since(t1)
	}
	b.ReportMetric(float64(mount.Microseconds())/float64(b.N)/1000, "ms_mount")
	b.ReportMetric(float64(shm.Microseconds())/float64(b.N)/1000, "ms_tmpfs")
	b.ReportMetric(float64(mount)/float64(shm), "x_tmpfs")
}

// BenchmarkWarmGrep runs grep -r over 2,000 transcripts of 50 KiB already
// cached, through the mount and over a copy of the same tree on /dev/shm.
func BenchmarkWarmGrep(b *testing.B) {
	e := newEnv(b, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 43, TranscriptsPerService: *benchWarmN,
		NoPlainService: true, NoMixedService: true, SentencesBytes: 50 << 10}}, fetch.Config{}, func(o *Options) {
		o.CacheSize = int64(*benchWarmN)*(64<<10) + 64<<20
		o.Prefetch = DefaultPrefetch
	})
	ti := e.completed(true)[0]
	dir := filepath.Join(e.svcDir(ti.ServiceSID), "transcripts")
	ref := filepath.Join(shmDir(b), "transcripts")
	t0 := time.Now()
	if out, err := exec.Command("cp", "-r", dir, ref).CombinedOutput(); err != nil { // also warms the mount
		b.Fatalf("cp: %v: %s", err, out)
	}
	b.Logf("cold copy of %d transcripts: %v", *benchWarmN, time.Since(t0))
	grep := func(d string) time.Duration {
		t := time.Now()
		cmd := exec.Command("grep", "-r", "-c", "--include=sentences.json", "zzzz-no-match", d)
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				b.Fatal(err)
			}
		}
		return time.Since(t)
	}
	grep(dir)
	grep(ref)
	opens0 := e.srv.root.opens.Load()
	var mount, shm time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mount += grep(dir)
		shm += grep(ref)
	}
	b.ReportMetric(float64(mount.Microseconds())/float64(b.N)/1000, "ms_mount")
	b.ReportMetric(float64(shm.Microseconds())/float64(b.N)/1000, "ms_tmpfs")
	b.ReportMetric(float64(mount)/float64(shm), "x_tmpfs")
	b.ReportMetric(float64(e.srv.root.opens.Load()-opens0)/float64(b.N), "opens/op")
}

// BenchmarkColdGrep runs grep -r --include=sentences.json over N
// transcripts nobody read yet, with latency on every API and object
// request, default settings; and the sequential way customers do it today
// (list; for each: location, download, decrypt) on the same data. ideal is
// requests × latency / concurrency for the requests the mount made.
func BenchmarkColdGrep(b *testing.B) {
	n := *benchColdN
	lat := *benchLatency
	var mount, seq, ideal time.Duration
	var requests int64
	for i := 0; i < b.N; i++ {
		e := newEnv(b, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 47, TranscriptsPerService: n,
			NoPlainService: true, NoMixedService: true}}, fetch.Config{}, func(o *Options) {
			o.Prefetch = DefaultPrefetch
			o.CacheSize = DefaultCacheSize
		})
		svc := e.completed(true)[0].ServiceSID
		e.sim.SetFaults(twiliosim.Faults{APILatency: lat, ObjectLatency: lat})
		e.sim.ResetCounts()
		t0 := time.Now()
		cmd := exec.Command("grep", "-r", "-l", "--include=sentences.json", "zzzz-no-match", filepath.Join(e.svcDir(svc), "transcripts"))
		if err := cmd.Run(); err != nil {
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				b.Fatal(err)
			}
		}
		mount += time.Since(t0)
		var req int64
		for _, v := range e.sim.Counts() {
			req += v
		}
		requests += req
		ideal += time.Duration(req) * lat / DefaultConcurrency

		// The sequential way, same data, same latency.
		ctx := context.Background()
		t1 := time.Now()
		var sids []Transcript
		if err := e.client.ListTranscripts(ctx, TranscriptQuery{ServiceSID: svc}, func(p []Transcript) error {
			sids = append(sids, p...)
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		for _, t := range sids {
			if !t.Completed() {
				continue
			}
			env, err := e.client.EncryptedSentences(ctx, t.SID)
			if err != nil {
				b.Fatal(err)
			}
			pt, err := e.ring.Open(t.EncryptionCredentialSID, env, nil)
			if err != nil {
				b.Fatal(err)
			}
			clear(pt)
		}
		seq += time.Since(t1)
	}
	b.ReportMetric(mount.Seconds()/float64(b.N), "s_mount")
	b.ReportMetric(seq.Seconds()/float64(b.N), "s_sequential")
	b.ReportMetric(ideal.Seconds()/float64(b.N), "s_ideal")
	b.ReportMetric(float64(requests)/float64(b.N), "requests")
	b.ReportMetric(float64(seq)/float64(mount), "x_faster")
	b.ReportMetric(float64(mount)/float64(ideal), "x_ideal")
}

var _ = crypto.NewKeyring
