// Package defaults holds the default settings of a mount: the values
// fs.Options falls back to and the CLI's flags show, in one place.
//
// It is a leaf of its own because fs needs FUSE (it builds on Linux and
// macOS only), while the CLI defines its mount flags on every platform so
// that --help reads the same everywhere (Windows included). fs re-exports
// each value as fs.DefaultX; the request limits are fetch's
// (fetch.DefaultMaxConcurrency).
package defaults

import (
	"time"

	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

const (
	// DirCacheTime is how long a folder listing is trusted before a
	// refresh asks for what is new (--dir-cache-time).
	DirCacheTime = time.Minute
	// FullRelist is how often a folder is listed again from scratch, the
	// only way to notice deletions (--full-relist).
	FullRelist = time.Hour
	// Prefetch is the number of transcripts fetched ahead of a walk at
	// first (--prefetch).
	Prefetch = 8
	// CacheSize bounds the plaintext cache (--cache-size).
	CacheSize = plaincache.DefaultMaxBytes
	// CacheMaxAge is the age at which cached plaintext is dropped and
	// zeroed (--cache-max-age).
	CacheMaxAge = plaincache.DefaultMaxAge
	// Mlock is the cache's memory-locking policy (--mlock).
	Mlock = plaincache.MlockAuto
)
