package fetch

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// limiter bounds the requests of one kind (Twilio API requests, or object
// downloads) in flight across every caller of a Client, with a limit that
// adapts to what the other side accepts, and optionally their rate.
//
// The limit moves like a congestion window (TCP BIC/CUBIC, read with
// Netflix's concurrency-limits and Envoy's adaptive concurrency filter in
// mind):
//
//   - It starts at the configured initial value (today's fixed default)
//     and never leaves [1, ceiling].
//   - A loss (429, and for the object store also 503 SlowDown) cuts it
//     multiplicatively to lossBeta of the limit that was refused (probeBeta
//     when that is, within a slot, where the last refusal came), and
//     remembers that limit (lossAt). Twilio refuses requests beyond a
//     per-account concurrency that the customer does not know and that
//     other applications share, so the refused limit is the best estimate
//     of the room there is. Losses of requests admitted before the
//     last cut are the same congestion event and do not cut again (one cut
//     per round trip, as TCP NewReno).
//   - Successes grow it, only while it is used (requests waited for a slot
//     or at least half the slots were busy): before the first loss by one
//     per success (doubling per round trip, a slow start), by two while as
//     many requests wait as it admits (tripling: a walk of a big folder
//     queues far more than the limit, and each round trip at a fraction of
//     the account's room costs the scan a round trip; an overshoot is
//     refused at once, so it costs a few refusals, not a round trip); below lossAt by
//     half the distance to it per round trip (a binary search for the
//     limit, as BIC does); within one slot of lossAt by a quarter of a slot
//     per round trip (the refused concurrency is probed rarely: each probe
//     costs the account a refusal); beyond it faster the longer no loss
//     comes (the room grew: another application stopped).
//   - Rising latency is a loss without a refusal: a short-term average of
//     the round trip above gradientTolerance times the long-term one cuts
//     the limit by the gradient (at most once per round trip), as Netflix's
//     Gradient2 does, so a server that slows down under load is backed off
//     from before it refuses.
type limiter struct {
	name    string
	ceiling float64
	rl      *rate.Limiter // nil: unlimited
	fixed   bool          // never adapt (Config.FixedConcurrency)

	mu       sync.Mutex
	limit    float64
	inFlight int
	epoch    uint64  // incremented by every cut
	lossAt   float64 // the concurrency refused last; 0 before any loss
	waiting  list.List
	shortRTT float64 // EWMA of round trips, nanoseconds, fast
	longRTT  float64 // EWMA of round trips, nanoseconds, slow
	samples  int

	// Read without the lock by Stats.
	cur        atomic.Int64 // floor(limit)
	inFlight64 atomic.Int64
	lossCuts   atomic.Int64 // cuts after a refusal
	delayCuts  atomic.Int64 // cuts after the round trip rose
	losses     atomic.Int64
}

const (
	lossBeta = 0.8 // the multiplicative cut on a loss
	// probeBeta is the cut when a refusal comes within a slot of the
	// concurrency refused last: the room is where it was, and the probe
	// that found it again should not cost the next round trips a fifth
	// of it.
	probeBeta         = 0.9
	gradientTolerance = 2.0 // short/long round trip ratio tolerated
	shortAlpha        = 0.1
	longAlpha         = 0.01
	minSamples        = 20 // round trips seen before latency may cut
	maxStep           = 16 // the most the limit grows per round trip
	// probeStep is the growth per round trip just below and at the
	// refused concurrency: a slot every four round trips, so a stable
	// account limit is probed (and refused) rarely.
	probeStep = 0.25
	// minRTTRise is the least rise of the round trip that counts: on
	// loopback round trips of microseconds vary by multiples.
	minRTTRise = 5 * time.Millisecond
)

// outcome is what one attempt said about the other side's capacity.
type outcome int

const (
	// outcomeIgnore: nothing learnt (a transport fault, a cancelled request).
	outcomeIgnore outcome = iota
	// outcomeSuccess: the other side answered (any status but a refusal).
	outcomeSuccess
	// outcomeLoss: the other side refused the request for capacity.
	outcomeLoss
	// outcomeHold: the other side answered but said it is at its limit
	// (X-Rate-Limit-Remaining: 0): do not grow.
	outcomeHold
)

func newLimiter(name string, initial, ceiling int, rl *rate.Limiter) *limiter {
	initial = min(max(initial, 1), max(ceiling, 1))
	l := &limiter{name: name, ceiling: float64(max(ceiling, 1)), rl: rl, limit: float64(initial)}
	l.cur.Store(int64(initial))
	return l
}

// fix pins the limit at n (at least 1): it no longer adapts.
func (l *limiter) fix(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.fixed = true
	l.ceiling = float64(max(n, 1))
	l.setLocked(l.ceiling)
}

// slot is one admitted request. done reports its outcome exactly once.
type slot struct {
	l       *limiter
	epoch   uint64
	used    bool // the limit was in use when the request was admitted or ended
	start   time.Time
	settled atomic.Bool
}

