package twiliosim

import (
	"container/list"
	"sync"

	"github.com/intelligencefs/intelligencefs/crypto"
)

// defaultObjectStoreBytes bounds the sealed objects the simulator keeps.
const defaultObjectStoreBytes = 256 << 20

// objectStore keeps sealed objects the way S3 does: an object is sealed
// once and every download returns the same bytes and headers. Unlike S3 it
// is bounded (least recently used objects are forgotten and sealed afresh,
// with a new content key, on their next download), so a corpus of 100,000
// transcripts costs no more memory than the bound. Keeping objects also
// keeps the simulator's own CPU (content generation and sealing) out of
// the measurements of the client it serves on the same cores.
type objectStore struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	order *list.List // of *storedObject, most recently used first
	byKey map[string]*list.Element
}

// storedObject is one sealed object.
type storedObject struct {
	key string
	env crypto.Envelope
}

// size is what the object costs the store's bound.
func (o *storedObject) size() int64 {
	return int64(len(o.key) + len(o.env.WrappedKey) + len(o.env.IV) + len(o.env.Body))
}

func newObjectStore(max int64) *objectStore {
	if max <= 0 {
		max = defaultObjectStoreBytes
	}
	return &objectStore{max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the object stored under key. The envelope's slices are shared:
// callers must not modify them.
func (st *objectStore) get(key string) (crypto.Envelope, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	e, ok := st.byKey[key]
	if !ok {
		return crypto.Envelope{}, false
	}
	st.order.MoveToFront(e)
	return e.Value.(*storedObject).env, true
}

// put stores env under key, forgetting the least recently used objects
// beyond the bound. An object larger than the bound is not kept.
func (st *objectStore) put(key string, env crypto.Envelope) {
	o := &storedObject{key: key, env: env}
	if o.size() > st.max {
		return
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if e, ok := st.byKey[key]; ok {
		st.bytes -= e.Value.(*storedObject).size()
		st.order.Remove(e)
	}
	st.byKey[key] = st.order.PushFront(o)
	st.bytes += o.size()
	for st.bytes > st.max {
		last := st.order.Back()
		old := last.Value.(*storedObject)
		st.order.Remove(last)
		delete(st.byKey, old.key)
		st.bytes -= old.size()
	}
}
