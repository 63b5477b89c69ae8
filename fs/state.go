package fs

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"

	"github.com/intelligencefs/intelligencefs/crypto"
	"github.com/intelligencefs/intelligencefs/fetch/record"
)

// tstate is what the filesystem remembers about one transcript that was
// entered (not merely listed): its latest metadata, content sizes once
// known, operator-result locations, and the inodes showing it, so a drop or
// deletion can reach the kernel. The by-date and service paths share it.
type tstate struct {
	sid string

	mu      sync.Mutex
	t       record.Transcript
	meta    []byte                     // transcript.json of t, made once per version; nil until asked
	sizes   map[string]int64           // content key -> exact size, once fetched
	noTxt   bool                       // sentences.txt could not be derived
	gone    bool                       // deleted upstream; guarded by Root.tMu
	opCount int                        // number of operator results, -1 unknown
	ops     *opLocations               // encrypted operator-result locations, nil until asked
	missing map[string]*missingContent // content keys failing with a missingError
	dirs    map[*gofs.Inode]struct{}
	files   map[string]map[*gofs.Inode]struct{}
}

// tstate returns the state of t, creating it, and refreshes its metadata.
func (r *Root) tstate(t record.Transcript) *tstate {
	r.tMu.Lock()
	defer r.tMu.Unlock()
	ts := r.tstates[t.SID]
	if ts == nil {
		ts = newTstate(t.SID)
		ts.t = t
		r.tstates[t.SID] = ts
		return ts
	}
	ts.setTranscript(t)
	return ts
}

// newTstate is the state of a transcript nothing is known of yet.
func newTstate(sid string) *tstate {
	return &tstate{sid: sid, opCount: -1, sizes: map[string]int64{},
		dirs: map[*gofs.Inode]struct{}{}, files: map[string]map[*gofs.Inode]struct{}{}}
}

// updateTranscript refreshes the metadata of an entered transcript.
func (r *Root) updateTranscript(t record.Transcript) {
	r.tMu.Lock()
	ts := r.tstates[t.SID]
	r.tMu.Unlock()
	if ts != nil {
		ts.setTranscript(t)
	}
}

// setTranscript replaces the metadata (a new version drops the old
// transcript.json).
func (ts *tstate) setTranscript(t record.Transcript) {
	ts.mu.Lock()
	ts.t, ts.meta = t, nil
	ts.mu.Unlock()
}

// metaJSON returns transcript.json and its mtime. It is made once per
// version, not per READ: where the kernel reads without OPEN each READ
// asks for it, and a `cat` of it must not redo the work a page at a time.
// The caller must not modify it.
func (ts *tstate) metaJSON() ([]byte, time.Time) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.meta == nil {
		ts.meta = ts.t.JSON()
	}
	return ts.meta, ts.t.DateUpdated
}

func (ts *tstate) transcript() record.Transcript {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.t
}

func (ts *tstate) size(key string) (int64, bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	n, ok := ts.sizes[key]
	return n, ok
}

func (ts *tstate) setSize(key string, n int64) {
	ts.mu.Lock()
	ts.sizes[key] = n
	ts.mu.Unlock()
}

func (ts *tstate) addFile(key string, n *gofs.Inode) {
	ts.mu.Lock()
	m := ts.files[key]
	if m == nil {
		m = map[*gofs.Inode]struct{}{}
		ts.files[key] = m
	}
	m[n] = struct{}{}
	ts.mu.Unlock()
}

func (ts *tstate) removeFile(key string, n *gofs.Inode) {
	ts.mu.Lock()
	delete(ts.files[key], n)
	if len(ts.files[key]) == 0 {
		delete(ts.files, key)
	}
	ts.mu.Unlock()
}

// addDir and removeDir track the folder inodes showing the transcript.
func (ts *tstate) addDir(n *gofs.Inode) {
	ts.mu.Lock()
	ts.dirs[n] = struct{}{}
	ts.mu.Unlock()
}

func (ts *tstate) removeDir(n *gofs.Inode) {
	ts.mu.Lock()
	delete(ts.dirs, n)
	ts.mu.Unlock()
}

