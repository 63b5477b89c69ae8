package fs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
)

// transcriptsDir is a folder of transcript folders backed by a listing:
// services/<GA>/transcripts and by-date/YYYY/MM/DD. It can hold 100,000
// entries, so it never creates an inode per entry before a lookup and
// streams the listing page by page.
type transcriptsDir struct {
	folder
	l *catalog.Listing
}

var _ = (gofs.NodeOpendirHandler)((*transcriptsDir)(nil))

// OpendirHandle returns a stream over the listing's current generation,
// starting the first load or a refresh as needed.
func (d *transcriptsDir) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	g, err := d.l.Open(ctx)
	if err != nil {
		return nil, 0, errnoOf(err)
	}
	return &listingStream{d: d, g: g}, 0, 0
}

var _ = (gofs.NodeLookuper)((*transcriptsDir)(nil))

// Lookup resolves GT… from the listing, or with one fetch when it was not
// listed. Anything that is not a well-formed GT SID is ENOENT without a
// request.
func (d *transcriptsDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if !record.IsSID(name, "GT") {
		return nil, syscall.ENOENT
	}
	t, err := d.l.Find(ctx, name)
	if err != nil {
		return nil, errnoOf(err)
	}
	e := d.r.cat.Entry(t)
	d.r.dirAttr(&out.Attr, t.DateUpdated)
	keep := keepTime(d.r, t)
	setEntryTimeouts(out, keep, keep)
	if ch := d.GetChild(name); ch != nil {
		if td, ok := ch.Operations().(*transcriptDir); ok && td.e == e {
			return ch, 0
		}
	}
	return d.NewInode(ctx, &transcriptDir{folder: d.r.transcriptFolder(e), e: e, l: d.l}, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
}

// listingStream reads one generation of a listing as directory entries,
// waiting for the next page while the first load is still running, so `ls
// -f | head` shows entries after the first page.
type listingStream struct {
	d   *transcriptsDir
	g   *catalog.Generation
	pos int
}

var _ = (gofs.FileReaddirenter)((*listingStream)(nil))

// Readdirent returns the next entry, waiting (interruptibly) for the next
// page when needed. Offsets are positions+1, so Seekdir can resume.
func (s *listingStream) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	sid, next, more, err := s.d.l.Next(ctx, s.g, s.pos)
	s.pos = next
	if !more {
		return nil, errnoOf(err)
	}
	return &fuse.DirEntry{Name: sid, Mode: syscall.S_IFDIR, Off: uint64(s.pos)}, 0
}

var _ = (gofs.FileSeekdirer)((*listingStream)(nil))

// Seekdir resumes at an offset handed out by Readdirent.
func (s *listingStream) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	s.pos = int(off)
	return 0
}

var _ = (gofs.FileReleasedirer)((*listingStream)(nil))

// Releasedir drops the snapshot.
func (s *listingStream) Releasedir(ctx context.Context, flags uint32) {}

var _ = (gofs.FileLookuper)((*listingStream)(nil))

// Lookup answers READDIRPLUS from the listing itself: it declines every
// entry, which go-fuse sends as a plain dirent with node ID 0 (the kernel
// then adds the name without attributes; see fuse_direntplus_link). That
// keeps a 100,000-entry `ls` from creating 100,000 inodes and makes no
// request per entry; a later stat does a normal, request-free LOOKUP.
func (s *listingStream) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return nil, syscall.ENOENT
}
