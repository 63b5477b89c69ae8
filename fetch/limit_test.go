package fetch

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/intelligencefs/intelligencefs/fetch/twiliosim"
)

// fill admits n requests and returns their slots.
func fill(t *testing.T, l *limiter, n int) []*slot {
	t.Helper()
	out := make([]*slot, n)
	for i := range out {
		s, err := l.acquire(context.Background(), false)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = s
	}
	return out
}

// TestLimiterMoves drives the limit with outcomes directly: where it starts,
// that it grows only while used, how a loss cuts it (once per round trip),
// and the bounds.
func TestLimiterMoves(t *testing.T) {
	t.Run("starts at the initial value within the ceiling", func(t *testing.T) {
		for _, tc := range []struct{ initial, ceiling, want int }{{16, 64, 16}, {16, 8, 8}, {0, 64, 1}, {5, 0, 1}} {
			if got := newLimiter("api", tc.initial, tc.ceiling, nil).Limit(); got != tc.want {
				t.Errorf("initial %d ceiling %d: limit %d, want %d", tc.initial, tc.ceiling, got, tc.want)
			}
		}
	})
	t.Run("slow start while used, up to the ceiling", func(t *testing.T) {
		l := newLimiter("api", 4, 10, nil)
		for range 5 {
			for _, s := range fill(t, l, l.Limit()) {
				s.done(outcomeSuccess)
			}
		}
		if got := l.Limit(); got != 10 {
			t.Errorf("limit %d after five full round trips, want the ceiling 10", got)
		}
	})
	t.Run("slow start is not capped at maxStep per round trip", func(t *testing.T) {
		l := newLimiter("api", 2*maxStep, 200, nil)
		for _, s := range fill(t, l, 2*maxStep) {
			s.done(outcomeSuccess)
		}
		// (Not quite doubled: the first requests admitted found half the
		// slots idle, which proves nothing.)
		if got := l.Limit(); got <= 3*maxStep {
			t.Errorf("limit %d after a full round trip from %d, want more than %d", got, 2*maxStep, 3*maxStep)
		}
	})
	t.Run("slow start triples while as many wait as it admits", func(t *testing.T) {
		for _, tc := range []struct {
			waiting, want int
		}{{0, 8}, {40, 12}} {
			l := newLimiter("api", 4, 100, nil)
			ss := fill(t, l, 4)
			ctx, cancel := context.WithCancel(context.Background())
			admitted := make(chan *slot, tc.waiting)
			var wg sync.WaitGroup
			for range tc.waiting {
				wg.Go(func() {
					if s, err := l.acquire(ctx, false); err == nil {
						admitted <- s
					}
				})
			}
			for l.waitingLen() < tc.waiting {
				time.Sleep(time.Millisecond)
			}
			for _, s := range ss {
				s.done(outcomeSuccess)
			}
			if got := l.Limit(); got != tc.want {
				t.Errorf("%d waiting: limit %d after a round trip from 4, want %d", tc.waiting, got, tc.want)
			}
			cancel()
			wg.Wait()
			close(admitted)
			for s := range admitted {
				s.done(outcomeIgnore)
			}
		}
	})
	t.Run("no growth while unused", func(t *testing.T) {
		l := newLimiter("api", 16, 64, nil)
		for range 200 {
			s := fill(t, l, 1)[0] // one at a time: 1 of 16 slots busy
			s.done(outcomeSuccess)
		}
		if got := l.Limit(); got != 16 {
			t.Errorf("limit %d after lone requests, want 16", got)
		}
	})
	t.Run("hold keeps it", func(t *testing.T) {
		l := newLimiter("api", 8, 64, nil)
		for range 5 {
			for _, s := range fill(t, l, 8) {
				s.done(outcomeHold)
			}
		}
		if got := l.Limit(); got != 8 {
			t.Errorf("limit %d after holds, want 8", got)
		}
	})
	t.Run("a loss cuts to 0.8 of the refused concurrency, once per round trip", func(t *testing.T) {
		l := newLimiter("api", 20, 64, nil)
		ss := fill(t, l, 20)
		ss[19].done(outcomeLoss) // the 20th in flight was refused
		if got := l.Limit(); got != 16 {
			t.Fatalf("limit %d after a loss at 20, want 16", got)
		}
		for _, s := range ss[10:19] { // the same congestion event
			s.done(outcomeLoss)
		}
		if got := l.Limit(); got != 16 {
			t.Errorf("limit %d after more losses of the same round trip, want 16", got)
		}
		for _, s := range ss[:10] {
			s.done(outcomeSuccess)
		}
		s := fill(t, l, 1)[0] // admitted after the cut: a new event
		s.done(outcomeLoss)
		if got := l.Limit(); got >= 16 {
			t.Errorf("limit %d after a loss of the next round trip, want below 16", got)
		}
	})
	t.Run("a refusal where the last one came cuts by a tenth", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			again float64 // the limit at the second refusal
			want  int
		}{
			{"found again", 20, 18}, // 0.9 × 20
			{"lower room", 16, 12},  // 0.8 × 16: the room shrank
		} {
			l := newLimiter("api", 20, 64, nil)
			fill(t, l, 1)[0].done(outcomeLoss) // refused at 20: 16
			l.mu.Lock()
			l.setLocked(tc.again)
			l.mu.Unlock()
			fill(t, l, 1)[0].done(outcomeLoss)
			if got := l.Limit(); got != tc.want {
				t.Errorf("%s: refused at 20, then at %v: limit %d, want %d", tc.name, tc.again, got, tc.want)
			}
		}
	})
	t.Run("the floor is 1", func(t *testing.T) {
		l := newLimiter("api", 3, 64, nil)
		for range 20 {
			fill(t, l, 1)[0].done(outcomeLoss)
		}
		if got := l.Limit(); got != 1 {
			t.Errorf("limit %d, want the floor 1", got)
		}
		fill(t, l, 1)[0].done(outcomeSuccess)
	})
	t.Run("after a loss it searches back toward the refused concurrency", func(t *testing.T) {
		l := newLimiter("api", 30, 64, nil)
		ss := fill(t, l, 30)
		ss[29].done(outcomeLoss)
		for _, s := range ss[:29] {
			s.done(outcomeSuccess)
		}
		if got := l.Limit(); got != 24 {
			t.Fatalf("limit %d after a loss at 30, want 24", got)
		}
		var seen []int
		for range 6 {
			for _, s := range fill(t, l, l.Limit()) {
				s.done(outcomeSuccess)
			}
			seen = append(seen, l.Limit())
		}
		// Half the distance to 30 per round trip, then a quarter of a
		// slot per round trip one short of it.
		if seen[0] < 26 || seen[0] > 28 || seen[2] < 28 || seen[5] < 29 || seen[5] > 30 {
			t.Errorf("limits per round trip %v: want a binary search to ~30, then slow probing", seen)
		}
	})
	t.Run("rising latency cuts without a refusal", func(t *testing.T) {
		l := newLimiter("api", 16, 64, nil)
		l.mu.Lock()
		for range minSamples {
			l.sampleLocked(&slot{epoch: l.epoch}, float64(20*time.Millisecond), false)
		}
		for range 10 {
			l.sampleLocked(&slot{epoch: l.epoch}, float64(200*time.Millisecond), false)
		}
		l.mu.Unlock()
		if got := l.Limit(); got >= 16 {
			t.Errorf("limit %d after round trips rose tenfold, want below 16", got)
		}
		if got := l.Limit(); got < 1 {
			t.Errorf("limit %d below the floor", got)
		}
	})
}

