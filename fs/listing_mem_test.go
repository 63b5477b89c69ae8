package fs

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// TestListingMemory: a full listing makes ceil(N/1000) list requests and
// no others, a second one within DirCacheTime none, and the live heap per listed
// transcript stays under 2 KiB (no inode per entry before lookup).
func TestListingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const n = 20000
	e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 53, TranscriptsPerService: n,
		NoPlainService: true, NoMixedService: true}}, fetch.Config{},
		// "Within DirCacheTime" must hold however slow the machine (-race).
		func(o *Options) { o.DirCacheTime = time.Hour })
	svc := e.sim.Services()[0].SID
	dir := filepath.Join(e.svcDir(svc), "transcripts")
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	e.sim.ResetCounts()
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil || len(names) != n {
		t.Fatalf("%d names, %v", len(names), err)
	}
	if got, want := e.sim.Count(twiliosim.EndpointListTranscripts), int64((n+999)/1000); got != want {
		t.Errorf("%d list requests, want %d", got, want)
	}
	if got, lists := requestCount(e.sim), e.sim.Count(twiliosim.EndpointListTranscripts); got != lists {
		t.Errorf("the listing made %d requests, %d of them list requests; want no others: %v", got, lists, e.sim.Counts())
	}
	names = nil
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / n
	t.Logf("live heap per listed transcript: %.0f bytes", per)
	if per > 2048 {
		t.Errorf("live heap per listed transcript %.0f bytes, want < 2048", per)
	}
	e.sim.ResetCounts()
	if _, err := os.ReadDir(dir); err != nil {
		t.Fatal(err)
	}
	if c := requestCount(e.sim); c != 0 {
		t.Errorf("second listing made %d requests", c)
	}
}
