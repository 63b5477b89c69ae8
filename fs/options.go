package fs

import (
	"log/slog"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fs/catalog"
	"github.com/intelligencefs/intelligencefs/fs/defaults"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// Defaults for the zero values of Options. Those the CLI's flags show are
// defined once in fs/defaults (which builds where fs cannot) and fetch;
// cmd's TestFlagDefaults checks --help and README.md against them.
const (
	// DefaultDirCacheTime is how long a folder listing is trusted.
	DefaultDirCacheTime = defaults.DirCacheTime
	// DefaultFullRelist is how often a folder is listed again from scratch
	// (the only way to notice deletions).
	DefaultFullRelist = defaults.FullRelist
	// DefaultPrefetch is the prefetch depth the CLI uses (--prefetch).
	DefaultPrefetch = defaults.Prefetch
	// DefaultConcurrency is the ceiling of the fetch client's adaptive
	// request limit.
	DefaultConcurrency = fetch.DefaultMaxConcurrency
	// DefaultRefreshMargin is how far before the newest known date_created an
	// incremental refresh starts, to catch transcripts whose creation was
	// recorded with a slightly earlier timestamp than one already seen.
	DefaultRefreshMargin = 10 * time.Minute
	// DefaultPageSize is the listing page size (the API maximum).
	DefaultPageSize = fetch.DefaultPageSize
	// DefaultCacheSize bounds the plaintext cache (--cache-size).
	DefaultCacheSize = defaults.CacheSize
	// DefaultCacheMaxAge is the age at which the CLI drops cached plaintext
	// (--cache-max-age); a zero Options.CacheMaxAge means no age bound.
	DefaultCacheMaxAge = defaults.CacheMaxAge
	// DefaultMlock is the cache's locking policy (--mlock).
	DefaultMlock = defaults.Mlock
)

// Options are the settings of one mount, handed over ready-built by the CLI
// (like gocryptfs's args.go: one plain struct, a comment on every field).
// Zero values mean the documented default unless stated otherwise.
type Options struct {
	// Source lists services and transcripts and returns envelopes or plain
	// documents; *fetch.Client in production. Required.
	Source catalog.Source
	// Decrypter opens envelopes; *crypto.Keyring in production. May be nil
	// when no transcript is encrypted (reads of encrypted ones are EACCES).
	Decrypter catalog.Decrypter
	// CacheSize bounds the plaintext cache, which the mount builds, owns
	// (its evictions drop the kernel's pages too) and zeroes on unmount
	// (default DefaultCacheSize). The other memory budgets (prefetch, read
	// leases) are shares of it.
	CacheSize int64
	// CacheMaxAge bounds the age of cached plaintext (0: no age bound;
	// DefaultOptions and the CLI use DefaultCacheMaxAge).
	CacheMaxAge time.Duration
	// Mlock is the cache's locking policy (default DefaultMlock: auto).
	Mlock plaincache.MlockMode
	// Logger receives warnings (one line per EIO/EACCES) and debug events.
	// Nil discards.
	Logger *slog.Logger

	// UID and GID own every node. Zero means the mounting user's.
	UID, GID uint32
	// Umask, when non-nil, sets modes to 0666 (files) and 0777 (dirs)
	// minus these bits, to share the mount with a group (with AllowOther).
	// Nil keeps them private: files 0600, dirs 0700. The write bits are
	// reported so that copies (cp -r) are owner-writable and can be
	// deleted; the mount itself is read-only (EROFS).
	Umask *uint32
	// AllowOther lets users other than the mounting one in (FUSE
	// allow_other; needs user_allow_other in /etc/fuse.conf when not root).
	AllowOther bool

	// DirCacheTime is how long a listing is trusted before a refresh asks
	// for what is new (default 1m). Also the kernel entry/attr timeout of
	// directories and metadata files.
	DirCacheTime time.Duration
	// FullRelist is how often a folder is relisted completely to find
	// deletions (default 1h).
	FullRelist time.Duration
	// RefreshMargin is subtracted from the newest date_created seen when an
	// incremental refresh asks AfterDateCreated (default 10m).
	RefreshMargin time.Duration
	// PageSize is the listing page size (default 1000, the API maximum).
	PageSize int

	// Prefetch is how many transcripts after the one a walk reached (in
	// the order it goes) are fetched and decrypted in the background. 0
	// disables prefetch; the CLI default is DefaultPrefetch (8). A reader
	// walking on widens the window up to twice the request limit (Limit)
	// so the limit stays busy; a walk from the folder's start opens it
	// there at once.
	Prefetch int
	// Concurrency is the ceiling of the Source's request limit
	// (fetch.Config.MaxConcurrency); prefetch never runs more background
	// fetches than this.
	Concurrency int
	// Limit, if set, reports the Source's request limit now (it adapts to
	// the account: fetch.Stats.APILimit); prefetch widens its window up to
	// twice that, so the limit stays busy and can grow. Nil: Concurrency.
	Limit func() int

	// MissingContentRetry is how long a content file whose content went
	// missing upstream while its transcript exists keeps failing (EIO,
	// without requests) before a read tries again; it doubles on each
	// further failure up to a minute (default 2s).
	MissingContentRetry time.Duration

	// FsName is the source /proc/mounts and mount(8) show for the mount
	// (the fstab form's SOURCE); "" means "intelligencefs".
	FsName string

	// DebugFUSE logs every FUSE request and reply (go-fuse's Debug).
	DebugFUSE bool
	// DirectMountStrict disables the fusermount3 fallback when mounting as
	// root (useful in tests that must not depend on the setuid helper).
	DirectMountStrict bool

	// kernelOpens makes the mount open files and folders as it does on
	// kernels without FUSE_NO_OPEN_SUPPORT and FUSE_NO_OPENDIR_SUPPORT
	// (handles from OPEN to RELEASE), so tests cover that path here.
	kernelOpens bool
	// abandonAfter replaces the constant of that name (tests).
	abandonAfter time.Duration
	// tweakCache adjusts the plaintext cache's options before it is built
	// (tests: watch zeroing, or a cache smaller than the budgets derived
	// from CacheSize).
	tweakCache func(*plaincache.Options)
}

// DefaultOptions returns the defaults the CLI starts from; Source and
// Decrypter still have to be set.
func DefaultOptions() Options {
	return Options{
		DirCacheTime:  DefaultDirCacheTime,
		FullRelist:    DefaultFullRelist,
		RefreshMargin: DefaultRefreshMargin,
		PageSize:      DefaultPageSize,
		Prefetch:      DefaultPrefetch,
		Concurrency:   DefaultConcurrency,
		CacheSize:     DefaultCacheSize,
		CacheMaxAge:   DefaultCacheMaxAge,
		Mlock:         DefaultMlock,
	}
}

// withDefaults fills zero values.
func (o Options) withDefaults() Options {
	if o.DirCacheTime <= 0 {
		o.DirCacheTime = DefaultDirCacheTime
	}
	if o.FullRelist <= 0 {
		o.FullRelist = DefaultFullRelist
	}
	if o.RefreshMargin <= 0 {
		o.RefreshMargin = DefaultRefreshMargin
	}
	if o.PageSize <= 0 {
		o.PageSize = DefaultPageSize
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.CacheSize <= 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.Prefetch < 0 {
		o.Prefetch = 0
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}
