// Package dirhandles serves a go-fuse node filesystem's folders without
// OPENDIR: the kernel then keeps every listing in its page cache and a warm
// walk makes no request per folder.
//
// FS is the raw filesystem the kernel talks to: go-fuse's node bridge with
// OPENDIR answered ENOSYS. Linux (5.1 and later) then stops sending OPENDIR
// and RELEASEDIR for the whole mount (fc->no_opendir) and keeps every
// folder's listing in its page cache (it implies
// FOPEN_CACHE_DIR|FOPEN_KEEP_CACHE), so a warm `grep -r` makes no request
// per folder: two synchronous round trips and two asynchronous ones less
// per transcript (OPENDIR and RELEASEDIR of the folder and of
// operator-results/).
//
// go-fuse v2.12's bridge keeps a listing's state in a directory handle, and
// READDIR now arrives without one. Each READDIR(PLUS) is therefore served
// through a handle opened on the bridge for it: the one a previous request
// of the same folder left parked at exactly this offset, so a listing read
// in sequence stays on one snapshot as it did with a real handle, or a
// fresh one (the node's own OpendirHandle runs: a listing refreshes as it
// did on OPENDIR), which the bridge seeks to the offset. A parked handle is
// released at the end of its listing, when the folder is forgotten, after
// parkIdle without use, or at unmount.
//
// Listings the node did not mark cacheable (FOPEN_CACHE_DIR) are dropped
// from the kernel's cache Options.CacheTime after they were read from the
// start, so the next reader asks again (and a listing refreshes).
//
// On a kernel without FUSE_NO_OPENDIR_SUPPORT, folders are opened as usual
// and every request passes through.
package dirhandles

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Options configure FS.
type Options struct {
	// CacheTime is how long the kernel keeps a listing its folder did not
	// mark cacheable (FOPEN_CACHE_DIR) once it was read from the start.
	CacheTime time.Duration
	// OnInit, when set, receives the capabilities the kernel offered in
	// INIT (fuse.CAP_*, less Ignore), before any other request.
	OnInit func(kernelFlags uint64)
	// Ignore are capabilities treated as not offered, so tests cover the
	// path of kernels without them (fuse.CAP_NO_OPENDIR_SUPPORT: folders
	// are opened as usual).
	Ignore uint64
}

// FS wraps a raw filesystem (go-fuse's node bridge) and serves its folders
// without OPENDIR where the kernel supports it.
type FS struct {
	fuse.RawFileSystem
	opts Options

	// readdirs counts READDIR(PLUS) requests that came without a handle.
	readdirs atomic.Int64

	mu       sync.Mutex
	srv      *fuse.Server
	handless bool // the kernel supports OPENDIR-less folders
	parked   map[parkKey]*parkedDir
	expires  map[uint64]*time.Timer // node ID -> pending drop of its cached listing
	closed   bool
}

// parkIdle is how long a parked listing handle waits for the next request
// of its reader (one that stopped early, like `ls | head`, never sends it).
const parkIdle = 30 * time.Second

// maxParked bounds the parked handles; the oldest goes first.
const maxParked = 256

// parkKey is a folder and the offset its next READDIR starts at.
type parkKey struct {
	node uint64
	off  uint64
}

type parkedDir struct {
	fh    uint64
	since time.Time
}

// New wraps inner.
func New(inner fuse.RawFileSystem, opts Options) *FS {
	return &FS{
		RawFileSystem: inner,
		opts:          opts,
		parked:        map[parkKey]*parkedDir{},
		expires:       map[uint64]*time.Timer{},
	}
}

// Readdirs counts the READDIR(PLUS) requests that came without a handle
// (tests and benchmarks: a warm walk of cached listings makes none).
func (h *FS) Readdirs() int64 { return h.readdirs.Load() }

// Init keeps the server for cache notifications and reads what the kernel
// supports. A kernel without FUSE_NO_OPENDIR_SUPPORT (before 5.1) would
// pass ENOSYS on to the caller: folders are then opened as usual.
func (h *FS) Init(srv *fuse.Server) {
	flags := srv.KernelSettings().Flags64() &^ h.opts.Ignore
	h.mu.Lock()
	h.srv = srv
	h.handless = flags&fuse.CAP_NO_OPENDIR_SUPPORT != 0
	h.mu.Unlock()
	if h.opts.OnInit != nil {
		h.opts.OnInit(flags)
	}
	h.RawFileSystem.Init(srv)
}

// OpenDir answers ENOSYS where the kernel supports it: a capability answer
// (no OPENDIR wanted), not an error; the kernel does not pass it on.
func (h *FS) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	h.mu.Lock()
	handless := h.handless
	h.mu.Unlock()
	if !handless {
		return h.RawFileSystem.OpenDir(cancel, in, out)
	}
	return fuse.ENOSYS
}

// ReadDir serves a READDIR without a kernel handle.
func (h *FS) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return h.readDir(cancel, in, out, h.RawFileSystem.ReadDir)
}