// TestLimiterWaitersInOrder: a full limiter queues requests, admits them
// as slots free up, and a cancelled waiter leaves no slot taken.
func TestLimiterWaitersInOrder(t *testing.T) {
	l := newLimiter("api", 2, 2, nil)
	ss := fill(t, l, 2)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := l.acquire(ctx, false); errc <- err }()
	got := make(chan *slot, 1)
	go func() {
		for l.waitingLen() < 1 {
			time.Sleep(time.Millisecond)
		}
		s, _ := l.acquire(context.Background(), false)
		got <- s
	}()
	for l.waitingLen() < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("cancelled waiter: %v", err)
	}
	ss[0].done(outcomeIgnore)
	s := <-got
	s.done(outcomeIgnore)
	ss[1].done(outcomeIgnore)
	ss[1].done(outcomeIgnore) // twice: no effect
	if n := l.inFlight64.Load(); n != 0 {
		t.Errorf("%d slots leaked", n)
	}
}

// TestLimiterRetryFirst: a retry (a refused request going again) is
// admitted before first attempts that queued earlier.
func TestLimiterRetryFirst(t *testing.T) {
	l := newLimiter("api", 1, 1, nil)
	s := fill(t, l, 1)[0]
	order := make(chan string, 2)
	var wg sync.WaitGroup
	for _, w := range []struct {
		name  string
		front bool
	}{{"first attempt", false}, {"retry", true}} {
		n := l.waitingLen()
		wg.Go(func() {
			s, err := l.acquire(context.Background(), w.front)
			if err != nil {
				t.Error(err)
				return
			}
			order <- w.name
			s.done(outcomeIgnore)
		})
		for l.waitingLen() == n {
			time.Sleep(time.Millisecond)
		}
	}
	s.done(outcomeIgnore)
	wg.Wait()
	if a, b := <-order, <-order; a != "retry" || b != "first attempt" {
		t.Errorf("admitted %q then %q, want the retry first", a, b)
	}
}

