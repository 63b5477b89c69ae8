package fs

import (
	"context"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// folder is the base of every folder node (the root, services/, a
// service, transcripts/, by-date/…, a transcript, operator-results/): the
// inode, the mount, and the one Getattr they share.
type folder struct {
	gofs.Inode
	r *Root
	// stat, when set, reports the folder's modification time and how long
	// the kernel may keep its name and attributes, or an errno once it is
	// gone (a transcript's folders: transcriptStat). Nil: a folder of the
	// mount's own making, dated from the mount's start and kept for
	// --dir-cache-time.
	stat func() (mtime time.Time, keep time.Duration, errno syscall.Errno)
}

// newFolder is a folder of the mount's own making.
func newFolder(r *Root) folder { return folder{r: r} }

func (f *folder) attrs() (time.Time, time.Duration, syscall.Errno) {
	if f.stat == nil {
		return time.Time{}, f.r.opts.DirCacheTime, 0
	}
	return f.stat()
}

// attr fills the folder's attributes for a LOOKUP of it (attrer); the
// parent decided it exists.
func (f *folder) attr(a *fuse.Attr) time.Duration {
	mt, keep, _ := f.attrs()
	f.r.dirAttr(a, mt)
	return keep
}

var _ = (gofs.NodeGetattrer)((*folder)(nil))

// Getattr reports the folder.
func (f *folder) Getattr(ctx context.Context, fh gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	mt, keep, errno := f.attrs()
	if errno != 0 {
		return errno
	}
	f.r.dirAttr(&out.Attr, mt)
	out.SetTimeout(keep)
	return 0
}

// file is the base of every regular file node (content, metadata,
// transcripts.jsonl).
type file struct {
	gofs.Inode
	r *Root
}

var _ = (gofs.NodeFlusher)((*file)(nil))

// Flush answers ENOSYS on purpose: the kernel then stops sending FLUSH on
// every close for the whole mount (fc->no_flush), which is one round trip
// per file less for `grep -r`; there is nothing to flush on a read-only
// filesystem. This is a capability answer, not an error mapping.
func (f *file) Flush(ctx context.Context, fh gofs.FileHandle) syscall.Errno {
	return syscall.ENOSYS
}

var _ = (gofs.NodeLookuper)((*Root)(nil))

// Lookup answers services/ and transcripts/ (fixedChild).
func (r *Root) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return r.fixedChild(&r.Inode, name, out)
}

// fixedChild answers a LOOKUP of a child parent added in its OnAdd, with
// the mount's timeouts. Left to go-fuse (a parent without Lookup), such a
// child reaches the kernel with entry and attribute timeouts of zero,
// whatever its Getattr says, and every path walk through it costs a LOOKUP
// round trip: `cat $MNT/services/<GA>/transcripts/*/sentences.json` looked
// services/ up once per file. A file whose size is not known yet keeps a
// zero attribute timeout (attrer), as everywhere.
func (r *Root) fixedChild(parent *gofs.Inode, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	ch := parent.GetChild(name)
	if ch == nil {
		return nil, syscall.ENOENT
	}
	setEntryTimeouts(out, r.opts.DirCacheTime, ch.Operations().(attrer).attr(&out.Attr))
	return ch, 0
}
