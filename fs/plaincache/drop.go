package plaincache

import "sync"

// dropQueue hands dropped keys from the cache (under its lock) to one
// goroutine that calls OnDrop. It is unbounded so that evicting never waits
// for a slow callback: a FUSE handler that evicts must not block on a
// NotifyContent that in turn waits for that handler.
type dropQueue struct {
	mu   sync.Mutex
	keys []string
	wake chan struct{} // nil when there is no OnDrop
}

func (q *dropQueue) init() { q.wake = make(chan struct{}, 1) }

// push queues key; it never blocks.
func (q *dropQueue) push(key string) {
	if q.wake == nil {
		return
	}
	q.mu.Lock()
	q.keys = append(q.keys, key)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run calls fn for queued keys, in order, until stop is closed.
func (q *dropQueue) run(fn func(string), stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-stop:
			return
		case <-q.wake:
		}
		q.mu.Lock()
		keys := q.keys
		q.keys = nil
		q.mu.Unlock()
		for _, k := range keys {
			select {
			case <-stop:
				return
			default:
			}
			fn(k)
		}
	}
}
