package fs

import (
	"context"
	"errors"
	"sort"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// servicesDir is <mnt>/services: one folder per service plus a symlink per
// unique name.
type servicesDir struct {
	folder
}

var _ = (gofs.NodeReaddirer)((*servicesDir)(nil))

// Readdir lists services and unique-name symlinks.
func (d *servicesDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	list, err := d.r.cat.Services(ctx)
	if err != nil {
		return nil, errnoOf(err)
	}
	ents := make([]fuse.DirEntry, 0, 2*len(list))
	seen := map[string]bool{}
	for _, s := range list {
		ents = append(ents, fuse.DirEntry{Name: s.SID, Mode: syscall.S_IFDIR})
		seen[s.SID] = true
	}
	for _, s := range list {
		if validLinkName(s.UniqueName) && !seen[s.UniqueName] {
			seen[s.UniqueName] = true
			ents = append(ents, fuse.DirEntry{Name: s.UniqueName, Mode: syscall.S_IFLNK})
		}
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name < ents[j].Name })
	return gofs.NewListDirStream(ents), 0
}

var _ = (gofs.NodeLookuper)((*servicesDir)(nil))

// Lookup resolves a GA SID (listed or fetched once) or a unique name.
func (d *servicesDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	r := d.r
	if record.IsSID(name, "GA") {
		s, err := r.cat.Service(ctx, name)
		if err != nil {
			return nil, errnoOf(err)
		}
		if ch := d.GetChild(name); ch != nil {
			if sd, ok := ch.Operations().(*serviceDir); ok {
				sd.setService(s)
				setEntryTimeouts(out, r.opts.DirCacheTime, sd.attr(&out.Attr))
				return ch, 0
			}
		}
		sd := &serviceDir{folder: newFolder(r), svc: s}
		setEntryTimeouts(out, r.opts.DirCacheTime, sd.attr(&out.Attr))
		return d.NewInode(ctx, sd, gofs.StableAttr{Mode: syscall.S_IFDIR}), 0
	}
	if !validLinkName(name) {
		return nil, syscall.ENOENT
	}
	list, err := r.cat.Services(ctx)
	if err != nil {
		return nil, errnoOf(err)
	}
	for _, s := range list {
		// s.SID is well formed: services() keeps no other.
		if s.UniqueName == name {
			l := &symlink{r: r, target: s.SID}
			r.linkAttr(&out.Attr, l.target)
			setEntryTimeouts(out, r.opts.DirCacheTime, r.opts.DirCacheTime)
			return d.NewInode(ctx, l, gofs.StableAttr{Mode: syscall.S_IFLNK}), 0
		}
	}
	return nil, syscall.ENOENT
}

// validLinkName rejects unique names that cannot be a single path element.
func validLinkName(n string) bool {
	if n == "" || n == "." || n == ".." || len(n) > 255 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] == '/' || n[i] == 0 {
			return false
		}
	}
	return true
}

// symlink is a fixed symbolic link (services/<unique_name>, transcripts/<GT>).
type symlink struct {
	gofs.Inode
	r      *Root
	target string
}

var _ = (gofs.NodeReadlinker)((*symlink)(nil))

// Readlink returns the target.
func (l *symlink) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(l.target), 0
}

var _ = (gofs.NodeGetattrer)((*symlink)(nil))

// Getattr reports the link.
func (l *symlink) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	l.r.linkAttr(&out.Attr, l.target)
	out.SetTimeout(l.r.opts.DirCacheTime)
	return 0
}

// serviceDir is services/<GA>: service.json, transcripts/, by-date/.
type serviceDir struct {
	folder
	mu  sync.Mutex     // the folder's own: a stat of service.json never waits behind a services refresh
	svc record.Service // guarded by mu; copied on read
}

func (d *serviceDir) setService(s record.Service) {
	d.mu.Lock()
	d.svc = s
	d.mu.Unlock()
}

func (d *serviceDir) service() record.Service {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.svc
}

var _ = (gofs.NodeOnAdder)((*serviceDir)(nil))

