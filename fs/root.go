package fs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// Root is the root directory node and what every node shares: the
// options, the transcript model (package catalog), the inodes showing each
// transcript, and the consumer of the model's events that talks to the
// kernel outside request handlers.
type Root struct {
	folder // the root folder; its r is the Root itself

	opts  Options
	log   *slog.Logger
	cat   *catalog.Catalog
	cache *plaincache.Cache

	uid, gid          uint32
	fileMode, dirMode uint32
	started           time.Time

	nodes  nodeRegistry
	opens  atomic.Int64 // content opens (first READs without OPEN), for benchmarks
	noOpen atomic.Bool  // the kernel reads files without OPEN/RELEASE
}

// Stats are the mount's counters: its own and its plaintext cache's (the
// fetch client, which the caller built, keeps its own).
type Stats struct {
	// DecryptFailures counts envelopes that did not open: no key unwrapped
	// the content key (EACCES), or the content failed authentication or
	// was malformed (EIO).
	DecryptFailures int64
	// Cache are the plaintext cache's counters: hits, misses, evictions,
	// the bytes and entries it holds.
	Cache plaincache.Stats
}

// Stats returns the mount's counters.
func (r *Root) Stats() Stats {
	return Stats{DecryptFailures: r.cat.DecryptFailures(), Cache: r.cache.Stats()}
}

var _ = (gofs.NodeOnAdder)((*Root)(nil))

// The Client is the Source a mount runs on.
var _ catalog.Source = (*fetch.Client)(nil)
var _ = (gofs.NodeGetattrer)((*Root)(nil))

// NewRoot builds the root node from opts. Tests that mount with go-fuse
// themselves use it; Mount calls it. Call Close after unmounting.
func NewRoot(opts Options) (*Root, error) {
	opts = opts.withDefaults()
	if opts.Source == nil {
		return nil, fmt.Errorf("fs: Options.Source is required")
	}
	r := &Root{
		opts:     opts,
		log:      opts.Logger,
		uid:      opts.UID,
		gid:      opts.GID,
		fileMode: 0600,
		dirMode:  0700,
		started:  time.Now(),
	}
	r.folder.r = r
	r.nodes.m = map[string]*transcriptNodes{}
	if r.uid == 0 {
		r.uid = uint32(os.Getuid())
	}
	if r.gid == 0 {
		r.gid = uint32(os.Getgid())
	}
	if opts.Umask != nil {
		r.fileMode = 0666 &^ *opts.Umask
		r.dirMode = 0777 &^ *opts.Umask
	}
	// The mount owns its cache: evictions reach the kernel (CacheDropped),
	// and Close zeroes and unmaps it.
	co := plaincache.Options{
		MaxBytes: opts.CacheSize,
		MaxAge:   opts.CacheMaxAge,
		Mlock:    opts.Mlock,
		Logger:   opts.Logger,
		OnDrop:   r.CacheDropped,
	}
	if opts.tweakCache != nil {
		opts.tweakCache(&co)
	}
	c, err := plaincache.New(co)
	if err != nil {
		return nil, fmt.Errorf("plaintext cache: %w", err)
	}
	r.cache = c
	cat, err := catalog.New(catalog.Options{
		Source:              opts.Source,
		Decrypter:           opts.Decrypter,
		Cache:               r.cache,
		Logger:              opts.Logger,
		DirCacheTime:        opts.DirCacheTime,
		FullRelist:          opts.FullRelist,
		RefreshMargin:       opts.RefreshMargin,
		PageSize:            opts.PageSize,
		Concurrency:         opts.Concurrency,
		Prefetch:            opts.Prefetch,
		Limit:               opts.Limit,
		CacheSize:           opts.CacheSize,
		MissingContentRetry: opts.MissingContentRetry,
		AbandonAfter:        opts.abandonAfter,
		Events:              r.notify,
	})
	if err != nil {
		r.cache.Close()
		return nil, fmt.Errorf("fs: %w", err)
	}
	r.cat = cat
	return r, nil
}

// Close stops background work, then zeroes and unmaps the plaintext cache.
// Call it after the filesystem is unmounted.
func (r *Root) Close() {
	r.cat.Close()
	r.cache.Close()
}

// kernelOffers takes the capabilities the kernel offered at INIT: where it
// can read files without OPEN and RELEASE, content and metadata files are
// opened that way (contentFile.Open).
func (r *Root) kernelOffers(flags uint64) {
	r.noOpen.Store(flags&fuse.CAP_NO_OPEN_SUPPORT != 0)
}

// OnAdd builds the two fixed top-level folders.
func (r *Root) OnAdd(ctx context.Context) {
	r.AddChild("services", r.NewPersistentInode(ctx, &servicesDir{folder: newFolder(r)}, gofs.StableAttr{Mode: syscall.S_IFDIR}), false)
	r.AddChild("transcripts", r.NewPersistentInode(ctx, &transcriptLinks{folder: newFolder(r)}, gofs.StableAttr{Mode: syscall.S_IFDIR}), false)
}

// dirAttr fills a directory's attributes.
func (r *Root) dirAttr(a *fuse.Attr, mtime time.Time) {
	a.Mode = syscall.S_IFDIR | r.dirMode
	a.Nlink = 2
	r.common(a, mtime)
}

// fileAttr fills a regular file's attributes.
func (r *Root) fileAttr(a *fuse.Attr, size int64, mtime time.Time) {
	a.Mode = syscall.S_IFREG | r.fileMode
	a.Nlink = 1
	a.Size = uint64(size)
	// du and ls -s count 512-byte blocks; report the ones the size needs
	// (a size not known yet reports none).
	a.Blocks = (uint64(size) + 511) / 512
	r.common(a, mtime)
}

// linkAttr fills a symlink's attributes.
func (r *Root) linkAttr(a *fuse.Attr, target string) {
	a.Mode = syscall.S_IFLNK | 0777
	a.Nlink = 1
	a.Size = uint64(len(target))
	r.common(a, r.started)
}

func (r *Root) common(a *fuse.Attr, mtime time.Time) {
	a.Owner = fuse.Owner{Uid: r.uid, Gid: r.gid}
	if mtime.IsZero() {
		mtime = r.started
	}
	// atime = mtime: nothing here is ever accessed in a sense worth
	// recording, and 1970 confuses tools that sort or prune by atime.
	a.SetTimes(&mtime, &mtime, &mtime)
	a.Blksize = 4096
}

// statfsBlock is the block size statfs reports.
const statfsBlock = 4096

// statfs reports the filesystem's figures for df and stat -f: its size is
// the plaintext cache budget (what the mount can hold in memory), used is
// what the cache holds now, and names are up to 255 bytes. There is no
// inode table to report, so the file counts stay zero (like most network
// filesystems).
func (r *Root) statfs(out *fuse.StatfsOut) {
	st := r.cache.Stats()
	budget := uint64(r.opts.CacheSize) / statfsBlock
	used := min(uint64(max(st.Bytes, 0))/statfsBlock, budget)
	out.Bsize = statfsBlock
	out.Frsize = statfsBlock
	out.Blocks = budget
	out.Bfree = budget - used
	out.Bavail = budget - used
	out.NameLen = 255
}

// setEntryTimeouts sets both timeouts of an entry explicitly. go-fuse
// replaces a zero per-entry timeout with Options.EntryTimeout/AttrTimeout
// when those are set; Mount leaves them nil so a zero here really reaches
// the kernel (a size that is not known yet must not be cached).
func setEntryTimeouts(out *fuse.EntryOut, entry, attr time.Duration) {
	out.SetEntryTimeout(entry)
	out.SetAttrTimeout(attr)
}
