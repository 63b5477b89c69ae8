package fs

// The warm glob benchmark of issue 12: the shell glob people type, over
// transcripts already read, through the mount and over a copy on tmpfs,
// run both from inside the transcripts folder (relative paths) and from
// another folder (absolute paths: every file's path is walked from the
// root), interleaved, medians.
//
//	go test ./fs/ -run '^$' -bench WarmGlob -benchtime 5x

import (
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

var benchGlobN = flag.Int("fs.globN", 1000, "transcripts in the warm glob benchmark")

// BenchmarkWarmGlob times `cat */sentences.json` run in a service's
// transcripts folder and `cat $MNT/services/<GA>/transcripts/*/sentences.json`
// run from elsewhere, on the mount and on a tmpfs copy of the same tree
// (same path below the mount point), the four interleaved in every round.
// It reports each median and the two ratios to tmpfs.
func BenchmarkWarmGlob(b *testing.B) {
	n := *benchGlobN
	e := newEnv(b, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 59, TranscriptsPerService: n,
		NoPlainService: true, NoMixedService: true}}, fetch.Config{}, func(o *Options) {
		o.CacheSize = int64(n)*(16<<10) + 64<<20
		o.Prefetch = DefaultPrefetch
	})
	svc := e.completed(true)[0].ServiceSID
	rel := filepath.Join("services", svc, "transcripts")
	shm := shmDir(b)
	mirrorTree(b, filepath.Join(e.mnt, rel), filepath.Join(shm, rel), "sentences.json")
	elsewhere := b.TempDir()
	type way struct {
		name, dir, cmd string
	}
	var ways []way
	for _, root := range []struct{ name, dir string }{{"mount", e.mnt}, {"tmpfs", shm}} {
		folder := filepath.Join(root.dir, rel)
		ways = append(ways,
			way{"relative_" + root.name, folder, `cat */sentences.json >/dev/null`},
			way{"absolute_" + root.name, elsewhere, `cat "` + folder + `"/*/sentences.json >/dev/null`})
	}
	times := make([][]time.Duration, len(ways))
	sample := func() {
		for i, w := range ways {
			times[i] = append(times[i], timeShell(b, w.dir, w.cmd))
		}
	}
	sample() // warm: the mount's cache, the kernel's dentries and pages
	for i := range times {
		times[i] = times[i][:0]
	}
	for b.Loop() {
		sample()
	}
	for len(times[0]) < 5 {
		sample()
	}
	med := map[string]time.Duration{}
	for i, w := range ways {
		med[w.name] = median(times[i])
		b.ReportMetric(ms(med[w.name]), "ms_"+w.name)
	}
	for _, p := range []string{"relative", "absolute"} {
		b.ReportMetric(float64(med[p+"_mount"])/float64(med[p+"_tmpfs"]), "x_tmpfs_"+p)
	}
}
