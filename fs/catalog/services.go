package catalog

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// serviceSet is the account's services: a snapshot published atomically,
// refreshed by one shared call at a time (Catalog.shared), so no lock is
// ever held across the network and a reader of the snapshot never waits
// behind a refresh.
type serviceSet struct {
	cur atomic.Pointer[servicesSnapshot]

	mu    sync.Mutex
	extra map[string]record.Service // looked up by SID, not (yet) listed
}

// servicesSnapshot is one answer of the services list.
type servicesSnapshot struct {
	list []record.Service
	at   time.Time // zero: forgotten, kept only as a failed refresh's fallback
}

// forget makes the next Services call refresh, keeping the list as the
// fallback of a failed refresh, and forgets services looked up by SID.
func (s *serviceSet) forget() {
	if old := s.cur.Load(); old != nil {
		s.cur.Store(&servicesSnapshot{list: old.list})
	}
	s.mu.Lock()
	s.extra = map[string]record.Service{}
	s.mu.Unlock()
}

// Services lists the account's services (well-formed SIDs only), trusting
// the last answer for DirCacheTime. A failed refresh keeps serving the
// previous list. Concurrent callers share one refresh; an interrupted
// caller returns ErrInterrupted and the refresh goes on.
func (c *Catalog) Services(ctx context.Context) ([]record.Service, error) {
	if snap := c.services.cur.Load(); snap != nil && !snap.at.IsZero() && time.Since(snap.at) < c.opts.DirCacheTime {
		return snap.list, nil
	}
	v, err := c.shared(ctx, "services", func(ctx context.Context) (any, error) {
		prev := c.services.cur.Load()
		if prev != nil && !prev.at.IsZero() && time.Since(prev.at) < c.opts.DirCacheTime {
			return prev.list, nil // refreshed while this call was being set up
		}
		list, err := c.src.ListServices(ctx)
		if err != nil {
			if prev != nil {
				c.log.Warn("listing services failed; serving the previous list", "err", err)
				return prev.list, nil
			}
			c.LogFailure("", "", "list services", err)
			return nil, err
		}
		f := newSIDFilter("GA")
		kept := make([]record.Service, 0, len(list))
		for _, s := range list {
			if f.keep(s.SID) {
				kept = append(kept, s)
			}
		}
		f.warn(c.log, "services")
		c.services.cur.Store(&servicesSnapshot{list: kept, at: time.Now()})
		return kept, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]record.Service), nil
}

// Service finds a service by SID: in the list, or with one fetch when the
// SID was not listed (remembered until Forget).
func (c *Catalog) Service(ctx context.Context, sid string) (record.Service, error) {
	list, err := c.Services(ctx)
	if err != nil {
		return record.Service{}, err
	}
	for _, s := range list {
		if s.SID == sid {
			return s, nil
		}
	}
	c.services.mu.Lock()
	s, ok := c.services.extra[sid]
	c.services.mu.Unlock()
	if ok {
		return s, nil
	}
	s, err = c.src.FetchService(ctx, sid)
	if err != nil {
		return record.Service{}, err
	}
	if s.SID != sid {
		// Its SID names its listing and links: trust only the one asked for.
		return record.Service{}, fmt.Errorf("the server answered service %s with SID %q: %w", sid, s.SID, record.ErrNotFound)
	}
	c.services.mu.Lock()
	c.services.extra[sid] = s
	c.services.mu.Unlock()
	return s, nil
}
