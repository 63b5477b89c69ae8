package main

import (
	"math"

	"github.com/spf13/pflag"

	"github.com/intelligencefs/intelligencefs/fetch"
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

// tune applies the limits to a client configuration.
func (l *limitFlags) tune(c *fetch.Config) {
	c.MaxConcurrency = l.maxConcurrency
	c.RateLimit = l.rateLimit
}