// OnAdd creates the fixed children.
func (d *serviceDir) OnAdd(ctx context.Context) {
	sid := d.svc.SID
	d.AddChild("service.json", d.NewPersistentInode(ctx, &metaFile{file: file{r: d.r}, render: func() ([]byte, time.Time) {
		return d.service().JSON(), time.Time{}
	}}, gofs.StableAttr{Mode: syscall.S_IFREG}), false)
	l := d.r.cat.Listing(record.TranscriptQuery{ServiceSID: sid}, "")
	d.AddChild("transcripts", d.NewPersistentInode(ctx, &transcriptsDir{folder: newFolder(d.r), l: l}, gofs.StableAttr{Mode: syscall.S_IFDIR}), false)
	d.AddChild("transcripts.jsonl", d.NewPersistentInode(ctx, &indexFile{file: file{r: d.r}, l: l}, gofs.StableAttr{Mode: syscall.S_IFREG}), false)
	d.AddChild("by-date", d.NewPersistentInode(ctx, &dateDir{folder: newFolder(d.r), service: sid}, gofs.StableAttr{Mode: syscall.S_IFDIR}), false)
}

// listedInService are the entries a listing of services/<GA> shows.
// by-date/ is left out on purpose: it holds the same transcripts again, so
// a recursive walk (grep -r, find, du, tar, rg) from the root or services/
// would meet every transcript twice and cost a second round of requests.
// It resolves on lookup, like transcripts/<GT>: `ls by-date/2026/02/` and
// `grep -r by-date/2026/02/09` work by path.
var listedInService = []fuse.DirEntry{
	{Name: "service.json", Mode: syscall.S_IFREG},
	{Name: "transcripts", Mode: syscall.S_IFDIR},
	{Name: "transcripts.jsonl", Mode: syscall.S_IFREG},
}

var _ = (gofs.NodeReaddirer)((*serviceDir)(nil))

var _ = (gofs.NodeLookuper)((*serviceDir)(nil))

// Lookup resolves the fixed children without any request: transcripts.jsonl
// reports its size once a GETATTR measured it (zero attribute timeout until
// then), as content files do.
func (d *serviceDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return d.r.fixedChild(&d.Inode, name, out)
}

// Readdir lists the service's folder without by-date/ (listedInService).
func (d *serviceDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	return gofs.NewListDirStream(listedInService), 0
}

// transcriptLinks is <mnt>/transcripts: lookup-only symlinks GT… ->
// ../services/<GA>/transcripts/GT…, not listed (listing every transcript of
// every service would defeat laziness).
type transcriptLinks struct {
	folder
}

var _ = (gofs.NodeReaddirer)((*transcriptLinks)(nil))

// Readdir is empty on purpose.
func (d *transcriptLinks) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	return gofs.NewListDirStream(nil), 0
}

var _ = (gofs.NodeLookuper)((*transcriptLinks)(nil))

// Lookup finds the transcript's service from what is known, or fetches the
// transcript once.
func (d *transcriptLinks) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if !record.IsSID(name, "GT") {
		return nil, syscall.ENOENT
	}
	t, err := d.r.cat.TranscriptByID(ctx, name)
	if err != nil {
		return nil, errnoOf(err)
	}
	if !record.IsSID(t.ServiceSID, "GA") || t.SID != name {
		// The target is built from server strings: only well-formed SIDs
		// may go into it, or "../../../../tmp" would leave the mount.
		err := errors.New("the transcript names a service that is not a well-formed SID; no link made")
		d.r.cat.LogFailure(name, "", "transcript link", err)
		return nil, errnoOf(err)
	}
	l := &symlink{r: d.r, target: "../services/" + t.ServiceSID + "/transcripts/" + t.SID}
	d.r.linkAttr(&out.Attr, l.target)
	setEntryTimeouts(out, d.r.opts.DirCacheTime, d.r.opts.DirCacheTime)
	return d.NewInode(ctx, l, gofs.StableAttr{Mode: syscall.S_IFLNK}), 0
}
