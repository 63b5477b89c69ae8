package sealedcache

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/intelligencefs/intelligencefs/crypto"
)

// DefaultMaxBytes is the default bound of a store (--sealed-cache-size).
const DefaultMaxBytes = 4 << 30

// DefaultMaxEntryBytes bounds one entry's body on read, as fetch bounds a
// download's body.
const DefaultMaxEntryBytes = 512 << 20

// maxPendingBytes bounds the bodies waiting to be written: past it a new
// entry is not cached (reads never wait on the disk).
const maxPendingBytes = 256 << 20

// writers is how many entries are written (and fsynced) at once.
const writers = 4

// tempMaxAge is the age past which an eviction pass removes a temporary
// file: no write takes that long, so it was left by a crash.
const tempMaxAge = time.Hour

// SealKeyLabel is the label to derive Options.SealKey with
// (crypto.Keyring.DeriveSecret): every program sharing a directory must use
// it to read the others' entries.
const SealKeyLabel = "intelligencefs sealed-cache v1"

// ErrNotExist is Open's error for a missing directory with MustExist.
var ErrNotExist = errors.New("does not exist")

// Options configure Open.
type Options struct {
	// Dir is the cache directory. It is created 0700 when missing (with
	// its missing parents), and refused when group or others can access
	// it or it is not owned by this user.
	Dir string
	// MaxBytes bounds the entries' total size (default DefaultMaxBytes).
	MaxBytes int64
	// MaxEntryBytes bounds one entry's body (default DefaultMaxEntryBytes);
	// a larger file is treated as damaged.
	MaxEntryBytes int64
	// MustExist refuses a missing Dir instead of creating it (sealed-cache
	// du and purge).
	MustExist bool
	// Logger receives the one warning of a failed write and debug lines
	// for removed entries; nil discards.
	Logger *slog.Logger
	// SealKey authenticates entries (HMAC-SHA256 over header and body): a
	// secret derived from the private keys (crypto.Keyring.DeriveSecret),
	// so that nobody without them can plant an entry, not even one sealed
	// to the user's public key in place of another transcript's. Without
	// it (du, purge, doctor) entries are listed and removed but never read
	// or written. The store keeps a copy and zeroes it in Close.
	SealKey []byte
}

// Version is what makes an entry current: the transcript's content as of
// its date_updated, sealed for Credential, redacted or not. An entry whose
// version differs from the caller's is stale and removed.
type Version struct {
	// Credential is the transcript's encryption_credential_sid (CR…).
	Credential string
	// Updated is the transcript's date_updated; zero means unknown, and
	// nothing is cached for an unknown version.
	Updated time.Time
	// Unredacted tells the unredacted content (Redacted=false) from the
	// default; both may be cached side by side.
	Unredacted bool
	// Account and Origin are the account SID (AC…) and the API origin
	// (scheme, host, path prefix) the content is fetched for and from.
	// They are in the MAC'd header: an entry stored for another account or
	// from another API (a run against an untrusted --api-url) is removed
	// on read, never served.
	Account, Origin string
}

// valid reports whether v can key an entry.
func (v Version) valid() bool { return v.Credential != "" && !v.Updated.IsZero() }

// Object names one sealed object of a transcript: Sentences, or
// OperatorResult(i).
type Object int

// Sentences is the transcript's sentences object.
const Sentences Object = -1

// OperatorResult is the operator result at position i (from 0) of the first
// answer of the transcript's locations request.
func OperatorResult(i int) Object { return Object(i) }

// name is the object's part of a file name.
func (o Object) name() string {
	if o == Sentences {
		return "s"
	}
	return "o" + strconv.Itoa(int(o))
}

// countName is the file name part of the operator results' count.
const countName = "n"