// ReadDirPlus serves a READDIRPLUS without a kernel handle.
func (h *FS) ReadDirPlus(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	return h.readDir(cancel, in, out, h.RawFileSystem.ReadDirPlus)
}

func (h *FS) readDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList,
	read func(<-chan struct{}, *fuse.ReadIn, *fuse.DirEntryList) fuse.Status) fuse.Status {
	if in.Fh != 0 {
		// The kernel opened the folder (it does not support
		// OPENDIR-less folders).
		return read(cancel, in, out)
	}
	h.readdirs.Add(1)
	node := in.NodeId
	fh := h.unpark(parkKey{node, in.Offset})
	if fh == 0 {
		var open fuse.OpenOut
		st := h.RawFileSystem.OpenDir(cancel, &fuse.OpenIn{InHeader: in.InHeader, Flags: syscall.O_RDONLY | syscall.O_DIRECTORY}, &open)
		if !st.Ok() {
			return st
		}
		fh = open.Fh
		if in.Offset == 0 && open.OpenFlags&fuse.FOPEN_CACHE_DIR == 0 {
			h.expireLater(node)
		}
	}
	req := *in
	req.Fh = fh
	st := read(cancel, &req, out)
	if st.Ok() && out.Offset != in.Offset && h.park(parkKey{node, out.Offset}, fh) {
		return st
	}
	h.release(in.InHeader, fh)
	return st
}

// unpark takes the handle parked for key, if any.
func (h *FS) unpark(key parkKey) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.parked[key]
	if p == nil {
		return 0
	}
	delete(h.parked, key)
	return p.fh
}

// park keeps fh for the request that continues at key. It reports false
// (the caller releases fh) after unmount.
func (h *FS) park(key parkKey, fh uint64) bool {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return false
	}
	now := time.Now()
	var drop []parkKey
	if old := h.parked[key]; old != nil {
		// Two readers at the same point: keep the newer handle.
		drop = append(drop, key)
	}
	var oldest parkKey
	var oldestAt time.Time
	for k, p := range h.parked {
		if now.Sub(p.since) > parkIdle {
			drop = append(drop, k)
		}
		if oldestAt.IsZero() || p.since.Before(oldestAt) {
			oldest, oldestAt = k, p.since
		}
	}
	if len(h.parked) >= maxParked && len(drop) == 0 {
		drop = append(drop, oldest)
	}
	var rel []parkKey
	var fhs []uint64
	for _, k := range drop {
		if p := h.parked[k]; p != nil {
			rel = append(rel, k)
			fhs = append(fhs, p.fh)
			delete(h.parked, k)
		}
	}
	h.parked[key] = &parkedDir{fh: fh, since: now}
	h.mu.Unlock()
	for i, k := range rel {
		h.release(fuse.InHeader{NodeId: k.node}, fhs[i])
	}
	return true
}

// release closes a handle on the bridge.
func (h *FS) release(hdr fuse.InHeader, fh uint64) {
	h.RawFileSystem.ReleaseDir(&fuse.ReleaseIn{InHeader: hdr, Fh: fh})
}

// Forget releases the folder's parked handles first: the bridge forgets a
// node with its handles, and a later release would name an unknown node.
func (h *FS) Forget(nodeID, nlookup uint64) {
	h.mu.Lock()
	var fhs []uint64
	for k, p := range h.parked {
		if k.node == nodeID {
			fhs = append(fhs, p.fh)
			delete(h.parked, k)
		}
	}
	if t := h.expires[nodeID]; t != nil {
		t.Stop()
		delete(h.expires, nodeID)
	}
	h.mu.Unlock()
	for _, fh := range fhs {
		h.release(fuse.InHeader{NodeId: nodeID}, fh)
	}
	h.RawFileSystem.Forget(nodeID, nlookup)
}

// expireLater drops the kernel's cached listing of node Options.CacheTime from now
// (once, however often it is read meanwhile), from a timer goroutine: never
// inside a handler for that inode.
func (h *FS) expireLater(node uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.expires[node] != nil {
		return
	}
	h.expires[node] = time.AfterFunc(h.opts.CacheTime, func() {
		h.mu.Lock()
		delete(h.expires, node)
		srv := h.srv
		closed := h.closed
		h.mu.Unlock()
		if srv != nil && !closed {
			// ENOENT when the kernel forgot the folder meanwhile:
			// nothing cached, nothing to drop.
			srv.InodeNotify(node, 0, 0)
		}
	})
}

// OnUnmount stops the timers and releases every parked handle.
func (h *FS) OnUnmount() {
	h.mu.Lock()
	h.closed = true
	for n, t := range h.expires {
		t.Stop()
		delete(h.expires, n)
	}
	parked := h.parked
	h.parked = map[parkKey]*parkedDir{}
	h.mu.Unlock()
	for k, p := range parked {
		h.release(fuse.InHeader{NodeId: k.node}, p.fh)
	}
	h.RawFileSystem.OnUnmount()
}
