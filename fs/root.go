package fs

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// Root is the root directory node and the state every node shares: the
// options, the cache, listings, per-transcript state, in-flight fetches and
// the notifier that talks to the kernel outside request handlers.
type Root struct {
	folder // the root folder; its r is the Root itself

	opts     Options
	log      *slog.Logger
	src      Source
	dec      Decrypter
	cache    *plaincache.Cache
	ownCache bool
	// alloc takes a fresh off-heap buffer (cache.Alloc; tests make it fail).
	alloc func(n int) (*plaincache.Buffer, error)

	// ctx bounds every detached fetch; cancelled on unmount.
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup

	uid, gid          uint32
	fileMode, dirMode uint32
	started           time.Time

	svcMu      sync.Mutex
	svcList    []record.Service
	svcAt      time.Time
	svcExtra   map[string]record.Service // looked up by SID, not (yet) listed
	listMu     sync.Mutex
	listings   map[string]*listing
	probes     map[string]probeResult
	tMu        sync.Mutex
	tstates    map[string]*tstate
	opens      atomic.Int64 // content opens (first READs without OPEN), for benchmarks
	noOpen     atomic.Bool  // the kernel reads files without OPEN/RELEASE
	leases     leaseSet
	flights    flightGroup
	notifier   *notifier
	prefetcher *prefetcher

	denied          deniedSet    // transcripts no key opened, for a short while
	decryptFailures atomic.Int64 // envelopes that did not open (Stats)
}

// Stats are the mount's own counters (the fetch client and the cache keep
// theirs).
type Stats struct {
	// DecryptFailures counts envelopes that did not open: no key unwrapped
	// the content key (EACCES), or the content failed authentication or
	// was malformed (EIO).
	DecryptFailures int64
}

// Stats returns the mount's counters.
func (r *Root) Stats() Stats {
	return Stats{DecryptFailures: r.decryptFailures.Load()}
}

var _ = (gofs.NodeOnAdder)((*Root)(nil))
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
		src:      opts.Source,
		dec:      opts.Decrypter,
		cache:    opts.Cache,
		uid:      opts.UID,
		gid:      opts.GID,
		fileMode: 0600,
		dirMode:  0700,
		started:  time.Now(),
		svcExtra: map[string]record.Service{},
		listings: map[string]*listing{},
		probes:   map[string]probeResult{},
		tstates:  map[string]*tstate{},
	}
	r.folder.r = r
	r.flights.m = map[string]*flight{}
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
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.notifier = newNotifier()
	if r.cache == nil {
		c, err := plaincache.New(plaincache.Options{
			MaxBytes: opts.CacheSize,
			MaxAge:   opts.CacheMaxAge,
			Mlock:    opts.Mlock,
			Logger:   opts.Logger,
			OnDrop:   r.CacheDropped,
		})
		if err != nil {
			return nil, fmt.Errorf("fs: plaintext cache: %w", err)
		}
		r.cache, r.ownCache = c, true
	}
	r.alloc = r.cache.Alloc
	r.prefetcher = newPrefetcher(r)
	r.leases.budget = opts.CacheSize / 4
	return r, nil
}

// Close stops background work and, when NewRoot created the cache, zeroes
// and unmaps it. Call it after the filesystem is unmounted.
func (r *Root) Close() {
	r.cancel()
	r.bg.Wait()
	r.notifier.close()
	r.leases.close()
	if r.ownCache {
		r.cache.Close()
	}
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

// go runs fn as tracked background work bound to the mount's lifetime.
func (r *Root) goBG(fn func()) {
	r.bg.Add(1)
	go func() {
		defer r.bg.Done()
		fn()
	}()
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

// isSID reports whether name is a well-formed SID with the given prefix
// (two letters and 32 hex digits). Lookups of anything else are ENOENT
// without an API request.
func isSID(name, prefix string) bool {
	if len(name) != 34 || !strings.HasPrefix(name, prefix) {
		return false
	}
	for i := 2; i < 34; i++ {
		c := name[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