// TestLimiterQueuedEpoch: a request admitted from the queue before a cut
// belongs to the congestion the cut answered, however late its goroutine
// runs: its refusal does not cut again.
func TestLimiterQueuedEpoch(t *testing.T) {
	l := newLimiter("api", 10, 64, nil)
	ss := fill(t, l, 10)
	got := make(chan *slot)
	go func() {
		s, _ := l.acquire(context.Background(), false)
		got <- s
	}()
	for l.waitingLen() < 1 {
		time.Sleep(time.Millisecond)
	}
	ss[0].done(outcomeIgnore) // admits the waiter, before the cut
	ss[9].done(outcomeLoss)   // the cut: 10 → 8
	queued := <-got
	queued.done(outcomeLoss) // the same congestion event
	if got := l.Limit(); got != 8 {
		t.Errorf("limit %d, want 8: one cut for one congestion event", got)
	}
	for _, s := range ss[1:9] {
		s.done(outcomeIgnore)
	}
}

func (l *limiter) waitingLen() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.waiting.Len()
}

// TestAdaptiveAgainstAccountLimit runs many parallel calls against the
// simulator enforcing an account concurrency limit: every call succeeds,
// the limit comes down from where it started to about the account's, and
// the simulator never had more in process than it allows.
func TestAdaptiveAgainstAccountLimit(t *testing.T) {
	s, _ := newSim(t, twiliosim.Options{Corpus: twiliosim.CorpusOptions{TranscriptsPerService: 10}})
	tr := pick(t, s, "call-centre-encrypted", true)
	s.SetFaults(twiliosim.Faults{ConcurrencyLimit: 4, APILatency: 10 * time.Millisecond})
	c, _ := newTestClient(t, s.URL, func(c *Config) {
		c.AccountSID, c.AuthToken = s.AccountSID, s.AuthToken
		c.sleep = sleepCtx // real waits: the limiter learns from real time
	})
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 32 {
		wg.Go(func() {
			for range 8 {
				if _, err := c.FetchTranscript(context.Background(), tr.SID); err != nil {
					failed.Add(1)
					t.Log(err)
				}
			}
		})
	}
	wg.Wait()
	st := c.Stats()
	refused := s.Count(twiliosim.CounterFaultPrefix + "ConcurrencyLimit")
	t.Logf("%d API requests, %d refused (%d seen by the client), limit now %d", st.APIRequests, refused, st.Throttled, st.APILimit)
	if failed.Load() != 0 {
		t.Fatalf("%d calls failed", failed.Load())
	}
	if refused == 0 || st.Throttled != refused {
		t.Errorf("refused %d, client saw %d: the test did not exercise the limit", refused, st.Throttled)
	}
	if st.APILimit > 8 {
		t.Errorf("limit %d after refusals at 4 in flight: it did not back off", st.APILimit)
	}
	if p := s.Count(twiliosim.CounterAPIConcurrencyPeak); p <= 4 {
		t.Errorf("peak %d: the client never reached the account's limit", p)
	}
}

