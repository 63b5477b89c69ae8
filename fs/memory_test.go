package fs

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// zeroWatch records what plaincache's OnZeroed hook sees.
type zeroWatch struct {
	freed    atomic.Int64 // buffers zeroed and unmapped
	nonZero  atomic.Int64 // of those, any with a byte left
	mu       sync.Mutex
	sawMarks bool // a freed mapping still held the marker
	marker   []byte
}

func (z *zeroWatch) onZeroed(mem []byte) {
	z.freed.Add(1)
	for _, b := range mem {
		if b != 0 {
			z.nonZero.Add(1)
			break
		}
	}
	if bytes.Contains(mem, z.marker) {
		z.mu.Lock()
		z.sawMarks = true
		z.mu.Unlock()
	}
}

// TestEvictedBuffersZeroed reads a corpus several times the size of a small
// cache through a mount: every buffer the cache lets go (evicted, and the
// rest at close) reads back all zeros before it is unmapped. A buffer still
// in use is not zeroed: with handles (kernels without
// FUSE_NO_OPEN_SUPPORT) one pinned by an open file, which still reads its
// exact bytes after its entry was evicted and is zeroed after close; without
// OPEN one held by a read lease, which serves the rest of a half-read file
// larger than the whole cache without a second download and is zeroed once
// the read reaches the end.
func TestEvictedBuffersZeroed(t *testing.T) {
	for _, tc := range []struct {
		name        string
		kernelOpens bool
		perService  int
		bytes       int // sentences document size; 0: the corpus default
	}{
		{name: "open handle pins", kernelOpens: true, perService: 30},
		// Larger than the kernel's readahead, so 4 KiB read leaves the
		// file half-read.
		{name: "read lease pins", perService: 12, bytes: 4 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := []byte("MARKER-zero-check-7f3a")
			z := &zeroWatch{marker: marker}
			// Registered before the mount's cleanups, so it runs after the
			// unmount: the mount owns its cache and closing it zeroes and
			// frees everything left.
			var srv *Server
			t.Cleanup(func() {
				if srv == nil {
					return
				}
				if st := srv.Stats().Cache; st.LiveBytes != 0 {
					t.Errorf("after the unmount, %d bytes of buffers are still mapped", st.LiveBytes)
				}
				if n := z.nonZero.Load(); n != 0 {
					t.Errorf("%d buffers freed at close held non-zero bytes", n)
				}
			})
			e := newEnv(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{Seed: 29, TranscriptsPerService: tc.perService,
				Markers: []string{string(marker)}, SentencesBytes: tc.bytes}},
				fetch.Config{}, func(o *Options) {
					// A cache of 64 KiB under the budgets of the default
					// 64 MiB: a lease may hold a file larger than the cache.
					o.tweakCache = func(co *plaincache.Options) {
						co.MaxBytes, co.Mlock, co.OnZeroed = 64<<10, plaincache.MlockOff, z.onZeroed
					}
					o.kernelOpens = tc.kernelOpens
				})
			srv = e.srv
			cache := e.srv.Root().cache
			if got := e.srv.Root().noOpen.Load(); got == tc.kernelOpens {
				t.Fatalf("reads without OPEN: %v, want %v", got, !tc.kernelOpens)
			}
			var tis []twiliosim.TranscriptInfo
			for _, s := range e.sim.Services() {
				for _, ti := range e.sim.Transcripts(s.SID) {
					if ti.Status == "completed" && ti.EncryptionCredentialSID != "" {
						tis = append(tis, ti)
					}
				}
			}
			if len(tis) < 6 {
				t.Fatalf("only %d encrypted transcripts", len(tis))
			}
			path := func(ti twiliosim.TranscriptInfo) string {
				return filepath.Join(e.tDir(ti.ServiceSID, ti.SID), "sentences.json")
			}

			// Pin the first one: an open file, or its first 4 KiB read.
			first := tis[0]
			want0 := e.expected(t, first)["sentences.json"]
			f, err := os.Open(path(first))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if !tc.kernelOpens {
				head := make([]byte, 4096)
				if _, err := io.ReadFull(f, head); err != nil || !bytes.Equal(head, want0[:4096]) {
					t.Fatalf("first 4 KiB: %v", err)
				}
			}
			others := tis[1:]
			if tc.bytes != 0 {
				others = tis[1:6] // each larger than the cache already
			}
			var total int
			for i, ti := range others {
				got, err := os.ReadFile(path(ti))
				if err != nil {
					t.Fatal(err)
				}
				total += len(got)
				if !tc.kernelOpens {
					// A READ of the pinned file at an offset not read yet
					// (past any readahead) keeps its lease from going idle
					// while a loaded machine reads the others.
					b := make([]byte, 1)
					off := int64(i+1) * 512 << 10
					if n, err := f.ReadAt(b, off); n != 1 || b[0] != want0[off] {
						t.Fatalf("pinned file at %d: %v", off, err)
					}
				}
			}
			st := cache.Stats()
			t.Logf("read %d bytes through a %d-byte cache: %+v, %d buffers zeroed", total, 64<<10, st, z.freed.Load())
			if (tc.bytes == 0 && st.Evictions == 0) || z.freed.Load() == 0 {
				t.Fatalf("nothing was evicted and freed (evictions %d, freed %d): the test proves nothing", st.Evictions, z.freed.Load())
			}
			if _, ok := cache.Peek(catalog.KeySentences(first.SID)); ok {
				t.Fatal("the pinned file's entry was not evicted; read more data")
			}
			// Evicted but pinned: the file still reads its exact bytes, so
			// its buffer was not zeroed. Bypass the kernel page cache with a
			// fresh offset read (pages may be gone after eviction).
			downloads := e.sim.Count(twiliosim.EndpointObjectGet)
			got, err := io.ReadAll(io.NewSectionReader(f, 0, int64(len(want0))+1))
			if err != nil || !bytes.Equal(got, want0) {
				t.Errorf("pinned file after eviction: %v, %d bytes, want %d", err, len(got), len(want0))
			}
			if n := e.sim.Count(twiliosim.EndpointObjectGet) - downloads; n != 0 {
				t.Errorf("reading the pinned file again downloaded %d objects, want 0", n)
			}
			if tc.kernelOpens {
				freedBefore := z.freed.Load()
				f.Close()
				for i := 0; z.freed.Load() == freedBefore; i++ {
					if i == 200 {
						t.Fatal("the closed file's buffer was not zeroed and freed")
					}
					time.Sleep(10 * time.Millisecond)
				}
			} else {
				// Every document is larger than the cache: once the read
				// reached the end nothing may stay mapped.
				for i := 0; cache.Stats().LiveBytes != 0; i++ {
					if i == 200 {
						t.Fatalf("%d bytes still mapped after the read reached the end", cache.Stats().LiveBytes)
					}
					time.Sleep(10 * time.Millisecond)
				}
				if n := e.srv.Root().cat.Leases().Held(); n != 0 {
					t.Errorf("%d read leases still held after every read reached the end", n)
				}
				// Nothing holds its plaintext now: not the cache (too
				// large), not a lease, and not the kernel's page cache
				// (dropped once the buffer was freed), so reading it
				// again downloads it again.
				before := e.sim.Count(twiliosim.EndpointObjectGet)
				for i := 0; e.sim.Count(twiliosim.EndpointObjectGet) == before; i++ {
					if i == 100 {
						t.Fatal("the kernel still serves the file from its pages after its plaintext was freed")
					}
					time.Sleep(20 * time.Millisecond)
					if got, err := os.ReadFile(path(first)); err != nil || !bytes.Equal(got, want0) {
						t.Fatalf("reading it again: %v, %d bytes", err, len(got))
					}
				}
			}
			if n := z.nonZero.Load(); n != 0 {
				t.Errorf("%d freed buffers held non-zero bytes", n)
			}
			if z.sawMarks {
				t.Error("a freed buffer still held plaintext (the marker)")
			}
		})
	}
}
