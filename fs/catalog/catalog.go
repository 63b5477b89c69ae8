package catalog

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// Options configure a Catalog. The filesystem fills them from its own
// Options (with their defaults applied); zero values here are not
// defaulted again, except where stated.
type Options struct {
	// Source lists services and transcripts and serves content. Required.
	Source Source
	// Decrypter opens envelopes; nil makes encrypted content EACCES.
	Decrypter Decrypter
	// Cache holds the plaintext off the Go heap. Required; its owner
	// routes its OnDrop to CacheDropped and closes it after Close.
	Cache *plaincache.Cache
	// Logger receives the one line per failure and debug events.
	Logger *slog.Logger

	// DirCacheTime is how long a listing (and the services list, and a
	// by-date probe of a current period) is trusted before a refresh.
	DirCacheTime time.Duration
	// FullRelist is how often a listing is relisted completely (the only
	// way to see deletions).
	FullRelist time.Duration
	// RefreshMargin is subtracted from the newest date_created seen when an
	// incremental refresh asks AfterDateCreated.
	RefreshMargin time.Duration
	// PageSize is the listing page size.
	PageSize int
	// Concurrency bounds the background fetches (prefetch workers, re-reads
	// of unfinished transcripts, by-date probes).
	Concurrency int
	// Prefetch is the prefetch window's start (0 disables prefetch).
	Prefetch int
	// Limit, if set, reports the Source's request limit now; the prefetch
	// window grows up to twice that.
	Limit func() int
	// CacheSize is the plaintext budget every other budget derives from:
	// prefetched-but-unread plaintext may take half of it, read leases a
	// quarter (Budgets).
	CacheSize int64
	// MissingContentRetry is the first back-off of content missing upstream
	// while its transcript exists (default 2s).
	MissingContentRetry time.Duration
	// AbandonAfter is how long a shared fetch goes on once its last waiter
	// was interrupted (default 5s).
	AbandonAfter time.Duration
	// Events receives the invalidations the catalog publishes (Event), one
	// at a time and in order, on a goroutine of the catalog's own: never
	// inside a call into the catalog, so it may call back into it. Nil
	// discards them.
	Events func(Event)
}

// Catalog is the transcript model behind a mount: the services snapshot,
// the transcripts listings and by-date probes, the registry of transcripts
// entered, the pin-aware content loader, prefetch and read leases. It knows
// nothing of FUSE: the filesystem maps its errors to errno values and its
// Events to kernel notifications.
type Catalog struct {
	opts  Options
	log   *slog.Logger
	src   Source
	cache *plaincache.Cache
	// alloc takes a fresh off-heap buffer (cache.Alloc; tests make it fail).
	alloc func(n int) (*plaincache.Buffer, error)

	// ctx bounds every detached fetch; cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup

	services serviceSet
	listMu   sync.Mutex
	listings map[string]*Listing
	probes   probeSet
	tMu      sync.Mutex
	entries  map[string]*Entry

	leases     LeaseSet
	flights    flightGroup
	events     *eventQueue
	prefetcher *prefetcher

	loader *Loader
	denied deniedSet // transcripts no key opened, for a short while
}

