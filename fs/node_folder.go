package fs

import (
	"context"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

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
	if a, ok := ch.Operations().(attrer); ok {
		setEntryTimeouts(out, r.opts.DirCacheTime, a.attr(&out.Attr))
	} else {
		r.dirAttr(&out.Attr, time.Time{})
		setEntryTimeouts(out, r.opts.DirCacheTime, r.opts.DirCacheTime)
	}
	return ch, 0
}