// Store is a sealed-object cache in one directory. It is safe for
// concurrent use, and several processes may share the directory.
type Store struct {
	root     string // Options.Dir
	dir      string // root/v1
	max      int64
	maxEntry int64
	log      *slog.Logger
	sealKey  []byte

	writeOff atomic.Bool // a write failed: no more writes
	sem      chan struct{}
	wg       sync.WaitGroup

	mu           sync.Mutex
	pending      map[string]*pendingWrite // by path
	counts       map[string]countMemo     // by count path: counts read or written
	pendingBytes int64
	added        int64 // bytes written since the last scan
	known        bool  // total is from a scan
	total        int64
	scanning     bool
	closed       bool
}

// countMemo is an operator results count this process read (its MAC
// checked) or wrote, so that each operator result read checks its object
// against the count without reading the count's file again.
type countMemo struct {
	v    Version
	keys []string
}

// maxCountMemos bounds the counts remembered (a few hundred bytes each);
// past it the memo starts afresh.
const maxCountMemos = 1 << 14

// pendingWrite is an entry being written. cancelled is set by Drop so the
// write does not bring back an entry dropped meanwhile.
type pendingWrite struct{ cancelled bool }

// Open checks (or creates) the directory and returns the store. The error
// is one line naming the directory and what to do.
func Open(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("sealed cache: no directory given")
	}
	root := filepath.Clean(o.Dir)
	if err := prepareRoot(root, o.MustExist); err != nil {
		return nil, err
	}
	s := &Store{
		root:     root,
		dir:      filepath.Join(root, "v1"),
		max:      o.MaxBytes,
		maxEntry: o.MaxEntryBytes,
		log:      o.Logger,
		sem:      make(chan struct{}, writers),
		pending:  map[string]*pendingWrite{},
		counts:   map[string]countMemo{},
		sealKey:  bytes.Clone(o.SealKey),
	}
	if s.max <= 0 {
		s.max = DefaultMaxBytes
	}
	if s.maxEntry <= 0 {
		s.maxEntry = DefaultMaxEntryBytes
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// prepareRoot creates root 0700 when missing and checks its owner and mode.
func prepareRoot(root string, mustExist bool) error {
	fi, err := os.Stat(root)
	if errors.Is(err, fs.ErrNotExist) && !mustExist {
		if err := os.MkdirAll(root, 0o700); err != nil {
			return fmt.Errorf("sealed cache: cannot create %s: %w", root, unwrapPath(err))
		}
		fi, err = os.Stat(root)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("sealed cache: %s %w", root, ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("sealed cache: %s: %w", root, unwrapPath(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("sealed cache: %s is not a directory", root)
	}
	return checkPrivate(root, fi)
}

// unwrapPath drops the *PathError around err: messages name the path once.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Dir returns the cache directory.
func (s *Store) Dir() string { return s.root }

// path is the file of obj (or the count, when count) of sid.
func (s *Store) path(sid string, unredacted bool, part string) string {
	return filepath.Join(s.dir, shard(sid), sid+"."+redactionPart(unredacted)+"."+part)
}

func redactionPart(unredacted bool) string {
	if unredacted {
		return "u"
	}
	return "r"
}

// shard is the folder of sid: its last two characters, lower case.
func shard(sid string) string { return strings.ToLower(sid[len(sid)-2:]) }

// sidPattern is a transcript SID: only those name entries.
var sidPattern = regexp.MustCompile(`^GT[0-9a-fA-F]{32}$`)

// entryPattern matches the name of an entry file.
var entryPattern = regexp.MustCompile(`^(GT[0-9a-fA-F]{32})\.[ru]\.(s|n|o[0-9]+)$`)

// Get returns the current entry of obj of sid: the envelope and, for an
// operator result, the hash of its object's path. A missing, stale or
// damaged entry is a miss (a stale or damaged one is removed). An operator
// result is served only when its object is the one the current count
// (PutCount) lists at its position: an entry stored for another object
// (the locations came in another order), or one without a count, is a
// miss and removed.
func (s *Store) Get(sid string, obj Object, v Version) (env crypto.Envelope, objectKey string, ok bool) {
	if !s.usable(sid, v) {
		return crypto.Envelope{}, "", false
	}
	p := s.path(sid, v.Unredacted, obj.name())
	h, body, ok := s.read(p, sid, obj.name(), v)
	if !ok {
		return crypto.Envelope{}, "", false
	}
	if obj != Sentences {
		keys, counted := s.countMemo(s.path(sid, v.Unredacted, countName), v)
		if !counted {
			keys, counted = s.Count(sid, v)
		}
		if !counted || int(obj) >= len(keys) || h.ObjectKey == "" || keys[obj] != h.ObjectKey {
			s.discard(p, "it is not the object the count lists at its position")
			return crypto.Envelope{}, "", false
		}
	}
	env, err := crypto.ParseEnvelope(h.Key, h.IV, body)
	if err != nil {
		s.discard(p, "its envelope does not parse")
		return crypto.Envelope{}, "", false
	}
	return env, h.ObjectKey, true
}

// Count returns the operator results' object hashes of sid as recorded with
// PutCount (their count is the length), when current.
func (s *Store) Count(sid string, v Version) (objectKeys []string, ok bool) {
	if !s.usable(sid, v) {
		return nil, false
	}
	p := s.path(sid, v.Unredacted, countName)
	if keys, ok := s.countMemo(p, v); ok {
		if _, err := os.Lstat(p); err == nil { // still there (another process may have dropped it)
			return keys, true
		}
		s.forgetCount(p)
	}
	h, body, ok := s.read(p, sid, countName, v)
	if !ok {
		s.forgetCount(p)
		return nil, false
	}
	if len(body) != 0 || h.Count != len(h.ObjectKeys) || h.Count < 0 {
		s.discard(p, "its count does not match")
		return nil, false
	}
	if h.ObjectKeys == nil {
		h.ObjectKeys = []string{}
	}
	s.rememberCount(p, v, h.ObjectKeys)
	return slices.Clone(h.ObjectKeys), true
}

// countMemo returns the count remembered for the count file p at v.
func (s *Store) countMemo(p string, v Version) ([]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.counts[p]
	if !ok || m.v != v {
		return nil, false
	}
	return slices.Clone(m.keys), true
}

// rememberCount remembers the count of the count file p at v.
func (s *Store) rememberCount(p string, v Version, keys []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.counts) >= maxCountMemos {
		clear(s.counts)
	}
	s.counts[p] = countMemo{v: v, keys: slices.Clone(keys)}
}

// forgetCount forgets the count of the count file p.
func (s *Store) forgetCount(p string) {
	s.mu.Lock()
	delete(s.counts, p)
	s.mu.Unlock()
}

// usable reports whether entries of sid at v may be read and written.
func (s *Store) usable(sid string, v Version) bool {
	return len(s.sealKey) > 0 && sidPattern.MatchString(sid) && v.valid()
}

// read loads and checks the file at p: a regular 0600 file of this user,
// of the expected transcript and object, complete, and of version v. A stale
// or damaged file is removed. The entry's mtime is touched (recency).
func (s *Store) read(p, sid, part string, v Version) (header, []byte, bool) {
	data, err := readPrivate(p, s.maxEntry+maxHeader+int64(len(magic)))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return header{}, nil, false
	case errors.Is(err, errForeign):
		s.discard(p, err.Error())
		return header{}, nil, false
	case err != nil:
		s.log.Debug("sealed cache: entry unreadable; fetching instead", "path", p, "err", unwrapPath(err))
		return header{}, nil, false
	}
	h, body, err := decode(data)
	if err == nil && !h.sealedWith(s.sealKey, body) {
		err = errors.New("it is not sealed with these keys")
	}
	if err != nil {
		s.discard(p, err.Error())
		return header{}, nil, false
	}
	if h.SID != sid || h.Object != part || h.Unredacted != v.Unredacted {
		s.discard(p, "it names another object")
		return header{}, nil, false
	}
	if h.Account != v.Account || h.Origin != originDigest(v.Origin) {
		s.discard(p, "it was stored for another account or API")
		return header{}, nil, false
	}
	if h.Credential != v.Credential || h.Updated != formatTime(v.Updated) {
		s.discard(p, "it is stale")
		return header{}, nil, false
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now) // recency for eviction; best effort (read-only DIR)
	return h, body, true
}

// discard removes a file that is not a current entry.
func (s *Store) discard(p, why string) {
	s.forgetCount(p)
	err := os.Remove(p)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Debug("sealed cache: cannot remove an unusable entry", "path", p, "why", why, "err", unwrapPath(err))
		return
	}
	s.log.Debug("sealed cache: removed an unusable entry", "path", p, "why", why)
}

// Remove removes the entry of obj of sid (both redaction variants): the
// caller found that its envelope does not open.
func (s *Store) Remove(sid string, obj Object) {
	if !sidPattern.MatchString(sid) {
		return
	}
	for _, u := range []bool{false, true} {
		s.discard(s.path(sid, u, obj.name()), "its envelope did not open")
	}
}

// Put stores env as obj of sid at version v, in the background; objectKey
// is the hash of an operator result's object path ("" for sentences). Call
// it only for an envelope that opened: the cache never keeps what did not
// authenticate. The caller must not modify env's slices afterwards.
func (s *Store) Put(sid string, obj Object, v Version, env crypto.Envelope, objectKey string) {
	if !s.usable(sid, v) {
		return
	}
	h := newHeader(sid, obj.name(), v)
	h.Key, h.IV, h.ObjectKey = env.EncodedKey(), env.EncodedIV(), objectKey
	s.write(s.path(sid, v.Unredacted, obj.name()), h, env.Body)
}

// PutCount records, in the background, the operator results of sid at
// version v: one object hash per result, in the order of the first answer.
func (s *Store) PutCount(sid string, v Version, objectKeys []string) {
	if !s.usable(sid, v) {
		return
	}
	h := newHeader(sid, countName, v)
	h.Count, h.ObjectKeys = len(objectKeys), append([]string{}, objectKeys...)
	p := s.path(sid, v.Unredacted, countName)
	s.forgetCount(p) // the file on disk decides once written (the first copy wins)
	s.write(p, h, nil)
}

// write queues one file write: skipped when writing is off, the store is
// closed, the same entry is being written, or too much is queued.
func (s *Store) write(p string, h header, body []byte) {
	if s.writeOff.Load() {
		return
	}
	n := int64(len(body))
	s.mu.Lock()
	if s.closed || s.pending[p] != nil || s.pendingBytes+n > maxPendingBytes {
		s.mu.Unlock()
		return
	}
	pw := &pendingWrite{}
	s.pending[p] = pw
	s.pendingBytes += n
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		s.sem <- struct{}{}
		size, err := s.writeFile(p, pw, h, body)
		<-s.sem
		s.mu.Lock()
		delete(s.pending, p)
		s.pendingBytes -= n
		if err == nil {
			s.added += size
		}
		evict := err == nil && s.overBound()
		s.mu.Unlock()
		if err != nil {
			s.writeFailed(err)
			return
		}
		if evict {
			s.evict()
		}
	}()
}

