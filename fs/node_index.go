package fs

import (
	"context"
	"sort"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/intelligencefs/intelligencefs/fs/catalog"
)

// indexFile is services/<GA>/transcripts.jsonl: one line per transcript of
// the service, the Transcript resource exactly as transcript.json renders
// it, in listing order (newest first). It is built from the service's
// listing, the one behind transcripts/, so reading it makes no request
// beyond that listing's own pages and refreshes (no content is fetched) and
// it changes when the folder does.
//
// It is metadata, not plaintext: lines are rendered on the heap, on demand.
// A snapshot keeps only where each line ends (8 bytes per transcript), so
// a 100,000-transcript service costs under a megabyte until read.
type indexFile struct {
	file
	l *catalog.Listing

	mu   sync.Mutex
	snap *indexSnapshot // what the last GETATTR (or OPEN) reported
}

// indexSnapshot is one complete generation of the listing, measured.
type indexSnapshot struct {
	g     *catalog.Generation
	keep  []int32 // indexes into g of the lines (gone ones left out)
	ends  []int64 // ends[i] is the offset just past line i
	mtime time.Time
}

func (s *indexSnapshot) size() int64 {
	if len(s.ends) == 0 {
		return 0
	}
	return s.ends[len(s.ends)-1]
}

// readAt copies the bytes of the snapshot at off into dest, rendering only
// the lines that overlap.
func (s *indexSnapshot) readAt(dest []byte, off int64) []byte {
	if off < 0 || off >= s.size() {
		return nil
	}
	i := sort.Search(len(s.ends), func(i int) bool { return s.ends[i] > off })
	limit := len(dest)
	out := dest[:0]
	for ; i < len(s.ends) && len(out) < limit; i++ {
		start := int64(0)
		if i > 0 {
			start = s.ends[i-1]
		}
		line := append(s.g.At(int(s.keep[i])).JSON(), '\n')
		skip := max(off-start, 0)
		out = append(out, line[skip:min(int64(len(line)), skip+int64(limit-len(out)))]...)
		off = s.ends[i]
	}
	return out
}

// snapshot waits for the listing to be complete (starting it or a refresh
// as an `ls` of transcripts/ would), then measures it. A generation already
// measured is reused.
func (f *indexFile) snapshot(ctx context.Context) (*indexSnapshot, error) {
	if _, err := f.l.Open(ctx); err != nil {
		return nil, err
	}
	g, err := f.l.Completed(ctx)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.snap != nil && f.snap.g == g {
		return f.snap, nil
	}
	s := &indexSnapshot{g: g, mtime: f.l.Checked()}
	var end int64
	for i := range g.Len() {
		t := g.At(i)
		if f.r.cat.IsGone(t.SID) {
			continue
		}
		end += int64(len(t.JSON())) + 1
		s.keep = append(s.keep, int32(i))
		s.ends = append(s.ends, end)
	}
	f.snap = s
	return s, nil
}

// current returns the last snapshot, if any.
func (f *indexFile) current() *indexSnapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.snap
}

// attr reports the last measured size (0 before any) with a zero
// timeout, without a request: the kernel then asks GETATTR, which is where
// the listing is refreshed as the folder's would be (a LOOKUP must not
// wait for a listing).
func (f *indexFile) attr(a *fuse.Attr) time.Duration {
	if s := f.current(); s != nil {
		f.r.fileAttr(a, s.size(), s.mtime)
	} else {
		f.r.fileAttr(a, 0, time.Time{})
	}
	return 0
}

var _ = (gofs.NodeGetattrer)((*indexFile)(nil))

// Getattr measures the listing (waiting for it, refreshing it as the
// folder would) and reports its size. Its mtime is when the listing was
// last checked with Twilio, so a refresh drops the kernel's pages
// (FUSE_AUTO_INVAL_DATA).
func (f *indexFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := fh.(*indexHandle); ok {
		f.r.fileAttr(&out.Attr, h.s.size(), h.s.mtime)
		out.SetTimeout(f.r.opts.DirCacheTime)
		return 0
	}
	s, err := f.snapshot(ctx)
	if err != nil {
		return errnoOf(err)
	}
	f.r.fileAttr(&out.Attr, s.size(), s.mtime)
	out.SetTimeout(f.r.opts.DirCacheTime)
	return 0
}

var _ = (gofs.NodeOpener)((*indexFile)(nil))

// Open answers ENOSYS where the kernel reads without OPEN (see
// contentFile.Open); elsewhere the handle keeps one snapshot.
func (f *indexFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if errno := f.r.openAnswer(flags); errno != 0 {
		return nil, 0, errno
	}
	s, err := f.snapshot(ctx)
	if err != nil {
		return nil, 0, errnoOf(err)
	}
	return &indexHandle{s: s}, 0, 0
}

var _ = (gofs.NodeReader)((*indexFile)(nil))

// Read serves the handle's snapshot or, without OPEN, the snapshot the last
// GETATTR reported (the kernel sized its pages from it).
func (f *indexFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	var s *indexSnapshot
	switch h := fh.(type) {
	case *indexHandle:
		s = h.s
	case nil:
		if s = f.current(); s == nil {
			var err error
			if s, err = f.snapshot(ctx); err != nil {
				return nil, errnoOf(err)
			}
		}
	default:
		return nil, syscall.EBADF
	}
	return fuse.ReadResultData(s.readAt(dest, off)), 0
}

// indexHandle holds one snapshot from OPEN to RELEASE.
type indexHandle struct{ s *indexSnapshot }
