package factory

import (
	"math"
	"time"

	"github.com/spf13/pflag"

	"github.com/intelligencefs/intelligencefs/cmd/intelligencefs/internal/cmdutil"
	"github.com/intelligencefs/intelligencefs/fetch"
	"github.com/intelligencefs/intelligencefs/fs/defaults"
	"github.com/intelligencefs/intelligencefs/fs/plaincache"
)

// LimitFlags are the request limits of every command that fetches content
// in bulk (mount, demo, search): one set, so a search is as gentle with an
// account as the mount is.
type LimitFlags struct {
	MaxConcurrency int
	RateLimit      float64
}

// AddLimitFlags registers --max-concurrency and --rate-limit on fs.
func AddLimitFlags(fs *pflag.FlagSet) *LimitFlags {
	l := &LimitFlags{}
	fs.IntVar(&l.MaxConcurrency, "max-concurrency", fetch.DefaultMaxConcurrency, "ceiling of the adaptive limit of Twilio API requests in flight (it starts at 16 and backs off on 429); object downloads adapt under a ceiling of their own of the same size")
	fs.Float64Var(&l.RateLimit, "rate-limit", 0, "Twilio API requests per second at most (0: unlimited; object downloads are not counted)")
	return l
}

// Validate checks the values.
func (l *LimitFlags) Validate() error {
	switch {
	case l.MaxConcurrency < 1:
		return cmdutil.Usagef("--max-concurrency must be at least 1")
	case l.RateLimit < 0 || math.IsNaN(l.RateLimit) || math.IsInf(l.RateLimit, 0):
		return cmdutil.Usagef("--rate-limit must be 0 (unlimited) or a positive number of requests per second")
	}
	return nil
}

// Workers is how many transcripts a search or the viewer fetches at once:
// twice the request ceiling, so the adaptive limit stays busy while some
// transcripts are being searched or decrypted rather than fetched.
func (l *LimitFlags) Workers() int { return 2 * l.MaxConcurrency }

// Tune applies the limits to a client configuration.
func (l *LimitFlags) Tune(c *fetch.Config) {
	c.MaxConcurrency = l.MaxConcurrency
	c.RateLimit = l.RateLimit
}

// CacheFlags are the plaintext cache's settings, shared by every command
// that keeps decrypted content between requests (mount, demo, serve).
type CacheFlags struct {
	CacheSize   cmdutil.ByteSize
	CacheMaxAge time.Duration
	Mlock       string
}

// AddCacheFlags registers --cache-size, --cache-max-age and --mlock on fs.
func AddCacheFlags(fs *pflag.FlagSet) *CacheFlags {
	c := &CacheFlags{CacheSize: cmdutil.ByteSize(defaults.CacheSize)}
	fs.Var(&c.CacheSize, "cache-size", "bound of the in-memory plaintext cache (64MiB, 1G, …; K/M/G/T are powers of 1024)")
	fs.DurationVar(&c.CacheMaxAge, "cache-max-age", defaults.CacheMaxAge, "drop (and zero) cached plaintext older than this")
	fs.StringVar(&c.Mlock, "mlock", defaults.Mlock.String(), "lock cached plaintext in RAM (never swapped): auto (as far as RLIMIT_MEMLOCK allows, warn once), required (refuse to mount without it), off")
	return c
}

// Validate checks the values.
func (c *CacheFlags) Validate() error {
	switch {
	case c.CacheSize < 1<<20:
		return cmdutil.Usagef("--cache-size must be at least 1MiB")
	case c.CacheMaxAge < 0:
		return cmdutil.Usagef("durations must not be negative")
	}
	switch c.Mlock {
	case "auto", "required", "off":
	default:
		return cmdutil.Usagef("--mlock must be auto, required or off (got %q)", cmdutil.Truncate(c.Mlock, 20))
	}
	return nil
}

// MlockMode is --mlock parsed. The mount (fs.Options) and the viewer
// (web.Options) build their caches from the three settings themselves.
func (c *CacheFlags) MlockMode() (plaincache.MlockMode, error) {
	mlock, err := plaincache.ParseMlockMode(c.Mlock)
	if err != nil {
		return 0, cmdutil.UsageError{Err: err}
	}
	return mlock, nil
}