// writeFile writes p atomically: a temporary file in p's folder, fsynced,
// renamed over p unless Drop cancelled it meanwhile. It returns the size.
func (s *Store) writeFile(p string, pw *pendingWrite, h header, body []byte) (int64, error) {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(dir, ".tmp-")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	h.seal(s.sealKey, body)
	head := encodeHeader(h, int64(len(body)))
	if _, err := f.Write(head); err != nil {
		return 0, err
	}
	if _, err := f.Write(body); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if pw.cancelled {
		os.Remove(tmp)
		ok = true
		return 0, nil
	}
	// Link, not rename: the first complete entry wins and is never
	// overwritten by another process's copy (one writer per entry); a
	// stale or damaged entry was removed by the read that missed. Where
	// the file system has no hard links, rename (last writer wins; each
	// copy is complete).
	switch err := os.Link(tmp, p); {
	case err == nil:
		os.Remove(tmp)
	case errors.Is(err, fs.ErrExist):
		os.Remove(tmp)
		ok = true
		return 0, nil
	default:
		if err := os.Rename(tmp, p); err != nil {
			return 0, err
		}
	}
	// The folder is not fsynced: a rename lost in a crash is a miss, and
	// an entry torn by one fails its length and MAC checks (a miss too).
	ok = true
	return int64(len(head) + len(body)), nil
}