// New builds a Catalog. Call Close when done (after the mount is gone).
func New(o Options) (*Catalog, error) {
	if o.Source == nil {
		return nil, errors.New("catalog: Options.Source is required")
	}
	if o.Cache == nil {
		return nil, errors.New("catalog: Options.Cache is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MissingContentRetry <= 0 {
		o.MissingContentRetry = missingRetryFirst
	}
	if o.AbandonAfter <= 0 {
		o.AbandonAfter = abandonAfter
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	c := &Catalog{
		opts:     o,
		log:      o.Logger,
		src:      o.Source,
		cache:    o.Cache,
		listings: map[string]*Listing{},
		entries:  map[string]*Entry{},
	}
	c.alloc = c.cache.Alloc
	c.loader, _ = NewLoader(LoaderOptions{Source: o.Source, Decrypter: o.Decrypter,
		Alloc:         func(n int) (*plaincache.Buffer, error) { return c.alloc(n) },
		Service:       c.Service,
		SealedResults: c.sealedResults})
	c.services.extra = map[string]record.Service{}
	c.probes.m = map[string]probeResult{}
	c.flights.m = map[string]*flight{}
	c.flights.timers = map[*time.Timer]struct{}{}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.events = newEventQueue(o.Events)
	c.prefetcher = newPrefetcher(c)
	c.leases.budget = c.Budgets().Leases
	return c, nil
}

// Close stops background work (fetches, prefetch, timers), ends every
// read lease and stops the events (undelivered ones are dropped: the
// kernel they were for is gone). The cache is its owner's to close, after
// this.
func (c *Catalog) Close() {
	c.cancel()
	c.flights.stopTimers()
	c.bg.Wait()
	c.leases.close()
	c.events.close()
}

// Budgets are the memory budgets the catalog keeps within the plaintext
// cache's size: the one place they are derived.
type Budgets struct {
	// Cache is the plaintext cache's bound.
	Cache int64
	// Prefetch is the most prefetched-but-unread plaintext kept.
	Prefetch int64
	// Leases is what read leases may keep pinned beyond the newest one.
	Leases int64
}

// Budgets returns the catalog's memory budgets.
func (c *Catalog) Budgets() Budgets {
	return Budgets{Cache: c.opts.CacheSize, Prefetch: c.opts.CacheSize / 2, Leases: c.opts.CacheSize / 4}
}

// DecryptFailures counts envelopes that did not open: no key unwrapped the
// content key, or the content failed authentication or was malformed.
func (c *Catalog) DecryptFailures() int64 { return c.loader.DecryptFailures() }

// goBG runs fn as tracked background work bound to the catalog's lifetime.
func (c *Catalog) goBG(fn func()) {
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		fn()
	}()
}

// Errors of the catalog's own (the Source's are record sentinels, the
// Decrypter's crypto's). The filesystem maps them: ErrInterrupted to EINTR,
// ErrAbsent to ENOENT.
var (
	// ErrInterrupted is returned when the caller's context ends while it
	// waits for a shared fetch; the fetch itself goes on for a retry.
	ErrInterrupted = errors.New("interrupted")
	// ErrAbsent marks a name that does not exist without anything being
	// wrong (an operator result past the end, a sentences.txt that cannot
	// be derived). It is not a deletion of the transcript.
	ErrAbsent = errors.New("absent")
)

// failure is how an error is reported to the user, decided once here for
// the log line and by the filesystem for the errno (they agree).
type failure int

const (
	failQuiet  failure = iota // not found, absent, interrupted: no log line
	failAccess                // credentials or keys: EACCES
	failIO                    // everything else: EIO
)

func classify(err error) failure {
	switch {
	case err == nil, errors.Is(err, context.Canceled), errors.Is(err, ErrInterrupted),
		errors.Is(err, record.ErrNotFound), errors.Is(err, ErrAbsent):
		return failQuiet
	case errors.Is(err, record.ErrAuth), errors.Is(err, crypto.ErrUnwrap):
		return failAccess
	}
	return failIO
}

// LogFailure writes the one log line of DESIGN.md §5 for an error that
// becomes EIO or EACCES. Not-found, absent and interrupted are not logged.
func (c *Catalog) LogFailure(transcriptSID, credentialSID, what string, err error) {
	attrs := []any{"op", what, "err", err}
	if transcriptSID != "" {
		attrs = append(attrs, "transcript", transcriptSID)
	}
	switch classify(err) {
	case failAccess:
		if errors.Is(err, crypto.ErrUnwrap) {
			attrs = append(attrs, "credential", credentialOrNone(credentialSID))
			c.log.Warn("cannot unwrap the content key: no matching private key (EACCES)", attrs...)
			return
		}
		if errors.Is(err, record.ErrForbidden) {
			c.log.Error("access forbidden by the API (EACCES)", attrs...)
			return
		}
		c.log.Error("credentials rejected by the API (EACCES)", attrs...)
	case failIO:
		switch {
		case errors.Is(err, crypto.ErrAuth):
			c.log.Error("content failed authentication; not served (EIO)", attrs...)
		case errors.Is(err, crypto.ErrMalformed):
			c.log.Error("malformed envelope; not served (EIO)", attrs...)
		case errors.Is(err, record.ErrWrongTranscript):
			c.log.Error("operator result of another transcript; not served (EIO)", attrs...)
		case errors.As(err, new(*missingError)):
			c.log.Warn("content missing upstream although the transcript exists; retrying after a back-off (EIO)", attrs...)
		case errors.Is(err, record.ErrUnavailable), errors.Is(err, record.ErrExpired), errors.Is(err, context.DeadlineExceeded):
			c.log.Warn("upstream unavailable (EIO)", attrs...)
		default:
			c.log.Warn("upstream request failed (EIO)", attrs...)
		}
	}
}

func credentialOrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
