package catalog

import "sync"

// EventKind says what an Event invalidates.
type EventKind int

const (
	// Gone: transcript SID was deleted upstream. It has left every
	// listing and its plaintext the cache; the filesystem removes the
	// folders showing it.
	Gone EventKind = iota
	// Dropped: the plaintext of Key (a content key of transcript SID) left
	// the cache (evicted, expired, removed); the filesystem drops the
	// kernel's pages of the files showing it.
	Dropped
	// TxtAbsent: sentences.txt of transcript SID cannot be derived, so the
	// file is absent from now on; the filesystem drops the entry and the
	// cached listings of the folders showing it.
	TxtAbsent
	// Forgotten: every listing was dropped (Forget); the filesystem drops
	// the kernel's cached listings of the folders that change.
	Forgotten
)

// Event is one invalidation the catalog publishes (Options.Events).
type Event struct {
	Kind EventKind
	SID  string // the transcript (Gone, Dropped, TxtAbsent)
	Key  string // the content key (Dropped)
}

// eventQueue delivers events in order on one goroutine of its own, so the
// consumer (which talks to the kernel) never runs inside a request handler
// for the same inode, nor under a lock of the catalog.
type eventQueue struct {
	deliver func(Event)
	mu      sync.Mutex
	q       []Event
	wake    chan struct{}
	closed  bool
	done    chan struct{}
}

func newEventQueue(deliver func(Event)) *eventQueue {
	e := &eventQueue{deliver: deliver, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go e.run()
	return e
}

// publish queues ev (dropped after close, or without a consumer).
func (e *eventQueue) publish(ev Event) {
	if e.deliver == nil {
		return
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.q = append(e.q, ev)
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

func (e *eventQueue) run() {
	defer close(e.done)
	for range e.wake {
		for {
			e.mu.Lock()
			q := e.q
			e.q = nil
			closed := e.closed
			e.mu.Unlock()
			for _, ev := range q {
				e.deliver(ev)
			}
			if closed {
				return
			}
			if len(q) == 0 {
				break
			}
		}
	}
}

// close stops the queue; what was queued before is dropped, as the kernel
// it was meant for is gone.
func (e *eventQueue) close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	e.closed = true
	e.q = nil
	e.mu.Unlock()
	// Never close wake: a late publish must not panic on a closed channel.
	// Nor block on it: a publish that raced with close may have filled its
	// one slot after run saw closed and returned (run, if still there,
	// wakes on that slot anyway).
	select {
	case e.wake <- struct{}{}:
	default:
	}
	<-e.done
}
