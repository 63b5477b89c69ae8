package fs

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
)

// transcriptDir is one transcript folder: transcript.json always, and for
// completed transcripts sentences.json, sentences.txt and operator-results/.
// Entering it makes no request.
type transcriptDir struct {
	folder
	e *catalog.Entry
	l *catalog.Listing // the listing it was reached through: prefetch order
}

var _ = (gofs.NodeOnAdder)((*transcriptDir)(nil))

// OnAdd registers the inode so a deletion upstream can reach the kernel.
func (d *transcriptDir) OnAdd(ctx context.Context) { d.r.nodes.addDir(d.e.SID(), d.EmbeddedInode()) }

var _ = (gofs.NodeOnForgetter)((*transcriptDir)(nil))

// OnForget unregisters the inode.
func (d *transcriptDir) OnForget() { d.r.nodes.removeDir(d.e.SID(), d.EmbeddedInode()) }

// names lists the folder's entries from metadata alone.
func (d *transcriptDir) names() []fuse.DirEntry {
	ents := []fuse.DirEntry{{Name: "transcript.json", Mode: syscall.S_IFREG}}
	if !d.e.Transcript().Completed() {
		return ents
	}
	ents = append(ents, fuse.DirEntry{Name: "sentences.json", Mode: syscall.S_IFREG})
	if !d.e.NoTxt() {
		ents = append(ents, fuse.DirEntry{Name: "sentences.txt", Mode: syscall.S_IFREG})
	}
	return append(ents, fuse.DirEntry{Name: "operator-results", Mode: syscall.S_IFDIR})
}

var _ = (gofs.NodeOpendirHandler)((*transcriptDir)(nil))

// OpendirHandle lists the entries. A completed transcript's folder never
// changes, so the kernel may cache the listing (FOPEN_CACHE_DIR): a warm
// `grep -r` then costs one OPENDIR per folder and no READDIRPLUS. The one
// change possible, sentences.txt found underivable, invalidates it.
func (d *transcriptDir) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if d.r.cat.IsGone(d.e.SID()) {
		return nil, 0, syscall.ENOENT
	}
	var fl uint32
	if d.e.Transcript().Completed() {
		fl = fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE
		// A listing inside a transcript: at the folder's first one,
		// a recursive walk begins (prefetch opens its window).
		d.r.cat.Touched(d.l, d.e.SID(), catalog.MaskInner)
	}
	return gofs.NewListDirStream(d.names()), fl, 0
}

var _ = (gofs.NodeLookuper)((*transcriptDir)(nil))

// Lookup creates the entry's node. Content sizes are reported only once
// known, with a zero attribute timeout until then (DESIGN.md §3).
func (d *transcriptDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	r := d.r
	if r.cat.IsGone(d.e.SID()) {
		return nil, syscall.ENOENT
	}
	found := false
	for _, e := range d.names() {
		if e.Name == name {
			found = true
		}
	}
	if !found {
		return nil, syscall.ENOENT
	}
	if name != "transcript.json" {
		// A step of the walk; what it reads is said by the stat or open
		// that follows (a READDIRPLUS looks every entry up).
		r.cat.Touched(d.l, d.e.SID(), 0)
	}
	t := d.e.Transcript()
	keep := keepTime(r, t)
	if ch := d.GetChild(name); ch != nil {
		// Reuse the node; never fetch in LOOKUP.
		setEntryTimeouts(out, keep, ch.Operations().(attrer).attr(&out.Attr))
		return ch, 0
	}
	var node interface {
		gofs.InodeEmbedder
		attrer
	}
	mode := uint32(syscall.S_IFREG)
	switch name {
	case "transcript.json":
		node = &metaFile{file: file{r: r}, render: d.e.MetaJSON}
	case "sentences.json":
		node = &contentFile{file: file{r: r}, e: d.e, kind: catalog.KindSentences, l: d.l}
	case "sentences.txt":
		node = &contentFile{file: file{r: r}, e: d.e, kind: catalog.KindTxt, l: d.l}
	case "operator-results":
		node = &opResultsDir{folder: r.transcriptFolder(d.e), e: d.e, l: d.l}
		mode = syscall.S_IFDIR
	}
	setEntryTimeouts(out, keep, node.attr(&out.Attr))
	return d.NewInode(ctx, node, gofs.StableAttr{Mode: mode}), 0
}

// transcriptFolder is the base of a transcript's folders (its own and
// operator-results/): dated by the transcript's date_updated, kept for
// keepTime, ENOENT once it is gone upstream.
func (r *Root) transcriptFolder(e *catalog.Entry) folder {
	return folder{r: r, stat: func() (time.Time, time.Duration, syscall.Errno) {
		if r.cat.IsGone(e.SID()) {
			return time.Time{}, 0, syscall.ENOENT
		}
		t := e.Transcript()
		return t.DateUpdated, keepTime(r, t), 0
	}}
}

// keepTime is how long the kernel may trust what it knows of transcript
// t's folder: its name in a listing, its names and its folders'
// attributes. The folder of a completed transcript never changes (its one
// possible change, sentences.txt found underivable, and a deletion upstream
// are pushed to the kernel), so it is kept as long as content is; other
// folders follow --dir-cache-time. Without this a warm walk of a big
// account looked every name up again each --dir-cache-time.
func keepTime(r *Root, t record.Transcript) time.Duration {
	if t.Completed() {
		return max(r.opts.DirCacheTime, contentKeepTime)
	}
	return r.opts.DirCacheTime
}

// opResultsDir is operator-results/: <n>.json for n from 1. Listing it
// costs one API call per transcript (the locations, or the plain results).
type opResultsDir struct {
	folder
	e *catalog.Entry
	l *catalog.Listing // prefetch order, as transcriptDir's
}

// touch tells the prefetcher the walk lists operator results here (a
// stat or read of one says it reads them too).
func (d *opResultsDir) touch() { d.r.cat.Touched(d.l, d.e.SID(), catalog.MaskOpList) }

var _ = (gofs.NodeOpendirHandler)((*opResultsDir)(nil))

// OpendirHandle lists 1.json … n.json; the count of a completed transcript
// is fixed, so the kernel may cache the listing.
func (d *opResultsDir) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	d.touch()
	n, err := d.r.cat.OpCount(ctx, d.e)
	if err != nil {
		return nil, 0, errnoOf(err)
	}
	ents := make([]fuse.DirEntry, n)
	for i := range ents {
		ents[i] = fuse.DirEntry{Name: strconv.Itoa(i+1) + ".json", Mode: syscall.S_IFREG}
	}
	return gofs.NewListDirStream(ents), fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
}

var _ = (gofs.NodeLookuper)((*opResultsDir)(nil))

// Lookup resolves <n>.json within the count.
func (d *opResultsDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	num, ok := strings.CutSuffix(name, ".json")
	n, err := strconv.Atoi(num)
	if !ok || err != nil || n < 1 || strconv.Itoa(n) != num {
		return nil, syscall.ENOENT
	}
	d.touch()
	count, err := d.r.cat.OpCount(ctx, d.e)
	if err != nil {
		return nil, errnoOf(err)
	}
	if n > count {
		return nil, syscall.ENOENT
	}
	f := &contentFile{file: file{r: d.r}, e: d.e, kind: catalog.KindOpResult, n: n, l: d.l}
	setEntryTimeouts(out, keepTime(d.r, d.e.Transcript()), f.attr(&out.Attr))
	if ch := d.GetChild(name); ch != nil {
		return ch, 0
	}
	return d.NewInode(ctx, f, gofs.StableAttr{Mode: syscall.S_IFREG}), 0
}
