package main

import (
	"math"
	"time"

	"github.com/spf13/pflag"

	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fs/defaults"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// limitFlags are the request limits of every command that fetches content
// in bulk (mount, demo, search): one set, so a search is as gentle with an
// account as the mount is.
type limitFlags struct {
	maxConcurrency int
	rateLimit      float64
}

// addLimitFlags registers --max-concurrency and --rate-limit on fs.
func addLimitFlags(fs *pflag.FlagSet) *limitFlags {
	l := &limitFlags{}
	fs.IntVar(&l.maxConcurrency, "max-concurrency", fetch.DefaultMaxConcurrency, "ceiling of the adaptive limit of Twilio API requests in flight (it starts at 16 and backs off on 429); object downloads adapt under a ceiling of their own of the same size")
	fs.Float64Var(&l.rateLimit, "rate-limit", 0, "Twilio API requests per second at most (0: unlimited; object downloads are not counted)")
	return l
}

// validate checks the values.
func (l *limitFlags) validate() error {
	switch {
	case l.maxConcurrency < 1:
		return usagef("--max-concurrency must be at least 1")
	case l.rateLimit < 0 || math.IsNaN(l.rateLimit) || math.IsInf(l.rateLimit, 0):
		return usagef("--rate-limit must be 0 (unlimited) or a positive number of requests per second")
	}
	return nil
}

// workers is how many transcripts a search or the viewer fetches at once:
// twice the request ceiling, so the adaptive limit stays busy while some
// transcripts are being searched or decrypted rather than fetched.
func (l *limitFlags) workers() int { return 2 * l.maxConcurrency }

// tune applies the limits to a client configuration.
func (l *limitFlags) tune(c *fetch.Config) {
	c.MaxConcurrency = l.maxConcurrency
	c.RateLimit = l.rateLimit
}

// cacheFlags are the plaintext cache's settings, shared by every command
// that keeps decrypted content between requests (mount, demo, serve).
type cacheFlags struct {
	cacheSize   byteSize
	cacheMaxAge time.Duration
	mlock       string
}

// addCacheFlags registers --cache-size, --cache-max-age and --mlock on fs.
func addCacheFlags(fs *pflag.FlagSet) *cacheFlags {
	c := &cacheFlags{cacheSize: byteSize(defaults.CacheSize)}
	fs.Var(&c.cacheSize, "cache-size", "bound of the in-memory plaintext cache (64MiB, 1G, …; K/M/G/T are powers of 1024)")
	fs.DurationVar(&c.cacheMaxAge, "cache-max-age", defaults.CacheMaxAge, "drop (and zero) cached plaintext older than this")
	fs.StringVar(&c.mlock, "mlock", defaults.Mlock.String(), "lock cached plaintext in RAM (never swapped): auto (as far as RLIMIT_MEMLOCK allows, warn once), required (refuse to mount without it), off")
	return c
}

// validate checks the values.
func (c *cacheFlags) validate() error {
	switch {
	case c.cacheSize < 1<<20:
		return usagef("--cache-size must be at least 1MiB")
	case c.cacheMaxAge < 0:
		return usagef("durations must not be negative")
	}
	switch c.mlock {
	case "auto", "required", "off":
	default:
		return usagef("--mlock must be auto, required or off (got %q)", truncate(c.mlock, 20))
	}
	return nil
}

// mlockMode is --mlock parsed. The mount (fs.Options) and the viewer
// (web.Options) build their caches from the three settings themselves.
func (c *cacheFlags) mlockMode() (plaincache.MlockMode, error) {
	mlock, err := plaincache.ParseMlockMode(c.mlock)
	if err != nil {
		return 0, usageError{err}
	}
	return mlock, nil
}
