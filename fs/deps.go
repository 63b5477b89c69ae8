package fs

import (
	"time"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// The fetch types fs works with. Source implementations (fetch.Client, test
// fakes) traffic in these.
type (
	// Service is an Intelligence Service (fetch.Service).
	Service = fetch.Service
	// Transcript is one compact transcript record (fetch.Transcript).
	Transcript = fetch.Transcript
	// TranscriptQuery selects transcripts (fetch.TranscriptQuery).
	TranscriptQuery = fetch.TranscriptQuery
	// opener decrypts one envelope for the Source (fetch.Opener).
	opener = fetch.Opener
)

// Short names for the cache types.
type (
	plainCache  = plaincache.Cache
	plainBuffer = plaincache.Buffer
)

// The fetch sentinels errnoOf maps.
var (
	errNotFound    = fetch.ErrNotFound
	errAuth        = fetch.ErrAuth
	errForbidden   = fetch.ErrForbidden
	errUnavailable = fetch.ErrUnavailable
	errExpired     = fetch.ErrExpired
)

func newPlainCache(o plaincache.Options) (*plaincache.Cache, error) { return plaincache.New(o) }

func serviceCreated(s Service) time.Time { return s.DateCreated }

var _ Source = (*fetch.Client)(nil)