// acquire waits (honouring ctx) for the rate limiter and a slot. A retry
// (front) queues ahead of first attempts: it was admitted once and someone
// may be waiting for it.
func (l *limiter) acquire(ctx context.Context, front bool) (*slot, error) {
	if l.rl != nil {
		if err := l.rl.Wait(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, errRateDeadline
		}
	}
	l.mu.Lock()
	if l.inFlight >= l.slots() || l.waiting.Len() > 0 {
		w := &waiter{ch: make(chan struct{})}
		var e *list.Element
		if front {
			e = l.waiting.PushFront(w)
		} else {
			e = l.waiting.PushBack(w)
		}
		l.mu.Unlock()
		select {
		case <-w.ch: // admitted by wakeLocked, which filled in w.s
			return w.s, nil
		case <-ctx.Done():
			l.mu.Lock()
			select {
			case <-w.ch: // admitted meanwhile: give the slot back
				l.inFlight--
				l.wakeLocked()
			default:
				l.waiting.Remove(e)
			}
			l.mu.Unlock()
			return nil, ctx.Err()
		}
	}
	s := l.admitLocked(false)
	l.mu.Unlock()
	return s, nil
}

// waiter is a request queued for a slot.
type waiter struct {
	ch chan struct{} // closed once admitted
	s  *slot
}

// admitLocked counts one more request in flight and returns its slot. The
// slot's epoch is the one it was admitted under: a request admitted before
// a cut belongs to the congestion the cut answered, even if its goroutine
// runs after it.
func (l *limiter) admitLocked(queued bool) *slot {
	l.inFlight++
	l.inFlight64.Store(int64(l.inFlight))
	return &slot{l: l, epoch: l.epoch, start: time.Now(),
		used: queued || 2*l.inFlight >= l.slots()}
}

// slots is the whole number of requests the limit admits (at least 1).
func (l *limiter) slots() int { return max(int(l.limit), 1) }

// wakeLocked admits waiters in order while there is room.
func (l *limiter) wakeLocked() {
	for l.inFlight < l.slots() {
		e := l.waiting.Front()
		if e == nil {
			break
		}
		l.waiting.Remove(e)
		w := e.Value.(*waiter)
		w.s = l.admitLocked(true)
		close(w.ch)
	}
	l.inFlight64.Store(int64(l.inFlight))
}

// done releases the slot and feeds its outcome to the limit. Later calls
// do nothing.
func (s *slot) done(o outcome) {
	if !s.settled.CompareAndSwap(false, true) {
		return
	}
	l := s.l
	rtt := float64(time.Since(s.start))
	l.mu.Lock()
	s.used = s.used || l.waiting.Len() > 0 || 2*l.inFlight >= l.slots()
	l.inFlight--
	if l.fixed {
		o = outcomeIgnore
	}
	switch o {
	case outcomeSuccess, outcomeHold:
		l.sampleLocked(s, rtt, o == outcomeSuccess)
	case outcomeLoss:
		if s.epoch == l.epoch {
			// The limit the refusal answered, as TCP's W_max: which of the
			// requests in flight the server counted last is unknown
			// (they overtake each other on the way).
			beta := lossBeta
			if l.lossAt > 0 && l.limit >= l.lossAt-1 && l.limit <= l.lossAt+1 {
				// Refused again where it was refused last: the
				// account's room has not moved, the probe found it.
				beta = probeBeta
			}
			l.lossAt = l.limit
			l.lossCuts.Add(1)
			l.cutLocked(beta * l.lossAt)
		}
	}
	l.wakeLocked()
	l.mu.Unlock()
}

// sampleLocked learns from one answered request.
// Only a success may grow the limit; a hold feeds the round trip alone.
func (l *limiter) sampleLocked(s *slot, rtt float64, grow bool) {
	if l.samples == 0 {
		l.shortRTT, l.longRTT = rtt, rtt
	} else {
		l.shortRTT += shortAlpha * (rtt - l.shortRTT)
		l.longRTT += longAlpha * (rtt - l.longRTT)
	}
	l.samples++
	if l.samples >= minSamples && l.shortRTT > gradientTolerance*l.longRTT &&
		l.shortRTT-l.longRTT > float64(minRTTRise) {
		if s.epoch == l.epoch {
			// The gradient, in [0.5, 1): how much of the rise the limit
			// takes back.
			g := max(0.5, gradientTolerance*l.longRTT/l.shortRTT)
			l.delayCuts.Add(1)
			l.cutLocked(l.limit * g)
		}
		return
	}
	if !grow || !s.used || s.epoch != l.epoch {
		// Unused slots prove nothing; answers to requests admitted
		// before the last cut belong to the congestion it answered.
		return
	}
	var step float64
	switch {
	case l.lossAt == 0:
		// Slow start: double per round trip, triple while the queue is
		// as long as the limit. Not capped by maxStep: the first refusal
		// ends it.
		step = l.limit
		if l.waiting.Len() >= l.slots() {
			step = 2 * l.limit
		}
		l.setLocked(l.limit + step/l.limit)
		return
	case l.limit < l.lossAt-1:
		step = max((l.lossAt-l.limit)/2, 1) // binary search
	case l.limit < l.lossAt:
		step = probeStep // one slot short of the refusal: hold, probe slowly
	default:
		step = max(l.limit-l.lossAt, probeStep) // beyond it: speed up
	}
	step = min(step, maxStep)
	l.setLocked(l.limit + step/l.limit)
}

// cutLocked lowers the limit to v and starts a new epoch.
func (l *limiter) cutLocked(v float64) {
	l.epoch++
	l.setLocked(v)
}

func (l *limiter) setLocked(v float64) {
	l.limit = min(max(v, 1), l.ceiling)
	l.cur.Store(int64(l.slots()))
}

// adapts reports whether the limit adapts (not Config.FixedConcurrency).
func (l *limiter) adapts() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.fixed
}

// Limit is the current limit (whole requests).
func (l *limiter) Limit() int { return int(l.cur.Load()) }
