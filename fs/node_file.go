package fs

import (
	"context"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/intelligencefs/intelligencefs/fs/catalog"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// attrer is a node that can report its attributes without any request,
// returning the attribute timeout to use (zero while the size is unknown).
type attrer interface {
	attr(a *fuse.Attr) time.Duration
}

// contentKeepTime is the attribute timeout of a content file whose size is
// known: the content of a completed transcript never changes.
const contentKeepTime = time.Hour

// contentFile is sentences.json, sentences.txt or operator-results/<n>.json:
// plaintext fetched and decrypted on GETATTR, OPEN or READ, served from the
// off-heap cache and then from the kernel page cache.
type contentFile struct {
	file
	e    *catalog.Entry
	kind catalog.Kind
	n    int              // operator result number, from 1
	l    *catalog.Listing // prefetch order; nil when reached outside a listing

	lease catalog.Lease // guarded by the catalog's LeaseSet
}

func (f *contentFile) key() string { return catalog.ContentKey(f.e.SID(), f.kind, f.n) }

// attr reports size 0 with a zero timeout until the exact size is known, so
// the kernel asks again (GETATTR) instead of caching a wrong size.
func (f *contentFile) attr(a *fuse.Attr) time.Duration {
	size, known := f.e.Size(f.key())
	f.r.fileAttr(a, size, f.e.Transcript().DateUpdated)
	if !known {
		return 0
	}
	return contentKeepTime
}

var _ = (gofs.NodeOnAdder)((*contentFile)(nil))

// OnAdd registers the inode so a cache drop can invalidate its pages.
func (f *contentFile) OnAdd(ctx context.Context) {
	f.r.nodes.addFile(f.e.SID(), f.key(), f.EmbeddedInode())
}

var _ = (gofs.NodeOnForgetter)((*contentFile)(nil))

// OnForget unregisters the inode and ends its lease.
func (f *contentFile) OnForget() {
	f.r.nodes.removeFile(f.e.SID(), f.key(), f.EmbeddedInode())
	f.r.cat.Leases().End(&f.lease)
}

var _ = (gofs.NodeGetattrer)((*contentFile)(nil))

// Getattr reports the exact size, fetching and decrypting the content if
// it was never seen (stat of a cold file costs one fetch, or waits for the
// prefetcher's; a later open is a cache hit).
func (f *contentFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if f.r.cat.IsGone(f.e.SID()) {
		return syscall.ENOENT
	}
	if h, ok := fh.(*contentHandle); ok {
		f.r.fileAttr(&out.Attr, int64(len(h.data)), f.e.Transcript().DateUpdated)
		out.SetTimeout(contentKeepTime)
		return 0
	}
	// A stat is a step of the walk (ls -l, tar, Python's exists()): it
	// moves the prefetch window, and a load the prefetcher started for
	// this file is joined, not repeated.
	f.touch(catalog.MaskOf(f.kind))
	if _, known := f.e.Size(f.key()); !known {
		buf, err := f.load(ctx)
		if err != nil {
			return errnoOf(err)
		}
		if buf != nil {
			// Without OPEN the READs come next: lease the plaintext
			// to them, or a file larger than the cache would be
			// fetched twice.
			if f.r.noOpen.Load() {
				f.r.cat.Leases().Grant(&f.lease, buf)
			}
			buf.Release()
		}
	}
	out.SetTimeout(f.attr(&out.Attr))
	return 0
}

var _ = (gofs.NodeOpener)((*contentFile)(nil))

// Open answers ENOSYS where the kernel supports it, on purpose, as Flush
// does: a capability answer, not an error. The kernel then sends neither
// OPEN nor RELEASE for any file of the mount (fc->no_open) and keeps pages
// across opens (FOPEN_KEEP_CACHE is implied), two round trips less per
// file for `grep -r`. Reads then arrive without a handle (Read). Elsewhere
// it fetches and decrypts on a miss and pins the plaintext for the life of
// the handle, with FOPEN_KEEP_CACHE: the content of a completed transcript
// is immutable (its pages are dropped explicitly when the cache drops the
// entry). Either way, opening the file moves the prefetch window along the
// listing (here, or at its first READ).
func (f *contentFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if errno := f.r.openAnswer(flags); errno != 0 {
		return nil, 0, errno
	}
	f.opened()
	buf, err := f.load(ctx)
	if err != nil {
		return nil, 0, errnoOf(err)
	}
	h := &contentHandle{buf: buf}
	if buf != nil {
		h.data = buf.Bytes()
	}
	return h, fuse.FOPEN_KEEP_CACHE, 0
}

// openAnswer is what OPEN of a file answers before any work: EROFS for a
// write, ENOSYS where the kernel reads without OPEN (see contentFile.Open),
// else 0 (go on and open).
func (r *Root) openAnswer(flags uint32) syscall.Errno {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return syscall.EROFS
	}
	if r.noOpen.Load() {
		return syscall.ENOSYS
	}
	return 0
}

// opened counts an open and moves the prefetch window.
func (f *contentFile) opened() {
	f.r.opens.Add(1)
	f.touch(catalog.MaskOf(f.kind))
}

// touch tells the prefetcher the walk reached this file (kinds 0: a
// lookup, which moves the window without saying what is read).
func (f *contentFile) touch(kinds catalog.KindMask) {
	f.r.cat.Touched(f.l, f.e.SID(), kinds)
}

var _ = (gofs.NodeReader)((*contentFile)(nil))