// TestThrottleBudget: 429s are retried on a budget of their own, with
// jittered exponential backoff when no Retry-After comes, and do not use up
// the retries of errors; a storm longer than the budget fails with the
// status and the attempts.
func TestThrottleBudget(t *testing.T) {
	for _, tc := range []struct {
		name    string
		storm   time.Duration // 429s until the client waited this long
		errs    int           // then this many 503s
		wantErr bool
	}{
		{"30 s storm then success", 30 * time.Second, 0, false},
		{"storm then errors within their own budget", 30 * time.Second, DefaultMaxAttempts - 1, false},
		{"storm longer than the budget", time.Hour, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fs *fakeSleep
			var throttles, errs atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var waited time.Duration
				for _, w := range fs.got() {
					waited += w
				}
				switch {
				case waited < tc.storm && errs.Load() == 0:
					throttles.Add(1)
					twilioErr(w, 429, 20429)
				case int(errs.Load()) < tc.errs:
					errs.Add(1)
					twilioErr(w, 503, 20500)
				default:
					fmt.Fprint(w, transcriptJSON(gt(1), ""))
				}
			}))
			defer srv.Close()
			var c *Client
			c, fs = newTestClient(t, srv.URL, nil)
			_, err := c.FetchTranscript(context.Background(), gt(1))
			var throttleWait time.Duration
			waits := fs.got()
			nt := int(throttles.Load())
			for _, w := range waits[:min(len(waits), nt)] {
				throttleWait += w
			}
			if tc.wantErr {
				if err == nil {
					t.Fatal("no error after an endless storm")
				}
				if throttleWait > DefaultMaxThrottleTime || throttleWait < DefaultMaxThrottleTime/2 {
					t.Errorf("waited %v in 429s, want about the budget %v", throttleWait, DefaultMaxThrottleTime)
				}
				assertClean(t, err)
				return
			}
			if err != nil {
				t.Fatalf("%v (waits %v)", err, waits)
			}
			if throttleWait < 30*time.Second {
				t.Errorf("rode out %v of 429s, want at least 30s", throttleWait)
			}
			if len(waits) != nt+tc.errs {
				t.Errorf("%d waits, want %d", len(waits), nt+tc.errs)
			}
			// Jitter: no two equal consecutive waits past the cap.
			for i := 1; i < nt; i++ {
				if waits[i] == waits[i-1] {
					t.Errorf("waits %v and %v equal: no jitter", waits[i-1], waits[i])
				}
			}
		})
	}
}

// TestRateHeadersHold: an answer saying no requests remain
// (X-Rate-Limit-Remaining: 0) keeps the limit from growing; the same load
// without it grows the limit.
func TestRateHeadersHold(t *testing.T) {
	for _, hold := range []bool{false, true} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(5 * time.Millisecond)
			w.Header().Set("Twilio-Concurrent-Requests", "3")
			if hold {
				w.Header().Set("X-Rate-Limit-Limit", "100")
				w.Header().Set("X-Rate-Limit-Remaining", "0")
			}
			fmt.Fprint(w, transcriptJSON(gt(1), ""))
		}))
		c, _ := newTestClient(t, srv.URL, nil)
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				for range 10 {
					if _, err := c.FetchTranscript(context.Background(), gt(1)); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		srv.Close()
		got := c.Stats().APILimit
		if hold && got > DefaultInitialConcurrency {
			t.Errorf("limit %d with X-Rate-Limit-Remaining: 0, want no growth past %d", got, DefaultInitialConcurrency)
		}
		if !hold && got <= DefaultInitialConcurrency {
			t.Errorf("limit %d under load without a refusal, want growth past %d", got, DefaultInitialConcurrency)
		}
	}
}