// dirNodes returns the folder inodes showing the transcript.
func (ts *tstate) dirNodes() []*gofs.Inode {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	out := make([]*gofs.Inode, 0, len(ts.dirs))
	for n := range ts.dirs {
		out = append(out, n)
	}
	return out
}

func (ts *tstate) fileNodes(key string) []*gofs.Inode {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	var out []*gofs.Inode
	for n := range ts.files[key] {
		out = append(out, n)
	}
	return out
}

// missingContent is a content file whose last fetch failed with a
// missingError: reads fail at once until retryAt, then fetch again.
type missingContent struct {
	err     error
	retryAt time.Time
	delay   time.Duration
}

// backingOff returns the failure of key while its back-off lasts (no
// request, no new log line), else nil.
func (ts *tstate) backingOff(key string, now time.Time) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if m := ts.missing[key]; m != nil && now.Before(m.retryAt) {
		return m.err
	}
	return nil
}

// failed records a missingError for key and starts (or doubles) its
// back-off, from first up to missingRetryMax.
func (ts *tstate) failed(key string, err error, now time.Time, first time.Duration) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.missing == nil {
		ts.missing = map[string]*missingContent{}
	}
	d := first
	if m := ts.missing[key]; m != nil {
		d = min(2*m.delay, missingRetryMax)
	}
	ts.missing[key] = &missingContent{err: err, retryAt: now.Add(d), delay: d}
}

// recovered forgets the back-off of key after a successful fetch.
func (ts *tstate) recovered(key string) {
	ts.mu.Lock()
	delete(ts.missing, key)
	ts.mu.Unlock()
}

// contentKeys returns the cache keys of every content file of ts that may
// be cached: the sentences, the text view, and each file whose size was
// recorded (every fetched operator result).
func (ts *tstate) contentKeys() []string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	keys := []string{keySentences(ts.sid), keyTxt(ts.sid)}
	for k := range ts.sizes {
		if k != keys[0] && k != keys[1] {
			keys = append(keys, k)
		}
	}
	return keys
}

// isGone reports a transcript seen deleted upstream.
func (r *Root) isGone(sid string) bool {
	r.tMu.Lock()
	defer r.tMu.Unlock()
	ts := r.tstates[sid]
	return ts != nil && ts.gone
}

// fetchTranscript fetches one transcript resource.
func (r *Root) fetchTranscript(ctx context.Context, sid string) (record.Transcript, error) {
	t, err := r.src.FetchTranscript(ctx, sid)
	if err != nil {
		r.logFailure(sid, "", "fetch transcript", err)
		return record.Transcript{}, err
	}
	return t, nil
}

// transcriptByID finds a transcript anywhere: entered, listed, or fetched.
func (r *Root) transcriptByID(ctx context.Context, sid string) (record.Transcript, error) {
	if r.isGone(sid) {
		return record.Transcript{}, record.ErrNotFound
	}
	r.tMu.Lock()
	ts := r.tstates[sid]
	r.tMu.Unlock()
	if ts != nil {
		return ts.transcript(), nil
	}
	r.listMu.Lock()
	ls := make([]*listing, 0, len(r.listings))
	for _, l := range r.listings {
		ls = append(ls, l)
	}
	r.listMu.Unlock()
	for _, l := range ls {
		if g := l.current(); g != nil {
			l.mu.Lock()
			i, ok := g.index[sid]
			var t record.Transcript
			if ok {
				t = g.items[i]
			}
			l.mu.Unlock()
			if ok {
				return t, nil
			}
		}
	}
	return r.fetchTranscript(ctx, sid)
}

// transcriptGone handles a transcript deleted upstream (a 404 on refresh or
// fetch): it disappears from listings, its plaintext is removed from the
// cache (zeroed once unpinned), and the kernel forgets its entries and pages.
func (r *Root) transcriptGone(sid string) {
	r.tMu.Lock()
	ts := r.tstates[sid]
	if ts == nil {
		ts = newTstate(sid)
		r.tstates[sid] = ts
	}
	already := ts.gone
	ts.gone = true
	ts.mu.Lock()
	ts.ops = nil
	ts.mu.Unlock()
	r.tMu.Unlock()
	dirs := ts.dirNodes()
	if already {
		return
	}
	r.log.Info("transcript deleted upstream; removed from the mount and the cache", "transcript", sid)
	r.src.DropSealed(sid)
	r.listMu.Lock()
	ls := make([]*listing, 0, len(r.listings))
	for _, l := range r.listings {
		ls = append(ls, l)
	}
	r.listMu.Unlock()
	for _, l := range ls {
		l.drop(sid)
	}
	for _, k := range ts.contentKeys() {
		r.cache.Remove(k)
	}
	r.notifier.queue(func() {
		for _, d := range dirs {
			name, parent := d.Parent()
			if parent == nil {
				continue
			}
			parent.RmChild(name)
			parent.NotifyDelete(name, d)
		}
	})
}