// writeFailed turns writing off with one warning: a full disk or a
// read-only DIR must not fail reads, nor fill the log.
func (s *Store) writeFailed(err error) {
	if s.writeOff.Swap(true) {
		return
	}
	s.log.Warn("sealed cache: cannot write; going on without caching new objects", "dir", s.root, "err", unwrapPath(err))
}

// Writable reports whether the store still writes (no write failed).
func (s *Store) Writable() bool { return !s.writeOff.Load() }

// Drop removes every entry of sid (deleted upstream): both redaction
// variants, the count, and writes still in flight.
func (s *Store) Drop(sid string) error {
	if !sidPattern.MatchString(sid) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := filepath.Join(s.dir, shard(sid), sid+".")
	for p, pw := range s.pending {
		if strings.HasPrefix(p, prefix) {
			pw.cancelled = true
		}
	}
	for _, u := range []bool{false, true} {
		delete(s.counts, s.path(sid, u, countName))
	}
	names, err := os.ReadDir(filepath.Join(s.dir, shard(sid)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sealed cache: %w", err)
	}
	var first error
	for _, e := range names {
		if m := entryPattern.FindStringSubmatch(e.Name()); m != nil && strings.EqualFold(m[1], sid) {
			if err := os.Remove(filepath.Join(s.dir, shard(sid), e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
				first = fmt.Errorf("sealed cache: %w", err)
			}
		}
	}
	return first
}

// Flush waits for the writes queued so far.
func (s *Store) Flush() { s.wg.Wait() }

// Close waits for queued writes; later Puts are ignored.
func (s *Store) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
	clear(s.sealKey)
}

// overBound reports (s.mu held) whether the bytes known plus those added
// may exceed the bound, or the total was never scanned.
func (s *Store) overBound() bool {
	if s.scanning {
		return false
	}
	if !s.known {
		return true
	}
	return s.total+s.added > s.max
}

// fileInfo is one file found by a scan.
type fileInfo struct {
	path string
	sid  string
	part string // s, n, o<i>
	size int64
	used time.Time
}

// scan lists every entry, and removes temporary files left by a crash.
func (s *Store) scan() ([]fileInfo, error) {
	shards, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("sealed cache: %w", err)
	}
	var out []fileInfo
	now := time.Now()
	for _, sh := range shards {
		if !sh.IsDir() {
			continue
		}
		d := filepath.Join(s.dir, sh.Name())
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			fi, err := e.Info()
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if strings.HasPrefix(e.Name(), ".tmp-") {
				if now.Sub(fi.ModTime()) > tempMaxAge {
					os.Remove(filepath.Join(d, e.Name()))
				}
				continue
			}
			m := entryPattern.FindStringSubmatch(e.Name())
			if m == nil {
				continue // not ours: left alone
			}
			part := e.Name()[len(m[1])+3:]
			out = append(out, fileInfo{path: filepath.Join(d, e.Name()), sid: m[1], part: part, size: fi.Size(), used: fi.ModTime()})
		}
	}
	return out, nil
}

