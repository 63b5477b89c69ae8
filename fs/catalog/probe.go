package catalog

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// probeSet caches the by-date probes: whether a period of a service holds
// any transcript. It has a lock of its own: a probe never waits behind a
// listing.
type probeSet struct {
	mu sync.Mutex
	m  map[string]probeResult
}

// probeResult caches whether a period holds any transcript.
type probeResult struct {
	has bool
	at  time.Time
	end time.Time // end of the period, to tell past periods from current ones
}

func (p *probeSet) get(key string) (probeResult, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	r, ok := p.m[key]
	return r, ok
}

func (p *probeSet) set(key string, r probeResult) {
	p.mu.Lock()
	p.m[key] = r
	p.mu.Unlock()
}

// forget drops every cached probe.
func (p *probeSet) forget() {
	p.mu.Lock()
	p.m = map[string]probeResult{}
	p.mu.Unlock()
}

var errProbeDone = errors.New("probe done")

// HasTranscripts reports whether the service has a transcript created in
// [from, to), asking for at most one transcript. A past period's answer is
// kept for FullRelist (it changes only by deletion), a current one's for
// DirCacheTime.
func (c *Catalog) HasTranscripts(ctx context.Context, service string, from, to time.Time) (bool, error) {
	key := service + "/" + from.Format(time.RFC3339) + "/" + to.Format(time.RFC3339)
	p, ok := c.probes.get(key)
	ttl := c.opts.DirCacheTime
	if ok && p.end.Before(p.at.Add(-c.opts.RefreshMargin)) {
		ttl = c.opts.FullRelist // a past period changes only by deletion
	}
	if ok && time.Since(p.at) < ttl {
		return p.has, nil
	}
	at := time.Now()
	has := false
	err := c.src.ListTranscripts(ctx, record.TranscriptQuery{ServiceSID: service, AfterDateCreated: from, BeforeDateCreated: to, PageSize: 1},
		func(page []record.Transcript) error {
			// An empty page is not the end: the client filters pages
			// by date (the server may ignore or round the filters).
			if has = len(page) > 0; has {
				return errProbeDone
			}
			return nil
		})
	if err != nil && !errors.Is(err, errProbeDone) {
		c.LogFailure("", "", "probe transcripts of "+service, err)
		return false, err
	}
	c.probes.set(key, probeResult{has: has, at: at, end: to})
	return has, nil
}

// Forget drops what the catalog remembers of Twilio's listings, like
// rclone's vfs/forget (the CLI calls it on SIGHUP), so the next walk sees
// Twilio's state now: the services list, every transcripts listing (the
// next open loads it again from the first page, finding deletions too),
// the by-date probes and the transcripts no key opened a moment ago. A
// Forgotten event tells the filesystem to drop the kernel's cached
// listings. Decrypted content stays cached: a completed transcript's
// content never changes.
func (c *Catalog) Forget() {
	c.services.forget()
	c.probes.forget()
	for _, l := range c.allListings() {
		l.forget()
	}
	c.denied.forget()
	c.events.publish(Event{Kind: Forgotten})
	c.log.Info("cached listings dropped; the next walk asks Twilio again")
}