// CacheDropped is the plaincache OnDrop hook: an entry left the cache
// (evicted, expired, removed), so the kernel's pages of the files showing
// it are dropped too, keeping the memory bound real. It only queues work
// for the notifier goroutine: a notification must never run inside a
// handler for the same inode (the kernel would wait on itself).
func (r *Root) CacheDropped(key string) {
	sid, rest, ok := strings.Cut(key, "/")
	if !ok {
		return
	}
	if rest == "sentences.json" {
		r.prefetcher.forget(sid)
	}
	r.tMu.Lock()
	ts := r.tstates[sid]
	r.tMu.Unlock()
	if ts == nil {
		return
	}
	nodes := ts.fileNodes(key)
	if len(nodes) == 0 {
		return
	}
	r.notifier.queue(func() {
		for _, n := range nodes {
			n.NotifyContent(0, 0)
		}
	})
}

// logFailure writes the one log line of DESIGN.md §5 for an error that
// becomes EIO or EACCES. ENOENT and EINTR are not logged.
func (r *Root) logFailure(transcriptSID, credentialSID, what string, err error) {
	attrs := []any{"op", what, "err", err}
	if transcriptSID != "" {
		attrs = append(attrs, "transcript", transcriptSID)
	}
	switch errnoOf(err) {
	case syscall.EACCES:
		if errors.Is(err, crypto.ErrUnwrap) {
			attrs = append(attrs, "credential", credentialOrNone(credentialSID))
			r.log.Warn("cannot unwrap the content key: no matching private key (EACCES)", attrs...)
			return
		}
		if errors.Is(err, record.ErrForbidden) {
			r.log.Error("access forbidden by the API (EACCES)", attrs...)
			return
		}
		r.log.Error("credentials rejected by the API (EACCES)", attrs...)
	case syscall.EIO:
		switch {
		case errors.Is(err, crypto.ErrAuth):
			r.log.Error("content failed authentication; not served (EIO)", attrs...)
		case errors.Is(err, crypto.ErrMalformed):
			r.log.Error("malformed envelope; not served (EIO)", attrs...)
		case errors.Is(err, errSwapped):
			r.log.Error("operator result of another transcript; not served (EIO)", attrs...)
		case errors.As(err, new(*missingError)):
			r.log.Warn("content missing upstream although the transcript exists; retrying after a back-off (EIO)", attrs...)
		case errors.Is(err, record.ErrUnavailable), errors.Is(err, record.ErrExpired), errors.Is(err, context.DeadlineExceeded):
			r.log.Warn("upstream unavailable (EIO)", attrs...)
		default:
			r.log.Warn("upstream request failed (EIO)", attrs...)
		}
	}
}

func credentialOrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// notifier runs kernel notifications (NotifyContent, NotifyDelete) on one
// goroutine of its own, in order.
type notifier struct {
	mu     sync.Mutex
	q      []func()
	wake   chan struct{}
	closed bool
	done   chan struct{}
}

func newNotifier() *notifier {
	n := &notifier{wake: make(chan struct{}, 1), done: make(chan struct{})}
	go n.run()
	return n
}

func (n *notifier) queue(fn func()) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.q = append(n.q, fn)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) run() {
	defer close(n.done)
	for range n.wake {
		for {
			n.mu.Lock()
			q := n.q
			n.q = nil
			closed := n.closed
			n.mu.Unlock()
			for _, fn := range q {
				fn()
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

func (n *notifier) close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	n.q = nil
	n.mu.Unlock()
	// Never close wake: a late queue() must not panic on a closed channel.
	n.wake <- struct{}{}
	<-n.done
}