// evict scans DIR and removes the least recently used entries down to 90%
// of the bound. Only one pass runs at a time in a process.
func (s *Store) evict() {
	s.mu.Lock()
	if s.scanning {
		s.mu.Unlock()
		return
	}
	s.scanning = true
	s.mu.Unlock()
	files, err := s.scan()
	var total int64
	for _, f := range files {
		total += f.size
	}
	if err == nil && total > s.max {
		sort.Slice(files, func(i, j int) bool { return files[i].used.Before(files[j].used) })
		target := s.max / 10 * 9
		for _, f := range files {
			if total <= target {
				break
			}
			if err := os.Remove(f.path); err == nil || errors.Is(err, fs.ErrNotExist) {
				total -= f.size
			}
		}
	}
	s.mu.Lock()
	s.scanning = false
	if err == nil {
		s.known, s.total, s.added = true, total, 0
	}
	s.mu.Unlock()
}

// Usage is what `sealed-cache du` prints.
type Usage struct {
	Entries     int   // object entries (sentences and operator results)
	Transcripts int   // transcripts with at least one entry or count
	Bytes       int64 // every file, counts included
	// Oldest is the least recently used entry's last use (zero when empty).
	Oldest time.Time
}

// Usage sums up the entries on disk.
func (s *Store) Usage() (Usage, error) {
	files, err := s.scan()
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	sids := map[string]bool{}
	for _, f := range files {
		u.Bytes += f.size
		sids[strings.ToUpper(f.sid[2:])] = true
		if f.part != countName {
			u.Entries++
		}
		if u.Oldest.IsZero() || f.used.Before(u.Oldest) {
			u.Oldest = f.used
		}
	}
	u.Transcripts = len(sids)
	return u, nil
}

