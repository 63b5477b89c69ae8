package twiliosim

import (
	"runtime"
	"testing"
	"time"
)

// TestLargeCorpusStartsFast checks that 100,000 transcripts per service
// cost little time and memory (content is generated lazily).
func TestLargeCorpusStartsFast(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	s := newTestServer(t, Options{Corpus: CorpusOptions{TranscriptsPerService: 100000}})
	took := time.Since(start)
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("300,000 transcripts: start %v, heap %d MiB", took, heap>>20)
	if n := len(s.Transcripts("")); n != 300000 {
		t.Fatalf("got %d transcripts", n)
	}
	limit := time.Second
	if raceEnabled {
		limit = 10 * time.Second
	}
	if took > limit {
		t.Errorf("start took %v, want < %v", took, limit)
	}
	if heap > 200<<20 {
		t.Errorf("heap grew by %d MiB", heap>>20)
	}
	runtime.KeepAlive(s)
}