// Read serves from the handle's pinned buffer, or, without OPEN, from the
// file's lease or the cache, fetching and decrypting on a miss. The reply
// holds a pin of its own until go-fuse has written it (pinnedRead.Done). A
// READ at offset 0 stands for the open: it moves the prefetch window.
func (f *contentFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h, ok := fh.(*contentHandle); ok {
		return h.Read(ctx, dest, off)
	}
	if fh != nil {
		return nil, syscall.EBADF
	}
	leases := f.r.cat.Leases()
	if f.r.cat.IsGone(f.e.SID()) {
		leases.End(&f.lease)
		return nil, syscall.ENOENT
	}
	if off == 0 {
		f.opened()
		leases.Restart(&f.lease)
	}
	buf := leases.Pinned(&f.lease)
	if buf == nil {
		var err error
		if buf, err = f.load(ctx); err != nil {
			return nil, errnoOf(err)
		}
		if buf == nil { // empty content
			return fuse.ReadResultData(nil), 0
		}
		leases.Grant(&f.lease, buf)
	}
	data := buf.Bytes()
	if off < 0 || off >= int64(len(data)) {
		buf.Release()
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), int64(len(data)))
	if end == int64(len(data)) {
		// The reader reached the end: it needs the pin no longer
		// once the READs sent with this one are served.
		leases.Finish(&f.lease)
	}
	return &pinnedRead{data: data[off:end], buf: buf}, 0
}

// load loads the content, pinned.
func (f *contentFile) load(ctx context.Context) (*plaincache.Buffer, error) {
	return f.r.cat.LoadContent(ctx, f.e, f.kind, f.n)
}

// pinnedRead is a READ reply over pinned plaintext. go-fuse calls Done
// once it has written the reply (also when writing failed); only then is
// the pin dropped, so the bytes cannot be zeroed or unmapped under it.
type pinnedRead struct {
	data []byte
	buf  *plaincache.Buffer
	once sync.Once
}

// Bytes returns the pinned slice itself (no copy).
func (p *pinnedRead) Bytes(buf []byte) ([]byte, fuse.Status) { return p.data, fuse.OK }

// Size is the reply's length.
func (p *pinnedRead) Size() int { return len(p.data) }

// Done drops the reply's pin.
func (p *pinnedRead) Done() { p.once.Do(p.buf.Release) }

// contentHandle pins one plaintext buffer from OPEN to RELEASE.
//
// Read returns fuse.ReadResultData over the pinned bytes without copying;
// go-fuse writes the reply after Read returns. That is safe because the pin
// is released only in RELEASE, and the kernel sends RELEASE for a handle
// only once no request on it is outstanding (each READ holds a reference to
// the kernel's fuse_file until its reply arrives), so every reply has been
// written before the buffer can be unpinned, zeroed or unmapped.
type contentHandle struct {
	mu   sync.Mutex
	buf  *plaincache.Buffer // nil for empty content
	data []byte
}

var _ = (gofs.FileReader)((*contentHandle)(nil))

// Read returns a slice of the pinned plaintext.
func (h *contentHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(h.data)) || off < 0 {
		return fuse.ReadResultData(nil), 0
	}
	end := off + int64(len(dest))
	if end > int64(len(h.data)) {
		end = int64(len(h.data))
	}
	return fuse.ReadResultData(h.data[off:end]), 0
}

var _ = (gofs.FileReleaser)((*contentHandle)(nil))

// Release drops the pin (once).
func (h *contentHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.buf != nil {
		h.buf.Release()
		h.buf = nil
	}
	return 0
}

// metaFile is service.json or transcript.json: metadata rendered on demand
// from what the listing holds (not secret; lives on the heap).
type metaFile struct {
	file
	render func() ([]byte, time.Time)
}

func (m *metaFile) attr(a *fuse.Attr) time.Duration {
	b, mt := m.render()
	m.r.fileAttr(a, int64(len(b)), mt)
	return m.r.opts.DirCacheTime
}

var _ = (gofs.NodeGetattrer)((*metaFile)(nil))

// Getattr reports the rendered size.
func (m *metaFile) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if h, ok := fh.(*metaHandle); ok {
		_, mt := m.render()
		m.r.fileAttr(&out.Attr, int64(len(h.data)), mt)
	} else {
		m.attr(&out.Attr)
	}
	out.SetTimeout(m.r.opts.DirCacheTime)
	return 0
}

var _ = (gofs.NodeOpener)((*metaFile)(nil))

// Open snapshots the rendering. No KEEP_CACHE: metadata of a transcript in
// progress changes, so each open starts from fresh pages. Where the kernel
// reads files without OPEN it answers ENOSYS (contentFile.Open); the kernel
// then keeps pages and drops them when GETATTR, once the attribute timeout
// (--dir-cache-time) has passed, reports a new mtime or size
// (FUSE_AUTO_INVAL_DATA): the rendering's mtime is the transcript's
// date_updated.
func (m *metaFile) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if errno := m.r.openAnswer(flags); errno != 0 {
		return nil, 0, errno
	}
	b, _ := m.render()
	return &metaHandle{data: b}, 0, 0
}

var _ = (gofs.NodeReader)((*metaFile)(nil))

// Read serves the handle's snapshot, or without OPEN the current rendering.
func (m *metaFile) Read(ctx context.Context, fh gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	var data []byte
	switch h := fh.(type) {
	case *metaHandle:
		data = h.data
	case nil:
		data, _ = m.render()
	default:
		return nil, syscall.EBADF
	}
	if off >= int64(len(data)) || off < 0 {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(dest)), int64(len(data)))
	return fuse.ReadResultData(data[off:end]), 0
}

// metaHandle holds one rendering of a metadata file.
type metaHandle struct{ data []byte }