// Purge removes every entry, or those of the given transcripts, and the
// temporary files of writes that are not running. It returns the number of
// files removed.
func (s *Store) Purge(sids ...string) (int, error) {
	for _, sid := range sids {
		if !sidPattern.MatchString(sid) {
			return 0, fmt.Errorf("sealed cache: %q is not a transcript SID (GT followed by 32 hex digits)", truncate(sid, 40))
		}
	}
	files, err := s.scan()
	if err != nil {
		return 0, err
	}
	want := map[string]bool{}
	for _, sid := range sids {
		want[strings.ToUpper(sid[2:])] = true
	}
	n := 0
	for _, f := range files {
		if len(sids) > 0 && !want[strings.ToUpper(f.sid[2:])] {
			continue
		}
		if err := os.Remove(f.path); err == nil {
			n++
		} else if !errors.Is(err, fs.ErrNotExist) {
			return n, fmt.Errorf("sealed cache: %w", err)
		}
	}
	return n, nil
}

// Sealed describes the entries sealed for one credential, for doctor.
type Sealed struct {
	Credential string
	Entries    int
	// Sample is one of them (its envelope), to try the keys on.
	Sample crypto.Envelope
	// SampleSID is the transcript of Sample.
	SampleSID string
}

// ErrNoSealKey is ByCredential's error for a store opened without
// Options.SealKey: no entry can be checked.
var ErrNoSealKey = errors.New("sealed cache: checking entries needs the keys they were sealed with")

// ByCredential checks every object entry's MAC under the store's seal key
// and groups those whose MAC holds by the credential they were sealed
// for, in credential order; unverified counts the others (damaged, written
// under other keys, or planted), whose headers say nothing that can be
// trusted, so they are counted and nothing more. It reads each entry whole
// (one at a time) and changes nothing. A store without a seal key gives
// ErrNoSealKey.
func (s *Store) ByCredential() (groups []Sealed, unverified int, err error) {
	if len(s.sealKey) == 0 {
		return nil, 0, ErrNoSealKey
	}
	files, err := s.scan()
	if err != nil {
		return nil, 0, err
	}
	by := map[string]*Sealed{}
	for _, f := range files {
		if f.part == countName {
			continue
		}
		data, err := readPrivate(f.path, s.maxEntry+maxHeader+int64(len(magic)))
		if err != nil {
			unverified++
			continue
		}
		h, body, err := decode(data)
		if err != nil || !h.sealedWith(s.sealKey, body) || h.SID != f.sid || h.Object != f.part {
			unverified++
			continue
		}
		g := by[h.Credential]
		if g == nil {
			env, err := crypto.ParseEnvelope(h.Key, h.IV, body)
			if err != nil {
				unverified++
				continue
			}
			g = &Sealed{Credential: h.Credential, Sample: env, SampleSID: h.SID}
			by[h.Credential] = g
		}
		g.Entries++
	}
	groups = make([]Sealed, 0, len(by))
	for _, g := range by {
		groups = append(groups, *g)
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Credential < groups[j].Credential })
	return groups, unverified, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
