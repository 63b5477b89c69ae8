package twiliosim

import (
	"runtime"
	"testing"
	"time"
)

// TestLargeCorpusIsCompact builds a 300,000-transcript corpus and bounds the
// heap it takes (content is generated lazily). How long the start takes is logged, not asserted: timing is
// for benchmarks, and this assertion failed on a loaded machine.
func TestLargeCorpusIsCompact(t *testing.T) {
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
	if heap > 200<<20 {
		t.Errorf("heap grew by %d MiB", heap>>20)
	}
	runtime.KeepAlive(s)
}
